// primes: the prime sieve of Hoare's CSP paper (and of Go's tour), a daisy chain of fibers.
// A generator sends 2, 3, 4, ... down a channel. The first number that comes out of the
// chain is prime; the main fiber prints it and adds a filter fiber for it at the end of the
// chain, which passes on only the numbers its prime does not divide. So after k primes the
// chain is the generator plus k filters, and what leaves it is the next prime.
//
//   primes -n 10        2 3 5 7 11 13 17 19 23 29, one per line
//
// Shutting the chain down needs no flag: when the main fiber lets go of the end of the
// chain, the last filter's send fails, it returns and drops its receiver, which closes the
// channel before it, and so on back to the generator.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include <CLI/CLI.hpp>
#include <csp/csp.hpp>

namespace {

// Sends 2, 3, 4, ... until the channel is closed.
void generate(csp::sender<long> out) {
  for (long i = 2; out.send(i); ++i) {
  }
}

// Passes on the numbers that `prime` does not divide, until either side is closed.
void filter(csp::receiver<long> in, csp::sender<long> out, long prime) {
  for (long x : in) {
    if (x % prime != 0 && !out.send(x)) return;
  }
}

// Prints the first `count` primes; returns the last one.
long sieve(long count, std::size_t capacity) {
  auto [tx, rx] = csp::make_channel<long>(capacity);
  csp::go(generate, std::move(tx));
  long prime = 0;
  for (long i = 0; i < count; ++i) {
    prime = rx.recv().value();
    std::printf("%ld\n", prime);
    auto [next_tx, next_rx] = csp::make_channel<long>(capacity);
    csp::go(filter, std::move(rx), std::move(next_tx), prime);
    rx = std::move(next_rx);
  }
  return prime;  // rx dies here: the chain winds down from its end
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"primes: the CSP prime sieve, a daisy chain of filter fibers"};
  long count = 100;
  std::size_t capacity = 0;
  std::size_t threads = 1;
  app.add_option("-n,--count", count, "How many primes to print")
      ->capture_default_str()
      ->check(CLI::Range(1L, 100'000L));
  app.add_option("--capacity,-c", capacity, "Capacity of each channel (0: rendezvous)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1'000'000));
  app.add_option("--threads,-t", threads, "Worker threads running the fibers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  const auto start = std::chrono::steady_clock::now();
  const long last = csp::run(threads, sieve, count, capacity);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);

  // run() returned: every filter and the generator have ended.
  std::printf("summary: primes=%ld last=%ld fibers=%ld capacity=%zu threads=%zu ms=%.1f\n", count,
              last, count + 1, capacity, threads, ms.count());
  return EXIT_SUCCESS;
}
