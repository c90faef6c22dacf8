#pragma once
// Small helpers shared by the fibers test binaries.

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace csp_test {

// CSP_STRESS_SCALE (environment) multiplies loop counts; default 1.
inline int stress_scale() {
  const char* s = std::getenv("CSP_STRESS_SCALE");
  if (s == nullptr) return 1;
  const int v = std::atoi(s);
  return v > 0 ? v : 1;
}

// A user exception type that is not one of the standard library's own.
struct boom_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace csp_test
