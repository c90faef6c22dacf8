#pragma once
// The implementations of the workloads that csp-bench runs in one binary: csp and boost,
// each on two kinds of scheduler (impl: csp / csp-pinned, boost / boost-pinned), and, for
// the net workloads only, csp::net against raw NNG (impl nng); see workload.hpp.

#include <chrono>
#include <string>

#include "workload.hpp"

namespace bench {

// Whether an implementation can run a row, and what to say about how it runs it.
struct support {
  std::string skipped;  // non-empty: the row is not run, and this says why
  std::string note;     // e.g. how a capacity was mapped
};

// csp: csp::make_channel, csp::spawn, csp::selector (csp_workloads.cpp), on csp::runtime
// (impl::csp) or pinned threads (impl::csp_pinned).
support csp_support(const params& p, impl which);
std::chrono::nanoseconds run_csp(const params& p, impl which);

// Boost.Fiber 1.81's buffered_channel / unbuffered_channel on boost::fibers::fiber
// (boost_workloads.cpp). No select, no unbounded channel; buffered_channel's size must be
// a power of two >= 2 and it holds one value less than its size. impl::boost at threads > 1
// runs on Boost's work_stealing (boost_pool.hpp), else on round_robin per pinned thread.
support boost_support(const params& p, impl which);
std::chrono::nanoseconds run_boost(const params& p, impl which);

// The net workloads on csp::net::listen/dial over loopback TCP, on csp::runtime
// (net_csp.cpp; run_csp and csp_support hand the net rows to these).
support csp_net_support(const params& p, impl which);
std::chrono::nanoseconds run_csp_net(const params& p);

// The net workloads on raw NNG sockets and plain threads (net_nng.cpp); every other
// workload is skipped.
support nng_support(const params& p);
std::chrono::nanoseconds run_nng(const params& p);

// Any of the above, by impl.
inline support support_of(const params& p, impl which) {
  if (which == impl::nng) return nng_support(p);
  return is_csp(which) ? csp_support(p, which) : boost_support(p, which);
}
inline std::chrono::nanoseconds run_impl(const params& p, impl which) {
  if (which == impl::nng) return run_nng(p);
  return is_csp(which) ? run_csp(p, which) : run_boost(p, which);
}

}  // namespace bench
