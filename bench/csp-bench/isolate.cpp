// One row per child process (see isolate.hpp).

#include "isolate.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

namespace bench {

namespace {

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// The child's report: "ok <median> <min> <rss>" (hex floats: exact) or "error <text>".
std::string encode(const outcome& o) {
  if (!o.result) return "error " + o.error;
  char buf[128];
  std::snprintf(buf, sizeof buf, "ok %a %a %ld", o.result->ns_per_msg,
                o.result->ns_per_msg_min, o.result->peak_rss_kb);
  return buf;
}

outcome decode(const std::string& s) {
  measurement m;
  if (s.rfind("ok ", 0) == 0 &&
      std::sscanf(s.c_str(), "ok %la %la %ld", &m.ns_per_msg, &m.ns_per_msg_min,
                  &m.peak_rss_kb) == 3) {
    return {m, {}};
  }
  if (s.rfind("error ", 0) == 0) return {std::nullopt, s.substr(6)};
  return {std::nullopt, "the child process sent no result"};
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "the child process died of signal " + std::to_string(sig) + " (" +
           (name ? name : "?") + ")";
  }
  if (WIFEXITED(status)) {
    return "the child process exited with status " + std::to_string(WEXITSTATUS(status));
  }
  return "the child process ended oddly";
}

}  // namespace

outcome run_here(const std::function<measurement()>& measure) {
  try {
    return {measure(), {}};
  } catch (const std::exception& e) {
    return {std::nullopt, e.what()};
  } catch (...) {
    return {std::nullopt, "unknown exception"};
  }
}

outcome run_in_child(const std::function<measurement()>& measure, std::chrono::seconds timeout) {
  int fds[2];
  if (::pipe(fds) != 0) return {std::nullopt, std::string("pipe: ") + std::strerror(errno)};
  std::fflush(nullptr);  // nothing buffered may be written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {std::nullopt, std::string("fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    ::close(fds[0]);
    const outcome o = run_here(measure);
    write_all(fds[1], encode(o));
    ::close(fds[1]);
    ::_exit(o.result ? 0 : 1);  // no atexit handlers, no flushing of the parent's buffers
  }

  ::close(fds[1]);
  std::string report;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 60'000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is done
    report.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return {std::nullopt, "no result after " + std::to_string(timeout.count()) +
                              " s: killed (a hang?)"};
  }
  outcome o = decode(report);
  if (!o.result && report.empty()) o.error = describe_status(status);
  return o;
}

}  // namespace bench
