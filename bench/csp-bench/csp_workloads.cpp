// The workloads on csp: csp::make_channel, csp::spawn/task, csp::selector, run on a
// csp::runtime (impl csp) or on one scheduler per pinned thread (impl csp-pinned).
// Definitions and the rules every implementation follows: workload.hpp.

#include <csp/csp.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "csp_join.hpp"
#include "fiber_set.hpp"
#include "impls.hpp"
#include "timing.hpp"

namespace bench {

namespace {

using steady = std::chrono::steady_clock;

// What one consumer received; padded so that consumers on different threads do not share
// a cache line.
struct alignas(64) tally {
  msg count = 0;
  msg sum = 0;
};

csp::channel_pair<msg> make(const capacity_spec& c) {
  if (c.unbounded) return csp::make_channel<msg>(csp::unbounded);
  return csp::make_channel<msg>(c.n);  // 0: rendezvous
}

// Producer `first` of `step`: sends first, first+step, ... < m. The caller drops its sender
// afterwards; the last producer's drop closes the channel.
void produce(const csp::sender<msg>& tx, msg first, msg step, msg m) {
  for (msg k = first; k < m; k += step) {
    if (!tx.send(k)) throw check_failed("csp: send failed: channel closed early");
  }
}

void consume(const csp::receiver<msg>& rx, tally& out) {
  msg count = 0;
  msg sum = 0;
  while (auto v = rx.recv()) {
    ++count;
    sum += *v;
  }
  out = {count, sum};
}

// Receives by select over all of `rxs` until every one is closed and drained.
void select_consume(const std::vector<csp::receiver<msg>>& rxs, tally& out) {
  msg count = 0;
  msg sum = 0;
  bool closed = false;
  csp::selector sel;
  for (const auto& rx : rxs) {
    sel.on_recv(rx, [&](csp::result<msg> v) {
      if (v) {
        ++count;
        sum += *v;
      } else {
        closed = true;
      }
    });
  }
  for (std::size_t open = sel.size(); open > 0;) {
    const csp::selector::case_id id = sel.select();
    if (closed) {  // removed here, not in the handler: the handler belongs to the case
      sel.remove(id);
      --open;
      closed = false;
    }
  }
  out = {count, sum};
}

// Sends first, first+step, ... < m, each by a select over all of `txs`.
void select_produce(const std::vector<csp::sender<msg>>& txs, msg first, msg step, msg m) {
  msg value = 0;
  bool ok = true;
  csp::selector sel;
  for (const auto& tx : txs) sel.on_send(tx, value, [&](bool sent) { ok = sent; });
  for (msg k = first; k < m; k += step) {
    value = k;
    sel.select();
    if (!ok) throw check_failed("csp: select send failed: channel closed early");
  }
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

// csp-pinned: T fresh threads, each spawning its share of the fibers (thread_of) on its own
// scheduler; they meet at run_timed's barrier, which starts the clock.
std::chrono::nanoseconds on_pinned_threads(int threads, fiber_set& set) {
  std::vector<fiber_list> fibers(static_cast<std::size_t>(threads));
  timed_run run;
  run.threads = threads;
  run.prepare = [&](int w) {
    auto& mine = fibers[static_cast<std::size_t>(w)];
    for (std::size_t k = 0; k < set.bodies.size(); ++k) {
      if (thread_of(k, threads) == w) mine.push_back(csp::spawn(std::move(set.bodies[k])));
    }
  };
  run.at_start = set.at_start;
  run.phases = {[&](int w) { join_all(fibers[static_cast<std::size_t>(w)]); }};
  return run_timed(run);
}

// Closes the start gate however the root leaves, so no fiber waits at it forever.
struct gate_opener {
  csp::sender<char>& gate;
  ~gate_opener() { gate.close(); }
};

// csp: a csp::runtime of T workers, as users run it. The root fiber spawns every fiber
// (each first waits at the gate: a channel that the root closes), starts the clock, opens
// the gate and joins them all. The runtime's creation and shutdown are outside the clock.
std::chrono::nanoseconds on_runtime(int threads, fiber_set& set) {
  csp::runtime rt{csp::threads(static_cast<std::size_t>(threads))};
  steady::time_point t0;
  steady::time_point t1;
  rt.run([&] {
    csp::channel_pair<char> gate = csp::make_channel<char>();
    fiber_list fibers;
    gate_opener opener{gate.first};  // after `fibers`: an early exit opens, then joins
    fibers.reserve(set.bodies.size());
    for (auto& body : set.bodies) {
      fibers.push_back(csp::spawn([wait = gate.second, body = std::move(body)]() mutable {
        (void)wait.recv();  // returns (closed) once the clock runs
        wait = {};
        body();
      }));
    }
    gate.second = {};
    if (set.at_start) set.at_start();
    t0 = steady::now();
    gate.first.close();
    join_all(fibers);
    t1 = steady::now();
  });
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0);
}

set_runner runner_for(impl which, int threads) {
  if (which == impl::csp_pinned) return [threads](fiber_set& s) { return on_pinned_threads(threads, s); };
  return [threads](fiber_set& s) { return on_runtime(threads, s); };
}

// ---- the workloads ----

// spsc, mpsc, mpmc: P producers and C consumers on one channel.
std::chrono::nanoseconds producers_consumers(const params& p, const set_runner& run) {
  const auto P = static_cast<std::size_t>(p.producers);
  const auto C = static_cast<std::size_t>(p.consumers);
  const msg M = p.messages;
  std::optional<csp::channel_pair<msg>> ch(make(p.capacity));
  std::vector<tally> tallies(C);

  fiber_set set;
  for (std::size_t i = 0; i < P; ++i) {
    set.bodies.emplace_back([tx = ch->first, i, P, M]() mutable {
      produce(tx, i, P, M);
      tx = {};  // the last producer's drop closes the channel
    });
  }
  for (std::size_t j = 0; j < C; ++j) {
    set.bodies.emplace_back([rx = ch->second, &t = tallies[j]] { consume(rx, t); });
  }
  set.at_start = [&] { ch.reset(); };  // only the fibers hold the channel now
  const auto ns = run(set);
  check_totals(p, total_count(tallies), total_sum(tallies));
  return ns;
}

// select_rx (consumers == 1) and select_both: P producers on P channels.
std::chrono::nanoseconds selecting(const params& p, bool producers_select, const set_runner& run) {
  const auto P = static_cast<std::size_t>(p.producers);
  const auto C = static_cast<std::size_t>(p.consumers);
  const msg M = p.messages;
  std::optional<std::vector<csp::sender<msg>>> txs(std::in_place);
  std::optional<std::vector<csp::receiver<msg>>> rxs(std::in_place);
  for (std::size_t i = 0; i < P; ++i) {
    auto [tx, rx] = make(p.capacity);
    txs->push_back(std::move(tx));
    rxs->push_back(std::move(rx));
  }
  std::vector<tally> tallies(C);

  fiber_set set;
  for (std::size_t i = 0; i < P; ++i) {
    if (producers_select) {
      set.bodies.emplace_back([all = *txs, i, P, M]() mutable {
        select_produce(all, i, P, M);
        all.clear();  // the last producer's drop closes every channel
      });
    } else {
      set.bodies.emplace_back([tx = (*txs)[i], i, P, M]() mutable {
        produce(tx, i, P, M);
        tx = {};
      });
    }
  }
  for (std::size_t j = 0; j < C; ++j) {
    set.bodies.emplace_back([all = *rxs, &t = tallies[j]] { select_consume(all, t); });
  }
  set.at_start = [&] {
    txs.reset();
    rxs.reset();
  };
  const auto ns = run(set);
  check_totals(p, total_count(tallies), total_sum(tallies));
  return ns;
}

std::chrono::nanoseconds pingpong(const params& p, const set_runner& run) {
  const msg M = p.messages;
  std::optional<csp::channel_pair<msg>> ab(csp::make_channel<msg>());
  std::optional<csp::channel_pair<msg>> ba(csp::make_channel<msg>());

  fiber_set set;
  set.bodies.emplace_back([tx = ab->first, rx = ba->second, M]() mutable {  // a
    for (msg k = 0; k < M; k += 2) {
      if (!tx.send(k)) throw check_failed("csp pingpong: a's send failed");
      if (k + 1 < M) {
        auto r = rx.recv();
        if (!r || *r != k + 1) throw check_failed("csp pingpong: a got a wrong answer");
      }
    }
    tx = {};
    rx = {};
  });
  set.bodies.emplace_back([tx = ba->first, rx = ab->second, M]() mutable {  // b
    for (msg k = 0; k < M; k += 2) {
      auto r = rx.recv();
      if (!r || *r != k) throw check_failed("csp pingpong: b got a wrong value");
      if (k + 1 < M && !tx.send(k + 1)) throw check_failed("csp pingpong: b's send failed");
    }
    tx = {};
    rx = {};
  });
  set.at_start = [&] {
    ab.reset();
    ba.reset();
  };
  return run(set);
}

// The chain's pieces, shared by both schedulers: link i's fiber and the driver.
using links_t = std::vector<csp::channel_pair<msg>>;  // link i feeds fiber i; link N is the exit

void make_links(links_t& links, msg n) {
  links.reserve(n + 1);
  for (msg i = 0; i <= n; ++i) links.push_back(csp::make_channel<msg>());
}

csp::task<void> spawn_link(const links_t& links, msg i) {
  return csp::spawn([rx = links[i].second, tx = links[i + 1].first]() mutable {
    auto x = rx.recv();
    if (!x) throw check_failed("csp chain: link closed early");
    if (!tx.send(*x + 1)) throw check_failed("csp chain: next link closed early");
    rx = {};
    tx = {};
  });
}

csp::task<void> spawn_driver(const links_t& links, std::optional<msg>& arrived) {
  return csp::spawn([tx = links.front().first, rx = links.back().second, &arrived] {
    if (!tx.send(msg{0})) throw check_failed("csp chain: entry closed early");
    if (auto r = rx.recv()) arrived = *r;
  });
}

void check_chain(msg n, const std::optional<msg>& arrived) {
  if (arrived != n) {
    throw check_failed("csp chain: " + (arrived ? std::to_string(*arrived) : "nothing") +
                       " came out of a chain of " + std::to_string(n));
  }
}

// csp-pinned: T blocks of the chain on T threads; make, spawn+pass+join, tear down are
// timed phases of run_timed.
std::chrono::nanoseconds chain_pinned(const params& p) {
  const msg N = p.messages;
  const auto T = static_cast<msg>(p.threads);
  links_t links;
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  std::optional<msg> arrived;

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
        for (msg i = lo; i < hi; ++i) mine.push_back(spawn_link(links, i));
        if (w == 0) mine.push_back(spawn_driver(links, arrived));
        join_all(mine);
      },
      [&](int w) {  // tear down
        if (w == 0) links_t().swap(links);
      },
  };
  const auto ns = run_timed(run);
  check_chain(N, arrived);
  return ns;
}

// csp: the root fiber of a csp::runtime makes the channels, spawns every link and the driver
// (they run on any worker), joins them and destroys the channels, all on the clock.
std::chrono::nanoseconds chain_on_runtime(const params& p) {
  const msg N = p.messages;
  std::optional<msg> arrived;
  csp::runtime rt{csp::threads(static_cast<std::size_t>(p.threads))};
  steady::time_point t0;
  steady::time_point t1;
  rt.run([&] {
    t0 = steady::now();
    links_t links;
    make_links(links, N);
    fiber_list fibers;
    fibers.reserve(N + 1);
    for (msg i = 0; i < N; ++i) fibers.push_back(spawn_link(links, i));
    fibers.push_back(spawn_driver(links, arrived));
    join_all(fibers);
    links_t().swap(links);
    t1 = steady::now();
  });
  check_chain(N, arrived);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0);
}

}  // namespace

support csp_support(const params& p, impl which) {
  if (is_net(p.w)) return csp_net_support(p, which);
  return {};
}

std::chrono::nanoseconds run_csp(const params& p, impl which) {
  if (is_net(p.w)) return run_csp_net(p);
  const set_runner run = runner_for(which, p.threads);
  switch (p.w) {
    case workload::spsc:
    case workload::mpsc:
    case workload::mpmc: return producers_consumers(p, run);
    case workload::select_rx: return selecting(p, false, run);
    case workload::select_both: return selecting(p, true, run);
    case workload::pingpong: return pingpong(p, run);
    case workload::chain: return which == impl::csp_pinned ? chain_pinned(p) : chain_on_runtime(p);
    case workload::net:
    case workload::net_pingpong: break;  // handed to run_csp_net above
  }
  return {};
}

}  // namespace bench
