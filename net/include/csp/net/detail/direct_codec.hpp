#pragma once
// The bytes cereal's portable binary archive writes for a number or a std::string, written
// and read directly: the same bytes (a test checks), without building an archive per value,
// which cost more than everything else in encoding a short string. codec<T> uses it for
// these types and cereal for the rest.
//
//   number:  little:u8  value (sizeof(T) bytes, in the writer's byte order)
//   string:  little:u8  size:u64  bytes          little: 1 if the writer is little-endian

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include <csp/net/options.hpp>

namespace csp::net::detail {

template <class T>
inline constexpr bool direct_codec =
    (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) || std::is_same_v<T, std::string>;

inline bool host_is_little() noexcept {
  const std::uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

template <class N>
void append_raw(std::string& out, N n) {
  char bytes[sizeof(N)];
  std::memcpy(bytes, &n, sizeof(N));
  out.append(bytes, sizeof(N));
}

template <class N>
N read_raw(const unsigned char* p, bool swap) noexcept {
  unsigned char bytes[sizeof(N)];
  std::memcpy(bytes, p, sizeof(N));
  if (swap) {
    for (std::size_t a = 0, b = sizeof(N) - 1; a < b; ++a, --b) std::swap(bytes[a], bytes[b]);
  }
  N n;
  std::memcpy(&n, bytes, sizeof(N));
  return n;
}

template <class T>
void encode_direct(const T& value, std::string& out) {
  out.push_back(host_is_little() ? '\1' : '\0');
  if constexpr (std::is_same_v<T, std::string>) {
    append_raw(out, static_cast<std::uint64_t>(value.size()));
    out += value;
  } else {
    append_raw(out, value);
  }
}

template <class T>
T decode_direct(const unsigned char* data, std::size_t size) {
  auto fail = [](const char* why) -> T { throw decode_error(std::string("csp::net: ") + why); };
  if (size == 0 || data[0] > 1) return fail("not a portable binary archive");
  const bool swap = (data[0] == 1) != host_is_little();
  ++data, --size;
  if constexpr (std::is_same_v<T, std::string>) {
    if (size < 8) return fail("a string without its size");
    const std::uint64_t n = read_raw<std::uint64_t>(data, swap);
    if (n != size - 8) return fail("a string whose size does not match its frame");
    return std::string(reinterpret_cast<const char*>(data + 8), static_cast<std::size_t>(n));
  } else {
    if (size != sizeof(T)) return fail("a number of the wrong size");
    return read_raw<T>(data, swap);
  }
}

}  // namespace csp::net::detail
