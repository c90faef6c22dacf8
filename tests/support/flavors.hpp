#pragma once
// Channel flavor descriptors: one small struct per way of making a channel, so a contract
// test is written once (TEMPLATE_TEST_CASE over CSP_TEST_ALL_FLAVORS) and reads what
// differs from traits instead of branching on names.
//
//   make<T>()     a fresh connected {sender, receiver} pair
//   capacity      what capacity() must report (nullopt: unbounded)
//   buffered      how many values try_send accepts with no receiver before it stops
//                 (0 rendezvous, N bounded, 1 oneshot, `unlimited` for unbounded)
//   max_values    how many sends a channel accepts in its life (1 for oneshot)
//   blocks_senders  whether a send can ever block (false: unbounded, oneshot)
//   after_buffered  try_send's status once `buffered` values are in: full, or closed for
//                   a oneshot (its one send closed it)

#include <cstddef>
#include <limits>
#include <optional>

#include <csp/csp.hpp>

namespace csp_test {

inline constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

struct rendezvous_default {
  static constexpr const char* name = "rendezvous make_channel<T>()";
  static constexpr std::optional<std::size_t> capacity = 0;
  static constexpr std::size_t buffered = 0;
  static constexpr std::size_t max_values = unlimited;
  static constexpr bool is_rendezvous = true;
  static constexpr bool is_oneshot = false;
  static constexpr bool blocks_senders = true;
  static constexpr csp::status after_buffered = csp::status::full;
  template <class T>
  static csp::channel_pair<T> make() {
    return csp::make_channel<T>();
  }
};

struct rendezvous_zero : rendezvous_default {
  static constexpr const char* name = "rendezvous make_channel<T>(0)";
  template <class T>
  static csp::channel_pair<T> make() {
    return csp::make_channel<T>(0);
  }
};

template <std::size_t N>
struct bounded {
  static_assert(N >= 1);
  static constexpr const char* name = "bounded make_channel<T>(N)";
  static constexpr std::optional<std::size_t> capacity = N;
  static constexpr std::size_t buffered = N;
  static constexpr std::size_t max_values = unlimited;
  static constexpr bool is_rendezvous = false;
  static constexpr bool is_oneshot = false;
  static constexpr bool blocks_senders = true;
  static constexpr csp::status after_buffered = csp::status::full;
  template <class T>
  static csp::channel_pair<T> make() {
    return csp::make_channel<T>(N);
  }
};

struct unbounded {
  static constexpr const char* name = "unbounded make_channel<T>(csp::unbounded)";
  static constexpr std::optional<std::size_t> capacity = std::nullopt;
  static constexpr std::size_t buffered = unlimited;
  static constexpr std::size_t max_values = unlimited;
  static constexpr bool is_rendezvous = false;
  static constexpr bool is_oneshot = false;
  static constexpr bool blocks_senders = false;
  static constexpr csp::status after_buffered = csp::status::full;  // never reached
  template <class T>
  static csp::channel_pair<T> make() {
    return csp::make_channel<T>(csp::unbounded);
  }
};

struct oneshot {
  static constexpr const char* name = "oneshot make_oneshot<T>()";
  static constexpr std::optional<std::size_t> capacity = 1;
  static constexpr std::size_t buffered = 1;
  static constexpr std::size_t max_values = 1;
  static constexpr bool is_rendezvous = false;
  static constexpr bool is_oneshot = true;
  static constexpr bool blocks_senders = false;
  static constexpr csp::status after_buffered = csp::status::closed;
  template <class T>
  static csp::channel_pair<T> make() {
    return csp::make_oneshot<T>();
  }
};

// How many values a test that wants "up to `want` values in the buffer, no receiver" can
// put in this flavor: min(want, buffered).
template <class Flavor>
constexpr std::size_t fillable(std::size_t want) noexcept {
  return Flavor::buffered < want ? Flavor::buffered : want;
}

// How many values a test that streams "up to `want` values" can send through this flavor.
template <class Flavor>
constexpr std::size_t streamable(std::size_t want) noexcept {
  return Flavor::max_values < want ? Flavor::max_values : want;
}

}  // namespace csp_test

// Every flavor, for TEMPLATE_TEST_CASE(name, tags, CSP_TEST_ALL_FLAVORS).
#define CSP_TEST_ALL_FLAVORS                                                          \
  csp_test::rendezvous_default, csp_test::rendezvous_zero, csp_test::bounded<1>,     \
      csp_test::bounded<3>, csp_test::bounded<7>, csp_test::unbounded, csp_test::oneshot
