#pragma once
// csp::selector: a select whose cases are known only at run time (fan-in over a vector of
// receivers, say). Build it once, call select() as often as needed, remove cases on the way.
//
//   csp::selector sel;
//   for (auto& rx : inputs) sel.on_recv(rx, [&](csp::result<int> v) { ... });
//   while (...) sel.select();
//
// Same semantics as csp::select. A selector keeps copies of the handles it was given, and
// a reference to each value given to on_send. One selector is used by one fiber at a time;
// distinct selectors over the same channels may be used concurrently from any threads.
// A handler may add and remove cases of its own selector, its own case included (the fan-in
// idiom: remove the case whose channel just closed); a removed case never fires again and
// is destroyed once the running handler has returned.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <csp/errors.hpp>
#include <csp/select/cases.hpp>
#include <csp/select/detail/select_engine.hpp>
#include <csp/select/select.hpp>

namespace csp {

class selector {
 public:
  // Identifies a case; ids count up from 0 in the order cases are added, and stay valid
  // (never reused) when other cases are removed.
  using case_id = std::size_t;

  selector() = default;
  selector(selector&&) noexcept = default;
  selector& operator=(selector&&) noexcept = default;

  // Adds a receive case on (a copy of) rx. The handler gets a value or status closed.
  template <class T, class F>
  case_id on_recv(const receiver<T>& rx, F&& handler) {
    using C = owned<detail::recv_case<T, std::decay_t<F>>>;
    return add(std::make_unique<C>(receiver<T>(rx), std::forward<F>(handler)));
  }

  // Adds a send case of `value`, which must outlive the selector's use: each select() that
  // fires this case moves from it, so refill it (or remove the case) before the next one.
  template <class T, class F>
  case_id on_send(const sender<T>& tx, T& value, F&& handler) {
    using C = owned<detail::send_case<T, std::decay_t<F>>>;
    auto c = std::make_unique<C>(sender<T>(tx), value, std::forward<F>(handler));
    return add(std::move(c));
  }
  template <class T, class F>
  case_id on_send(const sender<T>&, T&&, F&&) = delete;  // the value would dangle

  // Adds a timeout: each select() waits `timeout` at most, counted from its own start.
  // Huge durations saturate (hours::max() never fires); zero or negative ones fire at once
  // when no channel case is ready.
  template <class Rep, class Period, class F>
  case_id on_timeout(std::chrono::duration<Rep, Period> timeout, F&& handler) {
    return add_special(std::forward<F>(handler), detail::saturating_ceil(timeout), {});
  }

  // Adds a fixed deadline for every select() of this selector.
  template <class Clock, class Duration, class F>
  case_id on_deadline(std::chrono::time_point<Clock, Duration> deadline, F&& handler) {
    return add_special(std::forward<F>(handler), std::nullopt, detail::to_steady(deadline));
  }

  // Adds the default case: select() never blocks. At most one; a second throws
  // csp::invalid_argument.
  template <class F>
  case_id otherwise(F&& handler) {
    for (const auto& s : specials_) {
      if (s->is_default) throw invalid_argument("csp::selector: a second otherwise(...) case");
    }
    specials_.push_back(std::make_unique<special>(
        special{slots_.size(), std::forward<F>(handler), true, {}, {}}));
    slots_.push_back(kind::special);
    return slots_.size() - 1;
  }

  // Removes a case; select() will never fire it again. Allowed from a handler of this
  // selector, its own case included: the case is then destroyed when that handler returns.
  // Never blocks. Throws csp::invalid_argument for an id that was never returned or was
  // already removed.
  void remove(case_id id) {
    if (id >= slots_.size() || slots_[id] == kind::removed) {
      throw invalid_argument("csp::selector::remove: no case with id " + std::to_string(id));
    }
    if (slots_[id] == kind::channel) {
      auto it = std::find_if(channels_.begin(), channels_.end(),
                             [id](const channel_entry& e) { return e.id == id; });
      std::unique_ptr<owned_base> holder = std::move(it->holder);
      channels_.erase(it);
      rebuild_views();
      if (firing_) retired_cases_.push_back(std::move(holder));
    } else {
      auto it = std::find_if(specials_.begin(), specials_.end(),
                             [id](const std::unique_ptr<special>& s) { return s->id == id; });
      std::unique_ptr<special> holder = std::move(*it);
      specials_.erase(it);
      if (firing_) retired_specials_.push_back(std::move(holder));
    }
    slots_[id] = kind::removed;
  }

  // Number of live (not removed) cases.
  std::size_t size() const noexcept { return channels_.size() + specials_.size(); }

  // Blocks until one case can proceed, performs it, runs its handler and returns its id.
  // Throws csp::invalid_argument if it could only block forever (no enabled channel case,
  // no timeout, no default), or when called from one of this selector's own handlers.
  case_id select() {
    if (firing_) {
      throw invalid_argument("csp::selector::select called from one of its own handlers");
    }
    std::optional<clock::time_point> deadline;
    special* timeout = nullptr;
    special* fallback = nullptr;
    for (const std::unique_ptr<special>& s : specials_) {
      if (s->is_default) {
        fallback = s.get();
        continue;
      }
      const clock::time_point d =
          s->relative ? detail::deadline_after(*s->relative) : s->absolute;
      if (!deadline || d < *deadline) {
        deadline = d;
        timeout = s.get();
      }
    }
    bool any_enabled = false;
    for (detail::select_case* c : views_) any_enabled = any_enabled || c->lock() != nullptr;
    if (!any_enabled && !deadline && !fallback) detail::throw_select_blocks_forever();

    const std::size_t n = views_.size();
    order_.resize(n);
    locks_.resize(n);
    entries_.resize(n);
    const detail::select_outcome outcome = detail::run_select(
        views_, {order_, locks_, entries_}, deadline ? &*deadline : nullptr, fallback != nullptr);

    // The handler may add or remove cases, its own included: it runs on the case object
    // (heap-allocated, so it does not move when the vectors grow), its id is taken first,
    // and what it removes is destroyed only after it returns.
    struct firing_scope {
      selector& sel;
      explicit firing_scope(selector& s) : sel(s) { sel.firing_ = true; }
      ~firing_scope() {
        sel.firing_ = false;
        sel.retired_cases_.clear();
        sel.retired_specials_.clear();
      }
    } firing(*this);
    switch (outcome.kind) {
      case detail::select_outcome::fired: {
        const channel_entry& e = channels_[outcome.index];
        const case_id id = e.id;
        e.c->fire();
        return id;
      }
      case detail::select_outcome::timed_out: {
        const case_id id = timeout->id;
        timeout->handler();
        return id;
      }
      case detail::select_outcome::defaulted: {
        const case_id id = fallback->id;
        fallback->handler();
        return id;
      }
    }
    return 0;  // unreachable
  }

 private:
  enum class kind : unsigned char { channel, special, removed };

  struct owned_base {
    virtual ~owned_base() = default;
    virtual detail::select_case* view() noexcept = 0;
  };
  template <class Case>
  struct owned final : owned_base {
    template <class... Args>
    explicit owned(Args&&... args) : c(std::forward<Args>(args)...) {}
    detail::select_case* view() noexcept override { return &c; }
    Case c;
  };
  struct channel_entry {
    case_id id;
    std::unique_ptr<owned_base> holder;
    detail::select_case* c;
  };
  struct special {
    case_id id;
    std::function<void()> handler;
    bool is_default;
    std::optional<clock::duration> relative;
    clock::time_point absolute;
  };

  case_id add(std::unique_ptr<owned_base> holder) {
    detail::select_case* c = holder->view();
    channels_.push_back({slots_.size(), std::move(holder), c});
    views_.push_back(c);
    slots_.push_back(kind::channel);
    return slots_.size() - 1;
  }

  template <class F>
  case_id add_special(F&& handler, std::optional<clock::duration> relative,
                      clock::time_point absolute) {
    specials_.push_back(std::make_unique<special>(
        special{slots_.size(), std::forward<F>(handler), false, relative, absolute}));
    slots_.push_back(kind::special);
    return slots_.size() - 1;
  }

  void rebuild_views() {
    views_.clear();
    for (const channel_entry& e : channels_) views_.push_back(e.c);
  }

  std::vector<kind> slots_;
  std::vector<channel_entry> channels_;
  std::vector<detail::select_case*> views_;
  std::vector<std::unique_ptr<special>> specials_;
  bool firing_ = false;  // a handler of this selector is running
  std::vector<std::unique_ptr<owned_base>> retired_cases_;  // removed while firing
  std::vector<std::unique_ptr<special>> retired_specials_;
  std::vector<std::uint32_t> order_;
  std::vector<detail::spinlock*> locks_;
  std::vector<detail::wait_entry> entries_;
};

}  // namespace csp
