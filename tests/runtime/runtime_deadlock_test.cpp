// The runtime's deadlock report and fiber list: real deadlocks (channels, join, select,
// wait_group) are reported with the fibers and the channel names; nothing is reported while
// a timer, a timed operation or a sleep is pending, nor while a woken fiber waits for its
// (stalled) worker thread; runtime::fibers() shows blocked fibers from another thread.
// Two checks run in a child process (this binary, re-executed on one hidden test):
// deadlock_policy::abort prints the report and aborts, and an overflow of a
// csp::stack::guarded stack faults instead of running on.
//
// Deadlocked fibers are abandoned by design: the fibers here capture only values (handles),
// never references to the test's locals, which die while those fibers stay parked.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <csp/csp.hpp>

#include "runtime_support.hpp"
#include "support/child_process.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

csp::runtime_options fast_checks() {
  csp::runtime_options o;
  o.deadlock_check_period = 10ms;
  return o;
}

// Runs f on a fresh runtime of `threads` threads with fast deadlock checks; returns the
// deadlock report, or nullopt if run() returned normally.
template <class F>
std::optional<std::string> deadlock_report(std::size_t threads, F f) {
  csp::runtime rt{csp::threads(threads), fast_checks()};
  try {
    rt.run(std::move(f));
  } catch (const csp::deadlock_error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

// The report's lines that describe one fiber ("  fiber <id>: ...").
std::vector<std::string> fiber_lines(const std::string& report) {
  std::vector<std::string> out;
  std::istringstream in(report);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  fiber ", 0) == 0) out.push_back(line);
  }
  return out;
}

std::size_t count_containing(const std::vector<std::string>& lines, const std::string& needle) {
  return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find(needle) != std::string::npos;
  }));
}

void wait_then_forward(csp::receiver<int> in, csp::sender<int> out) {
  if (auto v = in.recv()) out.send(*v);
}

void send_then_wait(csp::sender<int> out, csp::receiver<int> in) {
  if (out.send(1)) in.recv();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Real deadlocks are reported

TEST_CASE("deadlock: two fibers each waiting for the other on named channels", "[runtime][deadlock]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);

  SECTION("both blocked in recv; the root has returned") {
    const auto report = deadlock_report(threads, [] {
      auto [ab_tx, ab_rx] = csp::make_channel<int>(0, "a_to_b");
      auto [ba_tx, ba_rx] = csp::make_channel<int>(0, "b_to_a");
      csp::go(wait_then_forward, ba_rx, ab_tx);  // fiber a
      csp::go(wait_then_forward, ab_rx, ba_tx);  // fiber b
    });
    REQUIRE(report);
    INFO(*report);
    const auto lines = fiber_lines(*report);
    REQUIRE(lines.size() == 2);  // the root finished: only the two stuck fibers
    REQUIRE(count_containing(lines, "fiber 2: blocked") == 1);
    REQUIRE(count_containing(lines, "fiber 3: blocked") == 1);
    REQUIRE(count_containing(lines, "recv on 'a_to_b'") == 1);
    REQUIRE(count_containing(lines, "recv on 'b_to_a'") == 1);
  }

  SECTION("both blocked in send on rendezvous channels; the root joins them") {
    const auto report = deadlock_report(threads, [] {
      auto [ab_tx, ab_rx] = csp::make_channel<int>(0, "a_to_b");
      auto [ba_tx, ba_rx] = csp::make_channel<int>(0, "b_to_a");
      auto a = csp::spawn(send_then_wait, ab_tx, ba_rx);
      auto b = csp::spawn(send_then_wait, ba_tx, ab_rx);
      a.join();
      b.join();
    });
    REQUIRE(report);
    INFO(*report);
    REQUIRE_THAT(*report, Contains("deadlock"));
    const auto lines = fiber_lines(*report);
    REQUIRE(lines.size() == 3);
    REQUIRE(count_containing(lines, "fiber 1: blocked") == 1);
    REQUIRE(count_containing(lines, "join") == 1);
    REQUIRE(count_containing(lines, "send on 'a_to_b'") == 1);
    REQUIRE(count_containing(lines, "send on 'b_to_a'") == 1);
    REQUIRE(count_containing(lines, "fiber 2: blocked in send on") == 1);
    REQUIRE(count_containing(lines, "fiber 3: blocked in send on") == 1);
  }
}

TEST_CASE("deadlock: the root blocked on a channel only it can feed", "[runtime][deadlock]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);

  SECTION("recv on a named rendezvous channel") {
    const auto report = deadlock_report(threads, [] {
      auto [tx, rx] = csp::make_channel<int>(0, "lonely");
      (void)rx.recv();  // the root holds the only sender
    });
    REQUIRE(report);
    INFO(*report);
    const auto lines = fiber_lines(*report);
    REQUIRE(lines.size() == 1);
    REQUIRE_THAT(lines[0], Contains("fiber 1: blocked") && Contains("recv on 'lonely'"));
  }

  SECTION("recv on an unnamed bounded channel") {
    const auto report = deadlock_report(threads, [] {
      auto [tx, rx] = csp::make_channel<int>(3);
      (void)rx.recv();
    });
    REQUIRE(report);
    INFO(*report);
    REQUIRE_THAT(*report, Contains("fiber 1: blocked in recv on channel"));
  }

  SECTION("send on a full named bounded channel") {
    const auto report = deadlock_report(threads, [] {
      auto [tx, rx] = csp::make_channel<int>(2, "full");
      tx.send(1);
      tx.send(2);
      tx.send(3);  // nobody will ever receive
    });
    REQUIRE(report);
    INFO(*report);
    REQUIRE_THAT(*report, Contains("fiber 1: blocked in send on 'full'"));
  }

  SECTION("recv on a named unbounded channel, after other fibers finished") {
    const auto report = deadlock_report(threads, [] {
      auto [tx, rx] = csp::make_channel<int>(csp::unbounded, "drained");
      for (int i = 0; i < 50; ++i) csp::go([](csp::sender<int> out, int k) { out.send(k); }, tx, i);
      for (int i = 0; i < 51; ++i) (void)rx.recv();  // one more than will ever come
    });
    REQUIRE(report);
    INFO(*report);
    const auto lines = fiber_lines(*report);
    REQUIRE(lines.size() == 1);
    REQUIRE_THAT(lines[0], Contains("fiber 1: blocked in recv on 'drained'"));
  }
}

TEST_CASE("deadlock: a fiber blocked in join of a fiber that is blocked forever", "[runtime][deadlock]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
  const auto report = deadlock_report(threads, [] {
    auto [tx, rx] = csp::make_channel<int>(0, "forever");
    auto stuck = csp::spawn([](csp::receiver<int> in, csp::sender<int>) { (void)in.recv(); }, rx, tx);
    // A second level: a fiber joining the root-spawned joiner.
    auto joiner = csp::spawn([](csp::task<void> t) { t.join(); }, std::move(stuck));
    joiner.join();
  });
  REQUIRE(report);
  INFO(*report);
  const auto lines = fiber_lines(*report);
  REQUIRE(lines.size() == 3);
  REQUIRE(count_containing(lines, "blocked in join") == 2);
  REQUIRE(count_containing(lines, "fiber 1: blocked in join") == 1);
  REQUIRE(count_containing(lines, "blocked in recv on 'forever'") == 1);
}

TEST_CASE("deadlock: a select on channels nobody feeds", "[runtime][deadlock]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);

  SECTION("csp::select over two receive cases") {
    const auto report = deadlock_report(threads, [] {
      auto [a_tx, a_rx] = csp::make_channel<int>(0, "sel_a");
      auto [b_tx, b_rx] = csp::make_channel<int>(4, "sel_b");
      csp::select(csp::on_recv(a_rx, [] {}), csp::on_recv(b_rx, [] {}));
    });
    REQUIRE(report);
    INFO(*report);
    const auto lines = fiber_lines(*report);
    REQUIRE(lines.size() == 1);
    REQUIRE_THAT(lines[0], Contains("select") && Contains("'sel_a'") && Contains("'sel_b'"));
  }

  SECTION("csp::select with a send case on a full channel, in a spawned fiber") {
    const auto report = deadlock_report(threads, [] {
      auto [full_tx, full_rx] = csp::make_channel<int>(1, "sel_full");
      auto [in_tx, in_rx] = csp::make_channel<int>(0, "sel_in");
      full_tx.send(0);
      auto t = csp::spawn(
          [](csp::sender<int> out, csp::receiver<int> in, csp::sender<int>, csp::receiver<int>) {
            csp::select(csp::on_send(out, 1, [] {}), csp::on_recv(in, [] {}));
          },
          full_tx, in_rx, in_tx, full_rx);
      t.join();
    });
    REQUIRE(report);
    INFO(*report);
    const auto lines = fiber_lines(*report);
    REQUIRE(lines.size() == 2);
    REQUIRE(count_containing(lines, "select") == 1);
    REQUIRE(count_containing(lines, "send on 'sel_full'") == 1);
    REQUIRE(count_containing(lines, "recv on 'sel_in'") == 1);
    REQUIRE(count_containing(lines, "fiber 1: blocked in join") == 1);
  }

  SECTION("csp::selector over named channels") {
    const auto report = deadlock_report(threads, [] {
      std::vector<csp::sender<int>> keep;
      csp::selector sel;
      for (int i = 0; i < 3; ++i) {
        auto [tx, rx] = csp::make_channel<int>(0, "dyn_" + std::to_string(i));
        keep.push_back(tx);
        sel.on_recv(rx, [] {});
      }
      sel.select();
    });
    REQUIRE(report);
    INFO(*report);
    REQUIRE_THAT(*report, Contains("select") && Contains("'dyn_0'") && Contains("'dyn_1'") &&
                              Contains("'dyn_2'"));
  }
}

TEST_CASE("deadlock: a wait_group nobody will finish", "[runtime][deadlock]") {
  const auto report = deadlock_report(2, [] {
    csp::wait_group wg;
    wg.add(2);
    csp::go([&wg] { wg.done(); });  // one of two
    wg.wait();
  });
  REQUIRE(report);
  INFO(*report);
  REQUIRE_THAT(*report, Contains("fiber 1: blocked in wait_group"));
}

TEST_CASE("deadlock: reported after a long stretch of healthy activity", "[runtime][deadlock]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{4});
  CAPTURE(threads);
  const auto report = deadlock_report(threads, [] {
    auto [ping_tx, ping_rx] = csp::make_channel<int>(0, "ping");
    auto [pong_tx, pong_rx] = csp::make_channel<int>(0, "pong");
    // The echo answers 300 pings, sleeping now and then, then waits for a 301st pong that
    // nobody sends; the root waits for a 301st answer.
    csp::go(
        [](csp::receiver<int> in, csp::sender<int> out, csp::receiver<int> never_fed) {
          for (int i = 0; i < 300; ++i) {
            auto v = in.recv();
            if (!v) return;
            if (i % 30 == 0) csp::this_fiber::sleep_for(15ms);
            out.send(*v);
          }
          (void)never_fed.recv();
        },
        ping_rx, pong_tx, pong_rx);
    for (int i = 0; i < 300; ++i) {
      ping_tx.send(i);
      (void)pong_rx.recv();
    }
    (void)pong_rx.recv();
  });
  REQUIRE(report);
  INFO(*report);
  const auto lines = fiber_lines(*report);
  REQUIRE(lines.size() == 2);
  REQUIRE(count_containing(lines, "recv on 'pong'") == 2);
}

TEST_CASE("deadlock: a runtime refuses to run again after a deadlock, and still lists its stuck fibers",
          "[runtime][deadlock]") {
  csp::runtime rt{csp::threads(2), fast_checks()};
  REQUIRE_THROWS_AS(rt.run([] {
                      auto [tx, rx] = csp::make_channel<int>(0, "stuck_forever");
                      for (int i = 0; i < 3; ++i) {
                        csp::go([](csp::receiver<int> in) { (void)in.recv(); }, rx);
                      }
                      (void)rx.recv();
                    }),
                    csp::deadlock_error);
  const std::vector<csp::fiber_info> stuck = rt.fibers();
  REQUIRE(stuck.size() == 4);
  for (const csp::fiber_info& f : stuck) {
    CHECK(f.state == "blocked");
    CHECK_THAT(f.waiting_in, Contains("'stuck_forever'"));
  }
  REQUIRE_THROWS_AS(rt.run([] { return 1; }), csp::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// No false report while a timer, a timed operation or a sleep is pending

TEST_CASE("deadlock: no report while the only way forward is a pending timer or timed wait",
          "[runtime][deadlock][timers]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
  csp::runtime rt{csp::threads(threads), fast_checks()};

  // Every scenario: one fiber ("waker") waits ~300 ms in some timed way, then sends 1 on a
  // named rendezvous channel; a relay fiber is blocked (no deadline) receiving it and the
  // root is blocked (no deadline) joining both. During those 300 ms, every other fiber is
  // blocked: only the timed wait can move things on, so nothing may be reported.
  auto scenario = [&rt](auto waker) {
    return rt.run([waker] {
      auto [tx, rx] = csp::make_channel<int>(0, "wake_relay");
      auto relay = csp::spawn([](csp::receiver<int> in) { return in.recv().value_or(-1); }, rx);
      auto w = csp::spawn(waker, tx);
      w.join();
      return relay.join();
    });
  };

  SECTION("recv on csp::after(300ms)") {
    REQUIRE(scenario([](csp::sender<int> out) {
              const auto fired = csp::after(300ms).recv();
              out.send(fired ? 1 : 0);
            }) == 1);
  }
  SECTION("a select whose only live case is csp::after(300ms)") {
    REQUIRE(scenario([](csp::sender<int> out) {
              int v = 0;
              auto never = csp::never<int>();
              csp::select(csp::on_recv(never, [] {}), csp::on_recv(csp::after(300ms), [&v] { v = 1; }));
              out.send(v);
            }) == 1);
  }
  SECTION("recv_for(300ms) on a channel nobody feeds") {
    REQUIRE(scenario([](csp::sender<int> out) {
              auto [quiet_tx, quiet_rx] = csp::make_channel<int>(0, "quiet");
              const auto r = quiet_rx.recv_for(300ms);
              out.send(r.status() == csp::status::timeout ? 1 : 0);
            }) == 1);
  }
  SECTION("recv_until(now + 300ms) on a channel nobody feeds") {
    REQUIRE(scenario([](csp::sender<int> out) {
              auto [quiet_tx, quiet_rx] = csp::make_channel<int>(1, "quiet");
              const auto r = quiet_rx.recv_until(std::chrono::steady_clock::now() + 300ms);
              out.send(r.status() == csp::status::timeout ? 1 : 0);
            }) == 1);
  }
  SECTION("send_for(300ms) on a full channel") {
    REQUIRE(scenario([](csp::sender<int> out) {
              auto [full_tx, full_rx] = csp::make_channel<int>(1, "full");
              full_tx.send(0);
              const csp::status s = full_tx.send_for(5, 300ms);
              out.send(s == csp::status::timeout ? 1 : 0);
            }) == 1);
  }
  SECTION("a select with on_timeout(300ms)") {
    REQUIRE(scenario([](csp::sender<int> out) {
              auto [quiet_tx, quiet_rx] = csp::make_channel<int>(0, "quiet");
              int v = 0;
              csp::select(csp::on_recv(quiet_rx, [] {}), csp::on_timeout(300ms, [&v] { v = 1; }));
              out.send(v);
            }) == 1);
  }
  SECTION("csp::this_fiber::sleep_for(300ms)") {
    REQUIRE(scenario([](csp::sender<int> out) {
              csp::this_fiber::sleep_for(300ms);
              out.send(1);
            }) == 1);
  }
  SECTION("a fiber that blocks its worker thread (not a fiber wait) for 300 ms") {
    REQUIRE(scenario([](csp::sender<int> out) {
              std::this_thread::sleep_for(300ms);
              out.send(1);
            }) == 1);
  }
  SECTION("three waits in a row: sleep, after, recv_for") {
    REQUIRE(scenario([](csp::sender<int> out) {
              csp::this_fiber::sleep_for(100ms);
              (void)csp::after(100ms).recv();
              auto [quiet_tx, quiet_rx] = csp::make_channel<int>(0, "quiet");
              (void)quiet_rx.recv_for(100ms);
              out.send(1);
            }) == 1);
  }
  // The runtime is still usable: no deadlock was reported in any scenario.
  REQUIRE(rt.run([] { return 7; }) == 7);
}

namespace {

// SIGUSR1 handler that holds its thread for 300 ms: stands in for the OS not scheduling a
// worker thread for a while, as happens on any loaded machine.
std::atomic<int> stall_state{0};  // 0 idle, 1 stalling, 2 done (lock-free: signal-safe)

void stall_handler(int) {
  stall_state.store(1);
  timespec ts{};
  ts.tv_nsec = 300'000'000;
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  stall_state.store(2);
}

}  // namespace

TEST_CASE("deadlock: no report while a woken fiber waits for its worker thread to get the CPU",
          "[runtime][deadlock][stall]") {
  // Fiber B parks on worker thread b: in recv on a channel (woken by the root's send), or in
  // recv on csp::after(150ms) (woken by the timer thread). The root A, spinning on the other
  // worker, stalls thread b with a signal handler that sleeps 300 ms (as the OS does to a
  // thread on a loaded machine); B is woken meanwhile (queued for thread b) and A waits for
  // it. For those 300 ms every fiber looks parked and every worker idle, but B has been
  // woken and will finish: this is not a deadlock, and run() must return B's answer.
  const bool by_timer = GENERATE(false, true);
  CAPTURE(by_timer);
  struct sigaction action {};
  struct sigaction previous {};
  action.sa_handler = stall_handler;
  sigemptyset(&action.sa_mask);
  REQUIRE(::sigaction(SIGUSR1, &action, &previous) == 0);
  stall_state.store(0);

  // Shared state lives in a shared_ptr: if the runtime wrongly reports a deadlock, its
  // abandoned fibers still run on afterwards and must not touch this test's stack.
  struct shared {
    std::atomic<bool> b_started{false};
    pthread_t b_thread{};
    std::atomic<bool> b_woke{false};
    std::atomic<bool> arranged{false};  // B parked on the other thread, which was stalled
  };
  auto st = std::make_shared<shared>();
  csp::runtime rt{csp::threads(2), fast_checks()};
  std::optional<std::string> report;
  int answer = -1;
  try {
    answer = rt.run([st, &rt, by_timer] {
      auto [req_tx, req_rx] = csp::make_channel<int>(0, "request");
      auto b = csp::spawn(
          [st, by_timer](csp::receiver<int> in) {
            st->b_thread = ::pthread_self();
            st->b_started = true;
            int v = -3;
            if (by_timer) {
              if (csp::after(150ms).recv()) v = 41;
            } else if (auto r = in.recv()) {
              v = *r;
            }
            st->b_woke = true;
            return v + 1;
          },
          req_rx);
      // A (the root) spins without yielding from here on: it keeps its worker thread, so B
      // runs, and parks, on the other one.
      const pthread_t a_thread = ::pthread_self();
      const auto give_up = csp_rt_test::give_up_deadline();
      auto b_parked = [&rt] {
        for (const csp::fiber_info& f : rt.fibers()) {
          if (f.id == 2 && f.state == "blocked") return true;
        }
        return false;
      };
      while (!(st->b_started.load() && b_parked()) && std::chrono::steady_clock::now() < give_up) {
      }
      // B is marked blocked just before it suspends: give it time to finish suspending and
      // its worker time to go idle.
      const auto settle = std::chrono::steady_clock::now() + 20ms;
      while (std::chrono::steady_clock::now() < settle) {
      }
      if (st->b_started.load() && ::pthread_equal(::pthread_self(), a_thread) &&
          !::pthread_equal(a_thread, st->b_thread) && ::pthread_kill(st->b_thread, SIGUSR1) == 0) {
        while (stall_state.load() == 0 && std::chrono::steady_clock::now() < give_up) {
        }
        st->arranged = stall_state.load() == 1 && !st->b_woke.load();
      }
      if (!by_timer) req_tx.send(41);  // wakes B: queued for the stalled thread b
      return b.join();
    });
  } catch (const csp::deadlock_error& e) {
    report = e.what();
  }
  // Let the handler finish before restoring the previous action.
  const auto give_up = csp_rt_test::give_up_deadline();
  while (stall_state.load() == 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  ::sigaction(SIGUSR1, &previous, nullptr);

  REQUIRE(st->arranged.load());
  INFO("false deadlock report: " << report.value_or("(none)"));
  REQUIRE_FALSE(report);
  REQUIRE(answer == 42);
}

// ---------------------------------------------------------------------------------------
// No false report while something outside the runtime can still wake its fibers

TEST_CASE("deadlock: no report while a plain thread feeds the root every 100 ms",
          "[runtime][deadlock][foreign]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
  constexpr int values = 4;
  csp::runtime rt{csp::threads(threads), fast_checks()};
  std::optional<std::string> report;
  int sum = -1;

  SECTION("the channel is created outside the runtime") {
    auto [tx, rx] = csp::make_channel<int>(0, "from_thread");
    std::thread producer([tx = std::move(tx)] {
      for (int i = 1; i <= values; ++i) {
        std::this_thread::sleep_for(100ms);
        tx.send(i);
      }
    });
    try {
      sum = rt.run([rx = std::move(rx)] {
        int total = 0;
        for (int v : rx) total += v;
        return total;
      });
    } catch (const csp::deadlock_error& e) {
      report = e.what();
    }
    producer.join();
  }
  SECTION("the channel is created inside the root, which starts the thread") {
    try {
      sum = rt.run([] {
        auto [tx, rx] = csp::make_channel<int>(0, "from_thread");
        std::thread producer([tx = std::move(tx)] {
          for (int i = 1; i <= values; ++i) {
            std::this_thread::sleep_for(100ms);
            tx.send(i);
          }
        });
        int total = 0;
        for (int v : rx) total += v;
        producer.join();  // already done: the channel closed when its sender died
        return total;
      });
    } catch (const csp::deadlock_error& e) {
      report = e.what();
    }
  }
  INFO("false deadlock report: " << report.value_or("(none)"));
  REQUIRE_FALSE(report);
  REQUIRE(sum == values * (values + 1) / 2);
}

TEST_CASE("deadlock: no report while two runtimes talk to each other",
          "[runtime][deadlock][foreign]") {
  // Runtime A (run() on the test thread) asks runtime B (run() on a std::thread) four
  // questions; B takes 100 ms over each answer: sleeping (a timed wait), or holding its
  // worker thread. Meanwhile every fiber of A is blocked with no deadline.
  const bool sleeps = GENERATE(true, false);
  CAPTURE(sleeps);
  constexpr int questions = 4;
  auto [q_tx, q_rx] = csp::make_channel<int>(0, "questions");
  auto [a_tx, a_rx] = csp::make_channel<int>(0, "answers");
  std::optional<std::string> b_report;
  csp::runtime b{csp::threads(1), fast_checks()};
  std::thread b_thread([&, q_rx = std::move(q_rx), a_tx = std::move(a_tx)]() mutable {
    try {
      b.run([sleeps, q_rx = std::move(q_rx), a_tx = std::move(a_tx)] {
        for (int q : q_rx) {
          if (sleeps) {
            csp::this_fiber::sleep_for(100ms);
          } else {
            std::this_thread::sleep_for(100ms);
          }
          a_tx.send(q * 10);
        }
      });
    } catch (const csp::deadlock_error& e) {
      b_report = e.what();
    }
  });
  std::optional<std::string> a_report;
  int sum = -1;
  try {
    csp::runtime a{csp::threads(2), fast_checks()};
    sum = a.run([q_tx = std::move(q_tx), a_rx = std::move(a_rx)]() mutable {
      int total = 0;
      for (int i = 1; i <= questions; ++i) {
        q_tx.send(i);
        total += a_rx.recv().value_or(-1000);
      }
      q_tx = {};  // B's loop ends
      return total;
    });
  } catch (const csp::deadlock_error& e) {
    a_report = e.what();
  }
  b_thread.join();
  INFO("false report in A: " << a_report.value_or("(none)"));
  INFO("false report in B: " << b_report.value_or("(none)"));
  REQUIRE_FALSE(a_report);
  REQUIRE_FALSE(b_report);
  REQUIRE(sum == 100);
}

TEST_CASE("deadlock: a timer nobody waits on delays a real report only until it fires",
          "[runtime][deadlock][timers]") {
  const auto report = deadlock_report(2, [] {
    auto held = csp::after(200ms);  // kept alive, never received from
    auto [tx, rx] = csp::make_channel<int>(0, "after_timer");
    (void)rx.recv();
  });
  REQUIRE(report);
  REQUIRE_THAT(*report, Contains("fiber 1: blocked in recv on 'after_timer'"));
}

// ---------------------------------------------------------------------------------------
// Abandoned fibers are never resumed, and channels that outlive run() skip them

TEST_CASE("deadlock: after the report, a send on the stuck fiber's channel does not reach it",
          "[runtime][deadlock][abandon]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  const int capacity = GENERATE(0, 1);
  CAPTURE(threads, capacity);
  auto [tx, rx] = csp::make_channel<int>(static_cast<std::size_t>(capacity), "outlives_run");
  auto [sel_tx, sel_rx] = csp::make_channel<int>(0, "outlives_run_select");
  auto resumed = std::make_shared<std::atomic<int>>(0);
  {
    csp::runtime rt{csp::threads(threads), fast_checks()};
    REQUIRE_THROWS_AS(rt.run([rx = rx, sel_rx = sel_rx, resumed] {
                        csp::go([sel_rx, resumed] {
                          csp::select(csp::on_recv(sel_rx, [] {}));
                          resumed->fetch_add(1);
                        });
                        (void)rx.recv();
                        resumed->fetch_add(1);
                      }),
                      csp::deadlock_error);
  }
  // The stuck receivers were claimed for good: nobody takes a value any more.
  if (capacity == 0) {
    REQUIRE(tx.try_send(1) == csp::status::full);
    REQUIRE(tx.send_for(2, 20ms) == csp::status::timeout);
  } else {
    REQUIRE(tx.try_send(1) == csp::status::ok);  // buffered: it stays in the channel
    REQUIRE(tx.try_send(2) == csp::status::full);
    REQUIRE(rx.try_recv().value_or(-1) == 1);
  }
  REQUIRE(sel_tx.try_send(3) == csp::status::full);
  REQUIRE(sel_tx.send_for(4, 20ms) == csp::status::timeout);
  // Give a wrongly resumed fiber every chance to run.
  std::this_thread::sleep_for(50ms);
  REQUIRE(resumed->load() == 0);
}

// ---------------------------------------------------------------------------------------
// runtime::fibers()

TEST_CASE("runtime::fibers lists blocked fibers and what they wait in, from another thread",
          "[runtime][fibers]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  csp::runtime rt{csp::threads(threads), fast_checks()};
  REQUIRE(rt.fibers().empty());

  std::atomic<bool> observed{false};
  std::vector<csp::fiber_info> snapshot;
  bool gave_up = false;
  // run() blocks its thread: the observer is another plain thread.
  std::thread observer([&] {
    const auto give_up = csp_rt_test::give_up_deadline();
    while (std::chrono::steady_clock::now() < give_up) {
      std::vector<csp::fiber_info> list = rt.fibers();
      std::size_t on_gate = 0, in_select = 0, in_join = 0;
      for (const csp::fiber_info& f : list) {
        if (f.state != "blocked") continue;
        if (f.waiting_in.find("'gate'") != std::string::npos) ++on_gate;
        if (f.waiting_in.find("select") != std::string::npos) ++in_select;
        if (f.waiting_in.find("join") != std::string::npos) ++in_join;
      }
      if (on_gate == 4 && in_select == 1 && in_join == 1) {
        snapshot = std::move(list);
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    gave_up = snapshot.empty();
    observed = true;
  });

  rt.run([&observed] {
    auto [gate_tx, gate_rx] = csp::make_channel<int>(0, "gate");
    auto [x_tx, x_rx] = csp::make_channel<int>(0, "sel_x");
    auto [y_tx, y_rx] = csp::make_channel<int>(2, "sel_y");
    for (int i = 0; i < 3; ++i) csp::go([](csp::receiver<int> in) { (void)in.recv(); }, gate_rx);
    csp::go([](csp::receiver<int> x, csp::receiver<int> y) {
      csp::select(csp::on_recv(x, [] {}), csp::on_recv(y, [] {}));
    }, x_rx, y_rx);
    csp::go([](csp::receiver<int> in) {
      auto t = csp::spawn([](csp::receiver<int> r) { (void)r.recv(); }, in);
      t.join();
    }, gate_rx);
    // The root waits without blocking (a sleep is a timed wait), so no deadlock is reported
    // while the observer looks; then it releases everyone.
    while (!observed.load()) csp::this_fiber::sleep_for(1ms);
    gate_tx.close();
    x_tx.close();
  });
  observer.join();

  REQUIRE_FALSE(gave_up);
  REQUIRE(snapshot.size() == 7);  // root, 3 on the gate, the selector, the joiner, the joined
  std::vector<std::uint64_t> ids;
  for (const csp::fiber_info& f : snapshot) {
    CAPTURE(f.id, f.state, f.waiting_in);
    ids.push_back(f.id);
    if (f.id == 1) {
      CHECK(f.state != "blocked");  // the root sleeps: a timed wait
      CHECK(f.waiting_in.empty());
      continue;
    }
    CHECK(f.state == "blocked");
    const bool gate = f.waiting_in.find("recv on 'gate'") != std::string::npos;
    const bool select = f.waiting_in.find("select") != std::string::npos &&
                        f.waiting_in.find("'sel_x'") != std::string::npos &&
                        f.waiting_in.find("'sel_y'") != std::string::npos;
    const bool join = f.waiting_in.find("join") != std::string::npos;
    CHECK((gate || select || join));
  }
  REQUIRE(std::is_sorted(ids.begin(), ids.end()));
  REQUIRE(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  REQUIRE(ids.front() == 1);
  // Every fiber has finished once run() returns.
  REQUIRE(rt.fibers().empty());
}

// ---------------------------------------------------------------------------------------
// Checks that end the process: run in a child (this binary, on one hidden test)

namespace {

// Under ASan, its own SEGV/SIGBUS handler would turn the expected fault into a report and
// exit(1): the child runs with those handlers off, so it dies of the signal, as it does
// without sanitizers.
csp_test::child_outcome run_child_test(const std::string& test_name,
                                       std::chrono::seconds limit = std::chrono::seconds(60)) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string options = (asan && *asan ? std::string(asan) + ":" : std::string()) +
                              "handle_segv=0:handle_sigbus=0";
  return csp_test::run_child_test(test_name, limit, {"ASAN_OPTIONS=" + options});
}

int dive(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (depth == 0) return frame[0];
  return dive(depth - 1) + frame[0];
}

}  // namespace

// Hidden: only run as a child by the test below.
TEST_CASE("runtime child deadlock abort policy", "[.][child]") {
  csp::runtime_options o = fast_checks();
  o.on_deadlock = csp::deadlock_policy::abort;
  csp::runtime rt{csp::threads(2), o};
  rt.run([] {
    auto [tx, rx] = csp::make_channel<int>(0, "abort_me");
    (void)rx.recv();
  });
  std::fputs("run returned: no abort\n", stderr);
}

// Hidden: only run as a child by the test below.
TEST_CASE("runtime child guarded stack overflow", "[.][child]") {
  csp::runtime rt{csp::threads(1)};
  rt.run([] {
    std::fputs("diving\n", stderr);
    csp::spawn(csp::stack::guarded(64 * 1024), [] { return dive(1'000'000); }).join();
  });
  std::fputs("run returned: no fault\n", stderr);
}

// Hidden: only run as a child by the test below.
TEST_CASE("runtime child deadlock after a select that dropped a one-hour timer", "[.][child]") {
  csp::runtime rt{csp::threads(2), fast_checks()};
  try {
    rt.run([] {
      auto [tx, rx] = csp::make_channel<int>(1, "fires");
      tx.send(1);
      int won = -1;
      csp::select(csp::on_recv(rx, [&won] { won = 0; }), csp::on_recv(csp::after(1h), [&won] { won = 1; }));
      std::fprintf(stderr, "select won case %d\n", won);
      auto [stuck_tx, stuck_rx] = csp::make_channel<int>(0, "after_select");
      (void)stuck_rx.recv();
    });
  } catch (const csp::deadlock_error& e) {
    std::fprintf(stderr, "reported: %s\n", e.what());
    std::exit(0);
  }
  std::fputs("run returned: no report\n", stderr);
  std::exit(3);
}

TEST_CASE("deadlock: a dropped one-hour timer does not delay the report",
          "[runtime][deadlock][timers][child]") {
  // The report must come promptly; the bound (20 s) only keeps a regression from hanging.
  const csp_test::child_outcome c =
      run_child_test("runtime child deadlock after a select that dropped a one-hour timer", 20s);
  INFO(c.stderr_text);
  REQUIRE(c.started);
  REQUIRE_FALSE(c.timed_out);
  REQUIRE(c.exited);
  REQUIRE(c.exit_code == 0);
  REQUIRE_THAT(c.stderr_text, Contains("select won case 0") && Contains("reported") &&
                                  Contains("recv on 'after_select'"));
}

TEST_CASE("deadlock_policy::abort prints the report to stderr and aborts", "[runtime][deadlock][child]") {
  const csp_test::child_outcome c = run_child_test("runtime child deadlock abort policy");
  INFO(c.stderr_text);
  REQUIRE(c.started);
  REQUIRE_FALSE(c.timed_out);
  REQUIRE(c.signaled);
  REQUIRE(c.signal == SIGABRT);
  REQUIRE_THAT(c.stderr_text, Contains("csp: deadlock") && Contains("recv on 'abort_me'"));
  REQUIRE_THAT(c.stderr_text, !Contains("no abort"));
}

TEST_CASE("csp::stack::guarded: an overflow faults instead of running on", "[runtime][stack][child]") {
  const csp_test::child_outcome c = run_child_test("runtime child guarded stack overflow");
  INFO(c.stderr_text);
  REQUIRE(c.started);
  REQUIRE_FALSE(c.timed_out);
  REQUIRE_THAT(c.stderr_text, Contains("diving"));
  REQUIRE(c.signaled);
  REQUIRE((c.signal == SIGSEGV || c.signal == SIGBUS));
}
