// libFuzzer target csp_fuzz_net_frames: bytes as a hostile csp::net peer would send them,
// fed to the listener's frame reader in chunks of a size the first byte picks (a stream
// delivers any split), and every data frame decoded with the default codec for three types.
// Nothing may crash, read out of bounds, or allocate beyond what the frame could hold
// (libFuzzer's -malloc_limit_mb turns a huge allocation into a failure). A value that
// decodes must come back unchanged from a round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <csp/net.hpp>

#include "net/net_value.hpp"

namespace {

constexpr std::size_t max_frame = 4096;

template <class T>
void decode_and_check(const unsigned char* data, std::size_t size) {
  T value;
  try {
    value = csp::net::codec<T>::decode(data, size);
  } catch (const std::exception&) {
    return;  // refused: what a listener does with such a frame (drops the peer)
  }
  // What decoded must survive a round trip unchanged (not byte for byte: the input may be
  // big-endian, or a map with a key twice).
  std::string again;
  csp::net::codec<T>::encode(value, again);
  const auto* p = reinterpret_cast<const unsigned char*>(again.data());
  if (!(csp::net::codec<T>::decode(p, again.size()) == value)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0];
  ++data, --size;
  csp::net::detail::frame_reader reader(max_frame);
  csp::net::detail::frame f;
  std::string why;
  std::size_t fed = 0;
  for (;;) {
    const auto got = reader.next(f, why);
    if (got == csp::net::detail::frame_reader::result::bad) break;
    if (got == csp::net::detail::frame_reader::result::frame) {
      if (f.size + 1 > max_frame) std::abort();
      switch (f.kind) {
        case csp::net::detail::frame_kind::data:
          decode_and_check<net_test::value>(f.payload, f.size);
          decode_and_check<std::vector<std::string>>(f.payload, f.size);
          decode_and_check<std::map<std::string, std::int32_t>>(f.payload, f.size);
          decode_and_check<std::string>(f.payload, f.size);  // the direct codec
          decode_and_check<std::uint64_t>(f.payload, f.size);
          break;
        case csp::net::detail::frame_kind::hello:
          (void)csp::net::detail::frame_reader::hello_ok(f);
          break;
        case csp::net::detail::frame_kind::fin:
        case csp::net::detail::frame_kind::ack: (void)f.count(); break;
        default: break;
      }
      continue;
    }
    if (fed == size) break;
    std::size_t room = 0;
    unsigned char* into = reader.prepare(room);
    const std::size_t n = std::min({room, chunk, size - fed});
    std::memcpy(into, data + fed, n);
    reader.commit(n);
    fed += n;
  }
  return 0;
}
