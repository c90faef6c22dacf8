// The channel contract, part 1: what each operation does, in every flavor, performed from
// every way of running (a fiber of the test thread, a fiber of another thread, a plain
// thread). Tests that need a partner run two processes in every mode, mixed included.
// Flavor-specific differences live in flavor_specific.cpp, races and stress in
// concurrency.cpp.

#include "contract.hpp"  // first: see the note at its top

#include <chrono>
#include <memory>
#include <utility>
#include <vector>


using namespace std::chrono_literals;
using csp::status;
using csp_test::counted;
using csp_test::move_only;
using csp_test::run_mode;

// ---------------------------------------------------------------- a fresh channel

TEMPLATE_TEST_CASE("contract: a new channel is open, empty and reports its capacity",
                   "[contract]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<int>();
    REQUIRE(static_cast<bool>(tx));
    REQUIRE(static_cast<bool>(rx));
    REQUIRE(tx.capacity() == F::capacity);
    REQUIRE(rx.capacity() == F::capacity);
    REQUIRE(tx.size() == 0u);
    REQUIRE(rx.size() == 0u);
    REQUIRE_FALSE(tx.is_closed());
    REQUIRE_FALSE(rx.is_closed());
    REQUIRE(rx.try_recv().status() == status::empty);
  }, csp_test::current_test());
}

// ---------------------------------------------------------------- without a partner

TEMPLATE_TEST_CASE(
    "contract: without a partner, sends fill exactly the buffer and receives drain it in "
    "order",
    "[contract]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<move_only>();
    // Every kind of send succeeds at once while there is room (never on a rendezvous).
    const std::size_t n = csp_test::fillable<F>(50);
    for (std::size_t i = 0; i < n; ++i) {
      const int id = static_cast<int>(i);
      switch (i % 4) {
        case 0: REQUIRE(tx.try_send(move_only(id)) == status::ok); break;
        case 1: REQUIRE(tx.send(move_only(id))); break;
        case 2: REQUIRE(tx.send_for(move_only(id), 1h) == status::ok); break;
        default: REQUIRE(tx.send_until(move_only(id), csp::clock::now() + 1h) == status::ok);
      }
      REQUIRE(rx.size() == i + 1);
      REQUIRE(tx.size() == i + 1);
    }
    if constexpr (F::buffered != csp_test::unlimited) {
      // The buffer is full (a oneshot is closed by its one send): nothing more goes in.
      move_only extra(1000);
      REQUIRE(tx.try_send(std::move(extra)) == F::after_buffered);
      REQUIRE(extra.id() == 1000);
      const auto t0 = csp::clock::now();
      const status s = tx.send_for(std::move(extra), 10ms);
      if constexpr (F::is_oneshot) {
        REQUIRE(s == status::closed);
      } else {
        REQUIRE(s == status::timeout);
        REQUIRE(csp_test::elapsed_since(t0) >= 10ms);
      }
      REQUIRE(extra.id() == 1000);
      REQUIRE(rx.size() == n);
    }
    REQUIRE(tx.is_closed() == F::is_oneshot);
    // Every kind of receive takes the oldest value at once.
    for (std::size_t i = 0; i < n; ++i) {
      csp::result<move_only> r(status::empty);
      switch (i % 4) {
        case 0: r = rx.try_recv(); break;
        case 1: r = rx.recv(); break;
        case 2: r = rx.recv_for(1h); break;
        default: r = rx.recv_until(csp::clock::now() + 1h);
      }
      REQUIRE(r.status() == status::ok);
      REQUIRE(r->id() == static_cast<int>(i));
      REQUIRE(rx.size() == n - i - 1);
    }
    REQUIRE(rx.try_recv().status() == (F::is_oneshot ? status::closed : status::empty));
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- with a partner: FIFO

TEMPLATE_TEST_CASE("contract: one producer's values arrive exactly once and in order",
                   "[contract]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  const std::size_t n = csp_test::streamable<F>(300 * csp_test::stress_scale());
  std::vector<int> got;
  status after = status::ok;
  {
    auto ch = F::template make<move_only>();  // move-only, not default-constructible
    auto& tx = ch.first;
    auto& rx = ch.second;
    csp_test::run_processes(mode, 2, [&](std::size_t who) {
      if (who == 0) {
        const csp::sender<move_only>& ctx = tx;  // a const handle still sends
        for (std::size_t i = 0; i < n; ++i) {
          const int id = static_cast<int>(i);
          switch (i % 3) {
            case 0: CSP_EXPECT(ctx.send(move_only(id))); break;
            case 1: CSP_EXPECT(ctx.send_for(move_only(id), 1h) == status::ok); break;
            default:
              CSP_EXPECT(ctx.send_until(move_only(id), csp::clock::now() + 1h) == status::ok);
          }
        }
        tx.close();
      } else {
        while (auto v = rx.recv()) got.push_back(v->id());
        after = rx.recv().status();
      }
    }, {}, csp_test::current_test());
  }
  REQUIRE(got == csp_test::iota_ids(n));
  REQUIRE(after == status::closed);
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE("contract: range-for receives every value until closed and drained",
                   "[contract]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  const bool break_early = GENERATE(false, true);
  CAPTURE(mode, break_early);
  csp_test::reset_counts();
  const std::size_t n = csp_test::streamable<F>(40);
  std::vector<int> got;
  {
    auto ch = F::template make<counted>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    csp_test::run_processes(mode, 2, [&](std::size_t who) {
      if (who == 0) {
        for (std::size_t i = 0; i < n; ++i) CSP_EXPECT(tx.send(counted(static_cast<int>(i))));
        tx.close();
        return;
      }
      const csp::receiver<counted>& crx = rx;  // a const handle still receives
      for (counted& v : crx) {
        CSP_EXPECT(v.alive());
        got.push_back(v.id());
        // Leaving the loop early consumes nothing more: the rest stays in the channel.
        if (break_early && got.size() == (n + 1) / 2) break;
      }
      if (break_early) {
        for (counted& v : rx) got.push_back(v.id());
      }
      CSP_EXPECT(rx.try_recv().status() == status::closed);
    }, {}, csp_test::current_test());
  }
  REQUIRE(got == csp_test::iota_ids(n));
  csp_test::require_no_leaks();  // the iterator destroys each value once
}

// ---------------------------------------------------------------- closed channels

TEMPLATE_TEST_CASE(
    "contract: a send on a closed channel fails at once and the value stays with the caller",
    "[contract]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  const bool close_sender_end = GENERATE(true, false);
  CAPTURE(mode, close_sender_end);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [close_sender_end] {
    auto [tx, rx] = F::template make<std::unique_ptr<int>>();
    if (close_sender_end) {
      tx.close();
    } else {
      rx.close();
    }
    REQUIRE(tx.is_closed());
    REQUIRE(rx.is_closed());

    auto p = std::make_unique<int>(42);
    int* const raw = p.get();
    REQUIRE_FALSE(tx.send(std::move(p)));
    REQUIRE(p.get() == raw);
    REQUIRE(tx.try_send(std::move(p)) == status::closed);
    REQUIRE(p.get() == raw);
    REQUIRE(tx.send_for(std::move(p), 1h) == status::closed);
    REQUIRE(p.get() == raw);
    REQUIRE(tx.send_until(std::move(p), csp::clock::now() + 1h) == status::closed);
    REQUIRE(p.get() == raw);
    REQUIRE(tx.send_until(std::move(p), std::chrono::system_clock::now() + 1h) ==
            status::closed);
    REQUIRE(p.get() == raw);
    REQUIRE(*p == 42);
    REQUIRE(rx.size() == 0u);
  }, csp_test::current_test());

  // A copied (lvalue) value is untouched too, and the copy made for the attempt is freed.
  csp_test::run_alone(mode, [close_sender_end] {
    auto [tx, rx] = F::template make<counted>();
    (close_sender_end ? tx.close() : rx.close());
    const counted c(7, 70);
    REQUIRE_FALSE(tx.send(c));
    REQUIRE(tx.try_send(c) == status::closed);
    REQUIRE(c.id() == 7);
    REQUIRE(c.aux() == 70);
    REQUIRE(csp_test::counts().live.load() == 1);
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE("contract: close is idempotent from either end", "[contract]",
                   CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<int>();
    auto tx2 = tx;
    auto rx2 = rx;
    tx.close();
    REQUIRE(rx.is_closed());
    REQUIRE(tx2.is_closed());
    REQUIRE(rx2.is_closed());
    REQUIRE_NOTHROW(rx.close());
    REQUIRE_NOTHROW(tx.close());
    REQUIRE_NOTHROW(tx2.close());
    REQUIRE_NOTHROW(rx2.close());
    REQUIRE(tx.is_closed());
    REQUIRE(rx.recv().status() == status::closed);
    REQUIRE(tx.try_send(1) == status::closed);
  }, csp_test::current_test());
}

TEMPLATE_TEST_CASE(
    "contract: a receive on a closed channel drains the buffer, then reports closed without "
    "blocking",
    "[contract]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  const bool close_sender_end = GENERATE(true, false);
  CAPTURE(mode, close_sender_end);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [close_sender_end] {
    auto [tx, rx] = F::template make<move_only>();
    const std::size_t k = csp_test::fillable<F>(5);
    for (std::size_t i = 0; i < k; ++i) {
      REQUIRE(tx.try_send(move_only(static_cast<int>(i))) == status::ok);
    }
    (close_sender_end ? tx.close() : rx.close());
    REQUIRE(rx.is_closed());
    REQUIRE(rx.size() == k);  // closing discards nothing
    for (std::size_t i = 0; i < k; ++i) {
      csp::result<move_only> r(status::empty);
      switch (i % 4) {
        case 0: r = rx.recv(); break;
        case 1: r = rx.try_recv(); break;
        case 2: r = rx.recv_for(1h); break;
        default: r = rx.recv_until(csp::clock::now() + 1h);
      }
      REQUIRE(r.status() == status::ok);
      REQUIRE(r->id() == static_cast<int>(i));
    }
    // Drained: every receive reports closed at once (a block would trip the watchdog).
    REQUIRE(rx.recv().status() == status::closed);
    REQUIRE(rx.try_recv().status() == status::closed);
    REQUIRE(rx.recv_for(1h).status() == status::closed);
    REQUIRE(rx.recv_until(csp::clock::now() + 1h).status() == status::closed);
    REQUIRE(rx.recv_until(std::chrono::system_clock::now() + 1h).status() == status::closed);
    int iterations = 0;
    for (move_only& v : rx) {
      (void)v;
      ++iterations;
    }
    REQUIRE(iterations == 0);
    REQUIRE(rx.recv().status() == status::closed);  // and stays so
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- timeouts

TEMPLATE_TEST_CASE(
    "contract: a send that times out leaves the channel and the value exactly as they were",
    "[contract][timeout]", CSP_TEST_BLOCKING_SEND_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<std::unique_ptr<int>>();
    const std::size_t n = F::buffered;
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(tx.try_send(std::make_unique<int>(static_cast<int>(i))) == status::ok);
    }
    auto p = std::make_unique<int>(100);
    int* const raw = p.get();

    REQUIRE(tx.try_send(std::move(p)) == status::full);
    REQUIRE(p.get() == raw);

    auto t0 = csp::clock::now();
    REQUIRE(tx.send_for(std::move(p), 20ms) == status::timeout);
    REQUIRE(csp_test::elapsed_since(t0) >= 20ms);  // never early
    REQUIRE(p.get() == raw);
    REQUIRE(rx.size() == n);

    const auto deadline = csp::clock::now() + 20ms;
    REQUIRE(tx.send_until(std::move(p), deadline) == status::timeout);
    REQUIRE(csp::clock::now() >= deadline);
    REQUIRE(p.get() == raw);

    // A system_clock deadline is converted to the steady clock once; the two clocks may
    // drift apart by a slew of a few microseconds meanwhile, hence the 1 ms allowance.
    t0 = csp::clock::now();  // before the system-clock deadline is taken
    REQUIRE(tx.send_until(std::move(p), std::chrono::system_clock::now() + 20ms) ==
            status::timeout);
    REQUIRE(csp_test::elapsed_since(t0) >= 19ms);
    REQUIRE(p.get() == raw);

    // A deadline already past, or no time at all, is a try: it times out without waiting.
    REQUIRE(tx.send_for(std::move(p), 0ms) == status::timeout);
    REQUIRE(tx.send_for(std::move(p), -5ms) == status::timeout);
    REQUIRE(tx.send_until(std::move(p), csp::clock::now() - 1s) == status::timeout);
    REQUIRE(p.get() == raw);
    REQUIRE(*p == 100);
    REQUIRE(rx.size() == n);
    REQUIRE_FALSE(tx.is_closed());

    // The buffered values are untouched and in order; nothing of p got in.
    for (std::size_t i = 0; i < n; ++i) {
      auto r = rx.try_recv();
      REQUIRE(r.status() == status::ok);
      REQUIRE(**r == static_cast<int>(i));
    }
    REQUIRE(rx.try_recv().status() == status::empty);
  }, csp_test::current_test());

  // And the channel still carries values, in order.
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<move_only>();
    REQUIRE(tx.send_for(move_only(-7), 1ms) == (F::buffered > 0 ? status::ok : status::timeout));
    if constexpr (F::buffered > 0) {
      auto r = rx.try_recv();
      REQUIRE(r.status() == status::ok);
      REQUIRE(r->id() == -7);
    }
    REQUIRE(csp_test::roundtrip(tx, rx, 0, 20) == csp_test::iota_ids(20));
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE(
    "contract: a receive that times out leaves the channel exactly as it was",
    "[contract][timeout]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<move_only>();

    auto t0 = csp::clock::now();
    auto r = rx.recv_for(20ms);
    REQUIRE(r.status() == status::timeout);
    REQUIRE_FALSE(r);
    REQUIRE(csp_test::elapsed_since(t0) >= 20ms);  // never early

    const auto deadline = csp::clock::now() + 20ms;
    REQUIRE(rx.recv_until(deadline).status() == status::timeout);
    REQUIRE(csp::clock::now() >= deadline);

    t0 = csp::clock::now();  // system_clock: see the send test for the 1 ms allowance
    REQUIRE(rx.recv_until(std::chrono::system_clock::now() + 20ms).status() ==
            status::timeout);
    REQUIRE(csp_test::elapsed_since(t0) >= 19ms);

    REQUIRE(rx.recv_for(0ms).status() == status::timeout);
    REQUIRE(rx.recv_for(-5ms).status() == status::timeout);
    REQUIRE(rx.recv_until(csp::clock::now() - 1s).status() == status::timeout);
    REQUIRE_FALSE(rx.is_closed());
    REQUIRE(rx.size() == 0u);

    // Values sent afterwards all arrive, in order: the timed-out receives took nothing and
    // left no trace (no stale waiter swallowing a value).
    const std::size_t k = csp_test::fillable<F>(3);
    for (std::size_t i = 0; i < k; ++i) {
      REQUIRE(tx.try_send(move_only(static_cast<int>(i))) == status::ok);
    }
    for (std::size_t i = 0; i < k; ++i) {
      auto v = rx.recv_for(20ms);  // a value is ready: no waiting
      REQUIRE(v.status() == status::ok);
      REQUIRE(v->id() == static_cast<int>(i));
    }
    if constexpr (!F::is_oneshot) {
      REQUIRE(csp_test::roundtrip(tx, rx, 10, 20) == csp_test::iota_ids(20, 10));
    }
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- disconnection

TEMPLATE_TEST_CASE(
    "contract: destroying the last sender closes the channel; receivers drain, then closed",
    "[contract][disconnect]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<counted>();
    // Sending nothing to a oneshot: its one send would close it by itself.
    const std::size_t k = F::is_oneshot ? 0 : csp_test::fillable<F>(3);
    for (std::size_t i = 0; i < k; ++i) {
      REQUIRE(tx.try_send(counted(static_cast<int>(i))) == status::ok);
    }
    {
      auto tx2 = tx;  // copies are handles to the same channel
      REQUIRE(tx2 == tx);
      csp::sender<counted> tx3;
      tx3 = tx2;
      REQUIRE(tx3 == tx);
      auto [other_tx, other_rx] = F::template make<counted>();
      tx3 = other_tx;  // re-pointing a copy drops its hold on the first channel
      REQUIRE_FALSE(tx3 == tx);
    }
    REQUIRE_FALSE(rx.is_closed());  // copies died, the original lives
    auto moved = std::move(tx);
    REQUIRE_FALSE(static_cast<bool>(tx));  // NOLINT(bugprone-use-after-move): checked on purpose
    REQUIRE_FALSE(rx.is_closed());  // moving hands the hold over, it does not drop it
    { auto last = std::move(moved); }
    REQUIRE(rx.is_closed());
    REQUIRE(rx.size() == k);
    for (std::size_t i = 0; i < k; ++i) {
      auto r = rx.recv();
      REQUIRE(r.status() == status::ok);
      REQUIRE(r->id() == static_cast<int>(i));
    }
    REQUIRE(rx.recv().status() == status::closed);
    REQUIRE(rx.try_recv().status() == status::closed);
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE(
    "contract: destroying the last receiver closes the channel and destroys buffered values",
    "[contract][disconnect]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<counted>();
    const std::size_t k = csp_test::fillable<F>(1000);  // unbounded: many blocks of storage
    for (std::size_t i = 0; i < k; ++i) {
      REQUIRE(tx.try_send(counted(static_cast<int>(i))) == status::ok);
    }
    REQUIRE(csp_test::counts().live.load() == static_cast<long>(k));  // only the buffered ones
    { auto rx2 = rx; }
    REQUIRE(tx.is_closed() == F::is_oneshot);  // a copy's death closes nothing
    REQUIRE(csp_test::counts().live.load() == static_cast<long>(k));
    { auto last = std::move(rx); }
    REQUIRE(tx.is_closed());
    // The sender still holds the channel, yet the buffered values are gone, each once.
    REQUIRE(csp_test::counts().live.load() == 0);
    REQUIRE(csp_test::counts().bad_destroys.load() == 0);
    REQUIRE(tx.size() == 0u);

    counted c(99);
    REQUIRE_FALSE(tx.send(std::move(c)));
    REQUIRE(c.id() == 99);
    REQUIRE(tx.try_send(std::move(c)) == status::closed);
    REQUIRE(tx.send_for(std::move(c), 1h) == status::closed);
    REQUIRE(c.id() == 99);
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- empty handles

TEMPLATE_TEST_CASE(
    "contract: operations on an empty handle throw csp::empty_handle",
    "[contract][empty]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  using T = std::unique_ptr<int>;
  auto [live_tx, live_rx] = F::template make<T>();
  csp::sender<T> moved_tx = std::move(live_tx);
  csp::receiver<T> moved_rx = std::move(live_rx);

  csp::sender<T> default_tx;
  csp::receiver<T> default_rx;
  // live_tx / live_rx are moved-from now; default_* never had a channel.
  csp::sender<T>* senders[] = {&default_tx, &live_tx};
  csp::receiver<T>* receivers[] = {&default_rx, &live_rx};

  for (csp::sender<T>* tx : senders) {
    REQUIRE_FALSE(static_cast<bool>(*tx));
    auto p = std::make_unique<int>(5);
    REQUIRE_THROWS_AS(tx->send(std::move(p)), csp::empty_handle);
    REQUIRE_THROWS_AS(tx->try_send(std::move(p)), csp::empty_handle);
    REQUIRE_THROWS_AS(tx->send_for(std::move(p), 1ms), csp::empty_handle);
    REQUIRE_THROWS_AS(tx->send_until(std::move(p), csp::clock::now()), csp::empty_handle);
    REQUIRE(p);  // the value stays with the caller
    REQUIRE_THROWS_AS(tx->close(), csp::empty_handle);
    REQUIRE_THROWS_AS(tx->is_closed(), csp::empty_handle);
    REQUIRE_THROWS_AS(tx->size(), csp::empty_handle);
    REQUIRE_THROWS_AS(tx->capacity(), csp::empty_handle);
    REQUIRE(*tx == csp::sender<T>{});
  }
  for (csp::receiver<T>* rx : receivers) {
    REQUIRE_FALSE(static_cast<bool>(*rx));
    REQUIRE_THROWS_AS(rx->recv(), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->try_recv(), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->recv_for(1ms), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->recv_until(csp::clock::now()), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->begin(), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->close(), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->is_closed(), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->size(), csp::empty_handle);
    REQUIRE_THROWS_AS(rx->capacity(), csp::empty_handle);
    REQUIRE(*rx == csp::receiver<T>{});
  }
  // The handles they were moved into work, and the channel is still open.
  REQUIRE_FALSE(moved_tx.is_closed());
  REQUIRE(moved_rx.capacity() == F::capacity);
  // An empty handle can be given a channel again.
  live_tx = moved_tx;
  REQUIRE(live_tx == moved_tx);
  REQUIRE_FALSE(live_tx.is_closed());
}

// ---------------------------------------------------------------- csp::result<T>

TEST_CASE("contract: csp::result is optional-like and reports a status", "[contract][result]") {
  SECTION("a value") {
    csp::result<std::string> r(std::in_place, "hello");
    REQUIRE(r.status() == status::ok);
    REQUIRE(static_cast<bool>(r));
    REQUIRE(r.has_value());
    REQUIRE(*r == "hello");
    REQUIRE(r->size() == 5u);
    REQUIRE(r.value() == "hello");
    r->append("!");
    REQUIRE(r.value() == "hello!");
    REQUIRE(r.value_or("x") == "hello!");
    std::string taken = std::move(r).value();
    REQUIRE(taken == "hello!");
  }
  SECTION("no value: every status but ok, value() throws bad_result_access") {
    const status s = GENERATE(status::empty, status::closed, status::timeout);
    CAPTURE(s);
    csp::result<std::string> r(s);
    REQUIRE(r.status() == s);
    REQUIRE_FALSE(r);
    REQUIRE_FALSE(r.has_value());
    REQUIRE_THROWS_AS(r.value(), csp::bad_result_access);
    REQUIRE_THROWS_AS(std::as_const(r).value(), csp::bad_result_access);
    REQUIRE_THROWS_AS(std::move(r).value(), csp::bad_result_access);
    REQUIRE(r.value_or("fallback") == "fallback");
  }
  SECTION("bool is explicit") {
    STATIC_REQUIRE_FALSE(std::is_convertible_v<csp::result<int>, bool>);
    STATIC_REQUIRE(std::is_constructible_v<bool, csp::result<int>>);
  }
}

TEMPLATE_TEST_CASE("contract: receives return results with the right status",
                   "[contract][result]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  csp_test::reset_counts();
  {
    auto ch = F::template make<move_only>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    csp::result<move_only> empty = rx.try_recv();
    REQUIRE(empty.status() == status::empty);
    REQUIRE_FALSE(empty);
    REQUIRE_THROWS_AS(empty.value(), csp::bad_result_access);

    csp::result<move_only> timed_out = rx.recv_for(1ms);
    REQUIRE(timed_out.status() == status::timeout);
    REQUIRE_THROWS_AS(timed_out.value(), csp::bad_result_access);

    // `while (auto v = rx.recv())` receives every value, then stops at closed.
    std::vector<int> got;
    auto producer = csp_test::start_partner([&tx] {
      for (int i = 0; i < 5; ++i) {
        if (!tx.send(move_only(i))) break;
      }
      tx.close();
    });
    while (auto v = rx.recv()) {
      REQUIRE(v.status() == status::ok);
      got.push_back(v->id());
      move_only owned = std::move(v).value();  // a move-only value can be taken out
      REQUIRE(owned.id() == got.back());
      REQUIRE(v->moved_from());
    }
    csp_test::join_partner(producer);
    REQUIRE(got == csp_test::iota_ids(csp_test::streamable<F>(5)));
    csp::result<move_only> closed = rx.recv();
    REQUIRE(closed.status() == status::closed);
    REQUIRE_FALSE(closed);
    REQUIRE_THROWS_AS(closed.value(), csp::bad_result_access);
  }
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- throwing moves and copies

TEMPLATE_TEST_CASE(
    "contract: a send whose move or copy throws propagates it, keeps the value with the "
    "caller and leaves the channel usable",
    "[contract][throwing]", CSP_TEST_BUFFERED_FLAVORS) {
  using F = TestType;
  using csp_test::throwing;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<throwing>();
    throwing a(0);

    a.throw_on_move();
    REQUIRE_THROWS_AS(tx.try_send(std::move(a)), csp_test::move_error);
    REQUIRE(a.id() == 0);
    a.throw_on_move();
    REQUIRE_THROWS_AS(tx.send(std::move(a)), csp_test::move_error);
    REQUIRE(a.id() == 0);
    a.throw_on_move();
    REQUIRE_THROWS_AS(tx.send_for(std::move(a), 1h), csp_test::move_error);
    a.throw_on_move();
    REQUIRE_THROWS_AS(tx.send_until(std::move(a), csp::clock::now() + 1h),
                      csp_test::move_error);
    REQUIRE(a.id() == 0);
    REQUIRE_FALSE(a.moved_from());
    REQUIRE(rx.size() == 0u);
    REQUIRE_FALSE(tx.is_closed());  // a oneshot's failed send does not use up its one send
    REQUIRE(csp_test::counts().moves_thrown.load() == 4);

    // A copy that throws fails before anything reaches the channel.
    throwing b(1);
    b.throw_on_copy();
    REQUIRE_THROWS_AS(tx.send(b), csp_test::copy_error);
    REQUIRE(b.id() == 1);
    REQUIRE(rx.size() == 0u);

    // The channel is usable: the same value now goes in.
    REQUIRE(tx.send(std::move(a)));
    REQUIRE(a.moved_from());
    REQUIRE(rx.size() == 1u);
    if constexpr (F::buffered >= 2) {
      b.throw_on_copy();
      REQUIRE_THROWS_AS(tx.try_send(b), csp_test::copy_error);
      REQUIRE(tx.try_send(b) == status::ok);  // copied: b stays
      REQUIRE(b.id() == 1);
      REQUIRE(rx.size() == 2u);
    }
  }, csp_test::current_test());
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE(
    "contract: a receive whose move throws propagates it and leaves the value in the channel",
    "[contract][throwing]", CSP_TEST_BUFFERED_FLAVORS) {
  using F = TestType;
  using csp_test::throwing;
  const run_mode mode = CSP_EACH_SINGLE_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  csp_test::run_alone(mode, [] {
    auto [tx, rx] = F::template make<throwing>();
    const std::size_t k = csp_test::fillable<F>(3);
    for (std::size_t i = 0; i < k; ++i) {
      REQUIRE(tx.try_send(throwing(static_cast<int>(i))) == status::ok);
    }
    for (std::size_t i = 0; i < k; ++i) {
      // Each kind of receive fails once, on the move out of the channel...
      csp_test::arm_move_throws(1);
      REQUIRE_THROWS_AS(rx.recv(), csp_test::move_error);
      REQUIRE(rx.size() == k - i);
      csp_test::arm_move_throws(1);
      REQUIRE_THROWS_AS(rx.try_recv(), csp_test::move_error);
      csp_test::arm_move_throws(1);
      REQUIRE_THROWS_AS(rx.recv_for(1h), csp_test::move_error);
      csp_test::arm_move_throws(1);
      REQUIRE_THROWS_AS(rx.recv_until(csp::clock::now() + 1h), csp_test::move_error);
      REQUIRE(rx.size() == k - i);
      // ...and the value is still the next one out.
      auto r = rx.recv();
      REQUIRE(r.status() == status::ok);
      REQUIRE(r->id() == static_cast<int>(i));
    }
    REQUIRE(csp_test::counts().moves_thrown.load() == static_cast<long>(4 * k));
    REQUIRE(rx.try_recv().status() == (F::is_oneshot ? status::closed : status::empty));
  }, csp_test::current_test());
  csp_test::arm_move_throws(0);
  csp_test::require_no_leaks();
}
