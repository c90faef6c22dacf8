#pragma once
// The scheduling side of a csp::runtime: the Boost.Fiber algorithm each worker thread
// installs, serving the runtime's ready_pool (the shared queue and the run-next slots), and
// the hand-over of a fiber parked in a csp waiter.
//
// Boost.Fiber's own shared_work and work_stealing keep process-wide static state, so they
// can serve one pool per process at most; each pool here owns its queues, so runtimes can
// be created and destroyed one after another and side by side.
//
// Fibers migrate: a ready fiber waits detached from every scheduler, and the worker that
// picks it attaches it. Pinned contexts (each worker's main and dispatcher fibers) never
// leave their thread and stay in a local queue. A fiber that parks in a csp waiter without
// a deadline detaches itself on the way out (suspend_detached), so whoever wakes it hands
// it to the waker's own worker (ready_detached), not back to the thread it last ran on:
// Boost would route that wake through the old thread's remote queue and an OS wake-up.

#include <atomic>
#include <chrono>
#include <mutex>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>
#include <boost/fiber/scheduler.hpp>
#include <boost/fiber/type.hpp>

#include <csp/fibers/detail/ready_pool.hpp>

namespace csp::detail {

// Installed on every worker thread of a runtime (boost::fibers::use_scheduling_algorithm).
class pool_algorithm final : public boost::fibers::algo::algorithm {
 public:
  // On the worker thread, before it runs any fiber.
  explicit pool_algorithm(ready_pool& pool)
      : pool_(pool), scheduler_(boost::fibers::context::active()->get_scheduler()) {
    pool_.add_worker(own_);
    current() = this;
  }
  ~pool_algorithm() override {
    current() = nullptr;
    pool_.remove_worker(own_);
  }

  // The calling worker's algorithm, or null on other threads. A fiber may call it, switch
  // out and resume on another thread, so the thread-local's address must be computed afresh
  // at every call, never kept from before a switch: not inlined (GCC keeps thread-local
  // addresses across calls within a function), and the asm keeps GCC from deeming it const
  // and merging two calls.
  [[gnu::noinline]] static pool_algorithm*& current() noexcept {
    asm volatile("" ::: "memory");
    thread_local pool_algorithm* self = nullptr;
    return self;
  }

  ready_pool& pool() const noexcept { return pool_; }

  void awakened(boost::fibers::context* ctx) noexcept override {
    if (ctx->is_context(boost::fibers::type::pinned_context)) {
      ctx->ready_link(local_);
    } else {
      ctx->detach();  // may be resumed by any worker from now on
      pool_.push(ctx);
    }
  }

  // The run-next slot first (at most next_streak picks in a row, so the queues keep their
  // turns), then the shared queue and the local FIFO, except right after a remote
  // wake-up and on every
  // local_turn-th pick: the local queue holds this worker's dispatcher, the only code that
  // moves fibers woken from other threads (Boost's remote-ready queue, which notify()
  // announces) and sleepers whose time has come into the ready queues. Always preferring the
  // shared queue starved it for as long as the runtime stayed busy: a timer never fired.
  // (Go's scheduler looks at its global queue every 61 ticks for the same reason.)
  // Attaches through the saved scheduler: the active fiber may be one that has just
  // detached itself (suspend_detached).
  boost::fibers::context* pick_next() noexcept override {
    if (!local_.empty() && (remote_wake_pending() || ++picks_ % local_turn == 0)) {
      return pop_pinned();
    }
    if (streak_ < next_streak) {
      if (boost::fibers::context* ctx = take_next()) {
        ++streak_;
        return adopt(ctx);
      }
    }
    streak_ = 0;
    // Alternately the shared queue or the local FIFO first, so neither starves the other
    // (a fiber yielding in a loop keeps the shared queue non-empty).
    fifo_first_ = !fifo_first_;
    if (fifo_first_) {
      if (boost::fibers::context* ctx = pop_own()) return adopt(ctx);
    }
    if (boost::fibers::context* ctx = pool_.try_pop()) return adopt(ctx);
    if (!fifo_first_) {
      if (boost::fibers::context* ctx = pop_own()) return adopt(ctx);
    }
    if (boost::fibers::context* ctx = take_next()) return adopt(ctx);
    if (local_.empty()) return nullptr;
    return pop_pinned();
  }

  bool has_ready_fibers() const noexcept override {
    return !local_.empty() || own_.holds_fibers() || !pool_.empty();
  }

  void suspend_until(std::chrono::steady_clock::time_point const& deadline) noexcept override {
    pool_.idle_until(deadline, woken_, own_);
  }

  // The active fiber `self` (unpinned, of this worker) leaves this worker's scheduler and
  // switches to the next ready fiber; the lock `lk` holds is released once it is switched
  // out, and `lk` owns nothing on return. It comes back, on whichever worker, only through
  // ready_detached.
  // Boost releases the lock through the lock object it is handed, on the next context of
  // this thread: first the spinlock, then the object's "owns" flag. The fiber may resume
  // on another worker in between, so that object must not be one it reads again (its own
  // `lk`): it is switch_lock_, which only this thread ever touches.
  void suspend_detached(boost::fibers::context* self,
                        boost::fibers::detail::spinlock_lock& lk) noexcept {
    switch_lock_ = boost::fibers::detail::spinlock_lock(*lk.release(), std::adopt_lock);
    scheduler_->detach_worker_context(self);
    scheduler_->suspend(switch_lock_);  // `this` may belong to another thread from here on
  }

  // This worker's running fiber has woken `ctx` (detached, switched out): it runs next here.
  // The fiber it displaces from the slot goes to the back of this worker's local FIFO.
  void make_next(boost::fibers::context* ctx) noexcept {
    if (boost::fibers::context* displaced = own_.fill(ctx)) own_.push_local(displaced);
    pool_.own_fiber_added();
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
  static constexpr unsigned next_streak = 32;

  boost::fibers::context* take_next() noexcept {
    return pool_.frozen() ? nullptr : own_.take_next();
  }

  boost::fibers::context* pop_own() noexcept {
    return pool_.frozen() ? nullptr : own_.pop_local();
  }

  boost::fibers::context* adopt(boost::fibers::context* ctx) noexcept {
    scheduler_->attach_worker_context(ctx);
    return ctx;
  }

  // Cleared before the dispatcher runs, which then drains the remote-ready queue: a wake-up
  // that sets it again meanwhile is seen at the next pick.
  bool remote_wake_pending() noexcept {
    return remote_wake_.load(std::memory_order_relaxed) &&
           remote_wake_.exchange(false, std::memory_order_acquire);
  }

  boost::fibers::context* pop_pinned() noexcept {
    boost::fibers::context* ctx = &local_.front();
    local_.pop_front();
    return ctx;
  }

  ready_pool& pool_;
  boost::fibers::scheduler* scheduler_;  // this worker's
  worker_ready own_;  // this worker's run-next slot and local FIFO
  boost::fibers::detail::spinlock_lock switch_lock_;  // see suspend_detached
  boost::fibers::scheduler::ready_queue_type local_;
  unsigned picks_ = 0;
  unsigned streak_ = 0;  // run-next picks in a row
  bool fifo_first_ = false;
  std::atomic<bool> remote_wake_{false};  // set by any thread, cleared by this worker
  bool woken_ = false;  // guarded by the pool's mutex
};

// Makes ready a fiber parked by suspend_detached, once its waker has finished with it:
// into the calling worker's run-next slot if that worker belongs to the fiber's runtime
// (`home`), else at the back of home's shared queue. Any thread.
inline void ready_detached(boost::fibers::context* ctx, ready_pool& home) noexcept {
  pool_algorithm* here = pool_algorithm::current();
  if (here && &here->pool() == &home) {
    here->make_next(ctx);
  } else {
    home.push(ctx);
  }
}

}  // namespace csp::detail
