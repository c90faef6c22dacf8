#pragma once
// csp::select: waits until one of several cases can proceed, performs exactly that one
// operation, runs its handler and returns the case's position in the argument list.
//
//   std::size_t i = csp::select(
//       csp::on_recv(rx, [&](csp::result<int> v) { ... }),
//       csp::on_send(tx, 42, [&](bool ok) { ... }),
//       csp::on_timeout(100ms, [&] { ... }));
//
// Several cases ready: a uniformly random one fires. The others consume and send nothing.
// With csp::otherwise(...) the select never blocks; with a timeout it blocks until the
// earliest deadline at most. Blocks the calling fiber (or plain thread); thread-safe.
// Throws csp::invalid_argument if it could only block forever: every channel case has an
// empty handle and there is no timeout and no default. Exceptions from a handler or from
// T's move propagate; a throwing move leaves the value where it was.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <csp/errors.hpp>
#include <csp/select/cases.hpp>
#include <csp/select/detail/select_engine.hpp>

namespace csp {
namespace detail {

template <class C>
inline constexpr bool is_channel_case_v = std::is_base_of_v<select_case, std::remove_cvref_t<C>>;
template <class C>
inline constexpr bool is_timeout_case_v = is_timeout_case<std::remove_cvref_t<C>>::value;
template <class C>
inline constexpr bool is_default_case_v = is_default_case<std::remove_cvref_t<C>>::value;

[[noreturn]] inline void throw_select_blocks_forever() {
  throw invalid_argument(
      "csp::select would block forever: no channel case can ever be ready (all handles are "
      "empty) and there is no timeout or default case");
}

}  // namespace detail

// Cases are taken by value: channel cases are neither copyable nor movable, so each must be
// built in the call itself (a prvalue initializes the parameter in place) and whatever it
// borrows outlives it. Passing a case stored in a variable does not compile.
template <class... Cases>
std::size_t select(Cases... cases) {
  static_assert(sizeof...(Cases) > 0, "csp::select needs at least one case");
  static_assert(((detail::is_channel_case_v<Cases> || detail::is_timeout_case_v<Cases> ||
                  detail::is_default_case_v<Cases>) && ...),
                "csp::select takes on_recv, on_send, on_timeout, on_deadline and otherwise cases");
  static_assert((std::size_t{detail::is_default_case_v<Cases>} + ... + 0) <= 1,
                "csp::select takes at most one otherwise(...) case");

  constexpr std::size_t channel_cases = (std::size_t{detail::is_channel_case_v<Cases>} + ... + 0);
  std::array<detail::select_case*, channel_cases> chans{};
  std::array<std::size_t, channel_cases> positions{};
  std::optional<clock::time_point> deadline;
  std::size_t timeout_position = 0;
  std::size_t default_position = sizeof...(Cases);
  bool any_enabled = false;

  [&]<std::size_t... I>(std::index_sequence<I...>) {
    std::size_t next = 0;
    auto visit = [&]<std::size_t P>(std::integral_constant<std::size_t, P>, auto& c) {
      using C = std::remove_cvref_t<decltype(c)>;
      if constexpr (detail::is_channel_case_v<C>) {
        chans[next] = &c;
        positions[next++] = P;
        any_enabled = any_enabled || c.lock() != nullptr;
      } else if constexpr (detail::is_timeout_case_v<C>) {
        if (!deadline || c.deadline < *deadline) {
          deadline = c.deadline;
          timeout_position = P;
        }
      } else {
        default_position = P;
      }
    };
    (visit(std::integral_constant<std::size_t, I>{}, cases), ...);
  }(std::index_sequence_for<Cases...>{});

  const bool has_default = default_position != sizeof...(Cases);
  if (!any_enabled && !deadline && !has_default) detail::throw_select_blocks_forever();

  std::array<std::uint32_t, channel_cases> order;
  std::array<detail::spinlock*, channel_cases> locks;
  std::array<detail::wait_entry, channel_cases> entries;
  const detail::select_outcome outcome =
      detail::run_select(chans, {order, locks, entries}, deadline ? &*deadline : nullptr, has_default);

  std::size_t fired = 0;
  switch (outcome.kind) {
    case detail::select_outcome::fired:
      if constexpr (channel_cases > 0) fired = positions[outcome.index];
      break;
    case detail::select_outcome::timed_out: fired = timeout_position; break;
    case detail::select_outcome::defaulted: fired = default_position; break;
  }
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((I == fired ? (void)cases.fire() : void()), ...);
  }(std::index_sequence_for<Cases...>{});
  return fired;
}

}  // namespace csp
