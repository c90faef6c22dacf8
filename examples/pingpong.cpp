// pingpong: two fibers bounce a ball back and forth over two rendezvous channels. Each send
// waits until the other fiber takes the ball, so one round trip is two hand-overs: the
// time per round trip is what a synchronous request/reply between two fibers costs.
//
//   pingpong --rounds 100000 --threads 1
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <csp/csp.hpp>

namespace {

struct outcome {
  long last_ball = 0;
  std::chrono::nanoseconds elapsed{};
};

// The player: serves `rounds` times and waits for each return. Closing `ping` at the end
// tells the partner the game is over.
outcome play(long rounds) {
  auto [ping_tx, ping_rx] = csp::make_channel<long>();  // rendezvous: capacity 0
  auto [pong_tx, pong_rx] = csp::make_channel<long>();

  // The partner returns every ball one higher, until `ping` is closed and drained.
  csp::go([rx = std::move(ping_rx), tx = std::move(pong_tx)] {
    for (long ball : rx) tx.send(ball + 1);
  });

  const auto start = std::chrono::steady_clock::now();
  long ball = 0;
  for (long i = 0; i < rounds; ++i) {
    ping_tx.send(ball);
    ball = pong_rx.recv().value();
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ping_tx.close();
  return {ball, elapsed};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pingpong: two fibers bounce a ball over two rendezvous channels"};
  long rounds = 100'000;
  std::size_t threads = 1;
  app.add_option("--rounds,-r", rounds, "Round trips to make")
      ->capture_default_str()
      ->check(CLI::Range(1L, 1'000'000'000L));
  app.add_option("--threads,-t", threads, "Worker threads running the fibers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  const outcome result = csp::run(threads, play, rounds);

  const long ns = static_cast<long>(result.elapsed.count() / rounds);
  std::printf("%ld round trips in %.1f ms: %ld ns per round trip\n", rounds,
              static_cast<double>(result.elapsed.count()) / 1e6, ns);
  if (result.last_ball != rounds) {
    std::fprintf(stderr, "pingpong: the ball came back %ld times, expected %ld\n",
                 result.last_ball, rounds);
    return EXIT_FAILURE;
  }
  std::printf("summary: rounds=%ld ns_per_round_trip=%ld threads=%zu\n", rounds, ns, threads);
  return EXIT_SUCCESS;
}
