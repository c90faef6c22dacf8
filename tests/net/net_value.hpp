#pragma once
// The value the csp::net tests send: which peer, its sequence number, and a payload whose
// bytes are a function of both, so a corrupted, reordered or duplicated value shows.

#include <cstdint>
#include <string>

#include <csp/net.hpp>

namespace net_test {

struct value {
  int peer = 0;
  std::uint64_t seq = 0;
  std::string payload;
  template <class Archive>
  void serialize(Archive& a) {
    a(peer, seq, payload);
  }
  friend bool operator==(const value&, const value&) = default;
};

inline char payload_byte(const value& v, std::size_t i) {
  return static_cast<char>('a' + (v.seq * 31 + static_cast<std::uint64_t>(v.peer) * 7 + i) % 26);
}

inline value make_value(int peer, std::uint64_t seq, std::size_t bytes) {
  value v{peer, seq, {}};
  v.payload.resize(bytes);
  for (std::size_t i = 0; i < bytes; ++i) v.payload[i] = payload_byte(v, i);
  return v;
}

inline bool payload_ok(const value& v) {
  for (std::size_t i = 0; i < v.payload.size(); ++i) {
    if (v.payload[i] != payload_byte(v, i)) return false;
  }
  return true;
}

}  // namespace net_test
