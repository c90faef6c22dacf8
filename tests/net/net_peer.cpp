// net_peer: one end of a csp::net link, as a process of its own, for the tests that need two
// processes (net_process_test.cpp, net_netns_check.sh). Each mode prints one result line.
//
//   net_peer listen URL PEERS [SLOW_US]   prints "url ADDRESS", then receives (pausing
//                                         SLOW_US after every value) until rx closes; prints
//                                         "received N inorder 0|1 closed C lost L rss_kb K"
//   net_peer send URL ID COUNT [BYTES]    sends COUNT values {ID, seq, BYTES of payload},
//                                         closes, and _exits at once: what close() promised
//                                         must already be there; prints "sent N rss_kb K"
//   net_peer send-forever URL ID          sends {ID, seq} every millisecond until a send fails;
//                                         prints "send failed after N"
//   net_peer garbage URL                  speaks HTTP to a csp::net listener, a raw TCP client
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include <csp/net.hpp>

#include "net/net_value.hpp"

namespace {

long peak_rss_kb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

int listen_mode(const std::string& url, std::size_t peers, long slow_us) {
  csp::net::options o;
  o.peers = peers;
  csp::net::listener<net_test::value> l = csp::net::listen<net_test::value>(url, o);
  std::printf("url %s\n", l.url().c_str());
  std::fflush(stdout);
  std::map<int, std::uint64_t> next;  // per peer: the sequence number expected next
  std::uint64_t received = 0;
  bool in_order = true;
  for (net_test::value& v : l.rx()) {
    in_order = in_order && v.seq == next[v.peer]++ && net_test::payload_ok(v);
    ++received;
    if (slow_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(slow_us));
  }
  std::printf("received %llu inorder %d closed %zu lost %zu rss_kb %ld\n",
              static_cast<unsigned long long>(received), in_order ? 1 : 0, l.peers_closed(),
              l.peers_lost(), peak_rss_kb());
  std::fflush(stdout);
  return 0;
}

int send_mode(const std::string& url, int id, std::uint64_t count, std::size_t bytes) {
  csp::sender<net_test::value> tx = csp::net::dial<net_test::value>(url);
  std::uint64_t sent = 0;
  for (; sent < count; ++sent) {
    if (!tx.send(net_test::make_value(id, sent, bytes))) break;
  }
  tx.close();
  std::printf("sent %llu rss_kb %ld\n", static_cast<unsigned long long>(sent), peak_rss_kb());
  std::fflush(stdout);
  ::_exit(0);  // no destructors, no flushing of anything csp::net might still hold
}

int send_forever_mode(const std::string& url, int id) {
  csp::sender<net_test::value> tx = csp::net::dial<net_test::value>(url);
  std::uint64_t sent = 0;
  while (tx.send(net_test::make_value(id, sent, 0))) {
    ++sent;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf("send failed after %llu\n", static_cast<unsigned long long>(sent));
  std::fflush(stdout);
  return 0;
}

int garbage_mode(const std::string& url) {
  // tcp://127.0.0.1:PORT
  const std::size_t colon = url.rfind(':');
  const int port = std::atoi(url.c_str() + colon + 1);
  const std::string host = url.substr(6, colon - 6);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 1;
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)::write(fd, req, sizeof req - 1);
  char buf[256];
  // The listener drops us: read until the connection ends (bounded by the test's timeout).
  while (::read(fd, buf, sizeof buf) > 0) {
  }
  ::close(fd);
  std::printf("dropped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "listen" && argc >= 4) {
      return listen_mode(argv[2], std::strtoul(argv[3], nullptr, 10),
                         argc > 4 ? std::atol(argv[4]) : 0);
    }
    if (mode == "send" && argc >= 5) {
      return send_mode(argv[2], std::atoi(argv[3]), std::strtoull(argv[4], nullptr, 10),
                       argc > 5 ? std::strtoul(argv[5], nullptr, 10) : 0);
    }
    if (mode == "send-forever" && argc >= 4) return send_forever_mode(argv[2], std::atoi(argv[3]));
    if (mode == "garbage" && argc >= 3) return garbage_mode(argv[2]);
  } catch (const std::exception& e) {
    std::printf("error %s\n", e.what());
    return 3;
  }
  std::fprintf(stderr, "usage: see the comment at the top of net_peer.cpp\n");
  return 2;
}
