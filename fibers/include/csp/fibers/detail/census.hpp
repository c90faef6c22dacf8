#pragma once
// What the deadlock report needs to know about the whole process, not one runtime: a
// runtime's fibers can be woken by anything else in the process that holds a channel handle
// (a plain thread, another runtime, a timer), so a report is sound only when all of that is
// provably still. This header keeps
//   * the live runtimes (their fiber and worker bookkeeping),
//   * the threads that are csp's own (runtime workers, abandoned ones included, the timer
//     thread) or that sit blocked inside runtime::run: every other thread of the process is
//     foreign and may send at any time,
//   * a probe for pending external wake-ups (live timers), registered by channels/ (which
//     fibers/ must not depend on).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace csp::detail {

class runtime_core;

// Threads of the process that cannot send on a channel behind csp's back.
inline std::atomic<std::ptrdiff_t>& own_thread_count() noexcept {
  static std::atomic<std::ptrdiff_t> count{0};
  return count;
}

// Counts the calling thread as csp's own for the scope's lifetime. The count rises after
// the thread exists and falls before it ends, so a thread is never missed: any error makes
// the process look busier, never stiller, than it is.
class own_thread_scope {
 public:
  explicit own_thread_scope(bool active = true) noexcept : active_(active) {
    if (active_) own_thread_count().fetch_add(1, std::memory_order_seq_cst);
  }
  own_thread_scope(const own_thread_scope&) = delete;
  own_thread_scope& operator=(const own_thread_scope&) = delete;
  ~own_thread_scope() {
    if (active_) own_thread_count().fetch_sub(1, std::memory_order_seq_cst);
  }

 private:
  bool active_;
};

// The number of threads of this process (field num_threads of /proc/self/stat), or -1 if
// it cannot be read (then foreign threads must be assumed).
inline long process_thread_count() noexcept {
#if defined(__linux__)
  const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  const ssize_t got = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (got <= 0) return -1;
  buf[got] = '\0';
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count fields from
  // the last ')'. num_threads is field 20; field 3 (state) follows the ')'.
  const char* p = std::strrchr(buf, ')');
  if (!p) return -1;
  ++p;
  for (int field = 3; field < 20; ++field) {
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;
    if (!*p) return -1;
  }
  char* end = nullptr;
  const long n = std::strtol(p, &end, 10);
  return end != p && n > 0 ? n : -1;
#else
  return -1;
#endif
}

// Threads the platform's tools add to every process and that never touch a channel.
inline constexpr long tool_threads() noexcept {
#if defined(__SANITIZE_THREAD__)
  return 1;  // ThreadSanitizer's background thread
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return 1;
#else
  return 0;
#endif
#else
  return 0;
#endif
}

// True when no thread other than csp's own exists.
inline bool no_foreign_threads() noexcept {
  const long n = process_thread_count();
  return n > 0 && n - tool_threads() <= own_thread_count().load(std::memory_order_seq_cst);
}

// Set by the timer service: true while a timer that someone can still receive from is
// pending or being delivered.
using wake_probe = bool (*)() noexcept;
inline std::atomic<wake_probe>& external_wake_probe() noexcept {
  static std::atomic<wake_probe> probe{nullptr};
  return probe;
}
inline bool external_wake_pending() noexcept {
  const wake_probe p = external_wake_probe().load(std::memory_order_acquire);
  return p && p();
}

// The live runtimes of the process. Thread-safe.
class runtime_census {
 public:
  static runtime_census& instance() {
    static runtime_census census;
    return census;
  }
  void add(runtime_core* rt) {
    std::lock_guard lk(mutex_);
    runtimes_.push_back(rt);
    ++generation_;
  }
  void remove(runtime_core* rt) {
    std::lock_guard lk(mutex_);
    std::erase(runtimes_, rt);
    ++generation_;
  }
  // f(runtime_core&) for each live runtime, under the census lock; returns the set's
  // generation (bumped by every add and remove).
  template <class F>
  std::uint64_t for_each(F&& f) {
    std::lock_guard lk(mutex_);
    for (runtime_core* rt : runtimes_) f(*rt);
    return generation_;
  }

 private:
  std::mutex mutex_;
  std::vector<runtime_core*> runtimes_;
  std::uint64_t generation_ = 0;
};

}  // namespace csp::detail
