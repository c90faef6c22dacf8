#pragma once
// Timing and statistics: one measured run over T OS threads, the median/min of repeated
// runs, and the process's peak resident set size.

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace bench {

// One run over `threads` fresh OS threads, for the pinned schedulers (csp-pinned,
// boost-pinned, boost at 1 thread; see workload.hpp, "Schedulers" and "Timing"):
//   prepare(w)   on thread w, untimed: spawn that thread's fibers (they do not run yet);
//   at_start()   once, untimed, when every thread has prepared: e.g. drop the setup's own
//                channel handles, so that the channel closes when the last producer ends;
//   phases[i](w) on thread w, timed, with a barrier between consecutive phases (the chain
//                makes its channels in phase 0 and spawns and joins in phase 1); the last
//                phase of a thread joins all of that thread's fibers.
// The clock starts when the last thread has prepared and stops when the last thread has
// finished its last phase. An exception on any thread is rethrown here after all threads
// have ended (a thread that throws still meets every barrier, so none is left waiting).
struct timed_run {
  int threads = 1;
  std::function<void(int)> prepare;
  std::function<void()> at_start;
  std::vector<std::function<void(int)>> phases;
};
std::chrono::nanoseconds run_timed(const timed_run& run);

// ns per message of repeated runs.
struct summary {
  double median = 0;  // the middle run (mean of the two middle ones for an even count)
  double min = 0;
};
summary summarize(std::vector<double> ns_per_msg);

// getrusage(RUSAGE_SELF).ru_maxrss: the process's peak resident set size, in KiB.
long peak_rss_kb() noexcept;

}  // namespace bench
