// The workloads on csp: csp::make_channel, csp::spawn/task, csp::selector.
// Definitions and the rules every implementation follows: workload.hpp.

#include <csp/csp.hpp>

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "impls.hpp"
#include "timing.hpp"

namespace bench {

namespace {

using fiber_list = std::vector<csp::task<void>>;

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

// Joins every fiber, even after one of them threw (a task left behind would be joined from
// another thread when the list dies); rethrows the first exception.
void join_all(fiber_list& fibers) {
  std::exception_ptr first;
  for (auto& f : fibers) {
    try {
      f.join();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  fibers.clear();
  if (first) std::rethrow_exception(first);
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

// spsc, mpsc, mpmc: P producers and C consumers on one channel.
std::chrono::nanoseconds producers_consumers(const params& p) {
  const auto P = static_cast<std::size_t>(p.producers);
  const auto C = static_cast<std::size_t>(p.consumers);
  const msg M = p.messages;
  std::optional<csp::channel_pair<msg>> ch(make(p.capacity));
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  std::vector<tally> tallies(C);

  timed_run run;
  run.threads = p.threads;
  run.prepare = [&](int w) {
    auto& mine = fibers[static_cast<std::size_t>(w)];
    for (std::size_t i = 0; i < P; ++i) {
      if (thread_of(i, p.threads) != w) continue;
      mine.push_back(csp::spawn([tx = ch->first, i, P, M]() mutable {
        produce(tx, i, P, M);
        tx = {};  // the last producer's drop closes the channel
      }));
    }
    for (std::size_t j = 0; j < C; ++j) {
      if (thread_of(P + j, p.threads) != w) continue;
      mine.push_back(csp::spawn([rx = ch->second, &t = tallies[j]] { consume(rx, t); }));
    }
  };
  run.at_start = [&] { ch.reset(); };  // only the fibers hold the channel now
  run.phases = {[&](int w) { join_all(fibers[static_cast<std::size_t>(w)]); }};
  const auto ns = run_timed(run);
  check_totals(p, total_count(tallies), total_sum(tallies));
  return ns;
}

// select_rx (consumers == 1) and select_both: P producers on P channels.
std::chrono::nanoseconds selecting(const params& p, bool producers_select) {
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
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  std::vector<tally> tallies(C);

  timed_run run;
  run.threads = p.threads;
  run.prepare = [&](int w) {
    auto& mine = fibers[static_cast<std::size_t>(w)];
    for (std::size_t i = 0; i < P; ++i) {
      if (thread_of(i, p.threads) != w) continue;
      if (producers_select) {
        mine.push_back(csp::spawn([all = *txs, i, P, M]() mutable {
          select_produce(all, i, P, M);
          all.clear();  // the last producer's drop closes every channel
        }));
      } else {
        mine.push_back(csp::spawn([tx = (*txs)[i], i, P, M]() mutable {
          produce(tx, i, P, M);
          tx = {};
        }));
      }
    }
    for (std::size_t j = 0; j < C; ++j) {
      if (thread_of(P + j, p.threads) != w) continue;
      mine.push_back(
          csp::spawn([all = *rxs, &t = tallies[j]] { select_consume(all, t); }));
    }
  };
  run.at_start = [&] {
    txs.reset();
    rxs.reset();
  };
  run.phases = {[&](int w) { join_all(fibers[static_cast<std::size_t>(w)]); }};
  const auto ns = run_timed(run);
  check_totals(p, total_count(tallies), total_sum(tallies));
  return ns;
}

std::chrono::nanoseconds pingpong(const params& p) {
  const msg M = p.messages;
  std::optional<csp::channel_pair<msg>> ab(csp::make_channel<msg>());
  std::optional<csp::channel_pair<msg>> ba(csp::make_channel<msg>());
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));

  timed_run run;
  run.threads = p.threads;
  run.prepare = [&](int w) {
    auto& mine = fibers[static_cast<std::size_t>(w)];
    if (thread_of(0, p.threads) == w) {
      mine.push_back(csp::spawn([tx = ab->first, rx = ba->second, M]() mutable {
        for (msg k = 0; k < M; k += 2) {
          if (!tx.send(k)) throw check_failed("csp pingpong: a's send failed");
          if (k + 1 < M) {
            auto r = rx.recv();
            if (!r || *r != k + 1) throw check_failed("csp pingpong: a got a wrong answer");
          }
        }
        tx = {};
        rx = {};
      }));
    }
    if (thread_of(1, p.threads) == w) {
      mine.push_back(csp::spawn([tx = ba->first, rx = ab->second, M]() mutable {
        for (msg k = 0; k < M; k += 2) {
          auto r = rx.recv();
          if (!r || *r != k) throw check_failed("csp pingpong: b got a wrong value");
          if (k + 1 < M && !tx.send(k + 1)) throw check_failed("csp pingpong: b's send failed");
        }
        tx = {};
        rx = {};
      }));
    }
  };
  run.at_start = [&] {
    ab.reset();
    ba.reset();
  };
  run.phases = {[&](int w) { join_all(fibers[static_cast<std::size_t>(w)]); }};
  return run_timed(run);
}

std::chrono::nanoseconds chain(const params& p) {
  const msg N = p.messages;
  const auto T = static_cast<msg>(p.threads);
  std::vector<csp::channel_pair<msg>> links;  // link i feeds fiber i; link N is the exit
  std::vector<fiber_list> fibers(static_cast<std::size_t>(p.threads));
  std::optional<msg> arrived;

  timed_run run;
  run.threads = p.threads;
  run.phases = {
      [&](int w) {  // make the channels
        if (w != 0) return;
        links.reserve(N + 1);
        for (msg i = 0; i <= N; ++i) links.push_back(csp::make_channel<msg>());
      },
      [&](int w) {  // spawn this thread's block of the chain, pass the value, join
        const auto uw = static_cast<msg>(w);
        const msg lo = (uw * N + T - 1) / T;
        const msg hi = ((uw + 1) * N + T - 1) / T;
        auto& mine = fibers[static_cast<std::size_t>(w)];
        mine.reserve(hi - lo + 1);
        for (msg i = lo; i < hi; ++i) {
          mine.push_back(csp::spawn([rx = links[i].second, tx = links[i + 1].first]() mutable {
            auto x = rx.recv();
            if (!x) throw check_failed("csp chain: link closed early");
            if (!tx.send(*x + 1)) throw check_failed("csp chain: next link closed early");
            rx = {};
            tx = {};
          }));
        }
        if (w == 0) {
          mine.push_back(csp::spawn([tx = links[0].first, rx = links[N].second, &arrived] {
            if (!tx.send(msg{0})) throw check_failed("csp chain: entry closed early");
            if (auto r = rx.recv()) arrived = *r;
          }));
        }
        join_all(mine);
      },
      [&](int w) {  // tear down
        if (w == 0) std::vector<csp::channel_pair<msg>>().swap(links);
      },
  };
  const auto ns = run_timed(run);
  if (arrived != N) {
    throw check_failed("csp chain: " + (arrived ? std::to_string(*arrived) : "nothing") +
                       " came out of a chain of " + std::to_string(N));
  }
  return ns;
}

}  // namespace

support csp_support(const params&) { return {}; }

std::chrono::nanoseconds run_csp(const params& p) {
  switch (p.w) {
    case workload::spsc:
    case workload::mpsc:
    case workload::mpmc: return producers_consumers(p);
    case workload::select_rx: return selecting(p, false);
    case workload::select_both: return selecting(p, true);
    case workload::pingpong: return pingpong(p);
    case workload::chain: return chain(p);
  }
  return {};
}

}  // namespace bench
