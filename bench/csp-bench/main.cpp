// csp-bench: channel throughput of csp against Boost.Fiber's own channels.
// Usage and workload definitions: bench/README.md; `csp-bench --help`.

#include <iostream>
#include <string>
#include <variant>
#include <vector>

#include "boost_pool.hpp"
#include "impls.hpp"
#include "isolate.hpp"
#include "options.hpp"
#include "output.hpp"
#include "timing.hpp"

namespace {

std::string join_notes(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "; " + b;
}

// The --repeat runs of one row, then the process's peak RSS.
bench::measurement measure(const bench::job& j, int repeat) {
  std::vector<double> ns_per_msg;
  for (int r = 0; r < repeat; ++r) {
    const auto ns = bench::run_impl(j.p, j.implementation);
    ns_per_msg.push_back(static_cast<double>(ns.count()) / static_cast<double>(j.p.messages));
  }
  const bench::summary s = bench::summarize(ns_per_msg);
  return {s.median, s.min, bench::peak_rss_kb()};
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = bench::parse_command_line(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  const bench::config& cfg = std::get<bench::config>(parsed);

  auto out = bench::make_printer(cfg.out, std::cout);
  int failures = 0;
  for (const bench::job& j : cfg.jobs) {
    const bench::support s = bench::support_of(j.p, j.implementation);
    bench::row r;
    r.implementation = j.implementation;
    r.p = j.p;
    r.note = join_notes(j.note, s.note);
    if (!s.skipped.empty()) {
      r.skipped = s.skipped;
      out->print(r);
      continue;
    }
    const auto run = [&] { return measure(j, cfg.repeat); };
    const bench::outcome o =
        cfg.in_process ? bench::run_here(run) : bench::run_in_child(run, cfg.row_timeout);
    if (!o.result) {
      ++failures;
      std::cerr << "csp-bench: FAILED " << bench::to_string(j.implementation) << ' '
                << bench::to_string(j.p.w) << " capacity " << j.p.capacity.to_string()
                << " threads " << j.p.threads << " producers " << j.p.producers
                << " consumers " << j.p.consumers << " messages " << j.p.messages << ": "
                << o.error << std::endl;
      continue;
    }
    r.ns_per_msg = o.result->ns_per_msg;
    r.ns_per_msg_min = o.result->ns_per_msg_min;
    r.peak_rss_kb = o.result->peak_rss_kb;
    out->print(r);
  }
  bench::stop_work_stealing();  // --in-process: no static destructor may race its threads
  if (failures > 0) {
    std::cerr << "csp-bench: " << failures << " row(s) failed" << std::endl;
    return 1;
  }
  return 0;
}
