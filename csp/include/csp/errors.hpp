#pragma once
// Exceptions csp throws for misuse. Expected outcomes (closed, full, timeout, ...) are
// csp::status values instead; these mark programming errors the caller should fix.

#include <stdexcept>
#include <string>

namespace csp {

// An argument is out of range: a negative capacity, a capacity whose buffer cannot be
// allocated, a select with no case to wait for, ...
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// An operation was called on an empty handle (default-constructed or moved-from sender,
// receiver or task). In a select case an empty handle is allowed and is simply never ready.
class empty_handle : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace csp

namespace csp {

// csp::result<T>::value() was called on a result that holds no value (status is not ok).
class bad_result_access : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace csp

namespace csp {

// A csp::runtime found every one of its fibers blocked with nothing left that could wake
// them: each waits in a channel operation, select, join or wait_group with no deadline, and
// no timer is pending. what() holds the report: each blocked fiber and what it waits in.
class deadlock_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace csp
