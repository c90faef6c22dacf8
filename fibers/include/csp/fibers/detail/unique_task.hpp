#pragma once
// A move-only, type-erased void() callable: what std::function would be if it did not
// require copyable targets (std::move_only_function is C++23). One heap allocation each.

#include <memory>
#include <type_traits>
#include <utility>

namespace csp::detail {

class unique_task {
 public:
  unique_task() noexcept = default;
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, unique_task>)
  explicit unique_task(F&& f) : impl_(std::make_unique<model<std::decay_t<F>>>(std::forward<F>(f))) {}

  explicit operator bool() const noexcept { return impl_ != nullptr; }
  void operator()() { impl_->call(); }
  // Destroys the callable (and so everything it captured) now.
  void reset() noexcept { impl_.reset(); }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct model final : concept_t {
    explicit model(F&& f) : fn(std::move(f)) {}
    explicit model(const F& f) : fn(f) {}
    void call() override { fn(); }
    F fn;
  };
  std::unique_ptr<concept_t> impl_;
};

}  // namespace csp::detail
