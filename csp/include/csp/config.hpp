#pragma once
// Project-wide configuration: version, clock, and the cache-line size used for padding.

#include <chrono>
#include <cstddef>

#define CSP_VERSION_MAJOR 0
#define CSP_VERSION_MINOR 1
#define CSP_VERSION_PATCH 0

namespace csp {

// Every deadline and timeout in csp is measured on this monotonic clock.
using clock = std::chrono::steady_clock;

namespace detail {
// 64 bytes on every x86-64 and most ARM cores; std::hardware_destructive_interference_size
// is not reliable across compilers (GCC warns when it is used in headers).
inline constexpr std::size_t cache_line = 64;
}  // namespace detail

}  // namespace csp
