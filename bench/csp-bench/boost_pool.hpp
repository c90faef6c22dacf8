#pragma once
// Boost.Fiber's own work-stealing scheduler on T threads, set up the way a Boost.Fiber user
// does (every thread installs boost::fibers::algo::work_stealing(T); one thread spawns the
// fibers, the others steal them), for `--impl boost --threads T` with T > 1.
//
// work_stealing keeps process-wide static state (a thread counter, the scheduler table and
// the barrier of its constructor), so it can be set up for one set of T threads per process,
// once. The first call here starts those T threads; they stay for the process's life and
// every later run (the --repeat runs of a row, or later rows of an --in-process run with the
// same T) reuses them. csp-bench runs each row in a child process of its own, so each row
// gets fresh threads. Between runs the threads sleep in a std::condition_variable, with no
// fiber anywhere, so an idle pool costs no CPU; during a run the idle ones spin, as Boost's
// work_stealing does by default (suspend = false).

#include <functional>

namespace bench {

// Runs job() on the main fiber of pool thread 0 (spawned fibers may be stolen by the other
// T-1 threads) and returns when job has returned; rethrows what job threw. Throws
// std::runtime_error if this process's pool was made for another T, or was stopped.
// Not to be called from a fiber of the pool itself.
void run_on_work_stealing(int threads, const std::function<void()>& job);

// Ends the pool's threads, if there are any; no pool can be made afterwards. For the end
// of an --in-process run: static destructors must not run while the threads still steal.
void stop_work_stealing() noexcept;

}  // namespace bench
