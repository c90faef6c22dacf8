// A small channel demo: a generator, a squaring stage and a summing sink, connected by
// channels of three flavors, running as fibers on one thread plus one plain thread.
#include <cstdio>
#include <thread>

#include <csp/csp.hpp>

int main() {
  auto [numbers_tx, numbers_rx] = csp::make_channel<int>();               // rendezvous
  auto [squares_tx, squares_rx] = csp::make_channel<long>(8);             // bounded
  auto [log_tx, log_rx] = csp::make_channel<std::string>(csp::unbounded);  // unbounded
  auto [total_tx, total_rx] = csp::make_oneshot<long>();

  csp::go([tx = std::move(numbers_tx)]() mutable {
    for (int i = 1; i <= 100; ++i) tx.send(i);
  });  // the last sender goes out of scope here: the channel closes
  csp::go([rx = std::move(numbers_rx), tx = std::move(squares_tx)]() mutable {
    for (int n : rx) tx.send(long{n} * n);
  });

  // The sink runs on a plain thread, talking to the fibers of the main thread.
  std::thread sink([rx = std::move(squares_rx), log = log_tx, total = std::move(total_tx)]() mutable {
    long sum = 0;
    for (long sq : rx) {
      sum += sq;
      if (sq % 1000 == 0) log.send("milestone: " + std::to_string(sq));
    }
    total.send(sum);
  });
  log_tx.close();  // the sink thread's copy closed too when it finished? no: close explicitly after

  long total = total_rx.recv().value();
  sink.join();
  for (std::string& line : log_rx) std::puts(line.c_str());
  std::printf("sum of squares 1..100 = %ld (expected %d)\n", total, 338350);
  return total == 338350 ? 0 : 1;
}
