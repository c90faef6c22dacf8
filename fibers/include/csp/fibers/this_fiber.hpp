#pragma once
// csp::this_fiber: yield and sleep the calling fiber. From a plain thread these act on the
// thread's main fiber: other fibers of that thread run meanwhile. Inside a runtime the
// fiber may resume on another of its threads; the exceptions it is handling go with it.

#include <chrono>

#include <boost/fiber/operations.hpp>

#include <csp/config.hpp>
#include <csp/detail/deadline.hpp>
#include <csp/fibers/detail/exception_state.hpp>

namespace csp::this_fiber {

// Lets the other ready fibers of this thread run; never blocks the thread.
inline void yield() noexcept {
  detail::exception_state_guard eh;
  boost::this_fiber::yield();
}

// Suspends the calling fiber until `deadline` (any clock; converted to the steady clock,
// rounding up); other fibers keep running.
template <class Clock, class Duration>
void sleep_until(std::chrono::time_point<Clock, Duration> const& deadline) {
  const auto steady = detail::to_steady(deadline);
  detail::exception_state_guard eh;
  boost::this_fiber::sleep_until(steady);
}

// Suspends the calling fiber for at least `d` (any duration type; huge ones saturate);
// other fibers keep running.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> const& d) {
  const auto deadline = detail::deadline_after(d);
  detail::exception_state_guard eh;
  boost::this_fiber::sleep_until(deadline);
}

}  // namespace csp::this_fiber
