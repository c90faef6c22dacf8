#pragma once
// A test-and-test-and-set lock for the short critical sections of channels.
//
// Why a spinlock is safe here: no code ever suspends a fiber while holding one, so a waiter
// never spins on a holder that runs on its own thread (that would deadlock). Holders on other
// threads finish within a few hundred instructions; after a short burst of spinning we yield
// the OS thread so that a preempted holder can run.

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace csp::detail {

// (Not named cpu_relax: Boost.Fiber defines a macro of that name.)
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class spinlock {
 public:
  void lock() noexcept {
    for (;;) {
      // acquire: everything the previous holder wrote before unlock() is visible to us.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      for (int spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
        if (spins < 64) {
          spin_pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }

  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }

  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace csp::detail
