// Fairness: a fiber woken by a timer or by another thread runs soon, even while the runtime's
// other fibers keep every worker busy (they never run out of ready work). Before the fix a
// worker always picked the shared ready queue first, so its dispatcher (which moves timed-out
// sleepers and fibers woken from other threads into the ready queue) never ran again.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <csp/csp.hpp>

#include "runtime_support.hpp"

using namespace std::chrono_literals;

namespace {

// Far more yields than a fair runtime needs before the wake-up arrives (it comes after 10 ms
// of a loop that yields every few hundred nanoseconds); an unfair one exhausts the budget.
constexpr long yield_budget = 5'000'000;

enum class waker { sleep, timer_channel, plain_thread };

std::string name_of(waker w) {
  switch (w) {
    case waker::sleep: return "this_fiber::sleep_for";
    case waker::timer_channel: return "recv on csp::after";
    case waker::plain_thread: return "recv from a plain thread";
  }
  return "?";
}

struct outcome {
  bool woke = false;
  long busy_fibers_out_of_budget = 0;
};

// `busy` fibers yield until the waiting fiber has woken (or their budget is gone).
outcome busy_runtime_wakes_a_waiter(std::size_t threads, int busy, waker how) {
  std::atomic<bool> woke{false};
  std::atomic<long> exhausted{0};
  auto [tx, rx] = csp::make_channel<int>(1);
  std::thread feeder;
  csp::run(threads, [&] {
    csp::scope fibers;
    for (int i = 0; i < busy; ++i) {
      fibers.go([&] {
        long n = 0;
        while (!woke.load(std::memory_order_relaxed) && n < yield_budget) {
          csp::this_fiber::yield();
          ++n;
        }
        if (n == yield_budget) exhausted.fetch_add(1);
      });
    }
    fibers.go([&, rx = rx] {
      switch (how) {
        case waker::sleep: csp::this_fiber::sleep_for(10ms); break;
        case waker::timer_channel: (void)csp::after(10ms).recv(); break;
        case waker::plain_thread: (void)rx.recv(); break;
      }
      woke.store(true);
    });
    if (how == waker::plain_thread) {
      feeder = std::thread([tx = tx] {
        std::this_thread::sleep_for(10ms);
        (void)tx.send(1);
      });
    }
    fibers.join();
  });
  if (feeder.joinable()) feeder.join();
  return {woke.load(), exhausted.load()};
}

}  // namespace

TEST_CASE("runtime: a fiber woken by a timer or another thread runs while others keep busy",
          "[runtime][fairness]") {
  for (std::size_t threads : {1u, 2u}) {
    for (waker how : {waker::sleep, waker::timer_channel, waker::plain_thread}) {
      DYNAMIC_SECTION(threads << " thread(s), " << name_of(how)) {
        const outcome o = busy_runtime_wakes_a_waiter(threads, static_cast<int>(2 * threads), how);
        CHECK(o.woke);
        CHECK(o.busy_fibers_out_of_budget == 0);
      }
    }
  }
}
