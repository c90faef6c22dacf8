#pragma once
// csp::detail::stack_depot: fiber stacks mapped straight from the OS and recycled, behind
// csp's default stack (csp::stack::cached) and csp::stack::guarded.
//
// Why not Boost.Context's fixedsize_stack (malloc)? A 128 KiB malloc is an mmap and a munmap
// per fiber (the munmap's TLB flush alone was 20% of a 100,000-fiber chain), and malloc's
// chunk header sits at the bottom of the stack, so every fiber committed the bottom page as
// well as the top ones: 8-17 KiB of RSS per fiber where the fiber itself touches 4.
//
// Here a stack is a page-aligned region of an anonymous private mapping: pages are committed
// only as the fiber touches them (a parked fiber costs one page), transparent huge pages are
// refused for it (one 2 MiB page would back 16 stacks' untouched address space), and mappings
// are made a slab of stacks at a time, so there is one mmap per 16 fibers or so.
// A guarded depot also makes the lowest page of each stack PROT_NONE, once: the guard stays
// in place while the stack is recycled.
//
// Recycling, safe across threads by construction: a fiber's stack is allocated on the
// thread that creates it and freed on whichever thread drops the fiber last. Each thread
// keeps a small cache per depot (touched by that thread alone, no lock, no atomic); a full
// cache moves half its stacks to the depot's shared list, an empty one takes a batch from it
// (one mutex acquisition per batch). The shared list keeps at most retain_limit stacks;
// beyond that, freed stacks go back to the OS (munmap, one call per run of adjacent stacks).
// A thread's cache is handed to the shared list when the thread ends; stacks freed after
// that (Boost's teardown of the thread's scheduler ends fibers late) go to the shared list.
// The caches hold the stacks' addresses, never touching a free stack's memory (a walk over
// links inside cold stacks was a cache and TLB miss per stack), and the shared list has room
// reserved for every stack the depot has mapped, so recycling a stack cannot fail.
//
// Depots live for the whole process (never destroyed, so a fiber may end during static
// destruction); there is one per (size, guard) ever asked for.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/stack_context.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define CSP_DETAIL_MMAP_STACKS 1
#else
#define CSP_DETAIL_MMAP_STACKS 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CSP_DETAIL_STACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSP_DETAIL_STACK_ASAN 1
#endif
#endif
#if defined(CSP_DETAIL_STACK_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

namespace csp::detail {

class stack_depot;

// One thread's cache for one depot: the tops of its free stacks. Trivially destructible
// (see this_thread_stacks).
struct thread_stack_slot {
  static constexpr std::size_t capacity = 32;
  stack_depot* depot;
  std::size_t count;
  char* top[capacity];
};

struct thread_stacks {
  static constexpr std::size_t slots = 4;  // depots a thread caches for; others go shared
  thread_stack_slot slot[slots];
  bool registered;  // the flusher exists
  bool closed;      // the thread is ending: its cache is gone to the depots
};

// Zero-initialized and trivially destructible: usable from any thread_local destructor,
// including Boost's scheduler teardown, which may end fibers after our flusher has run.
// Not inlined, and not const to the compiler (the asm): inlined into user code, GCC could
// keep this thread's address across a switch after which the fiber runs on another thread,
// and two threads would share one cache (and hand out one stack twice).
[[gnu::noinline]] inline thread_stacks& this_thread_stacks() noexcept {
  asm volatile("" ::: "memory");
  thread_local thread_stacks s;
  return s;
}

class stack_depot {
 public:
  // Stacks moved between a thread's cache and the shared list at a time; a thread caches up
  // to twice that.
  static constexpr std::size_t batch = thread_stack_slot::capacity / 2;
  // Free stacks the shared list keeps (their committed pages stay committed); beyond that
  // they are unmapped.
  static constexpr std::size_t retain_limit = std::size_t{1} << 18;

  // The process-wide depot for stacks of `size` usable bytes (rounded up to whole pages),
  // with a guard page below each if `guard`. Thread-safe; never destroyed.
  static stack_depot& get(std::size_t size, bool guard) {
    static std::mutex mutex;
    static std::vector<stack_depot*>* depots = new std::vector<stack_depot*>();
    const std::size_t usable = round_up(size, page_size());
    std::lock_guard lk(mutex);
    for (stack_depot* d : *depots) {
      if (d->usable_ == usable && d->guard_ == guard) return *d;
    }
    depots->reserve(depots->size() + 1);
    stack_depot* d = new stack_depot(usable, guard);
    depots->push_back(d);
    return *d;
  }

  std::size_t usable_size() const noexcept { return usable_; }

  // A recycled stack if one is cached, else a fresh one; throws std::bad_alloc.
  boost::context::stack_context allocate() {
    thread_stacks& ts = this_thread_stacks();
    if (thread_stack_slot* s = slot_for(ts)) {
      if (s->count == 0) refill(*s);
      return context_of(s->top[--s->count]);
    }
    // No cache on this thread (ending, or caching for other depots): the shared list.
    char* top = nullptr;
    if (take_shared(&top, 1) == 0) map_slab(&top, 1);
    return context_of(top);
  }

  // Recycles `sctx` (from allocate()). Never throws, never touches the stack's memory.
  void deallocate(boost::context::stack_context& sctx) noexcept {
    char* top = static_cast<char*>(sctx.sp);
#if defined(CSP_DETAIL_STACK_ASAN)
    // The frames of the fiber that ran here may have left redzones poisoned (shadow only).
    ASAN_UNPOISON_MEMORY_REGION(top - usable_, usable_);
#endif
    thread_stacks& ts = this_thread_stacks();
    thread_stack_slot* s = ts.closed ? nullptr : find_slot(ts);
    if (!s) {
      give_shared(&top, 1);
      return;
    }
    if (s->count == thread_stack_slot::capacity) {
      // Full: the older half to the shared list.
      give_shared(s->top, batch);
      std::copy(s->top + batch, s->top + s->count, s->top);
      s->count -= batch;
    }
    s->top[s->count++] = top;
  }

 private:
  stack_depot(std::size_t usable, bool guard) noexcept
      : usable_(usable), guard_(guard), span_(usable + (guard ? page_size() : 0)) {}

  static std::size_t page_size() noexcept {
#if CSP_DETAIL_MMAP_STACKS
    static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return page;
#else
    return 4096;
#endif
  }
  static std::size_t round_up(std::size_t n, std::size_t to) noexcept {
    return (n + to - 1) / to * to;
  }

  boost::context::stack_context context_of(char* top) const noexcept {
    boost::context::stack_context sctx;
    sctx.size = usable_;
    sctx.sp = top;
    return sctx;
  }

  thread_stack_slot* find_slot(thread_stacks& ts) noexcept {
    for (thread_stack_slot& s : ts.slot) {
      if (s.depot == this) return &s;
    }
    return nullptr;
  }

  // This thread's slot for this depot, claimed on first use; nullptr if the thread is ending
  // or caches for other depots in every slot.
  thread_stack_slot* slot_for(thread_stacks& ts) {
    if (ts.closed) return nullptr;
    if (thread_stack_slot* s = find_slot(ts)) return s;
    for (thread_stack_slot& s : ts.slot) {
      if (!s.depot) {
        register_flusher(ts);
        s.depot = this;
        s.count = 0;
        return &s;
      }
    }
    return nullptr;
  }

  struct flusher {
    ~flusher() {
      thread_stacks& ts = this_thread_stacks();
      ts.closed = true;
      for (thread_stack_slot& s : ts.slot) {
        if (s.depot && s.count != 0) s.depot->give_shared(s.top, s.count);
        s.depot = nullptr;
        s.count = 0;
      }
    }
  };
  static void register_flusher(thread_stacks& ts) {
    if (ts.registered) return;
    thread_local flusher f;
    (void)&f;
    ts.registered = true;
  }

  // The cache is empty: a batch from the shared list, else a fresh slab.
  void refill(thread_stack_slot& s) {
    s.count = take_shared(s.top, batch);
    if (s.count == 0) s.count = map_slab(s.top, slab_stacks());
  }

  // Moves up to `max` stacks from the shared list to `out`; returns how many.
  std::size_t take_shared(char** out, std::size_t max) noexcept {
    std::lock_guard lk(mutex_);
    const std::size_t n = std::min(max, shared_.size());
    std::copy(shared_.end() - static_cast<std::ptrdiff_t>(n), shared_.end(), out);
    shared_.resize(shared_.size() - n);
    return n;
  }

  // Never allocates: the list's capacity covers every stack this depot holds (map_slab).
  // n <= thread_stack_slot::capacity.
  void give_shared(char* const* tops, std::size_t n) noexcept {
    char* excess[thread_stack_slot::capacity];
    std::size_t drop = 0;
    {
      std::lock_guard lk(mutex_);
      for (std::size_t i = 0; i < n; ++i) {
        if (shared_.size() < retain_limit) {
          shared_.push_back(tops[i]);
        } else {
          excess[drop++] = tops[i];
        }
      }
      held_ -= drop;
    }
    if (drop != 0) unmap(excess, drop);
  }

  std::size_t slab_stacks() const noexcept {
    constexpr std::size_t slab_bytes = std::size_t{2} << 20;
    return std::clamp<std::size_t>(slab_bytes / span_, 1, batch);
  }

  // Maps `count` adjacent stacks and stores their tops in `out`; returns count.
  std::size_t map_slab(char** out, std::size_t count) {
    {
      // Room in the shared list for every stack that exists, so giving back never allocates.
      std::lock_guard lk(mutex_);
      if (shared_.capacity() < held_ + count) {
        shared_.reserve(std::max(held_ + count, 2 * shared_.capacity()));
      }
      held_ += count;
    }
    try {
      map_stacks(out, count);
    } catch (...) {
      std::lock_guard lk(mutex_);
      held_ -= count;
      throw;
    }
    return count;
  }

#if CSP_DETAIL_MMAP_STACKS
  void map_stacks(char** out, std::size_t count) {
    const std::size_t bytes = count * span_;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#if defined(MAP_NORESERVE)
    flags |= MAP_NORESERVE;
#endif
#if defined(MAP_STACK)
    flags |= MAP_STACK;
#endif
    void* vp = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (vp == MAP_FAILED) throw std::bad_alloc();
    char* base = static_cast<char*>(vp);
#if defined(MADV_NOHUGEPAGE)
    (void)::madvise(base, bytes, MADV_NOHUGEPAGE);
#endif
    for (std::size_t i = 0; i < count; ++i) {
      char* region = base + i * span_;
      if (guard_ && ::mprotect(region, page_size(), PROT_NONE) != 0) {
        // Without its guard the stack is not what was asked for.
        (void)::munmap(base, bytes);
        throw std::bad_alloc();
      }
      out[count - 1 - i] = region + span_;  // the lowest is handed out last
    }
    for (std::size_t i = 0; i < count; ++i) lsan_root(out[i], true);
  }

  // LeakSanitizer scans threads' stacks, not these mappings: what only a fiber's frames
  // point to (a parked fiber's captures, or those of fibers a deadlock report abandoned for
  // good) would be reported as leaked. Each stack is a root region while mapped.
  void lsan_root([[maybe_unused]] char* top, [[maybe_unused]] bool add) const noexcept {
#if defined(CSP_DETAIL_STACK_ASAN)
    if (add) {
      __lsan_register_root_region(top - usable_, usable_);
    } else {
      __lsan_unregister_root_region(top - usable_, usable_);
    }
#endif
  }

  // Returns stacks to the OS, one call per run of adjacent ones.
  void unmap(char** tops, std::size_t n) noexcept {
    std::sort(tops, tops + n);
    for (std::size_t i = 0; i < n;) {
      std::size_t j = i + 1;
      while (j < n && tops[j] == tops[j - 1] + span_) ++j;
      for (std::size_t k = i; k < j; ++k) lsan_root(tops[k], false);
      if (::munmap(tops[i] - span_, (j - i) * span_) != 0) {
        // Out of kernel mappings (the hole would split one): keep them, pages released.
        for (std::size_t k = i; k < j; ++k) {
          lsan_root(tops[k], true);
          (void)::madvise(tops[k] - usable_, usable_, MADV_DONTNEED);
        }
        std::lock_guard lk(mutex_);
        held_ += j - i;
        shared_.insert(shared_.end(), tops + i, tops + j);  // within the reserved capacity
      }
      i = j;
    }
  }
#else
  void map_stacks(char** out, std::size_t count) {
    std::size_t made = 0;
    try {
      for (; made < count; ++made) {
        out[made] = static_cast<char*>(boost::context::fixedsize_stack(usable_).allocate().sp);
      }
    } catch (...) {
      unmap(out, made);
      throw;
    }
  }
  void unmap(char** tops, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
      boost::context::stack_context sctx = context_of(tops[i]);
      boost::context::fixedsize_stack(usable_).deallocate(sctx);
    }
  }
#endif

  const std::size_t usable_;  // what a fiber may use
  const bool guard_;
  const std::size_t span_;  // usable_ plus the guard page
  std::mutex mutex_;        // guards the two fields below
  std::vector<char*> shared_;  // tops of free stacks; capacity >= held_
  std::size_t held_ = 0;       // stacks mapped and not given back to the OS
};

// The StackAllocator Boost.Fiber copies into each fiber: a pointer to an immortal depot.
class cached_stack_allocator {
 public:
  explicit cached_stack_allocator(stack_depot& depot) noexcept : depot_(&depot) {}
  boost::context::stack_context allocate() { return depot_->allocate(); }
  void deallocate(boost::context::stack_context& sctx) noexcept { depot_->deallocate(sctx); }

 private:
  stack_depot* depot_;
};

}  // namespace csp::detail
