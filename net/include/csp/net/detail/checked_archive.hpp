#pragma once
// checked_input: a cereal input archive that reads what cereal's PortableBinaryOutputArchive
// writes, from bytes that came off the network. It differs from cereal's own
// PortableBinaryInputArchive in two ways that matter for untrusted input:
//   * it reads from a byte span, so reading past the end is a decode_error, never a short
//     read into an uninitialised value;
//   * a size (of a string, vector, map...) larger than the bytes left is refused before
//     the container is resized: a 20-byte frame cannot make the receiver allocate 16 GB;
//     vectors grow element by element rather than trusting the size at all (other
//     sequence containers, std::deque and std::list, still resize first: prefer vectors);
//   * a bool that is neither 0 nor 1 is refused.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/cereal.hpp>

#include <csp/net/detail/direct_codec.hpp>
#include <csp/net/options.hpp>

namespace csp::net::detail {

class checked_input : public cereal::InputArchive<checked_input, cereal::AllowEmptyClassElision> {
 public:
  checked_input(const unsigned char* data, std::size_t size)
      : cereal::InputArchive<checked_input, cereal::AllowEmptyClassElision>(this),
        next_(data),
        end_(data + size) {
    // The portable archive's first byte says whether the writer was little-endian.
    std::uint8_t writer_little = 0;
    read(&writer_little, 1, 1);
    if (writer_little > 1) throw decode_error("csp::net: not a portable binary archive");
    swap_ = (writer_little == 1) != host_is_little();
  }

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - next_); }

  // Reads `size` bytes of elements `element_size` bytes wide, fixing their byte order.
  void read(void* out, std::size_t size, std::size_t element_size) {
    if (size > remaining()) {
      throw decode_error("csp::net: value truncated: " + std::to_string(size) +
                         " bytes wanted, " + std::to_string(remaining()) + " left");
    }
    std::memcpy(out, next_, size);
    next_ += size;
    if (swap_ && element_size > 1) {
      auto* p = static_cast<unsigned char*>(out);
      for (std::size_t i = 0; i + element_size <= size; i += element_size) {
        for (std::size_t a = i, b = i + element_size - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
      }
    }
  }

 private:
  const unsigned char* next_;
  const unsigned char* end_;
  bool swap_ = false;
};

}  // namespace csp::net::detail

namespace cereal {

template <class T>
  requires std::is_arithmetic_v<T>
void CEREAL_LOAD_FUNCTION_NAME(csp::net::detail::checked_input& ar, T& t) {
  ar.read(std::addressof(t), sizeof(T), sizeof(T));
}

// A bool is one byte on the wire, 0 or 1; anything else would be undefined behaviour to hold.
inline void CEREAL_LOAD_FUNCTION_NAME(csp::net::detail::checked_input& ar, bool& b) {
  std::uint8_t byte = 0;
  ar.read(&byte, 1, 1);
  if (byte > 1) throw csp::net::decode_error("csp::net: a bool that is neither 0 nor 1");
  b = byte == 1;
}

// Vectors grow as their elements decode, instead of cereal's resize to the announced size
// first: an element can be far larger in memory than on the wire, so resizing to a count
// that merely fits the frame could still ask for gigabytes.
template <class T, class A>
  requires(!std::is_same_v<T, bool>)
void CEREAL_LOAD_FUNCTION_NAME(csp::net::detail::checked_input& ar, std::vector<T, A>& v) {
  size_type n = 0;
  ar(make_size_tag(n));
  v.clear();
  if constexpr (std::is_arithmetic_v<T>) {
    if (n > ar.remaining() / sizeof(T)) {
      throw csp::net::decode_error("csp::net: a vector longer than the frame");
    }
    v.resize(static_cast<std::size_t>(n));
    ar(binary_data(v.data(), v.size() * sizeof(T)));
  } else {
    for (size_type i = 0; i < n; ++i) {
      T element{};
      ar(element);
      v.push_back(std::move(element));
    }
  }
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(csp::net::detail::checked_input& ar, BinaryData<T>& bd) {
  using element = std::remove_pointer_t<T>;
  ar.read(bd.data, static_cast<std::size_t>(bd.size), sizeof(element));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(csp::net::detail::checked_input& ar, SizeTag<T>& tag) {
  ar(tag.size);
  // Every element of a container takes at least one byte on the wire (for the types this
  // codec is meant for), so a larger count is a lie, and resizing to it would be the attack.
  if (static_cast<std::uint64_t>(tag.size) > ar.remaining()) {
    throw csp::net::decode_error("csp::net: a size of " + std::to_string(tag.size) +
                                 " exceeds the " + std::to_string(ar.remaining()) +
                                 " bytes left in the frame");
  }
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(csp::net::detail::checked_input& ar, NameValuePair<T>& nvp) {
  ar(nvp.value);
}

namespace traits::detail {
// save_minimal / load_minimal types ask which archive wrote what they read.
template <>
struct get_output_from_input<csp::net::detail::checked_input> {
  using type = PortableBinaryOutputArchive;
};
}  // namespace traits::detail

}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(csp::net::detail::checked_input)
