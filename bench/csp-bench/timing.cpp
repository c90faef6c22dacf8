// Timing and statistics (see timing.hpp).

#include "timing.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <barrier>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace bench {

namespace {
using steady = std::chrono::steady_clock;

// std::barrier wants a completion step that cannot throw.
struct completion {
  std::function<void()>* step;
  void operator()() noexcept { (*step)(); }
};
}  // namespace

std::chrono::nanoseconds run_timed(const timed_run& run) {
  if (run.threads < 1) throw std::invalid_argument("run_timed: threads < 1");
  steady::time_point t0;
  steady::time_point t1;
  std::function<void()> on_start = [&] {
    if (run.at_start) run.at_start();
    t0 = steady::now();
  };
  std::function<void()> on_stop = [&] { t1 = steady::now(); };
  std::function<void()> nothing = [] {};
  std::barrier start(run.threads, completion{&on_start});
  std::barrier between(run.threads, completion{&nothing});
  std::barrier stop(run.threads, completion{&on_stop});

  std::mutex error_mutex;
  std::exception_ptr error;
  auto guarded = [&](auto&& step) {
    try {
      step();
    } catch (...) {
      std::lock_guard lk(error_mutex);
      if (!error) error = std::current_exception();
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(run.threads));
  for (int w = 0; w < run.threads; ++w) {
    threads.emplace_back([&, w] {
      if (run.prepare) guarded([&] { run.prepare(w); });
      start.arrive_and_wait();
      for (std::size_t i = 0; i < run.phases.size(); ++i) {
        if (i > 0) between.arrive_and_wait();
        guarded([&] { run.phases[i](w); });
      }
      stop.arrive_and_wait();
    });
  }
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0);
}

summary summarize(std::vector<double> ns_per_msg) {
  if (ns_per_msg.empty()) throw std::invalid_argument("summarize: no runs");
  std::sort(ns_per_msg.begin(), ns_per_msg.end());
  const std::size_t n = ns_per_msg.size();
  const double median =
      n % 2 == 1 ? ns_per_msg[n / 2] : (ns_per_msg[n / 2 - 1] + ns_per_msg[n / 2]) / 2;
  return {median, ns_per_msg.front()};
}

long peak_rss_kb() noexcept {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return usage.ru_maxrss;  // KiB on Linux
}

}  // namespace bench
