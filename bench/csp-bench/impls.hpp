#pragma once
// The two implementations of the workloads that csp-bench runs in one binary.

#include <chrono>
#include <string>

#include "workload.hpp"

namespace bench {

// Whether an implementation can run a row, and what to say about how it runs it.
struct support {
  std::string skipped;  // non-empty: the row is not run, and this says why
  std::string note;     // e.g. how a capacity was mapped
};

// csp: csp::make_channel, csp::spawn, csp::selector (csp_workloads.cpp).
support csp_support(const params& p);
std::chrono::nanoseconds run_csp(const params& p);

// Boost.Fiber 1.81's buffered_channel / unbuffered_channel on boost::fibers::fiber
// (boost_workloads.cpp). No select, no unbounded channel; buffered_channel's size must be
// a power of two >= 2 and it holds one value less than its size.
support boost_support(const params& p);
std::chrono::nanoseconds run_boost(const params& p);

}  // namespace bench
