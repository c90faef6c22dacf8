#pragma once
// Running one row in a child process of its own, so that its peak_rss_kb (ru_maxrss) is
// that row's and not the high-water mark of every row before it, and so that a row that
// hangs or crashes is reported and the rest of the suite still runs.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace bench {

struct measurement {
  double ns_per_msg = 0;      // median
  double ns_per_msg_min = 0;
  long peak_rss_kb = 0;
};

struct outcome {
  std::optional<measurement> result;
  std::string error;  // when there is no result: why
};

// Runs `measure` in this process; an exception becomes the error.
outcome run_here(const std::function<measurement()>& measure);

// Runs `measure` in a forked child (the caller must have no other threads) and waits for
// its result at most `timeout`, after which the child is killed and reported as hung.
outcome run_in_child(const std::function<measurement()>& measure, std::chrono::seconds timeout);

}  // namespace bench
