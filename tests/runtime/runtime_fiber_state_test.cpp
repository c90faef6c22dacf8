// Per-thread allocators on a csp::runtime whose fibers migrate between worker threads:
// csp::stack::pooled stacks (and fixed, guarded) are allocated on one worker and freed on
// another safely.
//
// Catch2 is not thread-safe and the root fiber runs on a worker thread: fibers count what
// went wrong in atomics, run() hands the counts back, and every assertion runs on the test
// thread.

#include <catch2/catch.hpp>

#include <atomic>
#include <vector>

#include <csp/csp.hpp>

#include "runtime_support.hpp"

using csp_rt_test::stress_scale;

namespace {

// One link of a chain: receives a value, starts the next link on the same kind of stack
// (from whatever worker runs this one), passes the value on plus one, and ends; the last
// link sends to `out`. So stacks are allocated on one worker and freed on another.
void chain_link(const csp::stack& stk, int remaining, csp::receiver<int> in,
                csp::sender<int> out) {
  csp::result<int> v = in.recv();
  if (!v) return;
  if (remaining == 0) {
    (void)out.send(*v + 1);
    return;
  }
  auto [tx, rx] = csp::make_channel<int>();
  csp::go(stk, chain_link, stk, remaining - 1, std::move(rx), std::move(out));
  csp::this_fiber::yield();
  (void)tx.send(*v + 1);
}

}  // namespace

TEST_CASE("fiber state: stacks are allocated and freed on different workers",
          "[runtime][stack]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  const csp::stack::kind kind =
      GENERATE(csp::stack::kind::pooled, csp::stack::kind::fixed, csp::stack::kind::guarded);
  CAPTURE(threads, static_cast<int>(kind));
  const int spawners = 8;
  const int links = 4;
  const int burst = 16;
  const int rounds = (kind == csp::stack::kind::pooled ? 1000 : 40) * stress_scale();
  struct seen {
    int good = 0;
    int bad = 0;
    int joined = 0;
    int burst_ran = 0;
  };
  const seen s = csp::run(threads, [&] {
    const csp::stack stk = kind == csp::stack::kind::pooled   ? csp::stack::pooled(64 * 1024)
                           : kind == csp::stack::kind::fixed ? csp::stack::fixed(64 * 1024)
                                                              : csp::stack::guarded(64 * 1024);
    std::atomic<int> good{0};
    std::atomic<int> bad{0};
    std::atomic<int> joined{0};
    std::atomic<int> burst_ran{0};
    std::vector<csp::task<void>> tasks;
    for (int sp = 0; sp < spawners; ++sp) {
      // A copy of the stack object per spawner: copies share one pool.
      tasks.push_back(csp::spawn([&, stk_copy = stk] {
        for (int r = 0; r < rounds; ++r) {
          auto [in_tx, in_rx] = csp::make_channel<int>();
          auto [out_tx, out_rx] = csp::make_channel<int>();
          csp::go(stk_copy, chain_link, stk_copy, links - 1, std::move(in_rx), std::move(out_tx));
          (void)in_tx.send(0);
          csp::result<int> v = out_rx.recv();
          (v && *v == links ? good : bad).fetch_add(1);
          // And a joinable one, freed by whichever side lets go of it last.
          joined.fetch_add(csp::spawn(stk_copy, [] {
                             csp::this_fiber::yield();
                             return 1;
                           }).join());
          // And a burst of short fibers that end on whichever worker runs them, while the
          // other spawners allocate.
          csp::wait_group wg;
          wg.add(burst);
          for (int k = 0; k < burst; ++k) {
            csp::go(stk_copy, [&wg, &burst_ran] {
              burst_ran.fetch_add(1, std::memory_order_relaxed);
              wg.done();
            });
          }
          wg.wait();
        }
      }));
    }
    for (auto& t : tasks) t.join();
    return seen{good.load(), bad.load(), joined.load(), burst_ran.load()};
  });
  CHECK(s.bad == 0);
  REQUIRE(s.good == spawners * rounds);
  REQUIRE(s.joined == spawners * rounds);
  REQUIRE(s.burst_ran == spawners * rounds * burst);
}
