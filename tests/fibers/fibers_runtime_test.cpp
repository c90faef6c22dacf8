// The fiber layer: csp::go, csp::spawn / csp::task<R>, csp::this_fiber, csp::wait_group,
// and fibers on several threads and plain threads talking over channels.
//
// Catch2 is not thread-safe: fibers and threads only record what they see (atomics,
// vectors joined before use); every assertion runs on the test's own (main) fiber.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <csp/csp.hpp>

#include "support/knobs.hpp"

using namespace std::chrono_literals;
using csp_test::boom_error;
using csp_test::stress_scale_int;

namespace {

int add_one(int x) { return x + 1; }

struct no_default {
  explicit no_default(int v) : value(v) {}
  no_default(no_default&&) = default;
  no_default& operator=(no_default&&) = default;
  int value;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// csp::go

TEST_CASE("go: detached fibers run and their sends arrive", "[go]") {
  constexpr int fibers = 50;
  auto [tx, rx] = csp::make_channel<int>();
  for (int i = 0; i < fibers; ++i) {
    csp::go([i](csp::sender<int> out) { out.send(i); }, tx);
  }
  tx = csp::sender<int>{};  // the fibers hold the only senders: the channel closes after them

  std::vector<int> got;
  for (int v : rx) got.push_back(v);
  std::sort(got.begin(), got.end());
  std::vector<int> want(fibers);
  std::iota(want.begin(), want.end(), 0);
  REQUIRE(got == want);
}

TEST_CASE("go: a fiber does not run before the starting fiber blocks", "[go]") {
  bool ran = false;
  csp::wait_group wg;
  wg.add(1);
  csp::go([&] {
    ran = true;
    wg.done();
  });
  // Busy on the OS level, but no fiber-level block or yield: the new fiber must wait.
  std::this_thread::sleep_for(2ms);
  CHECK_FALSE(ran);
  wg.wait();
  REQUIRE(ran);
}

TEST_CASE("go: arguments are decay-copied", "[go]") {
  auto [tx, rx] = csp::make_channel<std::string>(1);

  SECTION("an lvalue argument is copied when go is called") {
    std::string s = "original";
    csp::go([](const std::string& str, csp::sender<std::string> out) { out.send(str); }, s, tx);
    s = "changed before the fiber ran";
    auto r = rx.recv();
    REQUIRE(r);
    REQUIRE(*r == "original");
    REQUIRE(s == "changed before the fiber ran");
  }

  SECTION("a move-only argument is moved in") {
    auto p = std::make_unique<int>(41);
    csp::go([](std::unique_ptr<int> q, csp::sender<std::string> out) { out.send(std::to_string(*q + 1)); },
            std::move(p), tx);
    auto r = rx.recv();
    REQUIRE(r);
    REQUIRE(*r == "42");
  }

  SECTION("std::ref passes a reference") {
    int target = 0;
    csp::wait_group wg;
    wg.add(1);
    csp::go(
        [](int& t, csp::wait_group& w) {
          t = 7;
          w.done();
        },
        std::ref(target), std::ref(wg));
    wg.wait();
    REQUIRE(target == 7);
  }

  SECTION("a plain function and its arguments") {
    csp::go([](int (*f)(int), int x, csp::sender<std::string> out) { out.send(std::to_string(f(x))); },
            &add_one, 9, tx);
    auto r = rx.recv();
    REQUIRE(r);
    REQUIRE(*r == "10");
  }
}

TEST_CASE("go: a fiber started on a plain thread runs on that thread once it blocks", "[go][threads]") {
  std::thread::id spawner;
  std::thread::id runner;
  bool ran_before_block = true;
  bool ran_after_block = false;
  std::thread t([&] {
    spawner = std::this_thread::get_id();
    std::atomic<bool> ran{false};
    csp::wait_group wg;
    wg.add(1);
    csp::go([&] {
      runner = std::this_thread::get_id();
      ran = true;
      wg.done();
    });
    std::this_thread::sleep_for(2ms);
    ran_before_block = ran.load();
    wg.wait();
    ran_after_block = ran.load();
  });
  const std::thread::id tid = t.get_id();
  t.join();
  CHECK_FALSE(ran_before_block);
  REQUIRE(ran_after_block);
  REQUIRE(spawner == tid);
  REQUIRE(runner == tid);
  REQUIRE(runner != std::this_thread::get_id());
}

TEST_CASE("go: fibers started on a plain thread run when it blocks on a channel", "[go][threads]") {
  // The plain thread starts producers, then blocks in recv: its producers run on it.
  constexpr int producers = 10;
  std::vector<std::thread::id> producer_threads(producers);
  int received = 0;
  std::thread::id consumer_thread;
  std::thread t([&] {
    consumer_thread = std::this_thread::get_id();
    auto [tx, rx] = csp::make_channel<int>(2);
    for (int p = 0; p < producers; ++p) {
      csp::go(
          [p, &producer_threads](csp::sender<int> out) {
            producer_threads[static_cast<std::size_t>(p)] = std::this_thread::get_id();
            for (int i = 0; i < 10; ++i) out.send(i);
          },
          tx);
    }
    tx = csp::sender<int>{};
    while (auto v = rx.recv()) ++received;
  });
  t.join();
  REQUIRE(received == producers * 10);
  for (const auto& id : producer_threads) REQUIRE(id == consumer_thread);
}

// ---------------------------------------------------------------------------------------
// csp::spawn / csp::task<R>

TEST_CASE("task: type traits", "[task]") {
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<csp::task<int>>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<csp::task<int>>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<csp::task<int>>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<csp::task<int>>);
  STATIC_REQUIRE(std::is_same_v<decltype(csp::spawn([] { return 1; })), csp::task<int>>);
  STATIC_REQUIRE(std::is_same_v<decltype(csp::spawn([] {})), csp::task<void>>);
  STATIC_REQUIRE(std::is_same_v<decltype(csp::spawn(&add_one, 1)), csp::task<int>>);
}

TEST_CASE("spawn: join returns the fiber's value", "[task]") {
  SECTION("int") {
    auto t = csp::spawn([](int a, int b) { return a * b; }, 6, 7);
    REQUIRE(t.joinable());
    REQUIRE(t.join() == 42);
    REQUIRE_FALSE(t.joinable());
  }
  SECTION("a move-only std::unique_ptr") {
    auto t = csp::spawn([] { return std::make_unique<std::string>("moved out"); });
    std::unique_ptr<std::string> p = t.join();
    REQUIRE(p);
    REQUIRE(*p == "moved out");
  }
  SECTION("a type without a default constructor") {
    auto t = csp::spawn([] { return no_default(5); });
    REQUIRE(t.join().value == 5);
  }
  SECTION("void") {
    int side_effect = 0;
    auto t = csp::spawn([&side_effect] { side_effect = 3; });
    STATIC_REQUIRE(std::is_void_v<decltype(t.join())>);
    t.join();
    REQUIRE(side_effect == 3);
  }
  SECTION("a value computed after the fiber blocked and resumed") {
    auto t = csp::spawn([] {
      csp::this_fiber::sleep_for(1ms);
      csp::this_fiber::yield();
      return std::string("late");
    });
    REQUIRE(t.join() == "late");
  }
  SECTION("a plain function pointer") {
    auto t = csp::spawn(&add_one, 1);
    REQUIRE(t.join() == 2);
  }
}

TEST_CASE("spawn: arguments are decay-copied", "[task]") {
  SECTION("an lvalue is copied at the call") {
    std::string s = "before";
    auto t = csp::spawn([](const std::string& str) { return str; }, s);
    s = "after";
    REQUIRE(t.join() == "before");
  }
  SECTION("a move-only argument is moved in") {
    auto p = std::make_unique<int>(99);
    auto t = csp::spawn([](std::unique_ptr<int> q) { return *q; }, std::move(p));
    REQUIRE(p == nullptr);
    REQUIRE(t.join() == 99);
  }
  SECTION("std::ref passes a reference") {
    int target = 0;
    auto t = csp::spawn([](int& r) { r = 11; }, std::ref(target));
    t.join();
    REQUIRE(target == 11);
  }
  SECTION("the callable itself is copied") {
    int calls = 0;
    auto counter = [n = 0, &calls]() mutable {
      ++calls;
      return ++n;
    };
    auto t1 = csp::spawn(counter);
    auto t2 = csp::spawn(counter);
    REQUIRE(t1.join() == 1);
    REQUIRE(t2.join() == 1);  // each fiber got its own copy of n
    REQUIRE(counter() == 1);  // the original was never invoked
    REQUIRE(calls == 3);
  }
}

TEST_CASE("spawn: join rethrows the fiber's exception", "[task]") {
  SECTION("value task, custom exception type and message") {
    auto t = csp::spawn([]() -> int {
      csp::this_fiber::yield();
      throw boom_error("boom from the fiber");
    });
    bool caught = false;
    try {
      (void)t.join();
    } catch (const boom_error& e) {
      caught = true;
      REQUIRE(std::string(e.what()) == "boom from the fiber");
    }
    REQUIRE(caught);
    REQUIRE_FALSE(t.joinable());
    REQUIRE_THROWS_AS(t.join(), csp::empty_handle);
  }
  SECTION("void task") {
    auto t = csp::spawn([] { throw boom_error("void boom"); });
    REQUIRE_THROWS_MATCHES(t.join(), boom_error, Catch::Matchers::Message("void boom"));
  }
  SECTION("a non-std exception type") {
    auto t = csp::spawn([]() -> int { throw 17; });
    bool caught = false;
    try {
      (void)t.join();
    } catch (int v) {
      caught = true;
      REQUIRE(v == 17);
    }
    REQUIRE(caught);
  }
  SECTION("the exception of one task does not affect another") {
    auto bad = csp::spawn([]() -> int { throw boom_error("bad"); });
    auto good = csp::spawn([] { return 1; });
    REQUIRE_THROWS_AS(bad.join(), boom_error);
    REQUIRE(good.join() == 1);
  }
}

TEST_CASE("task: operations on a task without a fiber throw csp::empty_handle", "[task]") {
  SECTION("default-constructed") {
    csp::task<int> t;
    REQUIRE_FALSE(t.joinable());
    REQUIRE_THROWS_AS(t.join(), csp::empty_handle);
    REQUIRE_THROWS_AS(t.detach(), csp::empty_handle);
    csp::task<void> v;
    REQUIRE_FALSE(v.joinable());
    REQUIRE_THROWS_AS(v.join(), csp::empty_handle);
    REQUIRE_THROWS_AS(v.detach(), csp::empty_handle);
  }
  SECTION("already joined") {
    auto t = csp::spawn([] { return 1; });
    REQUIRE(t.join() == 1);
    REQUIRE_FALSE(t.joinable());
    REQUIRE_THROWS_AS(t.join(), csp::empty_handle);
    REQUIRE_THROWS_AS(t.detach(), csp::empty_handle);
  }
  SECTION("detached") {
    auto t = csp::spawn([] { return 1; });
    t.detach();
    REQUIRE_FALSE(t.joinable());
    REQUIRE_THROWS_AS(t.join(), csp::empty_handle);
    REQUIRE_THROWS_AS(t.detach(), csp::empty_handle);
  }
  SECTION("moved-from by construction") {
    auto t = csp::spawn([] { return 2; });
    csp::task<int> u(std::move(t));
    REQUIRE_FALSE(t.joinable());
    REQUIRE_THROWS_AS(t.join(), csp::empty_handle);
    REQUIRE_THROWS_AS(t.detach(), csp::empty_handle);
    REQUIRE(u.joinable());
    REQUIRE(u.join() == 2);
  }
  SECTION("moved-from by assignment") {
    auto t = csp::spawn([] { return 3; });
    csp::task<int> u;
    u = std::move(t);
    REQUIRE_FALSE(t.joinable());
    REQUIRE_THROWS_AS(t.join(), csp::empty_handle);
    REQUIRE(u.join() == 3);
  }
  SECTION("the exception is a std::logic_error") {
    csp::task<int> t;
    REQUIRE_THROWS_AS(t.join(), std::logic_error);
  }
}

TEST_CASE("task: detach lets the fiber run on", "[task]") {
  auto [tx, rx] = csp::make_channel<int>();
  csp::wait_group wg;
  wg.add(1);
  int seen = 0;
  {
    auto t = csp::spawn(
        [&](csp::receiver<int> in) {
          auto r = in.recv();
          seen = r.value_or(-1);
          wg.done();
          return seen;
        },
        rx);
    t.detach();
  }  // the detached task's destructor must not wait for the fiber (it is blocked in recv)
  REQUIRE(seen == 0);
  REQUIRE(tx.send(5));
  wg.wait();
  REQUIRE(seen == 5);
}

TEST_CASE("task: a detached fiber's exception is discarded", "[task][threads]") {
  // Run on a plain thread: the thread does not end before its fibers have finished.
  std::atomic<bool> reached_throw{false};
  std::thread th([&] {
    auto t = csp::spawn([&] {
      csp::this_fiber::yield();
      reached_throw = true;
      throw boom_error("nobody listens");
    });
    t.detach();
    csp::this_fiber::sleep_for(1ms);
  });
  th.join();
  REQUIRE(reached_throw);
}

TEST_CASE("task: the destructor joins a task neither joined nor detached", "[task]") {
  SECTION("void task that sleeps and yields") {
    bool finished = false;
    {
      auto t = csp::spawn([&finished] {
        csp::this_fiber::sleep_for(5ms);
        csp::this_fiber::yield();
        finished = true;
      });
      REQUIRE(t.joinable());
    }
    REQUIRE(finished);
  }
  SECTION("value task blocked on a channel fed by another fiber") {
    auto [tx, rx] = csp::make_channel<int>();
    int got = 0;
    csp::go(
        [](csp::sender<int> out) {
          csp::this_fiber::sleep_for(2ms);
          out.send(8);
        },
        tx);
    {
      auto t = csp::spawn([&got, in = rx]() mutable {
        auto r = in.recv();
        got = r.value_or(-1);
        return got;
      });
    }
    REQUIRE(got == 8);
  }
  SECTION("a task whose fiber threw: the exception is discarded, never escapes") {
    bool finished = false;
    {
      auto t = csp::spawn([&finished]() -> int {
        csp::this_fiber::sleep_for(1ms);
        finished = true;
        throw boom_error("dropped by the destructor");
      });
    }
    REQUIRE(finished);
  }
  SECTION("tasks kept in a vector, moved around by reallocation") {
    std::vector<int> done_flags(20, 0);
    {
      std::vector<csp::task<void>> tasks;
      for (std::size_t i = 0; i < done_flags.size(); ++i) {
        tasks.push_back(csp::spawn([&done_flags, i] {
          csp::this_fiber::yield();
          done_flags[i] = 1;
        }));
      }
    }
    for (int f : done_flags) REQUIRE(f == 1);
  }
}

TEST_CASE("task: move assignment over a live task joins the old one first", "[task]") {
  SECTION("old task still running") {
    bool first_done = false;
    auto t = csp::spawn([&first_done] {
      csp::this_fiber::sleep_for(5ms);
      csp::this_fiber::yield();
      first_done = true;
      return 1;
    });
    t = csp::spawn([] { return 2; });
    REQUIRE(first_done);
    REQUIRE(t.joinable());
    REQUIRE(t.join() == 2);
  }
  SECTION("old task threw: the assignment does not throw, the new task works") {
    bool first_done = false;
    auto t = csp::spawn([&first_done]() -> int {
      csp::this_fiber::sleep_for(1ms);
      first_done = true;
      throw boom_error("old");
    });
    auto u = csp::spawn([] { return 4; });
    t = std::move(u);
    REQUIRE(first_done);
    REQUIRE_FALSE(u.joinable());
    REQUIRE(t.join() == 4);
  }
  SECTION("assigning an empty task joins the old one and leaves the target empty") {
    bool first_done = false;
    auto t = csp::spawn([&first_done] {
      csp::this_fiber::sleep_for(2ms);
      first_done = true;
    });
    t = csp::task<void>{};
    REQUIRE(first_done);
    REQUIRE_FALSE(t.joinable());
    REQUIRE_THROWS_AS(t.join(), csp::empty_handle);
  }
  SECTION("self move assignment keeps the task") {
    auto t = csp::spawn([] { return 6; });
    csp::task<int>& alias = t;
    t = std::move(alias);
    REQUIRE(t.joinable());
    REQUIRE(t.join() == 6);
  }
}

TEST_CASE("task: a fiber may spawn and join other fibers", "[task]") {
  auto outer = csp::spawn([] {
    std::vector<csp::task<int>> inner;
    for (int i = 1; i <= 10; ++i) {
      inner.push_back(csp::spawn([i] {
        csp::this_fiber::yield();
        return i * i;
      }));
    }
    int sum = 0;
    for (auto& t : inner) sum += t.join();
    return sum;
  });
  REQUIRE(outer.join() == 385);
}

TEST_CASE("task: a task started on one thread can be joined on another", "[task][threads]") {
  auto [task_tx, task_rx] = csp::make_channel<csp::task<std::thread::id>>();
  auto [in_tx, in_rx] = csp::make_channel<int>();
  auto [done_tx, done_rx] = csp::make_channel<int>();
  std::atomic<int> fiber_got{0};
  std::thread worker([&, in = in_rx, done = done_rx, out = task_tx]() mutable {
    auto t = csp::spawn(
        [&fiber_got](csp::receiver<int> r) {
          fiber_got = r.recv().value_or(-1);
          return std::this_thread::get_id();
        },
        in);
    out.send(std::move(t));
    (void)done.recv();  // keep this thread (and its scheduler) busy until released
  });
  const std::thread::id worker_id = worker.get_id();
  auto received = task_rx.recv();
  REQUIRE(received);
  csp::task<std::thread::id> t = std::move(*received);
  REQUIRE(t.joinable());
  REQUIRE(in_tx.send(21));
  const std::thread::id ran_on = t.join();
  done_tx.close();
  worker.join();
  REQUIRE(fiber_got == 21);
  REQUIRE(ran_on == worker_id);
}

TEST_CASE("task: many tasks, all results collected", "[task]") {
  const int n = 200 * stress_scale_int();
  std::vector<csp::task<long>> tasks;
  tasks.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    tasks.push_back(csp::spawn([](long x) {
      csp::this_fiber::yield();
      return x * x;
    }, static_cast<long>(i)));
  }
  long sum = 0;
  for (auto& t : tasks) sum += t.join();
  const long nl = n;
  REQUIRE(sum == (nl - 1) * nl * (2 * nl - 1) / 6);
}

// ---------------------------------------------------------------------------------------
// csp::this_fiber

TEST_CASE("this_fiber::yield lets the other ready fiber run before the yielder resumes",
          "[this_fiber]") {
  std::string trace;
  auto a = csp::spawn([&trace] {
    for (int i = 0; i < 4; ++i) {
      trace += 'a';
      csp::this_fiber::yield();
    }
  });
  auto b = csp::spawn([&trace] {
    for (int i = 0; i < 4; ++i) {
      trace += 'b';
      csp::this_fiber::yield();
    }
  });
  a.join();
  b.join();
  REQUIRE(trace == "abababab");
}

TEST_CASE("this_fiber::yield: spinning on a partner of the same thread terminates", "[this_fiber]") {
  // A fiber that waits for another fiber of its own thread by yielding must let it run.
  bool flag = false;
  int spins = 0;
  auto waiter = csp::spawn([&] {
    while (!flag) {
      ++spins;
      csp::this_fiber::yield();
    }
  });
  auto setter = csp::spawn([&flag] {
    for (int i = 0; i < 10; ++i) csp::this_fiber::yield();
    flag = true;
  });
  waiter.join();
  setter.join();
  REQUIRE(flag);
  REQUIRE(spins >= 1);
}

TEST_CASE("this_fiber::yield from a thread's main fiber runs the thread's other fibers",
          "[this_fiber][threads]") {
  SECTION("on the test thread") {
    bool ran = false;
    csp::go([&ran] { ran = true; });
    for (int i = 0; i < 1000 && !ran; ++i) csp::this_fiber::yield();
    REQUIRE(ran);
  }
  SECTION("on a plain thread") {
    std::atomic<bool> ran{false};
    std::atomic<bool> ran_on_that_thread{false};
    std::thread t([&] {
      const auto me = std::this_thread::get_id();
      csp::go([&] {
        ran_on_that_thread = std::this_thread::get_id() == me;
        ran = true;
      });
      for (int i = 0; i < 1000 && !ran; ++i) csp::this_fiber::yield();
    });
    t.join();
    REQUIRE(ran);
    REQUIRE(ran_on_that_thread);
  }
  SECTION("with no other fiber, yield returns") {
    for (int i = 0; i < 100; ++i) csp::this_fiber::yield();
    SUCCEED();
  }
}

TEST_CASE("this_fiber::sleep_for sleeps at least the duration", "[this_fiber]") {
  SECTION("the test thread's main fiber") {
    const auto t0 = csp::clock::now();
    csp::this_fiber::sleep_for(20ms);
    REQUIRE(csp::clock::now() - t0 >= 20ms);
  }
  SECTION("a spawned fiber") {
    auto t = csp::spawn([] {
      const auto t0 = csp::clock::now();
      csp::this_fiber::sleep_for(15ms);
      return csp::clock::now() - t0;
    });
    REQUIRE(t.join() >= 15ms);
  }
  SECTION("other duration types") {
    auto t0 = csp::clock::now();
    csp::this_fiber::sleep_for(std::chrono::microseconds(12500));
    REQUIRE(csp::clock::now() - t0 >= 12500us);
    t0 = csp::clock::now();
    csp::this_fiber::sleep_for(std::chrono::duration<int, std::centi>(1));  // 10 ms
    REQUIRE(csp::clock::now() - t0 >= 10ms);
  }
  SECTION("a fiber on a plain thread") {
    std::chrono::nanoseconds slept{0};
    std::thread th([&slept] {
      auto t = csp::spawn([] {
        const auto t0 = csp::clock::now();
        csp::this_fiber::sleep_for(10ms);
        return std::chrono::duration_cast<std::chrono::nanoseconds>(csp::clock::now() - t0);
      });
      slept = t.join();
    });
    th.join();
    REQUIRE(slept >= 10ms);
  }
  SECTION("zero and negative durations return") {
    csp::this_fiber::sleep_for(0ms);
    csp::this_fiber::sleep_for(-5ms);
    SUCCEED();
  }
}

TEST_CASE("this_fiber::sleep_until sleeps until the deadline", "[this_fiber]") {
  SECTION("steady clock") {
    const auto deadline = csp::clock::now() + 15ms;
    csp::this_fiber::sleep_until(deadline);
    REQUIRE(csp::clock::now() >= deadline);
  }
  SECTION("steady clock, a spawned fiber") {
    const auto deadline = csp::clock::now() + 10ms;
    auto t = csp::spawn([deadline] {
      csp::this_fiber::sleep_until(deadline);
      return csp::clock::now();
    });
    REQUIRE(t.join() >= deadline);
  }
  SECTION("steady clock, a coarser duration") {
    const auto deadline =
        std::chrono::time_point_cast<std::chrono::milliseconds>(csp::clock::now()) + 12ms;
    csp::this_fiber::sleep_until(deadline);
    REQUIRE(csp::clock::now() >= deadline);
  }
  SECTION("system clock") {
    const auto t0 = csp::clock::now();
    csp::this_fiber::sleep_until(std::chrono::system_clock::now() + 15ms);
    REQUIRE(csp::clock::now() - t0 >= 15ms);
  }
  SECTION("a deadline in the past returns") {
    csp::this_fiber::sleep_until(csp::clock::now() - 1s);
    SUCCEED();
  }
}

TEST_CASE("this_fiber: other fibers of the thread run while one sleeps", "[this_fiber]") {
  SECTION("a sleeping spawned fiber") {
    std::vector<std::string> order;
    auto sleeper = csp::spawn([&order] {
      csp::this_fiber::sleep_for(20ms);
      order.emplace_back("sleeper");
    });
    auto other = csp::spawn([&order] {
      csp::this_fiber::yield();
      order.emplace_back("other");
    });
    sleeper.join();
    other.join();
    REQUIRE(order == std::vector<std::string>{"other", "sleeper"});
  }
  SECTION("the sleeping main fiber") {
    int steps = 0;
    csp::go([&steps] {
      for (int i = 0; i < 5; ++i) {
        ++steps;
        csp::this_fiber::yield();
      }
    });
    csp::this_fiber::sleep_for(20ms);
    REQUIRE(steps == 5);
  }
  SECTION("many sleepers at once, each sleeps at least its duration") {
    constexpr int sleepers = 20;
    std::vector<csp::task<bool>> tasks;
    for (int i = 0; i < sleepers; ++i) {
      tasks.push_back(csp::spawn([i] {
        const auto d = std::chrono::milliseconds(1 + i % 5);
        const auto t0 = csp::clock::now();
        csp::this_fiber::sleep_for(d);
        return csp::clock::now() - t0 >= d;
      }));
    }
    for (auto& t : tasks) REQUIRE(t.join());
  }
}

// ---------------------------------------------------------------------------------------
// csp::wait_group

TEST_CASE("wait_group: wait returns at once when the counter is zero", "[wait_group]") {
  csp::wait_group wg;
  wg.wait();
  wg.add(3);
  wg.add(-3);
  wg.wait();
  wg.add();
  wg.done();
  wg.wait();
  SUCCEED();
}

TEST_CASE("wait_group: wait does not return before the counter reaches zero", "[wait_group]") {
  csp::wait_group wg;
  wg.add(2);
  bool returned = false;
  auto w = csp::spawn([&] {
    wg.wait();
    returned = true;
  });
  csp::this_fiber::sleep_for(2ms);
  CHECK_FALSE(returned);
  wg.done();
  for (int i = 0; i < 10; ++i) csp::this_fiber::yield();
  csp::this_fiber::sleep_for(1ms);
  CHECK_FALSE(returned);
  wg.done();
  w.join();
  REQUIRE(returned);
}

TEST_CASE("wait_group: add making the counter negative throws csp::invalid_argument",
          "[wait_group]") {
  csp::wait_group wg;
  REQUIRE_THROWS_AS(wg.done(), csp::invalid_argument);
  REQUIRE_THROWS_AS(wg.add(-1), std::invalid_argument);
  wg.wait();  // still zero

  wg.add(2);
  REQUIRE_THROWS_AS(wg.add(-3), csp::invalid_argument);
  // The failed add changed nothing: the counter is still 2.
  wg.done();
  REQUIRE_THROWS_AS(wg.add(-2), csp::invalid_argument);  // counter is 1
  wg.done();
  wg.wait();
  REQUIRE_THROWS_AS(wg.done(), csp::invalid_argument);
}

TEST_CASE("wait_group: many fibers on one thread", "[wait_group]") {
  const int n = 200 * stress_scale_int();
  csp::wait_group wg;
  int finished = 0;
  wg.add(n);
  for (int i = 0; i < n; ++i) {
    csp::go([&, i] {
      if (i % 3 == 0) csp::this_fiber::sleep_for(1ms);
      if (i % 3 == 1) csp::this_fiber::yield();
      ++finished;
      wg.done();
    });
  }
  wg.wait();
  REQUIRE(finished == n);
}

TEST_CASE("wait_group: is reusable after reaching zero", "[wait_group]") {
  csp::wait_group wg;
  int rounds_done = 0;
  for (int round = 0; round < 3; ++round) {
    int finished = 0;
    wg.add(10);
    for (int i = 0; i < 10; ++i) {
      csp::go([&] {
        csp::this_fiber::yield();
        ++finished;
        wg.done();
      });
    }
    wg.wait();
    if (finished == 10) ++rounds_done;
  }
  REQUIRE(rounds_done == 3);
}

TEST_CASE("wait_group: fibers on several threads and plain threads", "[wait_group][threads]") {
  constexpr int fiber_threads = 4;
  const int fibers_per_thread = 25 * stress_scale_int();
  constexpr int plain_threads = 4;
  const int total = fiber_threads * fibers_per_thread + plain_threads;

  csp::wait_group wg;
  wg.add(total);
  std::atomic<int> finished{0};
  std::vector<int> seen_by_thread(fiber_threads, -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < fiber_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < fibers_per_thread; ++i) {
        csp::go([&, i] {
          if (i % 2 == 0) csp::this_fiber::sleep_for(1ms);
          csp::this_fiber::yield();
          finished.fetch_add(1);
          wg.done();
        });
      }
      wg.wait();  // this thread's main fiber waits too; its fibers run meanwhile
      seen_by_thread[static_cast<std::size_t>(t)] = finished.load();
    });
  }
  for (int t = 0; t < plain_threads; ++t) {
    threads.emplace_back([&] {
      std::this_thread::sleep_for(2ms);
      finished.fetch_add(1);
      wg.done();
    });
  }
  wg.wait();
  const int at_wait = finished.load();
  for (auto& th : threads) th.join();
  REQUIRE(at_wait == total);
  for (int seen : seen_by_thread) REQUIRE(seen == total);
}

TEST_CASE("wait_group: plain threads wait, a fiber counts down", "[wait_group][threads]") {
  csp::wait_group wg;
  wg.add(5);
  std::atomic<int> work{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      wg.wait();
      if (work.load() != 5) wrong.fetch_add(1);
    });
  }
  auto counter = csp::spawn([&] {
    for (int i = 0; i < 5; ++i) {
      csp::this_fiber::sleep_for(1ms);
      work.fetch_add(1);
      wg.done();
    }
  });
  counter.join();
  for (auto& th : waiters) th.join();
  REQUIRE(wrong == 0);
}

TEST_CASE("wait_group: may be destroyed as soon as wait returns", "[wait_group][threads]") {
  // Go's WaitGroup allows this; done() must not touch the group after the count hits zero
  // in a way that races with the waiter's destructor.
  const int rounds = 50 * stress_scale_int();
  for (int r = 0; r < rounds; ++r) {
    auto wg = std::make_unique<csp::wait_group>();
    wg->add(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([g = wg.get()] { g->done(); });
    wg->wait();
    wg.reset();
    for (auto& th : threads) th.join();
  }
  SUCCEED();
}

// ---------------------------------------------------------------------------------------
// Fibers on several threads and plain threads, over channels

namespace {

// Runs `body` on a new thread, either directly on its main fiber or on a spawned fiber.
template <class F>
std::thread start_side(bool as_fiber, F body) {
  return std::thread([as_fiber, body = std::move(body)]() mutable {
    if (as_fiber) {
      csp::spawn(std::move(body)).join();
    } else {
      body();
    }
  });
}

}  // namespace

TEST_CASE("ping-pong across threads over two rendezvous channels", "[threads][channels]") {
  const int rounds = 1000 * stress_scale_int();
  const bool a_fiber = GENERATE(true, false);
  const bool b_fiber = GENERATE(true, false);
  CAPTURE(a_fiber, b_fiber);

  auto [ping_tx, ping_rx] = csp::make_channel<int>();
  auto [pong_tx, pong_rx] = csp::make_channel<int>();
  std::atomic<int> a_errors{0};
  std::atomic<int> b_errors{0};
  std::atomic<int> a_rounds{0};
  std::atomic<int> b_rounds{0};
  std::atomic<bool> a_saw_close{false};

  std::thread a = start_side(a_fiber, [&, out = std::move(ping_tx), in = std::move(pong_rx)]() mutable {
    for (int i = 0; i < rounds; ++i) {
      if (!out.send(i)) {
        a_errors.fetch_add(1);
        return;
      }
      auto r = in.recv();
      if (!r || *r != 2 * i + 1) a_errors.fetch_add(1);
      a_rounds.fetch_add(1);
    }
    out.close();
    a_saw_close = in.recv().status() == csp::status::closed;  // b closes after the last ping
  });
  std::thread b = start_side(b_fiber, [&, in = std::move(ping_rx), out = std::move(pong_tx)]() mutable {
    int expected = 0;
    while (auto v = in.recv()) {
      if (*v != expected) b_errors.fetch_add(1);
      if (!out.send(2 * *v + 1)) b_errors.fetch_add(1);
      ++expected;
    }
    if (in.recv().status() != csp::status::closed) b_errors.fetch_add(1);
    b_rounds = expected;
    out.close();
  });
  a.join();
  b.join();
  REQUIRE(a_errors == 0);
  REQUIRE(b_errors == 0);
  REQUIRE(a_rounds == rounds);
  REQUIRE(b_rounds == rounds);
  REQUIRE(a_saw_close);
}

TEST_CASE("ping-pong between two fibers of the same thread", "[channels]") {
  const int rounds = 1000 * stress_scale_int();
  auto [ping_tx, ping_rx] = csp::make_channel<int>();
  auto [pong_tx, pong_rx] = csp::make_channel<int>();
  auto a = csp::spawn(
      [rounds](csp::sender<int> out, csp::receiver<int> in) {
        int errors = 0;
        for (int i = 0; i < rounds; ++i) {
          if (!out.send(i)) return errors + 1;
          auto r = in.recv();
          if (!r || *r != i + 1) ++errors;
        }
        return errors;
      },
      std::move(ping_tx), std::move(pong_rx));
  auto b = csp::spawn(
      [](csp::receiver<int> in, csp::sender<int> out) {
        int count = 0;
        while (auto v = in.recv()) {
          out.send(*v + 1);
          ++count;
        }
        return count;
      },
      std::move(ping_rx), std::move(pong_tx));
  REQUIRE(a.join() == 0);
  REQUIRE(b.join() == rounds);  // a's sender died with a: the channel closed
}

TEST_CASE("fan-in: fibers on several threads send to a plain-thread receiver", "[threads][channels]") {
  constexpr int threads = 4;
  constexpr int fibers_per_thread = 8;
  const int per_fiber = 100 * stress_scale_int();
  constexpr int producers = threads * fibers_per_thread;
  const std::size_t capacity = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{8});
  CAPTURE(capacity);

  auto [tx0, rx] = csp::make_channel<std::pair<int, int>>(capacity);
  std::vector<std::thread> pool;
  {
    auto tx = std::move(tx0);
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([t, tx, per_fiber] {
        std::vector<csp::task<void>> tasks;
        for (int f = 0; f < fibers_per_thread; ++f) {
          const int id = t * fibers_per_thread + f;
          tasks.push_back(csp::spawn(
              [id, per_fiber](csp::sender<std::pair<int, int>> out) {
                for (int i = 0; i < per_fiber; ++i) out.send(std::pair{id, i});
              },
              tx));
        }
        for (auto& tk : tasks) tk.join();
      });
    }
  }  // only the threads' copies remain: the channel closes once every producer is done

  std::vector<int> next(producers, 0);
  int out_of_order = 0;
  int total = 0;
  for (auto [id, seq] : rx) {
    auto& n = next[static_cast<std::size_t>(id)];
    if (seq != n) ++out_of_order;
    n = seq + 1;
    ++total;
  }
  for (auto& th : pool) th.join();
  REQUIRE(out_of_order == 0);
  REQUIRE(total == producers * per_fiber);
  for (int n : next) REQUIRE(n == per_fiber);
}

TEST_CASE("fan-out: a plain thread feeds fibers on several threads", "[threads][channels]") {
  constexpr int threads = 3;
  constexpr int fibers_per_thread = 4;
  const int values = 3000 * stress_scale_int();

  auto [tx, rx0] = csp::make_channel<int>(4);
  std::vector<std::vector<int>> got(threads * fibers_per_thread);
  std::vector<std::thread> pool;
  {
    auto rx = std::move(rx0);
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([t, rx, &got] {
        std::vector<csp::task<void>> tasks;
        for (int f = 0; f < fibers_per_thread; ++f) {
          auto& mine = got[static_cast<std::size_t>(t * fibers_per_thread + f)];
          tasks.push_back(csp::spawn(
              [&mine](csp::receiver<int> in) {
                for (int v : in) mine.push_back(v);
              },
              rx));
        }
      });  // the tasks' destructors join them
    }
  }
  int failed_sends = 0;
  for (int i = 0; i < values; ++i) {
    if (!tx.send(i)) ++failed_sends;
  }
  tx.close();
  for (auto& th : pool) th.join();
  REQUIRE(failed_sends == 0);

  std::vector<int> all;
  for (const auto& v : got) {
    REQUIRE(std::is_sorted(v.begin(), v.end()));  // one channel is FIFO
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int> want(static_cast<std::size_t>(values));
  std::iota(want.begin(), want.end(), 0);
  REQUIRE(all == want);
}
