#pragma once
// The bookkeeping of one csp::runtime: which fibers it runs, which of them are parked with no
// deadline (and in what), so the runtime can list its fibers and tell a deadlock from a
// pause. Fibers started outside any runtime have no record and are not tracked.

#include <atomic>
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <new>

#include <boost/fiber/context.hpp>
#include <boost/fiber/properties.hpp>

#include <csp/fibers/detail/ready_pool.hpp>
#include <csp/fibers/detail/wait_site.hpp>

namespace csp {

// One fiber of a runtime, as csp::runtime::fibers() and the deadlock report show it.
struct fiber_info {
  std::uint64_t id = 0;       // 1 is the root fiber
  std::string state;          // "running or ready", "sleeping or timed wait", "blocked"
  std::string waiting_in;     // for a blocked fiber: the operation and its channels
};

namespace detail {

class runtime_core;
class waiter;

class record_properties;

struct fiber_record {
  runtime_core* runtime = nullptr;
  std::uint64_t id = 0;
  const wait_site* site = nullptr;  // non-null while parked without deadline
  waiter* parked_in = nullptr;      // the waiter it is parked in, if any, while `site` is set
  fiber_record* prev = nullptr;
  fiber_record* next = nullptr;
  // Room for the record_properties that links the fiber's context to this record.
  alignas(void*) unsigned char properties_room[4 * sizeof(void*)];
};

// Where a fiber of a runtime finds its record: in its Boost context's properties pointer,
// which migrates with the fiber and which csp's pool algorithm does not use otherwise.
// (A boost::fibers::fiber_specific_ptr cost a std::map node and a shared_ptr copy, two
// atomic increments on a counter all threads share, per fiber.) The properties object
// lives inside the record, in the fiber's frame; Boost destroys it through `delete` when it
// is replaced, so its operator delete frees nothing.
class record_properties final : public boost::fibers::fiber_properties {
 public:
  record_properties(boost::fibers::context* ctx, fiber_record* r) noexcept
      : fiber_properties(ctx), record(r) {}
  static void operator delete(void*) noexcept {}  // storage: fiber_record::properties_room

  fiber_record* const record;
};

// current_record_slot().reset(&r) on the fiber that owns r, before it runs any user code;
// reset(nullptr) before r dies. get(): the calling fiber's record or nullptr.
struct record_slot {
  void reset(fiber_record* r) noexcept;
  fiber_record* get() const noexcept;
};
inline record_slot& current_record_slot() noexcept {
  static record_slot slot;
  return slot;
}
// Set on each worker thread of a runtime; null elsewhere.
inline runtime_core*& thread_runtime() noexcept {
  thread_local runtime_core* rt = nullptr;
  return rt;
}
inline fiber_record* current_record() {
  return thread_runtime() ? current_record_slot().get() : nullptr;
}

inline void record_slot::reset(fiber_record* r) noexcept {
  static_assert(sizeof(record_properties) <= sizeof(fiber_record::properties_room));
  boost::fibers::context* ctx = boost::fibers::context::active();
  // Boost deletes the one set before (ours: destroyed in place, nothing freed).
  ctx->set_properties(r ? ::new (r->properties_room) record_properties(ctx, r) : nullptr);
}

inline fiber_record* record_slot::get() const noexcept {
  auto* p = static_cast<record_properties*>(boost::fibers::context::active()->get_properties());
  return p ? p->record : nullptr;
}

class runtime_core {
 public:
  ready_pool pool;
  std::size_t workers = 0;  // set once, before the first worker starts

  // A fiber is about to be created: it counts as live from now on.
  void reserve() {
    std::lock_guard lk(mutex_);
    ++live_;
    ++epoch_;
  }
  // Its creation failed after all.
  void unreserve() {
    std::lock_guard lk(mutex_);
    --live_;
    ++epoch_;
    if (live_ == 0) all_done_.notify_all();
  }

  // The reserved fiber starts running.
  void enter(fiber_record& r) {
    std::lock_guard lk(mutex_);
    r.runtime = this;
    r.id = ++last_id_;
    r.next = head_;
    if (head_) head_->prev = &r;
    head_ = &r;
    ++epoch_;
  }

  // Returns the number of fibers still live.
  std::size_t leave(fiber_record& r) {
    std::lock_guard lk(mutex_);
    (r.prev ? r.prev->next : head_) = r.next;
    if (r.next) r.next->prev = r.prev;
    --live_;
    ++epoch_;
    if (live_ == 0) all_done_.notify_all();
    return live_;
  }

  // `w`: the waiter the fiber parks in (so an abandoned fiber can be claimed for good), or
  // nullptr for a wait outside csp's waiters (join, wait_group).
  void block(fiber_record& r, const wait_site& site, waiter* w = nullptr) {
    std::lock_guard lk(mutex_);
    r.site = &site;
    r.parked_in = w;
    ++blocked_;
  }

  void unblock(fiber_record& r) {
    std::lock_guard lk(mutex_);
    r.site = nullptr;
    r.parked_in = nullptr;
    --blocked_;
    ++epoch_;
  }

  struct snapshot {
    std::size_t live;
    std::size_t blocked;
    std::uint64_t epoch;
  };
  snapshot observe() {
    std::lock_guard lk(mutex_);
    return {live_, blocked_, epoch_};
  }

  // Waits up to `period` for every fiber to finish; true if they all have.
  template <class Duration>
  bool wait_all_done_for(Duration period) {
    std::unique_lock lk(mutex_);
    return all_done_.wait_for(lk, period, [this] { return live_ == 0; });
  }

  // f(fiber_record&) for each live fiber, under the registry lock (f must not block).
  template <class F>
  void for_each_record(F&& f) {
    std::lock_guard lk(mutex_);
    for (fiber_record* r = head_; r; r = r->next) f(*r);
  }

  std::vector<fiber_info> list() {
    std::lock_guard lk(mutex_);
    std::vector<fiber_info> out;
    for (fiber_record* r = head_; r; r = r->next) {
      fiber_info info;
      info.id = r->id;
      if (r->site) {
        info.state = "blocked";
        info.waiting_in = r->site->operation;
        if (r->site->describe) r->site->describe(r->site->subject, info.waiting_in);
      } else {
        info.state = "running, ready, sleeping or in a timed wait";
      }
      out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(),
              [](const fiber_info& a, const fiber_info& b) { return a.id < b.id; });
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable all_done_;
  fiber_record* head_ = nullptr;
  std::uint64_t last_id_ = 0;
  std::size_t live_ = 0;
  std::size_t blocked_ = 0;
  std::uint64_t epoch_ = 0;  // bumps whenever a fiber starts, ends or unblocks
};

// Marks the calling fiber blocked in `site` for the scope's lifetime (no-op outside runtimes
// and for site == nullptr). Use around parks that have no deadline.
class blocked_scope {
 public:
  explicit blocked_scope(const wait_site* site) : record_(site ? current_record() : nullptr) {
    if (record_) record_->runtime->block(*record_, *site);
  }
  blocked_scope(const blocked_scope&) = delete;
  blocked_scope& operator=(const blocked_scope&) = delete;
  ~blocked_scope() {
    if (record_) record_->runtime->unblock(*record_);
  }

 private:
  fiber_record* record_;
};

}  // namespace detail
}  // namespace csp
