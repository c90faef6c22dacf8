// The net workloads on raw NNG (workload.hpp, "net"), for a yardstick beside csp::net: the
// same values over loopback TCP, with NNG's C API used directly: nng_send and nng_recv on
// two plain threads (NNG's own I/O threads do the rest), no csp anywhere.
//   net           push0 dials pull0; capacity N is NNG_OPT_SENDBUF on push and
//                 NNG_OPT_RECVBUF on pull (messages, 0 .. 8192).
//   net_pingpong  one pair1 socket pair (a listens, b dials) carries both ways.
// A value is one 8-byte message, the uint64 as it is in memory (both ends are this process).

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "impls.hpp"
#include "net_rows.hpp"
#include "nng_socket.hpp"

namespace bench {

namespace {

// NNG's socket buffers hold at most this many messages (NNG_OPT_SENDBUF, NNG_OPT_RECVBUF).
constexpr std::size_t nng_max_buffer = 8192;

// Runs `a` and `b` on two plain threads, joins both, rethrows the first exception.
void on_two_threads(const std::function<void()>& a, const std::function<void()>& b) {
  std::exception_ptr errors[2];
  auto guarded = [&errors](int i, const std::function<void()>& f) {
    try {
      f();
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  std::thread ta(guarded, 0, std::cref(a));
  std::thread tb(guarded, 1, std::cref(b));
  ta.join();
  tb.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

// net: push0 sends 0 .. M-1, pull0 receives them.
std::chrono::nanoseconds stream(const params& p) {
  const msg M = p.messages;
  const int buffer = static_cast<int>(p.capacity.n);
  nng_sock pull(nng_pull0_open, "nng_pull0_open");
  nng_sock push(nng_push0_open, "nng_push0_open");
  pull.set_int(NNG_OPT_RECVBUF, buffer);
  push.set_int(NNG_OPT_SENDBUF, buffer);
  push.dial(pull.listen(loopback_url));
  pull.wait_connected();
  push.wait_connected();

  net_clock clock;
  msg count = 0;
  msg sum = 0;
  on_two_threads(
      [&] {  // receiver: it knows M; push/pull has no close to signal the end
        for (msg i = 0; i < M; ++i) {
          msg v = 0;
          pull.recv(&v, sizeof v);
          ++count;
          sum += v;
          clock.received(v, M);
        }
      },
      [&] {
        clock.start();
        for (msg k = 0; k < M; ++k) push.send(&k, sizeof k);
      });
  // The sockets close only now: nng_close could drop what push still had queued.
  check_totals(p, count, sum);
  return clock.elapsed();
}

// net_pingpong: a and b on one pair1 connection.
std::chrono::nanoseconds pingpong(const params& p) {
  const msg M = p.messages;
  nng_sock a(nng_pair1_open, "nng_pair1_open");
  nng_sock b(nng_pair1_open, "nng_pair1_open");
  b.dial(a.listen(loopback_url));
  a.wait_connected();
  b.wait_connected();

  net_clock clock;
  on_two_threads(
      [&] {
        clock.start();
        for (msg k = 0; k < M; k += 2) {
          a.send(&k, sizeof k);
          if (k + 1 == M) break;
          msg r = 0;
          a.recv(&r, sizeof r);
          expect_value("nng", k + 1, r);
          clock.received(r, M);
        }
      },
      [&] {
        for (msg k = 0; k < M; k += 2) {
          msg r = 0;
          b.recv(&r, sizeof r);
          expect_value("nng", k, r);
          clock.received(r, M);
          if (k + 1 == M) break;
          const msg answer = k + 1;
          b.send(&answer, sizeof answer);
        }
      });
  return clock.elapsed();
}

}  // namespace

support nng_support(const params& p) {
  if (!is_net(p.w)) return {"nng runs the net workloads only", ""};
  if (p.capacity.unbounded) return {"NNG's socket buffers are bounded", ""};
  if (p.capacity.n > nng_max_buffer) {
    return {"NNG's socket buffers hold at most " + std::to_string(nng_max_buffer) + " messages",
            ""};
  }
  const char* sockets = p.w == workload::net ? "push0/pull0" : "pair1";
  return {"", std::string(sockets) + " on 2 plain threads; --threads unused"};
}

std::chrono::nanoseconds run_nng(const params& p) {
  return p.w == workload::net ? stream(p) : pingpong(p);
}

}  // namespace bench
