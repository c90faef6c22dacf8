// When main returns, fibers left over are never resumed and the process ends at once, as in
// Go (Boost.Fiber's own teardown waited for them forever, spinning a core). Checked in a
// child process: this binary re-executed on a hidden test, whose return ends main.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
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
// that the plain thread below sends to a leftover fiber during the exit.
struct static_witness {
  bool armed = false;
  ~static_witness() {
    if (!armed) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::printf("static destructor ran\n");
  }
} witness;

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
  csp::this_fiber::yield();  // every fiber above is now parked
  // Ready, never started: it must never run either.
  csp::go([c = loud_capture("ready")] { std::printf("the ready fiber ran\n"); });
  // A fiber's partner on a plain thread, sending after main has returned.
  std::thread([tx = tx] {
    std::this_thread::sleep_for(50ms);
    (void)tx.try_send(1);
  }).detach();
  std::printf("main returns\n");
  std::fflush(stdout);
}

TEST_CASE("main returning with fibers blocked, asleep or ready ends the process at once",
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
  CHECK(c.stdout_text.find("the ready fiber ran") == std::string::npos);
  CHECK(c.stdout_text.find("destroyed:") == std::string::npos);
  // "At once": far below the hour the fibers wait for, and below the limit above.
  CHECK(took < 20s);
}
