#pragma once
// The arbitration of one waiter over N channel cases: the heart of select.
//
// Protocol (see also fibers/waiter.hpp and channels/detail/channel_state.hpp):
//  1. Lock every case's channel, in address order and each once (the same channel may
//     appear in several cases), so two selects can never deadlock on each other's locks.
//  2. Poll the cases in a fresh random order; the first that can proceed is performed, under
//     the locks, and wins. Random order gives a uniform choice among ready cases.
//  3. Nothing ready: take the default case if there is one, or time out if the deadline
//     has passed. Otherwise link one wait entry per case (in the same random order), all
//     owned by one waiter, release the locks and park.
//  4. A partner that finds one of the entries claims the waiter (CAS) before it touches the
//     entry's slot; claims on the other entries then fail, so exactly one case is ever
//     performed and the losers consume and send nothing. Entries are only ever paired with
//     an active partner, never with each other: a select holding both ends of a rendezvous
//     channel cannot pair with itself.
//  5. Woken (or timed out, having claimed itself), the select relocks everything and
//     unlinks every entry a partner has not already unlinked, so no stale entry outlives
//     the call, then reports the claimed case.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include <csp/config.hpp>
#include <csp/detail/spinlock.hpp>
#include <csp/channels/detail/wait_queue.hpp>
#include <csp/fibers/detail/wait_site.hpp>
#include <csp/fibers/waiter.hpp>
#include <csp/select/detail/random.hpp>
#include <csp/select/detail/select_case.hpp>

namespace csp::detail {

struct select_outcome {
  enum kind_t : unsigned char { fired, timed_out, defaulted } kind;
  std::size_t index = 0;  // the channel case that fired (engine numbering)
};

// Working memory for one select over n cases, provided by the caller (stack or reused).
struct select_scratch {
  std::span<std::uint32_t> order;  // n
  std::span<spinlock*> locks;      // n
  std::span<wait_entry> entries;   // n
};

// The distinct locks of a select, taken and released together in address order.
class lock_set {
 public:
  lock_set(std::span<select_case* const> cases, std::span<spinlock*> storage) noexcept {
    std::size_t n = 0;
    for (select_case* c : cases) {
      if (spinlock* l = c->lock()) storage[n++] = l;
    }
    // std::less, not <: a total order even for pointers into unrelated objects.
    std::sort(storage.begin(), storage.begin() + static_cast<std::ptrdiff_t>(n), std::less<>());
    auto end = std::unique(storage.begin(), storage.begin() + static_cast<std::ptrdiff_t>(n));
    locks_ = storage.first(static_cast<std::size_t>(end - storage.begin()));
  }
  lock_set(const lock_set&) = delete;
  lock_set& operator=(const lock_set&) = delete;
  ~lock_set() {
    if (held_) unlock();
  }

  void lock() noexcept {
    for (spinlock* l : locks_) l->lock();
    held_ = true;
  }
  void unlock() noexcept {
    for (auto it = locks_.rbegin(); it != locks_.rend(); ++it) (*it)->unlock();
    held_ = false;
  }
  bool empty() const noexcept { return locks_.empty(); }

 private:
  std::span<spinlock*> locks_;
  bool held_ = false;
};

inline void describe_cases(const void* subject, std::string& out) {
  const auto& cases = *static_cast<const std::span<select_case* const>*>(subject);
  bool first = true;
  for (const select_case* c : cases) {
    if (!first) out += ", ";
    first = false;
    c->describe(out);
  }
}

// Runs one select. deadline == nullptr: no timeout. Exceptions from T's move propagate
// with every lock released and no entry linked.
inline select_outcome run_select(std::span<select_case* const> cases, select_scratch scratch,
                                 const clock::time_point* deadline, bool has_default) {
  const auto n = static_cast<std::uint32_t>(cases.size());
  lock_set locks(cases, scratch.locks);
  for (;;) {
    for (std::uint32_t i = 0; i < n; ++i) scratch.order[i] = i;
    for (std::uint32_t i = n; i > 1; --i) {
      std::swap(scratch.order[i - 1], scratch.order[select_rng::below(i)]);
    }

    locks.lock();
    for (std::uint32_t k : scratch.order) {
      if (cases[k]->lock() && cases[k]->poll_locked()) {
        locks.unlock();
        return {select_outcome::fired, k};
      }
    }
    if (has_default) {
      locks.unlock();
      return {select_outcome::defaulted};
    }
    if (deadline && clock::now() >= *deadline) {
      locks.unlock();
      return {select_outcome::timed_out};
    }

    waiter w;
    // Linked in the poll's random order, not case order: a channel serves its waiters first
    // in, first out, so several cases on one channel would otherwise always complete the
    // first-listed one once the select parks.
    for (std::uint32_t k : scratch.order) {
      if (!cases[k]->lock()) continue;
      scratch.entries[k] = wait_entry{&w, k};
      cases[k]->link_locked(scratch.entries[k]);
    }
    locks.unlock();

    const wait_site site{"select: ", &describe_cases, &cases};
    const bool claimed = deadline ? w.park_until(*deadline) : (w.park(&site), true);

    locks.lock();
    for (std::uint32_t k = 0; k < n; ++k) {
      if (cases[k]->lock()) cases[k]->unlink_locked(scratch.entries[k]);
    }
    locks.unlock();

    if (!claimed) return {select_outcome::timed_out};
    const std::uint32_t k = w.claimed_case();
    if (w.reason() == wake_reason::retry) continue;  // the partner's move threw: poll again
    cases[k]->complete(w.reason());
    return {select_outcome::fired, k};
  }
}

}  // namespace csp::detail
