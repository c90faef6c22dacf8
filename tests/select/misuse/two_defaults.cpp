// Must NOT compile: two otherwise(...) cases in one select.
#include <csp/csp.hpp>

int main() {
  return static_cast<int>(csp::select(csp::otherwise([] {}), csp::otherwise([] {})));
}
