// csp's default stack, csp::stack::cached (and csp::stack::guarded, which shares its cache):
// mmap'd stacks recycled through per-thread caches and one process-wide list per size.
// Checked: a recycled stack is handed to one fiber at a time, whichever threads allocate and
// free it; fibers on the default stack run deep frames inside and outside runtimes; a guard
// page survives reuse; a thread's cache goes back to the shared list when the thread ends,
// including stacks of fibers that Boost's teardown of that thread ends late.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <csp/csp.hpp>

#include "support/knobs.hpp"

namespace {

using csp::detail::stack_depot;

// Uses about `bytes` of the calling fiber's stack; returns a value that depends on it.
[[gnu::noinline]] int dive(std::size_t bytes) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(bytes);
  frame[sizeof frame - 1] = 1;
  if (bytes <= sizeof frame) return frame[0] + frame[sizeof frame - 1];
  return dive(bytes - sizeof frame) + frame[sizeof frame - 1];
}

#if defined(__linux__)
// The permissions ("rw-p", "---p", ...) of the mapping holding `addr`, from /proc/self/maps.
std::string protection_at(const void* addr) {
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  REQUIRE(f != nullptr);
  char line[512];
  std::string found;
  while (std::fgets(line, sizeof line, f)) {
    unsigned long lo = 0, hi = 0;
    char perms[8] = {};
    if (std::sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && lo <= a && a < hi) {
      found = perms;
      break;
    }
  }
  std::fclose(f);
  return found;
}
#endif

}  // namespace

TEST_CASE("stack::cached: kind, size and the default", "[fibers][stack]") {
  const csp::stack c = csp::stack::cached(64 * 1024);
  REQUIRE(c.type() == csp::stack::kind::cached);
  REQUIRE(c.size() == 64 * 1024);
  REQUIRE(csp::stack::cached().size() == csp::stack::default_size());
  REQUIRE_THROWS_AS(csp::stack::cached(1), csp::invalid_argument);
  REQUIRE_THROWS_AS(csp::stack::cached(csp::stack::minimum_size() - 1), csp::invalid_argument);
  REQUIRE_NOTHROW(csp::stack::cached(csp::stack::minimum_size()));
}

TEST_CASE("stack_depot: a freed stack is reused by the next fiber on the same thread",
          "[fibers][stack]") {
  stack_depot& d = stack_depot::get(96 * 1024, false);
  REQUIRE(&d == &stack_depot::get(96 * 1024, false));
  REQUIRE(&d != &stack_depot::get(96 * 1024, true));
  REQUIRE(d.usable_size() >= 96 * 1024);
  boost::context::stack_context a = d.allocate();
  REQUIRE(a.size == d.usable_size());
  // Usable from bottom to top.
  char* top = static_cast<char*>(a.sp);
  std::memset(top - a.size, 0x5a, a.size);
  void* first = a.sp;
  d.deallocate(a);
  boost::context::stack_context b = d.allocate();
  REQUIRE(b.sp == first);
  d.deallocate(b);
}

TEST_CASE("stack_depot: stacks passed between threads are never handed out twice",
          "[fibers][stack]") {
  // Each thread allocates, claims each stack by writing its id at the top, frees half of what
  // it holds itself and hands the other half to the next thread to free: every stack is
  // freed on both kinds of thread, and a stack in two hands at once shows as a broken claim.
  stack_depot& d = stack_depot::get(64 * 1024, false);
  constexpr std::size_t threads = 4;
  const int rounds = 300 * csp_test::stress_scale_int();
  std::mutex handoff_mutex;
  std::vector<std::vector<boost::context::stack_context>> handoff(threads);
  std::atomic<int> broken{0};
  auto claim = [](boost::context::stack_context& s, std::uint64_t tag) {
    std::memcpy(static_cast<char*>(s.sp) - sizeof tag, &tag, sizeof tag);
  };
  auto owner = [](boost::context::stack_context& s) {
    std::uint64_t tag;
    std::memcpy(&tag, static_cast<char*>(s.sp) - sizeof tag, sizeof tag);
    return tag;
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t serial = 0;
      for (int r = 0; r < rounds; ++r) {
        std::vector<boost::context::stack_context> mine;
        std::vector<std::uint64_t> tags;
        // Crosses the per-thread cache's limits.
        const std::size_t n = 1 + (static_cast<std::size_t>(r) * 7 + t) % 40;
        for (std::size_t i = 0; i < n; ++i) {
          mine.push_back(d.allocate());
          tags.push_back((std::uint64_t(t) << 48) | ++serial);
          claim(mine.back(), tags.back());
        }
        std::this_thread::yield();
        std::vector<boost::context::stack_context> passed;
        for (std::size_t i = 0; i < n; ++i) {
          if (owner(mine[i]) != tags[i]) broken.fetch_add(1);
          if (i % 2 == 0) {
            d.deallocate(mine[i]);
          } else {
            passed.push_back(mine[i]);
          }
        }
        std::vector<boost::context::stack_context> to_free;
        {
          std::lock_guard lk(handoff_mutex);
          auto& next = handoff[(t + 1) % threads];
          next.insert(next.end(), passed.begin(), passed.end());
          to_free.swap(handoff[t]);
        }
        for (auto& s : to_free) d.deallocate(s);
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& left : handoff) {
    for (auto& s : left) d.deallocate(s);
  }
  REQUIRE(broken.load() == 0);
}

TEST_CASE("default stack: fibers run deep frames, outside and inside runtimes", "[fibers][stack]") {
  // 64 KiB of frames: half of the default 128 KiB stack.
  const std::size_t depth = 64 * 1024;
  const int expected = dive(depth);
  SECTION("outside a runtime") {
    std::vector<csp::task<int>> tasks;
    for (int i = 0; i < 50; ++i) tasks.push_back(csp::spawn([depth] { return dive(depth); }));
    for (auto& t : tasks) REQUIRE(t.join() == expected);
  }
  SECTION("inside runtimes of 1 and 2 threads") {
    const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2});
    CAPTURE(threads);
    const int sum = csp::run(threads, [depth] {
      int total = 0;
      for (int wave = 0; wave < 4; ++wave) {  // later waves run on recycled stacks
        std::vector<csp::task<int>> tasks;
        for (int i = 0; i < 60; ++i) tasks.push_back(csp::spawn([depth] { return dive(depth); }));
        for (auto& t : tasks) total += t.join();
      }
      return total;
    });
    REQUIRE(sum == 4 * 60 * expected);
  }
  SECTION("an explicit stack::cached of another size") {
    const csp::stack s = csp::stack::cached(std::max<std::size_t>(80 * 1024, csp::stack::minimum_size()));
    std::vector<csp::task<int>> tasks;
    for (int i = 0; i < 40; ++i) tasks.push_back(csp::spawn(s, [] { return dive(40 * 1024); }));
    for (auto& t : tasks) REQUIRE(t.join() == dive(40 * 1024));
  }
}

TEST_CASE("default stack: a chain of fibers started and ended on different workers",
          "[fibers][stack]") {
  // Every fiber allocates its stack on the worker that spawns it; it ends and is freed on
  // whichever worker runs or joins it last.
  const std::size_t threads = GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{4});
  CAPTURE(threads);
  const std::uint64_t n = 2000 * csp_test::stress_scale();
  const std::uint64_t out = csp::run(threads, [n] {
    std::vector<csp::channel_pair<std::uint64_t>> links;
    for (std::uint64_t i = 0; i <= n; ++i) links.push_back(csp::make_channel<std::uint64_t>());
    for (std::uint64_t i = 0; i < n; ++i) {
      csp::go([rx = links[i].second, tx = links[i + 1].first] {
        auto v = rx.recv();
        if (v) tx.send(*v + 1);
      });
    }
    auto tx = links[0].first;
    auto rx = links[n].second;
    links.clear();
    tx.send(std::uint64_t{0});
    return *rx.recv();
  });
  REQUIRE(out == n);
}

#if defined(__linux__)
TEST_CASE("stack::guarded: the guard page stays across reuse", "[fibers][stack]") {
  const csp::stack g = csp::stack::guarded(64 * 1024);
  stack_depot& d = stack_depot::get(64 * 1024, true);
  // Recycle a few, then look at the one a new fiber would get.
  for (int i = 0; i < 3; ++i) csp::spawn(g, [] { return dive(32 * 1024); }).join();
  boost::context::stack_context s = d.allocate();
  char* bottom = static_cast<char*>(s.sp) - s.size;
  REQUIRE(protection_at(bottom).substr(0, 2) == "rw");
  REQUIRE(protection_at(bottom - 1).substr(0, 3) == "---");
  d.deallocate(s);
  // And unguarded stacks have none.
  stack_depot& u = stack_depot::get(64 * 1024, false);
  boost::context::stack_context t = u.allocate();
  REQUIRE(protection_at(static_cast<char*>(t.sp) - t.size).substr(0, 2) == "rw");
  u.deallocate(t);
}
#endif

TEST_CASE("default stack: a thread's cached stacks outlive the thread", "[fibers][stack]") {
  // The thread caches the stacks of its finished fibers; when it ends they go to the shared
  // list, from which this thread then takes them (the shared list hands out its newest).
  stack_depot& d = stack_depot::get(csp::stack::default_size(), false);
  std::set<void*> theirs;
  std::thread([&] {
    std::vector<boost::context::stack_context> held;
    for (int i = 0; i < 8; ++i) held.push_back(d.allocate());
    for (auto& s : held) theirs.insert(s.sp);
    for (auto& s : held) d.deallocate(s);
    // And a fiber that only Boost's teardown of this thread ends, after the cache is gone.
    csp::go([] {
      for (int i = 0; i < 3; ++i) csp::this_fiber::yield();
    });
  }).join();
  std::vector<boost::context::stack_context> mine;
  int reused = 0;
  for (int i = 0; i < 64; ++i) {
    mine.push_back(d.allocate());
    reused += theirs.count(mine.back().sp) != 0 ? 1 : 0;
  }
  for (auto& s : mine) d.deallocate(s);
  REQUIRE(reused == 8);
}
