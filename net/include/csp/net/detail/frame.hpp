#pragma once
// The frames of a csp::net link, over one NNG byte stream (TCP, IPC, TLS).
//
//   frame := length:u32-le  kind:u8  payload[length - 1]
//
//   hello      "csp-net" version:u8   first frame each way; a peer that starts otherwise
//                                     is not a csp::net peer
//   data       one encoded value      dialer -> listener
//   heartbeat  (empty)                either way, after `heartbeat` of silence
//   fin        count:u64-le           dialer -> listener: the sender closed after `count` values
//   ack        count:u64-le           listener -> dialer: all `count` values were received
//
// frame_reader cuts frames out of whatever the stream delivers and refuses, before any
// allocation, a length above max_frame, an unknown kind or a malformed control frame.
// It is the whole of what a remote peer's bytes reach before the codec; a libFuzzer target
// drives it (tests/fuzz/fuzz_net_frames.cpp).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace csp::net::detail {

enum class frame_kind : unsigned char { hello = 1, data = 2, heartbeat = 3, fin = 4, ack = 5 };

inline constexpr char hello_magic[] = "csp-net";  // 7 bytes, then the version
inline constexpr unsigned char protocol_version = 1;
inline constexpr std::size_t frame_header = 5;    // length + kind
inline constexpr std::size_t hello_frame = 1 + sizeof hello_magic;  // kind + magic + version

inline void put_u32(unsigned char* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline std::uint32_t get_u32(const unsigned char* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t get_u64(const unsigned char* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Appends a frame header; the length is patched by end_frame once the payload is there.
inline std::size_t begin_frame(std::string& out, frame_kind kind) {
  const std::size_t at = out.size();
  out.append(4, '\0');
  out.push_back(static_cast<char>(kind));
  return at;
}
inline void end_frame(std::string& out, std::size_t at) {
  put_u32(reinterpret_cast<unsigned char*>(out.data() + at),
          static_cast<std::uint32_t>(out.size() - at - 4));
}

inline void append_control(std::string& out, frame_kind kind, std::uint64_t count = 0) {
  const std::size_t at = begin_frame(out, kind);
  if (kind == frame_kind::hello) {
    out.append(hello_magic, sizeof hello_magic - 1);
    out.push_back(static_cast<char>(protocol_version));
  } else if (kind == frame_kind::fin || kind == frame_kind::ack) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(count >> (8 * i)));
  }
  end_frame(out, at);
}

struct frame {
  frame_kind kind{};
  const unsigned char* payload = nullptr;  // valid until the reader's next prepare()
  std::size_t size = 0;
  std::uint64_t count() const noexcept { return get_u64(payload); }  // fin, ack
};

class frame_reader {
 public:
  enum class result { frame, need_more, bad };

  explicit frame_reader(std::size_t max_frame) : max_frame_(max_frame) {}

  // The largest frame accepted from now on (a hello's size until the handshake is done, so
  // a stranger cannot make us buffer max_frame bytes before saying who it is).
  void limit(std::size_t max_frame) noexcept { max_frame_ = max_frame; }

  // Room for at least one read of up to `chunk` bytes; fill some, then commit() them.
  unsigned char* prepare(std::size_t& room) {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0 && buf_.size() - end_ < chunk) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < chunk) buf_.resize(end_ + chunk);
    room = buf_.size() - end_;
    return buf_.data() + end_;
  }
  void commit(std::size_t n) noexcept { end_ += n; }

  // The next whole frame, need_more, or bad (then `why` says what was wrong; the stream
  // is beyond repair, since a frame boundary can no longer be trusted).
  result next(frame& f, std::string& why) {
    const std::size_t have = end_ - begin_;
    if (have < frame_header) return result::need_more;  // the kind byte too: a read may end anywhere
    const unsigned char* p = buf_.data() + begin_;
    const std::uint32_t length = get_u32(p);
    if (length == 0) return bad(why, "an empty frame");
    if (length > max_frame_) {
      return bad(why, "a frame of " + std::to_string(length) + " bytes, above max_frame " +
                          std::to_string(max_frame_));
    }
    const auto kind = static_cast<frame_kind>(p[4]);
    const std::size_t payload = length - 1;
    switch (kind) {
      case frame_kind::hello:
        if (payload != sizeof hello_magic) return bad(why, "a malformed hello");
        break;
      case frame_kind::heartbeat:
        if (payload != 0) return bad(why, "a malformed heartbeat");
        break;
      case frame_kind::fin:
      case frame_kind::ack:
        if (payload != 8) return bad(why, "a malformed fin or ack");
        break;
      case frame_kind::data: break;
      default: return bad(why, "an unknown frame kind " + std::to_string(p[4]));
    }
    if (have < 4 + std::size_t{length}) return result::need_more;
    f.kind = kind;
    f.payload = p + frame_header;
    f.size = payload;
    begin_ += 4 + std::size_t{length};
    return result::frame;
  }

  // True for a hello of our magic and version.
  static bool hello_ok(const frame& f) noexcept {
    return f.kind == frame_kind::hello &&
           std::memcmp(f.payload, hello_magic, sizeof hello_magic - 1) == 0 &&
           f.payload[sizeof hello_magic - 1] == protocol_version;
  }

 private:
  static constexpr std::size_t chunk = 64 * 1024;

  static result bad(std::string& why, std::string what) {
    why = "the peer sent " + std::move(what);
    return result::bad;
  }

  std::size_t max_frame_;
  std::vector<unsigned char> buf_;
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace csp::net::detail
