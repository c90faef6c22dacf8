// csp::select: what each kind of case does, alone and against partners on other fibers,
// threads and plain threads. Statistical and stress tests live in select_stress.cpp.

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
using sel_test::run_parties;
using csp_test::run_alone;

namespace {

struct boom : std::runtime_error {
  boom() : std::runtime_error("handler threw on purpose") {}
};

// A movable value whose move throws when the moved-from object was armed for it: the
// value a failed move came from must still be intact afterwards.
class fragile {
 public:
  explicit fragile(int v) : v_(v) {}
  fragile(fragile&& other) : v_(other.v_) {
    if (other.throws_left_ > 0) {
      --other.throws_left_;
      throw std::runtime_error("fragile: move threw on purpose");
    }
    other.v_ = -1;
  }
  fragile& operator=(fragile&&) = delete;
  fragile(const fragile&) = delete;
  ~fragile() = default;

  void arm(int n = 1) noexcept { throws_left_ = n; }
  int value() const noexcept { return v_; }

 private:
  int v_;
  int throws_left_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// One case fires: the right handler, the right argument, the right position.

TEMPLATE_TEST_CASE("select receives from the one case that gets a value, among mixed types",
                   "[select][recv]", SEL_ALL_FLAVORS) {
  for (run_mode m : sel_test::all_modes) {
    for (bool selector_first : {true, false}) {
      INFO(TestType::name << ", " << m << (selector_first ? ", select first" : ", send first"));
      auto ch = TestType::template make<int>();
      auto& tx = ch.first;
      auto& rx = ch.second;
      auto strings = csp::make_channel<std::string>(csp::unbounded);  // stays empty
      auto doubles = csp::make_channel<double>(1);
      REQUIRE(doubles.first.send(1.5));  // full: a send case on it cannot proceed

      std::size_t index = 99;
      int calls = 0;
      int got = -1;
      csp::status st = csp::status::empty;
      sel_test::party selecting = [&] {
        index = csp::select(
            csp::on_recv(strings.second, [&](csp::result<std::string>) { ++calls; }),
            csp::on_recv(rx,
                         [&](csp::result<int> r) {
                           ++calls;
                           st = r.status();
                           got = r ? *r : -1;
                         }),
            csp::on_send(doubles.first, 2.5, [&](bool) { ++calls; }),
            csp::on_timeout(1h, [&] { ++calls; }));
      };
      sel_test::party sending = [&] { CSP_EXPECT(tx.send(42)); };
      if (selector_first) {
        run_parties(m, {selecting, sending}, "recv among mixed types");
      } else {
        run_parties(m, {sending, selecting}, "recv among mixed types");
      }
      CHECK(index == 1);
      CHECK(calls == 1);
      CHECK(st == csp::status::ok);
      CHECK(got == 42);
      // The losing cases consumed and sent nothing.
      CHECK(strings.second.size() == 0);
      CHECK(doubles.second.size() == 1);
      auto d = doubles.second.try_recv();
      REQUIRE(d);
      CHECK(*d == 1.5);
      CHECK(doubles.second.try_recv().status() == csp::status::empty);
      CHECK(rx.try_recv().status() == (TestType::is_oneshot ? csp::status::closed
                                                            : csp::status::empty));
    }
  }
}

TEMPLATE_TEST_CASE("select sends on the one case that can proceed, among mixed types",
                   "[select][send]", SEL_ALL_FLAVORS) {
  for (run_mode m : sel_test::all_modes) {
    for (bool selector_first : {true, false}) {
      INFO(TestType::name << ", " << m << (selector_first ? ", select first" : ", recv first"));
      auto ch = TestType::template make<std::unique_ptr<int>>();
      auto& tx = ch.first;
      auto& rx = ch.second;
      auto strings = csp::make_channel<std::string>();  // rendezvous, nobody sends
      auto longs = csp::make_channel<long>(2);
      REQUIRE(longs.first.send(1L));
      REQUIRE(longs.first.send(2L));  // full

      std::size_t index = 99;
      int calls = 0;
      bool ok = false;
      auto p = std::make_unique<int>(7);
      int* const raw = p.get();
      int* received = nullptr;
      sel_test::party selecting = [&] {
        index = csp::select(
            csp::on_send(longs.first, 3L, [&] { ++calls; }),
            csp::on_recv(strings.second, [&] { ++calls; }),
            csp::on_send(tx, std::move(p),
                         [&](bool sent) {
                           ++calls;
                           ok = sent;
                         }),
            csp::on_timeout(1h, [&] { ++calls; }));
      };
      sel_test::party receiving = [&] {
        auto r = rx.recv();
        CSP_EXPECT(r.status() == csp::status::ok);
        received = r->get();
        CSP_EXPECT(**r == 7);
      };
      if (selector_first) {
        run_parties(m, {selecting, receiving}, "send among mixed types");
      } else {
        run_parties(m, {receiving, selecting}, "send among mixed types");
      }
      CHECK(index == 2);
      CHECK(calls == 1);
      CHECK(ok);
      CHECK(p == nullptr);  // moved into the channel: the case fired
      CHECK(received == raw);
      CHECK(longs.second.size() == 2);
      CHECK(*longs.second.try_recv() == 1L);
      CHECK(*longs.second.try_recv() == 2L);
      CHECK(longs.second.try_recv().status() == csp::status::empty);
    }
  }
}

TEST_CASE("select returns the argument position, counting timeout and default cases",
          "[select]") {
  auto a = csp::make_channel<int>(csp::unbounded);
  auto b = csp::make_channel<int>(csp::unbounded);
  REQUIRE(a.first.send(1));
  int fired = -1;
  CHECK(csp::select(csp::on_timeout(1h, [&] { fired = 0; }), csp::otherwise([&] { fired = 1; }),
                    csp::on_recv(b.second, [&] { fired = 2; }),
                    csp::on_recv(a.second, [&] { fired = 3; })) == 3);
  CHECK(fired == 3);
  CHECK(csp::select(csp::on_timeout(1h, [&] { fired = 0; }), csp::otherwise([&] { fired = 1; }),
                    csp::on_recv(b.second, [&] { fired = 2; }),
                    csp::on_recv(a.second, [&] { fired = 3; })) == 1);
  CHECK(fired == 1);
  // (A select with no channel case at all, e.g. csp::select(csp::otherwise(f)), is left out:
  // it trips -Wnull-dereference inside select.hpp, see the suite's report.)
  CHECK(csp::select(csp::on_recv(a.second, [&] { fired = 9; }),
                    csp::on_timeout(0ms, [&] { fired = 1; })) == 1);
  CHECK(fired == 1);
}

TEST_CASE("select handlers may take their argument in any form, or nothing", "[select]") {
  auto ints = csp::make_channel<int>(csp::unbounded);
  auto& tx = ints.first;
  auto& rx = ints.second;
  int seen = 0;
  for (int i = 1; i <= 4; ++i) REQUIRE(tx.send(i));

  CHECK(csp::select(csp::on_recv(rx, [&](csp::result<int> r) { seen = *r; })) == 0);
  CHECK(seen == 1);
  CHECK(csp::select(csp::on_recv(rx, [&](const csp::result<int>& r) { seen = *r; })) == 0);
  CHECK(seen == 2);
  CHECK(csp::select(csp::on_recv(rx, [&](csp::result<int>&& r) { seen = std::move(r).value(); })) ==
        0);
  CHECK(seen == 3);
  CHECK(csp::select(csp::on_recv(rx, [&](auto r) { seen = r.value(); })) == 0);
  CHECK(seen == 4);
  CHECK(csp::select(csp::on_send(tx, 5, [&] { seen = 50; })) == 0);
  CHECK(seen == 50);
  CHECK(csp::select(csp::on_send(tx, 6, [&](bool ok) { seen = ok ? 60 : -60; })) == 0);
  CHECK(seen == 60);
  CHECK(csp::select(csp::on_recv(rx, [&] { seen = 0; })) == 0);  // consumed 5, unseen
  CHECK(seen == 0);
  CHECK(*rx.try_recv() == 6);
}

TEST_CASE("select sends copies of lvalues, converted values and temporaries", "[select][send]") {
  auto ch = csp::make_channel<std::string>(csp::unbounded);
  auto& tx = ch.first;
  auto& rx = ch.second;
  const std::string kept = "kept by the caller";
  std::string mine = "mine";
  CHECK(csp::select(csp::on_send(tx, kept, [] {})) == 0);
  CHECK(csp::select(csp::on_send(tx, mine, [] {})) == 0);
  CHECK(csp::select(csp::on_send(tx, "a literal", [] {})) == 0);
  CHECK(csp::select(csp::on_send(tx, std::string(40, 'x'), [] {})) == 0);
  CHECK(kept == "kept by the caller");
  CHECK(mine == "mine");  // an lvalue is copied, as by send()
  CHECK(*rx.try_recv() == "kept by the caller");
  CHECK(*rx.try_recv() == "mine");
  CHECK(*rx.try_recv() == "a literal");
  CHECK(*rx.try_recv() == std::string(40, 'x'));
  CHECK(rx.try_recv().status() == csp::status::empty);
}

TEST_CASE("select owns an rvalue receiver handle for the duration of the call", "[select]") {
  // The only receiver is the temporary: the select must keep the channel alive and open.
  auto make_ready = [] {
    auto ch = csp::make_channel<int>(1);
    REQUIRE(ch.first.send(11));
    return std::move(ch.second);  // the sender dies here: closed, one value buffered
  };
  int got = 0;
  csp::status st = csp::status::empty;
  CHECK(csp::select(csp::on_recv(make_ready(), [&](csp::result<int> r) {
    st = r.status();
    got = r ? *r : -1;
  })) == 0);
  CHECK(st == csp::status::ok);
  CHECK(got == 11);
}

// ---------------------------------------------------------------------------------------
// Closed channels.

TEMPLATE_TEST_CASE("select on a closed channel: receive drains then reports closed, send fails "
                   "and leaves a move-only value with the caller",
                   "[select][close]", SEL_ALL_FLAVORS) {
  for (bool close_from_receiver : {false, true}) {
    INFO(TestType::name << (close_from_receiver ? ", closed by the receiver" : ", closed by the sender"));
    auto ch = TestType::template make<std::unique_ptr<int>>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    const bool buffered = TestType::buffered > 0;
    if (buffered) REQUIRE(tx.send(std::make_unique<int>(5)));
    if (close_from_receiver) {
      rx.close();
    } else {
      tx.close();
    }
    auto never_ready = csp::make_channel<int>();

    if (buffered) {
      csp::status st = csp::status::empty;
      int got = 0;
      CHECK(csp::select(csp::on_recv(never_ready.second, [] {}),
                        csp::on_recv(rx, [&](csp::result<std::unique_ptr<int>> r) {
                          st = r.status();
                          got = r ? **r : -1;
                        })) == 1);
      CHECK(st == csp::status::ok);
      CHECK(got == 5);
    }
    for (int round = 0; round < 3; ++round) {  // closed and drained: ready every time
      csp::status st = csp::status::ok;
      bool had_value = true;
      CHECK(csp::select(csp::on_recv(never_ready.second, [] {}),
                        csp::on_recv(rx, [&](csp::result<std::unique_ptr<int>> r) {
                          st = r.status();
                          had_value = r.has_value();
                        })) == 1);
      CHECK(st == csp::status::closed);
      CHECK_FALSE(had_value);
    }

    auto p = std::make_unique<int>(9);
    int* const raw = p.get();
    int ok_calls = 0;
    bool ok = true;
    CHECK(csp::select(csp::on_recv(never_ready.second, [] {}),
                      csp::on_send(tx, std::move(p), [&](bool sent) {
                        ++ok_calls;
                        ok = sent;
                      })) == 1);
    CHECK(ok_calls == 1);
    CHECK_FALSE(ok);
    REQUIRE(p != nullptr);  // still ours
    CHECK(p.get() == raw);
    CHECK(*p == 9);
    // Also with a handler that takes nothing, and with both cases on the closed channel.
    std::size_t i = csp::select(csp::on_send(tx, std::move(p), [] {}), csp::on_recv(rx, [] {}));
    CHECK(i <= 1);
    REQUIRE(p != nullptr);
    CHECK(*p == 9);
  }
}

TEMPLATE_TEST_CASE("close wakes a blocked select: a receive case reports closed",
                   "[select][close]", SEL_ALL_FLAVORS) {
  for (run_mode m : sel_test::all_modes) {
    INFO(TestType::name << ", " << m);
    auto ch = TestType::template make<int>();
    auto other = csp::make_channel<int>();
    std::size_t index = 99;
    csp::status st = csp::status::ok;
    int calls = 0;
    run_parties(m,
                {[&] {
                   index = csp::select(csp::on_recv(other.second, [&] { ++calls; }),
                                       csp::on_recv(ch.second,
                                                    [&](csp::result<int> r) {
                                                      ++calls;
                                                      st = r.status();
                                                    }),
                                       csp::on_send(other.first, 3, [&] { ++calls; }));
                 },
                 [&] {
                   csp_test::let_them_block();
                   ch.first.close();
                 }},
                "close wakes a receiving select");
    CHECK(index == 1);
    CHECK(calls == 1);
    CHECK(st == csp::status::closed);
    // The select left nothing behind on `other`.
    CHECK(other.first.try_send(1) == csp::status::full);
    CHECK(other.second.try_recv().status() == csp::status::empty);
  }
}

TEMPLATE_TEST_CASE("close wakes a blocked select: a send case reports false and the move-only "
                   "value stays with the caller",
                   "[select][close]", csp_test::rendezvous_default, csp_test::bounded<1>,
                   csp_test::bounded<4>) {
  for (run_mode m : sel_test::all_modes) {
    for (bool close_from_receiver : {false, true}) {
      INFO(TestType::name << ", " << m << (close_from_receiver ? ", receiver closes" : ", sender closes"));
      auto ch = TestType::template make<std::unique_ptr<int>>();
      for (std::size_t k = 0; k < TestType::buffered; ++k) {
        REQUIRE(ch.first.send(std::make_unique<int>(static_cast<int>(k))));  // full
      }
      auto p = std::make_unique<int>(77);
      int* const raw = p.get();
      std::size_t index = 99;
      int calls = 0;
      bool ok = true;
      auto idle = csp::make_channel<int>(csp::unbounded);
      run_parties(m,
                  {[&] {
                     index = csp::select(csp::on_recv(idle.second, [&] { ++calls; }),
                                         csp::on_send(ch.first, std::move(p), [&](bool sent) {
                                           ++calls;
                                           ok = sent;
                                         }));
                   },
                   [&] {
                     csp_test::let_them_block();
                     if (close_from_receiver) {
                       ch.second.close();
                     } else {
                       ch.first.close();
                     }
                   }},
                  "close wakes a sending select");
      CHECK(index == 1);
      CHECK(calls == 1);
      CHECK_FALSE(ok);
      REQUIRE(p != nullptr);
      CHECK(p.get() == raw);
      CHECK(*p == 77);
      // Buffered values are still there, in order, and the refused one is not among them.
      for (std::size_t k = 0; k < TestType::buffered; ++k) {
        auto r = ch.second.try_recv();
        REQUIRE(r);
        CHECK(**r == static_cast<int>(k));
      }
      CHECK(ch.second.try_recv().status() == csp::status::closed);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Losing cases leave no trace.

TEST_CASE("a send case that lost leaves a move-only value with the caller", "[select][lossless]") {
  SECTION("the winner was ready at once") {
    auto full = csp::make_channel<std::unique_ptr<int>>(1);
    REQUIRE(full.first.send(std::make_unique<int>(1)));
    auto nobody = csp::make_channel<std::unique_ptr<int>>();  // rendezvous, no receiver
    auto ready = csp::make_channel<int>(csp::unbounded);
    for (int i = 0; i < 200; ++i) REQUIRE(ready.first.send(i));
    auto p = std::make_unique<int>(10);
    auto q = std::make_unique<int>(20);
    for (int i = 0; i < 200; ++i) {
      int got = -1;
      CHECK(csp::select(csp::on_send(full.first, std::move(p), [] {}),
                        csp::on_send(nobody.first, std::move(q), [] {}),
                        csp::on_recv(ready.second, [&](csp::result<int> r) { got = *r; })) == 2);
      CHECK(got == i);
      REQUIRE(p != nullptr);
      REQUIRE(q != nullptr);
    }
    CHECK(*p == 10);
    CHECK(*q == 20);
    CHECK(full.second.size() == 1);
    CHECK(**full.second.try_recv() == 1);
    CHECK(full.second.try_recv().status() == csp::status::empty);
  }

  SECTION("two ready send cases: exactly one value moves, the other stays") {
    auto a = csp::make_channel<std::unique_ptr<int>>(csp::unbounded);
    auto b = csp::make_channel<std::unique_ptr<int>>(csp::unbounded);
    int fired[2] = {0, 0};
    for (int i = 0; i < 400; ++i) {
      auto p = std::make_unique<int>(2 * i);
      auto q = std::make_unique<int>(2 * i + 1);
      const std::size_t index = csp::select(csp::on_send(a.first, std::move(p), [] {}),
                                            csp::on_send(b.first, std::move(q), [] {}));
      REQUIRE(index <= 1);
      ++fired[index];
      CHECK((p == nullptr) == (index == 0));
      CHECK((q == nullptr) == (index == 1));
      if (p) CHECK(*p == 2 * i);
      if (q) CHECK(*q == 2 * i + 1);
    }
    CHECK(fired[0] > 0);
    CHECK(fired[1] > 0);
    CHECK(a.second.size() == static_cast<std::size_t>(fired[0]));
    CHECK(b.second.size() == static_cast<std::size_t>(fired[1]));
    for (int k = 0; k < fired[0]; ++k) CHECK(**a.second.try_recv() % 2 == 0);
    for (int k = 0; k < fired[1]; ++k) CHECK(**b.second.try_recv() % 2 == 1);
  }
}

TEST_CASE("a blocked select over two sends: the partner takes one, the other stays with the "
          "caller",
          "[select][lossless]") {
  for (run_mode m : sel_test::all_modes) {
    for (int target = 0; target < 2; ++target) {
      INFO(m << ", the partner receives from case " << target);
      auto a = csp::make_channel<std::unique_ptr<int>>();
      auto b = csp::make_channel<std::unique_ptr<int>>();
      auto p = std::make_unique<int>(1);
      auto q = std::make_unique<int>(2);
      std::size_t index = 99;
      int got = 0;
      run_parties(m,
                  {[&] {
                     index = csp::select(csp::on_send(a.first, std::move(p), [] {}),
                                         csp::on_send(b.first, std::move(q), [] {}));
                   },
                   [&] {
                     csp_test::let_them_block();
                     auto r = (target == 0 ? a.second : b.second).recv();
                     CSP_EXPECT(r.has_value());
                     got = **r;
                   }},
                  "blocked select over two sends");
      CHECK(index == static_cast<std::size_t>(target));
      CHECK(got == target + 1);
      if (target == 0) {
        CHECK(p == nullptr);
        REQUIRE(q != nullptr);
        CHECK(*q == 2);
      } else {
        CHECK(q == nullptr);
        REQUIRE(p != nullptr);
        CHECK(*p == 1);
      }
      // No stale sender is left on either channel.
      CHECK(a.second.try_recv().status() == csp::status::empty);
      CHECK(b.second.try_recv().status() == csp::status::empty);
    }
  }
}

TEST_CASE("a blocked select over two receives: one value is taken, the other channel keeps its "
          "partner",
          "[select][lossless]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto a = csp::make_channel<int>();
    auto b = csp::make_channel<int>();
    std::size_t index = 99;
    int got = 0;
    std::atomic<int> b_sent{0};
    run_parties(m,
                {[&] {
                   index = csp::select(csp::on_recv(a.second, [&](csp::result<int> r) { got = *r; }),
                                       csp::on_recv(b.second, [&](csp::result<int> r) { got = *r; }));
                 },
                 [&] {
                   csp_test::let_them_block();
                   CSP_EXPECT(a.first.send(1));
                   // The select is gone: this send must wait for the plain receive below.
                   CSP_EXPECT(b.first.send(2));
                   b_sent = 1;
                 },
                 [&] {
                   csp_test::let_them_block();
                   csp_test::let_them_block();
                   auto r = b.second.recv();
                   CSP_EXPECT(r && *r == 2);
                 }},
                "blocked select over two receives");
    CHECK(index == 0);
    CHECK(got == 1);
    CHECK(b_sent == 1);
  }
}

// ---------------------------------------------------------------------------------------
// Both ends of one channel; the same channel twice.

TEST_CASE("a select holding both ends of one rendezvous channel never pairs with itself",
          "[select][self]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto ch = csp::make_channel<int>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    run_alone(m, [&] {
      for (int round = 0; round < 3; ++round) {
        const auto start = csp::clock::now();
        int calls = 0;
        const std::size_t i = csp::select(csp::on_send(tx, 1, [&] { ++calls; }),
                                          csp::on_recv(rx, [&] { ++calls; }),
                                          csp::on_timeout(20ms, [&] { ++calls; }));
        CSP_EXPECT(i == 2);
        CSP_EXPECT(calls == 1);
        CSP_EXPECT(csp::clock::now() - start >= 20ms);
        const std::size_t j = csp::select(csp::on_recv(rx, [&] { ++calls; }),
                                          csp::on_send(tx, 2, [&] { ++calls; }),
                                          csp::otherwise([&] { ++calls; }));
        CSP_EXPECT(j == 2);
        CSP_EXPECT(calls == 2);
      }
    }, "both ends of one channel");
    // Nothing of the select is left on the channel, and it works normally.
    CHECK(rx.try_recv().status() == csp::status::empty);
    CHECK(tx.try_send(5) == csp::status::full);
    int got = 0;
    run_parties(m, {[&] { CSP_EXPECT(tx.send(6)); }, [&] { got = rx.recv().value(); }},
                "channel after self-select");
    CHECK(got == 6);
  }
}

TEST_CASE("two selects each holding both ends of one rendezvous channel pair with each other",
          "[select][self]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto ch = csp::make_channel<int>();
    for (int round = 0; round < 20; ++round) {
      std::size_t index[2] = {99, 99};
      int got[2] = {-1, -1};
      bool sent_ok[2] = {false, false};
      std::vector<sel_test::party> parties;
      for (int me = 0; me < 2; ++me) {
        parties.emplace_back([&, me] {
          index[me] = csp::select(
              csp::on_send(ch.first, 100 + me, [&, me](bool ok) { sent_ok[me] = ok; }),
              csp::on_recv(ch.second, [&, me](csp::result<int> r) { got[me] = *r; }));
        });
      }
      run_parties(m, parties, "two self-selects");
      REQUIRE(index[0] <= 1);
      REQUIRE(index[1] <= 1);
      CHECK(index[0] != index[1]);  // one sent, the other received
      const int sender = index[0] == 0 ? 0 : 1;
      const int receiver = 1 - sender;
      CHECK(sent_ok[sender]);
      CHECK(got[receiver] == 100 + sender);
    }
  }
}

TEMPLATE_TEST_CASE("the same channel may appear twice: two receive cases", "[select][twice]",
                   SEL_MULTI_VALUE_FLAVORS) {
  SECTION("ready at once") {
    if constexpr (TestType::buffered >= 2) {
      auto ch = TestType::template make<int>();
      int fired[2] = {0, 0};
      for (int i = 0; i < 300; ++i) {
        REQUIRE(ch.first.send(2 * i));
        REQUIRE(ch.first.send(2 * i + 1));
        for (int k = 0; k < 2; ++k) {
          int got = -1;
          int calls = 0;
          const std::size_t index =
              csp::select(csp::on_recv(ch.second, [&](csp::result<int> r) { ++calls; got = *r; }),
                          csp::on_recv(ch.second, [&](csp::result<int> r) { ++calls; got = *r; }));
          REQUIRE(index <= 1);
          ++fired[index];
          CHECK(calls == 1);
          CHECK(got == 2 * i + k);  // FIFO
        }
        CHECK(ch.second.size() == 0);
      }
      CHECK(fired[0] > 0);
      CHECK(fired[1] > 0);
    }
  }
  SECTION("blocked, then woken by one send") {
    for (run_mode m : sel_test::all_modes) {
      INFO(TestType::name << ", " << m);
      auto ch = TestType::template make<int>();
      std::size_t index = 99;
      int calls = 0;
      int got = -1;
      int second = -1;
      run_parties(m,
                  {[&] {
                     index = csp::select(
                         csp::on_recv(ch.second, [&](csp::result<int> r) { ++calls; got = *r; }),
                         csp::on_recv(ch.second, [&](csp::result<int> r) { ++calls; got = *r; }),
                         csp::on_timeout(1h, [&] { ++calls; }));
                     // Both entries are gone: a plain receive gets the next value.
                     second = ch.second.recv().value();
                   },
                   [&] {
                     csp_test::let_them_block();
                     CSP_EXPECT(ch.first.send(1));
                     CSP_EXPECT(ch.first.send(2));
                   }},
                  "same channel twice, blocked");
      CHECK(index <= 1);
      CHECK(calls == 1);
      CHECK(got == 1);
      CHECK(second == 2);
    }
  }
}

TEST_CASE("the same buffered channel may appear twice: a receive and a send case",
          "[select][twice]") {
  SECTION("capacity 1: only the case that can proceed fires") {
    auto ch = csp::make_channel<int>(1);
    for (int i = 0; i < 50; ++i) {
      int got = -1;
      bool sent = false;
      CHECK(csp::select(csp::on_recv(ch.second, [&](csp::result<int> r) { got = *r; }),
                        csp::on_send(ch.first, i, [&](bool ok) { sent = ok; })) == 1);
      CHECK(sent);
      CHECK(ch.second.size() == 1);
      CHECK(csp::select(csp::on_recv(ch.second, [&](csp::result<int> r) { got = *r; }),
                        csp::on_send(ch.first, -i, [&](bool ok) { sent = ok; })) == 0);
      CHECK(got == i);
      CHECK(ch.second.size() == 0);
    }
  }
  SECTION("room both ways: either may fire, and the channel stays consistent") {
    auto ch = csp::make_channel<int>(4);
    REQUIRE(ch.first.send(0));
    REQUIRE(ch.first.send(1));
    int fired[2] = {0, 0};
    int next_in = 2;
    int next_out = 0;
    for (int i = 0; i < 400; ++i) {
      int got = -1;
      const int v = next_in;
      const std::size_t index =
          csp::select(csp::on_recv(ch.second, [&](csp::result<int> r) { got = *r; }),
                      csp::on_send(ch.first, v, [] {}));
      REQUIRE(index <= 1);
      ++fired[index];
      if (index == 0) {
        CHECK(got == next_out);
        ++next_out;
        REQUIRE(ch.first.send(next_in++));  // back to two buffered values
      } else {
        ++next_in;
        CHECK(ch.second.recv().value() == next_out++);
      }
      CHECK(ch.second.size() == 2);
    }
    CHECK(fired[0] > 0);
    CHECK(fired[1] > 0);
  }
  SECTION("unbounded: both always ready") {
    auto ch = csp::make_channel<int>(csp::unbounded);
    REQUIRE(ch.first.send(-1));  // one value buffered before every select
    int fired[2] = {0, 0};
    for (int i = 0; i < 400; ++i) {
      const std::size_t index =
          csp::select(csp::on_recv(ch.second, [] {}), csp::on_send(ch.first, i, [] {}));
      REQUIRE(index <= 1);
      ++fired[index];
      if (index == 0) {
        CHECK(ch.second.size() == 0);
        REQUIRE(ch.first.send(i));
      } else {
        CHECK(ch.second.size() == 2);
        REQUIRE(ch.second.try_recv());
      }
    }
    CHECK(fired[0] > 0);
    CHECK(fired[1] > 0);
  }
}

// ---------------------------------------------------------------------------------------
// Default, timeout, never and empty handles.

TEST_CASE("otherwise never blocks and fires only when no channel case is ready",
          "[select][default]") {
  auto empty = csp::make_channel<int>(3);
  auto full = csp::make_channel<int>(1);
  REQUIRE(full.first.send(8));
  auto rendezvous = csp::make_channel<int>();
  auto nev = csp::never<int>();
  for (int i = 0; i < 100; ++i) {
    int calls = 0;
    CHECK(csp::select(csp::on_recv(empty.second, [&] { ++calls; }),
                      csp::on_send(full.first, 9, [&] { ++calls; }),
                      csp::on_send(rendezvous.first, 10, [&] { ++calls; }),
                      csp::on_recv(rendezvous.second, [&] { ++calls; }),
                      csp::on_recv(nev, [&] { ++calls; }), csp::otherwise([&] { ++calls; }),
                      csp::on_timeout(1h, [&] { ++calls; })) == 5);
    CHECK(calls == 1);
  }
  CHECK(empty.second.size() == 0);
  CHECK(full.second.size() == 1);
  CHECK(*full.second.try_recv() == 8);
  CHECK(rendezvous.second.try_recv().status() == csp::status::empty);

  // A ready case always beats the default.
  REQUIRE(empty.first.send(1));
  REQUIRE(empty.first.send(2));
  REQUIRE(empty.first.send(3));
  for (int i = 1; i <= 3; ++i) {
    int got = 0;
    CHECK(csp::select(csp::otherwise([] {}),
                      csp::on_recv(empty.second, [&](csp::result<int> r) { got = *r; })) == 1);
    CHECK(got == i);
  }
}

TEST_CASE("otherwise takes a partner that is already blocked on a rendezvous channel",
          "[select][default]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto ch = csp::make_channel<int>();
    int got = 0;
    int defaults = 0;
    run_parties(m,
                {[&] { CSP_EXPECT(ch.first.send(31)); },
                 [&] {
                   for (;;) {
                     const std::size_t i = csp::select(
                         csp::on_recv(ch.second, [&](csp::result<int> r) { got = *r; }),
                         csp::otherwise([&] { ++defaults; }));
                     if (i == 0) break;
                     csp::this_fiber::sleep_for(100us);  // let the sender get there
                   }
                 }},
                "otherwise meets a blocked sender");
    CHECK(got == 31);
  }
}

TEST_CASE("a timeout fires no earlier than its deadline and leaves every channel untouched",
          "[select][timeout]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto full = csp::make_channel<int>(3);
    for (int i = 1; i <= 3; ++i) REQUIRE(full.first.send(i));
    auto empty = csp::make_channel<int>(csp::unbounded);
    auto rendezvous = csp::make_channel<std::unique_ptr<int>>();
    auto p = std::make_unique<int>(4);
    run_alone(m, [&] {
      for (auto timeout : {0ms, 1ms, 15ms, 40ms}) {
        const auto start = csp::clock::now();
        int calls = 0;
        const std::size_t i =
            csp::select(csp::on_send(full.first, 4, [&] { ++calls; }),
                        csp::on_recv(empty.second, [&] { ++calls; }),
                        csp::on_send(rendezvous.first, std::move(p), [&] { ++calls; }),
                        csp::on_recv(rendezvous.second, [&] { ++calls; }),
                        csp::on_timeout(timeout, [&] { ++calls; }));
        const auto elapsed = csp::clock::now() - start;
        CSP_EXPECT(i == 4);
        CSP_EXPECT(calls == 1);
        CSP_EXPECT(elapsed >= timeout);
        CSP_EXPECT(p != nullptr);
      }
    }, "timeout");
    REQUIRE(p != nullptr);
    CHECK(*p == 4);
    CHECK(full.second.size() == 3);
    for (int i = 1; i <= 3; ++i) CHECK(full.second.try_recv().value() == i);
    CHECK(full.second.try_recv().status() == csp::status::empty);
    CHECK(empty.second.size() == 0);
    REQUIRE(empty.first.send(10));
    REQUIRE(empty.first.send(11));
    CHECK(empty.second.try_recv().value() == 10);
    CHECK(empty.second.try_recv().value() == 11);
    CHECK(rendezvous.second.try_recv().status() == csp::status::empty);
    CHECK(rendezvous.first.try_send(std::make_unique<int>(0)) == csp::status::full);
    int got = 0;
    run_parties(m,
                {[&] { CSP_EXPECT(rendezvous.first.send(std::make_unique<int>(12))); },
                 [&] { got = *rendezvous.second.recv().value(); }},
                "rendezvous after timeout");
    CHECK(got == 12);
  }
}

TEST_CASE("on_deadline takes a steady or a system clock time point; the earliest deadline wins",
          "[select][timeout]") {
  auto ch = csp::make_channel<int>();
  {
    const auto start = csp::clock::now();
    CHECK(csp::select(csp::on_recv(ch.second, [] {}),
                      csp::on_deadline(start + 30ms, [] {})) == 1);
    CHECK(csp::clock::now() - start >= 30ms);
  }
  {
    const auto start = csp::clock::now();
    const auto sys_start = std::chrono::system_clock::now();
    CHECK(csp::select(csp::on_deadline(sys_start + 25ms, [] {}),
                      csp::on_recv(ch.second, [] {})) == 0);
    // The system clock may be adjusted; the steady time elapsed is what csp promises to
    // approximate, and a system deadline is converted once, at the call.
    CHECK(csp::clock::now() - start >= 20ms);
  }
  {
    const auto start = csp::clock::now();
    int which = -1;
    CHECK(csp::select(csp::on_timeout(1h, [&] { which = 0; }),
                      csp::on_recv(ch.second, [&] { which = 1; }),
                      csp::on_timeout(20ms, [&] { which = 2; }),
                      csp::on_deadline(start + 10min, [&] { which = 3; })) == 2);
    CHECK(which == 2);
    CHECK(csp::clock::now() - start >= 20ms);
  }
  {
    // A deadline in the past: times out at once unless a channel case is ready.
    CHECK(csp::select(csp::on_recv(ch.second, [] {}),
                      csp::on_deadline(csp::clock::now() - 1s, [] {})) == 1);
    CHECK(csp::select(csp::on_timeout(-5s, [] {}), csp::on_recv(ch.second, [] {})) == 0);
  }
}

TEST_CASE("a timeout racing a partner: either the transfer happened or nothing did",
          "[select][timeout]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    auto ch = csp::make_channel<int>();
    const int rounds = 150;
    std::vector<int> got_by_select(rounds, -1);
    std::vector<csp::status> send_status(rounds, csp::status::empty);
    run_parties(m,
                {[&] {
                   for (int i = 0; i < rounds; ++i) {
                     csp::select(
                         csp::on_recv(ch.second, [&](csp::result<int> r) { got_by_select[static_cast<std::size_t>(i)] = *r; }),
                         csp::on_timeout(std::chrono::microseconds(200 + 37 * (i % 11)), [] {}));
                   }
                 },
                 [&] {
                   for (int i = 0; i < rounds; ++i) {
                     send_status[static_cast<std::size_t>(i)] =
                         ch.first.send_for(i, std::chrono::microseconds(150 + 53 * (i % 7)));
                   }
                 }},
                "timeout racing a partner");
    // Every value the sender saw delivered was received by a select exactly once, and no
    // value that timed out was received.
    std::vector<int> received(rounds, 0);
    for (int v : got_by_select) {
      if (v >= 0) ++received[static_cast<std::size_t>(v)];
    }
    for (int i = 0; i < rounds; ++i) {
      INFO("value " << i);
      const auto s = send_status[static_cast<std::size_t>(i)];
      REQUIRE((s == csp::status::ok || s == csp::status::timeout));
      CHECK(received[static_cast<std::size_t>(i)] == (s == csp::status::ok ? 1 : 0));
    }
    CHECK(ch.second.try_recv().status() == csp::status::empty);
  }
}

TEST_CASE("never<T>() with a timeout times out; never is never ready", "[select][never]") {
  for (run_mode m : sel_test::all_modes) {
    INFO(m);
    run_alone(m, [&] {
      auto a = csp::never<int>();
      auto b = csp::never<std::string>();
      const auto start = csp::clock::now();
      int calls = 0;
      CSP_EXPECT(csp::select(csp::on_recv(a, [&] { ++calls; }),
                            csp::on_recv(b, [&] { ++calls; }),
                            csp::on_recv(csp::never<double>(), [&] { ++calls; }),
                            csp::on_timeout(25ms, [&] { ++calls; })) == 3);
      CSP_EXPECT(calls == 1);
      CSP_EXPECT(csp::clock::now() - start >= 25ms);
      CSP_EXPECT(csp::select(csp::on_recv(a, [] {}), csp::otherwise([] {})) == 1);
      // Closing a never channel is allowed, and then its case is ready (closed).
      a.close();
      csp::status st = csp::status::ok;
      CSP_EXPECT(csp::select(csp::on_recv(a, [&](csp::result<int> r) { st = r.status(); }),
                            csp::on_recv(b, [] {})) == 0);
      CSP_EXPECT(st == csp::status::closed);
    }, "never with a timeout");
  }
}

TEST_CASE("empty handles: never ready in a select; only empty handles and nothing else throws",
          "[select][empty]") {
  csp::receiver<int> no_rx;
  csp::sender<int> no_tx;
  csp::receiver<std::string> no_srx;
  SECTION("no timeout and no default: csp::invalid_argument") {
    CHECK_THROWS_AS(csp::select(csp::on_recv(no_rx, [] {})), csp::invalid_argument);
    CHECK_THROWS_AS(csp::select(csp::on_recv(no_rx, [] {}), csp::on_send(no_tx, 1, [] {}),
                                csp::on_recv(no_srx, [] {})),
                    csp::invalid_argument);
    auto ch = csp::make_channel<int>(1);
    auto moved_rx = std::move(ch.second);  // ch.second is now empty
    auto moved_tx = std::move(ch.first);
    int calls = 0;
    CHECK_THROWS_AS(csp::select(csp::on_recv(ch.second, [&] { ++calls; }),
                                csp::on_send(ch.first, 3, [&] { ++calls; })),
                    csp::invalid_argument);
    CHECK(calls == 0);
    CHECK(moved_rx.size() == 0);
  }
  SECTION("with a timeout: times out") {
    const auto start = csp::clock::now();
    CHECK(csp::select(csp::on_recv(no_rx, [] {}), csp::on_send(no_tx, 1, [] {}),
                      csp::on_timeout(15ms, [] {})) == 2);
    CHECK(csp::clock::now() - start >= 15ms);
  }
  SECTION("with a default: defaults") {
    CHECK(csp::select(csp::on_recv(no_rx, [] {}), csp::otherwise([] {}),
                      csp::on_send(no_tx, 1, [] {})) == 1);
  }
  SECTION("beside a ready channel: the channel always fires") {
    auto ch = csp::make_channel<int>(csp::unbounded);
    for (int i = 0; i < 200; ++i) REQUIRE(ch.first.send(i));
    for (int i = 0; i < 200; ++i) {
      int got = -1;
      CHECK(csp::select(csp::on_recv(no_rx, [] {}), csp::on_send(no_tx, 1, [] {}),
                        csp::on_recv(ch.second, [&](csp::result<int> r) { got = *r; }),
                        csp::on_recv(no_srx, [] {})) == 2);
      CHECK(got == i);
    }
  }
  SECTION("beside a channel that becomes ready later: the select waits for it") {
    for (run_mode m : sel_test::all_modes) {
      INFO(m);
      auto ch = csp::make_channel<int>();
      std::size_t index = 99;
      run_parties(m,
                  {[&] {
                     index = csp::select(csp::on_recv(no_rx, [] {}),
                                         csp::on_send(no_tx, 1, [] {}),
                                         csp::on_recv(ch.second, [] {}));
                   },
                   [&] {
                     csp_test::let_them_block();
                     CSP_EXPECT(ch.first.send(1));
                   }},
                  "empty handles beside a channel");
      CHECK(index == 2);
    }
  }
  SECTION("a plain operation on an empty handle throws csp::empty_handle") {
    CHECK_THROWS_AS(no_rx.try_recv(), csp::empty_handle);
    CHECK_THROWS_AS(no_tx.try_send(1), csp::empty_handle);
  }
}

// ---------------------------------------------------------------------------------------
// Exceptions.

TEST_CASE("a throwing handler propagates out of select; the channels stay usable",
          "[select][exceptions]") {
  SECTION("the case was ready at once") {
    auto a = csp::make_channel<int>(2);
    auto b = csp::make_channel<int>(2);
    REQUIRE(a.first.send(1));
    CHECK_THROWS_AS(csp::select(csp::on_recv(a.second, [](csp::result<int>) { throw boom(); }),
                                csp::on_recv(b.second, [] {})),
                    boom);
    CHECK(a.second.size() == 0);  // the operation happened before the handler ran
    CHECK_THROWS_AS(csp::select(csp::on_send(b.first, 5, [](bool) { throw boom(); })), boom);
    CHECK(b.second.size() == 1);
    CHECK_THROWS_AS(csp::select(csp::on_recv(a.second, [] {}), csp::otherwise([] { throw boom(); })),
                    boom);
    CHECK_THROWS_AS(csp::select(csp::on_recv(a.second, [] {}), csp::on_timeout(1ms, [] { throw boom(); })),
                    boom);
    REQUIRE(a.first.send(2));
    CHECK(a.second.recv().value() == 2);
    CHECK(b.second.recv().value() == 5);
  }
  SECTION("the select was blocked, then woken") {
    for (run_mode m : sel_test::all_modes) {
      INFO(m);
      auto a = csp::make_channel<int>();
      auto b = csp::make_channel<int>();
      bool caught = false;
      int later = 0;
      run_parties(m,
                  {[&] {
                     try {
                       csp::select(csp::on_recv(a.second, [](csp::result<int>) { throw boom(); }),
                                   csp::on_recv(b.second, [] {}));
                     } catch (const boom&) {
                       caught = true;
                     }
                     later = b.second.recv().value();  // b's select entry must be gone
                   },
                   [&] {
                     csp_test::let_them_block();
                     CSP_EXPECT(a.first.send(1));
                     CSP_EXPECT(b.first.send(2));
                   }},
                  "throwing handler after a wake-up");
      CHECK(caught);
      CHECK(later == 2);
    }
  }
}

TEST_CASE("a throwing move in a send case leaves the value with the caller and the channel "
          "usable",
          "[select][exceptions]") {
  SECTION("the select's own move throws") {
    auto ch = csp::make_channel<fragile>(1);
    fragile v(5);
    v.arm();
    CHECK_THROWS_AS(csp::select(csp::on_send(ch.first, std::move(v), [] {})), std::runtime_error);
    CHECK(v.value() == 5);
    CHECK(ch.second.size() == 0);
    bool ok = false;
    CHECK(csp::select(csp::on_send(ch.first, std::move(v), [&](bool sent) { ok = sent; })) == 0);
    CHECK(ok);
    CHECK(v.value() == -1);
    auto r = ch.second.recv();
    REQUIRE(r.has_value());
    CHECK(r->value() == 5);
  }
  // Whichever side comes second performs the move, so the move throws either in the
  // partner (the select was parked first) or in the select (the partner was): exactly one of
  // them sees the exception, retries, and then the transfer happens once.
  SECTION("a receiving partner's move from the select's value throws") {
    for (run_mode m : sel_test::all_modes) {
      INFO(m);
      auto ch = csp::make_channel<fragile>();
      auto idle = csp::make_channel<int>();
      fragile v(8);
      v.arm();
      std::size_t index = 99;
      bool ok = false;
      int select_caught = 0;
      int partner_caught = 0;
      int got = 0;
      run_parties(m,
                  {[&] {
                     for (;;) {
                       try {
                         index = csp::select(csp::on_recv(idle.second, [] {}),
                                             csp::on_send(ch.first, std::move(v),
                                                          [&](bool sent) { ok = sent; }));
                         break;
                       } catch (const std::runtime_error&) {
                         ++select_caught;
                         CSP_EXPECT(v.value() == 8);
                       }
                     }
                   },
                   [&] {
                     csp_test::let_them_block();
                     for (;;) {
                       try {
                         auto r = ch.second.recv();
                         got = r ? r->value() : -2;
                         break;
                       } catch (const std::runtime_error&) {
                         ++partner_caught;
                       }
                     }
                   }},
                  "a move from the select's value throws");
      CHECK(select_caught + partner_caught == 1);
      CHECK(index == 1);
      CHECK(ok);
      CHECK(got == 8);
      CHECK(v.value() == -1);
      CHECK(ch.second.try_recv().status() == csp::status::empty);
    }
  }
  SECTION("a sending partner's move into the select throws") {
    for (run_mode m : sel_test::all_modes) {
      INFO(m);
      auto ch = csp::make_channel<fragile>();
      auto idle = csp::make_channel<int>();
      std::size_t index = 99;
      int got = 0;
      int select_caught = 0;
      int partner_caught = 0;
      bool sent = false;
      run_parties(m,
                  {[&] {
                     for (;;) {
                       try {
                         index = csp::select(
                             csp::on_recv(idle.second, [] {}),
                             csp::on_recv(ch.second,
                                          [&](csp::result<fragile> r) { got = r ? r->value() : -2; }));
                         break;
                       } catch (const std::runtime_error&) {
                         ++select_caught;
                       }
                     }
                   },
                   [&] {
                     csp_test::let_them_block();
                     fragile w(9);
                     w.arm();
                     for (;;) {
                       try {
                         sent = ch.first.send(std::move(w));
                         break;
                       } catch (const std::runtime_error&) {
                         ++partner_caught;
                         CSP_EXPECT(w.value() == 9);
                       }
                     }
                     CSP_EXPECT(w.value() == -1);
                   }},
                  "a move into the select throws");
      CHECK(select_caught + partner_caught == 1);
      CHECK(sent);
      CHECK(index == 1);
      CHECK(got == 9);
      CHECK(ch.second.try_recv().status() == csp::status::empty);
    }
  }
}
