// Must NOT compile: a select case stored in a variable and passed to select later. The case
// borrows the temporary 42, which is gone by the time the select runs; channel cases are
// neither copyable nor movable, so select cannot take it. (tests/select/CMakeLists.txt runs
// the compiler on this file and expects the "deleted" diagnostic.)
#include <csp/csp.hpp>

int main() {
  auto [tx, rx] = csp::make_channel<int>(1);
  auto c = csp::on_send(tx, 42, [](bool) {});
  return static_cast<int>(csp::select(std::move(c)));
}
