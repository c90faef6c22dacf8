#pragma once
// Intrusive FIFO of wait entries: the senders or receivers parked on one channel.
// All members require the owning channel's lock.

#include <cstdint>

#include <csp/fibers/waiter.hpp>

namespace csp::detail {

// One case of one waiter, linked into one channel's queue. Lives on the owner's stack;
// the owner unlinks it (under the channel lock) before it goes out of scope, unless a
// partner already did.
struct wait_entry {
  waiter* owner = nullptr;
  std::uint32_t case_id = 0;
  void* slot = nullptr;  // send: T* to move from; receive: std::optional<T>* to fill
  wait_entry* prev = nullptr;
  wait_entry* next = nullptr;
  bool linked = false;
};

class wait_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }

  void push_back(wait_entry& e) noexcept {
    e.prev = tail_;
    e.next = nullptr;
    (tail_ ? tail_->next : head_) = &e;
    tail_ = &e;
    e.linked = true;
  }

  // O(1); a no-op if a partner already took `e` off the queue.
  void unlink(wait_entry& e) noexcept {
    if (!e.linked) return;
    (e.prev ? e.prev->next : head_) = e.next;
    (e.next ? e.next->prev : tail_) = e.prev;
    e.prev = e.next = nullptr;
    e.linked = false;
  }

  // Unlinks and returns the oldest entry whose owner this call claims; entries whose
  // owner was already claimed elsewhere (a select that fired, a timed-out op) are dropped
  // on the way. nullptr when no entry can be claimed.
  wait_entry* claim_front() noexcept {
    while (wait_entry* e = head_) {
      unlink(*e);
      if (e->owner->try_claim(e->case_id)) return e;
    }
    return nullptr;
  }

 private:
  wait_entry* head_ = nullptr;
  wait_entry* tail_ = nullptr;
};

}  // namespace csp::detail
