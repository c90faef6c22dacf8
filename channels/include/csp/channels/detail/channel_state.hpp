#pragma once
// channel_state<T>: the one shared object behind a channel's sender and receiver handles.
//
// Everything is guarded by one spinlock (never held across a suspension). Two invariants
// make the direct hand-off below correct:
//   * live receivers wait only while the buffer is empty, so a sender that finds one hands
//     its value straight over, bypassing the buffer, without breaking FIFO;
//   * live senders wait only while the buffer is full (always, for rendezvous), so a
//     receiver that frees a slot refills it from the oldest waiting sender.
// "Live" means the entry's waiter can still be claimed (wait_queue::claim_front).
//
// Whoever moves a T runs T's constructor in its own context. If that throws, the
// exception is the mover's: its partner is woken with `retry` and simply polls again, so
// the value stays with its sender and the channel stays usable.
//
// The *_locked members are the interface select builds on: poll a case and link or unlink
// a waiter's entry while the caller holds lock().

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <optional>
#include <type_traits>
#include <utility>

#include <csp/config.hpp>
#include <csp/detail/spinlock.hpp>
#include <csp/fibers/detail/wait_site.hpp>
#include <csp/fibers/waiter.hpp>
#include <csp/result.hpp>
#include <csp/status.hpp>
#include <csp/channels/detail/value_buffer.hpp>
#include <csp/channels/detail/wait_queue.hpp>

namespace csp::detail {

enum class channel_kind : unsigned char { rendezvous, bounded, unbounded, oneshot };

// What a close from the sending end waits for once the channel is closed, outside its lock:
// nothing for a local channel; for a csp::net sender, the delivery of what was sent (up to
// the link's linger).
class sender_close_wait {
 public:
  virtual ~sender_close_wait() = default;
  virtual void wait() noexcept = 0;
};

template <class T>
class channel_state {
  static_assert(std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T>,
                "a channel carries non-const object values");
  static_assert(std::is_move_constructible_v<T>, "channel values must be move-constructible");
  static_assert(std::is_nothrow_destructible_v<T>, "channel values must not throw on destruction");

 public:
  // capacity 0 is a rendezvous channel; oneshot is a bounded(1) that closes after one send.
  channel_state(std::size_t capacity, channel_kind kind, std::string name = {})
      : buffer_(capacity), kind_(kind), capacity_(capacity), name_(std::move(name)) {}
  explicit channel_state(typename value_buffer<T>::unbounded_tag tag, std::string name = {})
      : buffer_(tag), kind_(channel_kind::unbounded), name_(std::move(name)) {}
  channel_state(const channel_state&) = delete;
  channel_state& operator=(const channel_state&) = delete;

  // ---- handle counting: the last sender closes; the last receiver closes and discards.

  void add_sender() noexcept { senders_alive_.fetch_add(1, std::memory_order_relaxed); }
  void add_receiver() noexcept { receivers_alive_.fetch_add(1, std::memory_order_relaxed); }

  void drop_sender() noexcept {
    // acq_rel: every send made through other handles happens before the close.
    if (senders_alive_.fetch_sub(1, std::memory_order_acq_rel) == 1) close_by_sender();
  }

  // Set once, before the handles are shared (csp::net's dial).
  void set_sender_close_wait(std::shared_ptr<sender_close_wait> w) noexcept {
    close_wait_ = std::move(w);
  }
  sender_close_wait* get_sender_close_wait() const noexcept { return close_wait_.get(); }

  void drop_receiver() noexcept {
    if (receivers_alive_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    typename value_buffer<T>::storage doomed;
    {
      std::lock_guard lk(lock_);
      close_locked();
      doomed = buffer_.release();
    }
    // `doomed` dies here, outside the lock: a value's destructor may use other channels.
  }

  // ---- self-contained operations (each takes the lock); all are thread-safe.

  // deadline == nullptr: wait as long as it takes. Returns ok, closed or timeout.
  status send(T& value, const clock::time_point* deadline) {
    return wait_until_done(
        senders_, &value, [&] { return send_locked(value); }, status::full, deadline);
  }

  status try_send(T& value) {
    std::lock_guard lk(lock_);
    return send_locked(value);
  }

  // deadline == nullptr: wait as long as it takes. Status ok, closed or timeout.
  result<T> recv(const clock::time_point* deadline) {
    result<T> r(status::empty);
    result_access::set_status(r, recv_into(result_access::storage(r), deadline));
    return r;
  }

  // The same, constructing the value straight in `out` (empty on entry): the one move from
  // the channel is the only one. ok, closed or timeout.
  status recv_into(std::optional<T>& out, const clock::time_point* deadline) {
    return wait_until_done(
        receivers_, &out, [&] { return recv_locked(out); }, status::empty, deadline);
  }

  result<T> try_recv() {
    result<T> r(status::empty);
    std::lock_guard lk(lock_);
    result_access::set_status(r, recv_locked(result_access::storage(r)));
    return r;
  }

  // Idempotent. Wakes every waiting sender and receiver (and select) with `closed`.
  void close() noexcept {
    std::lock_guard lk(lock_);
    close_locked();
  }

  // close(), then what the sending end's close waits for (see sender_close_wait).
  void close_by_sender() noexcept {
    close();
    if (close_wait_) close_wait_->wait();
  }

  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  std::size_t size() const noexcept {
    std::lock_guard lk(lock_);
    return buffer_.size();
  }

  std::optional<std::size_t> capacity() const noexcept {
    if (kind_ == channel_kind::unbounded) return std::nullopt;
    return capacity_;
  }

  channel_kind kind() const noexcept { return kind_; }

  // The debug name given at creation (may be empty); immutable, so readable from anywhere.
  const std::string& name() const noexcept { return name_; }

  // Appends how a fiber list names this channel: 'name', or its address.
  void describe(std::string& out) const {
    if (!name_.empty()) {
      out += '\'';
      out += name_;
      out += '\'';
    } else {
      char buf[2 + 2 * sizeof(void*) + 1];
      std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(this));
      out += "channel ";
      out += buf;
    }
  }

  // ---- the interface select builds on: the caller holds lock().

  spinlock& lock() const noexcept { return lock_; }

  // Sends without waiting: ok (value moved from), full or closed.
  status send_locked(T& value) {
    if (closed_.load(std::memory_order_relaxed)) return status::closed;
    if (wait_entry* r = receivers_.claim_front()) {
      auto& out = *static_cast<std::optional<T>*>(r->slot);
      try {
        out.emplace(std::move(value));
      } catch (...) {
        r->owner->notify(wake_reason::retry);
        throw;
      }
      r->owner->notify(wake_reason::done);
      if (kind_ == channel_kind::oneshot) close_locked();
      return status::ok;
    }
    if (buffer_.full()) return status::full;
    buffer_.push(std::move(value));
    if (kind_ == channel_kind::oneshot) close_locked();
    return status::ok;
  }

  // Receives without waiting into `out` (empty on entry): ok, empty or closed.
  status recv_locked(std::optional<T>& out) {
    if (!buffer_.empty()) {
      out.emplace(std::move(buffer_.front()));  // if this throws, the value stays buffered
      buffer_.pop();
      refill_from_waiting_sender();
      return status::ok;
    }
    if (wait_entry* s = senders_.claim_front()) {  // rendezvous: take straight from a sender
      try {
        out.emplace(std::move(*static_cast<T*>(s->slot)));
      } catch (...) {
        s->owner->notify(wake_reason::retry);
        throw;
      }
      s->owner->notify(wake_reason::done);
      return status::ok;
    }
    return closed_.load(std::memory_order_relaxed) ? status::closed : status::empty;
  }

  // entry.slot: T* for a sender, std::optional<T>* (empty) for a receiver.
  void link_sender(wait_entry& e) noexcept { senders_.push_back(e); }
  void link_receiver(wait_entry& e) noexcept { receivers_.push_back(e); }
  void unlink_sender(wait_entry& e) noexcept { senders_.unlink(e); }
  void unlink_receiver(wait_entry& e) noexcept { receivers_.unlink(e); }

 private:
  // One slot was freed: the oldest waiting sender whose value moves in fills it.
  void refill_from_waiting_sender() noexcept {
    while (wait_entry* s = senders_.claim_front()) {
      try {
        buffer_.push(std::move(*static_cast<T*>(s->slot)));
      } catch (...) {
        // The sender's own retry will run its move again, and throw in its own context.
        // Its send has not completed, so the next sender may take the slot: stopping here
        // would leave that one parked beside a free slot, for a later send to overtake.
        s->owner->notify(wake_reason::retry);
        continue;
      }
      s->owner->notify(wake_reason::done);
      return;
    }
  }

  void close_locked() noexcept {
    if (closed_.load(std::memory_order_relaxed)) return;
    closed_.store(true, std::memory_order_release);
    while (wait_entry* r = receivers_.claim_front()) r->owner->notify(wake_reason::closed);
    while (wait_entry* s = senders_.claim_front()) s->owner->notify(wake_reason::closed);
  }

  // One waiter over one channel: poll, else link an entry, park, and act on the wake-up.
  template <class Poll>
  status wait_until_done(wait_queue& queue, void* slot, Poll poll, status would_block,
                         const clock::time_point* deadline) {
    std::unique_lock lk(lock_);
    for (;;) {
      status s = poll();
      if (s != would_block) return s;
      if (deadline && clock::now() >= *deadline) return status::timeout;
      waiter w;
      wait_entry e{&w, 0, slot};
      queue.push_back(e);
      lk.unlock();
      const wait_site site{&queue == &senders_ ? "send on " : "recv on ", &describe_site, this};
      if (deadline ? !w.park_until(*deadline) : (w.park(&site), false)) {
        lk.lock();  // timed out, and we claimed ourselves: nobody touched `slot`
        queue.unlink(e);
        return status::timeout;
      }
      switch (w.reason()) {
        case wake_reason::done: return status::ok;
        // A woken receiver waited on an empty buffer, and close admits no new values.
        case wake_reason::closed: return status::closed;
        case wake_reason::retry: lk.lock(); break;
      }
    }
  }

  static void describe_site(const void* self, std::string& out) {
    static_cast<const channel_state*>(self)->describe(out);
  }

  mutable spinlock lock_;
  value_buffer<T> buffer_;
  wait_queue senders_;
  wait_queue receivers_;
  std::atomic<bool> closed_{false};
  const channel_kind kind_;
  const std::size_t capacity_ = 0;
  const std::string name_;
  std::atomic<std::size_t> senders_alive_{1};
  std::atomic<std::size_t> receivers_alive_{1};
  std::shared_ptr<sender_close_wait> close_wait_;
};

}  // namespace csp::detail
