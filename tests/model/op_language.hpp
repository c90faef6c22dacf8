#pragma once
// The operation language of the model test and the fuzzer: a program is a few channels
// (flavor and capacity) and a sequence of operations on them. Both the Catch2 model test
// (random bytes from a seed) and the libFuzzer target (the fuzzer's bytes) turn bytes into
// a program with decode(), so every byte string is a valid program and both drive exactly
// the same interpreter (interpreter.hpp).
//
// The driver keeps, per channel, three sender and three receiver handle slots; slot 0 of
// each end starts with the handles make_channel returned, the others empty. Operations name
// a channel and a slot; an empty slot is a legal target (a plain operation must throw
// csp::empty_handle, a select case on it is never ready).

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace csp_model {

inline constexpr std::size_t max_channels = 3;
inline constexpr std::size_t slots_per_end = 3;
inline constexpr std::size_t max_select_slots = 3;

enum class flavor : std::uint8_t { rendezvous, bounded, unbounded, oneshot };

struct channel_spec {
  flavor kind = flavor::bounded;
  std::uint8_t capacity = 1;  // bounded only: 1..4
};

enum class side : std::uint8_t { tx, rx };

// How long a timed operation (or a select's timeout case) waits. zero and negative have
// expired before the operation starts; forever never expires within a run; brief (1 ms) is
// only ever left to expire while the driver waits for it and nothing else happens, so
// every outcome is decided without a wall-clock race.
enum class wait : std::uint8_t { zero, negative, forever, brief };

enum class op_kind : std::uint8_t {
  send,      // blocking send, on a fiber of its own
  try_send,  // on the driver
  send_for,  // on the driver if the timeout has expired, else on a fiber
  recv,
  try_recv,
  recv_for,
  close,     // from either end
  copy,      // slot2 = copy of slot (of the same end)
  drop,      // slot = empty handle
  drop_all,  // every slot of one end
  renew,     // drop every handle of the channel and make a fresh one of renew_spec
  select,
};

enum class case_mode : std::uint8_t { recv, send, off };

// One select slot: a receive case and a send case, of which the mode enables at most one;
// the other is given an empty handle (never ready). Select case numbering: receive cases
// 0..n-1, send cases n..2n-1, then the timeout case (if any), then the default (if any).
struct case_spec {
  case_mode mode = case_mode::off;
  std::uint8_t channel = 0;
  std::uint8_t slot = 0;
};

struct op {
  op_kind kind = op_kind::try_recv;
  std::uint8_t channel = 0;
  std::uint8_t slot = 0;
  std::uint8_t slot2 = 0;
  side end = side::tx;
  wait timeout = wait::zero;  // timed ops; a select's timeout case
  channel_spec renew_spec{};
  std::uint8_t ncases = 0;  // select: 1..max_select_slots
  std::array<case_spec, max_select_slots> cases{};
  bool has_timeout = false;
  bool has_default = false;
  bool dynamic = false;  // run the select as a csp::selector (same cases, same numbering)
};

struct program {
  std::vector<channel_spec> channels;
  std::vector<op> ops;
};

namespace detail {

class byte_reader {
 public:
  explicit byte_reader(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}
  bool done() const noexcept { return pos_ >= bytes_.size(); }
  // Past the end every byte reads as 0, so any prefix is a complete program.
  std::uint8_t next() noexcept { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

inline channel_spec decode_spec(std::uint8_t b) noexcept {
  return {static_cast<flavor>(b % 4), static_cast<std::uint8_t>(1 + (b / 4) % 4)};
}

// Mostly expired timeouts (cheap); brief ones cost the driver about a millisecond each.
inline wait decode_wait(std::uint8_t b) noexcept {
  const unsigned v = b % 16u;
  if (v < 6) return wait::zero;
  if (v < 9) return wait::negative;
  if (v < 15) return wait::forever;
  return wait::brief;
}

}  // namespace detail

inline program decode(std::span<const std::uint8_t> bytes) {
  detail::byte_reader in(bytes);
  program p;
  const std::size_t n = 1 + in.next() % max_channels;
  for (std::size_t i = 0; i < n; ++i) p.channels.push_back(detail::decode_spec(in.next()));
  const auto channel = [&] { return static_cast<std::uint8_t>(in.next() % n); };
  const auto slot = [&] { return static_cast<std::uint8_t>(in.next() % slots_per_end); };
  while (!in.done()) {
    op o;
    // The weights: selects and the four plain transfers dominate; handle juggling and
    // renewals are rarer, so channels live long enough to fill and drain.
    static constexpr op_kind table[32] = {
        op_kind::send,     op_kind::send,     op_kind::send,     op_kind::send,
        op_kind::try_send, op_kind::try_send, op_kind::try_send, op_kind::send_for,
        op_kind::send_for, op_kind::recv,     op_kind::recv,     op_kind::recv,
        op_kind::recv,     op_kind::try_recv, op_kind::try_recv, op_kind::recv_for,
        op_kind::recv_for, op_kind::close,    op_kind::copy,     op_kind::copy,
        op_kind::drop,     op_kind::drop_all, op_kind::renew,    op_kind::renew,
        op_kind::select,   op_kind::select,   op_kind::select,   op_kind::select,
        op_kind::select,   op_kind::select,   op_kind::select,   op_kind::select};
    o.kind = table[in.next() % 32];
    switch (o.kind) {
      case op_kind::send:
      case op_kind::try_send:
      case op_kind::recv:
      case op_kind::try_recv:
        o.channel = channel();
        o.slot = slot();
        break;
      case op_kind::send_for:
      case op_kind::recv_for:
        o.channel = channel();
        o.slot = slot();
        o.timeout = detail::decode_wait(in.next());
        break;
      case op_kind::close:
      case op_kind::drop:
        o.channel = channel();
        o.end = in.next() % 2 ? side::rx : side::tx;
        o.slot = slot();
        break;
      case op_kind::copy:
        o.channel = channel();
        o.end = in.next() % 2 ? side::rx : side::tx;
        o.slot = slot();
        o.slot2 = slot();
        break;
      case op_kind::drop_all:
        o.channel = channel();
        o.end = in.next() % 2 ? side::rx : side::tx;
        break;
      case op_kind::renew:
        o.channel = channel();
        o.renew_spec = detail::decode_spec(in.next());
        break;
      case op_kind::select: {
        const std::uint8_t shape = in.next();
        o.ncases = static_cast<std::uint8_t>(1 + shape % max_select_slots);
        o.has_default = (shape / 3) % 4 == 0;
        o.has_timeout = (shape / 12) % 2 == 1;
        o.dynamic = (shape / 24) % 2 == 1;
        if (o.has_timeout) o.timeout = detail::decode_wait(in.next());
        for (std::size_t k = 0; k < o.ncases; ++k) {
          const unsigned m = in.next() % 8u;
          o.cases[k].mode = m < 4 ? case_mode::recv : m < 7 ? case_mode::send : case_mode::off;
          o.cases[k].channel = channel();
          o.cases[k].slot = slot();
        }
        break;
      }
    }
    p.ops.push_back(o);
  }
  return p;
}

// The bytes of a random program of about `ops` operations.
inline std::vector<std::uint8_t> random_bytes(std::uint64_t seed, std::size_t ops) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> bytes(1 + max_channels + ops * 4);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  return bytes;
}

// ---- printing, for failure reports

inline std::string to_string(const channel_spec& s) {
  switch (s.kind) {
    case flavor::rendezvous: return "rendezvous";
    case flavor::bounded: return "bounded(" + std::to_string(s.capacity) + ")";
    case flavor::unbounded: return "unbounded";
    case flavor::oneshot: return "oneshot";
  }
  return "?";
}

inline const char* to_string(wait w) noexcept {
  switch (w) {
    case wait::zero: return "0ms";
    case wait::negative: return "-5ms";
    case wait::forever: return "milliseconds::max()";
    case wait::brief: return "1ms, left to expire";
  }
  return "?";
}

inline std::string handle_name(std::size_t channel, side end, std::size_t slot) {
  return "c" + std::to_string(channel) + (end == side::tx ? ".tx[" : ".rx[") +
         std::to_string(slot) + "]";
}

inline std::string to_string(const op& o) {
  const auto tx = [&] { return handle_name(o.channel, side::tx, o.slot); };
  const auto rx = [&] { return handle_name(o.channel, side::rx, o.slot); };
  switch (o.kind) {
    case op_kind::send: return tx() + ".send(v)";
    case op_kind::try_send: return tx() + ".try_send(v)";
    case op_kind::send_for: return tx() + ".send_for(v, " + to_string(o.timeout) + ")";
    case op_kind::recv: return rx() + ".recv()";
    case op_kind::try_recv: return rx() + ".try_recv()";
    case op_kind::recv_for: return rx() + ".recv_for(" + std::string(to_string(o.timeout)) + ")";
    case op_kind::close: return handle_name(o.channel, o.end, o.slot) + ".close()";
    case op_kind::copy:
      return handle_name(o.channel, o.end, o.slot2) + " = " + handle_name(o.channel, o.end, o.slot);
    case op_kind::drop: return handle_name(o.channel, o.end, o.slot) + " = {}";
    case op_kind::drop_all:
      return std::string("drop every ") + (o.end == side::tx ? "sender" : "receiver") + " of c" +
             std::to_string(o.channel);
    case op_kind::renew:
      return "c" + std::to_string(o.channel) + " = new " + to_string(o.renew_spec);
    case op_kind::select: {
      std::string s = o.dynamic ? "selector(" : "select(";
      for (std::size_t k = 0; k < o.ncases; ++k) {
        const case_spec& c = o.cases[k];
        if (k) s += ", ";
        switch (c.mode) {
          case case_mode::recv: s += "on_recv(" + handle_name(c.channel, side::rx, c.slot) + ")"; break;
          case case_mode::send: s += "on_send(" + handle_name(c.channel, side::tx, c.slot) + ")"; break;
          case case_mode::off: s += "off"; break;
        }
      }
      if (o.has_timeout) s += std::string(", on_timeout(") + to_string(o.timeout) + ")";
      if (o.has_default) s += ", otherwise";
      return s + ")";
    }
  }
  return "?";
}

inline std::string to_string(const program& p) {
  std::string s = "channels:";
  for (std::size_t i = 0; i < p.channels.size(); ++i) {
    s += " c" + std::to_string(i) + "=" + to_string(p.channels[i]);
  }
  s += "\n";
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    s += "  #" + std::to_string(i) + " " + to_string(p.ops[i]) + "\n";
  }
  return s;
}

}  // namespace csp_model
