#pragma once
// link_io: frames over one stream, each way: the handshake, waiting for the next frame with
// a timeout, and writing. One thread reads and one writes at a time.

#include <nng/nng.h>

#include <cstddef>
#include <string>

#include <csp/net/detail/frame.hpp>
#include <csp/net/detail/stream.hpp>

namespace csp::net::detail {

class link_io {
 public:
  enum class got { frame, timeout, failed };

  link_io(nng_stream* s, std::size_t max_frame) : stream_(s), reader_(max_frame) {}

  // Waits up to `timeout` of silence for the next frame. failed: `why` says why (the stream
  // ended or broke, or the peer sent something that is not a frame).
  got next(frame& f, nng_duration timeout, std::string& why) {
    for (;;) {
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
        why = rv == NNG_ECONNSHUT || rv == NNG_ECLOSED ? "the connection ended"
                                                       : std::string("the connection broke: ") +
                                                             nng_strerror(rv);
        return got::failed;
      }
    }
  }

  // 0, or NNG's error.
  int send(const std::string& bytes, nng_duration timeout) {
    return stream_.write_all(bytes, timeout);
  }

  // Sends our hello and checks theirs within `timeout`. False with `why` otherwise.
  bool handshake(nng_duration timeout, std::string& why) {
    std::string hello;
    append_control(hello, frame_kind::hello);
    if (int rv = send(hello, timeout); rv != 0) {
      why = std::string("the handshake failed: ") + nng_strerror(rv);
      return false;
    }
    frame f;
    switch (next(f, timeout, why)) {
      case got::timeout: why = "no handshake from the peer"; return false;
      case got::failed: return false;
      case got::frame: break;
    }
    if (!frame_reader::hello_ok(f)) {
      why = "the peer is not a csp::net peer (bad hello)";
      return false;
    }
    return true;
  }

  // Aborts the read and write in progress; callable from any thread.
  void close() noexcept { stream_.close(); }

 private:
  stream stream_;
  frame_reader reader_;
};

}  // namespace csp::net::detail
