#pragma once
// csp::detail::ready_pool: the ready fibers of one csp::runtime, and where its idle workers
// wait for them.
//
// A ready, unpinned fiber waits as a context detached from every scheduler, so that any
// worker may attach and resume it, in one of two kinds of place:
//   * the shared queue (FIFO): fibers started, yielded or woken from outside a worker;
//   * each worker's own (worker_ready.hpp): a run-next slot for the fiber that worker's
//     running fiber last woke, resumed next, so a sender and its receiver stay on one
//     thread and a message costs a fiber switch, not an OS wake-up (Go's runnext, Tokio's
//     LIFO slot); and a local FIFO for fibers displaced from the slot. A group of fibers
//     that keep waking each other stays on one worker: on two cores, splitting them costs
//     more in contended cache lines than it gains.
//
// A worker's own fibers must not be stranded behind a waker that keeps running: an idle
// worker that sees another's slot or FIFO in use watches it (short timed sleeps, see
// first_watch) and steals a fiber that waited there across a whole period. A fill that
// finds no watcher while some worker sleeps wakes one to watch; the watcher keeps watching
// while those places are busy, so fibers exchanging messages on one worker pay no wake-up
// per message, and goes back to an untimed sleep once they are quiet, so an idle runtime
// uses no CPU.

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

#include <csp/fibers/detail/worker_ready.hpp>

namespace csp::detail {

class ready_pool {
 public:
  // How often a watching worker looks at the others: first after first_watch, then ever less
  // often while nothing is stranded (Go's sysmon backs off the same way), so a fiber waits
  // at most about two periods for a thief, and a long exchange between two fibers costs the
  // watcher a wake-up per millisecond, not one per message.
  static constexpr std::chrono::microseconds first_watch{50};
  static constexpr std::chrono::microseconds longest_watch{1000};

  // A worker's own ready fibers join the pool for the worker's lifetime. Thread-safe.
  void add_worker(worker_ready& w) {
    std::lock_guard lk(mutex_);
    workers_.push_back(&w);
  }
  void remove_worker(worker_ready& w) {
    std::lock_guard lk(mutex_);
    std::erase(workers_, &w);
  }

  // Queues a detached context at the back and wakes one sleeping worker, if any. Any thread.
  // Notified under the mutex: from a thread outside the runtime, the fiber may otherwise
  // run, the runtime finish and this pool be destroyed before notify_one.
  void push(boost::fibers::context* ctx) {
    std::lock_guard lk(mutex_);
    queue_.push_back(ctx);
    // A worker going to sleep rechecks the queue under mutex_ first.
    if (sleepers_.load(std::memory_order_relaxed) > 0) idle_.notify_one();
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

  // A worker has just put a fiber into its slot or FIFO: make sure someone will watch it.
  // seq_cst, with the seq_cst store that published the fiber before it: pairs with a
  // sleeper that counts itself in sleepers_ and then looks at every worker (both seq_cst),
  // so either the sleeper sees the fiber or this sees the sleeper (a Dekker pair); a missed
  // watch would strand the fiber for as long as its waker runs.
  void own_fiber_added() {
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
  // or it has stolen a stranded fiber from another worker into `own`'s slot; resets `woken`.
  void idle_until(std::chrono::steady_clock::time_point deadline, bool& woken,
                  worker_ready& own) {
    std::unique_lock lk(mutex_);
    if (frozen_.load(std::memory_order_relaxed)) {
      idle_.wait(lk, [] { return false; });  // never returns; spurious wake-ups sleep again
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::vector<worker_ready::view> seen;
    std::chrono::microseconds watch = first_watch;
    bool busy = false;  // at the last look
    for (;;) {
      if (woken || !queue_.empty() || frozen_.load(std::memory_order_relaxed)) break;
      if (steal_stranded(seen, own)) break;
      busy = look_at_workers(seen);
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
    // A watcher that leaves passes the watch on (Go's last spinning thief wakes another):
    // fills made while it watched woke no one, and their fibers may still wait.
    if (busy && sleepers_.load(std::memory_order_relaxed) > 1) {
      watch_request_ = true;
      idle_.notify_one();
    }
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    if (woken) --pending_wakes_;
    woken = false;
  }

  // True when all `workers` wait for work with nothing queued and no wake-up on its way
  // to one of them (a fiber woken from another thread sits in its worker's remote queue
  // until that worker runs): nothing is running or about to. A worker's own fibers are not
  // missed: only that worker adds them, while it runs, and it takes them all before it goes
  // idle; a thief moves one into its own slot and leaves idle_until before unlocking.
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
  // Under mutex_. Records what each worker holds in `seen`; true if any holds fibers or
  // had activity since the last look: the watch goes on.
  bool look_at_workers(std::vector<worker_ready::view>& seen) const {
    const bool first = seen.size() != workers_.size();
    if (first) seen.assign(workers_.size(), worker_ready::view{});
    bool busy = false;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      const worker_ready::view now = workers_[i]->look();
      if (now.next_held || now.local_held) busy = true;
      if (!first && (now.fills != seen[i].fills || now.pops != seen[i].pops)) busy = true;
      seen[i] = now;
    }
    return busy;
  }

  // Under mutex_. Moves a fiber that waited at another worker since the last look into
  // `own`'s slot, which is empty: this worker is idle.
  bool steal_stranded(const std::vector<worker_ready::view>& seen, worker_ready& own) {
    if (seen.size() != workers_.size()) return false;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (workers_[i] == &own) continue;
      if (boost::fibers::context* ctx = workers_[i]->steal_stranded(seen[i])) {
        own.put_stolen(ctx);
        return true;
      }
    }
    return false;
  }

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<boost::fibers::context*> queue_;
  std::vector<worker_ready*> workers_;
  // Workers inside idle_until, and those of them watching the others. Changed under mutex_;
  // read without it by own_fiber_added.
  std::atomic<std::size_t> sleepers_{0};
  std::atomic<std::size_t> watchers_{0};
  std::size_t pending_wakes_ = 0;  // `woken` flags set and not yet seen by their worker
  bool watch_request_ = false;     // a fill found no watcher: one sleeper should start
  std::atomic<bool> frozen_{false};
};

}  // namespace csp::detail
