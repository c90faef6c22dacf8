// The control for stored_case.cpp: the same select, with its case built in the call, must
// compile (so a failure of the other file means the misuse was rejected, not a broken setup).
#include <csp/csp.hpp>

int main() {
  auto [tx, rx] = csp::make_channel<int>(1);
  return static_cast<int>(csp::select(csp::on_send(tx, 42, [](bool) {})));
}
