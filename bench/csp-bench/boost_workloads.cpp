// The workloads on Boost.Fiber's own channels: boost::fibers::buffered_channel for a
// capacity N >= 1, unbuffered_channel for 0, fibers from boost::fibers::fiber.
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
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/unbuffered_channel.hpp>

#include <atomic>
#include <bit>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "impls.hpp"
#include "timing.hpp"

namespace bench {

namespace {

using boost::fibers::buffered_channel;
using boost::fibers::channel_op_status;
using boost::fibers::unbuffered_channel;
using fiber_list = std::vector<boost::fibers::fiber>;

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

// spsc, mpsc, mpmc: P producers and C consumers on one channel.
template <class Chan>
std::chrono::nanoseconds producers_consumers(const params& p) {
  const auto P = static_cast<std::size_t>(p.producers);
  const auto C = static_cast<std::size_t>(p.consumers);
  const msg M = p.messages;
  auto ch = make<Chan>(p.capacity);
  std::atomic<std::size_t> producers_left{P};
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  std::vector<tally> tallies(C);
  failure failed;

  timed_run run;
  run.threads = p.threads;
  run.prepare = [&](int w) {
    auto& mine = fibers[static_cast<std::size_t>(w)];
    for (std::size_t i = 0; i < P; ++i) {
      if (thread_of(i, p.threads) != w) continue;
      mine.emplace_back([&, i] {
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
      if (thread_of(P + j, p.threads) != w) continue;
      mine.emplace_back([&, j] {
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
  };
  run.phases = {[&](int w) { join_all(fibers[static_cast<std::size_t>(w)]); }};
  const auto ns = run_timed(run);
  failed.throw_if_set();
  check_totals(p, total_count(tallies), total_sum(tallies));
  return ns;
}

std::chrono::nanoseconds pingpong(const params& p) {
  const msg M = p.messages;
  unbuffered_channel<msg> ab;
  unbuffered_channel<msg> ba;
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  failure failed;

  timed_run run;
  run.threads = p.threads;
  run.prepare = [&](int w) {
    auto& mine = fibers[static_cast<std::size_t>(w)];
    if (thread_of(0, p.threads) == w) {
      mine.emplace_back([&] {
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
    }
    if (thread_of(1, p.threads) == w) {
      mine.emplace_back([&] {
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
    }
  };
  run.phases = {[&](int w) { join_all(fibers[static_cast<std::size_t>(w)]); }};
  const auto ns = run_timed(run);
  failed.throw_if_set();
  return ns;
}

std::chrono::nanoseconds chain(const params& p) {
  const msg N = p.messages;
  const auto T = static_cast<msg>(p.threads);
  std::vector<std::unique_ptr<unbuffered_channel<msg>>> links;  // link i feeds fiber i
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  msg arrived = 0;
  failure failed;

  timed_run run;
  run.threads = p.threads;
  run.phases = {
      [&](int w) {  // make the channels
        if (w != 0) return;
        links.reserve(N + 1);
        for (msg i = 0; i <= N; ++i) links.push_back(std::make_unique<unbuffered_channel<msg>>());
      },
      [&](int w) {  // spawn this thread's block of the chain, pass the value, join
        const auto uw = static_cast<msg>(w);
        const msg lo = (uw * N + T - 1) / T;
        const msg hi = ((uw + 1) * N + T - 1) / T;
        auto& mine = fibers[static_cast<std::size_t>(w)];
        mine.reserve(hi - lo + 1);
        for (msg i = lo; i < hi; ++i) {
          mine.emplace_back([&failed, in = links[i].get(), out = links[i + 1].get()] {
            msg x = 0;
            if (in->pop(x) != channel_op_status::success ||
                out->push(x + 1) != channel_op_status::success) {
              failed.set("boost chain: a link closed early");
              out->close();
            }
          });
        }
        if (w == 0) {
          mine.emplace_back([&, in = links[0].get(), out = links[N].get()] {
            if (in->push(msg{0}) != channel_op_status::success ||
                out->pop(arrived) != channel_op_status::success) {
              failed.set("boost chain: the driver's push or pop failed");
            }
          });
        }
        join_all(mine);
      },
      [&](int w) {  // tear down
        if (w == 0) std::vector<std::unique_ptr<unbuffered_channel<msg>>>().swap(links);
      },
  };
  const auto ns = run_timed(run);
  failed.throw_if_set();
  if (arrived != N) {
    throw check_failed("boost chain: " + std::to_string(arrived) + " came out of a chain of " +
                       std::to_string(N));
  }
  return ns;
}

}  // namespace

support boost_support(const params& p) {
  const workload_traits t = traits(p.w);
  if (t.needs_select) return {"boost has no select", ""};
  if (!t.uses_capacity) return {};  // rendezvous: unbuffered_channel
  if (p.capacity.unbounded) return {"boost has no unbounded channel", ""};
  if (p.capacity.n == 0) return {};
  const std::size_t size = boost_buffer_size(p.capacity.n);
  return {"", "buffered_channel(" + std::to_string(size) + ") holds " + std::to_string(size - 1)};
}

std::chrono::nanoseconds run_boost(const params& p) {
  const support s = boost_support(p);
  if (!s.skipped.empty()) throw std::invalid_argument("boost cannot run this row: " + s.skipped);
  switch (p.w) {
    case workload::spsc:
    case workload::mpsc:
    case workload::mpmc:
      if (p.capacity.n == 0) return producers_consumers<unbuffered_channel<msg>>(p);
      return producers_consumers<buffered_channel<msg>>(p);
    case workload::pingpong: return pingpong(p);
    case workload::chain: return chain(p);
    case workload::select_rx:
    case workload::select_both: break;
  }
  throw std::invalid_argument("boost cannot run this row");
}

}  // namespace bench
