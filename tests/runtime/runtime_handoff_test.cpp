// Hand-offs between fibers on a multi-threaded runtime: a fiber woken by a channel operation
// runs next on the waker's worker (its run-next slot), so a pair that exchanges messages
// stays on one thread; an idle worker still takes a woken fiber whose waker keeps running;
// and a runtime whose fibers all wait uses no CPU.

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <csp/csp.hpp>

#include "runtime_support.hpp"

using namespace std::chrono_literals;
using csp_rt_test::give_up_deadline;

namespace {

// The calling thread, read afresh each call: a fiber may resume on another thread between
// two calls, and glibc declares pthread_self() const, so the compiler may otherwise reuse
// the first answer (the asm keeps this function from being treated as const in turn).
[[gnu::noinline]] std::size_t this_thread_hash() {
  asm volatile("" ::: "memory");
  return std::hash<std::thread::id>{}(std::this_thread::get_id());
}

std::size_t blocked_fibers(const csp::runtime& rt) {
  std::size_t n = 0;
  for (const csp::fiber_info& f : rt.fibers()) n += f.state == "blocked" ? 1 : 0;
  return n;
}

bool some_fiber_blocked(const csp::runtime& rt) { return blocked_fibers(rt) > 0; }

rusage process_usage() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u;
}

double process_cpu_seconds() {
  const rusage u = process_usage();
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

}  // namespace

TEST_CASE("runtime: a fiber woken by a fiber that keeps running is taken by an idle worker",
          "[runtime][handoff]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  csp::runtime rt{csp::threads(threads)};
  struct seen {
    bool woke_while_waker_ran = false;
    bool other_thread = false;
  };
  const seen s = rt.run([&] {
    auto [tx, rx] = csp::make_channel<int>();  // rendezvous: the send hands over directly
    std::atomic<bool> woke{false};
    auto sleeper = csp::spawn([&woke, rx = rx] {
      (void)rx.recv();
      woke.store(true);
      return this_thread_hash();
    });
    // Wait until the sleeper is parked in recv, so the send wakes it (and does not park).
    while (!some_fiber_blocked(rt)) csp::this_fiber::sleep_for(1ms);
    (void)tx.send(1);
    const std::size_t waker_thread = this_thread_hash();
    // Keep this worker busy without ever switching: the woken sleeper must run elsewhere.
    const auto deadline = give_up_deadline();
    while (!woke.load() && std::chrono::steady_clock::now() < deadline) {
    }
    seen out;
    out.woke_while_waker_ran = woke.load();
    out.other_thread = sleeper.join() != waker_thread;
    return out;
  });
  CHECK(s.woke_while_waker_ran);
  CHECK(s.other_thread);
}

TEST_CASE("runtime: two fibers exchanging messages end up on one worker thread",
          "[runtime][handoff]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  constexpr long rounds = 20'000;
  // Both start running at the same time, so on two different workers. Each message carries
  // the sender's thread; the receiver counts those it got on the same thread. A woken fiber
  // sent back to the worker it last ran on (as Boost.Fiber does), or through a shared queue
  // whose push wakes an idle worker, costs an OS wake-up per message (the process's
  // voluntary context switches count them); one run next on its waker's worker does not.
  struct result {
    bool started_together = false;
    long same = 0;
  };
  const long switches_before = process_usage().ru_nvcsw;
  const result r = csp::run(threads, [] {
    auto [ping_tx, ping_rx] = csp::make_channel<std::size_t>();
    auto [pong_tx, pong_rx] = csp::make_channel<std::size_t>();
    std::atomic<int> started{0};
    auto start_together = [&started] {
      started.fetch_add(1);
      const auto deadline = give_up_deadline();
      while (started.load() < 2 && std::chrono::steady_clock::now() < deadline) {
      }
      return started.load() == 2;
    };
    auto count_same = [](const csp::receiver<std::size_t>& rx) {
      return rx.recv().value() == this_thread_hash() ? 1L : 0L;
    };
    auto a = csp::spawn([&, tx = ping_tx, rx = pong_rx] {
      result out;
      out.started_together = start_together();
      for (long i = 0; i < rounds; ++i) {
        (void)tx.send(this_thread_hash());
        out.same += count_same(rx);
      }
      return out;
    });
    auto b = csp::spawn([&, tx = pong_tx, rx = ping_rx] {
      long n = 0;
      (void)start_together();
      for (long i = 0; i < rounds; ++i) {
        n += count_same(rx);
        (void)tx.send(this_thread_hash());
      }
      return n;
    });
    result out = a.join();
    out.same += b.join();
    return out;
  });
  const long switches = process_usage().ru_nvcsw - switches_before;
  CAPTURE(r.same, switches);
  REQUIRE(r.started_together);
  // Nearly all of them, unless the OS keeps a worker off the CPU long enough for an idle
  // worker to take a fiber from its slot (which then moves the pair, not splits it).
  CHECK(r.same >= rounds);  // at least half of the 2 * rounds messages
  // Worker threads that go to sleep: starting and ending the runtime, and a watching worker
  // now and then (ready_pool.hpp); nowhere near one per message. Not under TSan, whose own
  // runtime blocks threads on its internal locks (about 8,000 switches here).
#if !defined(__SANITIZE_THREAD__)
  CHECK(switches < rounds / 4);
#endif
}

TEST_CASE("runtime: a woken fiber waiting behind a busy pair and a yielding fiber still runs",
          "[runtime][handoff]") {
  // One worker. R is woken first and then displaced from the run-next slot by P; while P
  // and Q keep handing each other the slot and Y keeps the shared queue non-empty by
  // yielding, R must still get its turn (the slot's streak ends alternate between the
  // shared queue and the worker's own queue).
  constexpr long budget = 200'000;  // round trips, and yields: far more than R needs
  csp::runtime rt{csp::threads(1)};
  const long rounds_before_r_ran = rt.run([&] {
    std::atomic<bool> r_ran{false};
    auto [r_tx, r_rx] = csp::make_channel<int>();
    auto [kick_tx, kick_rx] = csp::make_channel<int>();
    auto [ping_tx, ping_rx] = csp::make_channel<int>();
    auto [pong_tx, pong_rx] = csp::make_channel<int>();
    auto r = csp::spawn([&r_ran, rx = r_rx] {
      (void)rx.recv();
      r_ran.store(true);
    });
    auto p = csp::spawn([&r_ran, kick = kick_rx, tx = ping_tx, rx = pong_rx] {
      (void)kick.recv();
      long i = 0;
      for (; i < budget && !r_ran.load(); ++i) {
        (void)tx.send(1);
        (void)rx.recv();
      }
      return i;
    });
    auto q = csp::spawn([rx = ping_rx, tx = pong_tx] {
      for (auto v : rx) (void)tx.send(v);
    });
    while (blocked_fibers(rt) < 3) csp::this_fiber::yield();  // r, p and q wait
    auto y = csp::spawn([&r_ran] {
      for (long i = 0; i < budget && !r_ran.load(); ++i) csp::this_fiber::yield();
    });
    (void)r_tx.send(1);     // r into the slot
    (void)kick_tx.send(1);  // p into the slot, r displaced behind it
    const long rounds = p.join();
    ping_tx = {};
    ping_rx = {};
    r.join();
    q.join();
    y.join();
    return rounds;
  });
  CAPTURE(rounds_before_r_ran);
  CHECK(rounds_before_r_ran < budget);
}

TEST_CASE("runtime: a runtime whose fibers all wait uses almost no CPU", "[runtime][handoff][idle]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  csp::runtime rt{csp::threads(threads)};
  auto [tx, rx] = csp::make_channel<int>();
  std::thread feeder;
  struct window {
    double cpu = 0;
    double wall = 0;
  } idle;
  rt.run([&, rx = rx] {
    // Warm up the hand-off paths first: a watch that never ended would show up below.
    auto [ping_tx, ping_rx] = csp::make_channel<int>();
    auto echo = csp::spawn([r = ping_rx] { for (int v : r) (void)v; });
    for (int i = 0; i < 1000; ++i) (void)ping_tx.send(i);
    ping_tx = {};
    echo.join();
    std::vector<csp::task<void>> waiting;
    for (int i = 0; i < 4; ++i) {
      waiting.push_back(csp::spawn([] { (void)csp::after(1500ms).recv(); }));
    }
    waiting.push_back(csp::spawn([rx] { (void)rx.recv(); }));
    // The window: one second in which every fiber waits (the timers fire after it). What
    // came before (starting threads and fibers, the warm-up) is outside it: under TSan that
    // alone takes a tenth of a second.
    feeder = std::thread([tx = tx, &idle] {
      std::this_thread::sleep_for(100ms);  // the fibers above have parked by now
      const double cpu_before = process_cpu_seconds();
      const auto wall_before = std::chrono::steady_clock::now();
      std::this_thread::sleep_for(1s);
      idle.cpu = process_cpu_seconds() - cpu_before;
      idle.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
      (void)tx.send(1);
    });
    for (auto& t : waiting) t.join();
  });
  feeder.join();
  const double share = idle.cpu / idle.wall;
  CAPTURE(idle.wall, share);
  // Busy workers would use a whole core each.
  CHECK(share < 0.05);
}
