#pragma once
// What every test binary shares besides the ways of running (run_modes.hpp): the knobs read
// from the environment, and a user exception type.

#include <cstddef>
#include <cstdlib>
#include <stdexcept>

namespace csp_test {

// A positive number from the environment variable `name`, or `fallback`.
inline std::size_t env_size(const char* name, std::size_t fallback) {
  const char* s = std::getenv(name);
  if (!s || !*s) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || v == 0) return fallback;
  return static_cast<std::size_t>(v);
}

// CSP_STRESS_SCALE multiplies the loop counts of stress tests (default 1).
inline std::size_t stress_scale() {
  static const std::size_t scale = env_size("CSP_STRESS_SCALE", 1);
  return scale;
}

// The same, for loop counts kept in an int.
inline int stress_scale_int() { return static_cast<int>(stress_scale()); }

// A user exception type that is not one of the standard library's own.
struct boom_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace csp_test
