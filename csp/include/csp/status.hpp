#pragma once
// csp::status: the expected outcomes of channel operations. Failures that are part of normal
// operation (full, empty, closed, timeout) are statuses, never exceptions.

#include <ostream>
#include <string_view>

namespace csp {

enum class status : unsigned char {
  ok,       // the operation happened
  empty,    // try_recv: nothing to receive right now
  full,     // try_send: no room (or, on a rendezvous channel, no receiver waiting)
  closed,   // the channel is closed (and, for receives, drained)
  timeout,  // a timed operation's deadline passed before it could happen
};

constexpr std::string_view to_string(status s) noexcept {
  switch (s) {
    case status::ok: return "ok";
    case status::empty: return "empty";
    case status::full: return "full";
    case status::closed: return "closed";
    case status::timeout: return "timeout";
  }
  return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, status s) { return os << to_string(s); }

}  // namespace csp
