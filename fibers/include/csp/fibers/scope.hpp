#pragma once
// csp::scope: structured spawning. Every fiber started through a scope is joined before
// the scope ends, so none outlives the data it borrows.
//
//   csp::scoped([&](csp::scope& s) {
//     for (auto& job : jobs) s.go([&] { work(job); });
//   });  // returns when every fiber has finished; rethrows the first failure
//
// A failure does not stop the other fibers (close a channel to tell them to stop).

#include <exception>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include <csp/fibers/spawn.hpp>
#include <csp/fibers/stack.hpp>

namespace csp {

class scope {
 public:
  scope() = default;
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;
  // Joins every fiber still running. A failure nobody observed with join() is dropped.
  ~scope() { join_all(); }

  // Starts f(args...) on a new fiber owned by this scope. Never blocks. Thread-safe: the
  // scope's fibers may add more fibers to it.
  template <class F, class... Args>
    requires(!std::is_same_v<std::remove_cvref_t<F>, stack>)
  void go(F&& f, Args&&... args) {
    add(csp::spawn(guarded(detail::bind_call(std::forward<F>(f), std::forward<Args>(args)...))));
  }
  template <class F, class... Args>
  void go(const stack& s, F&& f, Args&&... args) {
    add(csp::spawn(s, guarded(detail::bind_call(std::forward<F>(f), std::forward<Args>(args)...))));
  }

  // Blocks until every fiber of the scope has finished, then rethrows the first exception
  // (first in time) that escaped one of them, if any. The scope can be reused afterwards.
  void join() {
    join_all();
    std::exception_ptr error;
    {
      std::lock_guard lk(mutex_);
      error = std::exchange(first_error_, nullptr);
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  template <class Body>
  auto guarded(Body body) {
    return [this, body = std::move(body)]() mutable {
      try {
        body();
      } catch (...) {
        std::lock_guard lk(mutex_);
        if (!first_error_) first_error_ = std::current_exception();
      }
    };
  }

  void add(task<void> t) {
    std::lock_guard lk(mutex_);
    tasks_.push_back(std::move(t));
  }

  void join_all() noexcept {
    // Fibers may add more fibers to the scope while we wait: loop until none is left.
    for (;;) {
      std::vector<task<void>> batch;
      {
        std::lock_guard lk(mutex_);
        batch.swap(tasks_);
      }
      if (batch.empty()) return;
      batch.clear();  // each task's destructor joins it (the bodies catch their own errors)
    }
  }

  std::mutex mutex_;  // guards tasks_ and first_error_: scope fibers may run on any thread
  std::vector<task<void>> tasks_;
  std::exception_ptr first_error_;
};

// Runs f(scope&) and returns once every fiber it started in the scope has finished;
// rethrows f's exception, else the first exception of those fibers. Blocks the caller.
template <class F>
void scoped(F&& f) {
  scope s;
  std::exception_ptr body_error;
  try {
    std::forward<F>(f)(s);
  } catch (...) {
    body_error = std::current_exception();
  }
  // Joins outside the handler, so no exception is being handled on this thread while the
  // fiber waits, and the wait is the same whichever worker resumes it.
  if (!body_error) {
    s.join();
    return;
  }
  try {
    s.join();
  } catch (...) {
    // f's own exception wins; the fibers' failure is dropped.
  }
  std::rethrow_exception(body_error);
}

}  // namespace csp
