#pragma once
// Starting fibers: csp::go (detached) and csp::spawn (joinable, returns csp::task<R>).
// A fiber starts on the calling thread and runs when that thread's current fiber blocks,
// yields or ends (from a plain thread: when it blocks on a channel, sleeps, joins, ...).

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/fiber/fiber.hpp>

#include <csp/errors.hpp>

namespace csp {

template <class R>
class task;

namespace detail {
template <class R>
struct task_state {
  std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> value{};
  std::exception_ptr error;
};
struct task_factory;
}  // namespace detail

// Starts f(args...) on a new detached fiber. An exception escaping f calls std::terminate,
// as for a std::thread: use csp::spawn to get it back instead. Thread-safe.
template <class F, class... Args>
void go(F&& f, Args&&... args) {
  boost::fibers::fiber(std::forward<F>(f), std::forward<Args>(args)...).detach();
}

// A joinable fiber that produces an R (or void). Move-only. The destructor joins a fiber
// that was neither joined nor detached, so no fiber outlives the scope that owns its task.
template <class R>
class task {
 public:
  task() noexcept = default;
  task(task&&) noexcept = default;
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      join_quietly();
      fiber_ = std::move(other.fiber_);
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~task() { join_quietly(); }

  // True until joined or detached.
  bool joinable() const noexcept { return fiber_.joinable(); }

  // Blocks the calling fiber until the task ends; returns its value or rethrows its
  // exception. Throws csp::empty_handle if the task was already joined, detached or moved.
  R join() {
    if (!fiber_.joinable()) throw empty_handle("csp::task::join on a task with no fiber");
    fiber_.join();
    auto state = std::move(state_);
    if (state->error) std::rethrow_exception(state->error);
    if constexpr (!std::is_void_v<R>) return std::move(*state->value);
  }

  // Lets the fiber run on unobserved; its result or exception is discarded.
  void detach() {
    if (!fiber_.joinable()) throw empty_handle("csp::task::detach on a task with no fiber");
    fiber_.detach();
    state_.reset();
  }

 private:
  friend struct detail::task_factory;
  task(boost::fibers::fiber fiber, std::shared_ptr<detail::task_state<R>> state) noexcept
      : fiber_(std::move(fiber)), state_(std::move(state)) {}

  void join_quietly() noexcept {
    if (fiber_.joinable()) fiber_.join();
  }

  boost::fibers::fiber fiber_;
  std::shared_ptr<detail::task_state<R>> state_;
};

namespace detail {
struct task_factory {
  template <class R, class F, class... Args>
  static task<R> start(F&& f, Args&&... args) {
    auto state = std::make_shared<task_state<R>>();
    boost::fibers::fiber fiber(
        [state](std::decay_t<F> fn, std::decay_t<Args>... as) mutable {
          try {
            if constexpr (std::is_void_v<R>) {
              std::invoke(std::move(fn), std::move(as)...);
            } else {
              state->value.emplace(std::invoke(std::move(fn), std::move(as)...));
            }
          } catch (...) {
            state->error = std::current_exception();
          }
        },
        std::forward<F>(f), std::forward<Args>(args)...);
    return task<R>(std::move(fiber), std::move(state));
  }
};
}  // namespace detail

// Starts f(args...) on a new fiber and returns its task. Arguments are decay-copied, as
// for std::thread. Thread-safe.
template <class F, class... Args>
auto spawn(F&& f, Args&&... args)
    -> task<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  return detail::task_factory::start<R>(std::forward<F>(f), std::forward<Args>(args)...);
}

}  // namespace csp
