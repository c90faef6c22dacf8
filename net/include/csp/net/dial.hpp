#pragma once
// csp::net::dial<T>: the sending side of csp::net.
//
//   csp::sender<T> tx = csp::net::dial<T>("tcp://10.0.0.2:5555");
//   tx.send(v);     // blocks while the local buffer and the link are full (backpressure)
//   tx.close();     // returns once every value sent has reached the listener's process
//
// The result is an ordinary csp::sender<T> (send, try_send, send_for, select), with one
// difference: its close(), and the drop of its last handle, wait until every value sent
// before it has reached the listening process, the link failed, or options.linger ran out.
// A link that fails closes the channel: send returns false, as on any closed channel;
// link_status(tx) tells delivered from failed, and why.

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <csp/channels/channels.hpp>
#include <csp/net/detail/dial_link.hpp>
#include <csp/net/options.hpp>

namespace csp::net {

// Connects to a csp::net listener for T at `url`, retrying while the connection is refused,
// for options.connect_timeout at most. Blocks the calling fiber (not its thread) meanwhile.
// Throws csp::net::error if no listener answers in time or the peer is not a csp::net
// listener, csp::invalid_argument for bad options.
template <class T>
csp::sender<T> dial(const std::string& url, const options& opts = {}) {
  detail::validate(opts, "csp::net::dial");
  detail::init_nng();
  auto [tx, rx] = csp::make_channel<T>(opts.capacity, "csp::net to " + url);
  auto [alive_tx, alive_rx] = csp::make_channel<int>();  // closes when the link's threads end
  auto link = std::make_shared<detail::dial_link<T>>(opts, std::move(alive_rx));
  auto [setup_tx, setup_rx] = csp::make_oneshot<detail::setup_result>();
  std::thread(&detail::dial_link<T>::run, link, url, std::move(rx), std::move(setup_tx),
              std::move(alive_tx))
      .detach();
  csp::result<detail::setup_result> setup = setup_rx.recv();
  if (!setup) throw error("csp::net::dial " + url + ": the link's thread ended", 0);
  if (!setup->second.empty()) {
    throw error("csp::net::dial " + url + ": " + setup->second, setup->first);
  }
  // Only now: a failed dial's sender closes without waiting for a delivery.
  tx.state()->set_sender_close_wait(std::move(link));
  return std::move(tx);
}

// How the link behind a sender from dial stands. After close() (or a send that returned
// false) it says whether everything arrived: delivered, or failed and why. link_state::local
// for any other sender. Never blocks; thread-safe. Throws csp::empty_handle on an empty one.
template <class T>
link_report link_status(const csp::sender<T>& tx) {
  if (!tx) throw csp::empty_handle("csp::net::link_status of an empty csp::sender");
  auto* link = dynamic_cast<const detail::dial_link<T>*>(tx.state()->get_sender_close_wait());
  return link ? link->report() : link_report{};
}

}  // namespace csp::net
