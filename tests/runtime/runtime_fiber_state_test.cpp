// Per-fiber state that C++ keeps per thread, and per-thread allocators, on a csp::runtime
// whose fibers migrate between worker threads:
//   * the exceptions being handled (what `throw;`, std::current_exception and
//     std::uncaught_exceptions see) follow a fiber that blocks inside a catch block or in a
//     destructor run by stack unwinding, to whatever thread resumes it, and two fibers of one
//     thread that suspend inside handlers never see each other's exceptions;
//   * csp::scoped rethrows its body's exception after joining;
//   * csp::stack::pooled stacks (and fixed, guarded) are allocated on one worker and freed on
//     another safely.
//
// Catch2 is not thread-safe and the root fiber runs on a worker thread: fibers count what
// went wrong in atomics, run() hands the counts back, and every assertion runs on the test
// thread.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include <csp/csp.hpp>

#include "runtime_support.hpp"

using namespace std::chrono_literals;
using csp_rt_test::stress_scale_int;

namespace {

// An exception that says which fiber threw it.
struct fiber_error {
  int id;
};

// The ways a fiber can block; each one suspends the fiber in csp and lets another thread
// resume it.
enum class block_kind : int { recv, send, recv_timeout, select, yield, sleep, join, wait_group };
constexpr int block_kinds = 8;

// Blocks the calling fiber once, in the given way, until a helper fiber (which may run on
// another worker) releases it.
void block(block_kind kind) {
  switch (kind) {
    case block_kind::recv: {
      auto [tx, rx] = csp::make_channel<int>();
      csp::go([tx = std::move(tx)] {
        csp::this_fiber::yield();
        tx.send(1);
      });
      (void)rx.recv();
      return;
    }
    case block_kind::send: {
      auto [tx, rx] = csp::make_channel<int>();
      csp::go([rx = std::move(rx)] {
        csp::this_fiber::yield();
        (void)rx.recv();
      });
      (void)tx.send(1);
      return;
    }
    case block_kind::recv_timeout: {
      auto [tx, rx] = csp::make_channel<int>();
      (void)rx.recv_for(200us);  // times out: nobody sends
      return;
    }
    case block_kind::select: {
      auto [tx, rx] = csp::make_channel<int>();
      csp::go([tx = std::move(tx)] {
        csp::this_fiber::yield();
        tx.send(1);
      });
      (void)csp::select(csp::on_recv(rx, [](const csp::result<int>&) {}),
                        csp::on_timeout(csp_rt_test::give_up_after, [] {}));
      return;
    }
    case block_kind::yield:
      for (int i = 0; i < 3; ++i) csp::this_fiber::yield();
      return;
    case block_kind::sleep:
      csp::this_fiber::sleep_for(100us);
      return;
    case block_kind::join:
      csp::spawn([] { csp::this_fiber::yield(); }).join();
      return;
    case block_kind::wait_group: {
      csp::wait_group wg;
      wg.add(1);
      csp::go([&wg] {
        csp::this_fiber::yield();
        wg.done();
      });
      wg.wait();
      return;
    }
  }
}

block_kind kind_of(int i) { return static_cast<block_kind>(i % block_kinds); }

// What went wrong, counted by the fibers; every count must end at zero.
struct faults {
  std::atomic<int> lost{0};         // `throw;` inside the handler found no exception
  std::atomic<int> foreign{0};      // the handler saw another fiber's exception
  std::atomic<int> uncaught{0};     // std::uncaught_exceptions() had the wrong value
  std::atomic<int> not_cleared{0};  // an exception was still current outside every handler
  std::atomic<int> finished{0};     // fibers that got to the end

  struct snapshot {
    int lost, foreign, uncaught, not_cleared, finished;
  };
  snapshot get() const {
    return {lost.load(), foreign.load(), uncaught.load(), not_cleared.load(), finished.load()};
  }
};

// `throw;` must rethrow this fiber's own exception `id`.
void check_rethrow(int id, faults& f) {
  try {
    throw;
  } catch (const fiber_error& e) {
    if (e.id != id) f.foreign.fetch_add(1);
  } catch (...) {
    f.foreign.fetch_add(1);
  }
}

// Throws fiber_error{id}, blocks inside the handler, then checks that the handler still
// sees its own exception: std::current_exception, `throw;`, std::uncaught_exceptions. A
// nested handler blocks too, and the outer exception must come back after it.
void block_in_handler(int id, faults& f) {
  try {
    throw fiber_error{id};
  } catch (const fiber_error& outer) {
    const std::exception_ptr mine = std::current_exception();
    block(kind_of(id));
    if (!std::current_exception()) {
      f.lost.fetch_add(1);
      return;  // `throw;` would terminate
    }
    if (std::current_exception() != mine || outer.id != id) f.foreign.fetch_add(1);
    if (std::uncaught_exceptions() != 0) f.uncaught.fetch_add(1);
    try {
      throw fiber_error{-id - 1};
    } catch (const fiber_error&) {
      block(kind_of(id + 1));
      check_rethrow(-id - 1, f);
    }
    block(kind_of(id + 2));
    if (!std::current_exception()) {
      f.lost.fetch_add(1);
      return;
    }
    check_rethrow(id, f);
  }
  if (std::current_exception() || std::uncaught_exceptions() != 0) f.not_cleared.fetch_add(1);
  f.finished.fetch_add(1);
}

// A destructor that blocks while fiber_error{id} unwinds the stack: std::uncaught_exceptions()
// is 1 before and after, and the handler then catches exactly that exception.
void block_while_unwinding(int id, faults& f) {
  struct blocks_on_destruction {
    int id;
    faults& f;
    ~blocks_on_destruction() {
      if (std::uncaught_exceptions() != 1) f.uncaught.fetch_add(1);
      block(kind_of(id));
      if (std::uncaught_exceptions() != 1) f.uncaught.fetch_add(1);
    }
  };
  try {
    blocks_on_destruction b{id, f};
    throw fiber_error{id};
  } catch (const fiber_error& e) {
    if (e.id != id) f.foreign.fetch_add(1);
    if (std::uncaught_exceptions() != 0) f.uncaught.fetch_add(1);
    block(kind_of(id + 3));
    if (!std::current_exception()) {
      f.lost.fetch_add(1);
      return;
    }
    check_rethrow(id, f);
  }
  if (std::current_exception() || std::uncaught_exceptions() != 0) f.not_cleared.fetch_add(1);
  f.finished.fetch_add(1);
}

// `fibers` fibers, half blocking in handlers, half in destructors during unwinding, plus
// bystanders outside any handler that must never see an exception.
faults::snapshot run_handlers(std::size_t threads, int fibers) {
  return csp::run(threads, [fibers] {
    faults f;
    csp::wait_group wg;
    wg.add(fibers);
    for (int i = 0; i < fibers; ++i) {
      csp::go([i, &f, &wg] {
        if (i % 3 == 2) {
          block(kind_of(i));
          if (std::current_exception() || std::uncaught_exceptions() != 0) {
            f.not_cleared.fetch_add(1);
          }
          f.finished.fetch_add(1);
        } else if (i % 3 == 1) {
          block_while_unwinding(i, f);
        } else {
          block_in_handler(i, f);
        }
        wg.done();
      });
    }
    wg.wait();
    return f.get();
  });
}

void require_clean(const faults::snapshot& s, int fibers) {
  CHECK(s.lost == 0);
  CHECK(s.foreign == 0);
  CHECK(s.uncaught == 0);
  CHECK(s.not_cleared == 0);
  REQUIRE(s.finished == fibers);
}

}  // namespace

TEST_CASE("fiber state: a fiber that blocks inside a catch block keeps its own exception",
          "[runtime][exceptions]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  const int fibers = 2000 * stress_scale_int();
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    require_clean(run_handlers(threads, fibers), fibers);
  }
}

TEST_CASE("fiber state: one thread, fibers suspended inside handlers never see each other's",
          "[runtime][exceptions]") {
  // Pairs of fibers on one thread, each suspending inside its own catch block while the
  // other one enters and leaves its handler: the per-thread stack of handled exceptions
  // must not interleave them.
  const int pairs = 200 * stress_scale_int();
  auto body = [pairs] {
    faults f;
    csp::wait_group wg;
    wg.add(2 * pairs);
    for (int p = 0; p < pairs; ++p) {
      auto [to_b_tx, to_b_rx] = csp::make_channel<int>();
      auto [to_a_tx, to_a_rx] = csp::make_channel<int>();
      const int a = 2 * p;
      const int b = 2 * p + 1;
      csp::go([a, &f, &wg, rx = to_a_rx, tx = to_b_tx] {
        try {
          throw fiber_error{a};
        } catch (const fiber_error&) {
          (void)rx.recv();  // B enters its handler meanwhile
          if (!std::current_exception()) {
            f.lost.fetch_add(1);
          } else {
            check_rethrow(a, f);
          }
          (void)tx.send(0);
        }  // leaves the handler while B is suspended inside its own
        if (std::current_exception()) f.not_cleared.fetch_add(1);
        f.finished.fetch_add(1);
        wg.done();
      });
      csp::go([b, &f, &wg, rx = to_b_rx, tx = to_a_tx] {
        if (std::current_exception()) f.not_cleared.fetch_add(1);  // A is in its handler
        try {
          throw fiber_error{b};
        } catch (const fiber_error&) {
          (void)tx.send(0);
          (void)rx.recv();
          if (!std::current_exception()) {
            f.lost.fetch_add(1);
          } else {
            check_rethrow(b, f);
          }
        }
        if (std::current_exception()) f.not_cleared.fetch_add(1);
        f.finished.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
    return f.get();
  };
  SECTION("csp::run(1, ...)") { require_clean(csp::run(1, body), 2 * pairs); }
  SECTION("fibers on the test thread, outside any runtime") { require_clean(body(), 2 * pairs); }
}

TEST_CASE("fiber state: a plain thread's main fiber blocking inside a handler keeps it",
          "[runtime][exceptions]") {
  // The test thread's main fiber suspends inside a handler while fibers of the same
  // thread, in handlers of their own and outside any, run meanwhile.
  faults f;
  const int fibers = 300;
  for (int i = 0; i < 20; ++i) {
    try {
      throw fiber_error{-1};
    } catch (const fiber_error&) {
      csp::wait_group wg;
      wg.add(fibers);
      for (int k = 0; k < fibers; ++k) {
        csp::go([k, &f, &wg] {
          if (k % 2 == 0) {
            block_in_handler(k, f);
          } else {
            if (std::current_exception()) f.not_cleared.fetch_add(1);
            block(kind_of(k));
            if (std::current_exception()) f.not_cleared.fetch_add(1);
            f.finished.fetch_add(1);
          }
          wg.done();
        });
      }
      wg.wait();
      if (!std::current_exception()) {
        f.lost.fetch_add(1);
      } else {
        check_rethrow(-1, f);
      }
    }
  }
  require_clean(f.get(), 20 * fibers);
}

TEST_CASE("fiber state: csp::scoped's body exception wins when its fibers migrate",
          "[runtime][exceptions][scope]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  const int scopes = 300 * stress_scale_int();
  struct seen {
    int body_won = 0;
    int other = 0;
  };
  const seen s = csp::run(threads, [scopes] {
    std::atomic<int> body_won{0};
    std::atomic<int> other{0};
    csp::wait_group wg;
    wg.add(scopes);
    for (int i = 0; i < scopes; ++i) {
      csp::go([i, &body_won, &other, &wg] {
        try {
          csp::scoped([i](csp::scope& sc) {
            sc.go([i] {
              block(kind_of(i));
              throw fiber_error{-1};
            });
            throw fiber_error{i};
          });
          other.fetch_add(1);
        } catch (const fiber_error& e) {
          (e.id == i ? body_won : other).fetch_add(1);
        } catch (...) {
          other.fetch_add(1);
        }
        wg.done();
      });
    }
    wg.wait();
    return seen{body_won.load(), other.load()};
  });
  CHECK(s.other == 0);
  REQUIRE(s.body_won == scopes);
}

namespace {

// One link of a chain: receives a value, starts the next link on the same kind of stack
// (from whatever worker runs this one), passes the value on plus one, and ends; the last
// link sends to `out`. So stacks are allocated on one worker and freed on another.
void chain_link(const csp::stack& stk, int remaining, csp::receiver<int> in,
                csp::sender<int> out) {
  csp::result<int> v = in.recv();
  if (!v) return;
  if (remaining == 0) {
    (void)out.send(*v + 1);
    return;
  }
  auto [tx, rx] = csp::make_channel<int>();
  csp::go(stk, chain_link, stk, remaining - 1, std::move(rx), std::move(out));
  csp::this_fiber::yield();
  (void)tx.send(*v + 1);
}

}  // namespace

TEST_CASE("fiber state: stacks are allocated and freed on different workers",
          "[runtime][stack]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  const csp::stack::kind kind =
      GENERATE(csp::stack::kind::pooled, csp::stack::kind::fixed, csp::stack::kind::guarded);
  CAPTURE(threads, static_cast<int>(kind));
  const int spawners = 8;
  const int links = 4;
  const int burst = 16;
#if defined(__SANITIZE_THREAD__)
  const int pooled_rounds = 100;  // TSan: 1000 take about 100 s on 2 cores (40 for the others: 5 s)
#else
  const int pooled_rounds = 1000;
#endif
  const int rounds = (kind == csp::stack::kind::pooled ? pooled_rounds : 40) * stress_scale_int();
  struct seen {
    int good = 0;
    int bad = 0;
    int joined = 0;
    int burst_ran = 0;
  };
  const seen s = csp::run(threads, [&] {
    const csp::stack stk = kind == csp::stack::kind::pooled   ? csp::stack::pooled(64 * 1024)
                           : kind == csp::stack::kind::fixed ? csp::stack::fixed(64 * 1024)
                                                              : csp::stack::guarded(64 * 1024);
    std::atomic<int> good{0};
    std::atomic<int> bad{0};
    std::atomic<int> joined{0};
    std::atomic<int> burst_ran{0};
    std::vector<csp::task<void>> tasks;
    for (int sp = 0; sp < spawners; ++sp) {
      // A copy of the stack object per spawner: copies share one pool.
      tasks.push_back(csp::spawn([&, stk_copy = stk] {
        for (int r = 0; r < rounds; ++r) {
          auto [in_tx, in_rx] = csp::make_channel<int>();
          auto [out_tx, out_rx] = csp::make_channel<int>();
          csp::go(stk_copy, chain_link, stk_copy, links - 1, std::move(in_rx), std::move(out_tx));
          (void)in_tx.send(0);
          csp::result<int> v = out_rx.recv();
          (v && *v == links ? good : bad).fetch_add(1);
          // And a joinable one, freed by whichever side lets go of it last.
          joined.fetch_add(csp::spawn(stk_copy, [] {
                             csp::this_fiber::yield();
                             return 1;
                           }).join());
          // And a burst of short fibers that end on whichever worker runs them, while the
          // other spawners allocate.
          csp::wait_group wg;
          wg.add(burst);
          for (int k = 0; k < burst; ++k) {
            csp::go(stk_copy, [&wg, &burst_ran] {
              burst_ran.fetch_add(1, std::memory_order_relaxed);
              wg.done();
            });
          }
          wg.wait();
        }
      }));
    }
    for (auto& t : tasks) t.join();
    return seen{good.load(), bad.load(), joined.load(), burst_ran.load()};
  });
  CHECK(s.bad == 0);
  REQUIRE(s.good == spawners * rounds);
  REQUIRE(s.joined == spawners * rounds);
  REQUIRE(s.burst_ran == spawners * rounds * burst);
}
