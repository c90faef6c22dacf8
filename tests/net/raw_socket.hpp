#pragma once
// A raw TCP client and server for the tests that must speak something other than csp::net:
// hostile bytes at a listener, a server that is not a csp::net listener at all.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace net_test {

// The port of a tcp://127.0.0.1:PORT URL.
inline int port_of(const std::string& url) { return std::atoi(url.c_str() + url.rfind(':') + 1); }

// tcp://127.0.0.1:port, as csp::net spells it.
inline std::string loopback_url(int port) { return "tcp://127.0.0.1:" + std::to_string(port); }

// 127.0.0.1:port (0: any free port).
inline sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Connects to 127.0.0.1:port, writes `bytes`, then reads until the peer closes the
// connection or `limit_ms` pass. True if the peer closed it.
inline bool send_raw_and_wait_for_close(int port, const std::string& bytes, int limit_ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(port);
  bool closed = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())) {
    char buf[512];
    for (int waited = 0; waited < limit_ms; waited += 50) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (::read(fd, buf, sizeof buf) <= 0) {
        closed = true;
        break;
      }
    }
  }
  ::close(fd);
  return closed;
}

// A TCP server on 127.0.0.1 (any free port) that answers every connection with `reply`.
// With backlog 0 and one connection left unaccepted (fill_backlog), the kernel drops further
// SYNs: a connect then neither succeeds nor is refused, and times out (now and then one still
// gets through, and its connection is never served).
class raw_server {
 public:
  explicit raw_server(std::string reply, int backlog = 4) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, backlog);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~raw_server() {
    if (filler_ >= 0) ::close(filler_);
    ::close(fd_);
  }
  int port() const noexcept { return port_; }
  std::string url() const { return loopback_url(port_); }

  // Connects once and leaves that connection in the accept queue.
  void fill_backlog() {
    filler_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(port_);
    (void)::connect(filler_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }

  // Accepts one connection (waiting `limit_ms` at most), sends the reply, closes it.
  void serve_one(int limit_ms) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, limit_ms) <= 0) return;
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    (void)::write(c, reply_.data(), reply_.size());
    ::close(c);
  }

 private:
  std::string reply_;
  int fd_ = -1;
  int filler_ = -1;
  int port_ = 0;
};

// A loopback URL nothing listens on: a raw server's, once it is gone (connects are refused).
inline std::string closed_port_url() { return loopback_url(raw_server("").port()); }

}  // namespace net_test
