// csp-demo: a three-stage pipeline. A generator fiber sends 1..N over a rendezvous channel,
// a squaring fiber forwards the squares over a bounded channel, and a plain std::thread sums
// them and reports progress on an unbounded channel. The result comes back on a oneshot.
// Closing flows downstream: each stage ends when its input is closed and drained.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <csp/csp.hpp>

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 1000;

  auto [numbers_tx, numbers_rx] = csp::make_channel<long>();               // rendezvous
  auto [squares_tx, squares_rx] = csp::make_channel<long>(8);              // bounded
  auto [progress_tx, progress_rx] = csp::make_channel<std::string>(csp::unbounded);
  auto [total_tx, total_rx] = csp::make_oneshot<long>();

  // Each lambda owns the handles it uses: when a stage returns, its sender is destroyed,
  // which closes the channel for the next stage.
  csp::go([tx = std::move(numbers_tx), n] {
    for (long i = 1; i <= n; ++i) tx.send(i);
  });
  csp::go([rx = std::move(numbers_rx), tx = std::move(squares_tx)]() mutable {
    for (long i : rx) tx.send(i * i);
  });
  std::thread summer([rx = std::move(squares_rx), progress = std::move(progress_tx),
                      total = std::move(total_tx), n]() mutable {
    long sum = 0, count = 0;
    for (long sq : rx) {
      sum += sq;
      if (++count % (n / 4 > 0 ? n / 4 : 1) == 0) {
        progress.send(std::to_string(count) + " squares summed");
      }
    }
    total.send(sum);
  });

  // The main thread's recv suspends its main fiber, so the two fibers above run meanwhile.
  const csp::result<long> total = total_rx.recv();
  summer.join();
  for (const std::string& line : progress_rx) std::printf("progress: %s\n", line.c_str());

  const long expected = n * (n + 1) * (2 * n + 1) / 6;
  std::printf("sum of squares 1..%ld = %ld (expected %ld)\n", n, total.value(), expected);
  return total.value() == expected ? EXIT_SUCCESS : EXIT_FAILURE;
}
