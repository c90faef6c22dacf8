#pragma once
// The sequential reference model of DESIGN.md's channel semantics: what the channels of a
// program must hold and what each operation must return, one operation at a time.
//
// Every operation is modelled as a *waiter* with channel cases plus an optional timeout and
// an optional default: a plain send is a waiter with one send case, try_send adds a default
// (reported as `full`), send_for a timeout; a select is a waiter with several cases. So one
// set of rules covers plain operations and selects:
//   * a send case is ready if its channel is closed (it fails), has a waiting receiver
//     (hand-off) or has room; a receive case if the channel has a buffered value, a waiting
//     sender (rendezvous hand-off) or is closed (status closed once drained);
//   * an operation with a ready case completes one of them at once; otherwise its default
//     fires, else an expired timeout, else it waits: linked in every case's channel queue;
//   * a channel serves its waiting receivers and senders first come, first served; a
//     receive that frees a slot refills it from the oldest waiting sender;
//   * close wakes every waiter of the channel (receivers first); the last sender handle
//     closes; the last receiver handle closes and discards the buffer; a oneshot closes
//     after its one send;
//   * a waiter's fiber holds copies of its handles and drops them, in order, when it runs
//     after completing; woken fibers run in the order they were woken (Boost.Fiber's
//     round-robin scheduler), which is the order the model replays their drops in.
// Where the real library may choose (which of several ready cases fires, which of a
// waiter's cases on one channel a partner completes), the model asks a chooser: the
// interpreter answers with what really happened, and the model checks the choice was one
// the semantics allow.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <csp/status.hpp>

#include "op_language.hpp"

namespace csp_model {

// A value's identity: the operation that sent it (seq) and the case it was sent from.
struct vkey {
  int seq = -1;
  int producer = -1;
  friend bool operator==(const vkey&, const vkey&) = default;
};

enum class dir : std::uint8_t { send, recv };

struct wcase {
  int index = 0;  // the waiter's case number (select numbering)
  int inst = 0;   // channel instance
  dir d = dir::send;
  vkey value{};   // send cases
};

// How a waiter ended. st: ok or closed for a channel case (a send's ok is st == ok),
// timeout for its timeout case, empty for its default.
struct completion {
  int fired = -1;
  csp::status st = csp::status::empty;
  vkey value{};  // a receive case's value when st == ok
  friend bool operator==(const completion&, const completion&) = default;
};

inline std::string to_string(const completion& c) {
  std::string s = "case " + std::to_string(c.fired) + " status " + std::string(csp::to_string(c.st));
  if (c.st == csp::status::ok && c.value.seq >= 0) {
    s += " value (" + std::to_string(c.value.seq) + "," + std::to_string(c.value.producer) + ")";
  }
  return s;
}

struct waiter_spec {
  std::vector<wcase> cases;  // enabled channel cases only
  int timeout_index = -1;    // -1: none
  wait timeout = wait::forever;
  int default_index = -1;
  std::vector<std::pair<int, side>> copies;  // handles its fiber holds, in drop order
  bool holds_values = false;                 // its fiber owns values while it waits
};

class reference {
 public:
  // Answers "which of these cases of waiter w did the library take?"; must return one of
  // `candidates` (the interpreter returns the observed one if allowed, else the first).
  using chooser = std::function<int(int w, const std::vector<int>& candidates)>;

  explicit reference(chooser choose) : choose_(std::move(choose)) {}

  int make_channel(channel_spec s) {
    chans_.push_back(chan{s});
    return static_cast<int>(chans_.size()) - 1;
  }

  // ---- handles held by the driver. Several driver actions in a row, with no fiber
  // running in between, pass run_fibers = false to all but the last.

  void add_handle(int inst, side s) { ++chans_[idx(inst)].handles[s == side::tx ? 0 : 1]; }
  void drop_handle(int inst, side s, bool run_fibers = true) {
    drop_handle_now(inst, s);
    if (run_fibers) run_woken();
  }

  void close(int inst, bool run_fibers = true) {
    close_now(inst);
    if (run_fibers) run_woken();
  }

  // Lets the fibers woken so far run (and drop their handle copies).
  void run_fibers() { run_woken(); }

  // ---- operations

  // Registers a waiter (its fiber's handle copies now count) and returns its id.
  int new_waiter(waiter_spec spec) {
    for (auto [inst, s] : spec.copies) add_handle(inst, s);
    waiters_.push_back(waiter{std::move(spec)});
    return static_cast<int>(waiters_.size()) - 1;
  }

  // The waiter's cases that can proceed right now.
  std::vector<int> ready_cases(int w) const {
    std::vector<int> ready;
    for (const wcase& c : waiters_[idx(w)].spec.cases) {
      const chan& ch = chans_[idx(c.inst)];
      const bool ok = c.d == dir::send
                          ? ch.closed || !ch.receivers.empty() || ch.buffer.size() < ch.cap()
                          : !ch.buffer.empty() || !ch.senders.empty() || ch.closed;
      if (ok) ready.push_back(c.index);
    }
    return ready;
  }

  // What the waiter does when it starts, given which ready case the library took (ignored
  // if none is ready). Returns false if it waits (linked on its channels).
  bool start(int w, int taken) {
    waiter& me = waiters_[idx(w)];
    const std::vector<int> ready = ready_cases(w);
    if (!ready.empty()) {
      const wcase& c = case_of(me, taken);
      completion done{c.index, csp::status::ok, {}};
      if (c.d == dir::send) {
        done.st = send_now(c.inst, c.value);
      } else {
        done = recv_now(c.inst, c.index);
      }
      finish(w, done);
      ran_at_once(w);
      return true;
    }
    if (me.spec.default_index >= 0) {
      finish(w, {me.spec.default_index, csp::status::empty, {}});
      ran_at_once(w);
      return true;
    }
    if (me.spec.timeout_index >= 0 &&
        (me.spec.timeout == wait::zero || me.spec.timeout == wait::negative)) {
      finish(w, {me.spec.timeout_index, csp::status::timeout, {}});
      ran_at_once(w);
      return true;
    }
    for (const wcase& c : me.spec.cases) {
      chan& ch = chans_[idx(c.inst)];
      (c.d == dir::send ? ch.senders : ch.receivers).push_back(entry{w, c.index});
    }
    me.pending = true;
    pending_.push_back(w);
    return false;
  }

  // A waiting waiter's timeout fired: it leaves every queue, and nothing else changes.
  void expire(int w) {
    complete(w, {waiters_[idx(w)].spec.timeout_index, csp::status::timeout, {}});
    run_woken();
  }

  // ---- what the interpreter compares against

  bool pending(int w) const { return waiters_[idx(w)].pending; }
  const std::vector<int>& pending_waiters() const noexcept { return pending_; }
  const waiter_spec& spec(int w) const { return waiters_[idx(w)].spec; }
  // Waiters that completed since the last call, each with how it ended.
  std::vector<std::pair<int, completion>> take_completions() { return std::exchange(done_, {}); }

  bool closed(int inst) const { return chans_[idx(inst)].closed; }
  std::size_t size(int inst) const { return chans_[idx(inst)].buffer.size(); }
  int handles(int inst, side s) const { return chans_[idx(inst)].handles[s == side::tx ? 0 : 1]; }
  std::size_t instances() const noexcept { return chans_.size(); }
  std::size_t buffered_total() const {
    std::size_t n = 0;
    for (const chan& c : chans_) n += c.buffer.size();
    return n;
  }
  // True if a waiting waiter holds values of its own (a send, or any select: its disabled
  // send cases hold values too), so the live-value count is not just the buffers.
  bool any_pending_sender_or_select() const {
    for (int w : pending_) {
      if (waiters_[idx(w)].spec.holds_values) return true;
    }
    return false;
  }

 private:
  struct entry {
    int waiter;
    int case_index;
  };
  struct chan {
    channel_spec spec;
    std::deque<vkey> buffer{};
    bool closed = false;
    int handles[2] = {1, 1};  // senders, receivers (make_channel's pair)
    std::deque<entry> senders{}, receivers{};

    std::size_t cap() const noexcept {
      switch (spec.kind) {
        case flavor::rendezvous: return 0;
        case flavor::bounded: return spec.capacity;
        case flavor::unbounded: return std::numeric_limits<std::size_t>::max();
        case flavor::oneshot: return 1;
      }
      return 0;
    }
  };
  struct waiter {
    waiter_spec spec;
    bool pending = false;
  };

  static std::size_t idx(int i) noexcept { return static_cast<std::size_t>(i); }

  static const wcase& case_of(const waiter& w, int index) {
    for (const wcase& c : w.spec.cases) {
      if (c.index == index) return c;
    }
    return w.spec.cases.front();  // the chooser returned an allowed index; not reached
  }

  // Which of waiter w's cases (inst, d) a partner completes: the library's choice.
  int pick(int w, int inst, std::optional<dir> d) {
    std::vector<int> candidates;
    for (const wcase& c : waiters_[idx(w)].spec.cases) {
      if (c.inst == inst && (!d || c.d == *d)) candidates.push_back(c.index);
    }
    return choose_(w, candidates);
  }

  csp::status send_now(int inst, vkey v) {
    chan& ch = chans_[idx(inst)];
    if (ch.closed) return csp::status::closed;
    if (!ch.receivers.empty()) {
      const int r = ch.receivers.front().waiter;
      complete(r, {pick(r, inst, dir::recv), csp::status::ok, v});
    } else if (ch.buffer.size() < ch.cap()) {
      ch.buffer.push_back(v);
    } else {
      return csp::status::full;
    }
    if (ch.spec.kind == flavor::oneshot) close_now(inst);
    return csp::status::ok;
  }

  completion recv_now(int inst, int index) {
    chan& ch = chans_[idx(inst)];
    if (!ch.buffer.empty()) {
      const vkey v = ch.buffer.front();
      ch.buffer.pop_front();
      if (!ch.senders.empty()) {
        const int s = ch.senders.front().waiter;
        const int k = pick(s, inst, dir::send);
        ch.buffer.push_back(case_of(waiters_[idx(s)], k).value);
        complete(s, {k, csp::status::ok, {}});
      }
      return {index, csp::status::ok, v};
    }
    if (!ch.senders.empty()) {
      const int s = ch.senders.front().waiter;
      const int k = pick(s, inst, dir::send);
      const vkey v = case_of(waiters_[idx(s)], k).value;
      complete(s, {k, csp::status::ok, {}});
      return {index, csp::status::ok, v};
    }
    return {index, ch.closed ? csp::status::closed : csp::status::empty, {}};
  }

  void close_now(int inst) {
    chan& ch = chans_[idx(inst)];
    if (ch.closed) return;
    ch.closed = true;
    while (!ch.receivers.empty()) {
      const int r = ch.receivers.front().waiter;
      complete(r, {pick(r, inst, dir::recv), csp::status::closed, {}});
    }
    while (!ch.senders.empty()) {
      const int s = ch.senders.front().waiter;
      complete(s, {pick(s, inst, dir::send), csp::status::closed, {}});
    }
  }

  void drop_handle_now(int inst, side s) {
    chan& ch = chans_[idx(inst)];
    if (--ch.handles[s == side::tx ? 0 : 1] != 0) return;
    close_now(inst);
    if (s == side::rx) ch.buffer.clear();
  }

  // A waiting waiter completes: it leaves every queue, and its fiber is now ready to run.
  void complete(int w, completion c) {
    waiter& me = waiters_[idx(w)];
    for (const wcase& k : me.spec.cases) {
      chan& ch = chans_[idx(k.inst)];
      for (auto* q : {&ch.senders, &ch.receivers}) {
        for (auto it = q->begin(); it != q->end();) {
          it = it->waiter == w ? q->erase(it) : it + 1;
        }
      }
    }
    me.pending = false;
    std::erase(pending_, w);
    finish(w, c);
    woken_.push_back(w);
  }

  void finish(int w, completion c) { done_.emplace_back(w, c); }

  // A waiter that completed at once: its fiber ends before any fiber it woke runs.
  void ran_at_once(int w) {
    for (auto [inst, s] : waiters_[idx(w)].spec.copies) drop_handle_now(inst, s);
    run_woken();
  }

  void run_woken() {
    while (!woken_.empty()) {
      const int w = woken_.front();
      woken_.pop_front();
      for (auto [inst, s] : waiters_[idx(w)].spec.copies) drop_handle_now(inst, s);
    }
  }

  chooser choose_;
  std::vector<chan> chans_;
  std::vector<waiter> waiters_;
  std::vector<int> pending_;
  std::deque<int> woken_;
  std::vector<std::pair<int, completion>> done_;
};

}  // namespace csp_model
