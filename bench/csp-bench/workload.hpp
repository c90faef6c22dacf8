#pragma once
// What csp-bench measures: the workloads, their parameters, and the rules every
// implementation (csp, Boost.Fiber's channels here; Go and crossbeam in bench/peers) follows
// so that rows with the same key are comparable. bench/README.md says the same for the ports.
//
// Values are std::uint64_t. The M messages of a run are the numbers 0 .. M-1; producer p of
// P sends k = p, p+P, p+2P, ... (k < M), so the producers together send each number once
// (M/P each, the first M%P producers one more). Consumers add up what they receive; after
// the run the counts must add up to M and the sums to M(M-1)/2 (mod 2^64), else the run
// fails. Channels close when the last producer is done; consumers receive until closed.
//
//   spsc         1 producer, 1 consumer, one channel.
//   mpsc         P producers (default 4), 1 consumer, one channel.
//   mpmc         P producers, C consumers (default 4 and 4), one channel.
//   select_rx    P producers (default 4), each on its own channel; 1 consumer receives by a
//                select over all P receivers (csp::selector), dropping each case once its
//                channel is closed and drained.
//   select_both  P producers, C consumers (default 4 and 4), P channels; every producer
//                sends each of its values by a select over all P senders, every consumer
//                receives by a select over all P receivers.
//   pingpong     2 fibers, 2 rendezvous channels (a->b, b->a); capacity is ignored and
//                reported as 0. `messages` counts one-way sends: a sends 0, b answers 1,
//                a sends 2, ... until M values have gone one way or the other (M/2 round
//                trips). Each side checks every value it receives.
//   chain        N = M fibers in a daisy chain over N+1 rendezvous channels: fiber i receives
//                x from channel i and sends x+1 on channel i+1. A driver fiber sends 0 into
//                channel 0 and checks that N comes out of channel N. Timed from before the
//                channels are made to after every fiber is joined and every channel
//                destroyed: spawn + pass + teardown. ns_per_msg is the time per fiber.
//                Capacity is ignored (rendezvous) and reported as 0; producers = consumers = 1.
//
// The net workloads (csp::net against raw NNG, over loopback TCP inside this one process;
// not in --suite, which compares in-process channels with the peers). `--workload net` runs
// both rows below; `--workload net_pingpong` the second alone.
//   net           1 sender dials 1 listener at tcp://127.0.0.1:0 and sends 0 .. M-1; the
//                 receiver checks count and sum as above. Capacity is the buffer on each side
//                 of the link, in values (csp: options.capacity; nng: NNG_OPT_SENDBUF and
//                 NNG_OPT_RECVBUF), default 64, csp::net's own default. Timed from just
//                 before the first send to the receipt of the last value: connecting is
//                 before the clock, and so is csp's close() (its wait for the listener's ack)
//                 after it. ns_per_msg = that time / M.
//   net_pingpong  two links, a -> b and b -> a (csp: each side dials the other's listener;
//                 nng: one pair1 socket pair, which carries both ways); a sends 0, b answers
//                 1, ... like pingpong: `messages` counts one-way sends, so ns_per_msg is
//                 half a round trip. Timed from a's first send to the receipt of value M-1.
//                 Capacity is ignored (one value is ever in flight) and reported as 1.
//
// Message counts: --messages, else default_messages() below (per workload; 1/50 of it where
// messages may have to cross OS threads); `--suite --messages N` scales every row's default
// by N/1e6. The peers (bench/peers) use the same defaults.
//
// Schedulers (the impl names; rows say which in their `impl` key):
//   csp            the fibers run on a csp::runtime of T worker threads (the thing users run:
//                  `csp::runtime rt{csp::threads(T)}; rt.run(...)`): a root fiber spawns
//                  every fiber with csp::spawn, they may run on any worker and migrate.
//   boost          T = 1: one thread on Boost.Fiber's default round_robin scheduler (what a
//                  Boost.Fiber user runs on one thread, and the same as boost-pinned).
//                  T > 1: Boost.Fiber's own boost::fibers::algo::work_stealing(T) on T threads;
//                  thread 0 spawns every fiber, the others steal them (boost_pool.hpp).
//   nng            the net workloads only: raw NNG (push0/pull0, pair1) with nng_send and
//                  nng_recv on two plain threads, beside NNG's own I/O threads; --threads
//                  changes nothing and is only reported. The csp rows of the net workloads
//                  run on a csp::runtime of T workers; csp-pinned and boost skip them.
//   csp-pinned,    T fresh OS threads per run, each with its own round_robin scheduler (no
//   boost-pinned   migration). Fiber k of the list "producers 0..P-1, then consumers 0..C-1"
//                  runs on thread k mod T (pingpong: a on thread 0, b on thread 1 mod T). The
//                  chain is cut into T contiguous blocks (fiber i on thread i*T/N), so only
//                  T-1 links cross threads; the driver runs on thread 0. csp-pinned at T = 1
//                  is what `csp` measured before it ran on csp::runtime.
//
// Timing (every scheduler): the fibers are spawned first, untimed, and wait at a start gate
// (csp: a channel the root closes; boost: a fiber condition variable; pinned: the fibers do
// not run before their thread's main fiber blocks, and the threads meet at a barrier). The
// clock starts when the gate opens and stops when every fiber has been joined. Thread and
// runtime creation is outside the clock. chain is the exception: spawning is what it
// measures, so its clock runs from before the channels are made to after every fiber is
// joined and every channel destroyed.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bench {

using msg = std::uint64_t;

enum class workload {
  spsc, mpsc, mpmc, select_rx, select_both, pingpong, chain,  // channels
  net, net_pingpong                                           // csp::net
};
inline constexpr std::array all_workloads = {
    workload::spsc,     workload::mpsc,  workload::mpmc, workload::select_rx, workload::select_both,
    workload::pingpong, workload::chain, workload::net,  workload::net_pingpong};
// The channel workloads: --suite runs these (the peers and bench/compare know no others).
inline constexpr std::array suite_workloads = {workload::spsc,      workload::mpsc,
                                               workload::mpmc,      workload::select_rx,
                                               workload::select_both, workload::pingpong,
                                               workload::chain};
inline bool is_net(workload w) noexcept {
  return w == workload::net || w == workload::net_pingpong;
}

// See "Schedulers" above. The pinned kinds are separate impls so that a row's `impl` says
// which scheduler ran it and the JSON keys stay those of the bench contract.
enum class impl { csp, boost, csp_pinned, boost_pinned, nng };
inline constexpr std::array all_impls = {impl::csp, impl::boost, impl::csp_pinned,
                                         impl::boost_pinned, impl::nng};
inline bool is_csp(impl i) noexcept { return i == impl::csp || i == impl::csp_pinned; }

std::string_view to_string(workload w) noexcept;
std::string_view to_string(impl i) noexcept;
std::optional<workload> parse_workload(std::string_view s) noexcept;
std::optional<impl> parse_impl(std::string_view s) noexcept;

// The channel capacity of a run: 0 (rendezvous), N >= 1 (bounded) or unbounded.
struct capacity_spec {
  bool unbounded = false;
  std::size_t n = 0;  // meaningful when !unbounded

  std::string to_string() const;  // "0", "1024", "unbounded"
  friend bool operator==(const capacity_spec&, const capacity_spec&) = default;
};
inline constexpr std::size_t max_bounded_capacity = std::size_t{1} << 26;

// Accepts "0", "1".."67108864", "unbounded"; nullopt for anything else.
std::optional<capacity_spec> parse_capacity(std::string_view s) noexcept;

// Which parameters a workload uses.
struct workload_traits {
  bool uses_capacity;        // pingpong, chain: always rendezvous; net_pingpong: always 1
  bool variable_producers;   // else exactly 1
  bool variable_consumers;   // else exactly 1
  bool needs_select;
  int default_producers;
  int default_consumers;
  std::uint64_t default_messages;  // see default_messages()
};
workload_traits traits(workload w) noexcept;

// The capacity a row reports when --capacity is not given, and the one a workload that
// ignores --capacity always reports: 0 (rendezvous), but net's 64 and net_pingpong's 1.
capacity_spec default_capacity(workload w) noexcept;

// The message count of a row when none is given (the --suite count at scale 1): the
// workload's default, divided by cross_thread_divisor where every message needs a hand-off
// to a fiber on another OS thread (threads > 1 and capacity 0 or 1, or pingpong; always so
// when pinned, often on a runtime); never for the net workloads, whose messages cross
// threads whatever T is. Such a hand-off may wake a sleeping thread (futex) and
// cost microseconds where a switch between fibers of one thread costs ~100 ns, so those
// rows could otherwise take 50 times longer.
inline constexpr std::uint64_t cross_thread_divisor = 50;
std::uint64_t default_messages(workload w, const capacity_spec& c, int threads) noexcept;

// One row of the benchmark: everything that identifies a measurement.
struct params {
  workload w = workload::spsc;
  capacity_spec capacity;
  int threads = 1;
  int producers = 1;
  int consumers = 1;
  std::uint64_t messages = 0;
};

// The thread (0..threads-1) that runs fiber k of "producers, then consumers".
inline int thread_of(std::size_t k, int threads) noexcept {
  return static_cast<int>(k % static_cast<std::size_t>(threads));
}

// The thread that runs fiber i of a chain of n fibers (contiguous blocks).
inline int chain_thread_of(std::uint64_t i, std::uint64_t n, int threads) noexcept {
  return static_cast<int>(i * static_cast<std::uint64_t>(threads) / n);
}

// 0 + 1 + ... + (m-1), mod 2^64 (the consumers' sums wrap the same way).
inline std::uint64_t expected_sum(std::uint64_t m) noexcept {
  return m % 2 == 0 ? (m / 2) * (m - 1) : m * ((m - 1) / 2);
}

// A run whose counts do not add up: a lost, doubled or corrupted message.
struct check_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws check_failed unless the consumers' totals are those of messages 0..m-1.
void check_totals(const params& p, std::uint64_t count, std::uint64_t sum);

}  // namespace bench
