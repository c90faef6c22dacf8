#pragma once
// csp::detail::worker_ready: the ready fibers one worker of a csp::runtime keeps for itself,
// each a context detached from every scheduler (see ready_pool.hpp):
//   * the run-next slot: the fiber the worker's running fiber last woke, resumed next;
//   * a local FIFO of fibers displaced from the slot, resumed after it.
// Written by the owning worker; other workers only take from it, and only a fiber that has
// waited there across a whole look (ready_pool::idle_until), so fibers that exchange
// messages stay on one thread while their worker keeps up, and move when it does not.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

#include <boost/fiber/context.hpp>

#include <csp/detail/spinlock.hpp>

namespace csp::detail {

class worker_ready {
 public:
  using context = boost::fibers::context;

  // Owner: `ctx` runs next; returns the fiber it displaces, if any (for the local FIFO).
  // seq_cst: with ready_pool::own_fiber_added's loads, a Dekker pair with a worker going to
  // sleep (see there). release: publishes the switched-out context.
  context* fill(context* ctx) noexcept {
    fills_.fetch_add(1, std::memory_order_relaxed);
    return next_.exchange(ctx, std::memory_order_seq_cst);
  }

  // Owner: the slot's fiber, if any. acquire: pairs with the release of the fill.
  context* take_next() noexcept {
    if (!next_.load(std::memory_order_relaxed)) return nullptr;
    return next_.exchange(nullptr, std::memory_order_acquire);
  }

  // Owner: queues a displaced fiber at the back of the local FIFO.
  void push_local(context* ctx) {
    std::lock_guard lk(lock_);
    local_.push_back(ctx);
    local_size_.store(local_.size(), std::memory_order_seq_cst);
  }

  // Owner: the front of the local FIFO, if any.
  context* pop_local() noexcept {
    if (local_size_.load(std::memory_order_relaxed) == 0) return nullptr;
    std::lock_guard lk(lock_);
    return pop_front_locked();
  }

  bool holds_fibers() const noexcept {
    return next_.load(std::memory_order_relaxed) ||
           local_size_.load(std::memory_order_relaxed) != 0;
  }

  // What a thief saw at its last look.
  struct view {
    std::uint64_t fills = 0;
    std::uint64_t pops = 0;
    bool next_held = false;
    bool local_held = false;
  };

  view look() const noexcept {
    view v;
    v.next_held = next_.load(std::memory_order_seq_cst) != nullptr;
    v.local_held = local_size_.load(std::memory_order_seq_cst) != 0;
    v.fills = fills_.load(std::memory_order_relaxed);
    v.pops = pops_.load(std::memory_order_relaxed);
    return v;
  }

  // Activity since `before`: a fill, or a fiber taken from the local FIFO.
  bool changed_since(const view& before) const noexcept {
    return fills_.load(std::memory_order_relaxed) != before.fills ||
           pops_.load(std::memory_order_relaxed) != before.pops;
  }

  // Thief: a fiber that has waited here since `before` was seen, or null. The slot's fiber
  // if it was there then and the slot was not filled since; else the FIFO's front if the
  // FIFO held one then and nothing was taken from it since (so its front waited the whole
  // time). Any fiber here is ready, so taking one is always safe (a slot refilled with the
  // same fiber is taken just the same); the checks only keep thieves from splitting fibers
  // their worker is about to run.
  context* steal_stranded(const view& before) noexcept {
    if (before.next_held && fills_.load(std::memory_order_relaxed) == before.fills) {
      // acquire: pairs with the release of the fill.
      if (context* ctx = next_.exchange(nullptr, std::memory_order_acquire)) return ctx;
    }
    if (before.local_held && pops_.load(std::memory_order_relaxed) == before.pops) {
      std::lock_guard lk(lock_);
      if (pops_.load(std::memory_order_relaxed) == before.pops) return pop_front_locked();
    }
    return nullptr;
  }

  // A thief's own, idle, empty slot receives what it stole; only its owner reads it next.
  // Counted as a fill, so that no other thief takes it on the strength of an older look.
  void put_stolen(context* ctx) noexcept {
    fills_.fetch_add(1, std::memory_order_relaxed);
    next_.store(ctx, std::memory_order_release);
  }

 private:
  context* pop_front_locked() noexcept {
    if (local_.empty()) return nullptr;
    context* ctx = local_.front();
    local_.pop_front();
    local_size_.store(local_.size(), std::memory_order_relaxed);
    pops_.fetch_add(1, std::memory_order_relaxed);
    return ctx;
  }

  std::atomic<context*> next_{nullptr};
  std::atomic<std::uint64_t> fills_{0};  // bumped on every fill
  spinlock lock_;                        // guards local_; held for a few instructions
  std::deque<context*> local_;
  std::atomic<std::size_t> local_size_{0};  // local_.size(), readable without the lock
  std::atomic<std::uint64_t> pops_{0};      // fibers taken from local_, by anyone
};

}  // namespace csp::detail
