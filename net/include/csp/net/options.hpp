#pragma once
// csp::net::options, csp::net::error and csp::net::decode_error.

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>

#include <csp/errors.hpp>

namespace csp::net {

// A link could not be set up: the address does not parse, nothing listens there within
// connect_timeout, the port is taken, the peer is not a csp::net peer. code() is NNG's
// error number (0 where the failure is csp's own, such as a bad handshake).
class error : public std::runtime_error {
 public:
  error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// A value's bytes do not decode (thrown by codec<T>::decode; the link that carried them
// drops its peer, counted lost).
class decode_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct options {
  // The local buffer on each side of a link, in values; >= 1.
  std::size_t capacity = 64;
  // The listener's rx closes once this many peers have connected and each has closed or
  // been lost; 0: only listener::close() closes it.
  std::size_t peers = 1;
  // How long dial keeps trying (refused connections are retried) and waits for the handshake.
  std::chrono::milliseconds connect_timeout{2000};
  // The largest frame (one encoded value plus 1 byte) either side accepts; a larger one drops
  // the link. At least 64.
  std::size_t max_frame = std::size_t{1} << 20;
  // How long a sender's close() (or the drop of its last handle) waits for delivery.
  std::chrono::milliseconds linger{5000};
  // Each side sends a heartbeat after this much silence while it waits, and takes a peer
  // that stays silent for peer_timeout while it is being read as lost (a cut network).
  std::chrono::milliseconds heartbeat{250};
  std::chrono::milliseconds peer_timeout{3000};
};

// How a dialed sender's link stands (csp::net::link_status).
enum class link_state {
  open,       // values can still be sent
  delivered,  // closed, and every value sent reached the listener's process
  failed,     // broken, refused by the listener, or closed with values undelivered at linger
  local,      // the sender is not from csp::net::dial
};
struct link_report {
  link_state state = link_state::local;
  std::string why;  // for failed: what happened
};

namespace detail {
// Throws csp::invalid_argument for options no link can work with.
inline void validate(const options& o, const char* who) {
  auto bad = [who](const std::string& why) {
    throw csp::invalid_argument(std::string(who) + ": " + why);
  };
  if (o.capacity == 0) bad("options.capacity must be at least 1");
  if (o.max_frame < 64 || o.max_frame > (std::size_t{1} << 31)) {
    bad("options.max_frame must be between 64 and 2^31");
  }
  if (o.connect_timeout.count() <= 0) bad("options.connect_timeout must be positive");
  if (o.linger.count() < 0) bad("options.linger must not be negative");
  if (o.heartbeat.count() <= 0) bad("options.heartbeat must be positive");
  if (o.peer_timeout <= o.heartbeat) bad("options.peer_timeout must exceed options.heartbeat");
}
}  // namespace detail

}  // namespace csp::net
