#pragma once
// Starting a fiber: on the right stack, and, inside a csp::runtime, counted and registered
// so that the runtime can list it and tell a deadlock from a pause.

#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/fiber/fiber.hpp>

#include <csp/fibers/detail/fiber_registry.hpp>
#include <csp/fibers/detail/main_exit.hpp>
#include <csp/fibers/stack.hpp>

namespace csp::detail {

// f(args...) with f and args decay-copied, as std::thread does.
template <class F, class... Args>
auto bind_call(F&& f, Args&&... args) {
  return [fn = std::decay_t<F>(std::forward<F>(f)),
          bound = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
    return std::apply(std::move(fn), std::move(bound));
  };
}

template <class F, class... Args>
using call_result_t = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

// The runtime's default stack for new fibers, or nullopt (csp's default, stack::cached).
inline const std::optional<stack>*& thread_default_stack() noexcept {
  thread_local const std::optional<stack>* s = nullptr;
  return s;
}

// Runs body() as a fiber registered with `rt` (counted from creation, so a fiber that has
// been started but has not run yet keeps the runtime from looking deadlocked).
// The body (the user's callable and everything it captured) is destroyed before the fiber
// stops counting: run() returns only once no capture of any of its fibers is left, so a
// captured last sender has closed its channel by then.
template <class Body>
auto registered(runtime_core* rt, Body body) {
  if (rt) {
    rt->reserve();
  } else {
    arm_main_exit_guard();
  }
  return [rt, body = std::optional<Body>(std::move(body))]() mutable {
    if (!rt) {
      thread_fiber_scope scope;
      return (*body)();
    }
    fiber_record record;
    rt->enter(record);
    current_record_slot().reset(&record);
    struct leave_guard {
      runtime_core* rt;
      fiber_record& record;
      std::optional<Body>& body;
      ~leave_guard() {
        body.reset();  // may block (a captured task joins): still registered meanwhile
        current_record_slot().reset(nullptr);
        rt->leave(record);
      }
    } guard{rt, record, body};
    return (*body)();
  };
}

// Starts body() on a new fiber: on `explicit_stack` if given, else the runtime's default,
// else csp's default stack (stack::cached(stack::default_size())).
template <class Body>
boost::fibers::fiber launch(const stack* explicit_stack, Body body) {
  runtime_core* rt = thread_runtime();
  auto fn = registered(rt, std::move(body));
  try {
    if (explicit_stack) return explicit_stack->launch(std::move(fn));
    if (const std::optional<stack>* def = thread_default_stack(); def && *def) {
      return (*def)->launch(std::move(fn));
    }
    return launch_on_default_stack(std::move(fn));
  } catch (...) {
    if (rt) {
      rt->unreserve();
    } else {
      disarm_main_exit_guard();
    }
    throw;
  }
}

}  // namespace csp::detail
