// Names, parsing and defaults of the workloads (see workload.hpp for their definitions).

#include "workload.hpp"

#include <charconv>

namespace bench {

namespace {
constexpr std::array<std::string_view, all_workloads.size()> workload_names = {
    "spsc", "mpsc", "mpmc", "select_rx", "select_both", "pingpong", "chain", "net",
    "net_pingpong"};
}  // namespace

std::string_view to_string(workload w) noexcept {
  return workload_names[static_cast<std::size_t>(w)];
}

namespace {
constexpr std::array<std::string_view, all_impls.size()> impl_names = {"csp", "boost", "csp-pinned",
                                                                       "boost-pinned", "nng"};
}  // namespace

std::string_view to_string(impl i) noexcept { return impl_names[static_cast<std::size_t>(i)]; }

std::optional<impl> parse_impl(std::string_view s) noexcept {
  for (impl i : all_impls) {
    if (to_string(i) == s) return i;
  }
  return std::nullopt;
}

std::optional<workload> parse_workload(std::string_view s) noexcept {
  for (workload w : all_workloads) {
    if (to_string(w) == s) return w;
  }
  return std::nullopt;
}

std::string capacity_spec::to_string() const {
  return unbounded ? std::string("unbounded") : std::to_string(n);
}

std::optional<capacity_spec> parse_capacity(std::string_view s) noexcept {
  if (s == "unbounded") return capacity_spec{true, 0};
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (n > max_bounded_capacity) return std::nullopt;
  return capacity_spec{false, n};
}

// Default message counts keep the whole --suite (both impls, 1 and 2 threads, repeat 3)
// within a few minutes on a 2-core machine; the slow rows are the cross-thread rendezvous
// ones. chain: 100,000 fibers, the size issue 9's targets are set for (bench/compare and
// the Go peer use the same). The net rows cost microseconds a message (a round trip tens of
// them, on loopback), so their counts keep `--workload net` to a few seconds.
workload_traits traits(workload w) noexcept {
  switch (w) {
    case workload::spsc: return {true, false, false, false, 1, 1, 1'000'000};
    case workload::mpsc: return {true, true, false, false, 4, 1, 1'000'000};
    case workload::mpmc: return {true, true, true, false, 4, 4, 1'000'000};
    case workload::select_rx: return {true, true, false, true, 4, 1, 100'000};
    case workload::select_both: return {true, true, true, true, 4, 4, 100'000};
    case workload::pingpong: return {false, false, false, false, 1, 1, 200'000};
    case workload::chain: return {false, false, false, false, 1, 1, 100'000};
    case workload::net: return {true, false, false, false, 1, 1, 20'000};
    case workload::net_pingpong: return {false, false, false, false, 1, 1, 4'000};
  }
  return {};
}

capacity_spec default_capacity(workload w) noexcept {
  switch (w) {
    case workload::net: return {false, 64};  // csp::net::options{}.capacity
    case workload::net_pingpong: return {false, 1};
    default: return {false, 0};
  }
}

std::uint64_t default_messages(workload w, const capacity_spec& c, int threads) noexcept {
  const std::uint64_t base = traits(w).default_messages;
  if (threads < 2 || w == workload::chain || is_net(w)) return base;
  const bool every_message_crosses =
      w == workload::pingpong || (!c.unbounded && c.n <= 1);
  return every_message_crosses ? base / cross_thread_divisor : base;
}

void check_totals(const params& p, std::uint64_t count, std::uint64_t sum) {
  if (count != p.messages || sum != expected_sum(p.messages)) {
    throw check_failed(std::string(to_string(p.w)) + ": consumers received " +
                       std::to_string(count) + " messages summing to " + std::to_string(sum) +
                       ", expected " + std::to_string(p.messages) + " summing to " +
                       std::to_string(expected_sum(p.messages)));
  }
}

}  // namespace bench
