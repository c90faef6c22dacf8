#pragma once
// What the select suite adds to the shared test helpers (tests/support/run_modes.hpp: the
// ways of running, CSP_EXPECT, wait_until, let_them_block, stress_scale; flavors.hpp: the
// channel flavors): parties given as a list of functions, and the flavor lists it runs over.
//
//   run_parties(mode, {party, ...})  runs every party concurrently in `mode` and waits for
//   all; the first exception any party threw is rethrown on the test thread. Inside a party
//   use CSP_EXPECT, not Catch2's assertions (they are not thread-safe). One party alone:
//   csp_test::run_alone.

#include <cstddef>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include <csp/csp.hpp>

#include "support/flavors.hpp"
#include "support/run_modes.hpp"

namespace sel_test {

using csp_test::run_mode;
using party = std::function<void()>;

// Every way of running that a select test can use (in a sanitizer build: those it follows).
inline constexpr const auto& all_modes = csp_test::all_run_modes;

inline void run_parties(run_mode m, const std::vector<party>& parties,
                        std::string_view label = "run_parties") {
  csp_test::run_processes(m, parties.size(), [&](std::size_t i) { parties[i](); }, {}, label);
}

}  // namespace sel_test

#define SEL_ALL_FLAVORS                                                                    \
  csp_test::rendezvous_default, csp_test::bounded<1>, csp_test::bounded<4>, csp_test::unbounded, \
      csp_test::oneshot
#define SEL_MULTI_VALUE_FLAVORS \
  csp_test::rendezvous_default, csp_test::bounded<1>, csp_test::bounded<4>, csp_test::unbounded
