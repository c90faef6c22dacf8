// csp::selector (the run-time select) and the timer channels csp::after, csp::tick and
// csp::never, in plain receives, select and selector.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <csp/csp.hpp>

#include "select_support.hpp"

using namespace std::chrono_literals;
using csp_test::run_mode;
using csp_test::run_alone;
using sel_test::run_parties;

namespace {

using time_rx = csp::receiver<csp::clock::time_point>;

struct boom : std::runtime_error {
  boom() : std::runtime_error("handler threw on purpose") {}
};

// A channel of flavor k (0..3): rendezvous, bounded 1, bounded 3, unbounded.
template <class T>
csp::channel_pair<T> channel_of_flavor(std::size_t k) {
  switch (k % 4) {
    case 0: return csp::make_channel<T>();
    case 1: return csp::make_channel<T>(1);
    case 2: return csp::make_channel<T>(3);
    default: return csp::make_channel<T>(csp::unbounded);
  }
}

csp::selector make_two_case_selector(csp::receiver<int> a, csp::receiver<int> b, int& last) {
  csp::selector sel;
  sel.on_recv(a, [&last](csp::result<int> r) { last = r ? *r : -1; });
  sel.on_recv(b, [&last](csp::result<int> r) { last = r ? 1000 + *r : -1; });
  return sel;  // moved out: the cases must survive the move
}

}  // namespace

// ---------------------------------------------------------------------------------------
// selector

TEST_CASE("selector fans in N producers: every value once, per-producer FIFO",
          "[selector][fan-in]") {
  constexpr std::size_t producers = 6;
  const int per_producer = static_cast<int>(300 * csp_test::stress_scale());
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    std::vector<csp::sender<int>> txs;
    std::vector<csp::receiver<int>> rxs;
    for (std::size_t p = 0; p < producers; ++p) {
      auto ch = channel_of_flavor<int>(p);
      txs.push_back(std::move(ch.first));
      rxs.push_back(std::move(ch.second));
    }
    std::vector<std::vector<int>> got(producers);
    std::size_t selects = 0;
    std::vector<sel_test::party> parties;
    parties.emplace_back([&] {
      csp::selector sel;
      std::vector<csp::selector::case_id> ids;
      std::vector<bool> closed(producers, false);
      for (std::size_t p = 0; p < producers; ++p) {
        ids.push_back(sel.on_recv(rxs[p], [&, p](csp::result<int> r) {
          if (r) {
            got[p].push_back(*r);
          } else {
            CSP_EXPECT(r.status() == csp::status::closed);
            closed[p] = true;
          }
        }));
        CSP_EXPECT(ids.back() == p);  // ids count up from 0
      }
      rxs.clear();  // the selector keeps its own copies of the receivers
      while (sel.size() > 0) {
        const csp::selector::case_id id = sel.select();
        ++selects;
        CSP_EXPECT(id < producers);
        if (closed[id]) sel.remove(id);
      }
    });
    for (std::size_t p = 0; p < producers; ++p) {
      parties.emplace_back([&, p] {
        for (int i = 0; i < per_producer; ++i) {
          CSP_EXPECT(txs[p].send(static_cast<int>(p) * 1000000 + i));
        }
        txs[p].close();
      });
    }
    run_parties(m, parties, "selector fan-in");
    for (std::size_t p = 0; p < producers; ++p) {
      INFO("producer " << p);
      REQUIRE(got[p].size() == static_cast<std::size_t>(per_producer));
      for (int i = 0; i < per_producer; ++i) {
        REQUIRE(got[p][static_cast<std::size_t>(i)] == static_cast<int>(p) * 1000000 + i);
      }
    }
    CHECK(selects == producers * static_cast<std::size_t>(per_producer + 1));
  }
}

TEST_CASE("selector: a removed case never fires again; ids are never reused",
          "[selector][remove]") {
  std::vector<csp::channel_pair<int>> chs;
  for (int k = 0; k < 3; ++k) {
    chs.push_back(csp::make_channel<int>(csp::unbounded));
    for (int i = 0; i < 100; ++i) REQUIRE(chs.back().first.send(i));
  }
  csp::selector sel;
  int fired[4] = {0, 0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    CHECK(sel.on_recv(chs[static_cast<std::size_t>(k)].second,
                      [&fired, k] { ++fired[k]; }) == static_cast<std::size_t>(k));
  }
  CHECK(sel.size() == 3);
  sel.remove(1);
  CHECK(sel.size() == 2);
  for (int i = 0; i < 150; ++i) {
    const auto id = sel.select();
    CHECK((id == 0 || id == 2));
  }
  CHECK(fired[1] == 0);
  CHECK(fired[0] + fired[2] == 150);
  CHECK(fired[0] > 0);
  CHECK(fired[2] > 0);
  CHECK(chs[1].second.size() == 100);  // untouched
  // A new case gets a fresh id, and the remaining ones keep theirs.
  auto extra = csp::make_channel<int>(csp::unbounded);
  REQUIRE(extra.first.send(7));
  CHECK(sel.on_recv(extra.second, [&] { ++fired[3]; }) == 3);
  sel.remove(0);
  sel.remove(2);
  CHECK(sel.size() == 1);
  CHECK(sel.select() == 3);
  CHECK(fired[3] == 1);
}

TEST_CASE("selector: bad ids and selects that could only block throw csp::invalid_argument",
          "[selector][errors]") {
  csp::selector sel;
  CHECK(sel.size() == 0);
  CHECK_THROWS_AS(sel.select(), csp::invalid_argument);
  CHECK_THROWS_AS(sel.remove(0), csp::invalid_argument);

  auto ch = csp::make_channel<int>(1);
  const auto id = sel.on_recv(ch.second, [] {});
  CHECK_THROWS_AS(sel.remove(id + 1), csp::invalid_argument);
  CHECK_THROWS_AS(sel.remove(12345), csp::invalid_argument);
  sel.remove(id);
  CHECK_THROWS_AS(sel.remove(id), csp::invalid_argument);  // twice
  CHECK(sel.size() == 0);
  CHECK_THROWS_AS(sel.select(), csp::invalid_argument);  // only removed cases

  // Only empty handles: could only block forever.
  csp::receiver<int> no_rx;
  csp::sender<int> no_tx;
  int value = 1;
  const auto r_id = sel.on_recv(no_rx, [] {});
  sel.on_send(no_tx, value, [] {});
  CHECK_THROWS_AS(sel.select(), csp::invalid_argument);
  // ... unless there is a timeout or a default.
  const auto t_id = sel.on_timeout(5ms, [] {});
  CHECK(sel.select() == t_id);
  sel.remove(t_id);
  const auto d_id = sel.otherwise([] {});
  CHECK(sel.select() == d_id);
  CHECK_THROWS_AS(sel.otherwise([] {}), csp::invalid_argument);  // a second default
  sel.remove(d_id);
  sel.remove(r_id);
  CHECK_THROWS_AS(sel.select(), csp::invalid_argument);
}

TEST_CASE("selector: on_timeout counts from the start of each select()", "[selector][timeout]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto ch = csp::make_channel<int>();
    run_alone(m, [&] {
      csp::selector sel;
      int timeouts = 0;
      sel.on_recv(ch.second, [] {});
      const auto t_id = sel.on_timeout(25ms, [&] { ++timeouts; });
      csp::this_fiber::sleep_for(40ms);  // longer than the timeout: it must not count
      for (int round = 0; round < 3; ++round) {
        const auto start = csp::clock::now();
        CSP_EXPECT(sel.select() == t_id);
        CSP_EXPECT(csp::clock::now() - start >= 25ms);
      }
      CSP_EXPECT(timeouts == 3);
      // A fixed deadline, on the other hand, is the same for every select().
      const auto start = csp::clock::now();
      sel.remove(t_id);
      const auto d_id = sel.on_deadline(start + 30ms, [] {});
      CSP_EXPECT(sel.select() == d_id);
      CSP_EXPECT(csp::clock::now() - start >= 30ms);
      CSP_EXPECT(sel.select() == d_id);  // already passed: at once
      // The earliest of several timeouts wins.
      const auto long_id = sel.on_timeout(1h, [] {});
      sel.remove(d_id);
      const auto short_id = sel.on_timeout(10ms, [] {});
      const auto s2 = sel.select();
      CSP_EXPECT(s2 == short_id);
      CSP_EXPECT(s2 != long_id);
    }, "selector timeout");
    CHECK(ch.second.try_recv().status() == csp::status::empty);
  }
}

TEST_CASE("selector: otherwise never blocks, and a ready case beats it", "[selector][default]") {
  auto ch = csp::make_channel<int>(4);
  auto rendezvous = csp::make_channel<int>();
  csp::selector sel;
  int got = 0;
  int value = 9;
  const auto r_id = sel.on_recv(ch.second, [&](csp::result<int> r) { got = *r; });
  sel.on_send(rendezvous.first, value, [] {});
  sel.on_recv(rendezvous.second, [] {});
  sel.on_recv(csp::never<int>(), [] {});
  const auto d_id = sel.otherwise([] {});
  for (int i = 0; i < 50; ++i) CHECK(sel.select() == d_id);
  CHECK(value == 9);
  REQUIRE(ch.first.send(3));
  CHECK(sel.select() == r_id);
  CHECK(got == 3);
  CHECK(sel.select() == d_id);
}

TEST_CASE("selector: send cases move from the caller's value only when they fire",
          "[selector][send]") {
  SECTION("refilled value, in order, to a partner") {
    for (run_mode m : sel_test::all_modes) {
      INFO(m);
      auto ch = csp::make_channel<int>();
      auto idle = csp::make_channel<int>();
      const int n = 200;
      std::vector<int> got;
      run_parties(m,
                  {[&] {
                     csp::selector sel;
                     int value = 0;
                     int sent = 0;
                     const auto s_id = sel.on_send(ch.first, value, [&](bool ok) {
                       CSP_EXPECT(ok);
                       ++sent;
                     });
                     sel.on_recv(idle.second, [] {});
                     for (int i = 0; i < n; ++i) {
                       value = i;
                       CSP_EXPECT(sel.select() == s_id);
                     }
                     CSP_EXPECT(sent == n);
                     ch.first.close();
                   },
                   [&] {
                     for (int v : ch.second) got.push_back(v);
                   }},
                  "selector sends");
      REQUIRE(got.size() == static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) CHECK(got[static_cast<std::size_t>(i)] == i);
    }
  }
  SECTION("two move-only values: the one that fired moved, the other stays") {
    auto a = csp::make_channel<std::unique_ptr<int>>(csp::unbounded);
    auto b = csp::make_channel<std::unique_ptr<int>>(csp::unbounded);
    std::unique_ptr<int> pa = std::make_unique<int>(0);
    std::unique_ptr<int> pb = std::make_unique<int>(0);
    csp::selector sel;
    const auto a_id = sel.on_send(a.first, pa, [] {});
    const auto b_id = sel.on_send(b.first, pb, [] {});
    int fired_a = 0;
    int fired_b = 0;
    for (int i = 1; i <= 300; ++i) {
      const auto id = sel.select();
      if (id == a_id) {
        ++fired_a;
        CHECK(pa == nullptr);
        REQUIRE(pb != nullptr);
        pa = std::make_unique<int>(i);
      } else {
        REQUIRE(id == b_id);
        ++fired_b;
        CHECK(pb == nullptr);
        REQUIRE(pa != nullptr);
        pb = std::make_unique<int>(i);
      }
    }
    CHECK(fired_a > 0);
    CHECK(fired_b > 0);
    CHECK(a.second.size() == static_cast<std::size_t>(fired_a));
    CHECK(b.second.size() == static_cast<std::size_t>(fired_b));
  }
  SECTION("a closed channel: false, and the value stays") {
    auto ch = csp::make_channel<std::unique_ptr<int>>(2);
    ch.second.close();
    auto p = std::make_unique<int>(4);
    csp::selector sel;
    bool ok = true;
    csp::status st = csp::status::ok;
    const auto s_id = sel.on_send(ch.first, p, [&](bool sent) { ok = sent; });
    const auto r_id = sel.on_recv(ch.second, [&](csp::result<std::unique_ptr<int>> r) {
      st = r.status();
    });
    bool saw_send = false;
    bool saw_recv = false;
    for (int i = 0; i < 100; ++i) {
      const auto id = sel.select();
      saw_send = saw_send || id == s_id;
      saw_recv = saw_recv || id == r_id;
    }
    CHECK(saw_send);
    CHECK(saw_recv);
    CHECK_FALSE(ok);
    CHECK(st == csp::status::closed);
    REQUIRE(p != nullptr);
    CHECK(*p == 4);
  }
}

TEST_CASE("selector keeps its own copies of the handles it was given", "[selector][handles]") {
  SECTION("receivers") {
    auto ch = csp::make_channel<int>(2);
    csp::selector sel;
    int got = 0;
    {
      csp::receiver<int> only = std::move(ch.second);
      sel.on_recv(only, [&](csp::result<int> r) { got = r ? *r : -1; });
    }  // the caller's last receiver is gone; the selector's copy keeps the channel open
    CHECK_FALSE(ch.first.is_closed());
    REQUIRE(ch.first.send(12));
    CHECK(sel.select() == 0);
    CHECK(got == 12);
  }
  SECTION("senders") {
    auto ch = csp::make_channel<int>(2);
    csp::selector sel;
    int value = 13;
    bool ok = false;
    {
      csp::sender<int> only = std::move(ch.first);
      sel.on_send(only, value, [&](bool sent) { ok = sent; });
    }  // the caller's last sender is gone; the selector's copy keeps the channel open
    CHECK_FALSE(ch.second.is_closed());
    CHECK(sel.select() == 0);
    CHECK(ok);
    auto r = ch.second.try_recv();
    CHECK(r.status() == csp::status::ok);
    CHECK(r.value_or(-1) == 13);
  }
}

TEST_CASE("selector: moved selectors keep working; handlers see closed; a throwing handler "
          "propagates and the selector stays usable",
          "[selector]") {
  auto a = csp::make_channel<int>(csp::unbounded);
  auto b = csp::make_channel<int>(csp::unbounded);
  int last = 0;
  csp::selector sel = make_two_case_selector(a.second, b.second, last);
  REQUIRE(b.first.send(5));
  CHECK(sel.select() == 1);
  CHECK(last == 1005);
  a.first.close();
  CHECK(sel.select() == 0);  // closed and drained: ready
  CHECK(last == -1);

  csp::selector thrower;
  auto c = csp::make_channel<int>(csp::unbounded);
  int calls = 0;
  thrower.on_recv(c.second, [&](csp::result<int> r) {
    ++calls;
    if (*r < 0) throw boom();
  });
  REQUIRE(c.first.send(-1));
  REQUIRE(c.first.send(2));
  CHECK_THROWS_AS(thrower.select(), boom);
  CHECK(thrower.select() == 0);
  CHECK(calls == 2);
  CHECK(c.second.size() == 0);
}

TEST_CASE("selector: a blocked select() wakes for a partner on another thread",
          "[selector]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    std::vector<csp::channel_pair<int>> chs;
    for (std::size_t k = 0; k < 5; ++k) chs.push_back(channel_of_flavor<int>(k));
    for (std::size_t target = 0; target < chs.size(); ++target) {
      csp::selector::case_id fired = 99;
      int got = 0;
      run_parties(m,
                  {[&] {
                     csp::selector sel;
                     for (auto& ch : chs) {
                       sel.on_recv(ch.second, [&](csp::result<int> r) { got = *r; });
                     }
                     sel.on_timeout(1h, [] {});
                     fired = sel.select();
                   },
                   [&] {
                     csp_test::let_them_block();
                     CSP_EXPECT(chs[target].first.send(static_cast<int>(target) + 40));
                   }},
                  "selector woken by a partner");
      CHECK(fired == target);
      CHECK(got == static_cast<int>(target) + 40);
    }
  }
}

// ---------------------------------------------------------------------------------------
// timers

TEST_CASE("after(d) delivers one value no earlier than d, then nothing", "[timers][after]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    run_alone(m, [] {
      const auto start = csp::clock::now();
      time_rx t = csp::after(30ms);
      CSP_EXPECT(t.capacity().has_value());
      auto r = t.recv();
      CSP_EXPECT(r.status() == csp::status::ok);
      CSP_EXPECT(csp::clock::now() - start >= 30ms);
      CSP_EXPECT(*r >= start + 30ms);  // the value is the time it fired
      CSP_EXPECT(t.recv_for(40ms).status() == csp::status::timeout);
      CSP_EXPECT(t.try_recv().status() == csp::status::empty);
      CSP_EXPECT(!t.is_closed());  // timers never close on their own
    }, "after");
  }
  // A delay that has already passed fires (soon), once.
  for (auto d : {0ms, -5ms}) {
    time_rx t = csp::after(d);
    CHECK(t.recv().status() == csp::status::ok);
    CHECK(t.recv_for(20ms).status() == csp::status::timeout);
  }
}

TEST_CASE("after(d) in select: fires no earlier than d; a partner still wins first",
          "[timers][after][select]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto ch = csp::make_channel<int>();
    run_alone(m, [&] {
      const auto start = csp::clock::now();
      csp::clock::time_point fired_at{};
      int calls = 0;
      CSP_EXPECT(csp::select(csp::on_recv(ch.second, [&] { ++calls; }),
                            csp::on_recv(csp::after(25ms),
                                         [&](csp::result<csp::clock::time_point> r) {
                                           ++calls;
                                           fired_at = *r;
                                         })) == 1);
      CSP_EXPECT(calls == 1);
      CSP_EXPECT(fired_at >= start + 25ms);
      CSP_EXPECT(csp::clock::now() - start >= 25ms);
      // A timer held in a variable across several selects fires in exactly one of them.
      time_rx t = csp::after(20ms);
      int timer_fired = 0;
      int timeouts = 0;
      for (int i = 0; i < 6; ++i) {
        csp::select(csp::on_recv(t, [&] { ++timer_fired; }),
                    csp::on_recv(ch.second, [] {}),
                    csp::on_timeout(10ms, [&] { ++timeouts; }));
      }
      CSP_EXPECT(timer_fired <= 1);
      CSP_EXPECT(timer_fired + timeouts == 6);
      if (timer_fired == 0) CSP_EXPECT(t.recv().status() == csp::status::ok);
    }, "after in select");
    // A partner on another party beats a distant timer.
    std::size_t index = 99;
    run_parties(m,
                {[&] {
                   index = csp::select(csp::on_recv(csp::after(1h), [] {}),
                                       csp::on_recv(ch.second, [] {}));
                 },
                 [&] {
                   csp_test::let_them_block();
                   CSP_EXPECT(ch.first.send(1));
                 }},
                "partner beats a timer");
    CHECK(index == 1);
  }
}

TEST_CASE("tick(p) delivers repeatedly, each value no earlier than its period",
          "[timers][tick]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    run_alone(m, [] {
      const auto start = csp::clock::now();
      time_rx t = csp::tick(15ms);
      csp::clock::time_point previous = start;
      for (int k = 1; k <= 4; ++k) {
        auto r = t.recv();
        CSP_EXPECT(r.status() == csp::status::ok);
        // The k-th value received is at least the k-th tick: no earlier than k periods.
        CSP_EXPECT(*r >= start + k * 15ms);
        CSP_EXPECT(*r > previous);
        previous = *r;
      }
      CSP_EXPECT(csp::clock::now() - start >= 60ms);
    }, "tick");
  }
}

TEST_CASE("tick(p) never piles up missed ticks", "[timers][tick]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    run_alone(m, [] {
      time_rx t = csp::tick(10ms);
      for (int round = 0; round < 3; ++round) {
        csp::this_fiber::sleep_for(80ms);  // eight periods without receiving
        const auto drain_start = csp::clock::now();
        int pending = 0;  // values that had fired before the drain began
        csp::clock::time_point last{};
        while (auto r = t.try_recv()) {
          if (*r < drain_start) ++pending;
          last = *r;
        }
        // One buffered tick, plus at most one the timer thread had stamped just before the
        // drain began and delivered during it; eight missed periods would give eight.
        CSP_EXPECT(pending <= 2);
        // ... and it keeps ticking afterwards.
        auto next = t.recv();
        CSP_EXPECT(next.status() == csp::status::ok);
        CSP_EXPECT(*next > last);
      }
      // The same through select: at most one tick is ever waiting.
      csp::this_fiber::sleep_for(50ms);
      const auto drain_start = csp::clock::now();
      int pending = 0;
      for (;;) {
        bool got = false;
        csp::clock::time_point when{};
        csp::select(csp::on_recv(t,
                                 [&](csp::result<csp::clock::time_point> r) {
                                   got = true;
                                   when = *r;
                                 }),
                    csp::otherwise([] {}));
        if (!got) break;
        if (when < drain_start) ++pending;
      }
      CSP_EXPECT(pending <= 2);  // one buffered, at most one in flight (see above)
    }, "tick piles up");
  }
}

TEST_CASE("tick with a zero or negative period throws csp::invalid_argument", "[timers][tick]") {
  CHECK_THROWS_AS(csp::tick(0ms), csp::invalid_argument);
  CHECK_THROWS_AS(csp::tick(-1ms), csp::invalid_argument);
  CHECK_THROWS_AS(csp::tick(std::chrono::nanoseconds(0)), csp::invalid_argument);
  CHECK_THROWS_AS(csp::tick(std::chrono::hours(-3)), csp::invalid_argument);
  CHECK_THROWS_AS(csp::tick(std::chrono::duration<double>(-0.5)), csp::invalid_argument);
  CHECK_THROWS_AS(csp::tick(std::chrono::duration<double>(0.0)), csp::invalid_argument);
  CHECK_NOTHROW(csp::tick(1h));  // a positive period is fine (and is dropped at once)
}

TEST_CASE("never<T>() recv_for times out, and is never ready", "[timers][never]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    run_alone(m, [] {
      auto n = csp::never<std::string>();
      const auto start = csp::clock::now();
      CSP_EXPECT(n.recv_for(20ms).status() == csp::status::timeout);
      CSP_EXPECT(csp::clock::now() - start >= 20ms);
      CSP_EXPECT(n.try_recv().status() == csp::status::empty);
      CSP_EXPECT(!n.is_closed());
      CSP_EXPECT(n.size() == 0);
    }, "never");
  }
}

TEST_CASE("timers in a selector: after fires exactly once, tick keeps firing",
          "[timers][selector]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    run_alone(m, [] {
      const auto start = csp::clock::now();
      csp::selector sel;
      int after_fired = 0;
      int ticks = 0;
      csp::clock::time_point after_at{};
      const auto a_id = sel.on_recv(csp::after(20ms), [&](csp::result<csp::clock::time_point> r) {
        ++after_fired;
        after_at = *r;
      });
      const auto t_id = sel.on_recv(csp::tick(7ms), [&] { ++ticks; });
      sel.on_recv(csp::never<int>(), [] {});
      while (after_fired == 0) {
        const auto id = sel.select();
        CSP_EXPECT((id == a_id || id == t_id));
      }
      CSP_EXPECT(after_at >= start + 20ms);
      for (int i = 0; i < 5; ++i) CSP_EXPECT(sel.select() == t_id);
      CSP_EXPECT(after_fired == 1);
      CSP_EXPECT(ticks >= 5);
    }, "timers in a selector");
  }
}

TEST_CASE("many timers at once, from several threads: each fires exactly once",
          "[timers][after]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    std::atomic<int> fired{0};
    std::vector<sel_test::party> parties;
    for (int p = 0; p < 4; ++p) {
      parties.emplace_back([&fired, p] {
        std::vector<time_rx> timers;
        std::vector<csp::clock::time_point> due;
        for (int i = 0; i < 25; ++i) {
          const auto d = std::chrono::milliseconds((i * 7 + p * 3) % 30);
          due.push_back(csp::clock::now() + d);
          timers.push_back(csp::after(d));
        }
        csp::selector sel;
        std::vector<int> count(timers.size(), 0);
        for (std::size_t i = 0; i < timers.size(); ++i) {
          sel.on_recv(timers[i], [&count, &due, i](csp::result<csp::clock::time_point> r) {
            CSP_EXPECT(*r >= due[i]);
            ++count[i];
          });
        }
        for (std::size_t k = 0; k < timers.size(); ++k) {
          const auto id = sel.select();
          sel.remove(id);  // a timer that fired is done
        }
        for (int c : count) CSP_EXPECT(c == 1);
        for (auto& t : timers) CSP_EXPECT(t.recv_for(5ms).status() == csp::status::timeout);
        fired += 25;
      });
    }
    run_parties(m, parties, "many timers");
    CHECK(fired == 100);
  }
}
