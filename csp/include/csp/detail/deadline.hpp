#pragma once
// Converting user timeouts and deadlines to csp::clock (steady) time points, saturating
// instead of overflowing for huge durations such as hours::max().

#include <chrono>
#include <type_traits>

#include <csp/config.hpp>

namespace csp::detail {

template <class Rep, class Period>
clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) {
  const clock::time_point now = clock::now();
  if (d <= d.zero()) return now;
  using seconds_f = std::chrono::duration<long double>;
  if (seconds_f(d) >= seconds_f(clock::time_point::max() - now)) return clock::time_point::max();
  return now + std::chrono::ceil<clock::duration>(d);
}

template <class Clock, class Duration>
clock::time_point to_steady(std::chrono::time_point<Clock, Duration> tp) {
  if constexpr (std::is_same_v<Clock, clock>) {
    return std::chrono::time_point_cast<clock::duration>(tp);
  } else {
    return deadline_after(tp - Clock::now());
  }
}

}  // namespace csp::detail
