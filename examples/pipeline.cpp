// pipeline: generate → square → keep the even ones → sum, each stage --width fibers, with a
// bounded channel of --capacity between stages. Every fiber of a stage receives from the
// same channel (fan-out) and sends into the next one (fan-in); the channel closes when the
// last fiber sending into it ends, so the end of the input ripples down the stages with no
// "stop" message at all.
//
//   pipeline --items 1000000 --width 2 --capacity 8
//   pipeline --items 0 --timeout 2s      run until the timeout (or Ctrl-C)
//
// Cancelling (--timeout, SIGINT, SIGTERM) only stops the generators: a watcher fiber closes
// the `cancel` channel, which every generator selects on beside its next send. Everything
// already sent still flows through and is counted, so the counts add up however it stopped.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <csp/csp.hpp>

namespace {

// What the fibers of one stage saw. A generator's `sum` is what the sink should add up for
// its items; the sink's is what it did add up.
struct tally {
  long in = 0;
  long out = 0;
  long dropped = 0;
  unsigned long sum = 0;  // unsigned: wraps around on long runs, never overflows
  tally& operator+=(const tally& t) {
    in += t.in, out += t.out, dropped += t.dropped, sum += t.sum;
    return *this;
  }
};

unsigned long square(long x) {
  const auto u = static_cast<unsigned long>(x);
  return u * u;
}
bool keep(unsigned long v) { return v % 2 == 0; }

// Sends first, first + step, ... below `items` (for ever if items == 0) until `cancel` closes.
// When both cases are ready, select picks one at random, so a few more items may go out
// after the cancel: they are counted like any other, nothing is half-sent.
tally generate(csp::sender<long> out, csp::receiver<int> cancel, long first, long step,
               long items) {
  tally t;
  bool more = true;
  for (long x = first; more && (items == 0 || x < items); x += step) {
    csp::select(csp::on_send(out, x, [&] {
                  ++t.in, ++t.out;
                  if (keep(square(x))) t.sum += square(x);
                }),
                csp::on_recv(cancel, [&] { more = false; }));  // closed: no more items
  }
  return t;
}

tally transform(csp::receiver<long> in, csp::sender<unsigned long> out) {
  tally t;
  for (long x : in) {
    ++t.in;
    if (out.send(square(x))) ++t.out;
  }
  return t;
}

tally filter(csp::receiver<unsigned long> in, csp::sender<unsigned long> out) {
  tally t;
  for (unsigned long v : in) {
    ++t.in;
    if (!keep(v)) {
      ++t.dropped;
    } else if (out.send(v)) {
      ++t.out;
    }
  }
  return t;
}

tally sink(csp::receiver<unsigned long> in) {
  tally t;
  for (unsigned long v : in) ++t.in, t.sum += v;
  return t;
}

struct report {
  tally gen, trans, filt, sunk;
  int stopped_by = 0;  // 0: the items ran out; -1: the timeout; else the signal's number
};

tally join_all(std::vector<csp::task<tally>>& tasks) {
  tally total;
  for (auto& t : tasks) total += t.join();
  return total;
}

report run_pipeline(long items, long width, std::size_t capacity, long timeout_ms) {
  // Two channels that never carry a value: closing one is the message.
  auto [cancel_tx, cancel_rx] = csp::make_channel<int>();  // to the generators: stop
  auto [done_tx, done_rx] = csp::make_channel<int>();      // to the watcher: all is done

  // The watcher waits for the first of: the end of the work (done), the timeout, a signal.
  // It ends in every case, so no fiber is left behind.
  csp::task<int> watcher = csp::spawn([cancel = cancel_tx, done = done_rx, timeout_ms] {
    csp::receiver<int> sig = csp::signals({SIGINT, SIGTERM});
    auto deadline = timeout_ms > 0 ? csp::after(std::chrono::milliseconds(timeout_ms))
                                   : csp::never<csp::clock::time_point>();  // no timeout
    int why = 0;
    csp::select(csp::on_recv(done, [] {}),
                csp::on_recv(deadline, [&] { why = -1; }),
                csp::on_recv(sig, [&](csp::result<int> s) { why = *s; }));
    cancel.close();
    return why;
  });

  std::vector<csp::task<tally>> gens, trans, filts, sinks;
  {
    auto [gen_tx, gen_rx] = csp::make_channel<long>(capacity);
    auto [sq_tx, sq_rx] = csp::make_channel<unsigned long>(capacity);
    auto [even_tx, even_rx] = csp::make_channel<unsigned long>(capacity);
    for (long i = 0; i < width; ++i) {
      gens.push_back(csp::spawn(generate, gen_tx, cancel_rx, i, width, items));
      trans.push_back(csp::spawn(transform, gen_rx, sq_tx));
      filts.push_back(csp::spawn(filter, sq_rx, even_tx));
      sinks.push_back(csp::spawn(sink, even_rx));
    }
  }  // our own handles go here: only the stages' fibers hold the channels now

  report r;
  r.gen = join_all(gens);
  r.trans = join_all(trans);
  r.filt = join_all(filts);
  r.sunk = join_all(sinks);
  done_tx.close();
  r.stopped_by = watcher.join();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pipeline: generate -> square -> keep even -> sum, over bounded channels"};
  long items = 1'000'000;
  long width = 2;
  std::size_t capacity = 8;
  long timeout_ms = 0;
  std::size_t threads = 1;
  const std::map<std::string, long> units{{"ms", 1}, {"s", 1000}, {"min", 60'000}};
  app.add_option("--items,-n", items, "Items to generate (0: until the timeout or a signal)")
      ->capture_default_str()
      ->check(CLI::Range(0L, 1'000'000'000'000L));
  app.add_option("--width,-w", width, "Fibers per stage")
      ->capture_default_str()
      ->check(CLI::Range(1L, 1000L));
  app.add_option("--capacity,-c", capacity, "Channel capacity between stages (0: rendezvous)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1'000'000));
  app.add_option("--timeout", timeout_ms, "Cancel the pipeline after this long: 300ms, 2s, 1min")
      ->type_name("DURATION")
      ->transform(
          CLI::AsNumberWithUnit(units, CLI::AsNumberWithUnit::UNIT_REQUIRED).description(""))
      ->check(CLI::Range(1L, 86'400'000L).description(""));
  app.add_option("--threads,-t", threads, "Worker threads running the fibers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  const auto start = std::chrono::steady_clock::now();
  const report r = csp::run(threads, run_pipeline, items, width, capacity, timeout_ms);
  const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start;

  const char* why = r.stopped_by == 0        ? "none"
                    : r.stopped_by == -1     ? "timeout"
                    : r.stopped_by == SIGINT ? "SIGINT"
                                             : "SIGTERM";
  std::printf("%ld items through 4 stages of %ld fibers in %.1f ms\n", r.gen.out, width,
              ms.count());
  std::printf("summary: generated=%ld transform_in=%ld transformed=%ld filter_in=%ld passed=%ld "
              "dropped=%ld sunk=%ld checksum=%lu expected=%lu stopped_by=%s width=%ld "
              "capacity=%zu threads=%zu ms=%.1f\n",
              r.gen.out, r.trans.in, r.trans.out, r.filt.in, r.filt.out, r.filt.dropped, r.sunk.in,
              r.sunk.sum, r.gen.sum, why, width, capacity, threads, ms.count());
  std::fflush(stdout);

  const bool adds_up = r.gen.out == r.trans.in && r.trans.in == r.trans.out &&
                       r.trans.out == r.filt.in && r.filt.in == r.filt.out + r.filt.dropped &&
                       r.filt.out == r.sunk.in && r.sunk.sum == r.gen.sum;
  if (!adds_up) {
    std::fprintf(stderr, "pipeline: the counts do not add up: items were lost between stages\n");
    return EXIT_FAILURE;
  }
  return r.stopped_by > 0 ? 128 + r.stopped_by : EXIT_SUCCESS;
}
