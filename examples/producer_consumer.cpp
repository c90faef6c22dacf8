// producer_consumer: P producers and C consumers share one bounded channel. When the
// consumers fall behind, the channel fills and each send waits: that wait is backpressure,
// and the program measures how long the producers spent in it. Producer p sends the
// numbers p*N .. p*N+N-1; each consumer returns what it got, and main checks that every
// item sent arrived exactly once.
//
//   producer_consumer --producers 4 --consumers 4 --items 100000 --capacity 16
//
// Ctrl-C (SIGINT) or SIGTERM stops the producers early; the consumers drain what was sent,
// the check runs on the items actually sent, and the exit status is 128 + the signal.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <CLI/CLI.hpp>
#include <csp/csp.hpp>

namespace {

struct config {
  std::size_t producers = 4, consumers = 4, items = 100'000, capacity = 16;
};

struct produced {
  std::size_t sent = 0;           // this producer sent items p*N .. p*N+sent-1
  csp::clock::duration waited{};  // time spent blocked on a full channel
};

// Sends this producer's items until done or until `stop` is closed. try_send first: only
// when the channel is full does the producer block, and only that time is counted.
produced produce(std::size_t p, std::size_t items, csp::sender<std::size_t> out,
                 csp::receiver<int> stop) {
  produced r;
  for (std::size_t i = 0; i < items && !stop.is_closed(); ++i) {
    const std::size_t item = p * items + i;
    const csp::status s = out.try_send(item);
    if (s == csp::status::full) {
      const auto start = csp::clock::now();
      bool sent = false;
      csp::select(csp::on_send(out, item, [&](bool ok) { sent = ok; }),
                  csp::on_recv(stop, [] {}));  // a signal: give up this item
      r.waited += csp::clock::now() - start;
      if (!sent) break;
    } else if (s != csp::status::ok) {
      break;
    }
    ++r.sent;
  }
  return r;
}

// What one consumer got. Each consumer keeps its own and hands it back when it ends, so no
// state is shared between fibers; main merges them.
struct tally {
  std::vector<bool> seen;  // seen[item]: this consumer received item
  std::size_t received = 0, duplicates = 0, unexpected = 0;
};

// Takes items until the channel is closed and drained.
tally consume(csp::receiver<std::size_t> in, std::size_t total) {
  tally t{std::vector<bool>(total)};
  for (std::size_t item : in) {
    ++t.received;
    if (item >= total) ++t.unexpected;
    else if (t.seen[item]) ++t.duplicates;
    else t.seen[item] = true;
  }
  return t;
}

struct report {
  std::vector<produced> producers;
  std::vector<tally> consumers;
  int signal = 0;
  std::chrono::nanoseconds elapsed{};
};

report run_all(const config& c) {
  auto [tx, rx] = csp::make_channel<std::size_t>(c.capacity, "items");
  auto [stop_tx, stop_rx] = csp::make_channel<int>(0, "stop");  // closed on a signal
  auto [done_tx, done_rx] = csp::make_channel<int>(0, "done");  // closed when producers end

  // The watcher turns a signal into a closed `stop`; it ends either way, so none is left.
  auto watcher = csp::spawn([sig = csp::signals({SIGINT, SIGTERM}), stop = std::move(stop_tx),
                             done = std::move(done_rx)] {
    int signal = 0;
    csp::select(csp::on_recv(sig, [&](csp::result<int> s) { signal = *s; stop.close(); }),
                csp::on_recv(done, [] {}));
    return signal;
  });

  const auto start = csp::clock::now();
  std::vector<csp::task<tally>> consumers;
  for (std::size_t i = 0; i < c.consumers; ++i)
    consumers.push_back(csp::spawn(consume, rx, c.producers * c.items));
  std::vector<csp::task<produced>> producers;
  for (std::size_t p = 0; p < c.producers; ++p)
    producers.push_back(csp::spawn(produce, p, c.items, tx, stop_rx));

  report r;
  for (auto& t : producers) r.producers.push_back(t.join());
  tx.close();       // every producer is done: the consumers drain the rest and end
  done_tx.close();  // and so does the watcher, if no signal came
  for (auto& t : consumers) r.consumers.push_back(t.join());
  r.elapsed = csp::clock::now() - start;
  r.signal = watcher.join();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"producer_consumer: producers and consumers on one bounded channel"};
  config c;
  std::size_t threads = 1;
  app.add_option("--producers,-p", c.producers, "Producer fibers")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--consumers,-c", c.consumers, "Consumer fibers")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--items,-n", c.items, "Items each producer sends")
      ->capture_default_str()->check(CLI::Range(1, 100'000'000));
  app.add_option("--capacity,-k", c.capacity, "Capacity of the channel")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--threads,-t", threads, "Worker threads running the fibers")
      ->capture_default_str()->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  const report r = csp::run(threads, run_all, c);

  // Merge the consumers' tallies: an item two consumers got is a duplicate; producer p sent
  // exactly items p*N .. p*N+sent-1, so any other item seen is unexpected.
  const std::size_t total = c.producers * c.items;
  std::vector<bool> seen(total);
  std::size_t sent = 0, received = 0, duplicates = 0, missing = 0, unexpected = 0;
  csp::clock::duration waited{};
  for (const produced& p : r.producers) {
    sent += p.sent;
    waited += p.waited;
  }
  for (const tally& t : r.consumers) {
    received += t.received;
    duplicates += t.duplicates;
    unexpected += t.unexpected;
    for (std::size_t item = 0; item < total; ++item) {
      if (t.seen[item] && seen[item]) ++duplicates;
      if (t.seen[item]) seen[item] = true;
    }
  }
  for (std::size_t item = 0; item < total; ++item) {
    const bool was_sent = item % c.items < r.producers[item / c.items].sent;
    if (was_sent && !seen[item]) ++missing;
    if (!was_sent && seen[item]) ++unexpected;
  }

  const bool ok = duplicates == 0 && missing == 0 && unexpected == 0 && received == sent;
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  if (r.signal != 0) std::printf("stopped by signal %d after %zu items\n", r.signal, sent);
  std::printf("%zu items in %.1f ms through a channel of %zu; producers blocked %.1f ms in all\n",
              sent, ms(r.elapsed), c.capacity, ms(waited));
  if (ok) std::printf(r.signal ? "every item sent arrived exactly once\n"
                               : "every item arrived exactly once\n");
  else std::fprintf(stderr, "producer_consumer: %zu duplicates, %zu missing, %zu unexpected\n",
                    duplicates, missing, unexpected);
  std::printf("summary: producers=%zu consumers=%zu items=%zu received=%zu duplicates=%zu "
              "missing=%zu producer_wait_ms=%.1f threads=%zu\n",
              c.producers, c.consumers, sent, received, duplicates, missing, ms(waited), threads);
  if (!ok) return EXIT_FAILURE;
  return r.signal ? 128 + r.signal : EXIT_SUCCESS;
}
