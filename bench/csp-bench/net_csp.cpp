// The net workloads on csp::net (workload.hpp, "net"): csp::net::listen and csp::net::dial
// over loopback TCP, the values sent and received by fibers on a csp::runtime of T workers,
// as the channel rows run. csp::net's own threads (a pump and a reader per dialed link, an
// acceptor and a thread per peer per listener) carry the values between the fibers' local
// channels and the sockets; they are part of what is measured.

#include <csp/net.hpp>

#include <chrono>
#include <string>

#include "csp_join.hpp"
#include "impls.hpp"
#include "net_rows.hpp"

namespace bench {

namespace {

// Fixed per run: one peer per listener, so rx closes once its dialer's close() is through.
csp::net::options link_options(std::size_t capacity) {
  csp::net::options o;
  o.capacity = capacity;
  o.peers = 1;
  return o;
}

// What the listener saw when a link closed under a sender (the sender is told only that
// the channel closed).
std::string why_closed(const csp::net::listener<msg>& l) {
  const std::string why = l.last_loss();
  return why.empty() ? "the link closed" : "the link closed; the listener lost its peer: " + why;
}

// net: one dialer sends 0 .. M-1 to one listener.
std::chrono::nanoseconds stream(const params& p) {
  const msg M = p.messages;
  const csp::net::options o = link_options(p.capacity.n);
  net_clock clock;
  msg count = 0;
  msg sum = 0;
  std::string loss;
  csp::runtime rt{csp::threads(static_cast<std::size_t>(p.threads))};
  rt.run([&] {
    // Connected before the clock: dial returns once the handshake is done.
    csp::net::listener<msg> l = csp::net::listen<msg>(loopback_url, o);
    csp::sender<msg> tx = csp::net::dial<msg>(l.url(), o);
    fiber_list fibers;
    fibers.push_back(csp::spawn([rx = l.rx(), &clock, &count, &sum, M] {
      while (auto v = rx.recv()) {
        ++count;
        sum += *v;
        clock.received(*v, M);
      }
    }));
    fibers.push_back(csp::spawn([tx = std::move(tx), &l, &clock, M]() mutable {
      clock.start();
      for (msg k = 0; k < M; ++k) {
        if (!tx.send(k)) {
          throw check_failed("csp net: send " + std::to_string(k) + " failed: " + why_closed(l));
        }
      }
      tx.close();  // waits for the listener's ack: after the window (the last receipt)
    }));
    join_all(fibers);
    loss = l.last_loss();
  });
  // A link lost after the last send goes unnoticed by the sender (its close() returns
  // either way), so a short count is reported with what the listener saw.
  if (count != M) {
    throw check_failed("csp net: " + std::to_string(count) + " of " + std::to_string(M) +
                       " values arrived; the listener's last loss: " +
                       (loss.empty() ? "none" : loss));
  }
  check_totals(p, count, sum);
  return clock.elapsed();
}

// net_pingpong: a dials b's listener, b dials a's; values go a -> b -> a -> ...
std::chrono::nanoseconds pingpong(const params& p) {
  const msg M = p.messages;
  const csp::net::options o = link_options(p.capacity.n);
  net_clock clock;
  csp::runtime rt{csp::threads(static_cast<std::size_t>(p.threads))};
  rt.run([&] {
    csp::net::listener<msg> at_a = csp::net::listen<msg>(loopback_url, o);
    csp::net::listener<msg> at_b = csp::net::listen<msg>(loopback_url, o);
    csp::sender<msg> a_to_b = csp::net::dial<msg>(at_b.url(), o);
    csp::sender<msg> b_to_a = csp::net::dial<msg>(at_a.url(), o);
    fiber_list fibers;
    fibers.push_back(csp::spawn([tx = std::move(a_to_b), rx = at_a.rx(), &clock, M]() mutable {
      clock.start();
      for (msg k = 0; k < M; k += 2) {
        if (!tx.send(k)) throw check_failed("csp net_pingpong: a's send failed");
        if (k + 1 == M) break;
        auto r = rx.recv();
        if (!r) throw check_failed("csp net_pingpong: a's link closed early");
        expect_value("csp", k + 1, *r);
        clock.received(*r, M);
      }
      tx.close();
    }));
    fibers.push_back(csp::spawn([tx = std::move(b_to_a), rx = at_b.rx(), &clock, M]() mutable {
      for (msg k = 0; k < M; k += 2) {
        auto r = rx.recv();
        if (!r) throw check_failed("csp net_pingpong: b's link closed early");
        expect_value("csp", k, *r);
        clock.received(*r, M);
        if (k + 1 == M) break;
        if (!tx.send(k + 1)) throw check_failed("csp net_pingpong: b's send failed");
      }
      tx.close();
    }));
    join_all(fibers);
  });
  return clock.elapsed();
}

}  // namespace

support csp_net_support(const params& p, impl which) {
  if (which != impl::csp) return {"the net rows run on csp::runtime (impl csp) only", ""};
  if (p.capacity.unbounded) return {"csp::net buffers a bounded number of values", ""};
  if (p.capacity.n == 0) return {"csp::net buffers at least 1 value (options.capacity >= 1)", ""};
  return {"", ""};
}

std::chrono::nanoseconds run_csp_net(const params& p) {
  return p.w == workload::net ? stream(p) : pingpong(p);
}

}  // namespace bench
