#pragma once
// What the net rows of csp (net_csp.cpp) and nng (net_nng.cpp) share, so that the two
// measure the same thing: where they listen, and the clock (workload.hpp, "net").

#include <chrono>
#include <string>

#include "workload.hpp"

namespace bench {

// Loopback, port 0: the kernel picks a free port, so rows never collide with each other or
// with anything else on the machine.
inline constexpr const char* loopback_url = "tcp://127.0.0.1:0";

// The window of one net run: from just before the first send to the receipt of the last
// value (M-1, whichever side receives it). Connecting before it and closing after it are
// not what the rows compare. Each stamp is written by one thread and read after the join.
struct net_clock {
  using steady = std::chrono::steady_clock;
  steady::time_point first_send;
  steady::time_point last_recv;

  void start() { first_send = steady::now(); }
  // Stamps the end when `value` is the run's last one.
  void received(msg value, msg m) {
    if (value + 1 == m) last_recv = steady::now();
  }
  std::chrono::nanoseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(last_recv - first_send);
  }
};

// net_pingpong: every value is checked where it arrives (a gets the odd ones, b the even).
inline void expect_value(const char* who, msg want, msg got) {
  if (got != want) {
    throw check_failed(std::string(who) + " net_pingpong: expected " + std::to_string(want) +
                       ", got " + std::to_string(got));
  }
}

}  // namespace bench
