#pragma once
// The cases of a select: what to wait for, and the handler to run when it happens.
//
//   csp::on_recv(rx, [](csp::result<T> v) {...})  // v: a value, or status closed
//   csp::on_send(tx, value, [](bool ok) {...})     // ok false: closed, value not sent
//   csp::on_timeout(100ms, [] {...})               // or csp::on_deadline(time_point, ...)
//   csp::otherwise([] {...})                       // default: the select never blocks
//
// Handlers may also take no argument. A case on an empty handle is never ready (Go's nil
// channel), which switches it off.
//
// A channel case borrows what it is given (an lvalue handle, the value of a send, even a
// temporary such as the 42 in on_send(tx, 42, f)): it is neither copyable nor movable, and
// csp::select takes its cases by value, so the only way to use one is to build it right in
// the select(...) call. A case stored in a variable cannot be passed on (that does not
// compile), so nothing it refers to can die before the select that uses it ends.
//
// A receive handler gets the result by reference when it takes `const result<T>&` or
// `result<T>&&` (or `result<T>&`): the value moves once, from the channel into the case.
// A handler that takes `result<T>` by value asks for one more move, into its parameter; if
// that move throws, the exception leaves select and the value is lost.

#include <chrono>
#include <concepts>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <csp/config.hpp>
#include <csp/result.hpp>
#include <csp/status.hpp>
#include <csp/detail/deadline.hpp>
#include <csp/channels/receiver.hpp>
#include <csp/channels/sender.hpp>
#include <csp/select/detail/select_case.hpp>

namespace csp {
namespace detail {

// Passes `arg` as an xvalue (binds `const A&`, `A&&` and by-value parameters), else as an
// lvalue (binds `A&`), else calls f().
template <class F, class Arg>
void invoke_handler(F& f, Arg& arg) {
  if constexpr (std::is_invocable_v<F&, Arg&&>) {
    f(std::move(arg));
  } else if constexpr (std::is_invocable_v<F&, Arg&>) {
    f(arg);
  } else {
    static_assert(std::is_invocable_v<F&>,
                  "a select handler takes the case's argument (result<T> for a receive, "
                  "bool for a send) or nothing");
    f();
  }
}

template <class T, class F>
class recv_case final : public select_case {
 public:
  // Borrows an lvalue handle: it must outlive the select call.
  recv_case(const receiver<T>& rx, F handler) : state_(rx.state()), handler_(std::move(handler)) {}
  // Owns an rvalue handle (e.g. csp::on_recv(csp::after(1s), ...)).
  recv_case(receiver<T>&& rx, F handler)
      : keep_alive_(std::move(rx)), state_(keep_alive_.state()), handler_(std::move(handler)) {}
  recv_case(const recv_case&) = delete;
  recv_case& operator=(const recv_case&) = delete;

  spinlock* lock() noexcept override { return state_ ? &state_->lock() : nullptr; }

  // result_ holds no value here: fire() empties it after the handler, outside every lock,
  // so no value of the user's is ever destroyed under a channel lock (its destructor may
  // drop the last handle of a channel whose lock this very select holds).
  bool poll_locked() override {
    const status s = state_->recv_locked(result_access::storage(result_));
    if (s == status::empty) return false;
    result_access::set_status(result_, s);
    return true;
  }
  void link_locked(wait_entry& e) noexcept override {
    e.slot = &result_access::storage(result_);
    state_->link_receiver(e);
  }
  void unlink_locked(wait_entry& e) noexcept override { state_->unlink_receiver(e); }
  void complete(wake_reason reason) noexcept override {
    result_access::set_status(result_,
                              reason == wake_reason::done ? status::ok : status::closed);
  }
  void fire() override {
    struct empty_after {  // also when the handler throws
      result<T>& r;
      ~empty_after() { result_access::storage(r).reset(); }
    } guard{result_};
    invoke_handler(handler_, result_);
  }
  void describe(std::string& out) const override {
    out += "recv on ";
    if (state_) {
      state_->describe(out);
    } else {
      out += "an empty handle";
    }
  }

 private:
  receiver<T> keep_alive_;
  channel_state<T>* state_;
  F handler_;
  result<T> result_{status::empty};
};

template <class T, class F>
class send_case final : public select_case {
 public:
  // Sends the caller's object itself: moved from only if this case fires. Borrows an
  // lvalue handle (it must outlive the select call) and owns an rvalue one.
  send_case(const sender<T>& tx, T& value, F handler)
      : state_(tx.state()), value_(&value), handler_(std::move(handler)) {}
  send_case(sender<T>&& tx, T& value, F handler)
      : keep_alive_(std::move(tx)), state_(keep_alive_.state()), value_(&value),
        handler_(std::move(handler)) {}
  // Sends a value of its own (a copy, a conversion or a temporary).
  template <class U>
  send_case(const sender<T>& tx, std::in_place_t, U&& value, F handler)
      : state_(tx.state()), own_(std::forward<U>(value)), value_(&*own_),
        handler_(std::move(handler)) {}
  send_case(const send_case&) = delete;
  send_case& operator=(const send_case&) = delete;

  spinlock* lock() noexcept override { return state_ ? &state_->lock() : nullptr; }

  bool poll_locked() override {
    const status s = state_->send_locked(*value_);
    if (s == status::full) return false;
    ok_ = s == status::ok;
    return true;
  }
  void link_locked(wait_entry& e) noexcept override {
    e.slot = value_;
    state_->link_sender(e);
  }
  void unlink_locked(wait_entry& e) noexcept override { state_->unlink_sender(e); }
  void complete(wake_reason reason) noexcept override { ok_ = reason == wake_reason::done; }
  void fire() override { invoke_handler(handler_, ok_); }
  void describe(std::string& out) const override {
    out += "send on ";
    if (state_) {
      state_->describe(out);
    } else {
      out += "an empty handle";
    }
  }

 private:
  sender<T> keep_alive_;
  channel_state<T>* state_;
  std::optional<T> own_;
  T* value_;
  F handler_;
  bool ok_ = false;
};

template <class F>
struct timeout_case {
  clock::time_point deadline;
  F handler;
  void fire() { handler(); }
};

template <class F>
struct default_case {
  F handler;
  void fire() { handler(); }
};

template <class C>
struct is_timeout_case : std::false_type {};
template <class F>
struct is_timeout_case<timeout_case<F>> : std::true_type {};
template <class C>
struct is_default_case : std::false_type {};
template <class F>
struct is_default_case<default_case<F>> : std::true_type {};

}  // namespace detail

// Ready when rx has a value (handler gets it) or is closed and drained (status closed).
template <class T, class F>
detail::recv_case<T, std::decay_t<F>> on_recv(const receiver<T>& rx, F&& handler) {
  return {rx, std::forward<F>(handler)};
}
template <class T, class F>
detail::recv_case<T, std::decay_t<F>> on_recv(receiver<T>&& rx, F&& handler) {
  return {std::move(rx), std::forward<F>(handler)};
}

// Ready when `value` can be sent (handler gets true) or tx is closed (false; not sent).
// A T rvalue (std::move(v), a temporary) is borrowed and moved from only if this case fires,
// so a select that took another case leaves it intact; an lvalue is copied, as by send().
// (Borrowing is safe because a case can only be built inside the select call: see above.)
template <class T, class U, class F>
  requires std::constructible_from<T, U&&>
auto on_send(const sender<T>& tx, U&& value, F&& handler) {
  if constexpr (std::is_same_v<U&&, T&&>) {
    return detail::send_case<T, std::decay_t<F>>(tx, value, std::forward<F>(handler));
  } else {
    return detail::send_case<T, std::decay_t<F>>(tx, std::in_place, std::forward<U>(value),
                                                 std::forward<F>(handler));
  }
}

// Fires when `timeout` has passed since the case was made (at the select's start) and no
// channel case was ready first.
template <class Rep, class Period, class F>
detail::timeout_case<std::decay_t<F>> on_timeout(std::chrono::duration<Rep, Period> timeout,
                                                 F&& handler) {
  return {detail::deadline_after(timeout), std::forward<F>(handler)};
}

// Fires at `deadline` if no channel case was ready first.
template <class Clock, class Duration, class F>
detail::timeout_case<std::decay_t<F>> on_deadline(std::chrono::time_point<Clock, Duration> deadline,
                                                  F&& handler) {
  return {detail::to_steady(deadline), std::forward<F>(handler)};
}

// Runs when no channel case is ready at once: the select never blocks.
template <class F>
detail::default_case<std::decay_t<F>> otherwise(F&& handler) {
  return {std::forward<F>(handler)};
}

}  // namespace csp
