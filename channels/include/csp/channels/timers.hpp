#pragma once
// Timer channels, usable wherever a receiver is (recv, recv_for, select, selector):
//   csp::after(50ms)   one value (the time it fired) after 50 ms, then never another
//   csp::tick(1s)      one value per period; a tick nobody took is dropped, never queued
//   csp::never<T>()    never ready: put it in a select case to switch the case off
// None of them ever closes on its own (as in Go); dropping the last receiver stops the timer.
// One shared background thread fires all timers (see detail/timer_service.hpp).

#include <chrono>
#include <memory>

#include <csp/config.hpp>
#include <csp/errors.hpp>
#include <csp/channels/detail/channel_state.hpp>
#include <csp/detail/deadline.hpp>
#include <csp/channels/detail/timer_service.hpp>
#include <csp/channels/receiver.hpp>
#include <csp/channels/sender.hpp>

namespace csp {
namespace detail {
// A channel with one sender that has no handle: it can never close by disconnection.
template <class T>
std::shared_ptr<channel_state<T>> make_unclosable(std::size_t capacity) {
  auto state = std::make_shared<channel_state<T>>(
      capacity, capacity ? channel_kind::bounded : channel_kind::rendezvous);
  state->add_sender();
  return state;
}

inline receiver<clock::time_point> start_timer(clock::time_point first, clock::duration period) {
  auto state = make_unclosable<clock::time_point>(1);
  timer_service::instance().add(first, period, sender<clock::time_point>(state));
  return receiver<clock::time_point>(std::move(state));
}
}  // namespace detail

// A receiver that gets one value, the steady-clock time it fired, `delay` from now (a huge
// delay saturates: never). Thread-safe; never blocks.
template <class Rep, class Period>
receiver<clock::time_point> after(std::chrono::duration<Rep, Period> delay) {
  return detail::start_timer(detail::deadline_after(delay), clock::duration::zero());
}

// A receiver that gets a value every `period`, starting one period from now; a huge period
// saturates (hours::max(): never). Thread-safe; never blocks. Throws csp::invalid_argument
// for a period that is not positive.
template <class Rep, class Period>
receiver<clock::time_point> tick(std::chrono::duration<Rep, Period> period) {
  const clock::duration p = detail::saturating_ceil(period);
  if (p <= clock::duration::zero()) throw invalid_argument("csp::tick: period must be positive");
  return detail::start_timer(detail::deadline_after(p), p);
}

// A receiver that is never ready: recv blocks forever, recv_for times out, a select case on
// it never fires. Closing it (it has no sender) is allowed and makes it closed.
template <class T>
receiver<T> never() {
  return receiver<T>(detail::make_unclosable<T>(0));
}

}  // namespace csp
