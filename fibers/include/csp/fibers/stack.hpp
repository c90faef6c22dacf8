#pragma once
// csp::stack: how a fiber's stack is allocated. Pass one to a csp::runtime (the default for
// its fibers) or as the first argument of csp::go / csp::spawn (for one fiber).
//
//   csp::stack::cached(64 * 1024)   the default (cached(default_size()), for fibers given no
//                                   stack, inside a runtime or not): mmap'd, committed only as
//                                   touched, recycled through per-thread caches and one
//                                   process-wide list per size; no guard page
//   csp::stack::fixed(64 * 1024)    plain heap stacks (Boost.Context fixedsize_stack)
//   csp::stack::pooled(64 * 1024)   recycled from a pool shared by copies of this object;
//                                   thread-safe: fibers may start and end on any threads
//   csp::stack::guarded(64 * 1024)  mmap'd with a guard page below: an overflow faults at once;
//                                   recycled like cached (the guard stays across reuse)
//
// Sizes are rounded up to what the platform accepts (whole pages for cached and guarded);
// memory is committed only as the stack is touched, so a large size costs address space,
// not RAM: a fiber parked with shallow frames (a link of a channel chain) commits one page.
// cached and guarded stacks of one size are shared by the whole process and never given
// back to the OS while fewer than 262,144 (detail::stack_depot::retain_limit) are free (their
// committed pages stay committed, ready for the next fiber); the rest are unmapped.
// A guarded stack is two kernel mappings (vm.max_map_count, 65,530 by default, bounds how
// many can exist at once); cached stacks merge into few mappings.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/stack_traits.hpp>
#include <boost/fiber/fiber.hpp>

#include <csp/errors.hpp>
#include <csp/fibers/detail/stack_cache.hpp>
#include <csp/fibers/detail/stack_pool.hpp>

namespace csp {

class stack {
 public:
  enum class kind : unsigned char { fixed, pooled, guarded, cached };

  // Boost.Context's default size (128 KiB on Linux x86-64).
  static std::size_t default_size() noexcept {
    return boost::context::stack_traits::default_size();
  }

  // The smallest size the factories below accept: Boost.Context's minimum, glibc's SIGSTKSZ,
  // read at run time from the CPU's signal frame size (47 KiB on an AVX-512 machine, where a
  // signal delivered on a fiber's stack may need that much; a few KiB on older CPUs).
  static std::size_t minimum_size() noexcept {
    return boost::context::stack_traits::minimum_size();
  }

  // Each throws csp::invalid_argument for a size below minimum_size().
  static stack fixed(std::size_t size = default_size()) { return stack(kind::fixed, size); }
  static stack pooled(std::size_t size = default_size()) {
    stack s(kind::pooled, size);
    s.pool_ = std::make_shared<detail::stack_pool>(s.size_);
    return s;
  }
  static stack guarded(std::size_t size = default_size()) {
    stack s(kind::guarded, size);
    s.depot_ = &detail::stack_depot::get(s.size_, true);
    return s;
  }
  static stack cached(std::size_t size = default_size()) {
    stack s(kind::cached, size);
    s.depot_ = &detail::stack_depot::get(s.size_, false);
    return s;
  }

  kind type() const noexcept { return kind_; }
  std::size_t size() const noexcept { return size_; }

  // Starts a fiber running fn on a stack of this kind (detail: used by go/spawn).
  template <class Fn>
  boost::fibers::fiber launch(Fn&& fn) const {
    switch (kind_) {
      case kind::pooled:
        return boost::fibers::fiber(std::allocator_arg, detail::pooled_stack_allocator(pool_),
                                    std::forward<Fn>(fn));
      case kind::guarded:
      case kind::cached:
        return boost::fibers::fiber(std::allocator_arg, detail::cached_stack_allocator(*depot_),
                                    std::forward<Fn>(fn));
      case kind::fixed:
        break;
    }
    return boost::fibers::fiber(std::allocator_arg, boost::context::fixedsize_stack(size_),
                                std::forward<Fn>(fn));
  }

 private:
  stack(kind k, std::size_t size) : kind_(k), size_(size) {
    if (size < boost::context::stack_traits::minimum_size()) {
      throw invalid_argument("csp::stack: size below the platform minimum of " +
                             std::to_string(minimum_size()));
    }
  }

  kind kind_;
  std::size_t size_;
  std::shared_ptr<detail::stack_pool> pool_;  // kind::pooled only; shared by copies
  detail::stack_depot* depot_ = nullptr;      // kind::guarded and cached; immortal
};

namespace detail {
// Starts fn on csp's default stack, stack::cached(stack::default_size()).
template <class Fn>
boost::fibers::fiber launch_on_default_stack(Fn&& fn) {
  static stack_depot& depot = stack_depot::get(stack::default_size(), false);
  return boost::fibers::fiber(std::allocator_arg, cached_stack_allocator(depot),
                              std::forward<Fn>(fn));
}
}  // namespace detail

}  // namespace csp
