// select under load: fairness statistics, lossless stress against plain operations across
// threads, no trace left by losing cases (memory included), and one channel watched by a
// thousand selects. Loop counts scale with CSP_STRESS_SCALE.
//
// This binary replaces the global operator new/delete to count live allocations, which is
// why it is a binary of its own.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <csp/csp.hpp>

#include "select_support.hpp"

// ---- counting allocator. Every non-aligned form of new and delete is replaced, so that
// memory always goes back through the same family it came from (ASan checks that). The
// aligned forms are left alone: nothing here uses them for long-lived data.

namespace {
std::atomic<long long> g_live_allocations{0};

void* counted_alloc(std::size_t n) noexcept {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p != nullptr) g_live_allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}
void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  g_live_allocations.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }

using namespace std::chrono_literals;
using csp_test::run_mode;
using sel_test::run_parties;

namespace {

long long live_allocations() noexcept { return g_live_allocations.load(); }

// ---- fairness

// Checks that each of counts[i] (i in `ready`) is within ±5% of its fair share n/ready.size()
// and that the cases not in `ready` never fired. Also checks that this bound is more than
// six standard deviations of the binomial count, so a correct implementation fails it with
// negligible probability (< 1e-8 per case).
void check_fair_shares(const std::vector<long>& counts, const std::vector<std::size_t>& ready,
                       long n) {
  const double p = 1.0 / static_cast<double>(ready.size());
  const double expected = static_cast<double>(n) * p;
  const double sigma = std::sqrt(static_cast<double>(n) * p * (1.0 - p));
  const double bound = 0.05 * expected;
  INFO("n = " << n << ", expected " << expected << " per ready case, sigma " << sigma
              << ", bound ±" << bound);
  REQUIRE(bound > 6.0 * sigma);  // a property of the test's design, not of csp
  long total = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    INFO("case " << i << " fired " << counts[i] << " times");
    total += counts[i];
    if (std::find(ready.begin(), ready.end(), i) != ready.end()) {
      CHECK(std::abs(static_cast<double>(counts[i]) - expected) <= bound);
    } else {
      CHECK(counts[i] == 0);
    }
  }
  CHECK(total == n);
}

// Consecutive choices must not be correlated (a round-robin passes the per-case test but
// not this one): each ordered pair of ready cases within 8 sigma of n/k^2.
void check_pairs(const std::vector<std::size_t>& sequence, std::size_t k) {
  std::vector<long> pairs(k * k, 0);
  for (std::size_t i = 1; i < sequence.size(); ++i) ++pairs[sequence[i - 1] * k + sequence[i]];
  const double n = static_cast<double>(sequence.size() - 1);
  const double p = 1.0 / static_cast<double>(k * k);
  const double expected = n * p;
  const double sigma = std::sqrt(n * p * (1.0 - p));
  for (std::size_t c = 0; c < pairs.size(); ++c) {
    INFO("pair (" << c / k << ", " << c % k << ") seen " << pairs[c] << " times, expected "
                  << expected << ", sigma " << sigma);
    CHECK(std::abs(static_cast<double>(pairs[c]) - expected) <= 8.0 * sigma);
  }
}

long fairness_n(long base) { return base * static_cast<long>(csp_test::stress_scale()); }

}  // namespace

TEST_CASE("fairness: three always-ready receive cases are chosen uniformly",
          "[select][fairness]") {
  const long n = fairness_n(30000);
  std::vector<csp::channel_pair<int>> chs;
  for (int k = 0; k < 3; ++k) {
    chs.push_back(csp::make_channel<int>(csp::unbounded));
    for (long i = 0; i < n; ++i) REQUIRE(chs.back().first.try_send(1) == csp::status::ok);
  }
  std::vector<long> counts(3, 0);
  std::vector<std::size_t> sequence;
  sequence.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    const std::size_t index = csp::select(csp::on_recv(chs[0].second, [] {}),
                                          csp::on_recv(chs[1].second, [] {}),
                                          csp::on_recv(chs[2].second, [] {}));
    ++counts[index];
    sequence.push_back(index);
  }
  check_fair_shares(counts, {0, 1, 2}, n);
  check_pairs(sequence, 3);
}

TEST_CASE("fairness: ready cases of every kind share uniformly; unready ones never fire",
          "[select][fairness]") {
  const long n = fairness_n(48000);
  auto closed_rx = csp::make_channel<int>(1);
  closed_rx.first.close();  // receive case: always ready (closed)
  auto unbounded = csp::make_channel<std::string>(csp::unbounded);  // send case: always ready
  auto closed_tx = csp::make_channel<long>();
  closed_tx.second.close();  // send case: always ready (false)
  auto buffered = csp::make_channel<int>(2);  // receive case: kept non-empty
  REQUIRE(buffered.first.send(0));
  auto empty = csp::make_channel<int>(5);         // receive case: never ready
  auto full = csp::make_channel<int>(1);          // send case: never ready
  REQUIRE(full.first.send(0));
  auto nev = csp::never<double>();                // receive case: never ready
  csp::receiver<int> no_rx;                       // empty handle: never ready
  std::vector<long> counts(8, 0);
  for (long i = 0; i < n; ++i) {
    const std::size_t index =
        csp::select(csp::on_recv(empty.second, [] {}), csp::on_recv(closed_rx.second, [] {}),
                    csp::on_send(full.first, 1, [] {}),
                    csp::on_send(unbounded.first, std::string("s"), [] {}),
                    csp::on_recv(nev, [] {}), csp::on_send(closed_tx.first, 2L, [] {}),
                    csp::on_recv(no_rx, [] {}), csp::on_recv(buffered.second, [] {}));
    ++counts[index];
    if (index == 7) REQUIRE(buffered.first.try_send(0) == csp::status::ok);
    if (index == 3) REQUIRE(unbounded.second.try_recv().has_value());
  }
  check_fair_shares(counts, {1, 3, 5, 7}, n);
  CHECK(full.second.size() == 1);
  CHECK(empty.second.size() == 0);
}

TEST_CASE("fairness: the same channel twice counts as two cases", "[select][fairness]") {
  const long n = fairness_n(30000);
  auto a = csp::make_channel<int>(csp::unbounded);
  auto b = csp::make_channel<int>(csp::unbounded);
  for (long i = 0; i < n; ++i) {
    REQUIRE(a.first.try_send(0) == csp::status::ok);
    REQUIRE(b.first.try_send(0) == csp::status::ok);
  }
  std::vector<long> counts(3, 0);
  for (long i = 0; i < n; ++i) {
    ++counts[csp::select(csp::on_recv(a.second, [] {}), csp::on_recv(b.second, [] {}),
                         csp::on_recv(a.second, [] {}))];
  }
  check_fair_shares(counts, {0, 1, 2}, n);
}

TEST_CASE("fairness: a selector's ready cases are chosen uniformly", "[selector][fairness]") {
  const long n = fairness_n(30000);
  std::vector<csp::channel_pair<int>> chs;
  csp::selector sel;
  std::vector<long> counts(4, 0);
  for (int k = 0; k < 4; ++k) {
    chs.push_back(csp::make_channel<int>(csp::unbounded));
    sel.on_recv(chs.back().second, [] {});
  }
  for (long i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) REQUIRE(chs[static_cast<std::size_t>(k)].first.try_send(0) == csp::status::ok);
    // Case 3 stays empty: never ready. Drain what did not fire so every case stays ready
    // exactly once per round.
    const auto id = sel.select();
    ++counts[id];
    for (int k = 0; k < 3; ++k) {
      if (static_cast<std::size_t>(k) != id) REQUIRE(chs[static_cast<std::size_t>(k)].second.try_recv());
    }
  }
  check_fair_shares(counts, {0, 1, 2}, n);
}

TEST_CASE("fairness holds on every thread at once", "[select][fairness]") {
  const long n = fairness_n(30000);
  constexpr std::size_t threads = 2;
  std::vector<std::vector<long>> counts(threads, std::vector<long>(3, 0));
  std::vector<sel_test::party> parties;
  for (std::size_t t = 0; t < threads; ++t) {
    parties.emplace_back([&counts, n, t] {
      auto a = csp::make_channel<int>(1);
      a.first.close();  // receive case: always ready (closed)
      auto b = csp::make_channel<int>(csp::unbounded);
      CSP_EXPECT(b.first.try_send(1) == csp::status::ok);  // b's receive case ready too
      for (long i = 0; i < n; ++i) {
        const std::size_t index = csp::select(csp::on_recv(a.second, [] {}),
                                              csp::on_send(b.first, 1, [] {}),
                                              csp::on_recv(b.second, [] {}));
        ++counts[t][index];
        // Keep exactly one value in b before every select.
        if (index == 1) CSP_EXPECT(b.second.try_recv().has_value());
        if (index == 2) CSP_EXPECT(b.first.try_send(1) == csp::status::ok);
      }
    });
  }
  run_parties(run_mode::plain_threads, parties, "fairness on every thread");
  for (std::size_t t = 0; t < threads; ++t) {
    INFO("thread " << t);
    check_fair_shares(counts[t], {0, 1, 2}, n);
  }
}

// ---------------------------------------------------------------------------------------
// Lossless stress.

namespace {

constexpr std::size_t n_channels = 4;  // rendezvous, bounded 1, bounded 5, unbounded

// Values are move-only (a heap cell holding the value's id): a case that lost must leave
// the caller's object intact, and a transfer that lost the object would deliver a null.
using item = std::unique_ptr<std::uint32_t>;

struct ledger {
  explicit ledger(std::size_t n) : sent_ok(n), unsent(n), received(n) {}
  std::vector<std::atomic<std::uint8_t>> sent_ok;   // the sender saw ok
  std::vector<std::atomic<std::uint8_t>> unsent;    // the sender saw closed (value kept)
  std::vector<std::atomic<std::uint8_t>> received;  // times a receiver got it
  std::atomic<long> received_total{0};
  std::atomic<long> selects{0};
};

// One worker's own copies of the handles; a select worker empties one (switching its case
// off, like a nil channel) once that channel is closed or no longer needed.
struct handles {
  std::array<csp::sender<item>, n_channels> tx;
  std::array<csp::receiver<item>, n_channels> rx;
};

std::chrono::microseconds small_timeout(std::minstd_rand& rng) {
  return std::chrono::microseconds(rng() % 300);
}

void lossless_stress(run_mode m, bool close_early) {
  const std::uint32_t quota = static_cast<std::uint32_t>(5000 * csp_test::stress_scale());
  constexpr std::uint32_t plain_producers = 2;
  constexpr std::uint32_t select_producers = 2;
  constexpr std::uint32_t mixed_workers = 2;  // select over sends and receives at once
  constexpr std::uint32_t plain_consumers = 2;
  constexpr std::uint32_t select_consumers = 2;
  constexpr std::uint32_t producing = plain_producers + select_producers + mixed_workers;
  const std::size_t total = static_cast<std::size_t>(producing) * quota;

  std::vector<csp::channel_pair<item>> chs;
  chs.push_back(csp::make_channel<item>());
  chs.push_back(csp::make_channel<item>(1));
  chs.push_back(csp::make_channel<item>(5));
  chs.push_back(csp::make_channel<item>(csp::unbounded));
  auto all_handles = [&] {
    handles h;
    for (std::size_t k = 0; k < n_channels; ++k) {
      h.tx[k] = chs[k].first;
      h.rx[k] = chs[k].second;
    }
    return h;
  };

  ledger book(total);
  std::atomic<std::uint32_t> producers_done{0};
  auto receive = [&book](const item& v) {
    CSP_EXPECT(v != nullptr);
    CSP_EXPECT(*v < book.received.size());
    book.received[*v].fetch_add(1);
    book.received_total.fetch_add(1);
  };

  std::vector<sel_test::party> parties;
  std::uint32_t worker = 0;
  auto next_first_id = [&] { return (worker++) * quota; };

  // Plain producers: send, send_for and try_send; a timeout or full means "not sent": the
  // value is still ours, and we try the next channel.
  for (std::uint32_t p = 0; p < plain_producers; ++p) {
    const std::uint32_t first = next_first_id();
    parties.emplace_back([&, first, p] {
      std::minstd_rand rng(17 + p);
      auto h = all_handles();
      for (std::uint32_t v = first; v < first + quota; ++v) {
        item it = std::make_unique<std::uint32_t>(v);
        for (std::size_t attempt = v;; ++attempt) {
          auto& tx = h.tx[attempt % n_channels];
          csp::status s;
          if (attempt % 3 == 0) {
            s = tx.send_for(std::move(it), small_timeout(rng));
          } else if (attempt % 3 == 1) {
            s = tx.try_send(std::move(it));
          } else {
            s = tx.send(std::move(it)) ? csp::status::ok : csp::status::closed;
          }
          if (s == csp::status::ok) {
            CSP_EXPECT(it == nullptr);
            book.sent_ok[v].fetch_add(1);
            break;
          }
          CSP_EXPECT(it != nullptr && *it == v);  // not sent: still ours
          if (s == csp::status::closed) {
            book.unsent[v].fetch_add(1);
            break;
          }
          if (s == csp::status::full) csp::this_fiber::yield();
        }
      }
      producers_done.fetch_add(1);
    });
  }

  // Select producers and mixed workers: one pending value per channel, offered by
  // std::move; a send case that lost keeps its value for the next select.
  for (std::uint32_t p = 0; p < select_producers + mixed_workers; ++p) {
    const bool mixed = p >= select_producers;
    const std::uint32_t first = next_first_id();
    parties.emplace_back([&, first, p, mixed] {
      std::minstd_rand rng(101 + p);
      auto h = all_handles();
      if (!mixed) h.rx = {};  // sends only
      std::uint32_t next = first;
      std::array<item, n_channels> pending;
      std::array<std::uint32_t, n_channels> pending_id{};
      for (std::size_t k = 0; k < n_channels; ++k) {
        if (next < first + quota) {
          pending_id[k] = next;
          pending[k] = std::make_unique<std::uint32_t>(next++);
        } else {
          h.tx[k] = {};
        }
      }
      bool reported_done = false;
      for (;;) {
        bool any_tx = false;
        bool any_rx = false;
        for (std::size_t k = 0; k < n_channels; ++k) {
          any_tx = any_tx || static_cast<bool>(h.tx[k]);
          any_rx = any_rx || static_cast<bool>(h.rx[k]);
        }
        if (!any_tx) {
          while (next < first + quota) book.unsent[next++].fetch_add(1);  // never offered
          if (!reported_done) {
            reported_done = true;
            producers_done.fetch_add(1);
          }
        }
        if (!any_tx && !any_rx) break;
        int calls = 0;
        bool fired_ok = false;
        item fired_value;
        csp::status fired_status = csp::status::empty;
        std::size_t fired_case = 99;
        auto on_sent = [&](std::size_t k) {
          return [&, k](bool ok) {
            ++calls;
            fired_case = 2 * k;
            fired_ok = ok;
          };
        };
        auto on_got = [&](std::size_t k) {
          return [&, k](csp::result<item> r) {
            ++calls;
            fired_case = 2 * k + 1;
            fired_status = r.status();
            if (r) fired_value = std::move(*r);
          };
        };
        const auto timeout = rng() % 4 == 0 ? std::chrono::microseconds(std::chrono::hours(1))
                                            : small_timeout(rng);
        const std::size_t index = csp::select(
            csp::on_send(h.tx[0], std::move(pending[0]), on_sent(0)),
            csp::on_recv(h.rx[0], on_got(0)),
            csp::on_send(h.tx[1], std::move(pending[1]), on_sent(1)),
            csp::on_recv(h.rx[1], on_got(1)),
            csp::on_send(h.tx[2], std::move(pending[2]), on_sent(2)),
            csp::on_recv(h.rx[2], on_got(2)),
            csp::on_send(h.tx[3], std::move(pending[3]), on_sent(3)),
            csp::on_recv(h.rx[3], on_got(3)),
            csp::on_timeout(timeout, [&] {
              ++calls;
              fired_case = 2 * n_channels;
            }));
        book.selects.fetch_add(1);
        CSP_EXPECT(calls == 1);  // never two cases
        CSP_EXPECT(fired_case == index);
        // Every send case that did not fire still holds its own value.
        for (std::size_t k = 0; k < n_channels; ++k) {
          if (h.tx[k] && index != 2 * k) {
            CSP_EXPECT(pending[k] != nullptr && *pending[k] == pending_id[k]);
          }
        }
        if (index == 2 * n_channels) continue;  // timed out
        const std::size_t k = index / 2;
        if (index % 2 == 0) {  // a send case
          if (fired_ok) {
            CSP_EXPECT(pending[k] == nullptr);
            book.sent_ok[pending_id[k]].fetch_add(1);
          } else {
            CSP_EXPECT(pending[k] != nullptr && *pending[k] == pending_id[k]);
            book.unsent[pending_id[k]].fetch_add(1);
          }
          if (fired_ok && next < first + quota) {
            pending_id[k] = next;
            pending[k] = std::make_unique<std::uint32_t>(next++);
          } else {
            h.tx[k] = {};  // closed, or nothing left to send on it
          }
        } else {  // a receive case
          if (fired_status == csp::status::ok) {
            receive(fired_value);
          } else {
            CSP_EXPECT(fired_status == csp::status::closed);
            h.rx[k] = {};
          }
        }
      }
    });
  }

  // Plain consumers: recv, recv_for and try_recv, round robin over the open channels.
  for (std::uint32_t c = 0; c < plain_consumers; ++c) {
    parties.emplace_back([&, c] {
      std::minstd_rand rng(1001 + c);
      auto h = all_handles();
      std::array<bool, n_channels> open{};
      open.fill(true);
      std::size_t open_count = n_channels;
      for (std::size_t round = c; open_count > 0; ++round) {
        const std::size_t k = round % n_channels;
        if (!open[k]) continue;
        csp::result<item> r(csp::status::empty);
        switch (round % 3) {
          case 0: r = h.rx[k].recv(); break;
          case 1: r = h.rx[k].recv_for(small_timeout(rng)); break;
          default: r = h.rx[k].try_recv(); break;
        }
        if (r) {
          receive(*r);
        } else if (r.status() == csp::status::closed) {
          open[k] = false;
          --open_count;
        } else if (r.status() == csp::status::empty) {
          csp::this_fiber::yield();
        }
      }
    });
  }

  // Select consumers: receive cases only, with or without a timeout.
  for (std::uint32_t c = 0; c < select_consumers; ++c) {
    parties.emplace_back([&, c] {
      std::minstd_rand rng(2001 + c);
      auto h = all_handles();
      for (;;) {
        bool any = false;
        for (auto& rx : h.rx) any = any || static_cast<bool>(rx);
        if (!any) break;
        int calls = 0;
        csp::result<item> got(csp::status::empty);
        auto take = [&](csp::result<item> r) {
          ++calls;
          got = std::move(r);
        };
        std::size_t index;
        if (rng() % 2 == 0) {
          index = csp::select(csp::on_recv(h.rx[0], take), csp::on_recv(h.rx[1], take),
                              csp::on_recv(h.rx[2], take), csp::on_recv(h.rx[3], take),
                              csp::on_timeout(small_timeout(rng), [&] { ++calls; }));
        } else {
          index = csp::select(csp::on_recv(h.rx[0], take), csp::on_recv(h.rx[1], take),
                              csp::on_recv(h.rx[2], take), csp::on_recv(h.rx[3], take));
        }
        book.selects.fetch_add(1);
        CSP_EXPECT(calls == 1);
        if (index == n_channels) continue;  // timed out
        if (got) {
          receive(*got);
        } else {
          CSP_EXPECT(got.status() == csp::status::closed);
          h.rx[index] = {};
        }
      }
    });
  }

  // The controller closes every channel: once all producing is over, or (close_early) in
  // the middle of the traffic, from either end.
  parties.emplace_back([&] {
    if (close_early) {
      csp_test::wait_until([&] {
        return book.received_total.load() >= static_cast<long>(total / 3) ||
               producers_done.load() == producing;
      });
      for (std::size_t k = 0; k < n_channels; ++k) {
        if (k % 2 == 0) {
          chs[k].first.close();
        } else {
          chs[k].second.close();
        }
        csp::this_fiber::sleep_for(1ms);
      }
    } else {
      csp_test::wait_until([&] { return producers_done.load() == producing; });
      for (auto& ch : chs) ch.first.close();
    }
  });

  run_parties(m, parties, close_early ? "lossless stress, early close" : "lossless stress");

  // Exact conservation: every value is either sent (and then received exactly once) or
  // refused by a closed channel (and then never received).
  long sent = 0;
  long refused = 0;
  long bad = 0;
  for (std::size_t v = 0; v < total; ++v) {
    const int s = book.sent_ok[v].load();
    const int u = book.unsent[v].load();
    const int r = book.received[v].load();
    sent += s;
    refused += u;
    if (s + u != 1 || r != s) {
      if (bad < 10) {
        UNSCOPED_INFO("value " << v << ": sent_ok " << s << ", unsent " << u << ", received "
                               << r);
      }
      ++bad;
    }
  }
  INFO(m << (close_early ? ", early close" : ", close at the end") << ": " << sent
         << " sent, " << refused << " refused, " << book.selects.load() << " selects");
  CHECK(bad == 0);
  CHECK(book.received_total.load() == sent);
  if (!close_early) CHECK(refused == 0);
  for (auto& ch : chs) CHECK(ch.second.try_recv().status() == csp::status::closed);
}

}  // namespace

TEST_CASE("lossless stress: selects and plain operations race over every flavor",
          "[select][stress]") {
  for (run_mode m : sel_test::all_modes) {
    SECTION(std::string("close at the end, ") + csp_test::to_string(m)) {
      lossless_stress(m, false);
    }
    SECTION(std::string("close in the middle, ") + csp_test::to_string(m)) {
      lossless_stress(m, true);
    }
  }
}

// ---------------------------------------------------------------------------------------
// No trace after losing.

TEST_CASE("losing cases leave no trace: 100,000 lost selects, no memory growth, the losing "
          "channels still work",
          "[select][no-trace]") {
  const long n = 100000 * static_cast<long>(csp_test::stress_scale());
  for (run_mode m : sel_test::all_modes) {
    DYNAMIC_SECTION(m) {
    auto win = csp::make_channel<long>();  // a partner sends on it: the select often parks
    auto lose_rendezvous = csp::make_channel<int>();
    auto lose_full = csp::make_channel<std::unique_ptr<int>>(1);
    REQUIRE(lose_full.first.send(std::make_unique<int>(1)));
    auto lose_unbounded = csp::make_channel<std::string>(csp::unbounded);
    auto p = std::make_unique<int>(2);
    int* const raw = p.get();
    long long live_at_1000 = 0;
    long long live_at_end = 0;
    long wrong = 0;
    run_parties(m,
                {[&] {
                   for (long i = 0; i < n; ++i) {
                     if (i == 1000) live_at_1000 = live_allocations();
                     long got = -1;
                     const std::size_t index = csp::select(
                         csp::on_recv(lose_rendezvous.second, [] {}),
                         csp::on_send(lose_full.first, std::move(p), [] {}),
                         csp::on_recv(win.second, [&](csp::result<long> r) { got = *r; }),
                         csp::on_recv(lose_unbounded.second, [] {}),
                         csp::on_send(lose_rendezvous.first, 3, [] {}));
                     if (index != 2 || got != i) ++wrong;
                   }
                   live_at_end = live_allocations();
                 },
                 [&] {
                   for (long i = 0; i < n; ++i) CSP_EXPECT(win.first.send(i));
                 }},
                "no trace after losing");
    CHECK(wrong == 0);
    INFO("live allocations after 1,000 selects: " << live_at_1000 << ", after " << n << ": "
                                                  << live_at_end);
    // A select that leaked would leave ~n more allocations behind. The count is process-wide,
    // and a runtime's workers allocate on their own (parking, the partner's next send), so a
    // handful may come and go between the two samples: allow far less than one per select.
    CHECK(live_at_end - live_at_1000 < 64);
    REQUIRE(p != nullptr);
    CHECK(p.get() == raw);
    CHECK(*p == 2);

    // The losing channels work normally for later waiters.
    int got_rendezvous = 0;
    std::string got_string;
    int got_full = 0;
    run_parties(m,
                {[&] { got_rendezvous = lose_rendezvous.second.recv().value(); },
                 [&] { got_string = lose_unbounded.second.recv().value(); },
                 [&] {
                   CSP_EXPECT(lose_full.first.send(std::move(p)));  // waits for room
                   got_full = 1;
                 },
                 [&] {
                   csp_test::let_them_block();
                   CSP_EXPECT(lose_rendezvous.first.send(7));
                   CSP_EXPECT(lose_unbounded.first.send(std::string("later")));
                   auto first = lose_full.second.recv();
                   CSP_EXPECT(first && **first == 1);
                 }},
                "losing channels afterwards");
    CHECK(got_rendezvous == 7);
    CHECK(got_string == "later");
    CHECK(got_full == 1);
    auto second = lose_full.second.try_recv();
    REQUIRE(second);
    CHECK(**second == 2);
    CHECK(lose_full.second.try_recv().status() == csp::status::empty);
    CHECK(lose_unbounded.second.size() == 0);
    CHECK(win.second.try_recv().status() == csp::status::empty);
    }
  }
}

// ---------------------------------------------------------------------------------------
// One channel, a thousand selects.

TEST_CASE("a channel watched by 1,000 selects keeps working; each select wakes exactly once",
          "[select][many]") {
  struct setup {
    run_mode m;
    std::size_t watchers;
  };
  for (setup s : {setup{run_mode::fibers_one_thread, 1000}, setup{run_mode::fibers_many_threads, 1000},
                  setup{run_mode::plain_threads, 64}}) {
    const std::size_t w = s.watchers;
    INFO(s.m << ", " << w << " watchers");
    auto shared = csp::make_channel<int>();
    std::vector<csp::channel_pair<int>> priv;
    for (std::size_t i = 0; i < w; ++i) priv.push_back(csp::make_channel<int>());

    // Phase 1: woken by sends on the shared channel; phase 2: by their private channels
    // (the shared channel is watched all the while, and must be left clean); phase 3: by
    // closing the shared channel.
    for (int phase = 1; phase <= 3; ++phase) {
      INFO("phase " << phase);
      std::vector<int> calls(w, 0);
      std::vector<int> via(w, -1);
      std::vector<int> value(w, -1);
      std::vector<csp::status> st(w, csp::status::empty);
      std::vector<sel_test::party> parties;
      for (std::size_t i = 0; i < w; ++i) {
        parties.emplace_back([&, i] {
          via[i] = static_cast<int>(csp::select(
              csp::on_recv(shared.second,
                           [&, i](csp::result<int> r) {
                             ++calls[i];
                             st[i] = r.status();
                             if (r) value[i] = *r;
                           }),
              csp::on_recv(priv[i].second, [&, i](csp::result<int> r) {
                ++calls[i];
                st[i] = r.status();
                if (r) value[i] = *r;
              })));
        });
      }
      parties.emplace_back([&] {
        if (phase == 1) {
          for (std::size_t i = 0; i < w; ++i) CSP_EXPECT(shared.first.send(static_cast<int>(i)));
        } else if (phase == 2) {
          std::vector<std::size_t> order(w);
          for (std::size_t i = 0; i < w; ++i) order[i] = i;
          std::shuffle(order.begin(), order.end(), std::minstd_rand(7));
          for (std::size_t i : order) CSP_EXPECT(priv[i].first.send(static_cast<int>(i)));
        } else {
          csp_test::let_them_block();
          shared.first.close();
        }
      });
      run_parties(s.m, parties, "1,000 watchers");
      std::vector<int> seen(w, 0);
      long bad = 0;
      for (std::size_t i = 0; i < w; ++i) {
        if (calls[i] != 1) ++bad;
        if (phase == 1) {
          if (via[i] != 0 || st[i] != csp::status::ok) ++bad;
          if (value[i] >= 0 && value[i] < static_cast<int>(w)) ++seen[static_cast<std::size_t>(value[i])];
        } else if (phase == 2) {
          if (via[i] != 1 || st[i] != csp::status::ok || value[i] != static_cast<int>(i)) ++bad;
        } else {
          if (via[i] != 0 || st[i] != csp::status::closed) ++bad;
        }
      }
      CHECK(bad == 0);
      if (phase == 1) {
        CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<long>(w));
      }
      if (phase == 2) {
        // No select is left waiting on the shared channel, and it works normally.
        CHECK(shared.first.try_send(1) == csp::status::full);
        int got = -1;
        run_parties(s.m,
                    {[&] { got = shared.second.recv().value(); },
                     [&] { CSP_EXPECT(shared.first.send(99)); }},
                    "shared channel afterwards");
        CHECK(got == 99);
      }
    }
  }
}
