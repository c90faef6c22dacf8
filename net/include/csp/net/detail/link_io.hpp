#pragma once
// link_io: frames over one stream, each way: the handshake, waiting for the next frame with
// a timeout, and writing. One thread reads and one writes at a time.

#include <nng/nng.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>

#include <csp/net/detail/frame.hpp>
#include <csp/net/detail/stream.hpp>

namespace csp::net::detail {

class link_io {
 public:
  // partial: bytes came, but not yet a whole frame (a big one trickling in): the caller
  // may keep its heartbeats going, then call next() again.
  enum class got { frame, partial, timeout, failed };

  link_io(nng_stream* s, std::size_t max_frame)
      : stream_(s), reader_(hello_frame), max_frame_(max_frame) {}

  // Waits up to `timeout` of silence for the next frame. failed: `why` says why (the stream
  // ended or broke, or the peer sent something that is not a frame).
  got next(frame& f, nng_duration timeout, std::string& why) {
    switch (reader_.next(f, why)) {
      case frame_reader::result::frame: return got::frame;
      case frame_reader::result::bad: return got::failed;
      case frame_reader::result::need_more: break;
    }
    std::size_t room = 0, n = 0;
    unsigned char* into = reader_.prepare(room);
    const int rv = stream_.read_some(into, room, n, timeout);
    reader_.commit(n);
    if (rv == NNG_ETIMEDOUT && n == 0) return got::timeout;
    if (rv != 0 && rv != NNG_ETIMEDOUT) {
      why = rv == NNG_ECONNSHUT || rv == NNG_ECLOSED
                ? "the connection ended"
                : std::string("the connection broke: ") + nng_strerror(rv);
      return got::failed;
    }
    switch (reader_.next(f, why)) {
      case frame_reader::result::frame: return got::frame;
      case frame_reader::result::bad: return got::failed;
      case frame_reader::result::need_more: return got::partial;
    }
    return got::failed;  // not reached
  }

  // next(), until a whole frame, failure, or `deadline`.
  got next_by(frame& f, std::chrono::steady_clock::time_point deadline, std::string& why) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return got::timeout;
      const got g = next(f, to_nng(left), why);
      if (g != got::partial) return g;
    }
  }

  // 0, or NNG's error.
  int send(const std::string& bytes, nng_duration timeout) {
    return stream_.write_all(bytes, timeout);
  }

  // The handshake, in two halves so that a listener can decide on a peer between them:
  // a dialer sends its hello, then reads; a listener reads, admits the peer, then answers
  // (a refused dialer's dial then fails instead of succeeding on a link about to break).

  // Checks the peer's hello by `deadline` (however slowly its bytes come). Until then no
  // frame above a hello's size is accepted. False with `why` otherwise.
  bool read_hello(std::chrono::steady_clock::time_point deadline, std::string& why) {
    frame f;
    switch (next_by(f, deadline, why)) {
      case got::timeout: why = "no handshake from the peer in time"; return false;
      case got::failed: return false;
      case got::frame:
      case got::partial: break;
    }
    if (!frame_reader::hello_ok(f)) {
      why = "the peer is not a csp::net peer (bad hello)";
      return false;
    }
    reader_.limit(max_frame_);
    return true;
  }

  // Sends our hello, by `deadline`. False with `why` otherwise.
  bool send_hello(std::chrono::steady_clock::time_point deadline, std::string& why) {
    std::string hello;
    append_control(hello, frame_kind::hello);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (int rv = send(hello, to_nng(std::max(left, std::chrono::milliseconds(1)))); rv != 0) {
      why = std::string("the handshake failed: ") + nng_strerror(rv);
      return false;
    }
    return true;
  }

  // Aborts the read and write in progress; callable from any thread.
  void close() noexcept { stream_.close(); }

 private:
  stream stream_;
  frame_reader reader_;
  std::size_t max_frame_;
};

}  // namespace csp::net::detail
