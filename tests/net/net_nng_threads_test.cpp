// csp::net's calls from several threads at once against NNG's own threads: its first use,
// and dials completed by NNG's expiry thread. The races these cases catch show only in the
// TSan build, which links a libnng built for TSan (scripts/tsan-nng); every build checks that
// each dial fails with csp::net::error and none hangs.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <csp/net.hpp>

#include "net/raw_socket.hpp"

using namespace std::chrono_literals;

namespace {

struct dial_outcomes {
  int failed = 0;     // dials that threw csp::net::error
  int timed_out = 0;  // of those, the ones whose connect itself timed out (NNG_ETIMEDOUT)
};

// Dials `url` `times` times from each of two threads at once.
dial_outcomes dial_from_two_threads(const std::string& url, int times,
                                    std::chrono::milliseconds timeout) {
  std::atomic<int> failed{0}, timed_out{0};
  auto dial_often = [&] {
    for (int i = 0; i < times; ++i) {
      csp::net::options o;
      o.connect_timeout = timeout;
      try {
        (void)csp::net::dial<int>(url, o);
      } catch (const csp::net::error& e) {
        ++failed;
        timed_out += e.code() == NNG_ETIMEDOUT;
      }
    }
  };
  std::thread a(dial_often), b(dial_often);
  a.join();
  b.join();
  return {failed, timed_out};
}

// A listener that never answers: its accept queue is full, so the kernel drops SYNs. (Now
// and then one still gets through; that dial then fails its handshake, also by timeout.)
struct silent_listener {
  net_test::raw_server server{"", 0};
  silent_listener() { server.fill_backlog(); }
  std::string url() const { return server.url(); }
};

}  // namespace

// Must stay this file's first case: it needs a process in which NNG has not been used yet.
TEST_CASE("net: two threads whose first NNG calls meet both get a working NNG",
          "[net][nng-threads]") {
  // NNG initializes itself behind a flag it reads without a lock; csp::net orders that
  // initialization before any of its calls (stream.hpp, init_nng).
  const silent_listener nobody;
  CHECK(dial_from_two_threads(nobody.url(), 1, 50ms).failed == 2);
}

TEST_CASE("net: a dial whose listener never answers times out, from two threads at once",
          "[net][nng-threads]") {
  // Completed by NNG's expiry thread, through the dialer's cancel function.
  const silent_listener nobody;
  const dial_outcomes o = dial_from_two_threads(nobody.url(), 25, 20ms);
  CHECK(o.failed == 50);
  CHECK(o.timed_out > 0);
}

TEST_CASE("net: a dial refused just as it times out frees its dialer once NNG is done with it",
          "[net][nng-threads]") {
  // With 1 ms left, the refusal and the expiry often meet: the refusal completes the dial
  // while NNG's expiry thread is about to run the dialer's cancel function, which locks the
  // dialer's mutex. Freeing the dialer before the dial's aio destroyed that mutex under it
  // (TSan, every run of this case before stream.hpp's free_before_owner).
  const dial_outcomes o = dial_from_two_threads(net_test::closed_port_url(), 300, 2ms);
  CHECK(o.failed == 600);
}
