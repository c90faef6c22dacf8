// The command line of csp-bench (see options.hpp and bench/README.md).

#include "options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>

namespace bench {

namespace {

// The spsc default: `--suite --messages N` scales every workload by N / this.
constexpr double suite_reference_messages = 1'000'000;

std::vector<capacity_spec> suite_capacities(workload w) {
  if (!traits(w).uses_capacity) return {capacity_spec{false, 0}};
  return {capacity_spec{false, 0}, capacity_spec{false, 1}, capacity_spec{false, 1024},
          capacity_spec{true, 0}};
}

std::string ignored_capacity_note(workload w) {
  if (w == workload::net_pingpong) return "capacity ignored: net_pingpong has one value in flight";
  return "capacity ignored: " + std::string(to_string(w)) + " uses rendezvous channels";
}

// The rows one --workload runs: `net` is the net pair, so that one run shows csp::net's
// throughput and its round trip side by side.
std::vector<workload> rows_of(workload w) {
  if (w == workload::net) return {workload::net, workload::net_pingpong};
  return {w};
}

// The impls when --impl is not given: the net rows compare csp::net with raw NNG.
std::vector<impl> default_impls(workload w) {
  if (is_net(w)) return {impl::csp, impl::nng};
  return {impl::csp, impl::boost};
}

}  // namespace

std::vector<job> standard_suite(const std::vector<impl>& impls, double scale) {
  std::vector<job> jobs;
  for (workload w : suite_workloads) {
    const workload_traits t = traits(w);
    for (const capacity_spec& c : suite_capacities(w)) {
      for (int threads : {1, 2}) {
        const auto m = static_cast<std::uint64_t>(std::max(
            1.0,
            std::round(static_cast<double>(default_messages(w, c, threads)) * scale)));
        for (impl i : impls) {
          jobs.push_back({i, params{w, c, threads, t.default_producers, t.default_consumers, m},
                          ""});
        }
      }
    }
  }
  return jobs;
}

std::variant<config, int> parse_command_line(int argc, char** argv) {
  CLI::App app{
      "csp-bench: channel throughput of csp against Boost.Fiber's own channels, and of\n"
      "csp::net against raw NNG over loopback TCP (--workload net).\n"
      "Runs one workload (--workload) or the standard suite (--suite); each row runs\n"
      "--repeat times in a child process of its own and reports the median. Workload\n"
      "definitions: bench/README.md.",
      "csp-bench"};

  std::vector<std::string> workload_names;
  for (workload w : all_workloads) workload_names.emplace_back(to_string(w));
  const std::map<std::string, format> formats = {
      {"table", format::table}, {"json", format::json}, {"csv", format::csv}};

  std::string workload_text;
  std::string capacity_text = "0";
  int threads = 1;
  int producers = 1;
  int consumers = 1;
  std::uint64_t messages = 1;
  int repeat = 3;
  std::vector<std::string> impl_texts;
  std::string format_text = "table";
  bool suite = false;
  bool in_process = false;
  int timeout_s = 600;

  const CLI::Validator capacity_check(
      [](std::string& s) -> std::string {
        if (parse_capacity(s)) return {};
        return "capacity must be 0 (rendezvous), a count from 1 to " +
               std::to_string(max_bounded_capacity) + ", or unbounded; got '" + s + "'";
      },
      "0|N|unbounded", "capacity");

  auto* o_workload = app.add_option("--workload,-w", workload_text,
                                    "Workload to run (net: both net rows, net and net_pingpong)")
                         ->check(CLI::IsMember(workload_names));
  auto* o_suite =
      app.add_flag("--suite", suite,
                   "Run the standard suite: every channel workload (not net) at capacities 0, 1, 1024, unbounded "
                   "(where a capacity applies), 1 and 2 threads")
          ->excludes(o_workload);
  auto* o_capacity = app.add_option("--capacity,-c", capacity_text,
                                    "Channel capacity: 0 (rendezvous), N, or unbounded (net: "
                                    "the buffer on each side of the link, default 64)")
                         ->check(capacity_check)
                         ->default_str("0");
  auto* o_producers =
      app.add_option("--producers,-p", producers,
                     "Producer fibers (mpsc, select_rx: default 4; mpmc, select_both: 4)")
          ->check(CLI::Range(1, 100'000));
  auto* o_consumers = app.add_option("--consumers", consumers,
                                     "Consumer fibers (mpmc, select_both: default 4)")
                          ->check(CLI::Range(1, 100'000));
  auto* o_messages =
      app.add_option("--messages,-m", messages,
                     "Messages per run (default per workload: spsc/mpsc/mpmc 1e6, select_* 1e5, "
                     "pingpong 2e5 one-way sends, chain 1e5 fibers, net 2e4, net_pingpong 4e3 "
                     "one-way sends; 1/50 of that with threads > 1 and capacity 0 or 1, or "
                     "pingpong); with --suite, scales every row's default by N/1e6")
          ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000'000}));
  auto* o_threads = app.add_option("--threads,-t", threads,
                                   "Worker threads running the fibers (csp::runtime's, "
                                   "work_stealing's, or one per pinned scheduler)")
                        ->check(CLI::Range(1, 256))
                        ->default_str("1");
  app.add_option("--repeat,-r", repeat, "Runs per row; the median is reported")
      ->check(CLI::Range(1, 1000))
      ->default_str("3");
  std::vector<std::string> impl_names;
  for (impl i : all_impls) impl_names.emplace_back(to_string(i));
  app.add_option("--impl", impl_texts,
                     "Implementations, comma-separated (default csp,boost; net: csp,nng): csp "
                     "(csp::runtime), boost (Boost's work_stealing at threads > 1), csp-pinned, "
                     "boost-pinned (one scheduler per thread, fibers pinned), nng (raw NNG on "
                     "plain threads; net only)")
          ->delimiter(',')
          ->check(CLI::IsMember(impl_names));
  app.add_option("--format,-f", format_text, "Output format")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->default_str("table");
  app.add_flag("--in-process", in_process,
               "Run every row in this process (for a debugger or profiler); peak_rss_kb is "
               "then the process's high-water mark, which Linux carries over execve");
  app.add_option("--timeout", timeout_s, "Seconds a row may take before it counts as a hang")
      ->check(CLI::Range(1, 86'400))
      ->default_str("600");
  for (auto* o : {o_capacity, o_producers, o_consumers, o_threads}) o_suite->excludes(o);

  try {
    app.parse(argc, argv);
    if (!suite && !o_workload->count()) throw CLI::RequiredError("--workload (or --suite)");
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  config cfg;
  cfg.out = formats.at(format_text);
  cfg.repeat = repeat;
  cfg.in_process = in_process;
  cfg.row_timeout = std::chrono::seconds(timeout_s);
  std::vector<impl> chosen;
  for (const std::string& name : impl_texts) {
    const impl i = *parse_impl(name);
    if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) chosen.push_back(i);
  }

  if (suite) {
    const double scale =
        o_messages->count() ? static_cast<double>(messages) / suite_reference_messages : 1.0;
    cfg.jobs = standard_suite(chosen.empty() ? default_impls(workload::spsc) : chosen, scale);
    return cfg;
  }

  const workload asked = *parse_workload(workload_text);
  if (chosen.empty()) chosen = default_impls(asked);
  for (const workload w : rows_of(asked)) {
    const workload_traits t = traits(w);
    params p;
    p.w = w;
    p.threads = threads;
    p.capacity = o_capacity->count() ? *parse_capacity(capacity_text) : default_capacity(w);
    p.messages = o_messages->count() ? messages : default_messages(w, p.capacity, threads);
    p.producers = o_producers->count() ? producers : t.default_producers;
    p.consumers = o_consumers->count() ? consumers : t.default_consumers;
    try {
      if (!t.variable_producers && p.producers != 1) {
        throw CLI::ValidationError("--producers", std::string(to_string(w)) +
                                                      " has exactly 1 producer");
      }
      if (!t.variable_consumers && p.consumers != 1) {
        throw CLI::ValidationError("--consumers", std::string(to_string(w)) +
                                                      " has exactly 1 consumer");
      }
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    std::string note;
    if (!t.uses_capacity && p.capacity != default_capacity(w)) {
      note = ignored_capacity_note(w);
      p.capacity = default_capacity(w);
    }
    for (impl i : chosen) cfg.jobs.push_back({i, p, note});
  }
  return cfg;
}

}  // namespace bench
