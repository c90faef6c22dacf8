// The workloads on Boost.Fiber's own channels: boost::fibers::buffered_channel for a
// capacity N >= 1, unbuffered_channel for 0, fibers from boost::fibers::fiber; on Boost's
// work_stealing (impl boost, threads > 1: boost_pool.hpp) or on one round_robin scheduler
// per pinned thread (impl boost-pinned, and impl boost at 1 thread).
// Definitions and the rules every implementation follows: workload.hpp.
//
// Differences from csp that the rows account for:
//   * buffered_channel(S) needs S a power of two >= 2 and holds S-1 values; a capacity N
//     runs as buffered_channel(bit_ceil(N+1)), the smallest that holds at least N, and the
//     row's note says what it holds;
//   * no select (select_rx, select_both are skipped), no unbounded channel (skipped);
//   * no sender handles: the last producer to finish closes the channel (an atomic count);
//   * an exception escaping a boost::fibers::fiber terminates the process, so fibers record
//     failures and close their channels instead of throwing.

#include <boost/fiber/buffered_channel.hpp>
#include <boost/fiber/channel_op_status.hpp>
#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/mutex.hpp>
#include <boost/fiber/unbuffered_channel.hpp>

#include <atomic>
#include <bit>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "boost_pool.hpp"
#include "fiber_set.hpp"
#include "impls.hpp"
#include "timing.hpp"

namespace bench {

namespace {

using boost::fibers::buffered_channel;
using boost::fibers::channel_op_status;
using boost::fibers::unbuffered_channel;
using fiber_list = std::vector<boost::fibers::fiber>;
using steady = std::chrono::steady_clock;

struct alignas(64) tally {
  msg count = 0;
  msg sum = 0;
};

// The first failure seen on any fiber of a run; thrown by the run once every fiber ended.
class failure {
 public:
  void set(std::string what) {
    std::lock_guard lk(mutex_);
    if (what_.empty()) what_ = std::move(what);
  }
  void throw_if_set() const {
    if (!what_.empty()) throw check_failed(what_);
  }

 private:
  std::mutex mutex_;
  std::string what_;
};

std::size_t boost_buffer_size(std::size_t capacity) { return std::bit_ceil(capacity + 1); }

template <class Chan>
std::unique_ptr<Chan> make(const capacity_spec& c) {
  if constexpr (std::is_same_v<Chan, unbuffered_channel<msg>>) {
    return std::make_unique<Chan>();
  } else {
    return std::make_unique<Chan>(boost_buffer_size(c.n));
  }
}

void join_all(fiber_list& fibers) {
  for (auto& f : fibers) f.join();
  fibers.clear();
}

msg total_count(const std::vector<tally>& ts) {
  msg n = 0;
  for (const auto& t : ts) n += t.count;
  return n;
}
msg total_sum(const std::vector<tally>& ts) {
  msg s = 0;
  for (const auto& t : ts) s += t.sum;
  return s;
}

// ---- the schedulers ----

// boost-pinned: T fresh threads, each spawning its share of the fibers (thread_of) on its
// own round_robin scheduler; they meet at run_timed's barrier, which starts the clock.
std::chrono::nanoseconds on_pinned_threads(int threads, fiber_set& set) {
  std::vector<fiber_list> fibers(static_cast<std::size_t>(threads));
  timed_run run;
  run.threads = threads;
  run.prepare = [&](int w) {
    auto& mine = fibers[static_cast<std::size_t>(w)];
    for (std::size_t k = 0; k < set.bodies.size(); ++k) {
      if (thread_of(k, threads) == w) mine.emplace_back(std::move(set.bodies[k]));
    }
  };
  run.at_start = set.at_start;
  run.phases = {[&](int w) { join_all(fibers[static_cast<std::size_t>(w)]); }};
  return run_timed(run);
}

// Where every fiber waits until the clock starts: a flag under a fiber mutex and condition
// variable, Boost.Fiber's own primitives (csp's gate is a closed channel, Go's too).
class gate {
 public:
  void wait() {
    std::unique_lock lk(mutex_);
    cv_.wait(lk, [this] { return open_; });
  }
  void open() {
    {
      std::lock_guard lk(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  boost::fibers::mutex mutex_;
  boost::fibers::condition_variable cv_;
  bool open_ = false;
};

// boost, threads > 1: thread 0 of the work_stealing pool spawns every fiber (each waits at
// the gate first; the other threads steal them), starts the clock, opens the gate and joins.
std::chrono::nanoseconds on_work_stealing(int threads, fiber_set& set) {
  steady::time_point t0;
  steady::time_point t1;
  run_on_work_stealing(threads, [&] {
    gate g;
    fiber_list fibers;
    fibers.reserve(set.bodies.size());
    for (auto& body : set.bodies) {
      fibers.emplace_back([&g, body = std::move(body)] {
        g.wait();
        body();
      });
    }
    if (set.at_start) set.at_start();
    t0 = steady::now();
    g.open();
    join_all(fibers);
    t1 = steady::now();
  });
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0);
}

bool on_work_stealing_pool(impl which, int threads) {
  return which == impl::boost && threads > 1;
}

set_runner runner_for(impl which, int threads) {
  if (on_work_stealing_pool(which, threads)) {
    return [threads](fiber_set& s) { return on_work_stealing(threads, s); };
  }
  return [threads](fiber_set& s) { return on_pinned_threads(threads, s); };
}

// ---- the workloads ----

// spsc, mpsc, mpmc: P producers and C consumers on one channel.
template <class Chan>
std::chrono::nanoseconds producers_consumers(const params& p, const set_runner& run) {
  const auto P = static_cast<std::size_t>(p.producers);
  const auto C = static_cast<std::size_t>(p.consumers);
  const msg M = p.messages;
  auto ch = make<Chan>(p.capacity);
  std::atomic<std::size_t> producers_left{P};
  std::vector<tally> tallies(C);
  failure failed;

  fiber_set set;
  for (std::size_t i = 0; i < P; ++i) {
    set.bodies.emplace_back([&, i] {
      for (msg k = i; k < M; k += P) {
        if (ch->push(k) != channel_op_status::success) {
          failed.set("boost: push failed: channel closed early");
          break;
        }
      }
      if (producers_left.fetch_sub(1, std::memory_order_acq_rel) == 1) ch->close();
    });
  }
  for (std::size_t j = 0; j < C; ++j) {
    set.bodies.emplace_back([&, j] {
      msg count = 0;
      msg sum = 0;
      msg v = 0;
      while (ch->pop(v) == channel_op_status::success) {
        ++count;
        sum += v;
      }
      tallies[j] = {count, sum};
    });
  }
  const auto ns = run(set);
  failed.throw_if_set();
  check_totals(p, total_count(tallies), total_sum(tallies));
  return ns;
}

std::chrono::nanoseconds pingpong(const params& p, const set_runner& run) {
  const msg M = p.messages;
  unbuffered_channel<msg> ab;
  unbuffered_channel<msg> ba;
  failure failed;

  fiber_set set;
  set.bodies.emplace_back([&] {  // a
    msg r = 0;
    for (msg k = 0; k < M; k += 2) {
      if (ab.push(k) != channel_op_status::success) {
        failed.set("boost pingpong: a's push failed");
        break;
      }
      if (k + 1 < M && (ba.pop(r) != channel_op_status::success || r != k + 1)) {
        failed.set("boost pingpong: a got a wrong answer");
        break;
      }
    }
    ab.close();
  });
  set.bodies.emplace_back([&] {  // b
    msg r = 0;
    for (msg k = 0; k < M; k += 2) {
      if (ab.pop(r) != channel_op_status::success || r != k) {
        failed.set("boost pingpong: b got a wrong value");
        break;
      }
      if (k + 1 < M && ba.push(k + 1) != channel_op_status::success) {
        failed.set("boost pingpong: b's push failed");
        break;
      }
    }
    ba.close();
  });
  const auto ns = run(set);
  failed.throw_if_set();
  return ns;
}

// The chain's pieces, shared by both schedulers.
using links_t = std::vector<std::unique_ptr<unbuffered_channel<msg>>>;  // link i feeds fiber i

void make_links(links_t& links, msg n) {
  links.reserve(n + 1);
  for (msg i = 0; i <= n; ++i) links.push_back(std::make_unique<unbuffered_channel<msg>>());
}

void spawn_link(fiber_list& fibers, const links_t& links, msg i, failure& failed) {
  fibers.emplace_back([&failed, in = links[i].get(), out = links[i + 1].get()] {
    msg x = 0;
    if (in->pop(x) != channel_op_status::success ||
        out->push(x + 1) != channel_op_status::success) {
      failed.set("boost chain: a link closed early");
      out->close();
    }
  });
}

void spawn_driver(fiber_list& fibers, const links_t& links, msg& arrived, failure& failed) {
  fibers.emplace_back([&, in = links.front().get(), out = links.back().get()] {
    if (in->push(msg{0}) != channel_op_status::success ||
        out->pop(arrived) != channel_op_status::success) {
      failed.set("boost chain: the driver's push or pop failed");
    }
  });
}

void check_chain(msg n, msg arrived, const failure& failed) {
  failed.throw_if_set();
  if (arrived != n) {
    throw check_failed("boost chain: " + std::to_string(arrived) + " came out of a chain of " +
                       std::to_string(n));
  }
}

// boost-pinned: T blocks of the chain on T threads; make, spawn+pass+join, tear down are
// timed phases of run_timed.
std::chrono::nanoseconds chain_pinned(const params& p) {
  const msg N = p.messages;
  const auto T = static_cast<msg>(p.threads);
  links_t links;
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  msg arrived = 0;
  failure failed;

  timed_run run;
  run.threads = p.threads;
  run.phases = {
      [&](int w) {  // make the channels
        if (w == 0) make_links(links, N);
      },
      [&](int w) {  // spawn this thread's block of the chain, pass the value, join
        const auto uw = static_cast<msg>(w);
        const msg lo = (uw * N + T - 1) / T;
        const msg hi = ((uw + 1) * N + T - 1) / T;
        auto& mine = fibers[static_cast<std::size_t>(w)];
        mine.reserve(hi - lo + 1);
        for (msg i = lo; i < hi; ++i) spawn_link(mine, links, i, failed);
        if (w == 0) spawn_driver(mine, links, arrived, failed);
        join_all(mine);
      },
      [&](int w) {  // tear down
        if (w == 0) links_t().swap(links);
      },
  };
  const auto ns = run_timed(run);
  check_chain(N, arrived, failed);
  return ns;
}

// boost, threads > 1: thread 0 of the work_stealing pool makes the channels, spawns every
// link and the driver (the other threads steal them), joins and destroys the channels.
std::chrono::nanoseconds chain_on_work_stealing(const params& p) {
  const msg N = p.messages;
  msg arrived = 0;
  failure failed;
  steady::time_point t0;
  steady::time_point t1;
  run_on_work_stealing(p.threads, [&] {
    t0 = steady::now();
    links_t links;
    make_links(links, N);
    fiber_list fibers;
    fibers.reserve(N + 1);
    for (msg i = 0; i < N; ++i) spawn_link(fibers, links, i, failed);
    spawn_driver(fibers, links, arrived, failed);
    join_all(fibers);
    links_t().swap(links);
    t1 = steady::now();
  });
  check_chain(N, arrived, failed);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0);
}

}  // namespace

support boost_support(const params& p, impl which) {
  if (is_net(p.w)) return {"boost has no network channels", ""};
  const workload_traits t = traits(p.w);
  if (t.needs_select) return {"boost has no select", ""};
  if (t.uses_capacity && p.capacity.unbounded) return {"boost has no unbounded channel", ""};
  std::string note;
  if (on_work_stealing_pool(which, p.threads)) {
    note = "work_stealing(" + std::to_string(p.threads) + ")";
  }
  if (t.uses_capacity && p.capacity.n > 0) {
    const std::size_t size = boost_buffer_size(p.capacity.n);
    note += std::string(note.empty() ? "" : "; ") + "buffered_channel(" + std::to_string(size) +
            ") holds " + std::to_string(size - 1);
  }
  return {"", note};
}

std::chrono::nanoseconds run_boost(const params& p, impl which) {
  const support s = boost_support(p, which);
  if (!s.skipped.empty()) throw std::invalid_argument("boost cannot run this row: " + s.skipped);
  const set_runner run = runner_for(which, p.threads);
  switch (p.w) {
    case workload::spsc:
    case workload::mpsc:
    case workload::mpmc:
      if (p.capacity.n == 0) return producers_consumers<unbuffered_channel<msg>>(p, run);
      return producers_consumers<buffered_channel<msg>>(p, run);
    case workload::pingpong: return pingpong(p, run);
    case workload::chain:
      return on_work_stealing_pool(which, p.threads) ? chain_on_work_stealing(p)
                                                     : chain_pinned(p);
    case workload::select_rx:
    case workload::select_both:
    case workload::net:
    case workload::net_pingpong: break;
  }
  throw std::invalid_argument("boost cannot run this row");
}

}  // namespace bench
