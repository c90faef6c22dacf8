#pragma once
// csp::net::listen<T> and csp::net::listener<T>: the receiving side of csp::net.
//
//   csp::net::listener<T> l = csp::net::listen<T>("tcp://127.0.0.1:0");  // port 0: any free one
//   std::string where = l.url();            // tcp://127.0.0.1:40123: give it to the dialers
//   for (T& v : l.rx()) use(v);             // every peer's values, each peer's in order
//
// rx() is an ordinary csp::receiver<T>: recv, try_recv, range-for, select. It closes (after
// draining) once options.peers peers have connected and each has closed or been lost, or
// when close() is called. The listener must outlive the use of rx(): destroying it closes.

#include <nng/nng.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <csp/channels/channels.hpp>
#include <csp/net/detail/listen_state.hpp>
#include <csp/net/detail/stream.hpp>
#include <csp/net/options.hpp>

namespace csp::net {

template <class T>
class listener {
 public:
  // An empty listener: every member but close() throws csp::empty_handle.
  listener() = default;
  listener(listener&&) noexcept = default;
  listener& operator=(listener&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
      rx_ = std::move(other.rx_);
    }
    return *this;
  }
  ~listener() { close(); }

  // The address actually bound (the port filled in for port 0). Never blocks.
  const std::string& url() const { return checked().url(); }

  // The receiving end of the channel every peer's values go to. Never blocks. Thread-safe.
  csp::receiver<T> rx() const {
    checked();
    return rx_;
  }

  // Stops accepting, closes rx (what is buffered still drains) and drops the peers still
  // connected. Blocks only while csp::net's threads for this listener stop (no network
  // wait). Idempotent; thread-safe.
  void close() {
    if (state_) state_->close();
  }

  // Peers that completed the handshake; of those, peers that ended cleanly (their sender
  // closed and every value arrived) and peers lost (connection broken or silent, bad frames,
  // undecodable values; also counted here: connections that never completed a handshake).
  // Never block; thread-safe.
  std::size_t peers_connected() const { return checked().connected(); }
  std::size_t peers_closed() const { return checked().closed(); }
  std::size_t peers_lost() const { return checked().lost(); }

  // Why the last lost peer was lost ("" if none was). Thread-safe.
  std::string last_loss() const { return checked().last_loss(); }

  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  template <class U>
  friend listener<U> listen(const std::string& url, const options& opts);

  listener(std::shared_ptr<detail::listen_state<T>> s, csp::receiver<T> rx)
      : state_(std::move(s)), rx_(std::move(rx)) {}

  detail::listen_state<T>& checked() const {
    if (!state_) throw csp::empty_handle("operation on an empty csp::net::listener");
    return *state_;
  }

  std::shared_ptr<detail::listen_state<T>> state_;
  csp::receiver<T> rx_;
};

namespace detail {
// The URL with the port the kernel picked, for tcp:// URLs that asked for port 0.
inline std::string bound_url(const std::string& url, nng_stream_listener* l) {
  int port = 0;
  if (nng_stream_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0) return url;
  const std::size_t colon = url.rfind(':');
  const std::size_t scheme = url.find("://");
  if (colon == std::string::npos || scheme == std::string::npos || colon < scheme + 3) return url;
  return url.substr(0, colon + 1) + std::to_string(port);
}
}  // namespace detail

// Binds `url` (tcp://host:port, port 0 for any free port; ipc:///path) and starts accepting
// csp::net peers sending T. Never blocks. Throws csp::net::error if the address does not
// parse or cannot be bound, csp::invalid_argument for bad options.
template <class T>
listener<T> listen(const std::string& url, const options& opts = {}) {
  detail::validate(opts, "csp::net::listen");
  detail::init_nng();
  nng_stream_listener* l = nullptr;
  if (int rv = nng_stream_listener_alloc(&l, url.c_str()); rv != 0) {
    detail::throw_nng("listen " + url, rv);
  }
  (void)nng_stream_listener_set_bool(l, NNG_OPT_TCP_NODELAY, true);  // not every transport has it
  if (int rv = nng_stream_listener_listen(l); rv != 0) {
    nng_stream_listener_free(l);
    detail::throw_nng("listen " + url, rv);
  }
  const std::string where = detail::bound_url(url, l);
  auto [tx, rx] = csp::make_channel<T>(opts.capacity, "csp::net from " + where);
  auto state = std::make_shared<detail::listen_state<T>>(opts, l, where, std::move(tx));
  state->start();
  return listener<T>(std::move(state), std::move(rx));
}

}  // namespace csp::net
