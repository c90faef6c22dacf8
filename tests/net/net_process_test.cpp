// csp::net between real processes over loopback: net_peer (net_peer.cpp) is the other end.
// Every wait is bounded; a child still running at the end of a test is killed.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <csp/net.hpp>

#include "net/net_value.hpp"
#include "net/peer_process.hpp"

using namespace std::chrono_literals;
using net_test::field;
using net_test::peer_process;

namespace {

const std::string peer_exe = NET_PEER_PATH;
constexpr auto line_limit = 20s;

// Starts `net_peer listen` and returns it with the URL it printed.
std::unique_ptr<peer_process> start_listener(std::size_t peers, long slow_us, std::string& url) {
  auto p = std::make_unique<peer_process>(std::vector<std::string>{
      peer_exe, "listen", "tcp://127.0.0.1:0", std::to_string(peers), std::to_string(slow_us)});
  REQUIRE(p->started());
  const auto first = p->line(line_limit);
  REQUIRE(first);
  REQUIRE(first->rfind("url ", 0) == 0);
  url = first->substr(4);
  return p;
}

bool exited_ok(peer_process& p) {
  const auto st = p.wait(30s);
  return st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0;
}

}  // namespace

TEST_CASE("net processes: two dialer processes, every value in order, close reaches the listener",
          "[net][process]") {
  std::string url;
  auto listener = start_listener(2, 0, url);
  const std::uint64_t count = 20000;
  // Each dialer _exits as soon as close() returns: nothing it sent may be lost.
  peer_process a({peer_exe, "send", url, "1", std::to_string(count), "40"});
  peer_process b({peer_exe, "send", url, "2", std::to_string(count), "40"});
  const auto la = a.line(line_limit), lb = b.line(line_limit);
  REQUIRE(la);
  REQUIRE(lb);
  CHECK(field(*la, "sent") == static_cast<long long>(count));
  CHECK(field(*lb, "sent") == static_cast<long long>(count));
  const auto result = listener->line(line_limit);
  REQUIRE(result);
  CAPTURE(*result);
  CHECK(field(*result, "received") == static_cast<long long>(2 * count));
  CHECK(field(*result, "inorder") == 1);
  CHECK(field(*result, "closed") == 2);
  CHECK(field(*result, "lost") == 0);
  CHECK(exited_ok(*listener));
  CHECK(exited_ok(a));
  CHECK(exited_ok(b));
}

TEST_CASE("net processes: select over a remote and a local channel with a timeout",
          "[net][process][select]") {
  auto l = csp::net::listen<net_test::value>("tcp://127.0.0.1:0");  // peers = 1
  const std::uint64_t count = 2000;
  peer_process dialer({peer_exe, "send", l.url(), "7", std::to_string(count), "8"});
  auto [local_tx, local_rx] = csp::make_channel<int>(4);
  const int local_count = 500;
  std::uint64_t remote = 0, next_seq = 0, timeouts = 0;
  int local = 0;
  bool remote_open = true, in_order = true;
  csp::run(2, [&] {
    csp::go([tx = std::move(local_tx)] {
      for (int i = 0; i < local_count; ++i) tx.send(i);
    });
    csp::receiver<net_test::value> rx = l.rx();
    csp::receiver<int> lrx = local_rx;
    while (remote_open || lrx) {
      csp::select(
          csp::on_recv(rx,
                       [&](csp::result<net_test::value> v) {
                         if (!v) {
                           remote_open = false;
                           rx = {};  // an empty handle: this case is off from now on
                           return;
                         }
                         in_order = in_order && v->seq == next_seq++ && net_test::payload_ok(*v);
                         ++remote;
                       }),
          csp::on_recv(lrx,
                       [&](csp::result<int> v) {
                         if (!v) {
                           lrx = {};
                           return;
                         }
                         ++local;
                       }),
          csp::on_timeout(50ms, [&] { ++timeouts; }));
      if (timeouts > 400) break;  // 20 s without anything: give up (the checks below fail)
    }
  });
  CHECK(remote == count);
  CHECK(in_order);
  CHECK(local == local_count);
  CHECK(l.peers_closed() == 1);
  CHECK(l.peers_lost() == 0);
  CHECK(exited_ok(dialer));
}

TEST_CASE("net processes: a dialer killed with SIGKILL is lost; rx drains and closes",
          "[net][process][kill]") {
  auto l = csp::net::listen<net_test::value>("tcp://127.0.0.1:0");  // peers = 1
  peer_process dialer({peer_exe, "send-forever", l.url(), "3"});
  csp::receiver<net_test::value> rx = l.rx();
  std::uint64_t got = 0;
  bool in_order = true;
  auto take = [&](const net_test::value& v) { in_order = in_order && v.seq == got++; };
  for (int i = 0; i < 50; ++i) {  // it is sending
    auto v = rx.recv_for(10s);
    REQUIRE(v);
    take(*v);
  }
  dialer.kill(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  for (;;) {
    auto v = rx.recv_for(20s);
    if (!v) {
      REQUIRE(v.status() == csp::status::closed);
      break;
    }
    take(*v);
  }
  CHECK(std::chrono::steady_clock::now() - killed < 10s);
  CHECK(in_order);  // what arrived is an in-order prefix
  CHECK(l.peers_lost() == 1);
  CHECK(l.peers_closed() == 0);
  CHECK(!l.last_loss().empty());
}

TEST_CASE("net processes: a listener killed with SIGKILL makes send return false, not hang",
          "[net][process][kill]") {
  std::string url;
  auto listener = start_listener(1, 1000, url);  // slow: the dialer's buffers fill
  csp::net::options o;
  o.capacity = 8;
  csp::sender<net_test::value> tx = csp::net::dial<net_test::value>(url, o);
  std::uint64_t sent = 0;
  for (; sent < 100; ++sent) REQUIRE(tx.send(net_test::make_value(1, sent, 16)));
  listener->kill(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  bool failed = false;
  while (std::chrono::steady_clock::now() - killed < 20s) {
    if (!tx.send(net_test::make_value(1, sent++, 16))) {
      failed = true;
      break;
    }
  }
  CHECK(failed);
  CHECK(std::chrono::steady_clock::now() - killed < 10s);
  tx.close();  // the link is gone: returns at once, without the linger
  CHECK(std::chrono::steady_clock::now() - killed < 10s);
  CHECK(csp::net::link_status(tx).state == csp::net::link_state::failed);
}

// 1 GiB; under ThreadSanitizer, whose copies are slow, 64 MiB: it would take minutes.
#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t backpressure_bytes = std::uint64_t{1} << 26;
#else
constexpr std::uint64_t backpressure_bytes = std::uint64_t{1} << 30;
#endif

TEST_CASE("net processes: 1 GB to a slow reader; backpressure keeps both processes small",
          "[net][process][backpressure]") {
#if defined(__SANITIZE_ADDRESS__)
  // ASan keeps freed memory in quarantine (256 MB by default), which would count as RSS.
  const char* asan = std::getenv("ASAN_OPTIONS");
  ::setenv("ASAN_OPTIONS", (std::string(asan ? asan : "") + ":quarantine_size_mb=0").c_str(), 1);
#endif
  std::string url;
  auto listener = start_listener(1, 20, url);  // 20 us per value: slower than the sender
  const std::size_t value_bytes = 64 * 1024;
  const std::uint64_t count = backpressure_bytes / value_bytes;  // 16384 values for 1 GiB
  peer_process dialer({peer_exe, "send", url, "5", std::to_string(count),
                       std::to_string(value_bytes)});
  const auto sent = dialer.line(240s);
  REQUIRE(sent);
  const auto received = listener->line(240s);
  REQUIRE(received);
  CAPTURE(*sent, *received);
  CHECK(field(*sent, "sent") == static_cast<long long>(count));
  CHECK(field(*received, "received") == static_cast<long long>(count));
  CHECK(field(*received, "inorder") == 1);
  // Two capacities of 64 values of 64 KiB are 8 MiB; the kernel's socket buffers a few more.
  // Without backpressure one side would hold most of the gigabyte.
  CHECK(field(*sent, "rss_kb") < 96 * 1024);
  CHECK(field(*received, "rss_kb") < 96 * 1024);
  CHECK(exited_ok(*listener));
  CHECK(exited_ok(dialer));
}

TEST_CASE("net processes: a raw TCP client speaking garbage is dropped; a real peer goes on",
          "[net][process][garbage]") {
  auto l = csp::net::listen<net_test::value>("tcp://127.0.0.1:0");  // peers = 1
  peer_process garbage({peer_exe, "garbage", l.url()});
  const auto dropped = garbage.line(line_limit);
  REQUIRE(dropped);
  CHECK(*dropped == "dropped");
  CHECK(l.peers_lost() == 1);
  CHECK(l.peers_connected() == 0);  // it never was a peer: the one place is still free
  peer_process dialer({peer_exe, "send", l.url(), "9", "100"});
  std::uint64_t n = 0;
  for (net_test::value& v : l.rx()) CHECK(v.seq == n++);
  CHECK(n == 100);
  CHECK(l.peers_closed() == 1);
  CHECK(exited_ok(dialer));
}
