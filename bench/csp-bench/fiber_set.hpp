#pragma once
// The fibers of one producer/consumer run, described once and run by any scheduler
// (csp::runtime, pinned threads, Boost's work_stealing): each workload builds its bodies,
// the runner decides where they run and puts the same start gate and clock around them
// (workload.hpp, "Schedulers" and "Timing").

#include <chrono>
#include <functional>
#include <vector>

namespace bench {

struct fiber_set {
  // Fiber k's work, in the order "producers, then consumers" (pingpong: a, then b); a pinned
  // scheduler runs fiber k on thread thread_of(k, T) (workload.hpp).
  std::vector<std::function<void()>> bodies;
  // Untimed, once every fiber is spawned and before the clock starts: e.g. drop the setup's
  // own channel handles, so that the channel closes when the last producer is done.
  std::function<void()> at_start;
};

// Runs a fiber_set on one scheduler and returns the time from the start gate to the last join.
using set_runner = std::function<std::chrono::nanoseconds(fiber_set&)>;

}  // namespace bench
