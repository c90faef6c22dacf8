#pragma once
// csp::stack: how a fiber's stack is allocated. Pass one to a csp::runtime (the default for
// its fibers) or as the first argument of csp::go / csp::spawn (for one fiber).
//
//   csp::stack::fixed(64 * 1024)    plain heap stacks (Boost.Context fixedsize_stack)
//   csp::stack::pooled(64 * 1024)   recycled from a pool shared by copies of this object;
//                                   thread-safe: fibers may start and end on any threads
//   csp::stack::guarded(64 * 1024)  mmap'd with a guard page below: an overflow faults at once
//
// Sizes are rounded up by Boost.Context to what the platform accepts; memory is committed
// only as the stack is touched, so a large size costs address space, not RAM.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <boost/context/stack_traits.hpp>
#include <boost/fiber/fiber.hpp>

#include <csp/errors.hpp>
#include <csp/fibers/detail/stack_pool.hpp>

namespace csp {

class stack {
 public:
  enum class kind : unsigned char { fixed, pooled, guarded };

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
  static stack guarded(std::size_t size = default_size()) { return stack(kind::guarded, size); }

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
        return boost::fibers::fiber(std::allocator_arg,
                                    boost::context::protected_fixedsize_stack(size_),
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
};

}  // namespace csp
