// The model test: random programs of channel operations and selects (op_language.hpp),
// each run deterministically on this thread and checked step by step against the reference
// model (interpreter.hpp). A failure prints the seed and the shortest failing program found.
//
// Environment:
//   CSP_STRESS_SCALE   multiplies the number of programs (default 1: a few seconds)
//   CSP_MODEL_SEED     run only the program of this seed (to replay a reported failure)

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <catch2/catch.hpp>

#include "interpreter.hpp"
#include "../support/run_modes.hpp"

namespace {

using csp_model::program;

constexpr std::uint64_t first_seed = 0x5eed'0008;

// Seed -> program: 8 to 71 operations on 1 to 3 channels.
program program_of(std::uint64_t seed) {
  return csp_model::decode(csp_model::random_bytes(seed, 8 + seed % 64));
}

// Runs the program of `seed`; on a failure shrinks it and reports both.
void check_seed(std::uint64_t seed) {
  const program p = program_of(seed);
  const std::optional<std::string> failure = csp_model::check(p);
  if (!failure) return;
  const program small =
      csp_model::shrink(p, [](const program& q) { return csp_model::check(q).has_value(); });
  const std::string small_failure = csp_model::check(small).value_or("(passed when re-run)");
  const std::string report = "seed " + std::to_string(seed) +
                             " (CSP_MODEL_SEED=" + std::to_string(seed) + " replays it)\n" +
                             "failure: " + *failure + "\n" + "shortest failing program (" +
                             std::to_string(small.ops.size()) + " of " +
                             std::to_string(p.ops.size()) + " operations):\n" +
                             csp_model::to_string(small) + "its failure: " + small_failure;
  if (csp_model::fibers_alive() != 0) {
    // Fibers parked forever on unreachable channels would keep the process from exiting.
    std::fprintf(stderr, "\nmodel test FAILED\n%s\n(%d fibers left parked: exiting now)\n",
                 report.c_str(), csp_model::fibers_alive());
    std::fflush(stderr);
    std::_Exit(EXIT_FAILURE);
  }
  FAIL(report);
}

}  // namespace

TEST_CASE("random programs of channel operations agree with the reference model", "[model]") {
  if (const char* s = std::getenv("CSP_MODEL_SEED"); s && *s) {
    check_seed(std::strtoull(s, nullptr, 0));
    return;
  }
  const std::uint64_t programs = 1500 * csp_test::stress_scale();
  for (std::uint64_t i = 0; i < programs; ++i) check_seed(first_seed + i);
  CHECK(csp_model::fibers_alive() == 0);
}

TEST_CASE("the model test's programs decode from any bytes", "[model]") {
  // The fuzzer feeds arbitrary bytes: the empty input and a lone byte are programs too.
  CHECK_FALSE(csp_model::check(csp_model::decode({})).has_value());
  const std::uint8_t one[] = {0xff};
  CHECK_FALSE(csp_model::check(csp_model::decode(one)).has_value());
  const std::uint8_t all_selects[] = {2, 0, 1, 5, 16, 0, 0, 0, 0, 1, 1, 2, 17, 5, 3, 3, 0, 1};
  CHECK_FALSE(csp_model::check(csp_model::decode(all_selects)).has_value());
}
