#pragma once
// csp::net::codec<T>: how a value of T becomes bytes on the wire and back. A customization
// point: specialize it for a type cereal cannot serialize, or to pick another encoding.
//
//   template <> struct csp::net::codec<my_type> {
//     static void encode(const my_type& v, std::string& out);     // append v's bytes to out
//     static my_type decode(const unsigned char* data, std::size_t size);  // or throw
//   };
//
// decode gets exactly the bytes one encode appended, or bytes from a hostile peer: it must
// throw (csp::net::decode_error, or any std::exception) rather than read out of bounds.
// Both run on csp::net's own threads, never under a channel lock.
//
// The default is cereal's portable binary archive: arithmetic types, std::string, the
// standard containers (include cereal/types/<container>.hpp, or use <csp/net.hpp>, which
// includes the common ones), and user types with a `serialize` member or free function.
// Decoding checks every length against the bytes that are there (detail/checked_archive.hpp).
// Numbers and std::string take a shortcut to the same bytes (detail/direct_codec.hpp).

#include <cstddef>
#include <ostream>
#include <streambuf>
#include <string>

#include <cereal/archives/portable_binary.hpp>

#include <csp/net/detail/checked_archive.hpp>
#include <csp/net/detail/direct_codec.hpp>
#include <csp/net/options.hpp>

namespace csp::net {

namespace detail {
// A streambuf that appends to a std::string: cereal writes through an ostream.
class string_sink : public std::streambuf {
 public:
  void target(std::string* out) noexcept { out_ = out; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) out_->push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }

 private:
  std::string* out_ = nullptr;
};

// One ostream per thread, pointed at each output in turn: constructing a std::ostream (its
// locale) cost 80% of encoding a short string. Nothing suspends while it is in use.
struct string_stream {
  string_sink sink;
  std::ostream os{&sink};
};
inline std::ostream& stream_into(std::string& out) {
  thread_local string_stream s;
  s.sink.target(&out);
  return s.os;
}
}  // namespace detail

namespace detail {
// The default codec through cereal: any type cereal can serialize.
template <class T>
struct cereal_codec {
  static void encode(const T& value, std::string& out) {
    cereal::PortableBinaryOutputArchive ar(stream_into(out));
    ar(value);
  }

  static T decode(const unsigned char* data, std::size_t size) {
    checked_input ar(data, size);
    T value{};
    ar(value);
    if (ar.remaining() != 0) {
      throw decode_error("csp::net: " + std::to_string(ar.remaining()) +
                         " bytes left over after a value");
    }
    return value;
  }
};
}  // namespace detail

template <class T>
struct codec {
  // Appends value's encoding to out. Throws what cereal throws.
  static void encode(const T& value, std::string& out) {
    if constexpr (detail::direct_codec<T>) {
      detail::encode_direct(value, out);
    } else {
      detail::cereal_codec<T>::encode(value, out);
    }
  }

  // The value encoded in [data, data + size). Throws csp::net::decode_error for bytes that
  // are not one whole value (cereal's own exceptions for a type's custom checks).
  static T decode(const unsigned char* data, std::size_t size) {
    if constexpr (detail::direct_codec<T>) {
      return detail::decode_direct<T>(data, size);
    } else {
      return detail::cereal_codec<T>::decode(data, size);
    }
  }
};

}  // namespace csp::net
