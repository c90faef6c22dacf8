// Conservation under stress: producers and consumers spread over a csp::runtime's worker
// threads and plain std::threads at the same time push instance-counted, move-only values
// through every flavor, with random closes from either end, timed operations with short
// timeouts, senders dropped early, and selects over several channels. After each round:
//
//   * every value whose send succeeded was received exactly once, from the channel it was
//     sent on, and no value whose send failed was received;
//   * a failed send left the value intact in the sender's hands;
//   * per producer and channel, each consumer saw that producer's values in send order;
//   * each select ran exactly one handler;
//   * no value leaked or was destroyed twice (counted tally);
//   * run() returned (every fiber finished) and the runtime lists no fiber any more.
//
// Run length: CSP_STRESS_SCALE multiplies the rounds per flavor (default 8); CSP_STRESS_SECONDS
// instead runs each flavor's rounds until that many seconds have passed. CSP_STRESS_SEED fixes
// the seed (a failing round prints its seed). In sanitizer builds whose Boost cannot be
// followed (CSP_TEST_FIBER_MODES 0) every process is a plain thread.

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <csp/csp.hpp>

#include "support/counted.hpp"
#include "support/flavors.hpp"
#include "support/run_modes.hpp"

namespace {

using namespace std::chrono_literals;
using value = csp_test::move_only;  // id: producer, aux: sequence number

// ---- run length and seeds

std::uint64_t base_seed() {
  static const std::uint64_t seed = [] {
    const std::size_t fixed = csp_test::env_size("CSP_STRESS_SEED", 0);
    return fixed != 0 ? static_cast<std::uint64_t>(fixed) : std::uint64_t{std::random_device{}()};
  }();
  return seed;
}

// Decides whether another round runs: a count of rounds, or a time budget.
class round_budget {
 public:
  round_budget()
      : seconds_(csp_test::env_size("CSP_STRESS_SECONDS", 0)),
        rounds_(8 * csp_test::stress_scale()),
        start_(std::chrono::steady_clock::now()) {}
  bool another(std::size_t done) const {
    if (seconds_ == 0) return done < rounds_;
    return done == 0 ||
           std::chrono::steady_clock::now() - start_ < std::chrono::seconds(seconds_);
  }

 private:
  std::size_t seconds_;
  std::size_t rounds_;
  std::chrono::steady_clock::time_point start_;
};

std::uint64_t mix(std::uint64_t seed, std::uint64_t salt) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (salt + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class dice {
 public:
  explicit dice(std::uint64_t seed) : rng_(seed) {}
  std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  // A short timeout: often zero (a poll through the timed path), at most one millisecond.
  std::chrono::microseconds timeout() {
    static constexpr std::array<long, 5> us{0, 20, 100, 300, 1000};
    return std::chrono::microseconds(us[below(us.size())]);
  }

 private:
  std::mt19937_64 rng_;
};

// ---- where the processes of a round run

// Fibers on a runtime (detached with csp::go: run() must wait for them) and plain threads,
// side by side. Every other round reuses one long-lived runtime, the others a fresh one.
class round_runner {
 public:
  // Runs procs[i] as a fiber on the runtime for even i (without fibers: a plain thread), on
  // a plain thread for odd i; `fresh` picks a new runtime rather than the kept one.
  // Each process is moved to where it runs, so the handles it captured have one owner.
  void run(bool fresh_runtime, std::vector<std::function<void()>> procs) {
    csp_test::detail::watchdog dog{"conservation stress round",
                                   CSP_TEST_FIBER_MODES ? csp_test::run_mode::mixed
                                                        : csp_test::run_mode::plain_threads};
    std::vector<std::size_t> on_runtime;
    std::vector<std::thread> plain;
    for (std::size_t i = 0; i < procs.size(); ++i) {
      if (CSP_TEST_FIBER_MODES && i % 2 == 0) {
        on_runtime.push_back(i);
      } else {
        plain.emplace_back(std::move(procs[i]));
      }
    }
    if (!on_runtime.empty()) {
      std::optional<csp::runtime> fresh;
      csp::runtime* rt = &kept();
      if (fresh_runtime) rt = &fresh.emplace(csp::threads(3), options());
      rt->run([&] {
        for (std::size_t i : on_runtime) csp::go(std::move(procs[i]));
      });
      leftover_fibers_ += rt->fibers().size();
    }
    for (auto& t : plain) t.join();
  }

  // Fibers some runtime still listed after its run() returned (must stay 0).
  std::size_t leftover_fibers() const noexcept { return leftover_fibers_; }

 private:
  // Plain threads feed the runtime's fibers, so the runtime cannot prove a deadlock; the
  // watchdog catches a real hang instead.
  static csp::runtime_options options() {
    csp::runtime_options o;
    o.detect_deadlocks = false;
    return o;
  }
  csp::runtime& kept() {
    if (!kept_) kept_.emplace(csp::threads(3), options());
    return *kept_;
  }

  std::optional<csp::runtime> kept_;
  std::size_t leftover_fibers_ = 0;
};

// The first exception any process threw (a CSP_EXPECT failure), rethrown on the test thread.
class first_error {
 public:
  template <class F>
  std::function<void()> guard(F f) {
    return [this, f = std::move(f)]() mutable {
      try {
        f();
      } catch (...) {
        std::lock_guard lk(m_);
        if (!e_) e_ = std::current_exception();
      }
    };
  }
  void rethrow_if_any() {
    std::lock_guard lk(m_);
    if (e_) std::rethrow_exception(std::exchange(e_, nullptr));
  }

 private:
  std::mutex m_;
  std::exception_ptr e_;
};

// How often each outcome happened, printed with CSP_STRESS_VERBOSE=1 to see what a run
// covered (never asserted: the mix depends on timing).
struct tally {
  std::array<std::atomic<long>, 5> send{}, recv{};  // indexed by csp::status
  std::atomic<long> kept{0};
  void clear() {
    for (auto& n : send) n = 0;
    for (auto& n : recv) n = 0;
    kept = 0;
  }
  void print(const char* what) const {
    if (csp_test::env_size("CSP_STRESS_VERBOSE", 0) == 0) return;
    std::fprintf(stderr, "%s: send ok %ld full %ld closed %ld timeout %ld, kept %ld; recv ok %ld "
                 "empty %ld closed %ld timeout %ld\n", what,
                 send[0].load(), send[2].load(), send[3].load(), send[4].load(), kept.load(),
                 recv[0].load(), recv[1].load(), recv[3].load(), recv[4].load());
  }
};
tally& outcomes() {
  static tally t;
  return t;
}
void count_send(csp::status s) { outcomes().send[static_cast<std::size_t>(s)].fetch_add(1); }
void count_recv(csp::status s) { outcomes().recv[static_cast<std::size_t>(s)].fetch_add(1); }

void expect_intact(const value& v, std::size_t producer, std::uint32_t seq) {
  CSP_EXPECT(v.alive() && !v.moved_from());
  CSP_EXPECT(v.id() == static_cast<int>(producer) && v.aux() == static_cast<int>(seq));
}

struct delivery {
  std::uint32_t channel, producer, seq;
};

// What the test thread checks after a round: `sent_on[p][seq]` is the channel producer p's
// value seq went into (or none), `got[c]` what consumer c received, in order.
struct ledger {
  static constexpr std::uint32_t none = ~std::uint32_t{0};
  std::vector<std::vector<std::uint32_t>> sent_on;
  std::vector<std::vector<delivery>> got;
  std::vector<std::size_t> kept;  // per producer: values no channel took

  ledger(std::size_t producers, std::size_t consumers, std::size_t per_producer)
      : sent_on(producers, std::vector<std::uint32_t>(per_producer, none)),
        got(consumers),
        kept(producers, 0) {}
};

// Checks conservation and (if `fifo`) per-producer FIFO; returns the first violation, or "".
std::string audit(const ledger& l, std::size_t channels, bool fifo) {
  std::ostringstream bad;
  std::vector<std::vector<std::uint32_t>> times(l.sent_on.size());
  for (std::size_t p = 0; p < l.sent_on.size(); ++p) times[p].assign(l.sent_on[p].size(), 0);
  for (std::size_t c = 0; c < l.got.size(); ++c) {
    // last[k][p]: the last sequence number consumer c saw from producer p on channel k.
    std::vector<std::vector<long>> last(channels, std::vector<long>(l.sent_on.size(), -1));
    for (const delivery& d : l.got[c]) {
      if (d.producer >= l.sent_on.size() || d.seq >= l.sent_on[d.producer].size()) {
        bad << "consumer " << c << " received a value no producer made: {" << d.producer
            << ", " << d.seq << "}";
        return bad.str();
      }
      if (l.sent_on[d.producer][d.seq] != d.channel) {
        bad << "consumer " << c << " received {" << d.producer << ", " << d.seq
            << "} on channel " << d.channel << ", sent on "
            << static_cast<long>(l.sent_on[d.producer][d.seq]) << " (-1/4294967295: never)";
        return bad.str();
      }
      if (++times[d.producer][d.seq] > 1) {
        bad << "{" << d.producer << ", " << d.seq << "} received twice";
        return bad.str();
      }
      long& prev = last[d.channel][d.producer];
      if (fifo && static_cast<long>(d.seq) <= prev) {
        bad << "FIFO: consumer " << c << " got producer " << d.producer << "'s " << d.seq
            << " after its " << prev << " on channel " << d.channel;
        return bad.str();
      }
      prev = static_cast<long>(d.seq);
    }
  }
  for (std::size_t p = 0; p < l.sent_on.size(); ++p) {
    const auto sent = static_cast<std::size_t>(
        std::count_if(l.sent_on[p].begin(), l.sent_on[p].end(),
                      [](std::uint32_t k) { return k != ledger::none; }));
    if (sent + l.kept[p] != l.sent_on[p].size()) {
      bad << "producer " << p << " sent " << sent << " and kept " << l.kept[p] << " of "
          << l.sent_on[p].size() << " values";
      return bad.str();
    }
    for (std::size_t s = 0; s < l.sent_on[p].size(); ++s) {
      if (l.sent_on[p][s] != ledger::none && times[p][s] != 1) {
        bad << "{" << p << ", " << s << "} was sent on channel " << l.sent_on[p][s]
            << " and never received";
        return bad.str();
      }
    }
  }
  return {};
}

// ---- streaming flavors: K channels, producers and consumers on all of them

constexpr std::size_t stream_channels = 3;
constexpr std::size_t stream_producers = 6;
constexpr std::size_t stream_consumers = 4;
constexpr std::uint32_t stream_values = 150;  // per producer and round

// One round's random events, fixed before it starts.
struct stream_plan {
  // drop_at[p][k] / close_at[p][k]: before sending this sequence number, producer p drops
  // its sender of channel k / closes channel k (none: never).
  std::vector<std::array<std::uint32_t, stream_channels>> drop_at, close_at;
  // close_after[c][k]: consumer c closes channel k after this many receptions.
  std::vector<std::array<std::uint32_t, stream_channels>> close_after;

  explicit stream_plan(dice& d) {
    constexpr std::uint32_t never = ledger::none;
    drop_at.assign(stream_producers, {never, never, never});
    close_at = drop_at;
    close_after.assign(stream_consumers, {never, never, never});
    auto when = [&] { return static_cast<std::uint32_t>(d.below(stream_values)); };
    for (auto& p : drop_at) {
      for (auto& k : p) {
        if (d.chance(0.25)) k = when();
      }
    }
    switch (d.below(4)) {  // one round in four closes nothing
      case 0: break;
      case 1: close_at[d.below(stream_producers)][d.below(stream_channels)] = when(); break;
      case 2: close_after[d.below(stream_consumers)][d.below(stream_channels)] = when(); break;
      default:
        close_at[d.below(stream_producers)][d.below(stream_channels)] = when();
        close_after[d.below(stream_consumers)][d.below(stream_channels)] = when() * 2;
        break;
    }
  }
};

template <class Handles>
std::vector<std::size_t> open_ones(const Handles& h) {
  std::vector<std::size_t> open;
  for (std::size_t k = 0; k < h.size(); ++k) {
    if (h[k]) open.push_back(k);
  }
  return open;
}

// Sends stream_values values, each until a channel takes it or every channel of this
// producer is closed (then the value stays here and is counted as kept).
void produce(std::size_t p, std::array<csp::sender<value>, stream_channels> tx,
             const stream_plan& plan, std::vector<std::uint32_t>& sent_on, std::size_t& kept,
             std::uint64_t seed) {
  dice d(seed);
  for (std::uint32_t seq = 0; seq < stream_values; ++seq) {
    for (std::size_t k = 0; k < stream_channels; ++k) {
      if (plan.drop_at[p][k] == seq) {
        csp::sender<value> gone = std::move(tx[k]);  // perhaps the last: closes the channel
      }
      if (plan.close_at[p][k] == seq && tx[k]) tx[k].close();
    }
    value v(static_cast<int>(p), static_cast<int>(seq));
    for (;;) {
      const std::vector<std::size_t> open = open_ones(tx);
      if (open.empty()) {
        ++kept;
        outcomes().kept.fetch_add(1);
        break;
      }
      const std::size_t k = open[d.below(open.size())];
      csp::status s = csp::status::full;
      std::size_t on = k;
      switch (d.below(5)) {
        case 0: s = tx[k].send(std::move(v)) ? csp::status::ok : csp::status::closed; break;
        case 1: s = tx[k].try_send(std::move(v)); break;
        case 2: s = tx[k].send_for(std::move(v), d.timeout()); break;
        default: {
          // One value offered to every channel of this producer at once (a closed or
          // dropped one is an empty handle: never ready); at most one case may take it.
          int fired = 0;
          auto handler = [&](std::size_t which) {
            return [&, which](bool ok) {
              ++fired;
              on = which;
              s = ok ? csp::status::ok : csp::status::closed;
            };
          };
          const std::size_t variant = d.below(3);
          auto cases = [&](auto... extra) {
            return csp::select(csp::on_send(tx[0], std::move(v), handler(0)),
                               csp::on_send(tx[1], std::move(v), handler(1)),
                               csp::on_send(tx[2], std::move(v), handler(2)), extra...);
          };
          if (variant == 0) {
            cases();
          } else if (variant == 1) {
            cases(csp::on_timeout(d.timeout(), [&] { s = csp::status::timeout; }));
          } else {
            cases(csp::otherwise([&] { s = csp::status::full; }));
          }
          CSP_EXPECT(fired <= 1);
          break;
        }
      }
      count_send(s);
      if (s == csp::status::ok) {
        CSP_EXPECT(v.moved_from());
        sent_on[seq] = static_cast<std::uint32_t>(on);
        break;
      }
      expect_intact(v, p, seq);  // a failed send leaves the value with its sender
      if (s == csp::status::closed) tx[on] = csp::sender<value>{};
    }
  }
}

// Receives until every channel is closed and drained. A blocking recv or the range-for only
// runs on the last open channel: blocking on one channel while producers wait on another
// could deadlock the round.
void consume(std::size_t c, std::array<csp::receiver<value>, stream_channels> rx,
             const stream_plan& plan, std::vector<delivery>& got, std::uint64_t seed) {
  dice d(seed);
  std::uint32_t received = 0;
  auto got_one = [&](std::size_t k, const value& v) {
    CSP_EXPECT(v.alive() && !v.moved_from());
    got.push_back({static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(v.id()),
                   static_cast<std::uint32_t>(v.aux())});
    ++received;
    for (std::size_t j = 0; j < stream_channels; ++j) {
      if (plan.close_after[c][j] == received && rx[j]) rx[j].close();
    }
  };
  auto take = [&](std::size_t k, const csp::result<value>& r) {
    count_recv(r.status());
    if (r) {
      got_one(k, *r);
    } else if (r.status() == csp::status::closed) {
      rx[k] = csp::receiver<value>{};  // closed and drained: nothing more will come
    }
  };
  for (;;) {
    const std::vector<std::size_t> open = open_ones(rx);
    if (open.empty()) return;
    const std::size_t k = open[d.below(open.size())];
    const std::size_t op = d.below(6);
    if (open.size() == 1 && op == 0) {
      bool left_early = false;
      for (value& v : rx[k]) {  // the range-for drains the last channel until it closes
        count_recv(csp::status::ok);
        got_one(k, v);
        if (d.chance(0.1)) {
          left_early = true;
          break;
        }
      }
      if (!left_early) rx[k] = csp::receiver<value>{};
      continue;
    }
    if (open.size() == 1 && op == 1) {
      csp::result<value> r = rx[k].recv();
      take(k, r);
      continue;
    }
    if (op == 2) {
      csp::result<value> r = rx[k].try_recv();
      take(k, r);
      continue;
    }
    if (op == 3) {
      csp::result<value> r = rx[k].recv_for(d.timeout());
      take(k, r);
      continue;
    }
    int fired = 0;
    auto handler = [&](std::size_t which) {
      return [&, which](const csp::result<value>& r) {
        ++fired;
        take(which, r);
      };
    };
    auto cases = [&](auto... extra) {
      csp::select(csp::on_recv(rx[0], handler(0)), csp::on_recv(rx[1], handler(1)),
                  csp::on_recv(rx[2], handler(2)), extra...);
    };
    switch (d.below(3)) {
      case 0: cases(); break;
      case 1: cases(csp::on_timeout(d.timeout(), [] {})); break;
      default: cases(csp::otherwise([] {})); break;
    }
    CSP_EXPECT(fired <= 1);
  }
}

template <class Flavor>
void stream_round(round_runner& runner, std::uint64_t seed) {
  dice d(seed);
  const stream_plan plan(d);
  ledger l(stream_producers, stream_consumers, stream_values);
  first_error errors;
  std::vector<std::function<void()>> procs;
  {
    std::array<csp::sender<value>, stream_channels> tx;
    std::array<csp::receiver<value>, stream_channels> rx;
    for (std::size_t k = 0; k < stream_channels; ++k) {
      auto [t, r] = Flavor::template make<value>();
      tx[k] = std::move(t);
      rx[k] = std::move(r);
    }
    // The runner alternates: producers 0, 2, 4 and consumers 0, 2 are fibers on the runtime,
    // the others plain threads.
    for (std::size_t p = 0; p < stream_producers; ++p) {
      procs.push_back(errors.guard([&, p, tx, s = mix(seed, p)]() mutable {
        produce(p, std::move(tx), plan, l.sent_on[p], l.kept[p], s);
      }));
    }
    for (std::size_t c = 0; c < stream_consumers; ++c) {
      procs.push_back(errors.guard([&, c, rx, s = mix(seed, 100 + c)]() mutable {
        consume(c, std::move(rx), plan, l.got[c], s);
      }));
    }
  }  // the test thread keeps no handle: the channels close when the producers are done
  runner.run(seed % 2 == 1, std::move(procs));
  errors.rethrow_if_any();
  const std::string violation = audit(l, stream_channels, true);
  INFO(violation);
  REQUIRE(violation.empty());
}

// ---- oneshot: request/reply, one oneshot channel per value

constexpr std::size_t shot_producers = 4;
constexpr std::size_t shot_consumers = 3;
constexpr std::uint32_t shot_values = 150;

// Each producer makes a oneshot per value and hands its receiver to the consumers through a
// mailbox channel *before* sending the value, so a consumer may already wait on it. Randomly
// it drops the sender without sending (the consumer sees closed), sends with any operation,
// or sends through a select that also offers a second, never-ready case.
void shoot(std::size_t p, csp::sender<csp::receiver<value>> mailbox,
           std::vector<std::uint32_t>& sent_on, std::size_t& kept, std::uint64_t seed) {
  dice d(seed);
  for (std::uint32_t seq = 0; seq < shot_values; ++seq) {
    auto [otx, orx] = csp::make_oneshot<value>();
    value v(static_cast<int>(p), static_cast<int>(seq));
    if (!mailbox.send(std::move(orx))) {
      CSP_EXPECT(false);  // nobody closes the mailbox before the producers are done
    }
    csp::status s = csp::status::closed;
    switch (d.below(5)) {
      case 0: otx = csp::sender<value>{}; break;  // dropped unsent
      case 1: s = otx.send(std::move(v)) ? csp::status::ok : csp::status::closed; break;
      case 2: s = otx.try_send(std::move(v)); break;
      case 3: s = otx.send_for(std::move(v), d.timeout()); break;
      default: {
        csp::sender<value> off;  // empty: never ready
        int fired = 0;
        csp::select(csp::on_send(otx, std::move(v), [&](bool ok) { ++fired; s = ok ? csp::status::ok : csp::status::closed; }),
                    csp::on_send(off, std::move(v), [&](bool) { ++fired; s = csp::status::full; }));
        CSP_EXPECT(fired == 1);
        break;
      }
    }
    count_send(s);
    if (s == csp::status::ok) {
      CSP_EXPECT(v.moved_from());
      sent_on[seq] = 0;
    } else {
      expect_intact(v, p, seq);  // dropped unsent, or closed by its consumer: value kept
      ++kept;
      outcomes().kept.fetch_add(1);
    }
  }
}

// Takes oneshot receivers from the mailbox and up to two at a time from them, with a
// select over the mailbox and both pending slots (an empty slot never fires); closes a
// pending oneshot now and then before taking its value.
void catch_shots(csp::receiver<csp::receiver<value>> mailbox,
                 std::vector<delivery>& got, std::uint64_t seed) {
  dice d(seed);
  std::array<csp::receiver<value>, 2> slot;
  auto take = [&](std::size_t i, const csp::result<value>& r) {
    count_recv(r.status());
    if (r) {
      CSP_EXPECT(r->alive() && !r->moved_from());
      got.push_back({0, static_cast<std::uint32_t>(r->id()), static_cast<std::uint32_t>(r->aux())});
    }
    if (r || r.status() == csp::status::closed) slot[i] = csp::receiver<value>{};
  };
  for (;;) {
    for (std::size_t i = 0; i < slot.size(); ++i) {
      if (slot[i] && d.chance(0.05)) slot[i].close();
    }
    const bool full = slot[0] && slot[1];
    if (!mailbox && !slot[0] && !slot[1]) return;
    int fired = 0;
    auto from_slot = [&](std::size_t i) {
      return [&, i](const csp::result<value>& r) {
        ++fired;
        take(i, r);
      };
    };
    auto from_mailbox = [&](csp::result<csp::receiver<value>>& r) {
      ++fired;
      if (!r) {
        mailbox = csp::receiver<csp::receiver<value>>{};
        return;
      }
      slot[slot[0] ? 1 : 0] = std::move(*r);
    };
    // The mailbox case is off while both slots are busy: an empty handle never fires.
    const csp::receiver<csp::receiver<value>> none;
    const auto& box = full ? none : mailbox;
    if (d.chance(0.5)) {
      csp::select(csp::on_recv(box, from_mailbox), csp::on_recv(slot[0], from_slot(0)),
                  csp::on_recv(slot[1], from_slot(1)));
      CSP_EXPECT(fired == 1);
    } else if (slot[0] || slot[1]) {
      const std::size_t i = slot[0] ? 0 : 1;
      csp::result<value> r = d.chance(0.5) ? slot[i].recv_for(d.timeout()) : slot[i].try_recv();
      take(i, r);
    } else {
      csp::result<csp::receiver<value>> r = box.recv_for(d.timeout());
      if (r || r.status() == csp::status::closed) from_mailbox(r);
    }
  }
}

template <class Mailbox>
void oneshot_round(round_runner& runner, std::uint64_t seed) {
  ledger l(shot_producers, shot_consumers, shot_values);
  first_error errors;
  std::vector<std::function<void()>> procs;
  {
    auto [tx, rx] = Mailbox::template make<csp::receiver<value>>();
    for (std::size_t p = 0; p < shot_producers; ++p) {
      procs.push_back(errors.guard([&, p, tx = tx, s = mix(seed, p)]() mutable {
        shoot(p, std::move(tx), l.sent_on[p], l.kept[p], s);
      }));
    }
    for (std::size_t c = 0; c < shot_consumers; ++c) {
      procs.push_back(errors.guard([&, c, rx = rx, s = mix(seed, 100 + c)]() mutable {
        catch_shots(std::move(rx), l.got[c], s);
      }));
    }
  }
  runner.run(seed % 2 == 1, std::move(procs));
  errors.rethrow_if_any();
  // Every value has a oneshot of its own, and a consumer holds two at once: no order to check.
  const std::string violation = audit(l, 1, false);
  INFO(violation);
  REQUIRE(violation.empty());
}

template <class Round>
void rounds(const char* what, Round round) {
  csp_test::reset_counts();
  round_runner runner;
  const round_budget budget;
  std::size_t done = 0;
  for (; budget.another(done); ++done) {
    const std::uint64_t seed = mix(base_seed(), done);
    INFO(what << ": round " << done << ", seed " << seed << " (base seed " << base_seed()
              << ", CSP_STRESS_SEED)");
    round(runner, seed);
    const csp_test::count_snapshot n = csp_test::snapshot();
    REQUIRE(n.bad_destroys == 0);
    REQUIRE(n.dead_uses == 0);
    REQUIRE(n.live == 0);
    REQUIRE(runner.leftover_fibers() == 0);
  }
  REQUIRE(done > 0);
  outcomes().print(what);
  outcomes().clear();
}

}  // namespace

TEMPLATE_TEST_CASE("conservation stress: every value once, FIFO per producer, nothing left",
                   "[stress]", csp_test::rendezvous_default, csp_test::rendezvous_zero,
                   csp_test::bounded<1>, csp_test::bounded<3>, csp_test::bounded<7>,
                   csp_test::unbounded) {
  rounds(TestType::name, [](round_runner& r, std::uint64_t seed) { stream_round<TestType>(r, seed); });
}

TEMPLATE_TEST_CASE("conservation stress, oneshot: request/reply through a mailbox",
                   "[stress][oneshot]", csp_test::rendezvous_default, csp_test::bounded<2>,
                   csp_test::unbounded) {
  rounds(csp_test::oneshot::name,
         [](round_runner& r, std::uint64_t seed) { oneshot_round<TestType>(r, seed); });
}
