#pragma once
// csp::wait_group: waits for a collection of fibers or threads to finish, like Go's
// sync.WaitGroup. add(n) before starting the work, done() when each piece ends, wait()
// blocks until the count is back to zero. All members are thread-safe.

#include <cstddef>
#include <mutex>

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/mutex.hpp>

#include <csp/errors.hpp>
#include <csp/fibers/detail/exception_state.hpp>
#include <csp/fibers/detail/fiber_registry.hpp>

namespace csp {

class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  // Adds n (may be negative) to the counter; never blocks. Throws csp::invalid_argument
  // if the counter would become negative.
  void add(std::ptrdiff_t n = 1) {
    detail::exception_state_guard eh;  // a contended fiber mutex suspends the caller
    std::unique_lock lk(mutex_);
    if (count_ + n < 0) throw invalid_argument("csp::wait_group counter would go negative");
    count_ += n;
    if (count_ == 0) zero_.notify_all();
  }

  // Same as add(-1).
  void done() { add(-1); }

  // Blocks the calling fiber until the counter is zero; returns at once if it already is.
  void wait() {
    static constexpr detail::wait_site site{"wait_group::wait"};
    detail::exception_state_guard eh;  // may resume on another thread
    std::unique_lock lk(mutex_);
    if (count_ == 0) return;
    detail::blocked_scope blocked(&site);
    zero_.wait(lk, [this] { return count_ == 0; });
  }

 private:
  boost::fibers::mutex mutex_;
  boost::fibers::condition_variable zero_;
  std::ptrdiff_t count_ = 0;
};

}  // namespace csp
