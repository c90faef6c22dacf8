#pragma once
// csp::result<T>: what a receive returns. Like std::optional<T> (explicit bool, *, ->,
// value()) plus status(): ok when it holds a value, otherwise empty, closed or timeout.
//   while (auto v = rx.recv()) use(*v);

#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <csp/errors.hpp>
#include <csp/status.hpp>

namespace csp {

template <class T>
class result;

namespace detail {
// Lets a channel construct a result's value in place, saving a move per receive.
struct result_access {
  template <class T>
  static std::optional<T>& storage(result<T>& r) noexcept { return r.value_; }
  template <class T>
  static void set_status(result<T>& r, csp::status s) noexcept { r.status_ = s; }
};
}  // namespace detail

template <class T>
class result {
  static_assert(!std::is_reference_v<T>, "channels carry values, not references");

 public:
  using value_type = T;

  // A result without a value; `s` must not be status::ok.
  constexpr explicit result(csp::status s) noexcept : status_(s) {}

  template <class... Args>
  constexpr explicit result(std::in_place_t, Args&&... args)
      : value_(std::in_place, std::forward<Args>(args)...), status_(status::ok) {}

  constexpr csp::status status() const noexcept { return status_; }
  constexpr bool has_value() const noexcept { return value_.has_value(); }
  constexpr explicit operator bool() const noexcept { return value_.has_value(); }

  constexpr T& operator*() & noexcept { return *value_; }
  constexpr const T& operator*() const& noexcept { return *value_; }
  constexpr T&& operator*() && noexcept { return std::move(*value_); }
  constexpr T* operator->() noexcept { return &*value_; }
  constexpr const T* operator->() const noexcept { return &*value_; }

  // Throws csp::bad_result_access when there is no value.
  constexpr T& value() & { check(); return *value_; }
  constexpr const T& value() const& { check(); return *value_; }
  constexpr T&& value() && { check(); return std::move(*value_); }

  template <class U>
  constexpr T value_or(U&& fallback) const& {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  constexpr T value_or(U&& fallback) && {
    return value_ ? std::move(*value_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  friend struct detail::result_access;

  constexpr void check() const {
    if (!value_) {
      throw bad_result_access("csp::result has no value (status " +
                              std::string(to_string(status_)) + ")");
    }
  }

  std::optional<T> value_;
  csp::status status_;
};

}  // namespace csp
