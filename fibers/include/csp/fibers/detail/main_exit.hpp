#pragma once
// What becomes of fibers left over when main returns. Those that are ready run on, until each
// has ended or blocks (as Boost.Fiber's own teardown would run them: a consumer draining a
// channel that main's last sender closed still finishes). Then every fiber still blocked,
// asleep or in a timed wait is never resumed, like a goroutine in Go, and the process ends.
//
// Boost.Fiber's teardown of a thread's scheduler (a thread_local destroyed in exit()) runs
// the thread's fibers until every one has ended; a fiber blocked for good made it loop for
// ever, at 100% CPU. So every fiber started outside a runtime links itself into its thread's
// list while it runs, and creating one arms a guard; when the main thread's guard is
// destroyed (before Boost's scheduler: it was constructed after it, and thread_locals die in
// reverse order), it lets the ready fibers run, then detaches the listed ones from that
// scheduler for good:
//   * a fresh waker epoch makes every wake-up issued before it a no-op (a channel partner,
//     a sleep or a timed wait that comes due can no longer schedule the fiber);
//   * it leaves the scheduler's ready, sleep and worker queues, so the teardown finds no
//     fiber to wait for.
// Their stacks and captures are never freed. A task joined after that does not wait (see
// task::join). Limits: the main thread must use Boost's default round_robin scheduling (the
// ready check and the unlinking use its queue hooks); a fiber woken from another thread in
// the very instant of the exit may still run once; a fiber that never blocks (yields for
// ever) keeps the process from ending, as before. Other threads keep Boost.Fiber's
// behaviour: a thread's exit runs its fibers to the end.

#include <unistd.h>

#include <cstddef>

#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>

namespace csp::detail {

struct thread_fiber_node {
  boost::fibers::context* ctx = nullptr;
  thread_fiber_node* prev = nullptr;
  thread_fiber_node* next = nullptr;
};

// Trivially destructible, so still usable while the thread's destructors run.
struct thread_fiber_list {
  thread_fiber_node* head = nullptr;
  std::size_t unstarted = 0;  // created on this thread, body not entered yet
  bool closed = false;        // main has returned: fibers starting from now on never run
};

inline thread_fiber_list& this_thread_fibers() noexcept {
  thread_local thread_fiber_list list;
  return list;
}

// True on the main thread once main has returned and its leftover fibers were let go.
inline bool main_has_returned() noexcept { return this_thread_fibers().closed; }

class main_exit_guard {
 public:
  ~main_exit_guard() {
    if (::getpid() != ::gettid()) return;  // not the main thread
    // exit() called from a fiber: not a teardown by the main context; leave it alone.
    if (!boost::fibers::context::active()->is_context(boost::fibers::type::main_context)) return;
    thread_fiber_list& list = this_thread_fibers();
    // The ready ones first (yield puts main behind them); repeat while some fiber of this
    // thread is ready or has not started yet. Bounded: each round runs every fiber ready
    // then, so only fibers that keep waking each other need many, and a miscount (fibers
    // moved to other threads by a scheduling algorithm of the user's) cannot hang the exit.
    for (int round = 0; round < max_rounds && (list.unstarted != 0 || any_ready(list)); ++round) {
      boost::this_fiber::yield();
    }
    list.closed = true;
    for (thread_fiber_node* n = list.head; n; n = n->next) abandon(*n->ctx);
    list.head = nullptr;
  }

 private:
  static constexpr int max_rounds = 10'000;

  static bool any_ready(const thread_fiber_list& list) noexcept {
    for (const thread_fiber_node* n = list.head; n; n = n->next) {
      if (n->ctx->ready_is_linked()) return true;
    }
    return false;
  }

  static void abandon(boost::fibers::context& ctx) noexcept {
    (void)ctx.create_waker();  // every earlier waker is stale now
    if (ctx.ready_is_linked()) ctx.ready_unlink();
    if (ctx.sleep_is_linked()) ctx.sleep_unlink();
    if (ctx.worker_is_linked()) ctx.worker_unlink();
  }
};

// Called on the thread that creates a fiber outside any runtime, before it does.
inline void arm_main_exit_guard() noexcept {
  (void)boost::fibers::context::active();  // Boost's scheduler first, so it is destroyed last
  thread_local main_exit_guard guard;
  ++this_thread_fibers().unstarted;
}

// The fiber could not be created after all.
inline void disarm_main_exit_guard() noexcept { --this_thread_fibers().unstarted; }

// Lives in the frame of a fiber started outside any runtime: the fiber is on its thread's
// list while it runs. A fiber that first runs after main returned (it was ready but had not
// started) leaves the scheduler at once and never runs its body.
class thread_fiber_scope {
 public:
  thread_fiber_scope() noexcept : list_(this_thread_fibers()) {
    --list_.unstarted;
    node_.ctx = boost::fibers::context::active();
    if (list_.closed) {
      node_.ctx->worker_unlink();
      for (;;) node_.ctx->suspend();  // no waker exists: never resumed
    }
    node_.next = list_.head;
    if (list_.head) list_.head->prev = &node_;
    list_.head = &node_;
  }
  thread_fiber_scope(const thread_fiber_scope&) = delete;
  thread_fiber_scope& operator=(const thread_fiber_scope&) = delete;
  ~thread_fiber_scope() {
    if (list_.closed) return;  // abandoned, yet woken from another thread in the instant before
    (node_.prev ? node_.prev->next : list_.head) = node_.next;
    if (node_.next) node_.next->prev = node_.prev;
  }

 private:
  thread_fiber_list& list_;
  thread_fiber_node node_;
};

}  // namespace csp::detail
