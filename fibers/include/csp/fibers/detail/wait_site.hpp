#pragma once
// What a parked fiber is waiting in, for a runtime's fiber list and deadlock report.
// Describing is deferred: a park only stores two pointers; the text is produced (under the
// runtime's registry lock, while the fiber is still parked) only when someone asks.

#include <cstddef>
#include <string>

namespace csp::detail {

struct wait_site {
  const char* operation;                                  // "recv", "send", "select", ...
  void (*describe)(const void* subject, std::string& out) = nullptr;  // appends details
  const void* subject = nullptr;
};

}  // namespace csp::detail
