// The channel contract, part 3: operations racing each other, in every flavor and every way
// of running (fibers on one thread, fibers on several threads, plain threads, and all of
// them mixed). Close and disconnection wake every blocked party; a throwing move between
// partners loses nothing; and under stress every value sent is received exactly once, each
// producer's values in order. Loop counts scale with CSP_STRESS_SCALE.

#include "contract.hpp"  // first: see the note at its top

#include <atomic>
#include <cstddef>
#include <utility>
#include <vector>


using namespace std::chrono_literals;
using csp::status;
using csp_test::counted;
using csp_test::move_only;
using csp_test::run_mode;

namespace {

constexpr std::size_t many = 10;  // blocked parties per close/disconnect test

// One blocking receive of the kind picked by `kind`; returns its status. The range-for kind
// returns the status of a try_recv after the loop ended (closed, if the loop ended right).
template <class T>
status blocking_recv(csp::receiver<T>& rx, std::size_t kind, int& received) {
  switch (kind % 4) {
    case 0: {
      auto r = rx.recv();
      if (r) ++received;
      return r.status();
    }
    case 1: {
      auto r = rx.recv_for(1h);
      if (r) ++received;
      return r.status();
    }
    case 2: {
      auto r = rx.recv_until(csp::clock::now() + 1h);
      if (r) ++received;
      return r.status();
    }
    default:
      for (auto& v : rx) {
        (void)v;
        ++received;
      }
      return rx.try_recv().status();
  }
}

// Sends v with the operation picked by `op`, retrying full and timeout (checking each time
// that v is still intact) until it is sent (true) or the channel is closed (false, v
// intact). A try_send that keeps failing falls back to a blocking send, so two partners that
// both only try can never starve each other on a rendezvous channel.
template <class T>
bool send_with(csp::sender<T>& tx, T& v, unsigned op) {
  const int id = v.id();
  const int aux = v.aux();
  csp_test::backoff b;
  for (int tries = 0;; ++tries) {
    const unsigned kind = op % 4 == 1 && tries > 20 ? 0 : op % 4;
    status s = status::ok;
    switch (kind) {
      case 0: s = tx.send(std::move(v)) ? status::ok : status::closed; break;
      case 1: s = tx.try_send(std::move(v)); break;
      case 2: s = tx.send_for(std::move(v), 200us); break;
      default: s = tx.send_until(std::move(v), csp::clock::now() + 200us); break;
    }
    if (s == status::ok) {
      CSP_EXPECT(v.moved_from());
      return true;
    }
    CSP_EXPECT(v.id() == id && v.aux() == aux);  // a failed send keeps the value
    if (s == status::closed) return false;
    CSP_EXPECT(s == (kind == 1 ? status::full : status::timeout));
    if (kind == 1) b.pause();
  }
}

// Receives with the operation picked by `op`, retrying empty and timeout, until it gets a
// value or status closed. A try_recv that keeps failing falls back to a blocking recv.
template <class T>
csp::result<T> recv_with(csp::receiver<T>& rx, unsigned op) {
  csp_test::backoff b;
  for (int tries = 0;; ++tries) {
    const unsigned kind = op % 4 == 1 && tries > 20 ? 0 : op % 4;
    csp::result<T> r = [&] {
      switch (kind) {
        case 0: return rx.recv();
        case 1: return rx.try_recv();
        case 2: return rx.recv_for(200us);
        default: return rx.recv_until(csp::clock::now() + 200us);
      }
    }();
    if (r.status() == status::ok || r.status() == status::closed) return r;
    CSP_EXPECT(r.status() == (kind == 1 ? status::empty : status::timeout));
    if (kind == 1) b.pause();
  }
}

struct received_value {
  int producer;
  int seq;
};
using consumer_log = std::vector<received_value>;

// On the test thread: every value producer p sent successfully (seq < sent[p]) was received
// exactly once, nothing else was received, and every consumer saw each producer's values in
// increasing order (FIFO per channel).
void require_conservation(const std::vector<consumer_log>& logs,
                          const std::vector<std::size_t>& sent) {
  std::vector<std::vector<int>> seen(sent.size());
  for (std::size_t p = 0; p < sent.size(); ++p) seen[p].assign(sent[p], 0);
  std::size_t unknown = 0, duplicated = 0, out_of_order = 0, missing = 0, total = 0;
  for (const consumer_log& log : logs) {
    std::vector<int> last(sent.size(), -1);
    for (const received_value& v : log) {
      ++total;
      const auto p = static_cast<std::size_t>(v.producer);
      if (v.producer < 0 || p >= sent.size() || v.seq < 0 ||
          static_cast<std::size_t>(v.seq) >= sent[p]) {
        ++unknown;
        continue;
      }
      if (v.seq <= last[p]) ++out_of_order;
      last[p] = v.seq;
      if (++seen[p][static_cast<std::size_t>(v.seq)] > 1) ++duplicated;
    }
  }
  std::size_t expected = 0;
  for (std::size_t p = 0; p < sent.size(); ++p) {
    expected += sent[p];
    for (int count : seen[p]) missing += count == 0 ? 1 : 0;
  }
  CAPTURE(expected, total);
  CHECK(unknown == 0u);
  CHECK(duplicated == 0u);
  CHECK(out_of_order == 0u);
  REQUIRE(missing == 0u);
  REQUIRE(total == expected);
}

}  // namespace

// ---------------------------------------------------------------- close wakes everyone

TEMPLATE_TEST_CASE("contract: close wakes every blocked receiver", "[contract][close]",
                   CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  const bool close_sender_end = GENERATE(true, false);
  CAPTURE(mode, close_sender_end);
  csp_test::reset_counts();
  std::atomic<std::size_t> arrived{0};
  std::atomic<std::size_t> woke_closed{0};
  std::atomic<int> received{0};
  {
    auto ch = F::template make<move_only>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    csp_test::run_processes(
        mode, many,
        [&](std::size_t i) {
          arrived.fetch_add(1);
          int got = 0;
          const status s = blocking_recv(rx, i, got);
          received.fetch_add(got);
          CSP_EXPECT(s == status::closed);
          woke_closed.fetch_add(1);
        },
        [&] {
          csp_test::wait_until([&] { return arrived.load() == many; });
          csp_test::let_them_block();
          (close_sender_end ? tx.close() : rx.close());
        },
        csp_test::current_test());
  }
  REQUIRE(woke_closed.load() == many);
  REQUIRE(received.load() == 0);
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE("contract: close wakes every blocked sender, which keeps its value",
                   "[contract][close]", CSP_TEST_BLOCKING_SEND_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  const bool close_sender_end = GENERATE(true, false);
  CAPTURE(mode, close_sender_end);
  csp_test::reset_counts();
  std::atomic<std::size_t> arrived{0};
  std::atomic<std::size_t> failed_intact{0};
  std::vector<int> drained;
  status after = status::ok;
  {
    auto ch = F::template make<move_only>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    const std::size_t n = F::buffered;  // fill it: every send below blocks
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(tx.try_send(move_only(static_cast<int>(i))) == status::ok);
    }
    csp_test::run_processes(
        mode, many,
        [&](std::size_t i) {
          const int id = 100 + static_cast<int>(i);
          move_only v(id);
          arrived.fetch_add(1);
          status s = status::ok;
          switch (i % 3) {
            case 0: s = tx.send(std::move(v)) ? status::ok : status::closed; break;
            case 1: s = tx.send_for(std::move(v), 1h); break;
            default: s = tx.send_until(std::move(v), csp::clock::now() + 1h); break;
          }
          CSP_EXPECT(s == status::closed);
          CSP_EXPECT(v.id() == id);
          failed_intact.fetch_add(1);
        },
        [&] {
          csp_test::wait_until([&] { return arrived.load() == many; });
          csp_test::let_them_block();
          (close_sender_end ? tx.close() : rx.close());
        },
        csp_test::current_test());
    // What was buffered before the close is still there, in order, and nothing else.
    while (auto v = rx.recv()) drained.push_back(v->id());
    after = rx.try_recv().status();
  }
  REQUIRE(failed_intact.load() == many);
  REQUIRE(drained == csp_test::iota_ids(F::buffered));
  REQUIRE(after == status::closed);
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- disconnection wakes everyone

TEMPLATE_TEST_CASE(
    "contract: destroying the last sender wakes every blocked receiver with closed",
    "[contract][disconnect]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  std::atomic<std::size_t> arrived{0};
  std::atomic<std::size_t> woke_closed{0};
  std::atomic<int> received{0};
  {
    auto ch = F::template make<move_only>();
    std::vector<csp::receiver<move_only>> receivers(many, ch.second);  // one handle each
    { auto drop = std::move(ch.second); }
    csp_test::run_processes(
        mode, many,
        [&](std::size_t i) {
          arrived.fetch_add(1);
          int got = 0;
          const status s = blocking_recv(receivers[i], i, got);
          received.fetch_add(got);
          CSP_EXPECT(s == status::closed);
          woke_closed.fetch_add(1);
        },
        [&] {
          csp_test::wait_until([&] { return arrived.load() == many; });
          csp_test::let_them_block();
          auto last = std::move(ch.first);  // the only sender handle, destroyed right here
        },
        csp_test::current_test());
  }
  REQUIRE(woke_closed.load() == many);
  REQUIRE(received.load() == 0);
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE(
    "contract: destroying the last receiver wakes every blocked sender and destroys the "
    "buffered values",
    "[contract][disconnect]", CSP_TEST_BLOCKING_SEND_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  std::atomic<std::size_t> arrived{0};
  std::atomic<std::size_t> failed_intact{0};
  long live_before_drop = -1;
  long live_after_drop = -1;
  {
    auto ch = F::template make<counted>();
    auto& tx = ch.first;
    const std::size_t n = F::buffered;
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(tx.try_send(counted(static_cast<int>(i))) == status::ok);
    }
    std::atomic<std::size_t> done{0};
    std::atomic<bool> counted_all{false};
    csp_test::run_processes(
        mode, many,
        [&](std::size_t i) {
          const int id = 100 + static_cast<int>(i);
          counted v(id);
          arrived.fetch_add(1);
          const bool ok = i % 2 ? tx.send(std::move(v)) : tx.send_for(std::move(v), 1h) == status::ok;
          CSP_EXPECT(!ok);
          CSP_EXPECT(v.id() == id);
          failed_intact.fetch_add(1);
          done.fetch_add(1);
          // Keep v until the controller has counted the live values.
          csp_test::wait_until([&] { return counted_all.load(); });
        },
        [&] {
          csp_test::wait_until([&] { return arrived.load() == many; });
          csp_test::let_them_block();
          live_before_drop = csp_test::counts().live.load();  // buffered + senders' values
          { auto last = std::move(ch.second); }
          csp_test::wait_until([&] { return done.load() == many; });
          live_after_drop = csp_test::counts().live.load();  // the senders' values only
          counted_all = true;
        },
        csp_test::current_test());
    REQUIRE(tx.is_closed());
    REQUIRE(tx.size() == 0u);
  }
  REQUIRE(failed_intact.load() == many);
  REQUIRE(live_before_drop == static_cast<long>(F::buffered + many));
  REQUIRE(live_after_drop == static_cast<long>(many));
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- throwing moves between partners

TEMPLATE_TEST_CASE(
    "contract: a move that throws between partners loses nothing and keeps the order",
    "[contract][throwing]", CSP_TEST_ALL_FLAVORS) {
  using F = TestType;
  using csp_test::throwing;
  const run_mode mode = CSP_EACH_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  const std::size_t n = csp_test::streamable<F>(60);
  std::atomic<long> send_throws{0};
  std::atomic<long> recv_throws{0};
  long armed = 0;
  long armed_try_sends = 0;  // armed values sent with try_send
  std::vector<int> got;
  {
    auto ch = F::template make<throwing>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    for (std::size_t i = 0; i < n; i += 3) {
      ++armed;
      if (i % 2) ++armed_try_sends;
    }
    csp_test::run_processes(
        mode, 2,
        [&](std::size_t who) {
          if (who == 0) {
            for (std::size_t i = 0; i < n; ++i) {
              const int id = static_cast<int>(i);
              throwing v(id);
              if (i % 3 == 0) v.throw_on_move();  // whoever moves it first gets the throw
              csp_test::backoff b;
              for (;;) {
                try {
                  if (i % 2) {
                    const status s = tx.try_send(std::move(v));
                    if (s == status::ok) break;
                    CSP_EXPECT(s == status::full);
                    b.pause();
                  } else {
                    CSP_EXPECT(tx.send(std::move(v)));
                    break;
                  }
                } catch (const csp_test::move_error&) {
                  send_throws.fetch_add(1);
                }
                CSP_EXPECT(v.id() == id);  // failed, threw or not: still ours
              }
            }
            tx.close();
          } else {
            for (;;) {
              try {
                auto r = rx.recv();
                if (!r) {
                  CSP_EXPECT(r.status() == status::closed);
                  break;
                }
                got.push_back(r->id());
              } catch (const csp_test::move_error&) {
                recv_throws.fetch_add(1);
              }
            }
          }
        },
        {}, csp_test::current_test());
  }
  // Each armed value threw exactly once: the sender, the receiver, or (refilling a freed
  // slot from a blocked sender) the channel itself saw it; the value was never lost.
  REQUIRE(csp_test::counts().moves_thrown.load() == armed);
  REQUIRE(send_throws.load() + recv_throws.load() <= armed);
  // try_send moves in the sender's own context (into the buffer, or to a receiver already
  // waiting), so there the throw always reaches the sender.
  REQUIRE(send_throws.load() >= armed_try_sends);
  REQUIRE(got == csp_test::iota_ids(n));
  csp_test::require_no_leaks();
}

// ---------------------------------------------------------------- stress

TEMPLATE_TEST_CASE(
    "contract: many producers and consumers: every value arrives exactly once, each "
    "producer's in order",
    "[contract][stress]", CSP_TEST_MULTI_VALUE_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  CAPTURE(mode);
  csp_test::reset_counts();
  constexpr std::size_t producers = 3;
  constexpr std::size_t consumers = 3;
  const std::size_t per_producer = 2000 * csp_test::stress_scale();
  std::vector<consumer_log> logs(consumers);
  std::vector<std::size_t> sent(producers, 0);
  std::vector<status> endings(consumers, status::ok);
  {
    auto ch = F::template make<move_only>();
    // Each producer owns a sender handle; when the last one finishes, the channel closes.
    std::vector<csp::sender<move_only>> txs(producers, ch.first);
    { auto drop = std::move(ch.first); }
    auto& rx = ch.second;
    csp_test::run_processes(
        mode, producers + consumers,
        [&](std::size_t i) {
          if (i < producers) {
            csp::sender<move_only> tx = std::move(txs[i]);
            for (std::size_t seq = 0; seq < per_producer; ++seq) {
              move_only v(static_cast<int>(seq), static_cast<int>(i));
              const auto op = static_cast<unsigned>(seq + i);
              if (!send_with(tx, v, op)) break;  // only if closed: a failure
              ++sent[i];
            }
            return;  // tx dies here
          }
          const std::size_t c = i - producers;
          for (unsigned k = 0;; ++k) {
            auto r = recv_with(rx, k + static_cast<unsigned>(c));
            if (!r) {
              endings[c] = r.status();
              break;
            }
            logs[c].push_back({r->aux(), r->id()});
          }
        },
        {}, csp_test::current_test());
  }
  for (std::size_t p = 0; p < producers; ++p) REQUIRE(sent[p] == per_producer);
  for (status s : endings) REQUIRE(s == status::closed);
  require_conservation(logs, sent);
  csp_test::require_no_leaks();
}

TEMPLATE_TEST_CASE(
    "contract: close racing with traffic: every successful send is received exactly once",
    "[contract][stress][close]", CSP_TEST_MULTI_VALUE_FLAVORS) {
  using F = TestType;
  const run_mode mode = CSP_EACH_MODE();
  const bool close_sender_end = GENERATE(true, false);
  CAPTURE(mode, close_sender_end);
  csp_test::reset_counts();
  constexpr std::size_t producers = 3;
  constexpr std::size_t consumers = 3;
  const std::size_t cap = 5000 * csp_test::stress_scale();  // per producer, if never closed
  std::vector<consumer_log> logs(consumers);
  std::vector<std::size_t> sent(producers, 0);
  std::atomic<std::size_t> received{0};
  {
    auto ch = F::template make<move_only>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    csp_test::run_processes(
        mode, producers + consumers,
        [&](std::size_t i) {
          if (i < producers) {
            for (std::size_t seq = 0; seq < cap; ++seq) {
              move_only v(static_cast<int>(seq), static_cast<int>(i));
              if (!send_with(tx, v, static_cast<unsigned>(seq * 7 + i))) break;
              ++sent[i];
              if (seq % 16 == 0) csp::this_fiber::yield();  // let the close in
            }
            return;
          }
          const std::size_t c = i - producers;
          for (unsigned k = 0;; ++k) {
            auto r = recv_with(rx, k * 3 + static_cast<unsigned>(c));
            if (!r) break;  // closed and drained
            logs[c].push_back({r->aux(), r->id()});
            received.fetch_add(1);
          }
        },
        [&] {
          csp_test::wait_until([&] { return received.load() >= 300; });
          (close_sender_end ? tx.close() : rx.close());
        },
        csp_test::current_test());
  }
  require_conservation(logs, sent);
  csp_test::require_no_leaks();
}
