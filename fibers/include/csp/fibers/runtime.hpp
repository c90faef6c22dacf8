#pragma once
// csp::runtime: a pool of worker threads running fibers, Go style.
//
//   csp::runtime rt{csp::threads(4)};
//   int answer = rt.run([] { ... csp::go(...); ... return 42; });   // or csp::run(4, f)
//
// run(f) starts f as the root fiber on the pool and blocks the calling (plain) thread until
// the root AND every fiber started inside the runtime have finished; then it returns the
// root's value or rethrows its exception. Fibers started with go/spawn inside the runtime
// run on its threads, balanced through one shared ready queue, and may move between them.
//
// Deadlock report: run() reports only when the whole process is provably still, so that
// nothing can ever wake a fiber: at two checks in a row (deadlock_check_period apart) with
// no fiber of any runtime starting, ending or being woken in between,
//   * every fiber of every live runtime of the process is blocked with no deadline (channel
//     op, select, join or wait_group) and all their workers are idle,
//   * no timer that someone can still receive from is pending or being delivered (a timer
//     whose receivers are all gone stops counting at once),
//   * every thread of the process is csp's own (runtime workers, the timer thread) or a
//     plain thread blocked inside runtime::run: any other thread (read from /proc/self/stat;
//     if that cannot be read, always assumed) may still send, so no report is made.
// Then run() reports the blocked fibers and what each waits in: it throws
// csp::deadlock_error (default), or prints the report and aborts (deadlock_policy::abort).
// A false report is worse than a hang: when in doubt (a foreign thread exists, even one
// that is itself stuck), run() keeps waiting.
// After a throw the stuck fibers are abandoned for good: never resumed, their destructors
// never run, and each one parked in a channel operation or select is claimed, so channels
// that outlive run() skip it (a later send keeps its value, as if no receiver waited).
// The runtime's threads park forever, using no CPU; run() on it throws invalid_argument.
// Several runtimes may exist one after another or side by side in one process.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/mutex.hpp>
#include <boost/fiber/operations.hpp>

#include <csp/errors.hpp>
#include <csp/fibers/detail/census.hpp>
#include <csp/fibers/detail/fiber_registry.hpp>
#include <csp/fibers/detail/launch.hpp>
#include <csp/fibers/detail/pool.hpp>
#include <csp/fibers/detail/unique_task.hpp>
#include <csp/fibers/detail/wait_site.hpp>
#include <csp/fibers/stack.hpp>
#include <csp/fibers/waiter.hpp>

namespace csp {

// The number of worker threads of a runtime.
struct threads {
  explicit constexpr threads(std::size_t n) noexcept : count(n) {}
  std::size_t count;
};

enum class deadlock_policy : unsigned char { throw_error, abort };

struct runtime_options {
  // Stack for the runtime's fibers (csp::go / csp::spawn may still pass their own);
  // nullopt: csp::stack::cached(csp::stack::default_size()), the default of every fiber.
  std::optional<stack> default_stack;
  bool detect_deadlocks = true;
  deadlock_policy on_deadlock = deadlock_policy::throw_error;
  // How often run() checks for a deadlock; a report needs two checks in a row.
  std::chrono::milliseconds deadlock_check_period{50};
};

class runtime {
 public:
  // Starts n worker threads (n >= 1, else csp::invalid_argument).
  explicit runtime(threads n, runtime_options options = {})
      : shared_(std::make_shared<shared>(std::move(options))) {
    if (n.count == 0) throw invalid_argument("csp::runtime needs at least one thread");
    shared_->core.workers = n.count;
    workers_.reserve(n.count);
    detail::runtime_census::instance().add(&shared_->core);
    try {
      for (std::size_t i = 0; i < n.count; ++i) {
        workers_.emplace_back([s = shared_] { s->work(); });
      }
    } catch (...) {
      stop_workers();
      detail::runtime_census::instance().remove(&shared_->core);
      throw;
    }
  }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Joins the worker threads (after a deadlock report: abandons them).
  ~runtime() {
    stop_workers();
    detail::runtime_census::instance().remove(&shared_->core);
  }

  std::size_t thread_count() const noexcept { return workers_.size(); }

  // Runs f(args...) as the root fiber on the pool; blocks the calling thread (which must
  // not be one of this runtime's workers) until every fiber of the runtime has finished.
  // Returns f's result or rethrows its exception; throws csp::deadlock_error on a deadlock.
  // One run at a time per runtime; thread-safe otherwise.
  template <class F, class... Args>
  detail::call_result_t<F, Args...> run(F&& f, Args&&... args) {
    using R = detail::call_result_t<F, Args...>;
    if (detail::thread_runtime() == &shared_->core) {
      throw invalid_argument("csp::runtime::run called from inside the same runtime");
    }
    if (shared_->abandoned) throw invalid_argument("csp::runtime::run after a deadlock");
    auto outcome = std::make_shared<std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>>();
    auto error = std::make_shared<std::exception_ptr>();
    auto body = [outcome, error,
                 call = detail::bind_call(std::forward<F>(f), std::forward<Args>(args)...)]() mutable {
      try {
        if constexpr (std::is_void_v<R>) {
          call();
        } else {
          outcome->emplace(call());
        }
      } catch (...) {
        *error = std::current_exception();
      }
    };
    // A plain thread blocked in run() cannot send behind csp's back (a worker of another
    // runtime calling run() is counted already).
    detail::own_thread_scope caller(detail::thread_runtime() == nullptr);
    shared_->core.reserve();  // the root counts from now: run() cannot see "all done" early
    shared_->post(detail::unique_task(std::move(body)));
    wait_until_all_done();
    if (*error) std::rethrow_exception(*error);
    if constexpr (!std::is_void_v<R>) return std::move(**outcome);
  }

  // The runtime's live fibers and what each is doing, for logs and debuggers. Thread-safe.
  std::vector<fiber_info> fibers() const { return shared_->core.list(); }

 private:
  struct shared {
    explicit shared(runtime_options o) : options(std::move(o)) {}

    runtime_options options;
    detail::runtime_core core;
    bool abandoned = false;  // set by run() on a deadlock, before the workers are abandoned

    boost::fibers::mutex mutex;  // guards the fields below
    boost::fibers::condition_variable wake;
    std::deque<detail::unique_task> launches;
    bool stopping = false;

    // A worker thread's life: install the pool algorithm, then let the main fiber start
    // the roots it is handed until the runtime stops. Fibers run whenever it waits.
    void work() {
      detail::own_thread_scope own;  // for good if abandoned: the thread never ends then
      boost::fibers::use_scheduling_algorithm<detail::pool_algorithm>(core.pool);
      detail::thread_runtime() = &core;
      detail::thread_default_stack() = &options.default_stack;
      std::unique_lock lk(mutex);
      for (;;) {
        wake.wait(lk, [this] { return stopping || !launches.empty(); });
        if (stopping) break;
        detail::unique_task root = std::move(launches.front());
        launches.pop_front();
        lk.unlock();
        // Already reserved by run(); registered() would reserve again, so enter directly.
        launch_root(std::move(root));
        lk.lock();
      }
    }

    void launch_root(detail::unique_task root) {
      auto fn = [this, root = std::move(root)]() mutable {
        detail::fiber_record record;
        core.enter(record);
        detail::current_record_slot().reset(&record);
        root();
        root.reset();  // the captures die before the root stops counting (see registered)
        detail::current_record_slot().reset(nullptr);
        core.leave(record);
      };
      if (options.default_stack) {
        options.default_stack->launch(std::move(fn)).detach();
      } else {
        detail::launch_on_default_stack(std::move(fn)).detach();
      }
    }

    void post(detail::unique_task root) {
      {
        std::unique_lock lk(mutex);
        launches.push_back(std::move(root));
      }
      wake.notify_one();
    }
  };

  void wait_until_all_done() {
    const auto period = shared_->options.deadlock_check_period;
    bool suspect = false;
    world_epoch suspect_epoch{};
    while (!shared_->core.wait_all_done_for(period)) {
      if (!shared_->options.detect_deadlocks) continue;
      const world_state seen = observe_world();
      if (seen.still && suspect && suspect_epoch == seen.epoch) report_deadlock();
      suspect = seen.still;  // still now: confirm at the next check, if nothing happened between
      suspect_epoch = seen.epoch;
    }
  }

  struct world_epoch {
    std::uint64_t census = 0;  // the set of live runtimes
    std::uint64_t fibers = 0;  // the sum of their epochs: unchanged iff none changed
    bool operator==(const world_epoch&) const = default;
  };
  struct world_state {
    bool still = false;
    world_epoch epoch;
  };

  // Still: every fiber of every live runtime is blocked with no deadline and all their
  // workers idle (an abandoned runtime is still by construction), no timer that someone can
  // receive from is pending or being delivered, and every thread of the process is csp's
  // own or blocked in runtime::run. Then nothing can ever wake any fiber.
  world_state observe_world() {
    world_state w;
    bool still = true;
    w.epoch.census = detail::runtime_census::instance().for_each([&](detail::runtime_core& rt) {
      const auto s = rt.observe();
      w.epoch.fibers += s.epoch;
      if (rt.pool.frozen()) return;
      if (s.blocked != s.live || !rt.pool.all_idle(rt.workers)) still = false;
    });
    w.still = still && !detail::external_wake_pending() && detail::no_foreign_threads();
    return w;
  }

  [[noreturn]] void report_deadlock() {
    std::string report = "csp: deadlock: every fiber of the runtime is blocked and nothing can wake them\n";
    for (const fiber_info& f : shared_->core.list()) {
      report += "  fiber " + std::to_string(f.id) + ": " + f.state;
      if (!f.waiting_in.empty()) report += " in " + f.waiting_in;
      report += '\n';
    }
    if (shared_->options.on_deadlock == deadlock_policy::abort) {
      std::fputs(report.c_str(), stderr);
      std::abort();
    }
    abandon();
    throw deadlock_error(report);
  }

  // The stuck fibers are never resumed: no worker of the pool picks a fiber again, and each
  // fiber parked in a csp waiter is claimed for good, so a channel that outlives run()
  // skips its entries (a later send keeps its value, as if no receiver were there).
  void abandon() noexcept {
    shared_->abandoned = true;
    shared_->core.pool.freeze();
    shared_->core.for_each_record([](detail::fiber_record& r) {
      if (r.parked_in) r.parked_in->try_abandon();
    });
  }

  void stop_workers() noexcept {
    if (shared_->abandoned) {
      // Stuck fibers can never be resumed; their workers park forever, owning `shared_`.
      for (std::thread& t : workers_) t.detach();
      return;
    }
    {
      // Notified under the mutex: a woken worker cannot get past wait() (and end its thread,
      // destroying its scheduler) before notify_all has finished waking every worker's
      // scheduler; unlocked, the last wake-ups could reach a scheduler already gone.
      std::unique_lock lk(shared_->mutex);
      shared_->stopping = true;
      shared_->wake.notify_all();
    }
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

  std::shared_ptr<shared> shared_;
  std::vector<std::thread> workers_;
};

// Runs f(args...) on a temporary runtime of n threads; see runtime::run.
template <class F, class... Args>
auto run(std::size_t n, F&& f, Args&&... args) {
  runtime rt{threads(n)};
  return rt.run(std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace csp
