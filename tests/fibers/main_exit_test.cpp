// When main returns, the fibers that are ready run on until they end or block; then those
// left blocked or asleep are never resumed and the process ends at once, as in Go
// (Boost.Fiber's own teardown waited for them for ever, spinning a core). Checked in a child
// process: this binary re-executed on a hidden test, whose return ends main.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include <csp/csp.hpp>

#include "support/child_process.hpp"

using namespace std::chrono_literals;

namespace {

// Says so on stdout when destroyed: a leftover fiber's captures must never be.
struct loud_capture {
  const char* name;
  loud_capture(const char* n) : name(n) {}
  loud_capture(loud_capture&& o) noexcept : name(o.name) { o.name = nullptr; }
  ~loud_capture() {
    if (name) std::printf("destroyed: %s\n", name);
  }
};

// Static destructors still run after the leftover fibers are let go. It waits a little, so
// that the plain thread below sends to a leftover fiber during the exit, and it joins a task
// whose fiber was let go: that throws instead of waiting for ever.
struct static_witness {
  bool armed = false;
  std::optional<csp::task<void>> stuck;
  ~static_witness() {
    if (!armed) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    try {
      stuck->join();
      std::printf("joined a fiber that was let go\n");
    } catch (const csp::deadlock_error&) {
      std::printf("join after main returned: deadlock_error\n");
    }
    std::printf("static destructor ran\n");
  }
} witness;

// A task left in a static: its destructor must not wait for its fiber either.
std::optional<csp::task<void>> static_task;

}  // namespace

// Hidden: only run as a child by the test below.
TEST_CASE("fibers child main returns with fibers left over", "[.][child]") {
  witness.armed = true;
  auto [tx, rx] = csp::make_channel<int>();
  auto [btx, brx] = csp::make_channel<int>(1);
  // Blocked for good: it holds the only sender of its own channel.
  csp::go([tx = tx, rx = rx, c = loud_capture("blocked")]() mutable { (void)rx.recv(); });
  // Asleep for an hour, and in a timed wait of an hour.
  csp::go([c = loud_capture("sleeping")] { csp::this_fiber::sleep_for(1h); });
  csp::go([tx = btx, rx = brx, c = loud_capture("timed")] { (void)rx.recv_for(1h); });
  // In a select with a timer of csp's timer thread.
  csp::go([rx = rx, c = loud_capture("select")] {
    csp::select(csp::on_recv(rx, [] {}), csp::on_recv(csp::after(1h), [] {}));
  });
  witness.stuck.emplace(csp::spawn([rx = rx] { (void)rx.recv(); }));
  static_task.emplace(csp::spawn([rx = rx] { (void)rx.recv(); }));
  csp::this_fiber::yield();  // every fiber above is now parked
  // Ready when main returns (never started): it runs to its end, as it would have before.
  csp::go([c = loud_capture("ready")] { std::printf("the ready fiber ran\n"); });
  // Made ready by main's own last sender closing its channel: it drains and finishes.
  auto [dtx, drx] = csp::make_channel<int>(8);
  csp::go([rx = std::move(drx)] {
    int n = 0;
    for (int v : rx) n += v;
    std::printf("drained %d\n", n);
  });
  for (int i = 1; i <= 5; ++i) (void)dtx.send(i);
  // A fiber's partner on a plain thread, sending after main has returned.
  std::thread([tx = tx] {
    std::this_thread::sleep_for(50ms);
    (void)tx.try_send(1);
  }).detach();
  std::printf("main returns\n");
  std::fflush(stdout);
}

TEST_CASE("main returning with fibers blocked or asleep ends the process at once",
          "[fibers][exit][child]") {
  const auto started = std::chrono::steady_clock::now();
  const csp_test::child_outcome c =
      csp_test::run_child_test("fibers child main returns with fibers left over", 30s,
                               {"ASAN_OPTIONS=detect_leaks=0"});  // their stacks are let go
  const auto took = std::chrono::steady_clock::now() - started;
  INFO("stdout:\n" << c.stdout_text << "\nstderr:\n" << c.stderr_text);
  REQUIRE(c.started);
  CHECK_FALSE(c.timed_out);
  CHECK(c.exited);
  CHECK(c.exit_code == 0);
  CHECK(c.stdout_text.find("main returns") != std::string::npos);
  CHECK(c.stdout_text.find("static destructor ran") != std::string::npos);
  CHECK(c.stdout_text.find("the ready fiber ran") != std::string::npos);
  CHECK(c.stdout_text.find("destroyed: ready") != std::string::npos);
  CHECK(c.stdout_text.find("drained 15") != std::string::npos);
  CHECK(c.stdout_text.find("join after main returned: deadlock_error") != std::string::npos);
  for (const char* parked : {"blocked", "sleeping", "timed", "select"}) {
    CAPTURE(parked);
    CHECK(c.stdout_text.find(std::string("destroyed: ") + parked) == std::string::npos);
  }
  // "At once": far below the hour the fibers wait for, and below the limit above.
  CHECK(took < 20s);
}
