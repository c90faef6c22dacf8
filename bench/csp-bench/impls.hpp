#pragma once
// The two implementations of the workloads that csp-bench runs in one binary, each on two
// kinds of scheduler (impl: csp / csp-pinned, boost / boost-pinned; see workload.hpp).

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

// Either of the above, by impl.
inline support support_of(const params& p, impl which) {
  return is_csp(which) ? csp_support(p, which) : boost_support(p, which);
}
inline std::chrono::nanoseconds run_impl(const params& p, impl which) {
  return is_csp(which) ? run_csp(p, which) : run_boost(p, which);
}

}  // namespace bench
