#pragma once
// peer_process: net_peer (or any program) running as a child process, its stdout read line by
// line with a time limit. The destructor kills a child still running, so a failed REQUIRE
// leaves no process behind.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace net_test {

class peer_process {
 public:
  explicit peer_process(std::vector<std::string> args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
  }
  peer_process(const peer_process&) = delete;
  peer_process& operator=(const peer_process&) = delete;
  ~peer_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds(10));
    }
    if (out_ >= 0) ::close(out_);
  }

  bool started() const noexcept { return pid_ > 0; }
  void kill(int sig) const { ::kill(pid_, sig); }

  // The next line of its stdout, or nullopt if none came within `limit` (or it ended).
  std::optional<std::string> line(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (const std::size_t nl = buffered_.find('\n'); nl != std::string::npos) {
        std::string l = buffered_.substr(0, nl);
        buffered_.erase(0, nl + 1);
        return l;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t got = ::read(out_, buf, sizeof buf);
      if (got <= 0) return std::nullopt;
      buffered_.append(buf, static_cast<std::size_t>(got));
    }
  }

  // Its exit status as waitpid gives it, or nullopt if it has not ended within `limit`.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!status_) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        break;
      }
      if (std::chrono::steady_clock::now() > until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffered_;
  std::optional<int> status_;
};

// "key value key value ...": the number after `key` in a result line, or -1.
inline long long field(const std::string& line, const std::string& key) {
  const std::string k = key + " ";
  std::size_t at = line.rfind(k, 0) == 0 ? 0 : line.find(" " + k);
  if (at == std::string::npos) return -1;
  at += at == 0 ? k.size() : k.size() + 1;
  return std::atoll(line.c_str() + at);
}

}  // namespace net_test
