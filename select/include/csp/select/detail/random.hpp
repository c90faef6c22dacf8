#pragma once
// A small per-thread PRNG for select's poll order. Quality needs are modest (uniform choice
// among a few ready cases); speed matters, and so does not sharing state across threads.

#include <cstdint>
#include <random>

namespace csp::detail {

class select_rng {
 public:
  // Uniform in [0, bound); bound > 0. Lemire's multiply-shift, bias < 2^-32 for our sizes.
  static std::uint32_t below(std::uint32_t bound) noexcept {
    return static_cast<std::uint32_t>((std::uint64_t{next()} * bound) >> 32);
  }

 private:
  // Not inlined, and not const to the compiler (the asm): inlined into a loop of selects,
  // GCC could keep one thread's state address across a select that resumes the fiber on
  // another thread, and two threads would then share (and race on) one state.
  [[gnu::noinline]] static std::uint32_t next() noexcept {
    asm volatile("" ::: "memory");
    thread_local std::uint64_t state = seed();
    // xorshift64*: full period, passes the statistical tests that matter for this use.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<std::uint32_t>((state * 0x2545F4914F6CDD1DULL) >> 32);
  }
  static std::uint64_t seed() noexcept {
    std::random_device rd;
    std::uint64_t s = (std::uint64_t{rd()} << 32) ^ rd();
    return s ? s : 0x9E3779B97F4A7C15ULL;
  }
};

}  // namespace csp::detail
