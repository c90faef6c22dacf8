#pragma once
// The command line (CLI11): one workload, or the standard suite, expanded into the list of
// rows to run.

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "output.hpp"
#include "workload.hpp"

namespace bench {

struct job {
  impl implementation = impl::csp;
  params p;
  std::string note;  // e.g. "capacity ignored: pingpong uses rendezvous channels"
};

struct config {
  std::vector<job> jobs;
  format out = format::table;
  int repeat = 3;
  bool in_process = false;            // run rows in this process, not one child each
  std::chrono::seconds row_timeout{600};
};

// The standard suite: every workload at capacities 0, 1, 1024 and unbounded where a
// capacity applies, at 1 and 2 threads, for `impls`. Each workload runs its default message
// count times `scale` (at least 1).
std::vector<job> standard_suite(const std::vector<impl>& impls, double scale);

// Parses the command line. Returns the configuration, or the exit code to return at once
// (0 after --help; non-zero, with CLI11's message on stderr, for a bad command line).
std::variant<config, int> parse_command_line(int argc, char** argv);

}  // namespace bench
