#pragma once
// csp::detail::stack_pool: a thread-safe cache of equally sized fiber stacks, behind
// csp::stack::pooled.
//
// On a csp::runtime a fiber's stack is allocated on the worker that starts it and freed on
// whichever worker drops the fiber last, so both ends run concurrently on different threads.
// (Boost.Context's pooled_fixedsize_stack sits on a boost::pool, which is not thread-safe:
// two workers could pop one free stack and run two fibers on it.) Here one mutex guards an
// intrusive free list; the list's links live in the free stacks themselves, so giving a
// stack back never allocates and cannot fail. Fresh stacks are allocated outside the lock.
//
// Freed stacks stay cached (as with boost::pool) until the pool itself is destroyed, which
// happens when the last csp::stack copy and the last fiber on one of its stacks are gone.

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <utility>

#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/stack_context.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define CSP_DETAIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSP_DETAIL_ASAN 1
#endif
#endif
#if defined(CSP_DETAIL_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace csp::detail {

class stack_pool {
 public:
  explicit stack_pool(std::size_t size) : fresh_(size) {}
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  ~stack_pool() {
    while (free_node* n = free_) {
      free_ = n->next;
      boost::context::stack_context sctx = n->sctx;
      fresh_.deallocate(sctx);
    }
  }

  // A cached stack if there is one, else a new one; throws std::bad_alloc. Thread-safe.
  boost::context::stack_context allocate() {
    {
      std::lock_guard lk(mutex_);
      if (free_node* n = free_) {
        free_ = n->next;
        return n->sctx;
      }
    }
    return fresh_.allocate();
  }

  // Caches `sctx` (from allocate()) for reuse. Never blocks beyond the list's mutex, never
  // throws. Thread-safe.
  void deallocate(boost::context::stack_context& sctx) noexcept {
    // The node sits at the lowest address of the free stack, the end a fiber reaches last.
    void* bottom = static_cast<char*>(sctx.sp) - sctx.size;
#if defined(CSP_DETAIL_ASAN)
    // A deep frame of the fiber that just ended may have left its redzones poisoned there.
    ASAN_UNPOISON_MEMORY_REGION(bottom, sizeof(free_node));
#endif
    free_node* n = ::new (bottom) free_node{nullptr, sctx};
    std::lock_guard lk(mutex_);
    n->next = free_;
    free_ = n;
  }

 private:
  struct free_node {
    free_node* next;
    boost::context::stack_context sctx;  // as allocated, so it is freed exactly as it came
  };

  boost::context::fixedsize_stack fresh_;  // stateless but for the size: thread-safe
  std::mutex mutex_;                        // guards free_
  free_node* free_ = nullptr;
};

// The StackAllocator that Boost.Fiber copies into each fiber: it keeps the pool alive while
// any fiber runs on one of its stacks.
class pooled_stack_allocator {
 public:
  explicit pooled_stack_allocator(std::shared_ptr<stack_pool> pool) noexcept
      : pool_(std::move(pool)) {}

  boost::context::stack_context allocate() { return pool_->allocate(); }
  void deallocate(boost::context::stack_context& sctx) noexcept { pool_->deallocate(sctx); }

 private:
  std::shared_ptr<stack_pool> pool_;
};

}  // namespace csp::detail
