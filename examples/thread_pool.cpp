// thread_pool: a pool of worker fibers on a csp::runtime, fed by one jobs channel. Each job
// carries the sending end of a oneshot channel; submit() returns the receiving end, which
// is the job's future: recv() waits for the result, and a job's exception travels back the
// same way and is rethrown in the submitter. Closing the jobs channel lets the workers
// finish what was submitted, then their loops end.
//
//   thread_pool --limit 2000000 --chunk 10000 --workers 4 --threads 2
//
// The work: count the primes below --limit by trial division, one range [lo, hi) per job.
// Main checks the total against a sieve of Eratosthenes run on one thread. Ctrl-C (SIGINT)
// or SIGTERM stops submitting; what was submitted still completes and is checked.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <csp/csp.hpp>

namespace {

long count_primes(long lo, long hi) {
  if (lo > hi)
    throw std::invalid_argument("count_primes: bad range [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "): lo > hi");
  long n = 0;
  for (long x = std::max(lo, 2L); x < hi; ++x) {
    bool prime = x == 2 || x % 2 != 0;
    for (long d = 3; prime && d * d <= x; d += 2) prime = x % d != 0;
    n += prime;
  }
  return n;
}

struct outcome {
  long value = 0;
  std::exception_ptr error;  // set instead of value when the job threw
};

struct job {
  long lo = 0, hi = 0;
  csp::sender<outcome> reply;  // a oneshot: the worker's send never blocks
};

class pool {
 public:
  explicit pool(long workers) {
    // Bounded: a submitter that runs ahead of the workers waits, so a stop takes effect soon.
    auto [tx, rx] = csp::make_channel<job>(static_cast<std::size_t>(workers), "jobs");
    jobs_ = std::move(tx);
    for (long i = 0; i < workers; ++i) workers_.push_back(csp::spawn(work, rx));
  }

  // Blocks while the jobs channel is full. Returns the job's future. If the pool is already
  // closed, the job (and its reply sender) dies here, so the future reports closed.
  csp::receiver<outcome> submit(long lo, long hi) {
    auto [tx, rx] = csp::make_oneshot<outcome>();
    jobs_.send(job{lo, hi, std::move(tx)});
    return rx;
  }

  // Closes the jobs channel; the workers run what is queued and end. Returns the jobs run.
  long shutdown() {
    jobs_.close();
    long n = 0;
    for (auto& w : workers_) n += w.join();
    return n;
  }

 private:
  static long work(csp::receiver<job> jobs) {
    long n = 0;
    for (job& j : jobs) {
      outcome r;
      try {
        r.value = count_primes(j.lo, j.hi);
      } catch (...) {
        r.error = std::current_exception();
      }
      j.reply.send(std::move(r));
      ++n;
    }
    return n;
  }

  std::vector<csp::task<long>> workers_;  // declared first, destroyed last: jobs_ closes
  csp::sender<job> jobs_;                 // before a task's destructor joins its worker
};

// Waits for a job's result; rethrows the job's exception.
long get(const csp::receiver<outcome>& future) {
  csp::result<outcome> r = future.recv();
  if (!r) throw std::runtime_error("the pool closed before this job ran");
  if (r->error) std::rethrow_exception(r->error);
  return r->value;
}

struct config {
  long limit = 2'000'000, chunk = 10'000, workers = 4;
};

struct report {
  long primes = 0, counted_to = 0, submitted = 0, jobs_run = 0;
  int signal = 0;
};

report run_pool(const config& c) {
  auto [stop_tx, stop_rx] = csp::make_channel<int>(0, "stop");  // closed on a signal
  auto [done_tx, done_rx] = csp::make_channel<int>(0, "done");  // closed when results are in
  auto watcher = csp::spawn([sig = csp::signals({SIGINT, SIGTERM}), stop = std::move(stop_tx),
                             done = std::move(done_rx)] {
    int signal = 0;
    csp::select(csp::on_recv(sig, [&](csp::result<int> s) { signal = *s; stop.close(); }),
                csp::on_recv(done, [] {}));
    return signal;
  });

  pool workers(c.workers);
  report r;
  try {  // an empty range is a caller's mistake: the job throws, and its submitter sees it
    get(workers.submit(10, 5));
  } catch (const std::invalid_argument& e) {
    std::printf("a job's exception reached its submitter: %s\n", e.what());
  }
  r.submitted = 1;

  std::vector<csp::receiver<outcome>> futures;
  for (long lo = 0; lo < c.limit && !stop_rx.is_closed(); lo = r.counted_to) {
    r.counted_to = std::min(lo + c.chunk, c.limit);
    futures.push_back(workers.submit(lo, r.counted_to));
  }
  r.submitted += static_cast<long>(futures.size());
  for (const auto& f : futures) r.primes += get(f);
  r.jobs_run = workers.shutdown();
  done_tx.close();
  r.signal = watcher.join();
  return r;
}

// The check: a sieve of Eratosthenes, on one thread, outside the pool.
long sequential_count(long limit) {
  std::vector<bool> composite(static_cast<std::size_t>(limit));
  long n = 0;
  for (long x = 2; x < limit; ++x) {
    if (composite[static_cast<std::size_t>(x)]) continue;
    ++n;
    for (long m = x * x; m < limit; m += x) composite[static_cast<std::size_t>(m)] = true;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"thread_pool: worker fibers fed by a jobs channel, results through oneshots"};
  config c;
  std::size_t threads = 1;
  app.add_option("--limit,-n", c.limit, "Count the primes below this number")
      ->capture_default_str()->check(CLI::Range(1L, 100'000'000L));
  app.add_option("--chunk,-c", c.chunk, "Numbers per job")
      ->capture_default_str()->check(CLI::Range(1L, 100'000'000L));
  app.add_option("--workers,-w", c.workers, "Worker fibers in the pool")
      ->capture_default_str()->check(CLI::Range(1L, 10'000L));
  app.add_option("--threads,-t", threads, "Worker threads running the fibers")
      ->capture_default_str()->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  const auto start = std::chrono::steady_clock::now();
  const report r = csp::run(threads, run_pool, c);
  const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - start;

  if (r.signal != 0)
    std::printf("stopped by signal %d: counted the primes below %ld of %ld\n", r.signal,
                r.counted_to, c.limit);
  std::printf("%ld jobs, %ld worker fibers on %zu thread(s): %ld primes below %ld in %.1f ms\n",
              r.jobs_run, c.workers, threads, r.primes, r.counted_to, ms.count());
  const long expected = sequential_count(r.counted_to);
  const bool ok = r.primes == expected && r.jobs_run == r.submitted;
  if (ok) std::printf("check: pool count equals sequential count (%ld)\n", expected);
  else std::printf("check: FAILED: pool count %ld, sequential count %ld; jobs run %ld of %ld\n",
                   r.primes, expected, r.jobs_run, r.submitted);
  std::printf("summary: jobs=%ld workers=%ld threads=%zu primes=%ld limit=%ld ok=%d\n",
              r.jobs_run, c.workers, threads, r.primes, r.counted_to, ok ? 1 : 0);
  if (!ok) return EXIT_FAILURE;
  return r.signal ? 128 + r.signal : EXIT_SUCCESS;
}
