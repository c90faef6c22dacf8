#pragma once
// The process-wide side of csp::signals. A signal handler may only call async-signal-safe
// functions: no lock, no allocation, no channel operation, no fiber wake-up. So the handler
// installed for each signal asked for only writes the signal's number, one byte, to a pipe;
// one thread of ours reads the pipe and try_sends each number to every live channel that
// asked for that signal. The thread starts on the first csp::signals call and is stopped and
// joined at exit.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <initializer_list>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <csp/errors.hpp>
#include <csp/channels/make_channel.hpp>
#include <csp/channels/receiver.hpp>
#include <csp/channels/sender.hpp>

namespace csp::detail {

class signal_hub {
 public:
  static constexpr std::size_t capacity = 16;  // values each signals() channel buffers

  static signal_hub& instance() {
    static signal_hub hub;
    return hub;
  }

  receiver<int> subscribe(std::initializer_list<int> sigs) {
    if (sigs.size() == 0) throw invalid_argument("csp::signals: no signal given");
    for (int s : sigs) {
      if (s <= 0 || s >= NSIG || s == SIGKILL || s == SIGSTOP) {
        throw invalid_argument("csp::signals: signal " + std::to_string(s) +
                               " cannot be caught");
      }
    }
    auto [tx, rx] = make_channel<int>(capacity);
    std::vector<sender<int>> dead;
    {
      std::lock_guard lk(mutex_);
      start_locked();
      sweep_locked(dead);
      subscriptions_.push_back({std::vector<int>(sigs), std::move(tx)});
      for (int s : sigs) install_locked(s);
    }
    return std::move(rx);  // `dead` (senders of closed channels) goes after our lock
  }

  signal_hub(const signal_hub&) = delete;
  signal_hub& operator=(const signal_hub&) = delete;
  ~signal_hub() {
    {
      std::lock_guard lk(mutex_);
      for (int s = 1; s < NSIG; ++s) {
        if (installed_[static_cast<std::size_t>(s)]) restore_locked(s);
      }
    }
    if (thread_.joinable()) {  // not under our lock: a delivery in progress needs it
      const unsigned char stop = 0;
      while (::write(write_fd_.load(), &stop, 1) < 0 && errno == EINTR) {
      }
      thread_.join();
    }
    if (read_fd_ >= 0) ::close(read_fd_);
    if (const int fd = write_fd_.exchange(-1); fd >= 0) ::close(fd);
  }

 private:
  struct subscription {
    std::vector<int> sigs;
    sender<int> tx;
  };

  signal_hub() = default;

  // The handler: async-signal-safe. A full pipe drops the delivery, as a full channel does.
  static void on_signal(int signo) noexcept {
    const int saved_errno = errno;
    const auto byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] const ssize_t written = ::write(write_fd_.load(), &byte, 1);
    errno = saved_errno;
  }

  void start_locked() {
    if (thread_.joinable()) return;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    read_fd_ = fds[0];
    write_fd_.store(fds[1]);
    thread_ = std::thread([this] { dispatch(); });
  }

  void install_locked(int s) {
    const auto i = static_cast<std::size_t>(s);
    if (installed_[i]) return;
    struct sigaction action {};
    action.sa_handler = &on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // interrupted system calls resume: no EINTR surprises
    if (::sigaction(s, &action, &previous_[i]) != 0) {
      throw invalid_argument("csp::signals: cannot catch signal " + std::to_string(s));
    }
    installed_[i] = true;
  }

  void restore_locked(int s) {
    const auto i = static_cast<std::size_t>(s);
    ::sigaction(s, &previous_[i], nullptr);
    installed_[i] = false;
  }

  bool listened_locked(int s) const {
    return std::any_of(subscriptions_.begin(), subscriptions_.end(), [s](const subscription& sub) {
      return std::find(sub.sigs.begin(), sub.sigs.end(), s) != sub.sigs.end();
    });
  }

  // Forgets the channels whose receivers are gone, and gives the signals that nobody
  // listens to any more their former disposition back. Their senders are moved to `dead`,
  // to be dropped after our lock.
  void sweep_locked(std::vector<sender<int>>& dead) {
    for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
      if (it->tx.is_closed()) {
        dead.push_back(std::move(it->tx));
        it = subscriptions_.erase(it);
      } else {
        ++it;
      }
    }
    for (int s = 1; s < NSIG; ++s) {
      if (installed_[static_cast<std::size_t>(s)] && !listened_locked(s)) restore_locked(s);
    }
  }

  void dispatch() {
    for (;;) {
      unsigned char byte = 0;
      const ssize_t got = ::read(read_fd_, &byte, 1);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0 || byte == 0) return;  // 0: the destructor asks us to stop
      deliver(byte);
    }
  }

  void deliver(int s) {
    std::vector<sender<int>> dead;
    std::unique_lock lk(mutex_);
    sweep_locked(dead);
    if (!installed_[static_cast<std::size_t>(s)]) {
      // Nobody listens any more: the signal takes the disposition it had before csp caught
      // it (by default SIGINT and SIGTERM end the process).
      lk.unlock();
      ::raise(s);
      return;
    }
    for (subscription& sub : subscriptions_) {
      if (std::find(sub.sigs.begin(), sub.sigs.end(), s) != sub.sigs.end()) {
        (void)sub.tx.try_send(s);  // full: dropped, delivery never blocks
      }
    }
  }

  static inline std::atomic<int> write_fd_{-1};  // read by the handler: lock-free
  std::mutex mutex_;                             // guards everything below
  int read_fd_ = -1;
  std::vector<subscription> subscriptions_;
  std::array<bool, NSIG> installed_{};
  std::array<struct sigaction, NSIG> previous_{};
  std::thread thread_;
};

}  // namespace csp::detail
