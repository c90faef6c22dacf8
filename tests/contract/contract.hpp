#pragma once
// Shared pieces of the channel contract suite: the flavors, the ways of running, the
// counted value types, and a few checks. Every contract test is a TEMPLATE_TEST_CASE over
// flavors whose body picks its way of running with one of the CSP_EACH_*_MODE generators.

// GCC 12 at -O2 reports a false -Wmaybe-uninitialized inside csp::runtime's
// wait_until_all_done (fibers/include/csp/fibers/runtime.hpp, the std::optional
// `suspect_epoch != seen.epoch` comparison) in every TU that calls runtime::run. That code
// is not ours to change, and a pragma at the call site does not reach it (the warning is
// located in <optional>), so the headers are included with that one warning off; this
// header must come first in every contract TU, before anything includes <optional>. The
// tests' own code, below the pop, keeps the warning.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <chrono>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <csp/csp.hpp>

#include "support/counted.hpp"
#include "support/flavors.hpp"
#include "support/run_modes.hpp"
#pragma GCC diagnostic pop

// Generators over the ways of running (use in the test body, outside any process).
#define CSP_EACH_SINGLE_MODE()                                       \
  GENERATE(from_range(std::begin(::csp_test::single_run_modes), \
                      std::end(::csp_test::single_run_modes)))
#define CSP_EACH_MODE() \
  GENERATE(from_range(std::begin(::csp_test::all_run_modes), std::end(::csp_test::all_run_modes)))

// Flavors in which a sender can block (the buffer can be full): rendezvous and bounded.
#define CSP_TEST_BLOCKING_SEND_FLAVORS                                                \
  csp_test::rendezvous_default, csp_test::rendezvous_zero, csp_test::bounded<1>,     \
      csp_test::bounded<3>, csp_test::bounded<7>
// Flavors that carry any number of values (all but oneshot).
#define CSP_TEST_MULTI_VALUE_FLAVORS                                                  \
  csp_test::rendezvous_default, csp_test::rendezvous_zero, csp_test::bounded<1>,     \
      csp_test::bounded<3>, csp_test::bounded<7>, csp_test::unbounded
// Flavors that hold values without a receiver (all but rendezvous).
#define CSP_TEST_BUFFERED_FLAVORS \
  csp_test::bounded<1>, csp_test::bounded<3>, csp_test::bounded<7>, csp_test::unbounded, \
      csp_test::oneshot

namespace csp_test {

using namespace std::chrono_literals;

inline std::string current_test() { return Catch::getResultCapture().getCurrentTestName(); }

// On the test thread, after every process has finished: no counted value is still alive,
// none was destroyed twice or used after its death.
inline void require_no_leaks() {
  const count_snapshot s = snapshot();
  CHECK(s.bad_destroys == 0);
  CHECK(s.dead_uses == 0);
  CHECK(s.constructed == s.destroyed);
  REQUIRE(s.live == 0);
}

// A pause for try-loops: yields a few times (a partner on this thread gets to run), then
// sleeps briefly (a partner on another, possibly preempted, thread gets a core).
class backoff {
 public:
  void pause() {
    if (++rounds_ < 8) {
      csp::this_fiber::yield();
    } else {
      csp::this_fiber::sleep_for(50us);
    }
  }
  void reset() noexcept { rounds_ = 0; }

 private:
  int rounds_ = 0;
};

inline csp::clock::duration elapsed_since(csp::clock::time_point t0) {
  return csp::clock::now() - t0;
}

// Sends counted values with ids [first, first + count) through the channel while a partner
// (a fiber of this thread) receives them; returns the ids received. Works in every flavor
// (the receiver runs alongside, so rendezvous works too) and from any fiber or thread.
template <class T>
std::vector<int> roundtrip(csp::sender<T>& tx, csp::receiver<T>& rx, int first, int count) {
  auto receiver = start_partner([&rx, count] {
    std::vector<int> ids;
    for (int i = 0; i < count; ++i) {
      auto r = rx.recv();
      if (!r) break;
      ids.push_back(r->id());
    }
    return ids;
  });
  for (int i = 0; i < count; ++i) {
    if (!tx.send(T(first + i))) break;
  }
  return join_partner(receiver);
}

inline std::vector<int> iota_ids(std::size_t n, int first = 0) {
  std::vector<int> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) v.push_back(first + static_cast<int>(i));
  return v;
}

}  // namespace csp_test
