#pragma once
// csp::detail::waiter: one blocked operation or one blocked select, parked on a fiber.
//
// Protocol (the same for a single send/recv and for a select over N cases):
//   * The owner links one wait entry per case into channel queues, then parks.
//   * A partner that finds an entry must win the waiter's claim word (CAS unclaimed ->
//     case id) before it touches the entry's value slot. Exactly one party ever wins, so
//     a select's losing cases are never performed: nothing is consumed or sent twice.
//   * The winner finishes the transfer, then calls notify(): it records the outcome and
//     wakes the owner. After notify() the winner never touches the waiter again.
//   * A timed owner whose deadline passes claims itself (claimed_by_timeout). If that CAS
//     fails, a partner is mid-transfer: the owner keeps waiting, without a deadline, for
//     the notify that must follow. So a timeout never races a transfer.
//
// Parking without a deadline, on a runtime worker: the owner detaches itself from its
// worker and switches out (pool_algorithm::suspend_detached); notify() hands it to the
// notifier's own worker (ready_detached), so it runs next where its partner runs. Elsewhere
// (plain threads, timed waits) parking is Boost.Fiber's context::suspend / wait_until with
// an epoch waker: a stale wake (the timer fired first) is a no-op, and the wake is issued
// while holding the waiter's own spinlock, so the owner cannot return (and its fiber
// cannot end) while a notifier still uses the context. The exceptions the owner is
// handling travel with it across the switch (exception_state_guard): it may resume on
// another thread.
// Only this header and the rest of fibers/ touch Boost.Fiber.

#include <atomic>
#include <cstdint>
#include <mutex>

#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>
#include <boost/fiber/type.hpp>
#include <boost/fiber/waker.hpp>

#include <csp/config.hpp>
#include <csp/fibers/detail/exception_state.hpp>
#include <csp/fibers/detail/fiber_registry.hpp>
#include <csp/fibers/detail/pool.hpp>
#include <csp/fibers/detail/wait_site.hpp>

namespace csp::detail {

// Why a parked waiter was woken.
enum class wake_reason : unsigned char {
  done,    // the partner performed the claimed case's operation
  closed,  // the claimed case's channel was closed
  retry,   // the partner could not complete (T's move threw on its side): poll again
};

class waiter {
 public:
  static constexpr std::uint32_t unclaimed = 0;
  static constexpr std::uint32_t claimed_by_timeout = ~std::uint32_t{0};

  // Binds to the calling fiber (or the calling thread's main fiber).
  waiter() noexcept : ctx_(boost::fibers::context::active()) {}
  waiter(const waiter&) = delete;
  waiter& operator=(const waiter&) = delete;

  // Any thread, while holding the lock of the channel that links the case's entry.
  // acq_rel: the winner sees the owner's setup of its slots; the owner, after notify,
  // sees everything the winner wrote.
  bool try_claim(std::uint32_t case_id) noexcept {
    std::uint32_t expected = unclaimed;
    return claim_.compare_exchange_strong(expected, case_id + 1, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
  }

  bool is_claimed() const noexcept {
    return claim_.load(std::memory_order_acquire) != unclaimed;
  }

  // Only the winner of try_claim, exactly once, after finishing the transfer.
  void notify(wake_reason reason) noexcept {
    boost::fibers::detail::spinlock_lock lk(splk_);
    reason_ = reason;
    notified_ = true;
    if (blocked_record_) {
      blocked_record_->runtime->unblock(*blocked_record_);
      blocked_record_ = nullptr;
    }
    if (!parked_) return;
    if (!home_) {
      waker_.wake();
      return;
    }
    // Parked detached: nothing but this hand-over can resume the owner, so the lock can go
    // first (the owner cannot run, and its fiber cannot end, before ready_detached has
    // queued it; after that this notifier touches neither the waiter nor the context), and
    // the owner, once resumed, does not spin on the lock while the hand-over wakes a thread.
    boost::fibers::context* ctx = ctx_;
    ready_pool* home = home_;
    lk.unlock();
    ready_detached(ctx, *home);
  }

  // Owner: parks until notified. Returns the claimed case's id. `site` says what the
  // fiber waits in, for its runtime's fiber list and deadlock detection.
  std::uint32_t park(const wait_site* site = nullptr) {
    fiber_record* record = site ? current_record() : nullptr;
    boost::fibers::detail::spinlock_lock lk(splk_);
    if (record && !notified_) {
      // Marked blocked until notify() — not until this fiber runs again: a woken fiber
      // waiting for its thread must not look deadlocked to the runtime.
      record->runtime->block(*record, *site, this);
      blocked_record_ = record;
    }
    wait_notified(lk);
    return claimed_case();
  }

  // Owner: parks until notified or `deadline`. Returns false iff the deadline passed and
  // the owner claimed itself: then nobody touched, or will touch, any of its entries.
  bool park_until(clock::time_point deadline) noexcept {
    boost::fibers::detail::spinlock_lock lk(splk_);
    while (!notified_) {
      if (clock::now() >= deadline) {
        std::uint32_t expected = unclaimed;
        if (claim_.compare_exchange_strong(expected, claimed_by_timeout,
                                           std::memory_order_acq_rel)) {
          return false;
        }
        wait_notified(lk);  // a partner won: its notify is on the way
        break;
      }
      boost::fibers::waker w = ctx_->create_waker();
      waker_ = w;
      parked_ = true;
      {
        exception_state_guard eh;  // may resume on another thread
        ctx_->wait_until(deadline, lk, std::move(w));  // releases lk once switched out
      }
      lk.lock();
      parked_ = false;
    }
    return true;
  }

  // A runtime abandoning this (deadlocked, parked) waiter's fiber: claims it for good, so no
  // partner ever completes one of its entries (a value stays with its sender) or wakes it.
  // False if a partner claimed it first. Any thread; lock-free, so callable under the
  // runtime's registry lock.
  bool try_abandon() noexcept {
    std::uint32_t expected = unclaimed;
    return claim_.compare_exchange_strong(expected, claimed_by_timeout, std::memory_order_acq_rel,
                                          std::memory_order_acquire);
  }

  // Owner, after a successful park: which case was claimed, and why it woke.
  std::uint32_t claimed_case() const noexcept {
    return claim_.load(std::memory_order_acquire) - 1;
  }
  wake_reason reason() const noexcept { return reason_; }

  // Owner: makes the waiter reusable for another round. Only once every entry is unlinked
  // and any notify is done with the waiter (both hold for the owner after park returns).
  void reset() noexcept {
    claim_.store(unclaimed, std::memory_order_relaxed);
    notified_ = false;
  }

 private:
  void wait_notified(boost::fibers::detail::spinlock_lock& lk) noexcept {
    if (notified_) return;
    exception_state_guard eh;  // may resume on another thread
    while (!notified_) {
      parked_ = true;
      pool_algorithm* worker = pool_algorithm::current();
      if (worker && !ctx_->is_context(boost::fibers::type::pinned_context)) {
        home_ = &worker->pool();
        worker->suspend_detached(ctx_, lk);  // releases the lock once switched out
        lk = boost::fibers::detail::spinlock_lock(splk_);
      } else {
        waker_ = ctx_->create_waker();
        ctx_->suspend(lk);  // releases lk once switched out
        lk.lock();
      }
      parked_ = false;
      home_ = nullptr;
    }
  }

  boost::fibers::context* ctx_;
  std::atomic<std::uint32_t> claim_{unclaimed};
  boost::fibers::detail::spinlock splk_;  // guards the fields below
  boost::fibers::waker waker_;
  bool parked_ = false;
  bool notified_ = false;
  fiber_record* blocked_record_ = nullptr;  // set while counted as blocked by its runtime
  ready_pool* home_ = nullptr;  // while parked detached from its worker: the runtime's pool
  wake_reason reason_ = wake_reason::done;
};

}  // namespace csp::detail
