#pragma once
// csp::receiver<T>: the receiving end of a channel. A cheap, copyable handle; all copies
// refer to one channel, and destroying the last one closes it and destroys whatever is still
// buffered. Like a shared_ptr, a const handle still receives. Every member is thread-safe and may be called from any fiber or plain thread.
// On an empty (default-constructed or moved-from) handle every operation throws
// csp::empty_handle.
//
//   while (auto v = rx.recv()) use(*v);     // or:  for (T& v : rx) use(v);

#include <chrono>
#include <cstddef>
#include <iterator>
#include <optional>
#include <utility>

#include <csp/config.hpp>
#include <csp/result.hpp>
#include <csp/detail/deadline.hpp>
#include <csp/channels/detail/handle.hpp>

namespace csp {

template <class T>
class receiver : public detail::handle<T, detail::end::receiving> {
  using base = detail::handle<T, detail::end::receiving>;

 public:
  using value_type = T;
  using base::base;

  // Blocks until a value arrives. A value, or status closed once closed and drained.
  result<T> recv() const { return this->checked().recv(nullptr); }

  // Never blocks. A value, or status empty (nothing ready; on a rendezvous channel: no
  // sender waiting) or closed (closed and drained).
  result<T> try_recv() const { return this->checked().try_recv(); }

  // Blocks until `deadline` (steady clock) at most. A value, or status timeout or closed;
  // a timed-out receive leaves the channel exactly as if it never ran.
  template <class Clock, class Duration>
  result<T> recv_until(std::chrono::time_point<Clock, Duration> deadline) const {
    const clock::time_point d = detail::to_steady(deadline);
    return this->checked().recv(&d);
  }

  // Blocks for `timeout` at most. A value, or status timeout or closed.
  template <class Rep, class Period>
  result<T> recv_for(std::chrono::duration<Rep, Period> timeout) const {
    const clock::time_point d = detail::deadline_after(timeout);
    return this->checked().recv(&d);
  }

  // Input iterator over the values received until the channel is closed and drained.
  // Each increment is a blocking recv() that constructs the value in the iterator itself
  // (the channel's one move is the only one). *it is the current value (movable from).
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    iterator() = default;
    explicit iterator(const receiver* rx) : rx_(rx) { ++*this; }

    T& operator*() const noexcept { return *current_; }
    T* operator->() const noexcept { return &*current_; }
    iterator& operator++() {
      current_.reset();
      if (rx_->checked().recv_into(current_, nullptr) != status::ok) rx_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.rx_ == b.rx_;
    }

   private:
    const receiver* rx_ = nullptr;
    mutable std::optional<T> current_;
  };

  // Blocks for the first value. Throws csp::empty_handle on an empty handle.
  iterator begin() const {
    this->checked();
    return iterator(this);
  }
  iterator end() const noexcept { return iterator(); }
};

}  // namespace csp
