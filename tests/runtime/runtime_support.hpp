#pragma once
// Helpers shared by the runtime test binaries.
//
// Catch2 2.x assertions are not thread-safe, and a runtime's root fiber runs on one of the
// runtime's worker threads: tests return what the fibers saw from run() (or store it in
// variables that run() has finished with) and assert on the test thread afterwards.

#include <chrono>

#include <csp/csp.hpp>

#include "support/knobs.hpp"

namespace csp_rt_test {

using csp_test::boom_error;
using csp_test::stress_scale_int;

// A generous give-up time for waits that only a broken runtime would exhaust: a test that
// hits it fails with a clear message instead of hanging until the CTest timeout.
inline constexpr std::chrono::seconds give_up_after{20};

inline std::chrono::steady_clock::time_point give_up_deadline() {
  return std::chrono::steady_clock::now() + give_up_after;
}

}  // namespace csp_rt_test
