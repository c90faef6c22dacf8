// libFuzzer target: the fuzzer's bytes are a program of the model test's operation language
// (tests/model/op_language.hpp), run on real channels and checked against the reference
// model by the same interpreter as the Catch2 model test. A disagreement prints the failure
// and the program, then aborts, which libFuzzer reports as a crash with a reproducer file.
// Build and run it with scripts/fuzz.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>

#include "../model/interpreter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Longer inputs add little but slow every run down (a few bytes are one operation).
  if (size > 1024) return -1;  // -1: libFuzzer does not add the input to the corpus
  const csp_model::program p = csp_model::decode(std::span<const std::uint8_t>(data, size));
  if (const std::optional<std::string> failure = csp_model::check(p)) {
    std::fprintf(stderr, "\ncsp model mismatch: %s\nprogram:\n%s\n", failure->c_str(),
                 csp_model::to_string(p).c_str());
    std::fflush(stderr);
    std::abort();
  }
  return 0;
}
