#pragma once
// dial_link<T>: the sending side of one csp::net link. The user holds the sender of an
// ordinary local channel (capacity options.capacity); two plain threads of the link's own
// do the rest:
//   * the pump receives from that channel, encodes, writes data frames (batched: what is
//     buffered goes out in one write), heartbeats when idle, and `fin` once the channel
//     closes;
//   * the reader reads the listener's heartbeats and its final `ack`.
// The sender's close() waits (sender_close_wait) until the ack, a failure or the linger.
// A failure (the stream breaks, the listener goes silent for peer_timeout, a value fails to
// encode or exceeds max_frame) closes the local channel, so the user's send returns false,
// and what was still buffered is dropped: what arrived is an in-order prefix of what was sent.
//
// Ownership: the link owns no channel handle (the channel owns the link, as its close
// wait); each thread holds the link and its own receiver until it ends.

#include <nng/nng.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <csp/channels/channels.hpp>
#include <csp/net/codec.hpp>
#include <csp/net/detail/link_io.hpp>
#include <csp/net/options.hpp>

namespace csp::net::detail {

// The outcome of connecting: 0 and "" on success, else NNG's error (0 for csp's own) and why.
using setup_result = std::pair<int, std::string>;

// Connects to `url`, retrying refused connections until `deadline`.
inline nng_stream* connect_stream(const std::string& url, std::chrono::steady_clock::time_point deadline,
                                  setup_result& failure) {
  nng_stream_dialer* d = nullptr;
  if (int rv = nng_stream_dialer_alloc(&d, url.c_str()); rv != 0) {
    failure = {rv, std::string("bad address: ") + nng_strerror(rv)};
    return nullptr;
  }
  (void)nng_stream_dialer_set_bool(d, NNG_OPT_TCP_NODELAY, true);  // not every transport has it
  aio_ptr aio = make_aio();
  nng_stream* s = nullptr;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      if (failure.second.empty()) failure = {NNG_ETIMEDOUT, "connect timed out"};
      break;
    }
    nng_aio_set_timeout(aio.get(), to_nng(left));
    nng_stream_dialer_dial(d, aio.get());
    nng_aio_wait(aio.get());
    const int rv = nng_aio_result(aio.get());
    if (rv == 0) {
      s = static_cast<nng_stream*>(nng_aio_get_output(aio.get(), 0));
      break;
    }
    failure = {rv, std::string("cannot connect: ") + nng_strerror(rv)};
    // Nothing listens yet (a listener process still starting): try again shortly.
    if (rv != NNG_ECONNREFUSED && rv != NNG_ENOENT) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  free_before_owner(aio);
  nng_stream_dialer_free(d);  // streams it made live on
  return s;
}

template <class T>
class dial_link final : public csp::detail::sender_close_wait {
 public:
  // `threads_done` is the receiving end of a channel whose senders only the link's two
  // threads hold (see run): it closes once both have ended.
  dial_link(const options& o, csp::receiver<int> threads_done)
      : opts_(o), threads_done_(std::move(threads_done)) {}

  // The sender closed: wait until the link's threads are over (after the ack, or a failure),
  // or the linger runs out. Waiting for the threads, not just the ack, means nothing of the
  // link still runs once close() has returned (think of exit() right after it).
  void wait() noexcept override {
    if (threads_done_.recv_for(opts_.linger).status() == csp::status::timeout) {
      fail("linger ran out before delivery");
    }
  }

  // How the link stands: open, delivered (the ack came) or failed, and why.
  link_report report() const {
    const link_state now = state_.load(std::memory_order_acquire);
    if (now != link_state::failed) return {now, {}};
    std::lock_guard lk(why_mutex_);  // fail() set why_ under it before we could see failed
    return {now, why_};
  }

  // The pump thread: connects, reports to dial() through `setup`, starts the reader, pumps.
  // `alive` (and the reader's copy) is dropped as each thread's last act.
  static void run(std::shared_ptr<dial_link> self, std::string url, csp::receiver<T> values,
                  csp::sender<setup_result> setup, csp::sender<int> alive) {
    const auto deadline = std::chrono::steady_clock::now() + self->opts_.connect_timeout;
    setup_result failure{0, {}};
    nng_stream* s = connect_stream(url, deadline, failure);
    if (s == nullptr) {
      setup.send(std::move(failure));
      return;
    }
    self->io_ = std::make_unique<link_io>(s, self->opts_.max_frame);
    std::string why;
    if (!self->io_->send_hello(deadline, why) || !self->io_->read_hello(deadline, why)) {
      setup.send(setup_result{0, std::move(why)});
      return;
    }
    std::thread(&dial_link::read_acks, self, values, alive).detach();
    setup.send(setup_result{0, {}});
    setup = {};
    self->pump(values);
    values = {};  // before `alive`: buffered values die before close() returns
    alive = {};
  }

 private:
  static constexpr std::size_t batch_bytes = 64 * 1024;

  bool failed() const noexcept {
    return state_.load(std::memory_order_acquire) == link_state::failed;
  }

  // The link ends once: open becomes failed or delivered, whichever comes first.
  bool end_as(link_state how) noexcept {
    link_state open = link_state::open;
    return state_.compare_exchange_strong(open, how, std::memory_order_acq_rel);
  }

  void fail(const std::string& why) noexcept {
    {
      std::lock_guard lk(why_mutex_);  // held across the change, for report()
      if (!end_as(link_state::failed)) return;
      why_ = why;
    }
    if (io_) io_->close();  // aborts the pump's write and the reader's read
  }

  void delivered() noexcept { end_as(link_state::delivered); }

  // Appends one data frame. On failure (the value does not encode, or exceeds max_frame)
  // leaves `out` as it was and returns why.
  std::string encode(const T& value, std::string& out) {
    const std::size_t at = begin_frame(out, frame_kind::data);
    std::string why;
    try {
      codec<T>::encode(value, out);
      if (out.size() - at - 4 > opts_.max_frame) {
        why = "a value of " + std::to_string(out.size() - at - frame_header) +
              " bytes exceeds max_frame";
      }
    } catch (const std::exception& e) {
      why = std::string("a value failed to encode: ") + e.what();
    }
    if (why.empty()) {
      end_frame(out, at);
    } else {
      out.resize(at);
    }
    return why;
  }

  void pump(csp::receiver<T>& values) {
    std::string batch, bad_value;
    std::uint64_t sent = 0;
    for (;;) {
      csp::result<T> r = values.recv_for(opts_.heartbeat);
      if (failed()) break;
      batch.clear();
      if (r.status() == csp::status::timeout) {
        append_control(batch, frame_kind::heartbeat);
      } else if (!r) {
        break;  // the user closed: fin below
      } else {
        // What is buffered goes out in one write; a value that cannot go fails the link
        // after the values before it are written.
        for (;;) {
          bad_value = encode(*r, batch);
          if (!bad_value.empty()) break;
          ++sent;
          if (batch.size() >= batch_bytes || !(r = values.try_recv())) break;
        }
      }
      if (int rv = io_->send(batch, NNG_DURATION_INFINITE); rv != 0) {
        fail(std::string("write failed: ") + nng_strerror(rv));
        break;
      }
      if (!bad_value.empty()) {
        fail(bad_value);
        break;
      }
    }
    if (failed()) {
      values.close();  // the user's sends fail from now on
      return;
    }
    batch.clear();
    append_control(batch, frame_kind::fin, sent);
    fin_count_.store(sent, std::memory_order_relaxed);
    fin_sent_.store(true, std::memory_order_release);  // before the write: the ack may follow at once
    // No timeout of its own: a slow listener may take a while to read up to the fin; the
    // reader's silence check and the close's linger bound the wait.
    if (int rv = io_->send(batch, NNG_DURATION_INFINITE); rv != 0) {
      fail(std::string("write failed: ") + nng_strerror(rv));
    }
  }

  // The reader thread: heartbeats until the ack; silence or a broken stream fails the link.
  static void read_acks(std::shared_ptr<dial_link> self, csp::receiver<T> values,
                        csp::sender<int> alive) {
    frame f;
    std::string why;
    for (;;) {
      const link_io::got g = self->io_->next(f, to_nng(self->opts_.peer_timeout), why);
      if (g == link_io::got::partial) continue;
      if (g == link_io::got::frame && f.kind == frame_kind::heartbeat) continue;
      if (g == link_io::got::frame && f.kind == frame_kind::ack &&
          self->fin_sent_.load(std::memory_order_acquire) &&
          f.count() == self->fin_count_.load(std::memory_order_relaxed)) {
        self->delivered();
        break;
      }
      if (g == link_io::got::timeout) why = "the listener went silent";
      if (g == link_io::got::frame) why = "the listener sent an unexpected frame";
      self->fail(why);
      values.close();
      break;
    }
    values = {};
    alive = {};
  }

  const options opts_;
  csp::receiver<int> threads_done_;
  std::unique_ptr<link_io> io_;  // set by the pump before dial() returns
  std::atomic<link_state> state_{link_state::open};  // open, then failed or delivered
  std::atomic<bool> fin_sent_{false};
  std::atomic<std::uint64_t> fin_count_{0};
  mutable std::mutex why_mutex_;
  std::string why_;  // why it failed
};

}  // namespace csp::net::detail
