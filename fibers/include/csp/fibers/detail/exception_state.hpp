#pragma once
// csp::detail::exception_state_guard: keeps the exceptions a fiber is handling with the
// fiber, across a switch to other fibers and to whatever thread resumes it.
//
// The C++ runtime keeps them per thread (Itanium C++ ABI, __cxa_get_globals(): the stack of
// caught exceptions that `throw;` and std::current_exception read, and the count that
// std::uncaught_exceptions reports). A fiber that suspends inside a catch block, or in a
// destructor run while an exception unwinds its stack, would otherwise leave that state on
// the old thread (where other fibers push and pop on top of it) and find the new thread's,
// usually none, when it resumes: `throw;` then calls std::terminate.
//
// Every place where csp suspends a fiber holds one guard around the switch: the
// constructor moves the thread's state into the guard and leaves the thread with none (so
// the fibers that run meanwhile start clean); the destructor, on the resuming thread, gives
// it back. Folly's fibers carry the same two fields per fiber.
//
// Supported where the C++ runtime follows the Itanium ABI (libstdc++, libc++abi,
// libcxxrt); elsewhere the guard does nothing.

#include <cstring>
#include <exception>

#if (defined(__GLIBCXX__) || defined(_LIBCPP_VERSION)) && !defined(_MSC_VER) && \
    __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define CSP_DETAIL_HAS_CXA_EH_GLOBALS 1
#else
#define CSP_DETAIL_HAS_CXA_EH_GLOBALS 0
#endif

namespace csp::detail {

#if CSP_DETAIL_HAS_CXA_EH_GLOBALS

// The leading fields of __cxa_eh_globals, which the ABI headers leave opaque. Every runtime
// named above starts it with these; the ARM EHABI unwinder appends one more.
struct eh_state {
  void* caught_exceptions = nullptr;  // __cxa_exception*: innermost active handler first
  unsigned int uncaught_exceptions = 0;
#if defined(__ARM_EABI_UNWINDER__)
  void* propagating_exceptions = nullptr;
#endif
};

// The calling thread's record. The ABI declares __cxa_get_globals `const`, which lets the
// optimizer reuse one call's result across a fiber switch, and after a migration that
// result is another thread's record: a call through a volatile pointer is made afresh.
inline void* thread_eh_record() noexcept {
  static constinit decltype(&abi::__cxa_get_globals) volatile get = &abi::__cxa_get_globals;
  return static_cast<void*>(get());
}

class exception_state_guard {
 public:
  // Most switches happen outside any handler: then there is nothing to carry, and the
  // guard costs one look-up of the thread's record.
  exception_state_guard() noexcept {
    void* record = thread_eh_record();
    std::memcpy(&saved_, record, sizeof saved_);
    if (empty(saved_)) return;
    carrying_ = true;
    const eh_state none{};
    std::memcpy(record, &none, sizeof none);
  }
  exception_state_guard(const exception_state_guard&) = delete;
  exception_state_guard& operator=(const exception_state_guard&) = delete;

  // Merges rather than overwrites: if an exception thrown between the two ends of the guard
  // (say, by Boost when a fiber joins itself) is unwinding through this destructor, the
  // thread's count holds it, and it must stay counted on top of the fiber's own.
  ~exception_state_guard() {
    if (!carrying_) return;
    void* record = thread_eh_record();
    eh_state now;
    std::memcpy(&now, record, sizeof now);
    now.caught_exceptions = saved_.caught_exceptions;
    now.uncaught_exceptions += saved_.uncaught_exceptions;
#if defined(__ARM_EABI_UNWINDER__)
    if (!now.propagating_exceptions) now.propagating_exceptions = saved_.propagating_exceptions;
#endif
    std::memcpy(record, &now, sizeof now);
  }

 private:
  static bool empty(const eh_state& s) noexcept {
#if defined(__ARM_EABI_UNWINDER__)
    if (s.propagating_exceptions) return false;
#endif
    return !s.caught_exceptions && s.uncaught_exceptions == 0;
  }

  eh_state saved_;
  bool carrying_ = false;
};

#else

class exception_state_guard {
 public:
  exception_state_guard() noexcept = default;
  exception_state_guard(const exception_state_guard&) = delete;
  exception_state_guard& operator=(const exception_state_guard&) = delete;
};

#endif

}  // namespace csp::detail
