#pragma once
// Starting fibers: csp::go (detached) and csp::spawn (joinable, returns csp::task<R>).
// Outside a runtime a fiber starts on the calling thread and runs when that thread's current
// fiber blocks, yields or ends; inside a csp::runtime it may run on any of its threads.
// An optional csp::stack as the first argument chooses the new fiber's stack.

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/fiber/fiber.hpp>

#include <csp/errors.hpp>
#include <csp/fibers/detail/exception_state.hpp>
#include <csp/fibers/detail/fiber_registry.hpp>
#include <csp/fibers/detail/launch.hpp>
#include <csp/fibers/detail/main_exit.hpp>
#include <csp/fibers/stack.hpp>

namespace csp {

template <class R>
class task;

namespace detail {

template <class R>
struct task_state {
  std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> value{};
  std::exception_ptr error;
  bool finished = false;  // the body has returned or thrown
};

struct task_factory;

inline constexpr wait_site join_site{"join"};

}  // namespace detail

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
  // After main has returned, a task whose fiber had not finished throws
  // csp::deadlock_error: that fiber is never resumed (see the README).
  R join() {
    if (!fiber_.joinable()) throw empty_handle("csp::task::join on a task with no fiber");
    if (detach_if_main_returned()) {
      if (!state_->finished) {
        state_.reset();
        throw deadlock_error("csp::task::join after main returned: the fiber is never resumed");
      }
    } else {
      detail::blocked_scope blocked(&detail::join_site);
      detail::exception_state_guard eh;  // may resume on another thread
      fiber_.join();
    }
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

  // After main has returned the fiber is never resumed, and the thread's scheduler is gone:
  // joining would wait for ever (see detail/main_exit.hpp). Let it go instead.
  bool detach_if_main_returned() noexcept {
    if (!detail::main_has_returned()) return false;
    fiber_.detach();
    return true;
  }

  void join_quietly() noexcept {
    if (fiber_.joinable() && !detach_if_main_returned()) {
      detail::blocked_scope blocked(&detail::join_site);
      detail::exception_state_guard eh;  // e.g. a task destroyed by unwinding
      fiber_.join();
    }
  }

  boost::fibers::fiber fiber_;
  std::shared_ptr<detail::task_state<R>> state_;
};

namespace detail {
struct task_factory {
  template <class R, class Body>
  static task<R> start(const stack* s, Body body) {
    auto state = std::make_shared<task_state<R>>();
    boost::fibers::fiber fiber = launch(s, [state, body = std::move(body)]() mutable {
      try {
        if constexpr (std::is_void_v<R>) {
          body();
        } else {
          state->value.emplace(body());
        }
      } catch (...) {
        state->error = std::current_exception();
      }
      state->finished = true;
    });
    return task<R>(std::move(fiber), std::move(state));
  }
};
}  // namespace detail

// Starts f(args...) on a new detached fiber. An exception escaping f calls std::terminate,
// as for a std::thread: use csp::spawn to get it back instead. Never blocks; thread-safe.
template <class F, class... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, stack>)
void go(F&& f, Args&&... args) {
  detail::launch(nullptr, detail::bind_call(std::forward<F>(f), std::forward<Args>(args)...))
      .detach();
}

// The same on a stack of the given kind and size.
template <class F, class... Args>
void go(const stack& s, F&& f, Args&&... args) {
  detail::launch(&s, detail::bind_call(std::forward<F>(f), std::forward<Args>(args)...)).detach();
}

// Starts f(args...) on a new fiber and returns its task. Arguments are decay-copied, as
// for std::thread. Never blocks; thread-safe.
template <class F, class... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, stack>)
task<detail::call_result_t<F, Args...>> spawn(F&& f, Args&&... args) {
  return detail::task_factory::start<detail::call_result_t<F, Args...>>(
      nullptr, detail::bind_call(std::forward<F>(f), std::forward<Args>(args)...));
}

// The same on a stack of the given kind and size.
template <class F, class... Args>
task<detail::call_result_t<F, Args...>> spawn(const stack& s, F&& f, Args&&... args) {
  return detail::task_factory::start<detail::call_result_t<F, Args...>>(
      &s, detail::bind_call(std::forward<F>(f), std::forward<Args>(args)...));
}

}  // namespace csp
