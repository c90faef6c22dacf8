#pragma once
// Value types that let a test see what a channel does with its values:
//
//   counted            copyable, movable, not default-constructible
//   move_only          movable only, not default-constructible
//   throwing           copyable and movable, and either may be made to throw on demand
//   move_only_throwing movable only, and its move may be made to throw on demand
//
// Every instance is counted (constructions, destructions, live instances) in one global,
// thread-safe tally, and carries a tag that its destructor checks and overwrites, so a
// destruction of an object that is not alive (a double destroy, or destroying raw memory)
// is counted as `bad_destroys` instead of passing silently.
//
// Throwing on demand, two ways:
//   * per object: x.throw_on_move(n) / x.throw_on_copy(n) make the next n attempts to move
//     (copy) *from x* throw. The arming is not carried over to copies: it marks exactly the
//     object still in the caller's hands, whoever tries to move it.
//   * globally: arm_move_throws(k) makes the k-th next move of any throwing object (on any
//     thread) throw, for values that are already inside a channel. Only deterministic when
//     one process runs.

#include <atomic>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <type_traits>

namespace csp_test {

struct instance_counts {
  std::atomic<long> live{0};
  std::atomic<long> constructed{0};
  std::atomic<long> destroyed{0};
  std::atomic<long> bad_destroys{0};  // destructor ran on an object that was not alive
  std::atomic<long> dead_uses{0};     // copied or moved from an object that was not alive
  std::atomic<long> moves_thrown{0};  // moves that threw on demand
  std::atomic<long> copies_thrown{0};
  std::atomic<long> global_move_countdown{0};  // > 0: the move that brings it to 0 throws
};

inline instance_counts& counts() noexcept {
  static instance_counts c;
  return c;
}

// Call at the start of a test; no counted object may be alive then.
inline void reset_counts() noexcept {
  auto& c = counts();
  c.live = 0;
  c.constructed = 0;
  c.destroyed = 0;
  c.bad_destroys = 0;
  c.dead_uses = 0;
  c.moves_thrown = 0;
  c.copies_thrown = 0;
  c.global_move_countdown = 0;
}

// The k-th next move of any throwing object throws (k >= 1). 0 disarms.
inline void arm_move_throws(long k) noexcept { counts().global_move_countdown = k; }

struct move_error : std::runtime_error {
  move_error() : std::runtime_error("csp_test: move threw on demand") {}
};
struct copy_error : std::runtime_error {
  copy_error() : std::runtime_error("csp_test: copy threw on demand") {}
};

template <bool Copyable, bool CanThrow>
class basic_counted {
 public:
  // Not default-constructible on purpose: channels must never need T().
  explicit basic_counted(int id, int aux = 0) noexcept : id_(id), aux_(aux) { born(); }

  basic_counted(const basic_counted& other) noexcept(!CanThrow)
    requires Copyable
      : id_(other.id_), aux_(other.aux_) {
    other.check_alive();
    if constexpr (CanThrow) {
      if (other.copy_throws_left_ > 0) {
        --other.copy_throws_left_;
        counts().copies_thrown.fetch_add(1);
        throw copy_error();
      }
    }
    born();
  }

  basic_counted(basic_counted&& other) noexcept(!CanThrow) : id_(other.id_), aux_(other.aux_) {
    other.check_alive();
    if constexpr (CanThrow) {
      bool fire = false;
      if (other.move_throws_left_ > 0) {
        --other.move_throws_left_;
        fire = true;
      }
      // The global countdown counts every move attempt; the one that reaches 0 throws.
      long left = counts().global_move_countdown.load();
      while (left > 0 && !counts().global_move_countdown.compare_exchange_weak(left, left - 1)) {
      }
      if (left == 1) fire = true;
      if (fire) {
        counts().moves_thrown.fetch_add(1);
        throw move_error();
      }
    }
    other.id_ = moved_from_id;
    born();
  }

  basic_counted& operator=(const basic_counted& other)
    requires Copyable
  {
    basic_counted copy(other);
    *this = std::move(copy);
    return *this;
  }

  basic_counted& operator=(basic_counted&& other) noexcept(!CanThrow) {
    check_alive();
    other.check_alive();
    if constexpr (CanThrow) {
      if (other.move_throws_left_ > 0) {
        --other.move_throws_left_;
        counts().moves_thrown.fetch_add(1);
        throw move_error();
      }
    }
    id_ = other.id_;
    aux_ = other.aux_;
    if (this != &other) other.id_ = moved_from_id;
    return *this;
  }

  ~basic_counted() {
    if (tag_ != alive_tag) {
      counts().bad_destroys.fetch_add(1);
      return;
    }
    tag_ = dead_tag;
    counts().live.fetch_sub(1);
    counts().destroyed.fetch_add(1);
  }

  int id() const noexcept { return id_; }
  int aux() const noexcept { return aux_; }
  bool moved_from() const noexcept { return id_ == moved_from_id; }
  bool alive() const noexcept { return tag_ == alive_tag; }

  // The next n attempts to move (copy) from this very object throw.
  void throw_on_move(int n = 1) noexcept
    requires CanThrow
  {
    move_throws_left_ = n;
  }
  void throw_on_copy(int n = 1) noexcept
    requires(CanThrow && Copyable)
  {
    copy_throws_left_ = n;
  }

  friend bool operator==(const basic_counted& a, const basic_counted& b) noexcept {
    return a.id_ == b.id_ && a.aux_ == b.aux_;
  }
  friend std::ostream& operator<<(std::ostream& os, const basic_counted& v) {
    return os << "counted{" << v.id_ << ", " << v.aux_ << "}";
  }

  static constexpr int moved_from_id = -1;

 private:
  static constexpr std::uint32_t alive_tag = 0xA11CE5EDu;
  static constexpr std::uint32_t dead_tag = 0xDEADBEEFu;

  void born() noexcept {
    tag_ = alive_tag;
    counts().live.fetch_add(1);
    counts().constructed.fetch_add(1);
  }
  void check_alive() const noexcept {
    if (tag_ != alive_tag) counts().dead_uses.fetch_add(1);
  }

  std::uint32_t tag_ = 0;
  int id_;
  int aux_;
  mutable int copy_throws_left_ = 0;
  int move_throws_left_ = 0;
};

using counted = basic_counted<true, false>;
using move_only = basic_counted<false, false>;
using throwing = basic_counted<true, true>;
using move_only_throwing = basic_counted<false, true>;

static_assert(!std::is_default_constructible_v<counted>);
static_assert(!std::is_default_constructible_v<move_only>);
static_assert(!std::is_copy_constructible_v<move_only>);
static_assert(std::is_nothrow_move_constructible_v<counted>);
static_assert(!std::is_nothrow_move_constructible_v<throwing>);
static_assert(!std::is_copy_constructible_v<move_only_throwing>);

// Reads the tally as one snapshot-ish value (each field atomically) for assertions.
struct count_snapshot {
  long live, constructed, destroyed, bad_destroys, dead_uses;
};
inline count_snapshot snapshot() noexcept {
  auto& c = counts();
  return {c.live.load(), c.constructed.load(), c.destroyed.load(), c.bad_destroys.load(),
          c.dead_uses.load()};
}

}  // namespace csp_test
