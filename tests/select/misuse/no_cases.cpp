// Must NOT compile: a select with no case at all.
#include <csp/csp.hpp>

int main() { return static_cast<int>(csp::select()); }
