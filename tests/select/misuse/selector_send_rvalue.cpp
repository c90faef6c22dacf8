// Must NOT compile: a selector send case of a temporary (the selector keeps a reference to
// the value it sends, which would dangle).
#include <csp/csp.hpp>

int main() {
  auto [tx, rx] = csp::make_channel<int>(1);
  csp::selector sel;
  sel.on_send(tx, 42, [] {});
}
