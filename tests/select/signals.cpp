// csp::signals: POSIX signals delivered as values on a channel.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <catch2/catch.hpp>

#include <csp/csp.hpp>

#include "support/child_process.hpp"
#include "support/run_modes.hpp"

using namespace std::chrono_literals;

namespace {

// csp::signals hands a signal out on its own thread, a little after it arrived. One that is
// handed out after its last receiver is gone takes its former disposition, which for SIGUSR1
// and SIGUSR2 ends the process: a test that drops its receiver while deliveries are still on
// their way (the burst below) would end the test binary. So the binary listens to both for
// its whole life, on a channel that, once full, drops what it gets.
const csp::receiver<int> keep_usr_signals_listened = csp::signals({SIGUSR1, SIGUSR2});

}  // namespace

TEST_CASE("signals: each signal that reaches the process arrives as its number",
          "[signals]") {
  csp::receiver<int> sig = csp::signals({SIGUSR1, SIGUSR2});
  REQUIRE(::raise(SIGUSR1) == 0);
  auto first = sig.recv_for(20s);
  REQUIRE(first);
  CHECK(*first == SIGUSR1);
  REQUIRE(::kill(::getpid(), SIGUSR2) == 0);
  auto second = sig.recv_for(20s);
  REQUIRE(second);
  CHECK(*second == SIGUSR2);
}

TEST_CASE("signals: every channel that asked gets every delivery, in a select too",
          "[signals][select]") {
  csp::receiver<int> a = csp::signals({SIGUSR1});
  csp::receiver<int> b = csp::signals({SIGUSR1, SIGUSR2});
  auto [tx, rx] = csp::make_channel<int>();  // never ready: nobody sends
  REQUIRE(::raise(SIGUSR1) == 0);
  int from_select = 0;
  const std::size_t fired =
      csp::select(csp::on_recv(rx, [] {}),
                  csp::on_recv(a, [&](const csp::result<int>& s) { from_select = *s; }),
                  csp::on_timeout(20s, [] {}));
  CHECK(fired == 1);
  CHECK(from_select == SIGUSR1);
  auto other = b.recv_for(20s);
  REQUIRE(other);
  CHECK(*other == SIGUSR1);
}

TEST_CASE("signals: a full channel drops further deliveries instead of blocking",
          "[signals]") {
  csp::receiver<int> sig = csp::signals({SIGUSR2});
  for (int i = 0; i < 3 * static_cast<int>(csp::signals_capacity); ++i) {
    REQUIRE(::raise(SIGUSR2) == 0);
  }
  const auto give_up = csp::clock::now() + 20s;
  csp_test::wait_until([&] { return sig.size() == csp::signals_capacity || csp::clock::now() > give_up; });
  CHECK(sig.size() == csp::signals_capacity);
  // Still deliverable once there is room again.
  for (std::size_t i = 0; i < csp::signals_capacity; ++i) CHECK(sig.try_recv());
  REQUIRE(::raise(SIGUSR2) == 0);
  CHECK(sig.recv_for(20s));
}

TEST_CASE("signals: signals that cannot be caught, and no signal, throw csp::invalid_argument",
          "[signals][errors]") {
  CHECK_THROWS_AS(csp::signals({}), csp::invalid_argument);
  CHECK_THROWS_AS(csp::signals({SIGKILL}), csp::invalid_argument);
  CHECK_THROWS_AS(csp::signals({SIGSTOP}), csp::invalid_argument);
  CHECK_THROWS_AS(csp::signals({0}), csp::invalid_argument);
  CHECK_THROWS_AS(csp::signals({-1}), csp::invalid_argument);
  CHECK_THROWS_AS(csp::signals({NSIG}), csp::invalid_argument);
  CHECK_THROWS_AS(csp::signals({SIGUSR1, SIGKILL}), csp::invalid_argument);
}

// Hidden: only run as a child by the test below.
TEST_CASE("signals child: SIGTERM is a value while listened to and then ends the process",
          "[.][child]") {
  {
    csp::receiver<int> sig = csp::signals({SIGTERM});
    ::raise(SIGTERM);
    auto s = sig.recv_for(20s);
    std::printf("got %d\n", s ? *s : -1);
    std::fflush(stdout);
  }  // the last receiver is gone: SIGTERM gets its default action back
  ::raise(SIGTERM);
  csp::this_fiber::sleep_for(20s);  // the default action ends the process first
  std::printf("still alive\n");
}

TEST_CASE("signals: while a receiver lives the signal is a value; once it is gone the signal "
          "takes its default action",
          "[signals][child]") {
  const csp_test::child_outcome c = csp_test::run_child_test(
      "signals child: SIGTERM is a value while listened to and then ends the process", 60s);
  REQUIRE(c.started);
  CHECK_FALSE(c.timed_out);
  CHECK(c.stdout_text.find("got " + std::to_string(SIGTERM)) != std::string::npos);
  CHECK(c.stdout_text.find("still alive") == std::string::npos);
  CHECK(c.signaled);
  CHECK(c.signal == SIGTERM);
}
