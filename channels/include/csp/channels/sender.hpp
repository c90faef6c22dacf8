#pragma once
// csp::sender<T>: the sending end of a channel. A cheap, copyable handle; all copies refer to
// one channel, and destroying the last one closes it. Like a shared_ptr, a const handle still
// sends: constness is about the handle, not the channel. Every member is thread-safe and may
// be called from any fiber or plain thread. On an empty (default-constructed or moved-from)
// handle every operation throws csp::empty_handle.
//
// The value is moved from only when the send succeeds: after a send that returns false /
// full / closed / timeout, an rvalue argument is still intact in the caller's hands.

#include <chrono>
#include <concepts>
#include <type_traits>
#include <utility>

#include <csp/config.hpp>
#include <csp/status.hpp>
#include <csp/detail/deadline.hpp>
#include <csp/channels/detail/handle.hpp>

namespace csp {

template <class T>
class sender : public detail::handle<T, detail::end::sending> {
  using base = detail::handle<T, detail::end::sending>;

 public:
  using value_type = T;
  using base::base;

  // Blocks until the value is taken or buffered. Returns true on success, false iff the
  // channel is closed (the value stays with the caller).
  template <class U = T>
    requires std::constructible_from<T, U&&>
  bool send(U&& value) const {
    return with_value(std::forward<U>(value), [this](T& v) {
      return this->checked().send(v, nullptr) == status::ok;
    });
  }

  // Never blocks. ok, full (no room; on a rendezvous channel: no receiver waiting) or closed.
  template <class U = T>
    requires std::constructible_from<T, U&&>
  status try_send(U&& value) const {
    return with_value(std::forward<U>(value),
                      [this](T& v) { return this->checked().try_send(v); });
  }

  // Blocks until `deadline` (steady clock) at most. ok, timeout or closed; a timed-out send
  // leaves the channel exactly as if it never ran.
  template <class Clock, class Duration, class U = T>
    requires std::constructible_from<T, U&&>
  status send_until(U&& value, std::chrono::time_point<Clock, Duration> deadline) const {
    const clock::time_point d = detail::to_steady(deadline);
    return with_value(std::forward<U>(value),
                      [this, &d](T& v) { return this->checked().send(v, &d); });
  }

  // Blocks for `timeout` at most. ok, timeout or closed.
  template <class Rep, class Period, class U = T>
    requires std::constructible_from<T, U&&>
  status send_for(U&& value, std::chrono::duration<Rep, Period> timeout) const {
    const clock::time_point d = detail::deadline_after(timeout);
    return with_value(std::forward<U>(value),
                      [this, &d](T& v) { return this->checked().send(v, &d); });
  }

 private:
  // A non-const T rvalue is sent in place (moved from only on success); anything else is
  // first converted or copied into a T of our own.
  template <class U, class Op>
  static decltype(auto) with_value(U&& value, Op op) {
    if constexpr (std::is_same_v<U&&, T&&>) {
      return op(value);
    } else {
      T own(std::forward<U>(value));
      return op(own);
    }
  }
};

}  // namespace csp
