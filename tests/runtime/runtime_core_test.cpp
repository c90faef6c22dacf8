// The fiber runtime: csp::runtime / csp::run over 1..N worker threads, fibers really running
// in parallel, channel and select contracts between runtime fibers, run() waiting for every
// fiber, task joins, csp::scope / csp::scoped, csp::stack kinds, and a 20,000-fiber chain.
//
// Catch2 is not thread-safe and the root fiber runs on a worker thread: fibers only record
// what they see, run() hands it back, and every assertion runs on the test thread.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <csp/csp.hpp>

#include "runtime_support.hpp"

using namespace std::chrono_literals;
using csp_rt_test::boom_error;
using csp_rt_test::stress_scale_int;

namespace {

// A channel of the given capacity: -1 unbounded, 0 rendezvous, else bounded.
template <class T>
csp::channel_pair<T> make_chan(int capacity) {
  if (capacity < 0) return csp::make_channel<T>(csp::unbounded);
  return csp::make_channel<T>(capacity);
}

std::string capacity_name(int capacity) {
  if (capacity < 0) return "unbounded";
  if (capacity == 0) return "rendezvous";
  return "bounded(" + std::to_string(capacity) + ")";
}

// P producers send 0..per_producer-1 over one channel; the root sums what arrives.
long small_workload(int producers, int per_producer) {
  auto [tx, rx] = csp::make_channel<int>(4);
  for (int p = 0; p < producers; ++p) {
    csp::go(
        [per_producer](csp::sender<int> out) {
          for (int i = 0; i < per_producer; ++i) out.send(i);
        },
        tx);
  }
  tx = csp::sender<int>{};  // the producers hold the only senders now
  long sum = 0;
  for (int v : rx) sum += v;
  return sum;
}

long small_workload_expected(int producers, int per_producer) {
  return static_cast<long>(producers) * per_producer * (per_producer - 1) / 2;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Lifecycle

TEST_CASE("runtime: started and stopped repeatedly with 1, 2 and 4 threads", "[runtime][lifecycle]") {
  for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{4}}) {
    CAPTURE(n);
    for (int round = 0; round < 8; ++round) {
      CAPTURE(round);
      csp::runtime rt{csp::threads(n)};
      REQUIRE(rt.thread_count() == n);
      // One runtime runs several roots, one after another.
      for (int again = 0; again < 3; ++again) {
        REQUIRE(rt.run(small_workload, 4, 200) == small_workload_expected(4, 200));
      }
    }
    // A runtime that never runs anything starts and stops cleanly too.
    for (int round = 0; round < 8; ++round) {
      csp::runtime idle{csp::threads(n)};
      REQUIRE(idle.fibers().empty());
    }
    REQUIRE(csp::run(n, small_workload, 3, 100) == small_workload_expected(3, 100));
  }
}

TEST_CASE("runtime: two runtimes side by side, each run() from its own thread", "[runtime][lifecycle]") {
  struct outcome {
    long sum = -1;
    bool overlapped = false;
    std::exception_ptr error;
  };
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    std::atomic<int> roots_running{0};
    auto drive = [&roots_running](std::size_t n, outcome& out) {
      try {
        csp::runtime rt{csp::threads(n)};
        out.overlapped = rt.run([&roots_running] {
          // Both roots must be alive at once: wait (without blocking the worker) for the other.
          roots_running.fetch_add(1);
          const auto give_up = csp_rt_test::give_up_deadline();
          while (roots_running.load() < 2 && std::chrono::steady_clock::now() < give_up) {
            csp::this_fiber::sleep_for(1ms);
          }
          return roots_running.load() >= 2;
        });
        out.sum = rt.run(small_workload, 4, 500);
      } catch (...) {
        out.error = std::current_exception();
      }
    };
    outcome a, b;
    std::thread ta(drive, std::size_t{2}, std::ref(a));
    std::thread tb(drive, round == 0 ? std::size_t{1} : std::size_t{4}, std::ref(b));
    ta.join();
    tb.join();
    if (a.error) std::rethrow_exception(a.error);
    if (b.error) std::rethrow_exception(b.error);
    REQUIRE(a.overlapped);
    REQUIRE(b.overlapped);
    REQUIRE(a.sum == small_workload_expected(4, 500));
    REQUIRE(b.sum == small_workload_expected(4, 500));
  }
}

TEST_CASE("csp::run returns the root's value", "[runtime][run]") {
  REQUIRE(csp::run(1, [] { return 42; }) == 42);
  REQUIRE(csp::run(2, [](int a, int b) { return a + b; }, 40, 2) == 42);
  REQUIRE(csp::run(4, [](const std::string& s) { return s + "!"; }, std::string("hi")) == "hi!");

  // Move-only results come out of run.
  std::unique_ptr<int> p = csp::run(2, [] { return std::make_unique<int>(7); });
  REQUIRE(p);
  REQUIRE(*p == 7);

  // void roots.
  std::atomic<bool> ran{false};
  csp::run(2, [&ran] { ran = true; });
  REQUIRE(ran);

  // The same through a runtime object, several times.
  csp::runtime rt{csp::threads(2)};
  for (int i = 0; i < 5; ++i) REQUIRE(rt.run([i] { return i * i; }) == i * i);
}

TEST_CASE("csp::run rethrows the root's exception", "[runtime][run]") {
  REQUIRE_THROWS_AS(csp::run(2, []() -> int { throw boom_error("root failed"); }), boom_error);
  REQUIRE_THROWS_WITH(csp::run(1, [] { throw boom_error("root failed"); }), "root failed");

  // A runtime stays usable after a root threw.
  csp::runtime rt{csp::threads(2)};
  REQUIRE_THROWS_AS(rt.run([] { throw boom_error("first"); }), boom_error);
  REQUIRE(rt.run(small_workload, 2, 50) == small_workload_expected(2, 50));

  // An exception a task rethrows in the root leaves run() too, after every fiber ended.
  std::atomic<bool> other_finished{false};
  REQUIRE_THROWS_WITH(rt.run([&other_finished] {
                        csp::go([&other_finished] {
                          csp::this_fiber::sleep_for(20ms);
                          other_finished = true;
                        });
                        csp::spawn([] { throw boom_error("from a task"); }).join();
                      }),
                      "from a task");
  REQUIRE(other_finished);
}

TEST_CASE("runtime: bad arguments throw csp::invalid_argument", "[runtime][errors]") {
  REQUIRE_THROWS_AS(csp::runtime{csp::threads(0)}, csp::invalid_argument);
  REQUIRE_THROWS_AS(csp::run(0, [] { return 1; }), csp::invalid_argument);

  // run() from a fiber of the same runtime would wait for itself.
  csp::runtime rt{csp::threads(2)};
  const bool refused = rt.run([&rt] {
    try {
      rt.run([] {});
    } catch (const csp::invalid_argument&) {
      return true;
    }
    return false;
  });
  REQUIRE(refused);
}

// ---------------------------------------------------------------------------------------
// Parallelism: fibers spread over the worker threads

namespace {

struct spread_seen {
  std::size_t distinct_threads = 0;
  int max_simultaneous = 0;  // fibers seen spinning at the same instant
};

// `fibers` fibers (go or spawn) meet at a barrier built from channels, so all are alive at
// once; then each spins, without yielding, until it sees another fiber spinning at the same
// time. Fibers of one thread never run at the same time, so seeing two spinners proves that
// two worker threads run fibers in parallel. A spinner gives up after a generous time.
spread_seen spread_over(std::size_t threads, int fibers, bool use_spawn) {
  return csp::run(threads, [fibers, use_spawn] {
    std::atomic<int> spinning{0};
    std::atomic<int> max_spinning{0};
    std::atomic<bool> overlap{false};
    std::mutex ids_mutex;  // held only for a push_back: never across a fiber switch
    std::vector<std::thread::id> ids;

    auto [arrive_tx, arrive_rx] = csp::make_channel<int>(csp::unbounded);
    auto [release_tx, release_rx] = csp::make_channel<int>();
    csp::wait_group finished;

    auto body = [&](csp::sender<int> arrive, csp::receiver<int> release, int i) {
      arrive.send(i);
      release.recv();  // returns closed once the root has seen every fiber arrive
      const int now = spinning.fetch_add(1) + 1;
      int seen = max_spinning.load();
      while (seen < now && !max_spinning.compare_exchange_weak(seen, now)) {
      }
      const auto give_up = std::chrono::steady_clock::now() + 10s;
      while (!overlap.load() && std::chrono::steady_clock::now() < give_up) {
        if (spinning.load() >= 2) {
          overlap = true;
          int peak = max_spinning.load();
          while (peak < 2 && !max_spinning.compare_exchange_weak(peak, 2)) {
          }
        }
      }
      {
        std::lock_guard lk(ids_mutex);
        ids.push_back(std::this_thread::get_id());
      }
      spinning.fetch_sub(1);
    };

    std::vector<csp::task<void>> tasks;
    for (int i = 0; i < fibers; ++i) {
      if (use_spawn) {
        tasks.push_back(csp::spawn(body, arrive_tx, release_rx, i));
      } else {
        finished.add(1);
        csp::go(
            [&body, &finished](csp::sender<int> a, csp::receiver<int> r, int k) {
              body(std::move(a), std::move(r), k);
              finished.done();
            },
            arrive_tx, release_rx, i);
      }
    }
    for (int i = 0; i < fibers; ++i) arrive_rx.recv();
    release_tx.close();
    for (auto& t : tasks) t.join();
    finished.wait();

    spread_seen out;
    std::sort(ids.begin(), ids.end());
    out.distinct_threads =
        static_cast<std::size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
    out.max_simultaneous = max_spinning.load();
    return out;
  });
}

}  // namespace

TEST_CASE("runtime: fibers of a multi-threaded runtime run on several threads in parallel",
          "[runtime][parallel]") {
  const bool use_spawn = GENERATE(false, true);
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(use_spawn, threads);
  const spread_seen seen = spread_over(threads, 16, use_spawn);
  CHECK(seen.max_simultaneous >= 2);
  CHECK(seen.distinct_threads > 1);
  CHECK(seen.distinct_threads <= threads);
}

TEST_CASE("runtime: a one-thread runtime runs every fiber on that one thread", "[runtime][parallel]") {
  const std::size_t distinct = csp::run(1, [] {
    std::vector<csp::task<std::thread::id>> tasks;
    for (int i = 0; i < 32; ++i) {
      tasks.push_back(csp::spawn([] {
        csp::this_fiber::yield();
        csp::this_fiber::sleep_for(1ms);
        return std::this_thread::get_id();
      }));
    }
    std::set<std::thread::id> ids{std::this_thread::get_id()};
    for (auto& t : tasks) ids.insert(t.join());
    return ids.size();
  });
  REQUIRE(distinct == 1);
}

// ---------------------------------------------------------------------------------------
// Channel contracts between runtime fibers

namespace {

struct item {
  int producer;
  int seq;
};

// P producers, C consumers over one channel inside a runtime; returns what each consumer got,
// in order, plus the number of sends that failed.
struct mpmc_outcome {
  std::vector<std::vector<item>> per_consumer;
  int failed_sends = 0;
};

mpmc_outcome mpmc_in_runtime(std::size_t threads, int capacity, int producers, int consumers,
                             int per_producer) {
  return csp::run(threads, [=] {
    auto [tx, rx] = make_chan<item>(capacity);
    std::atomic<int> failed{0};
    std::vector<csp::task<void>> senders;
    for (int p = 0; p < producers; ++p) {
      senders.push_back(csp::spawn(
          [p, per_producer, &failed](csp::sender<item> out) {
            for (int s = 0; s < per_producer; ++s) {
              if (!out.send(item{p, s})) failed.fetch_add(1);
              if (s % 64 == 0) csp::this_fiber::yield();
            }
          },
          tx));
    }
    tx = csp::sender<item>{};  // producers hold the last senders: the channel closes after them
    std::vector<csp::task<std::vector<item>>> receivers;
    for (int c = 0; c < consumers; ++c) {
      receivers.push_back(csp::spawn([](csp::receiver<item> in) {
        std::vector<item> got;
        for (item v : in) got.push_back(v);
        return got;
      }, rx));
    }
    rx = csp::receiver<item>{};
    mpmc_outcome out;
    for (auto& t : senders) t.join();
    for (auto& t : receivers) out.per_consumer.push_back(t.join());
    out.failed_sends = failed.load();
    return out;
  });
}

}  // namespace

TEST_CASE("runtime: MPMC conservation and per-producer FIFO across worker threads",
          "[runtime][channels]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  const int capacity = GENERATE(0, 1, 7, -1);
  CAPTURE(threads, capacity_name(capacity));
  constexpr int producers = 4;
  constexpr int consumers = 3;
  const int per_producer = 3000 * stress_scale_int();

  const mpmc_outcome out = mpmc_in_runtime(threads, capacity, producers, consumers, per_producer);
  REQUIRE(out.failed_sends == 0);
  REQUIRE(out.per_consumer.size() == static_cast<std::size_t>(consumers));

  std::vector<std::vector<int>> count(producers, std::vector<int>(static_cast<std::size_t>(per_producer)));
  bool fifo = true;
  bool in_range = true;
  for (const auto& got : out.per_consumer) {
    std::vector<int> last(producers, -1);
    for (const item& v : got) {
      if (v.producer < 0 || v.producer >= producers || v.seq < 0 || v.seq >= per_producer) {
        in_range = false;
        continue;
      }
      const auto p = static_cast<std::size_t>(v.producer);
      if (v.seq <= last[p]) fifo = false;  // one consumer sees each producer's values in order
      last[p] = v.seq;
      ++count[p][static_cast<std::size_t>(v.seq)];
    }
  }
  REQUIRE(in_range);
  REQUIRE(fifo);
  std::size_t wrong = 0;
  for (const auto& per : count) {
    wrong += static_cast<std::size_t>(std::count_if(per.begin(), per.end(), [](int c) { return c != 1; }));
  }
  REQUIRE(wrong == 0);  // every value exactly once
}

TEST_CASE("runtime: a rendezvous hands each value to a partner on another fiber", "[runtime][channels]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  // Ping-pong over two rendezvous channels: every round trip completes, in order.
  const int rounds = 2000 * stress_scale_int();
  const int last = csp::run(threads, [rounds] {
    auto [ping_tx, ping_rx] = csp::make_channel<int>();
    auto [pong_tx, pong_rx] = csp::make_channel<int>();
    csp::go(
        [](csp::receiver<int> in, csp::sender<int> out) {
          while (auto v = in.recv()) out.send(*v + 1);
        },
        ping_rx, pong_tx);
    pong_tx = csp::sender<int>{};
    int v = 0;
    for (int i = 0; i < rounds; ++i) {
      if (!ping_tx.send(v)) return -1;
      auto r = pong_rx.recv();
      if (!r || *r != v + 1) return -2;
      v = *r;
    }
    ping_tx.close();
    return v;
  });
  REQUIRE(last == rounds);
}

TEST_CASE("runtime: a bounded channel never holds more than its capacity", "[runtime][channels]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  constexpr std::size_t capacity = 5;
  struct seen {
    std::size_t max_size = 0;
    long sum = 0;
  };
  const int n = 4000 * stress_scale_int();
  const seen s = csp::run(threads, [n] {
    auto [tx, rx] = csp::make_channel<int>(capacity);
    for (int p = 0; p < 3; ++p) {
      csp::go(
          [n](csp::sender<int> out) {
            for (int i = 1; i <= n; ++i) out.send(i);
          },
          tx);
    }
    tx = csp::sender<int>{};
    seen out;
    for (int v : rx) {
      out.max_size = std::max(out.max_size, rx.size());
      out.sum += v;
      if (v % 97 == 0) csp::this_fiber::sleep_for(50us);  // let the buffer fill up
    }
    return out;
  });
  REQUIRE(s.max_size <= capacity);
  REQUIRE(s.sum == 3L * n * (n + 1) / 2);
}

TEST_CASE("runtime: select fan-in over producers on other threads", "[runtime][select]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  const int per_producer = 2000 * stress_scale_int();

  SECTION("csp::select over three channels of different flavors, closed ones switched off") {
    struct fan_in {
      std::vector<std::vector<int>> got{3};
      int closed_seen = 0;
      long selects = 0;
    };
    const fan_in f = csp::run(threads, [per_producer] {
      auto [tx0, rx0] = make_chan<int>(0);
      auto [tx1, rx1] = make_chan<int>(1);
      auto [tx2, rx2] = make_chan<int>(-1);
      auto produce = [per_producer](csp::sender<int> out) {
        for (int i = 0; i < per_producer; ++i) out.send(i);
      };
      csp::go(produce, std::move(tx0));
      csp::go(produce, std::move(tx1));
      csp::go(produce, std::move(tx2));
      fan_in out;
      std::vector<csp::receiver<int>> rx{rx0, rx1, rx2};
      rx0 = rx1 = rx2 = csp::receiver<int>{};
      while (out.closed_seen < 3) {
        int closed = -1;
        auto on = [&](std::size_t k) {
          return [&out, &closed, k](csp::result<int> v) {
            if (v) {
              out.got[k].push_back(*v);
            } else {
              closed = static_cast<int>(k);
            }
          };
        };
        csp::select(csp::on_recv(rx[0], on(0)), csp::on_recv(rx[1], on(1)),
                    csp::on_recv(rx[2], on(2)));
        ++out.selects;
        if (closed >= 0) {
          rx[static_cast<std::size_t>(closed)] = csp::receiver<int>{};  // an empty handle is never ready
          ++out.closed_seen;
        }
      }
      return out;
    });
    std::vector<int> want(static_cast<std::size_t>(per_producer));
    std::iota(want.begin(), want.end(), 0);
    for (const auto& g : f.got) REQUIRE(g == want);  // all, once each, in order
    REQUIRE(f.selects == 3L * per_producer + 3);     // one case fires per select
  }

  SECTION("csp::selector over eight producers") {
    constexpr int producers = 8;
    const std::vector<std::vector<int>> got = csp::run(threads, [per_producer] {
      auto [done_tx, done_rx] = csp::make_channel<int>();
      csp::selector sel;
      std::vector<std::vector<int>> out(producers);
      int closed = 0;
      for (int p = 0; p < producers; ++p) {
        auto [tx, rx] = make_chan<int>(p % 3 == 0 ? 0 : p);
        // Each producer stays alive (blocked on `done`) until the root has everything, so
        // no case fires "closed" during the fan-in.
        csp::go(
            [per_producer](csp::sender<int> o, csp::receiver<int> done) {
              for (int i = 0; i < per_producer; ++i) o.send(i);
              done.recv();
            },
            tx, done_rx);
        sel.on_recv(rx, [&out, &closed, p](csp::result<int> v) {
          if (v) {
            out[static_cast<std::size_t>(p)].push_back(*v);
          } else {
            ++closed;
          }
        });
      }
      for (long i = 0; i < static_cast<long>(producers) * per_producer; ++i) sel.select();
      done_tx.close();
      if (closed != 0) out.clear();
      return out;
    });
    REQUIRE(got.size() == static_cast<std::size_t>(producers));
    std::vector<int> want(static_cast<std::size_t>(per_producer));
    std::iota(want.begin(), want.end(), 0);
    for (const auto& g : got) REQUIRE(g == want);
  }
}

// ---------------------------------------------------------------------------------------
// run() waits for every fiber started inside it

TEST_CASE("runtime: run returns only after every fiber started inside it has finished",
          "[runtime][run]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);

  SECTION("a detached fiber that sleeps 20 ms") {
    std::atomic<bool> flag{false};
    csp::run(threads, [&flag] {
      csp::go([&flag] {
        csp::this_fiber::sleep_for(20ms);
        flag = true;
      });
    });
    REQUIRE(flag);
  }

  SECTION("fibers started by fibers, by detached tasks, after the root returned a value") {
    std::atomic<int> finished{0};
    const int v = csp::run(threads, [&finished] {
      for (int i = 0; i < 10; ++i) {
        csp::go([&finished, i] {
          csp::this_fiber::sleep_for(std::chrono::milliseconds(i));
          csp::go([&finished] {
            csp::this_fiber::sleep_for(10ms);
            csp::spawn([&finished] {
              csp::this_fiber::sleep_for(5ms);
              finished.fetch_add(1);
            }).detach();
            finished.fetch_add(1);
          });
          finished.fetch_add(1);
        });
      }
      return 5;
    });
    REQUIRE(v == 5);
    REQUIRE(finished.load() == 30);
  }

  SECTION("a fiber still blocked on a channel that a sleeping fiber will feed") {
    std::atomic<int> received{-1};
    csp::run(threads, [&received] {
      auto [tx, rx] = csp::make_channel<int>();
      csp::go([&received](csp::receiver<int> in) { received = in.recv().value(); }, rx);
      csp::go(
          [](csp::sender<int> out) {
            csp::this_fiber::sleep_for(30ms);
            out.send(99);
          },
          std::move(tx));
    });
    REQUIRE(received.load() == 99);
  }
}

namespace {

// Holds a sender and lets it go only after a pause: a capture whose destruction is slow, so
// a run() that returns before its fibers' captures are destroyed sees the channel open.
class slow_sender_holder {
 public:
  slow_sender_holder(csp::sender<int> tx, std::shared_ptr<std::atomic<int>> destroyed)
      : tx_(std::move(tx)), destroyed_(std::move(destroyed)) {}
  slow_sender_holder(slow_sender_holder&& o) noexcept
      : tx_(std::move(o.tx_)), destroyed_(std::move(o.destroyed_)) {}
  slow_sender_holder& operator=(slow_sender_holder&&) = delete;
  ~slow_sender_holder() {
    if (!destroyed_) return;  // moved from
    std::this_thread::sleep_for(30ms);
    destroyed_->fetch_add(1);
    // tx_ dies after this body: the channel closes only now.
  }

 private:
  csp::sender<int> tx_;
  std::shared_ptr<std::atomic<int>> destroyed_;
};

}  // namespace

TEST_CASE("runtime: run returns only after every fiber's callable and captures are destroyed",
          "[runtime][run][captures]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  auto destroyed = std::make_shared<std::atomic<int>>(0);
  auto [tx, rx] = csp::make_channel<int>();
  csp::runtime rt{csp::threads(threads)};

  SECTION("the root's capture holds the last sender") {
    rt.run([h = slow_sender_holder(std::move(tx), destroyed)] {});
    REQUIRE(destroyed->load() == 1);
  }
  SECTION("a detached fiber's capture holds the last sender") {
    rt.run([&tx, destroyed] {
      csp::go([h = slow_sender_holder(std::move(tx), destroyed)] {});
    });
    REQUIRE(destroyed->load() == 1);
  }
  SECTION("a detached task's bound argument holds the last sender") {
    rt.run([&tx, destroyed] {
      csp::spawn([](const slow_sender_holder&) {}, slow_sender_holder(std::move(tx), destroyed))
          .detach();
    });
    REQUIRE(destroyed->load() == 1);
  }
  SECTION("fibers started by fibers, each holding a copy of the sender") {
    rt.run([&tx, destroyed] {
      for (int i = 0; i < 8; ++i) {
        csp::go([h = slow_sender_holder(tx, destroyed)] {
          csp::this_fiber::yield();
        });
      }
      tx = {};
    });
    REQUIRE(destroyed->load() == 8);
  }
  // The last sender is gone: the channel is closed, not just empty.
  REQUIRE(rx.try_recv().status() == csp::status::closed);
}

TEST_CASE("runtime: run accepts move-only callables and arguments", "[runtime][run]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
  csp::runtime rt{csp::threads(threads)};
  REQUIRE(rt.run([p = std::make_unique<int>(7)] { return *p; }) == 7);
  REQUIRE(rt.run([](std::unique_ptr<int> p) { return *p + 1; }, std::make_unique<int>(7)) == 8);
  REQUIRE(csp::run(threads, [p = std::make_unique<int>(9)]() mutable { return std::move(p); }) != nullptr);
}

// ---------------------------------------------------------------------------------------
// task joins inside a runtime

TEST_CASE("runtime: task join returns values and rethrows", "[runtime][task]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);

  struct seen {
    long sum = 0;
    std::string error;
    bool empty_handle_thrown = false;
    std::string moved;
  };
  const seen s = csp::run(threads, [] {
    seen out;
    std::vector<csp::task<int>> tasks;
    for (int i = 0; i < 100; ++i) {
      tasks.push_back(csp::spawn(
          [](int k) {
            if (k % 7 == 0) csp::this_fiber::sleep_for(1ms);
            return k * 2;
          },
          i));
    }
    // Joined in reverse start order: each join waits for its own task only.
    for (auto it = tasks.rbegin(); it != tasks.rend(); ++it) out.sum += it->join();

    auto failing = csp::spawn([]() -> int {
      csp::this_fiber::sleep_for(2ms);
      throw boom_error("task failed");
    });
    try {
      failing.join();
    } catch (const boom_error& e) {
      out.error = e.what();
    }
    try {
      failing.join();  // already joined
    } catch (const csp::empty_handle&) {
      out.empty_handle_thrown = true;
    }

    // Move-only values come back through join, also from nested tasks.
    auto outer = csp::spawn([] {
      auto inner = csp::spawn([] { return std::make_unique<std::string>("nested"); });
      return inner.join();
    });
    out.moved = *outer.join();
    return out;
  });
  REQUIRE(s.sum == 2L * (99 * 100 / 2));
  REQUIRE(s.error == "task failed");
  REQUIRE(s.empty_handle_thrown);
  REQUIRE(s.moved == "nested");
}

namespace {
long fib_tasks(int n) {
  if (n < 2) return n;
  auto left = csp::spawn(fib_tasks, n - 1);
  const long right = fib_tasks(n - 2);
  return left.join() + right;
}
}  // namespace

TEST_CASE("runtime: recursive spawn/join trees across threads", "[runtime][task]") {
  const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  REQUIRE(csp::run(threads, fib_tasks, 17) == 1597);
}

// ---------------------------------------------------------------------------------------
// csp::scope and csp::scoped

TEST_CASE("runtime: csp::scoped joins every fiber it started", "[runtime][scope]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  struct seen {
    int done_when_scoped_returned = -1;
    long sum = 0;
  };
  const seen s = csp::run(threads, [] {
    std::atomic<int> done{0};
    std::vector<long> slots(50, 0);  // borrowed by the scope's fibers
    csp::scoped([&](csp::scope& sc) {
      for (std::size_t i = 0; i < slots.size(); ++i) {
        sc.go([&, i] {
          csp::this_fiber::sleep_for(std::chrono::milliseconds(i % 5));
          slots[i] = static_cast<long>(i);
          done.fetch_add(1);
        });
      }
    });
    seen out;
    out.done_when_scoped_returned = done.load();
    out.sum = std::accumulate(slots.begin(), slots.end(), 0L);
    return out;
  });
  REQUIRE(s.done_when_scoped_returned == 50);
  REQUIRE(s.sum == 49 * 50 / 2);
}

TEST_CASE("runtime: csp::scoped rethrows the first failure in time", "[runtime][scope]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  std::atomic<bool> slow_finished{false};
  std::atomic<bool> bystander_finished{false};
  REQUIRE_THROWS_WITH(csp::run(threads,
                               [&] {
                                 auto [fast_threw_tx, fast_threw_rx] =
                                     csp::make_channel<int>(csp::unbounded);
                                 csp::scoped([&](csp::scope& s) {
                                   // Started first, fails last: 50 ms after the fast one.
                                   s.go([&slow_finished](csp::receiver<int> signal) {
                                     signal.recv();
                                     csp::this_fiber::sleep_for(50ms);
                                     slow_finished = true;
                                     throw boom_error("slow failure");
                                   }, fast_threw_rx);
                                   s.go([&bystander_finished] {
                                     csp::this_fiber::sleep_for(20ms);
                                     bystander_finished = true;
                                   });
                                   s.go([](csp::sender<int> signal) {
                                     csp::this_fiber::sleep_for(1ms);
                                     signal.send(1);
                                     throw boom_error("fast failure");
                                   }, fast_threw_tx);
                                 });
                               }),
                      "fast failure");
  REQUIRE(slow_finished);  // a failure does not stop the others; all were joined
  REQUIRE(bystander_finished);
}

TEST_CASE("runtime: csp::scoped: the body's own exception wins, after the fibers are joined",
          "[runtime][scope]") {
  std::atomic<bool> fiber_finished{false};
  REQUIRE_THROWS_WITH(csp::run(2,
                               [&fiber_finished] {
                                 csp::scoped([&fiber_finished](csp::scope& s) {
                                   s.go([&fiber_finished] {
                                     csp::this_fiber::sleep_for(20ms);
                                     fiber_finished = true;
                                     throw boom_error("fiber failure");
                                   });
                                   throw boom_error("body failure");
                                 });
                               }),
                      "body failure");
  REQUIRE(fiber_finished);
}

TEST_CASE("runtime: csp::scope::join is reusable", "[runtime][scope]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  struct seen {
    std::vector<std::string> errors;  // "" for a join that did not throw
    std::vector<int> done_after_join;
  };
  const seen s = csp::run(threads, [] {
    seen out;
    std::atomic<int> done{0};
    csp::scope sc;
    auto join = [&] {
      try {
        sc.join();
        out.errors.emplace_back();
      } catch (const boom_error& e) {
        out.errors.emplace_back(e.what());
      }
      out.done_after_join.push_back(done.load());
    };
    // Round 1: one failure among five.
    for (int i = 0; i < 5; ++i) {
      sc.go([&done, i] {
        csp::this_fiber::sleep_for(1ms);
        done.fetch_add(1);
        if (i == 3) throw boom_error("round 1");
      });
    }
    join();
    // Round 2: no failure (the round-1 error was consumed by the first join).
    for (int i = 0; i < 5; ++i) sc.go([&done] { done.fetch_add(1); });
    join();
    // Round 3: fails again.
    sc.go([&done] {
      done.fetch_add(1);
      throw boom_error("round 3");
    });
    join();
    // Round 4: a join with nothing started.
    join();
    return out;
  });
  REQUIRE(s.errors == std::vector<std::string>{"round 1", "", "round 3", ""});
  REQUIRE(s.done_after_join == std::vector<int>{5, 10, 11, 11});
}

TEST_CASE("runtime: fibers added to a scope by its own fibers are joined too", "[runtime][scope]") {
  SECTION("one thread: fibers add more while the scope is being joined (three levels)") {
    // With one worker, scope fibers run only while the root waits in join(), so every
    // s.go() below happens during the join, and the join must pick them up.
    const int joined_at_end = csp::run(1, [] {
      std::atomic<int> done{0};
      csp::scope s;
      for (int i = 0; i < 3; ++i) {
        s.go([&s, &done] {
          for (int j = 0; j < 3; ++j) {
            s.go([&s, &done] {
              csp::this_fiber::sleep_for(2ms);
              s.go([&done] {
                csp::this_fiber::sleep_for(5ms);
                done.fetch_add(1);
              });
              done.fetch_add(1);
            });
          }
          done.fetch_add(1);
        });
      }
      s.join();
      return done.load();
    });
    REQUIRE(joined_at_end == 3 + 9 + 9);
  }

  SECTION("several threads: a scope fiber adds fibers (one adder at a time)") {
    // scope::go is not thread-safe: the root stops adding and waits until the adder is
    // done adding, so exactly one fiber adds at a time.
    const std::size_t threads = GENERATE(std::size_t{2}, std::size_t{4});
    CAPTURE(threads);
    const int joined_at_end = csp::run(threads, [] {
      std::atomic<int> done{0};
      auto [added_tx, added_rx] = csp::make_channel<int>(1);
      csp::scoped([&](csp::scope& s) {
        s.go(
            [&s, &done](csp::sender<int> added) {
              for (int j = 0; j < 20; ++j) {
                s.go([&done, j] {
                  csp::this_fiber::sleep_for(std::chrono::milliseconds(j % 4));
                  done.fetch_add(1);
                });
              }
              added.send(1);  // the root may touch the scope again from here on
              csp::this_fiber::sleep_for(10ms);
              done.fetch_add(1);
            },
            added_tx);
        added_rx.recv();
      });
      return done.load();
    });
    REQUIRE(joined_at_end == 21);
  }
}

// ---------------------------------------------------------------------------------------
// Stacks

namespace {
// Touches about `bytes` of the calling fiber's stack (2 KiB frames), so that a fiber whose
// stack were smaller than asked for would show. Returns 0.
int touch_stack(std::size_t bytes) {
  volatile char frame[2048];
  for (std::size_t i = 0; i < sizeof frame; i += 64) frame[i] = static_cast<char>(i);
  int deeper = 0;
  if (bytes > sizeof frame) deeper = touch_stack(bytes - sizeof frame);
  return deeper + frame[64] - frame[64];
}
}  // namespace

TEST_CASE("runtime: a runtime's default stack serves its fibers", "[runtime][stack]") {
  csp::runtime_options options;
  options.default_stack = csp::stack::fixed(std::max<std::size_t>(32 * 1024, csp::stack::minimum_size()));
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
  csp::runtime rt{csp::threads(threads), options};
  const long sum = rt.run([] {
    auto [tx, rx] = csp::make_channel<int>(8);
    std::vector<csp::task<int>> tasks;
    for (int i = 0; i < 200; ++i) {
      csp::go(
          [i](csp::sender<int> out) {
            (void)touch_stack(8 * 1024);
            out.send(i);
          },
          tx);
      tasks.push_back(csp::spawn([] { return touch_stack(8 * 1024) + 1; }));
    }
    tx = csp::sender<int>{};
    long s = 0;
    for (int v : rx) s += v;
    for (auto& t : tasks) s += t.join();
    // scope fibers use it too.
    std::atomic<int> scoped_runs{0};
    csp::scoped([&scoped_runs](csp::scope& sc) {
      for (int i = 0; i < 20; ++i) sc.go([&scoped_runs] { scoped_runs.fetch_add(1 + touch_stack(4096)); });
    });
    return s + scoped_runs.load();
  });
  REQUIRE(sum == 199L * 200 / 2 + 200 + 20);
}

TEST_CASE("runtime: per-spawn stacks: fixed, pooled and guarded", "[runtime][stack]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  struct seen {
    long spawned = 0;
    int went = 0;
    int scoped = 0;
  };
  const seen s = csp::run(threads, [] {
    seen out;
    const csp::stack pooled = csp::stack::pooled(64 * 1024);
    const csp::stack guarded = csp::stack::guarded(64 * 1024);
    const csp::stack fixed = csp::stack::fixed(64 * 1024);
    // Several waves, so the pool recycles the stacks of finished fibers.
    for (int wave = 0; wave < 5; ++wave) {
      std::vector<csp::task<int>> tasks;
      for (int i = 0; i < 40; ++i) {
        tasks.push_back(csp::spawn(pooled, [](int k) { return k + touch_stack(16 * 1024); }, i));
        tasks.push_back(csp::spawn(fixed, [](int k) { return k + touch_stack(16 * 1024); }, i));
        tasks.push_back(csp::spawn(guarded, [](int k) { return k + touch_stack(16 * 1024); }, i));
      }
      for (auto& t : tasks) out.spawned += t.join();
    }
    std::atomic<int> went{0};
    csp::wait_group wg;
    for (int i = 0; i < 30; ++i) {
      wg.add(1);
      csp::go(i % 3 == 0 ? guarded : i % 3 == 1 ? pooled : fixed, [&went, &wg] {
        (void)touch_stack(16 * 1024);
        went.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
    out.went = went.load();
    std::atomic<int> scoped{0};
    csp::scoped([&](csp::scope& sc) {
      for (int i = 0; i < 10; ++i) sc.go(guarded, [&scoped] { scoped.fetch_add(1); });
      for (int i = 0; i < 10; ++i) sc.go(pooled, [&scoped] { scoped.fetch_add(1); });
    });
    out.scoped = scoped.load();
    return out;
  });
  REQUIRE(s.spawned == 5L * 3 * (39 * 40 / 2));
  REQUIRE(s.went == 30);
  REQUIRE(s.scoped == 20);
}

TEST_CASE("runtime: csp::stack rejects sizes below the platform minimum", "[runtime][stack]") {
  REQUIRE_THROWS_AS(csp::stack::fixed(1), csp::invalid_argument);
  REQUIRE_THROWS_AS(csp::stack::pooled(1), csp::invalid_argument);
  REQUIRE_THROWS_AS(csp::stack::guarded(1), csp::invalid_argument);
  REQUIRE_THROWS_AS(csp::stack::fixed(0), csp::invalid_argument);
  REQUIRE_THROWS_AS(csp::stack::guarded(16), csp::invalid_argument);

  REQUIRE_THROWS_AS(csp::stack::fixed(csp::stack::minimum_size() - 1), csp::invalid_argument);
  REQUIRE_NOTHROW(csp::stack::fixed(csp::stack::minimum_size()));
  REQUIRE_NOTHROW(csp::stack::fixed());
  REQUIRE_NOTHROW(csp::stack::pooled(csp::stack::default_size()));
  const csp::stack g = csp::stack::guarded(64 * 1024);
  REQUIRE(g.type() == csp::stack::kind::guarded);
  REQUIRE(g.size() == 64 * 1024);
  REQUIRE(csp::stack::pooled(64 * 1024).type() == csp::stack::kind::pooled);
  REQUIRE(csp::stack::fixed(64 * 1024).type() == csp::stack::kind::fixed);
}

// ---------------------------------------------------------------------------------------
// Scale

TEST_CASE("runtime: 20,000 fibers in a daisy chain on small stacks", "[runtime][scale]") {
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
  CAPTURE(threads);
#if defined(__SANITIZE_THREAD__)
  constexpr int n = 4000;  // ThreadSanitizer counts each live fiber as a thread: 8128 at most
#else
  constexpr int n = 20000;
#endif
  const int arrived = csp::run(threads, [] {
    // 16 KiB, or the platform's minimum where that is larger (AVX-512 signal frames).
    const csp::stack small = csp::stack::fixed(std::max<std::size_t>(16 * 1024, csp::stack::minimum_size()));
    auto [first_tx, first_rx] = csp::make_channel<int>();
    csp::receiver<int> left = first_rx;
    first_rx = csp::receiver<int>{};
    for (int i = 0; i < n; ++i) {
      auto [tx, rx] = csp::make_channel<int>();
      csp::go(
          small,
          [](csp::receiver<int> in, csp::sender<int> out) {
            if (auto v = in.recv()) out.send(*v + 1);
          },
          left, std::move(tx));
      left = std::move(rx);
    }
    first_tx.send(0);
    auto r = left.recv();
    return r ? *r : -1;
  });
  REQUIRE(arrived == n);
}
