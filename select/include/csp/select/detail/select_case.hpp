#pragma once
// The interface between the select engine and one case of a select.
//
// Channel cases (receive, send) implement every member; a case whose handle is empty has no
// lock and is never ready, like a nil channel in Go. Timeout and default cases are not
// select_case objects: the engine takes them as a deadline and a flag.

#include <cstdint>
#include <string>

#include <csp/detail/spinlock.hpp>
#include <csp/channels/detail/wait_queue.hpp>
#include <csp/fibers/waiter.hpp>

namespace csp::detail {

class select_case {
 public:
  // The lock of the case's channel, or nullptr for a case that can never be ready.
  virtual spinlock* lock() noexcept = 0;

  // With lock() held: performs the operation if it can proceed now (including "the
  // channel is closed") and returns true, else changes nothing and returns false.
  virtual bool poll_locked() = 0;

  // With lock() held: links / unlinks this case's entry in the channel's waiter queue.
  // link_locked fills in entry.slot; unlink_locked is a no-op if a partner unlinked it.
  virtual void link_locked(wait_entry& entry) noexcept = 0;
  virtual void unlink_locked(wait_entry& entry) noexcept = 0;

  // A partner claimed this case while the select was parked: records what happened
  // (done: the operation was performed; closed: the channel closed).
  virtual void complete(wake_reason reason) noexcept = 0;

  // After the locks are released: runs the user's handler for the completed operation.
  virtual void fire() = 0;

  // Appends what this case waits for ("recv on 'jobs'"), for a runtime's fiber list.
  virtual void describe(std::string& out) const = 0;

 protected:
  ~select_case() = default;
};

}  // namespace csp::detail
