#pragma once
// The ways a test's concurrent "processes" can run, and one function that runs N of them in
// a given way, so a concurrent test is written once and run in every mode:
//
//   fibers_one_thread    every process is a fiber on the calling (test) thread
//   fibers_many_threads  processes are fibers spread over 3 worker std::threads
//   plain_threads        every process is its own std::thread (its main fiber)
//   mixed                i%3==0: a fiber on the calling thread, i%3==1: its own std::thread,
//                        i%3==2: a fiber on one of two worker threads
//   runtime_1/_2/_4      fibers on a csp::runtime of 1, 2 or 4 threads: they may move
//                        between its threads (the controller is its root fiber)
//
// run_processes(mode, n, body, controller) runs body(0..n-1) concurrently, runs
// controller() on the calling thread meanwhile (its main fiber, so in fibers_one_thread it
// must block or yield for the processes to run: use wait_until / csp::this_fiber), waits
// for all of them, and rethrows the first exception any of them threw.
//
// Catch2 2.x assertions are not thread-safe: inside a body that runs alongside other
// processes use CSP_EXPECT (throws csp_test::expectation_failed, reported by the test once
// everything has finished) and assert with Catch on the test thread afterwards. A body run
// as the only process (n == 1, no controller) may use REQUIRE: nothing else asserts then.
//
// A watchdog aborts the binary with a message naming the test and the mode if a run does
// not finish in time (a deadlock), rather than leaving only the CTest timeout to say so.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <csp/csp.hpp>

#include "support/knobs.hpp"

namespace csp_test {

enum class run_mode {
  fibers_one_thread,
  fibers_many_threads,
  plain_threads,
  mixed,
  runtime_1,
  runtime_2,
  runtime_4,
};

// The worker threads of a runtime mode, 0 for the others.
constexpr std::size_t runtime_threads(run_mode m) noexcept {
  switch (m) {
    case run_mode::runtime_1: return 1;
    case run_mode::runtime_2: return 2;
    case run_mode::runtime_4: return 4;
    default: return 0;
  }
}

#if defined(__SANITIZE_ADDRESS__) || (defined(__SANITIZE_THREAD__) && !defined(BOOST_USE_TSAN))
// AddressSanitizer and ThreadSanitizer cannot follow Boost.Fiber's stack switches (Debian's
// build has no sanitizer annotations: an exception unwinding a fiber's frames leaves stale
// redzones that ASan later reports as stack-buffer-overflow, and TSan loses track of which
// stack runs). Under them only the mode they can follow runs: plain threads, whose partners
// (start_partner) are plain threads too. BOOST_USE_TSAN: Boost.Context built from source
// with its TSan fiber calls (tests/tsan/boost, scripts/test), which TSan follows everywhere.
#define CSP_TEST_FIBER_MODES 0
inline constexpr run_mode all_run_modes[] = {run_mode::plain_threads};
inline constexpr run_mode single_run_modes[] = {run_mode::plain_threads};
#else
#define CSP_TEST_FIBER_MODES 1
inline constexpr run_mode all_run_modes[] = {
    run_mode::fibers_one_thread, run_mode::fibers_many_threads, run_mode::plain_threads,
    run_mode::mixed, run_mode::runtime_1, run_mode::runtime_2, run_mode::runtime_4};
// The ways of running one process (mixed only differs from fibers_one_thread when there are
// several).
inline constexpr run_mode single_run_modes[] = {
    run_mode::fibers_one_thread, run_mode::fibers_many_threads, run_mode::plain_threads,
    run_mode::runtime_1, run_mode::runtime_2, run_mode::runtime_4};
#endif

constexpr const char* to_string(run_mode m) noexcept {
  switch (m) {
    case run_mode::fibers_one_thread: return "fibers_one_thread";
    case run_mode::fibers_many_threads: return "fibers_many_threads";
    case run_mode::plain_threads: return "plain_threads";
    case run_mode::mixed: return "mixed";
    case run_mode::runtime_1: return "runtime_1";
    case run_mode::runtime_2: return "runtime_2";
    case run_mode::runtime_4: return "runtime_4";
  }
  return "?";
}
inline std::ostream& operator<<(std::ostream& os, run_mode m) { return os << to_string(m); }

// ---- checks inside processes

class expectation_failed : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] inline void fail_expectation(const char* what, const char* file, int line) {
  throw expectation_failed(std::string(file) + ":" + std::to_string(line) +
                           ": expectation failed: " + what);
}

}  // namespace csp_test

// Like REQUIRE, but safe on any thread: throws csp_test::expectation_failed.
#define CSP_EXPECT(...) \
  ((__VA_ARGS__) ? void() : ::csp_test::fail_expectation(#__VA_ARGS__, __FILE__, __LINE__))

namespace csp_test {

// ---- knobs from the environment

// (env_size and stress_scale: knobs.hpp)

// Seconds one run_processes call may take before the watchdog calls it a deadlock:
// CSP_TEST_WATCHDOG_SECONDS, default 30 per unit of stress scale.
inline std::chrono::seconds watchdog_limit() {
  static const std::size_t s = env_size("CSP_TEST_WATCHDOG_SECONDS", 30 * stress_scale());
  return std::chrono::seconds(static_cast<long long>(s));
}

// ---- waiting without starving the fibers of this thread

// Polls pred() until it holds, sleeping the calling fiber in between: the other fibers of
// this thread run meanwhile (a blind spin would deadlock fibers_one_thread).
template <class Pred>
void wait_until(Pred pred) {
  while (!pred()) csp::this_fiber::sleep_for(std::chrono::microseconds(200));
}

// Lets the processes that announced they are about to block get parked. Correctness never
// depends on it (a process that is not parked yet sees the same outcome), only coverage.
inline void let_them_block() { csp::this_fiber::sleep_for(std::chrono::milliseconds(20)); }

// ---- a partner for the calling process

// Starts f() alongside the caller: on a new fiber of the calling thread (in a sanitized
// build, on a new plain thread). join_partner(p) waits for it and returns f's result.
template <class F>
auto start_partner(F f) {
#if CSP_TEST_FIBER_MODES
  return csp::spawn(std::move(f));
#else
  return std::async(std::launch::async, std::move(f));
#endif
}
template <class R>
R join_partner(csp::task<R>& t) {
  return t.join();
}
template <class R>
R join_partner(std::future<R>& f) {
  return f.get();
}

// ---- running processes

namespace detail {

class first_error {
 public:
  void capture() noexcept {
    std::lock_guard lk(m_);
    if (!e_) e_ = std::current_exception();
  }
  void rethrow_if_any() {
    std::lock_guard lk(m_);
    if (e_) std::rethrow_exception(e_);
  }

 private:
  std::mutex m_;
  std::exception_ptr e_;
};

class watchdog {
 public:
  watchdog(std::string label, run_mode mode)
      : label_(std::move(label)), mode_(mode), thread_([this] { watch(); }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard lk(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void watch() {
    std::unique_lock lk(m_);
    if (!cv_.wait_for(lk, watchdog_limit(), [this] { return done_; })) {
      std::fprintf(stderr,
                   "\ncsp_test watchdog: \"%s\" (mode %s) did not finish within %lld s: "
                   "deadlock suspected, aborting\n",
                   label_.c_str(), to_string(mode_),
                   static_cast<long long>(watchdog_limit().count()));
      std::fflush(stderr);
      std::abort();
    }
  }

  std::string label_;
  run_mode mode_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the fields above exist
};

// Starts the given processes as fibers on the calling thread and joins them.
inline void fibers_here(const std::vector<std::size_t>& ids,
                        const std::function<void(std::size_t)>& guarded) {
  std::vector<csp::task<void>> tasks;
  tasks.reserve(ids.size());
  for (std::size_t i : ids) tasks.push_back(csp::spawn(guarded, i));
  for (auto& t : tasks) t.join();
}

}  // namespace detail

inline void run_processes(run_mode mode, std::size_t n,
                          const std::function<void(std::size_t)>& body,
                          const std::function<void()>& controller = {},
                          std::string_view label = "run_processes") {
  detail::first_error errors;
  const std::function<void(std::size_t)> guarded = [&](std::size_t i) {
    try {
      body(i);
    } catch (...) {
      errors.capture();
    }
  };
  auto control = [&] {
    if (!controller) return;
    try {
      controller();
    } catch (...) {
      errors.capture();
    }
  };

  detail::watchdog dog{std::string(label), mode};
  if (const std::size_t threads = runtime_threads(mode)) {
    // The runtime's own deadlock report stays on: a stuck test fails with csp::deadlock_error
    // naming what each fiber waits in (the watchdog catches what it cannot see).
    csp::runtime rt{csp::threads(threads)};
    rt.run([&] {
      std::vector<csp::task<void>> tasks;
      tasks.reserve(n);
      for (std::size_t i = 0; i < n; ++i) tasks.push_back(csp::spawn(guarded, i));
      control();
      for (auto& t : tasks) t.join();
    });
    errors.rethrow_if_any();
    return;
  }
  std::vector<std::size_t> here;                  // fibers on the calling thread
  std::vector<std::vector<std::size_t>> workers;  // fibers on worker threads
  std::vector<std::size_t> plain;                 // processes on their own threads
  switch (mode) {
    case run_mode::fibers_one_thread:
      for (std::size_t i = 0; i < n; ++i) here.push_back(i);
      break;
    case run_mode::fibers_many_threads:
      workers.resize(n < 3 ? n : 3);
      for (std::size_t i = 0; i < n; ++i) workers[i % workers.size()].push_back(i);
      break;
    case run_mode::plain_threads:
      for (std::size_t i = 0; i < n; ++i) plain.push_back(i);
      break;
    case run_mode::runtime_1:
    case run_mode::runtime_2:
    case run_mode::runtime_4:  // handled above
      break;
    case run_mode::mixed:
      workers.resize(2);
      for (std::size_t i = 0; i < n; ++i) {
        switch (i % 3) {
          case 0: here.push_back(i); break;
          case 1: plain.push_back(i); break;
          default: workers[(i / 3) % 2].push_back(i); break;
        }
      }
      break;
  }

  std::vector<std::thread> threads;
  for (auto& ids : workers) {
    if (ids.empty()) continue;
    threads.emplace_back([&guarded, &ids] { detail::fibers_here(ids, guarded); });
  }
  for (std::size_t i : plain) threads.emplace_back([&guarded, i] { guarded(i); });

  // Fibers on this thread are started before the controller runs, and run whenever it
  // blocks; they are joined after it returns.
  std::vector<csp::task<void>> tasks;
  tasks.reserve(here.size());
  for (std::size_t i : here) tasks.push_back(csp::spawn(guarded, i));
  control();
  for (auto& t : tasks) t.join();
  for (auto& t : threads) t.join();
  errors.rethrow_if_any();
}

// Runs body() as the only process in `mode`: on a fiber of this thread, on a fiber of
// another thread, on a plain thread, or on a runtime's fiber (mixed: a fiber of this
// thread). Nothing else asserts meanwhile, so body may use Catch2's REQUIRE.
inline void run_alone(run_mode mode, const std::function<void()>& body,
                      std::string_view label = "run_alone") {
  run_processes(mode, 1, [&](std::size_t) { body(); }, {}, label);
}

}  // namespace csp_test
