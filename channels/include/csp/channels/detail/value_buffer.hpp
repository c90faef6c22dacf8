#pragma once
// The values a channel holds: none (rendezvous), up to exactly N (bounded), or any number
// (unbounded). Not thread-safe: the owning channel's lock guards it.

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

#include <csp/channels/detail/ring_buffer.hpp>

namespace csp::detail {

template <class T>
class value_buffer {
 public:
  struct unbounded_tag {};

  // capacity 0: rendezvous, the buffer never holds a value.
  explicit value_buffer(std::size_t capacity)
      : ring_(capacity ? std::make_unique<ring_buffer<T>>(capacity) : nullptr) {}
  explicit value_buffer(unbounded_tag) : list_(std::make_unique<std::deque<T>>()) {}

  std::size_t size() const noexcept {
    if (ring_) return ring_->size();
    if (list_) return list_->size();
    return 0;
  }
  bool empty() const noexcept { return size() == 0; }
  bool full() const noexcept {
    if (ring_) return ring_->full();
    return !list_;  // rendezvous, or storage released
  }

  // Precondition: !full(). If T's constructor throws, nothing changes.
  template <class U>
  void push(U&& value) {
    if (ring_) {
      ring_->push(std::forward<U>(value));
    } else {
      list_->push_back(std::forward<U>(value));
    }
  }

  // Precondition: !empty().
  T& front() noexcept { return ring_ ? ring_->front() : list_->front(); }
  void pop() noexcept {
    if (ring_) {
      ring_->pop();
    } else {
      list_->pop_front();
    }
  }

  // Hands over the storage and everything in it, so the caller can destroy the values
  // after releasing the channel lock (a value's destructor may touch other channels).
  // Afterwards the buffer is empty and full: used once the last receiver is gone.
  struct storage {
    std::unique_ptr<ring_buffer<T>> ring;
    std::unique_ptr<std::deque<T>> list;
  };
  storage release() noexcept {
    return {std::move(ring_), std::move(list_)};
  }

 private:
  std::unique_ptr<ring_buffer<T>> ring_;
  std::unique_ptr<std::deque<T>> list_;
};

}  // namespace csp::detail
