#pragma once
// What sender<T> and receiver<T> share: a counted reference to the channel state, and
// the queries either end may make. Copying a handle adds an end; destroying the last
// handle of one side disconnects (see channel_state).

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include <csp/errors.hpp>
#include <csp/channels/detail/channel_state.hpp>

namespace csp::detail {

enum class end { sending, receiving };

template <class T, end End>
class handle {
 public:
  handle() noexcept = default;
  explicit handle(std::shared_ptr<channel_state<T>> state) noexcept : state_(std::move(state)) {}
  handle(const handle& other) noexcept : state_(other.state_) { attach(); }
  handle(handle&& other) noexcept = default;
  handle& operator=(handle other) noexcept {
    std::swap(state_, other.state_);
    return *this;
  }
  ~handle() { detach(); }

  // Closes the channel; idempotent; wakes every blocked sender, receiver and select.
  // Never blocks, except on a csp::net sender: there it returns once what was sent has been
  // delivered, the link failed, or its linger ran out. Thread-safe. Throws
  // csp::empty_handle on an empty handle.
  void close() const {
    if constexpr (End == end::sending) {
      checked().close_by_sender();
    } else {
      checked().close();
    }
  }

  // True once the channel is closed (buffered values may still be waiting to be received).
  // Never blocks. Thread-safe. Throws csp::empty_handle on an empty handle.
  bool is_closed() const { return checked().is_closed(); }

  // Values buffered right now (0 for rendezvous). Never blocks. Thread-safe.
  std::size_t size() const { return checked().size(); }

  // The buffer's capacity: 0 for rendezvous, 1 for oneshot, nullopt for unbounded.
  std::optional<std::size_t> capacity() const { return checked().capacity(); }

  // False for a default-constructed or moved-from handle.
  explicit operator bool() const noexcept { return state_ != nullptr; }

  // Two handles are equal when they refer to the same channel (or are both empty).
  friend bool operator==(const handle& a, const handle& b) noexcept {
    return a.state_ == b.state_;
  }

  // For select: the channel state, or nullptr for an empty handle.
  channel_state<T>* state() const noexcept { return state_.get(); }

 protected:
  channel_state<T>& checked() const {
    if (!state_) {
      throw empty_handle(End == end::sending ? "operation on an empty csp::sender"
                                             : "operation on an empty csp::receiver");
    }
    return *state_;
  }

 private:
  void attach() noexcept {
    if (!state_) return;
    if constexpr (End == end::sending) {
      state_->add_sender();
    } else {
      state_->add_receiver();
    }
  }
  void detach() noexcept {
    if (!state_) return;
    if constexpr (End == end::sending) {
      state_->drop_sender();
    } else {
      state_->drop_receiver();
    }
  }

  std::shared_ptr<channel_state<T>> state_;
};

}  // namespace csp::detail
