#pragma once
// One background thread that fires every csp::after and csp::tick timer of the process,
// so timers cost a heap entry each, not a thread or a fiber each, and fire on time whatever
// the creating thread is doing. Started on first use, stopped and joined at exit.
//
// Firing is a try_send from this thread: it never blocks here. A tick whose receiver has not
// taken the previous value is dropped (ticks never pile up); a timer whose channel is closed
// (its last receiver is gone) is forgotten, at the latest when it comes due or at the next
// sweep, which runs whenever the heap has doubled since the previous one, and whenever a
// runtime's deadlock check asks whether a timer is pending.
//
// For the deadlock check, a timer is a possible wake-up while someone can still receive
// from its channel (it is not closed), or while it is being delivered: a timer dropped
// unfired (the usual select-with-timeout idiom, where another case won) stops counting at
// once, not when it would have come due.

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <csp/config.hpp>
#include <csp/channels/sender.hpp>
#include <csp/fibers/detail/census.hpp>

namespace csp::detail {

class timer_service {
 public:
  static timer_service& instance() {
    static timer_service service;
    return service;
  }

  // period == zero: fire once at `when`; otherwise every `period` from `when` on.
  // Thread-safe; never blocks the caller beyond a short lock.
  void add(clock::time_point when, clock::duration period, sender<clock::time_point> tx) {
    std::vector<timer> dead;
    {
      std::lock_guard lk(mutex_);
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
      push({when, period, std::move(tx)});
      if (heap_.size() >= 2 * swept_size_ + 64) dead = sweep();
      wake_.notify_one();
    }
  }

  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;
  ~timer_service() {
    external_wake_probe().store(nullptr, std::memory_order_release);
    {
      std::lock_guard lk(mutex_);
      stopping_ = true;
      wake_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct timer {
    clock::time_point when;
    clock::duration period;
    sender<clock::time_point> tx;
  };
  struct later {  // a min-heap on `when`
    bool operator()(const timer& a, const timer& b) const noexcept { return a.when > b.when; }
  };

  timer_service() { external_wake_probe().store(&live_timer_pending, std::memory_order_release); }

  // The deadlock check's probe: true while a live timer is pending or being delivered.
  static bool live_timer_pending() noexcept { return instance().any_live(); }

  bool any_live() noexcept {
    std::vector<timer> dead;
    bool live = false;
    {
      std::lock_guard lk(mutex_);
      dead = sweep();
      live = in_flight_ > 0 || !heap_.empty();
    }
    return live;  // `dead` (handles of closed channels) dies outside our lock
  }

  void push(timer t) {
    heap_.push_back(std::move(t));
    std::push_heap(heap_.begin(), heap_.end(), later{});
  }

  // Takes the timers whose channel nobody can receive from out of the heap; the caller
  // destroys them after unlocking.
  [[nodiscard]] std::vector<timer> sweep() {
    std::vector<timer> dead;
    const auto live_end = std::partition(heap_.begin(), heap_.end(),
                                         [](const timer& t) { return !t.tx.is_closed(); });
    if (live_end != heap_.end()) {
      dead.assign(std::make_move_iterator(live_end), std::make_move_iterator(heap_.end()));
      heap_.erase(live_end, heap_.end());
      std::make_heap(heap_.begin(), heap_.end(), later{});
    }
    swept_size_ = heap_.size();
    return dead;
  }

  void run() {
    own_thread_scope own;  // fires timers only: never a wake-up the probe does not report
    std::unique_lock lk(mutex_);
    while (!stopping_) {
      if (heap_.empty()) {
        wake_.wait(lk);
        continue;
      }
      const clock::time_point now = clock::now();
      if (const clock::time_point next = heap_.front().when; next > now) {
        // A copy: the heap may reallocate while wait_until has the lock released.
        wake_.wait_until(lk, next);
        continue;
      }
      std::pop_heap(heap_.begin(), heap_.end(), later{});
      timer due = std::move(heap_.back());
      heap_.pop_back();
      ++in_flight_;
      lk.unlock();
      // Outside our lock: try_send takes the channel's lock and may wake its receiver.
      const status s = due.tx.try_send(now);
      lk.lock();
      // Only now, with the receiver woken (and so no longer counted blocked), does this
      // timer stop counting as a possible wake-up.
      --in_flight_;
      if (s != status::closed && due.period > clock::duration::zero()) {
        // Skip the periods already missed, keeping the phase: ticks never pile up.
        const auto missed = (now - due.when) / due.period;
        due.when += (missed + 1) * due.period;
        push(std::move(due));
      } else {
        lk.unlock();  // `due` (maybe the last sender) dies outside our lock
        due.tx = {};
        lk.lock();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<timer> heap_;
  std::size_t swept_size_ = 0;
  std::size_t in_flight_ = 0;  // popped and being delivered
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace csp::detail
