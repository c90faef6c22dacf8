#pragma once
// Runs one hidden test of this very binary in a child process, for checks that end the
// process (a signal's default action, an abort, exit while fibers are blocked): the child
// is /proc/self/exe given the test's name; its stdout and stderr are captured; it is killed
// (timed_out) if it has not ended within the limit.
//
//   TEST_CASE("child: ...", "[.][child]") { ... }          // hidden: runs only when named
//   const auto c = csp_test::run_child_test("child: ...");
//   CHECK(c.exited); CHECK(c.exit_code == 0); CHECK(c.stdout_text.find(...) != npos);

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace csp_test {

struct child_outcome {
  bool started = false;
  bool timed_out = false;
  bool signaled = false;
  int signal = 0;
  bool exited = false;
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
};

namespace detail {

inline int temp_file(std::string& path) {
  char name[] = "/tmp/csp_test_child_XXXXXX";
  const int fd = ::mkstemp(name);
  path = name;
  return fd;
}

// The whole content of a file the child wrote through its own copy of `fd`.
inline std::string read_back(int fd) {
  std::string out;
  ::lseek(fd, 0, SEEK_SET);
  char buf[4096];
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

}  // namespace detail

// `extra_env`: "NAME=value" entries added to (or replacing) the child's environment.
inline child_outcome run_child_test(const std::string& test_name,
                                    std::chrono::seconds limit = std::chrono::seconds(60),
                                    const std::vector<std::string>& extra_env = {}) {
  child_outcome out;
  std::string out_path, err_path;
  const int out_fd = detail::temp_file(out_path);
  const int err_fd = detail::temp_file(err_path);
  if (out_fd < 0 || err_fd < 0) return out;

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  ::posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  std::string exe = "/proc/self/exe";
  std::string name = test_name;
  std::vector<char*> argv{exe.data(), name.data(), nullptr};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    bool replaced = false;
    for (const std::string& x : extra_env) {
      replaced = replaced || entry.compare(0, x.find('=') + 1, x, 0, x.find('=') + 1) == 0;
    }
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) {
    out.started = true;
    int status = 0;
    const auto give_up = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) break;
      if (std::chrono::steady_clock::now() > give_up) {
        out.timed_out = true;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    out.signaled = WIFSIGNALED(status);
    if (out.signaled) out.signal = WTERMSIG(status);
    out.exited = WIFEXITED(status);
    if (out.exited) out.exit_code = WEXITSTATUS(status);
  }
  out.stdout_text = detail::read_back(out_fd);
  out.stderr_text = detail::read_back(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  return out;
}

}  // namespace csp_test
