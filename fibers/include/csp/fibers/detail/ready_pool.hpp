#pragma once
// csp::detail::ready_pool: the ready fibers of one csp::runtime, and where its idle workers
// wait for them.
//
// Two places hold a ready, unpinned fiber, both as a context detached from every scheduler,
// so that any worker may attach and resume it:
//   * the shared queue (FIFO): fibers started, yielded or woken from outside a worker;
//   * one run-next slot per worker: the fiber that worker's running fiber last woke. The
//     worker resumes it next, so a sender and its receiver stay on one thread and a message
//     costs a fiber switch, not an OS wake-up (Go's runnext, Tokio's LIFO slot). A woken
//     fiber that displaces an older one sends that one to the shared queue.
//
// A slot must not strand its fiber behind a waker that keeps running: an idle worker that
// sees a slot in use watches it (short timed sleeps, see first_watch) and steals a fiber
// that sat in the same slot across a whole period. A fill that finds no watcher while some worker
// sleeps wakes one to watch; the watcher keeps watching while slots are busy, so a pair
// exchanging messages on one worker pays no wake-up per message, and goes back to an
// untimed sleep once they are quiet, so an idle runtime uses no CPU.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include <boost/fiber/context.hpp>

namespace csp::detail {

// One worker's run-next slot. Written by its worker; emptied by its worker or a thief.
struct runnext_slot {
  std::atomic<boost::fibers::context*> fiber{nullptr};
  std::atomic<std::uint64_t> fills{0};  // bumped on every fill: a thief's staleness check
};

class ready_pool {
 public:
  // How often a watching worker looks at the slots: first after first_watch, then ever less
  // often while nothing is stranded (Go's sysmon backs off the same way), so a fiber waits
  // at most about two periods for a thief, and a long exchange between two fibers costs the
  // watcher a wake-up per millisecond, not one per message.
  static constexpr std::chrono::microseconds first_watch{50};
  static constexpr std::chrono::microseconds longest_watch{1000};

  // A worker's slot joins the pool for the worker's lifetime. Thread-safe.
  void add_slot(runnext_slot& s) {
    std::lock_guard lk(mutex_);
    slots_.push_back(&s);
  }
  void remove_slot(runnext_slot& s) {
    std::lock_guard lk(mutex_);
    std::erase(slots_, &s);
  }

  // Queues a detached context at the back and wakes one sleeping worker, if any. Any thread.
  void push(boost::fibers::context* ctx) {
    bool wake;
    {
      std::lock_guard lk(mutex_);
      queue_.push_back(ctx);
      wake = sleepers_ > 0;  // a worker going to sleep rechecks the queue under mutex_ first
    }
    if (wake) idle_.notify_one();
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

  // A worker has just put a fiber into its empty slot: make sure someone will watch it.
  // seq_cst, with the slot's seq_cst exchange before it: pairs with a sleeper that counts
  // itself in sleepers_ and then scans the slots (both seq_cst), so either the sleeper sees
  // the fill or this sees the sleeper (a Dekker pair); a missed watch would strand the
  // fiber for as long as its waker runs.
  void slot_filled() {
    if (watchers_.load(std::memory_order_seq_cst) != 0) return;
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    {
      std::lock_guard lk(mutex_);
      watch_request_ = true;
    }
    idle_.notify_one();
  }

  // After a deadlock report: no worker ever resumes a fiber of this pool again (a fiber
  // woken later stays queued forever) and idle workers sleep for good, using no CPU.
  void freeze() {
    {
      std::lock_guard lk(mutex_);
      frozen_.store(true, std::memory_order_relaxed);
    }
    idle_.notify_all();
  }

  bool frozen() const noexcept { return frozen_.load(std::memory_order_relaxed); }

  // Blocks the worker that owns `own` until `deadline`, work arrives in the shared queue,
  // `woken` becomes true (a remote wake of one of this worker's pinned or attached fibers),
  // or it has stolen a stranded fiber from another slot into `own`; resets `woken`.
  void idle_until(std::chrono::steady_clock::time_point deadline, bool& woken,
                  runnext_slot& own) {
    std::unique_lock lk(mutex_);
    if (frozen_.load(std::memory_order_relaxed)) {
      idle_.wait(lk, [] { return false; });  // never returns; spurious wake-ups sleep again
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::vector<slot_view> seen;
    std::chrono::microseconds watch = first_watch;
    for (;;) {
      if (woken || !queue_.empty() || frozen_.load(std::memory_order_relaxed)) break;
      if (steal_stranded(seen, own)) break;
      const bool busy = look_at_slots(seen);
      watch_request_ = false;
      auto ready = [&] {
        return woken || !queue_.empty() || watch_request_ || frozen_.load(std::memory_order_relaxed);
      };
      if (busy) {
        const auto until = std::min(deadline, std::chrono::steady_clock::now() + watch);
        watch = std::min(2 * watch, longest_watch);
        watchers_.fetch_add(1, std::memory_order_seq_cst);
        idle_.wait_until(lk, until, ready);
        watchers_.fetch_sub(1, std::memory_order_seq_cst);
        if (until == deadline && std::chrono::steady_clock::now() >= deadline) break;
      } else if (deadline == std::chrono::steady_clock::time_point::max()) {
        idle_.wait(lk, ready);
      } else if (!idle_.wait_until(lk, deadline, ready)) {
        break;
      }
    }
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    if (woken) --pending_wakes_;
    woken = false;
  }

  // True when all `workers` wait for work with nothing queued and no wake-up on its way
  // to one of them (a fiber woken from another thread sits in its worker's remote queue
  // until that worker runs): nothing is running or about to. A fiber in a slot is not
  // missed: a slot is filled only by its running worker, and emptied before that worker
  // goes idle, or by a thief that leaves idle_until before releasing the lock.
  bool all_idle(std::size_t workers) const {
    std::lock_guard lk(mutex_);
    return sleepers_.load(std::memory_order_relaxed) == workers && queue_.empty() &&
           pending_wakes_ == 0;
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
  // What an idle worker saw of one slot at its last look.
  struct slot_view {
    std::uint64_t fills = 0;
    bool held = false;
  };

  // Under mutex_. Records what each slot holds in `seen`; true if any slot holds a fiber
  // or was filled since the last look: the watch goes on.
  bool look_at_slots(std::vector<slot_view>& seen) const {
    const bool first = seen.size() != slots_.size();
    if (first) seen.assign(slots_.size(), slot_view{});
    bool busy = false;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const bool held = slots_[i]->fiber.load(std::memory_order_seq_cst) != nullptr;
      const std::uint64_t fills = slots_[i]->fills.load(std::memory_order_relaxed);
      if (held || (!first && seen[i].fills != fills)) busy = true;
      seen[i] = slot_view{fills, held};
    }
    return busy;
  }

  // Under mutex_. Takes a fiber that has sat in one slot since the last look (held then,
  // not refilled since, still there) and puts it into `own`, which is empty: this worker
  // is idle. A slot refilled meanwhile by the same fiber is stolen just the same: any fiber
  // in a slot is ready, so taking it is always safe; the check only keeps thieves from
  // splitting pairs that are busy exchanging messages.
  bool steal_stranded(const std::vector<slot_view>& seen, runnext_slot& own) {
    if (seen.size() != slots_.size()) return false;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      runnext_slot& s = *slots_[i];
      if (&s == &own || !seen[i].held) continue;
      if (s.fills.load(std::memory_order_relaxed) != seen[i].fills) continue;
      // acquire: pairs with the release in the owner's fill, after which the context was
      // switched out and detached.
      boost::fibers::context* ctx = s.fiber.exchange(nullptr, std::memory_order_acquire);
      if (!ctx) continue;
      own.fiber.store(ctx, std::memory_order_relaxed);  // only this worker reads it next
      return true;
    }
    return false;
  }

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<boost::fibers::context*> queue_;
  std::vector<runnext_slot*> slots_;
  // Workers inside idle_until, and those of them watching slots. Changed under mutex_;
  // read without it by slot_filled.
  std::atomic<std::size_t> sleepers_{0};
  std::atomic<std::size_t> watchers_{0};
  std::size_t pending_wakes_ = 0;  // `woken` flags set and not yet seen by their worker
  bool watch_request_ = false;     // a fill found no watcher: one sleeper should start
  std::atomic<bool> frozen_{false};
};

}  // namespace csp::detail
