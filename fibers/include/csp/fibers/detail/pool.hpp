#pragma once
// The scheduling side of a csp::runtime: one ready queue shared by the runtime's worker
// threads, and the Boost.Fiber algorithm each worker installs to use it.
//
// Boost.Fiber's own shared_work and work_stealing keep process-wide static state, so they
// can serve one pool per process at most; each pool here owns its queue, so runtimes can be
// created and destroyed one after another and side by side.
//
// Fibers migrate: a fiber made ready on one worker is detached from that worker's scheduler
// and may be attached to, and resumed by, any other. Pinned contexts (each worker's main and
// dispatcher fibers) never leave their thread and stay in a local queue.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/scheduler.hpp>
#include <boost/fiber/type.hpp>

namespace csp::detail {

// The queue of ready, unpinned fibers of one runtime. Thread-safe.
class ready_pool {
 public:
  void push(boost::fibers::context* ctx) {
    {
      std::lock_guard lk(mutex_);
      queue_.push_back(ctx);
    }
    idle_.notify_one();
  }

  boost::fibers::context* try_pop() {
    std::lock_guard lk(mutex_);
    if (frozen_ || queue_.empty()) return nullptr;
    boost::fibers::context* ctx = queue_.front();
    queue_.pop_front();
    return ctx;
  }

  bool empty() const {
    std::lock_guard lk(mutex_);
    return frozen_ || queue_.empty();
  }

  // After a deadlock report: no worker ever resumes a fiber of this pool again (a fiber
  // woken later stays queued forever) and idle workers sleep for good, using no CPU.
  void freeze() {
    {
      std::lock_guard lk(mutex_);
      frozen_ = true;
    }
    idle_.notify_all();
  }

  bool frozen() const {
    std::lock_guard lk(mutex_);
    return frozen_;
  }

  // Blocks the worker thread until `deadline`, work arrives, or `woken` becomes true
  // (a remote wake of one of this worker's pinned fibers); resets `woken`.
  void idle_until(std::chrono::steady_clock::time_point deadline, bool& woken) {
    std::unique_lock lk(mutex_);
    if (frozen_) {
      idle_.wait(lk, [] { return false; });  // never returns; spurious wake-ups sleep again
    }
    auto ready = [&] { return woken || !queue_.empty(); };
    ++idle_workers_;
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      idle_.wait(lk, ready);
    } else {
      idle_.wait_until(lk, deadline, ready);
    }
    --idle_workers_;
    if (woken) --pending_wakes_;
    woken = false;
  }

  // True when all `workers` wait for work with nothing queued and no wake-up on its way
  // to one of them (a fiber woken from another thread sits in its worker's remote queue
  // until that worker runs): nothing is running or about to.
  bool all_idle(std::size_t workers) const {
    std::lock_guard lk(mutex_);
    return idle_workers_ == workers && queue_.empty() && pending_wakes_ == 0;
  }

  // Wakes every idle worker so each can check its own `woken` flag.
  void wake(bool& woken) {
    {
      std::lock_guard lk(mutex_);
      if (!woken) ++pending_wakes_;
      woken = true;
    }
    idle_.notify_all();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<boost::fibers::context*> queue_;
  std::size_t idle_workers_ = 0;
  std::size_t pending_wakes_ = 0;  // `woken` flags set and not yet seen by their worker
  bool frozen_ = false;
};

// Installed on every worker thread of a runtime (boost::fibers::use_scheduling_algorithm).
class pool_algorithm final : public boost::fibers::algo::algorithm {
 public:
  explicit pool_algorithm(ready_pool& pool) noexcept : pool_(pool) {}

  void awakened(boost::fibers::context* ctx) noexcept override {
    if (ctx->is_context(boost::fibers::type::pinned_context)) {
      ctx->ready_link(local_);
    } else {
      ctx->detach();  // may be resumed by any worker from now on
      pool_.push(ctx);
    }
  }

  // The shared queue first, except right after a remote wake-up and on every local_turn-th
  // pick: the local queue holds this worker's dispatcher, the only code that moves fibers
  // woken from other threads (Boost's remote-ready queue, which notify() announces) and
  // sleepers whose time has come into the ready queues. Always preferring the shared queue
  // starved it for as long as the runtime stayed busy: a timer never fired. (Go's scheduler
  // looks at its global queue every 61 ticks for the same reason.)
  boost::fibers::context* pick_next() noexcept override {
    if (!local_.empty() && (remote_wake_pending() || ++picks_ % local_turn == 0)) {
      return pop_local();
    }
    if (boost::fibers::context* ctx = pool_.try_pop()) {
      boost::fibers::context::active()->attach(ctx);
      return ctx;
    }
    if (local_.empty()) return nullptr;
    return pop_local();
  }

  bool has_ready_fibers() const noexcept override { return !local_.empty() || !pool_.empty(); }

  void suspend_until(std::chrono::steady_clock::time_point const& deadline) noexcept override {
    pool_.idle_until(deadline, woken_);
  }

  // Called by Boost after it queued a context woken from another thread on this worker's
  // remote-ready queue (and at shutdown). release: pairs with the acquire in pick_next, so
  // the dispatcher that runs next sees the queued context.
  void notify() noexcept override {
    remote_wake_.store(true, std::memory_order_release);
    pool_.wake(woken_);
  }

 private:
  static constexpr unsigned local_turn = 61;

  // Cleared before the dispatcher runs, which then drains the remote-ready queue: a wake-up
  // that sets it again meanwhile is seen at the next pick.
  bool remote_wake_pending() noexcept {
    return remote_wake_.load(std::memory_order_relaxed) &&
           remote_wake_.exchange(false, std::memory_order_acquire);
  }

  boost::fibers::context* pop_local() noexcept {
    boost::fibers::context* ctx = &local_.front();
    local_.pop_front();
    return ctx;
  }

  ready_pool& pool_;
  boost::fibers::scheduler::ready_queue_type local_;
  unsigned picks_ = 0;
  std::atomic<bool> remote_wake_{false};  // set by any thread, cleared by this worker
  bool woken_ = false;  // guarded by the pool's mutex
};

}  // namespace csp::detail
