// A user's program on csp::net, found as an installed package: one listener and one dialer
// in this process over loopback. Exit code 0 if every value arrived, in order.
#include <cstdio>
#include <string>

#include <csp/net.hpp>

int main() {
  auto l = csp::net::listen<std::string>("tcp://127.0.0.1:0");
  csp::go([url = l.url()] {
    csp::sender<std::string> tx = csp::net::dial<std::string>(url);
    for (int i = 0; i < 100; ++i) tx.send(std::to_string(i));
  });
  int next = 0;
  for (const std::string& v : l.rx()) {
    if (v != std::to_string(next++)) return 1;
  }
  std::printf("net consumer: %d values\n", next);
  return next == 100 ? 0 : 1;
}
