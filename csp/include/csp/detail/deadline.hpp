#pragma once
// Converting user timeouts and deadlines to csp::clock (steady) durations and time points,
// saturating instead of overflowing: every duration and time point the API takes goes
// through here, so hours::max(), time_point::max() or min() mean "never" or "already past"
// instead of wrapping around (signed overflow, which UBSan reports and which made a huge
// timeout fire at once).

#include <chrono>
#include <type_traits>

#include <csp/config.hpp>

namespace csp::detail {

// d rounded up to clock::duration, clamped to [duration::min(), duration::max()]. The range
// checks compare in long double seconds, which hold any duration type's range; NaN (a
// floating-point duration) counts as zero.
template <class Rep, class Period>
clock::duration saturating_ceil(std::chrono::duration<Rep, Period> d) {
  using seconds_f = std::chrono::duration<long double>;
  const seconds_f s(d);
  if (s >= seconds_f(clock::duration::max())) return clock::duration::max();
  if (s <= seconds_f(clock::duration::min())) return clock::duration::min();
  if (!(s == s)) return clock::duration::zero();
  return std::chrono::ceil<clock::duration>(d);
}

// now + d, saturating; d <= 0 (or NaN) is now.
template <class Rep, class Period>
clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) {
  const clock::time_point now = clock::now();
  if (!(d > d.zero())) return now;
  const clock::duration step = saturating_ceil(d);
  if (step >= clock::time_point::max() - now) return clock::time_point::max();
  return now + step;
}

// Any clock's time point as a steady one. Other clocks are read once to turn `tp` into a
// duration from now; both ends saturate.
template <class Clock, class Duration>
clock::time_point to_steady(std::chrono::time_point<Clock, Duration> tp) {
  if constexpr (std::is_same_v<Clock, clock>) {
    return clock::time_point(saturating_ceil(tp.time_since_epoch()));
  } else {
    using seconds_f = std::chrono::duration<long double>;
    // In long double: tp - Clock::now() itself may overflow Duration's representation.
    const seconds_f left = seconds_f(tp.time_since_epoch()) -
                           seconds_f(Clock::now().time_since_epoch());
    return deadline_after(left);
  }
}

}  // namespace csp::detail
