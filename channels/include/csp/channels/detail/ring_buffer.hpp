#pragma once
// Fixed-capacity FIFO of T over raw storage: holds exactly `capacity` values, needs no
// default constructor, and gives the strong guarantee when T's move throws.
// Not thread-safe: the owning channel's lock guards it.

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace csp::detail {

template <class T>
class ring_buffer {
 public:
  explicit ring_buffer(std::size_t capacity)
      : slots_(std::allocator<T>{}.allocate(capacity)), capacity_(capacity) {}
  ring_buffer(const ring_buffer&) = delete;
  ring_buffer& operator=(const ring_buffer&) = delete;
  ~ring_buffer() {
    clear();
    std::allocator<T>{}.deallocate(slots_, capacity_);
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == capacity_; }

  // Precondition: !full(). If T's constructor throws, nothing changes.
  template <class U>
  void push(U&& value) {
    std::size_t tail = head_ + size_;
    if (tail >= capacity_) tail -= capacity_;
    std::construct_at(slots_ + tail, std::forward<U>(value));
    ++size_;
  }

  // Precondition: !empty().
  T& front() noexcept { return slots_[head_]; }

  // Precondition: !empty().
  void pop() noexcept {
    std::destroy_at(slots_ + head_);
    if (++head_ == capacity_) head_ = 0;
    --size_;
  }

  void clear() noexcept {
    while (!empty()) pop();
  }

 private:
  T* slots_;
  std::size_t capacity_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace csp::detail
