// A user's program: csp found as a package (consumer/) or added with add_subdirectory
// (subdir/). It sends values between fibers over channels of three flavors and checks
// that every value arrives once, in order. Exit code 0 on success, 1 on any mismatch.
#include <cstdio>
#include <utility>

#include <csp/csp.hpp>

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  constexpr int count = 100;

  // Stage 1 -> 2 over a bounded channel, 2 -> main over a rendezvous channel.
  auto [numbers_tx, numbers_rx] = csp::make_channel<int>(4);
  auto [doubled_tx, doubled_rx] = csp::make_channel<int>();
  // The sum comes back on a oneshot; the count of values on an unbounded channel.
  auto [sum_tx, sum_rx] = csp::make_oneshot<long>();
  auto [seen_tx, seen_rx] = csp::make_channel<int>(csp::unbounded);

  csp::go([tx = std::move(numbers_tx)]() mutable {
    for (int i = 1; i <= count; ++i) {
      if (!tx.send(i)) return;
    }
    tx.close();
  });

  csp::task<long> doubler = csp::spawn(
      [rx = std::move(numbers_rx), tx = std::move(doubled_tx)]() mutable {
        long sum = 0;
        for (int v : rx) {
          sum += v;
          tx.send(2 * v);
        }
        tx.close();
        return sum;
      });

  csp::go([rx = std::move(doubled_rx), sum = std::move(sum_tx), seen = std::move(seen_tx)]() mutable {
    long total = 0;
    int expected = 2;
    while (auto v = rx.recv()) {
      if (*v != expected) std::fprintf(stderr, "consumer: got %d, expected %d\n", *v, expected);
      expect(*v == expected, "values arrive in order");
      expected += 2;
      total += *v;
      seen.send(*v);
    }
    expect(rx.recv().status() == csp::status::closed, "recv after close reports closed");
    sum.send(total);
  });

  csp::result<long> total = sum_rx.recv();  // the main fiber blocks; the fibers run
  expect(total.has_value(), "the oneshot delivers the total");
  expect(total.value_or(-1) == 2L * count * (count + 1) / 2, "total of the doubled values");
  expect(doubler.join() == long{count} * (count + 1) / 2, "the spawned task returns its sum");
  expect(sum_rx.recv().status() == csp::status::closed, "a oneshot closes after one value");

  int seen = 0;
  while (auto v = seen_rx.try_recv()) ++seen;
  expect(seen == count, "every value was seen once");

  std::printf("consumer: %s (%d values)\n", failures == 0 ? "ok" : "FAILED", count);
  return failures == 0 ? 0 : 1;
}
