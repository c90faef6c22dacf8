#pragma once
// Joining a run's csp fibers, shared by the channel workloads (csp_workloads.cpp) and the
// net ones (net_csp.cpp).

#include <csp/csp.hpp>

#include <exception>
#include <vector>

namespace bench {

using fiber_list = std::vector<csp::task<void>>;

// Joins every fiber, even after one of them threw (a task left behind would be joined from
// another thread when the list dies); rethrows the first exception.
inline void join_all(fiber_list& fibers) {
  std::exception_ptr first;
  for (auto& f : fibers) {
    try {
      f.join();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  fibers.clear();
  if (first) std::rethrow_exception(first);
}

}  // namespace bench
