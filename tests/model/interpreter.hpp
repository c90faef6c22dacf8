#pragma once
// Runs a program (op_language.hpp) on real csp channels, on one thread, and checks it step
// by step against the reference model (reference_model.hpp). Shared by the Catch2 model
// test and the libFuzzer target.
//
// The driver is the calling thread's main fiber. Operations that cannot block (try ops,
// expired timeouts, selects with a default) run on it; the others run on a fiber of their
// own (csp::go on this thread), which holds copies of its handles. After every operation
// the driver yields until no fiber makes progress (settle), then compares: which waiting
// operations completed and how, which still wait, each channel's is_closed() and size(),
// and the live-value count. Values are csp_test::counted tagged (operation, case), so a
// value lost, doubled or reordered shows as a wrong value; counted's tally catches a value
// leaked, destroyed twice or used after destruction.
//
// Determinism: one thread, Boost.Fiber's round-robin scheduler, and timeouts that have
// either expired before the operation starts, never expire, or (brief) expire while the
// driver waits for them and nothing else happens. The only choices left to the library
// (which ready select case fires, which of a waiter's cases on one channel a partner
// takes) are read back from what happened and checked against what the model allows.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <csp/csp.hpp>

#include "../support/counted.hpp"
#include "op_language.hpp"
#include "reference_model.hpp"

namespace csp_model {

using value = csp_test::counted;  // id(): the sending operation's number, aux(): its case

// Fibers started by every machine that have not ended yet: after a failed run some may be
// left waiting forever on channels nobody can reach (the caller decides what to do).
inline int& fibers_alive() noexcept {
  static int n = 0;
  return n;
}

// What one operation really did, written by whoever ran it.
struct record {
  bool done = false;
  completion got{};
  int handler_calls = 0;
  int handler_index = -1;
  bool value_intact = true;  // an unsuccessful send left the caller's value untouched
  std::string error;         // an unexpected exception or status
};

namespace detail {

// Shared with the fibers, so a fiber left behind by a failed run never touches freed memory.
struct shared_state {
  std::deque<record> records;  // index: the model's waiter id
  long progress = 0;           // bumped by fibers as they start and end
};

inline std::chrono::milliseconds duration_of(wait w) noexcept {
  switch (w) {
    case wait::zero: return std::chrono::milliseconds(0);
    case wait::negative: return std::chrono::milliseconds(-5);
    case wait::forever: return std::chrono::milliseconds::max();
    case wait::brief: return std::chrono::milliseconds(1);
  }
  return std::chrono::milliseconds(0);
}

inline bool expired(wait w) noexcept { return w == wait::zero || w == wait::negative; }

inline vkey key_of(const value& v) { return {v.id(), v.aux()}; }

inline void note_recv(record& r, const csp::result<value>& v) {
  r.got.st = v.status();
  if (v) r.got.value = key_of(*v);
}

// ---- plain operations (op_kind send .. recv_for), on a non-empty handle

inline void send_status(record& r, csp::status s, int fallback_index) {
  if (s == csp::status::ok || s == csp::status::closed) {
    r.got = {0, s, {}};
  } else if (s == csp::status::full || s == csp::status::timeout) {
    r.got = {fallback_index, s == csp::status::full ? csp::status::empty : s, {}};
  } else {
    r.error = std::string("unexpected send status ") + std::string(csp::to_string(s));
  }
}

inline void recv_status(record& r, const csp::result<value>& v, int fallback_index) {
  const csp::status s = v.status();
  if (s == csp::status::ok || s == csp::status::closed) {
    r.got = {0, s, {}};
    note_recv(r, v);
  } else if (s == csp::status::empty || s == csp::status::timeout) {
    r.got = {fallback_index, s, {}};
  } else {
    r.error = std::string("unexpected receive status ") + std::string(csp::to_string(s));
  }
}

inline void run_send(const op& o, const csp::sender<value>& tx, int seq, record& r) {
  value v(seq, 0);
  csp::status s = csp::status::ok;
  switch (o.kind) {
    case op_kind::send: s = tx.send(std::move(v)) ? csp::status::ok : csp::status::closed; break;
    case op_kind::try_send: s = tx.try_send(std::move(v)); break;
    default: s = tx.send_for(std::move(v), duration_of(o.timeout)); break;
  }
  send_status(r, s, 1);
  // The value is moved from only by a successful send (sender.hpp's promise).
  if (s != csp::status::ok) r.value_intact = v.alive() && v.id() == seq && v.aux() == 0;
}

inline void run_recv(const op& o, const csp::receiver<value>& rx, record& r) {
  switch (o.kind) {
    case op_kind::recv: recv_status(r, rx.recv(), 1); break;
    case op_kind::try_recv: recv_status(r, rx.try_recv(), 1); break;
    default: recv_status(r, rx.recv_for(duration_of(o.timeout)), 1); break;
  }
}

// ---- selects: slot k is a receive case (number k) and a send case (number n+k), at most
// one of them on a non-empty handle; then the timeout case, then the default.

struct select_io {
  std::array<csp::receiver<value>, max_select_slots> rx{};
  std::array<csp::sender<value>, max_select_slots> tx{};
  std::size_t n = 1;
  bool has_timeout = false;
  bool has_default = false;
  wait timeout = wait::zero;
  bool dynamic = false;
  int seq = 0;

  // Drops the handle copies in a fixed order (the model replays that order).
  void drop() {
    for (std::size_t k = 0; k < max_select_slots; ++k) {
      rx[k] = csp::receiver<value>{};
      tx[k] = csp::sender<value>{};
    }
  }
};

inline void note_handler(record& r, std::size_t index) {
  ++r.handler_calls;
  r.handler_index = static_cast<int>(index);
}

// The handlers of a select's cases, numbered as csp::select numbers them: receives 0..N-1,
// sends N..2N-1, then the timeout, then the default.
template <std::size_t K>
auto recv_handler(record& r) {
  return [&r](csp::result<value> v) {
    note_handler(r, K);
    note_recv(r, v);
  };
}

template <std::size_t K, std::size_t N>
auto send_handler(record& r) {
  return [&r](bool ok) {
    note_handler(r, N + K);
    r.got.st = ok ? csp::status::ok : csp::status::closed;
  };
}

template <std::size_t N>
auto timeout_handler(record& r) {
  return [&r] {
    note_handler(r, 2 * N);
    r.got.st = csp::status::timeout;
  };
}

template <std::size_t N>
auto default_handler(record& r, bool has_timeout) {
  return [&r, index = 2 * N + (has_timeout ? 1 : 0)] {
    note_handler(r, index);
    r.got.st = csp::status::empty;
  };
}

// Exactly one handler ran, and it is the one of the case `what` says fired.
inline void check_fired(record& r, std::size_t fired, const char* what) {
  r.got.fired = static_cast<int>(fired);
  if (r.handler_calls != 1 || r.handler_index != r.got.fired) {
    r.error = std::string(what) + " returned " + std::to_string(fired) + " but ran " +
              std::to_string(r.handler_calls) + " handler(s), the last for case " +
              std::to_string(r.handler_index);
  }
}

template <std::size_t K>
auto recv_case(select_io& io, record& r) {
  return csp::on_recv(io.rx[K], recv_handler<K>(r));
}

// An lvalue value: the case sends a copy of its own (these tests do not depend on whether a
// case borrows or owns an rvalue).
template <std::size_t K, std::size_t N>
auto send_case(select_io& io, std::array<value, N>& vals, record& r) {
  return csp::on_send(io.tx[K], vals[K], send_handler<K, N>(r));
}

template <std::size_t N, bool Timeout, bool Default>
void run_select_shape(select_io& io, record& r) {
  [&]<std::size_t... K>(std::index_sequence<K...>) {
    std::array<value, N> vals{value(io.seq, static_cast<int>(N + K))...};
    const auto timeout = timeout_handler<N>(r);
    const auto otherwise = default_handler<N>(r, Timeout);
    std::size_t fired = 0;
    if constexpr (Timeout && Default) {
      fired = csp::select(recv_case<K>(io, r)..., send_case<K, N>(io, vals, r)...,
                          csp::on_timeout(duration_of(io.timeout), timeout),
                          csp::otherwise(otherwise));
    } else if constexpr (Timeout) {
      fired = csp::select(recv_case<K>(io, r)..., send_case<K, N>(io, vals, r)...,
                          csp::on_timeout(duration_of(io.timeout), timeout));
    } else if constexpr (Default) {
      fired = csp::select(recv_case<K>(io, r)..., send_case<K, N>(io, vals, r)...,
                          csp::otherwise(otherwise));
    } else {
      fired = csp::select(recv_case<K>(io, r)..., send_case<K, N>(io, vals, r)...);
    }
    check_fired(r, fired, "select");
  }(std::make_index_sequence<N>{});
}

// The same select as a csp::selector: cases added in select numbering order, so the ids
// select() returns are the same numbers. The selector holds copies of the handles (never
// the last ones: io holds its own until after the selector is gone).
template <std::size_t N>
void run_selector(select_io& io, record& r) {
  [&]<std::size_t... K>(std::index_sequence<K...>) {
    std::array<value, N> vals{value(io.seq, static_cast<int>(N + K))...};  // outlive `sel`
    std::size_t fired = 0;
    {
      csp::selector sel;
      (sel.on_recv(io.rx[K], recv_handler<K>(r)), ...);
      (sel.on_send(io.tx[K], vals[K], send_handler<K, N>(r)), ...);
      if (io.has_timeout) sel.on_timeout(duration_of(io.timeout), timeout_handler<N>(r));
      if (io.has_default) sel.otherwise(default_handler<N>(r, io.has_timeout));
      fired = sel.select();
    }
    check_fired(r, fired, "selector::select");
  }(std::make_index_sequence<N>{});
}

template <std::size_t N>
void run_select_n(select_io& io, record& r) {
  if (io.dynamic) {
    run_selector<N>(io, r);
  } else if (io.has_timeout) {
    io.has_default ? run_select_shape<N, true, true>(io, r) : run_select_shape<N, true, false>(io, r);
  } else {
    io.has_default ? run_select_shape<N, false, true>(io, r) : run_select_shape<N, false, false>(io, r);
  }
}

inline void run_select(select_io& io, record& r) {
  switch (io.n) {
    case 1: run_select_n<1>(io, r); break;
    case 2: run_select_n<2>(io, r); break;
    default: run_select_n<3>(io, r); break;
  }
}

// Runs body, recording an unexpected exception instead of letting it escape a fiber.
template <class Body>
void guarded(record& r, Body body) noexcept {
  try {
    body();
  } catch (const std::exception& e) {
    r.error = std::string("unexpected exception: ") + e.what();
  } catch (...) {
    r.error = "unexpected exception of unknown type";
  }
  r.done = true;
}

}  // namespace detail

class machine {
 public:
  explicit machine(program p)
      : prog_(std::move(p)),
        shared_(std::make_shared<detail::shared_state>()),
        model_([this](int w, const std::vector<int>& candidates) {
          const int f = shared_->records[static_cast<std::size_t>(w)].got.fired;
          return std::find(candidates.begin(), candidates.end(), f) != candidates.end()
                     ? f
                     : candidates.front();
        }),
        base_(csp_test::snapshot()) {}

  machine(const machine&) = delete;
  machine& operator=(const machine&) = delete;
  ~machine() { abandon(); }

  // Runs the whole program; the first disagreement with the model, or nullopt.
  std::optional<std::string> run() {
    for (const channel_spec& s : prog_.channels) chans_.push_back(make(s));
    for (std::size_t i = 0; i < prog_.ops.size(); ++i) {
      step_ = "#" + std::to_string(i) + " " + to_string(prog_.ops[i]);
      exec(prog_.ops[i], static_cast<int>(i));  // settles before it consults the model
      if (failed()) return failure_;
      compare();
      if (failed()) return failure_;
    }
    finish();
    if (failed()) return failure_;
    return std::nullopt;
  }

 private:
  struct channel_slots {
    std::array<csp::sender<value>, slots_per_end> tx{};
    std::array<csp::receiver<value>, slots_per_end> rx{};
    int inst = 0;
  };

  bool failed() const noexcept { return !failure_.empty(); }
  void fail(const std::string& what) {
    if (!failed()) failure_ = "at " + step_ + ": " + what;
  }

  channel_slots make(channel_spec s) {
    channel_slots c;
    csp::channel_pair<value> p = [&] {
      switch (s.kind) {
        case flavor::rendezvous: return csp::make_channel<value>();
        case flavor::bounded: return csp::make_channel<value>(s.capacity);
        case flavor::unbounded: return csp::make_channel<value>(csp::unbounded);
        case flavor::oneshot: return csp::make_oneshot<value>();
      }
      return csp::make_channel<value>();
    }();
    c.tx[0] = std::move(p.first);
    c.rx[0] = std::move(p.second);
    c.inst = model_.make_channel(s);
    // Only for closing, at the end, a channel the driver has no handle of but a waiting
    // fiber keeps open (e.g. a select holding both ends of one rendezvous channel).
    raw_.push_back(c.tx[0].state());
    const std::optional<std::size_t> cap = c.rx[0].capacity();
    const std::optional<std::size_t> want =
        s.kind == flavor::rendezvous ? std::optional<std::size_t>(0)
        : s.kind == flavor::bounded  ? std::optional<std::size_t>(s.capacity)
        : s.kind == flavor::oneshot  ? std::optional<std::size_t>(1)
                                     : std::nullopt;
    if (cap != want) fail("capacity() of a new " + to_string(s) + " is wrong");
    return c;
  }

  record& new_record() { return shared_->records.emplace_back(); }

  template <class Exception, class F>
  void expect_throw(const char* what, F f) {
    try {
      f();
    } catch (const Exception&) {
      return;
    } catch (const std::exception& e) {
      fail(std::string(what) + " threw the wrong exception: " + e.what());
      return;
    }
    fail(std::string(what) + " did not throw");
  }

  // Yields until no fiber has made progress for a few rounds: every fiber that can run has
  // run and is parked or ended.
  void settle() {
    int quiet = 0;
    long last = shared_->progress;
    for (int i = 0; i < 100000 && quiet < 3; ++i) {
      csp::this_fiber::yield();
      if (shared_->progress == last) {
        ++quiet;
      } else {
        quiet = 0;
        last = shared_->progress;
      }
    }
    if (quiet < 3) fail("the fibers never settled (livelock?)");
  }

  // Starts the operation of waiter w on a fiber holding `state` (its handle copies).
  template <class State, class Body>
  void start_fiber(int w, State state, Body body) {
    ++fibers_alive();
    std::shared_ptr<detail::shared_state> sh = shared_;
    csp::go([sh, w, state = std::move(state), body]() mutable {
      ++sh->progress;
      record& r = sh->records[static_cast<std::size_t>(w)];
      detail::guarded(r, [&] { body(state, r); });
      state.drop();
      --fibers_alive();
      ++sh->progress;
    });
  }

  // The model's verdict on the operation waiter w just started; brief timeouts are waited
  // out here, with nothing else going on.
  void conclude(int w) {
    record& r = shared_->records[static_cast<std::size_t>(w)];
    if (!r.error.empty()) return fail(r.error);
    const std::vector<int> ready = model_.ready_cases(w);
    if (!ready.empty()) {
      if (!r.done) {
        fail("a case was ready but the operation waits");
        return;
      }
      if (std::find(ready.begin(), ready.end(), r.got.fired) == ready.end()) {
        fail("case " + std::to_string(r.got.fired) + " fired, but it was not ready");
        return;
      }
    }
    if (model_.start(w, r.got.fired)) return;
    if (model_.spec(w).timeout_index < 0 || model_.spec(w).timeout != wait::brief) return;
    for (int i = 0; i < 2000 && !r.done; ++i) {
      csp::this_fiber::sleep_for(std::chrono::milliseconds(1));
    }
    settle();
    model_.expire(w);
  }

  void exec(const op& o, int seq) {
    channel_slots& c = chans_[o.channel % chans_.size()];
    switch (o.kind) {
      case op_kind::send:
      case op_kind::try_send:
      case op_kind::send_for: {
        const csp::sender<value>& tx = c.tx[o.slot];
        if (!tx) {
          expect_throw<csp::empty_handle>("a send on an empty sender", [&] {
            record scratch;
            detail::run_send(o, tx, seq, scratch);
          });
          return;
        }
        plain(o, c.inst, side::tx, seq, tx);
        return;
      }
      case op_kind::recv:
      case op_kind::try_recv:
      case op_kind::recv_for: {
        const csp::receiver<value>& rx = c.rx[o.slot];
        if (!rx) {
          expect_throw<csp::empty_handle>("a receive on an empty receiver", [&] {
            record scratch;
            detail::run_recv(o, rx, scratch);
          });
          return;
        }
        plain(o, c.inst, side::rx, seq, rx);
        return;
      }
      case op_kind::close: {
        const bool empty = o.end == side::tx ? !c.tx[o.slot] : !c.rx[o.slot];
        if (empty) {
          expect_throw<csp::empty_handle>("close on an empty handle", [&] {
            o.end == side::tx ? c.tx[o.slot].close() : c.rx[o.slot].close();
          });
          return;
        }
        o.end == side::tx ? c.tx[o.slot].close() : c.rx[o.slot].close();
        settle();
        model_.close(c.inst);
        return;
      }
      case op_kind::copy: {
        const bool had = o.end == side::tx ? static_cast<bool>(c.tx[o.slot2])
                                           : static_cast<bool>(c.rx[o.slot2]);
        const bool gets = o.end == side::tx ? static_cast<bool>(c.tx[o.slot])
                                            : static_cast<bool>(c.rx[o.slot]);
        // The copy is made before the old handle in slot2 is released (copy-and-swap).
        if (o.end == side::tx) {
          c.tx[o.slot2] = c.tx[o.slot];
        } else {
          c.rx[o.slot2] = c.rx[o.slot];
        }
        settle();
        if (gets) model_.add_handle(c.inst, o.end);
        if (had) model_.drop_handle(c.inst, o.end);
        return;
      }
      case op_kind::drop:
        drop_real(c, o.end, o.slot);
        settle();
        apply_drops();
        return;
      case op_kind::drop_all:
        for (std::size_t k = 0; k < slots_per_end; ++k) drop_real(c, o.end, k);
        settle();
        apply_drops();
        return;
      case op_kind::renew:
        drop_every_handle(c);
        c = make(o.renew_spec);
        return;
      case op_kind::select:
        select(o, seq);
        return;
    }
  }

  // Empties a driver slot. The model hears of it in apply_drops(), after the driver has
  // settled: the model reads how the fibers that the drop woke really ended.
  void drop_real(channel_slots& c, side s, std::size_t k) {
    const bool had = s == side::tx ? static_cast<bool>(c.tx[k]) : static_cast<bool>(c.rx[k]);
    if (s == side::tx) {
      c.tx[k] = csp::sender<value>{};
    } else {
      c.rx[k] = csp::receiver<value>{};
    }
    if (had) dropped_.emplace_back(c.inst, s);
  }

  void apply_drops() {
    for (auto [inst, s] : dropped_) model_.drop_handle(inst, s, false);
    dropped_.clear();
    model_.run_fibers();
  }

  void drop_every_handle(channel_slots& c) {
    for (std::size_t k = 0; k < slots_per_end; ++k) drop_real(c, side::tx, k);
    for (std::size_t k = 0; k < slots_per_end; ++k) drop_real(c, side::rx, k);
    settle();
    apply_drops();
  }

  template <class Handle>
  void plain(const op& o, int inst, side s, int seq, const Handle& h) {
    const bool is_try = o.kind == op_kind::try_send || o.kind == op_kind::try_recv;
    const bool timed = o.kind == op_kind::send_for || o.kind == op_kind::recv_for;
    const bool on_driver = is_try || (timed && detail::expired(o.timeout));
    waiter_spec spec;
    spec.cases.push_back(
        {0, inst, s == side::tx ? dir::send : dir::recv, vkey{seq, 0}});
    if (is_try) spec.default_index = 1;
    if (timed) {
      spec.timeout_index = 1;
      spec.timeout = o.timeout;
    }
    if (!on_driver) spec.copies.emplace_back(inst, s);
    spec.holds_values = s == side::tx;
    const int w = model_.new_waiter(std::move(spec));
    record& r = new_record();
    auto body = [o, seq](auto& held, record& rec) {
      if constexpr (std::is_same_v<Handle, csp::sender<value>>) {
        detail::run_send(o, held.h, seq, rec);
      } else {
        static_cast<void>(seq);
        detail::run_recv(o, held.h, rec);
      }
    };
    struct held_handle {
      Handle h;
      void drop() { h = Handle{}; }
    };
    if (on_driver) {
      held_handle borrowed{h};  // one more handle for the call only: never the last one
      detail::guarded(r, [&] { body(borrowed, r); });
      settle();  // the fibers it woke record how they ended, which the model reads
    } else {
      start_fiber(w, held_handle{h}, body);
      settle();
    }
    conclude(w);
  }

  void select(const op& o, int seq) {
    detail::select_io io;
    io.n = std::clamp<std::size_t>(o.ncases, 1, max_select_slots);
    io.has_timeout = o.has_timeout;
    io.has_default = o.has_default;
    io.timeout = o.timeout;
    io.dynamic = o.dynamic;
    io.seq = seq;
    waiter_spec spec;
    std::vector<std::pair<int, side>> copies;
    for (std::size_t k = 0; k < io.n; ++k) {
      const case_spec& cs = o.cases[k];
      channel_slots& c = chans_[cs.channel % chans_.size()];
      if (cs.mode == case_mode::recv && c.rx[cs.slot]) {
        io.rx[k] = c.rx[cs.slot];
        spec.cases.push_back({static_cast<int>(k), c.inst, dir::recv, {}});
        copies.emplace_back(c.inst, side::rx);
      } else if (cs.mode == case_mode::send && c.tx[cs.slot]) {
        io.tx[k] = c.tx[cs.slot];
        const int index = static_cast<int>(io.n + k);
        spec.cases.push_back({index, c.inst, dir::send, vkey{seq, index}});
        copies.emplace_back(c.inst, side::tx);
      }
    }
    const bool any_enabled = !spec.cases.empty();
    if (!any_enabled && !io.has_default && !io.has_timeout) {
      expect_throw<csp::invalid_argument>("a select with no enabled case, timeout or default",
                                          [&] {
                                            record scratch;
                                            detail::run_select(io, scratch);
                                          });
      return;
    }
    // Nothing could ever end such a select: make its timeout one that has expired.
    if (!any_enabled && !io.has_default && io.timeout == wait::forever) io.timeout = wait::zero;
    const std::size_t n = io.n;
    if (io.has_timeout) {
      spec.timeout_index = static_cast<int>(2 * n);
      spec.timeout = io.timeout;
    }
    if (io.has_default) spec.default_index = static_cast<int>(2 * n + (io.has_timeout ? 1 : 0));
    const bool on_driver = io.has_default || (io.has_timeout && detail::expired(io.timeout));
    if (!on_driver) spec.copies = std::move(copies);
    spec.holds_values = true;
    const int w = model_.new_waiter(std::move(spec));
    record& r = new_record();
    auto body = [](detail::select_io& held, record& rec) { detail::run_select(held, rec); };
    if (on_driver) {
      detail::guarded(r, [&] { body(io, r); });
      io.drop();  // extra copies for the call only: never the last handles
      settle();
    } else {
      start_fiber(w, std::move(io), body);
      settle();
    }
    conclude(w);
  }

  // Compares the real channels and operations with the model after a settled step.
  void compare() {
    for (const auto& [w, want] : model_.take_completions()) {
      const record& r = shared_->records[static_cast<std::size_t>(w)];
      const std::string who = "operation (waiter " + std::to_string(w) + ")";
      if (!r.error.empty()) return fail(who + ": " + r.error);
      if (!r.done) return fail(who + " should have completed with " + to_string(want) +
                               " but still waits");
      if (!(r.got == want)) {
        return fail(who + " completed with " + to_string(r.got) + ", the model says " +
                    to_string(want));
      }
      if (!r.value_intact) return fail(who + ": an unsuccessful send moved the value away");
    }
    for (int w : model_.pending_waiters()) {
      const record& r = shared_->records[static_cast<std::size_t>(w)];
      if (r.done) {
        return fail("operation (waiter " + std::to_string(w) + ") should still wait but " +
                    (r.error.empty() ? "completed with " + to_string(r.got) : r.error));
      }
    }
    for (std::size_t ch = 0; ch < chans_.size(); ++ch) {
      const channel_slots& c = chans_[ch];
      const csp::sender<value>* any_tx = nullptr;
      for (const auto& t : c.tx) {
        if (t) any_tx = &t;
      }
      bool closed = false;
      std::size_t size = 0;
      bool have = false;
      if (any_tx) {
        closed = any_tx->is_closed();
        size = any_tx->size();
        have = true;
      } else {
        for (const auto& rx : c.rx) {
          if (rx) {
            closed = rx.is_closed();
            size = rx.size();
            have = true;
            break;
          }
        }
      }
      if (!have) continue;
      const std::string name = "c" + std::to_string(ch);
      if (closed != model_.closed(c.inst)) {
        return fail(name + ".is_closed() is " + (closed ? "true" : "false") +
                    ", the model says otherwise");
      }
      if (size != model_.size(c.inst)) {
        return fail(name + ".size() is " + std::to_string(size) + ", the model says " +
                    std::to_string(model_.size(c.inst)));
      }
    }
    const csp_test::count_snapshot now = csp_test::snapshot();
    if (now.bad_destroys != base_.bad_destroys) return fail("a value was destroyed twice");
    if (now.dead_uses != base_.dead_uses) return fail("a destroyed value was used");
    if (!model_.any_pending_sender_or_select()) {
      const long live = now.live - base_.live;
      if (live != static_cast<long>(model_.buffered_total())) {
        return fail(std::to_string(live) + " values alive, but " +
                    std::to_string(model_.buffered_total()) + " buffered in the model");
      }
    }
  }

  // Closes everything, drains what the driver can still receive, drops every handle, and
  // checks that no fiber is left and no value outlives its channel.
  void finish() {
    step_ = "the end: close every channel";
    for (std::size_t inst = 0; inst < model_.instances(); ++inst) {
      const int i = static_cast<int>(inst);
      // Open in the model means both ends still have handles: the state is alive.
      if (!model_.closed(i)) raw_[inst]->close();
    }
    settle();
    for (std::size_t inst = 0; inst < model_.instances(); ++inst) {
      model_.close(static_cast<int>(inst), false);
    }
    model_.run_fibers();
    compare();
    if (failed()) return;
    step_ = "the end: drain";
    int seq = static_cast<int>(prog_.ops.size());
    for (std::size_t ch = 0; ch < chans_.size(); ++ch) {
      for (std::size_t k = 0; k < slots_per_end; ++k) {
        if (!chans_[ch].rx[k]) continue;
        for (std::size_t left = model_.size(chans_[ch].inst) + 1; left > 0; --left) {
          op o;
          o.kind = op_kind::try_recv;
          o.channel = static_cast<std::uint8_t>(ch);
          o.slot = static_cast<std::uint8_t>(k);
          exec(o, seq++);
          compare();
          if (failed()) return;
        }
        break;
      }
    }
    if (!model_.pending_waiters().empty()) return fail("waiters left after closing everything");
    step_ = "the end: drop every handle";
    for (auto& c : chans_) drop_every_handle(c);
    compare();
    if (failed()) return;
    for (std::size_t inst = 0; inst < model_.instances(); ++inst) {
      const int i = static_cast<int>(inst);
      if (model_.handles(i, side::tx) != 0 || model_.handles(i, side::rx) != 0) {
        return fail("the model still counts handles of channel instance " + std::to_string(i));
      }
    }
    for (const record& r : shared_->records) {
      if (!r.done) return fail("an operation never ended");
    }
    const long live = csp_test::snapshot().live - base_.live;
    if (live != 0) return fail(std::to_string(live) + " values still alive (leaked)");
  }

  // After a failure: release what the driver holds and let woken fibers end; fibers
  // waiting on channels nobody can reach stay parked (fibers_alive() counts them).
  void abandon() {
    for (auto& c : chans_) {
      for (auto& t : c.tx) {
        if (t) t.close();
      }
      c.tx = {};
      c.rx = {};
    }
    for (int i = 0; i < 10; ++i) csp::this_fiber::yield();
  }

  program prog_;
  std::shared_ptr<detail::shared_state> shared_;
  reference model_;
  csp_test::count_snapshot base_;
  std::vector<channel_slots> chans_;
  std::vector<csp::detail::channel_state<value>*> raw_;  // per model instance
  std::vector<std::pair<int, side>> dropped_;             // driver drops not yet modelled
  std::string step_ = "the start";
  std::string failure_;
};

// Runs one program: the first disagreement with the model, or nullopt.
inline std::optional<std::string> check(const program& p) {
  machine m(p);
  return m.run();
}

// The shortest failing program found by dropping operations (halves, quarters, ... then
// one at a time) while it still fails; `max_runs` bounds the effort.
template <class StillFails>
program shrink(program p, StillFails still_fails, std::size_t max_runs = 3000) {
  std::size_t runs = 0;
  for (std::size_t chunk = std::max<std::size_t>(p.ops.size() / 2, 1); chunk >= 1;) {
    bool removed = false;
    for (std::size_t i = 0; i + chunk <= p.ops.size() && runs < max_runs;) {
      program q = p;
      q.ops.erase(q.ops.begin() + static_cast<std::ptrdiff_t>(i),
                  q.ops.begin() + static_cast<std::ptrdiff_t>(i + chunk));
      ++runs;
      if (still_fails(q)) {
        p = std::move(q);
        removed = true;
      } else {
        i += chunk;
      }
    }
    if (runs >= max_runs) break;
    if (chunk == 1) {
      if (!removed) break;
    } else {
      chunk /= 2;
    }
  }
  return p;
}

}  // namespace csp_model
