#pragma once
// Creating channels. Each call returns a connected {sender, receiver} pair:
//   auto [tx, rx] = csp::make_channel<int>(16);             // bounded: holds exactly 16
//   auto [tx, rx] = csp::make_channel<int>();               // rendezvous (same as 0)
//   auto [tx, rx] = csp::make_channel<int>(csp::unbounded); // unbounded
//   auto [tx, rx] = csp::make_oneshot<int>();               // one value, then closed

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include <csp/errors.hpp>
#include <csp/channels/detail/channel_state.hpp>
#include <csp/channels/receiver.hpp>
#include <csp/channels/sender.hpp>

namespace csp {

struct unbounded_t {
  explicit constexpr unbounded_t() = default;
};
// Pass to make_channel for a channel that never fills up.
inline constexpr unbounded_t unbounded{};

template <class T>
using channel_pair = std::pair<sender<T>, receiver<T>>;

namespace detail {
template <class T, class... Args>
channel_pair<T> connect(Args&&... args) {
  auto state = std::make_shared<channel_state<T>>(std::forward<Args>(args)...);
  return {sender<T>(state), receiver<T>(state)};
}
}  // namespace detail

// The largest capacity make_channel<T> accepts: a buffer of this many T fits the address space.
template <class T>
constexpr std::size_t max_capacity() noexcept {
  return static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(T);
}

// A channel that holds exactly `capacity` values (any capacity >= 1), or a rendezvous
// channel for capacity 0. The buffer is allocated up front. The optional `name` labels the
// channel in a runtime's fiber list and deadlock report. Throws csp::invalid_argument
// for a negative capacity, one above max_capacity<T>(), or one whose buffer cannot be
// allocated.
template <class T, std::integral Int>
channel_pair<T> make_channel(Int capacity, std::string name = {}) {
  if constexpr (std::is_signed_v<Int>) {
    if (capacity < 0) {
      throw invalid_argument("csp::make_channel: negative capacity " + std::to_string(capacity));
    }
  }
  if (static_cast<std::uintmax_t>(capacity) > max_capacity<T>()) {
    throw invalid_argument("csp::make_channel: capacity " + std::to_string(capacity) +
                           " exceeds max_capacity " + std::to_string(max_capacity<T>()));
  }
  try {
    return detail::connect<T>(static_cast<std::size_t>(capacity),
                              capacity == 0 ? detail::channel_kind::rendezvous
                                            : detail::channel_kind::bounded,
                              std::move(name));
  } catch (const std::bad_alloc&) {
    throw invalid_argument("csp::make_channel: cannot allocate a buffer for " +
                           std::to_string(capacity) + " values");
  }
}

// A rendezvous channel: each send waits for a receiver to take the value.
template <class T>
channel_pair<T> make_channel() {
  return detail::connect<T>(std::size_t{0}, detail::channel_kind::rendezvous);
}

// A channel without a capacity limit: send never blocks (until memory runs out).
template <class T>
channel_pair<T> make_channel(unbounded_t, std::string name = {}) {
  return detail::connect<T>(typename detail::value_buffer<T>::unbounded_tag{}, std::move(name));
}

// A channel for exactly one value: the first successful send closes it, so later sends
// return false and receivers get the value, then status closed.
template <class T>
channel_pair<T> make_oneshot(std::string name = {}) {
  return detail::connect<T>(std::size_t{1}, detail::channel_kind::oneshot, std::move(name));
}

}  // namespace csp
