#pragma once
// listen_state<T>: the receiving side of csp::net. An acceptor thread takes connections; each
// peer gets a thread that checks its hello, decodes its data frames and sends the values into
// the one local channel behind listener::rx(). That send blocks when rx is full, so the peer
// thread stops reading, TCP's window closes, and the remote send blocks in turn
// (backpressure, with memory bounded by the two capacities and the kernel's buffers).
//
// A peer ends closed (its fin arrived after every value it announced; it gets an ack) or lost
// (the stream broke, it stayed silent for peer_timeout while being read, it sent a bad frame
// or an undecodable value). A connection that never completes the handshake is counted lost
// but takes no place among options.peers: garbage cannot stand in for a real peer.

#include <nng/nng.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <csp/channels/channels.hpp>
#include <csp/net/codec.hpp>
#include <csp/net/detail/link_io.hpp>
#include <csp/net/options.hpp>

namespace csp::net::detail {

template <class T>
class listen_state : public std::enable_shared_from_this<listen_state<T>> {
 public:
  listen_state(const options& o, nng_stream_listener* l, std::string url, csp::sender<T> values)
      : opts_(o), listener_(l), url_(std::move(url)), values_(std::move(values)) {}
  listen_state(const listen_state&) = delete;
  listen_state& operator=(const listen_state&) = delete;
  ~listen_state() { nng_stream_listener_free(listener_); }

  void start() {
    acceptor_ = std::thread(&listen_state::accept_loop, this->shared_from_this(), make_aio());
  }

  // Stops accepting, closes the channel (rx drains, then reports closed), drops every peer
  // and joins the threads. Idempotent.
  void close() {
    {
      std::lock_guard lk(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    nng_stream_listener_close(listener_);  // aborts the accept in progress
    if (acceptor_.joinable()) acceptor_.join();
    values_.close();  // peers blocked in a send see closed
    std::list<peer> all;
    {
      std::lock_guard lk(mutex_);
      all.swap(peers_);
    }
    for (peer& p : all) p.io->close();  // aborts their reads and writes
    for (peer& p : all) p.thread.join();
  }

  const std::string& url() const noexcept { return url_; }
  std::size_t connected() const {
    std::lock_guard lk(mutex_);
    return admitted_;
  }
  std::size_t closed() const {
    std::lock_guard lk(mutex_);
    return closed_;
  }
  std::size_t lost() const {
    std::lock_guard lk(mutex_);
    return lost_;
  }
  std::string last_loss() const {
    std::lock_guard lk(mutex_);
    return last_loss_;
  }

 private:
  // Connections allowed to be in their handshake at once: each has a thread, and one that
  // never says hello holds it for connect_timeout.
  static constexpr std::size_t max_handshaking = 64;

  struct peer {
    std::unique_ptr<link_io> io;
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  static void accept_loop(std::shared_ptr<listen_state> self, aio_ptr aio) {
    for (;;) {
      nng_stream_listener_accept(self->listener_, aio.get());
      nng_aio_wait(aio.get());
      const int rv = nng_aio_result(aio.get());
      if (rv == NNG_ECLOSED) return;
      if (rv != 0) {  // a connection that failed while being accepted: not ours to count
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      auto* s = static_cast<nng_stream*>(nng_aio_get_output(aio.get(), 0));
      std::lock_guard lk(self->mutex_);
      if (self->stopping_) {
        nng_stream_free(s);
        return;
      }
      self->reap_finished();
      if (self->handshaking_ >= max_handshaking) {  // a flood of silent connections
        nng_stream_free(s);
        self->refused("too many connections still in their handshake");
        continue;
      }
      std::unique_ptr<link_io> io;
      try {
        io = std::make_unique<link_io>(s, self->opts_.max_frame);
      } catch (...) {  // no aio or memory: refuse this one, rather than end the process
        nng_stream_free(s);
        self->refused("no resources for a new connection");
        continue;
      }
      try {
        peer& p = self->peers_.emplace_back();
        p.io = std::move(io);
        p.thread = std::thread(&listen_state::serve, self, std::ref(p));
        ++self->handshaking_;
      } catch (...) {
        if (!self->peers_.empty() && !self->peers_.back().thread.joinable()) self->peers_.pop_back();
        self->refused("no thread for a new connection");
      }
    }
  }

  // A connection we could not take on, counted lost (the caller holds mutex_).
  void refused(const char* why) {
    last_loss_ = why;
    ++lost_;
  }

  // Joins the threads of peers that are over (the caller holds mutex_).
  void reap_finished() {
    for (auto it = peers_.begin(); it != peers_.end();) {
      if (it->finished.load(std::memory_order_acquire)) {
        it->thread.join();
        it = peers_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // A handshaken peer takes one of options.peers places; false once they are all taken.
  bool admit() {
    std::lock_guard lk(mutex_);
    if (opts_.peers != 0 && admitted_ == opts_.peers) return false;
    ++admitted_;
    if (opts_.peers != 0 && admitted_ == opts_.peers) {
      nng_stream_listener_close(listener_);  // every place is taken: refuse the rest
    }
    return true;
  }

  // A peer is over: counted, and the channel closes when the last of options.peers is.
  void peer_ended(bool admitted, bool cleanly, std::string why) {
    bool last = false;
    {
      std::lock_guard lk(mutex_);
      if (!cleanly) last_loss_ = std::move(why);
      ++(cleanly ? closed_ : lost_);
      if (admitted) last = ++ended_ == opts_.peers;
    }
    if (last) values_.close();
  }

  static void serve(std::shared_ptr<listen_state> self, peer& p) {
    self->serve_peer(*p.io);
    p.io->close();
    p.finished.store(true, std::memory_order_release);
  }

  void serve_peer(link_io& io) {
    std::string why;
    const auto deadline = std::chrono::steady_clock::now() + opts_.connect_timeout;
    const bool hello = io.read_hello(deadline, why);
    {
      std::lock_guard lk(mutex_);
      --handshaking_;
    }
    if (!hello) {
      peer_ended(false, false, "a connection failed its handshake: " + why);
      return;
    }
    if (!admit()) {  // no hello back: its dial fails
      peer_ended(false, false, "a peer beyond options.peers was refused");
      return;
    }
    if (!io.send_hello(deadline, why)) return peer_ended(true, false, why);
    const auto heartbeat = opts_.heartbeat;
    auto now = [] { return std::chrono::steady_clock::now(); };
    auto last_heard = now(), last_sent = now();
    std::string out;
    // Sends a heartbeat if we have been quiet for `heartbeat` at `t`; false if it fails.
    auto keep_alive = [&](std::chrono::steady_clock::time_point t) {
      if (t - last_sent < heartbeat) return true;
      out.clear();
      append_control(out, frame_kind::heartbeat);
      last_sent = t;
      return io.send(out, to_nng(opts_.peer_timeout)) == 0;
    };
    std::uint64_t received = 0;
    frame f;
    for (;;) {
      const link_io::got g = io.next(f, to_nng(heartbeat), why);
      auto t = now();  // one clock read per frame: this loop runs once per value
      if (g == link_io::got::failed) return peer_ended(true, false, why);
      if (g == link_io::got::timeout) {
        if (t - last_heard >= opts_.peer_timeout) {
          return peer_ended(true, false, "the peer went silent");
        }
      } else if (g == link_io::got::partial) {
        last_heard = t;  // a big frame on its way: keep our heartbeats going meanwhile
      } else {
        last_heard = t;
        switch (f.kind) {
          case frame_kind::heartbeat: break;
          case frame_kind::data: {
            std::optional<T> value;
            try {
              value.emplace(codec<T>::decode(f.payload, f.size));
            } catch (const std::exception& e) {
              return peer_ended(true, false, std::string("a value did not decode: ") + e.what());
            }
            csp::status s = values_.try_send(std::move(*value));
            // rx is full: wait for room, heartbeating meanwhile, then listen again afresh.
            while (s == csp::status::full || s == csp::status::timeout) {
              s = values_.send_for(std::move(*value), heartbeat);
              t = now();
              if (s == csp::status::timeout && !keep_alive(t)) {
                return peer_ended(true, false, "a heartbeat failed to write");
              }
              last_heard = t;
            }
            if (s == csp::status::closed) return peer_ended(true, false, "the listener closed");
            ++received;
            break;
          }
          case frame_kind::fin: {
            if (f.count() != received) {
              return peer_ended(true, false, "the peer's fin counts " + std::to_string(f.count()) +
                                                 " values, " + std::to_string(received) + " came");
            }
            out.clear();
            append_control(out, frame_kind::ack, received);
            // If the ack cannot be written, the dialer learns of the failure from the stream.
            (void)io.send(out, to_nng(opts_.peer_timeout));
            return peer_ended(true, true, {});
          }
          default: return peer_ended(true, false, "the peer sent an unexpected frame");
        }
      }
      if (!keep_alive(t)) return peer_ended(true, false, "a heartbeat failed to write");
    }
  }

  const options opts_;
  nng_stream_listener* const listener_;
  const std::string url_;
  csp::sender<T> values_;
  std::thread acceptor_;

  mutable std::mutex mutex_;  // guards what follows
  std::list<peer> peers_;
  bool stopping_ = false;
  std::size_t admitted_ = 0, ended_ = 0;  // admitted: peers_connected()
  std::size_t closed_ = 0, lost_ = 0;
  std::size_t handshaking_ = 0;  // connections whose hello has not come yet
  std::string last_loss_;
};

}  // namespace csp::net::detail
