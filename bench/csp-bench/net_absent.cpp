// The net rows of a csp-bench built without csp::net (CSP_NET off, or NNG or cereal not
// found): every one of them is skipped, so the command lines stay the same.

#include <chrono>
#include <stdexcept>

#include "impls.hpp"

namespace bench {

namespace {
constexpr const char* absent = "csp-bench was built without csp::net";
}  // namespace

support csp_net_support(const params&, impl) { return {absent, ""}; }
std::chrono::nanoseconds run_csp_net(const params&) { throw std::logic_error(absent); }

support nng_support(const params& p) {
  if (!is_net(p.w)) return {"nng runs the net workloads only", ""};
  return {absent, ""};
}
std::chrono::nanoseconds run_nng(const params&) { throw std::logic_error(absent); }

}  // namespace bench
