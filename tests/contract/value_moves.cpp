// How often a value moves on its way through a channel, and what a throwing move may cost:
// the channel's own transfers are the only moves the library makes, and a move that throws
// leaves the value where it was (with its sender, or in the buffer) and the channel usable.

#include <set>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <csp/csp.hpp>

#include "support/counted.hpp"

using csp_test::counted;
using csp_test::throwing;

namespace {

long constructions() { return csp_test::counts().constructed.load(); }

}  // namespace

TEST_CASE("recv and the range-for iterator construct the value in place: one move out of "
          "the buffer",
          "[contract][moves]") {
  auto [tx, rx] = csp::make_channel<counted>(8);
  for (int i = 0; i < 4; ++i) REQUIRE(tx.send(counted(i)));
  tx.close();

  long before = constructions();
  auto r = rx.recv();
  CHECK(constructions() - before == 1);
  REQUIRE(r);
  CHECK(r->id() == 0);

  before = constructions();
  auto t = rx.try_recv();
  CHECK(constructions() - before == 1);
  REQUIRE(t);

  std::vector<int> ids;
  before = constructions();
  for (counted& v : rx) ids.push_back(v.id());
  CHECK(constructions() - before == 2);  // values 2 and 3, one move each
  CHECK(ids == std::vector<int>{2, 3});
}

TEST_CASE("the range-for iterator loses nothing when the move out of the channel throws",
          "[contract][moves][exceptions]") {
  auto [tx, rx] = csp::make_channel<throwing>(8);
  for (int i = 0; i < 3; ++i) REQUIRE(tx.send(throwing(i)));
  tx.close();
  std::multiset<int> got;
  int thrown = 0;
  auto advance = [&](auto& it) {
    for (;;) {
      try {
        ++it;
        return;
      } catch (const csp_test::move_error&) {
        ++thrown;  // the value stayed buffered: the next increment receives it
      }
    }
  };
  auto it = rx.begin();
  // The second move attempt from here on throws: with an extra move inside the iterator
  // (channel -> result -> iterator), that was the second value's second move, after it had
  // left the channel, and the value was lost.
  csp_test::arm_move_throws(2);
  while (it != rx.end()) {
    got.insert(it->id());
    advance(it);
  }
  csp_test::arm_move_throws(0);
  CHECK(thrown == 1);
  CHECK(got == std::multiset<int>{0, 1, 2});
}

TEST_CASE("a throwing refill does not strand the next parked sender beside a free slot",
          "[contract][moves][exceptions][fifo]") {
  // Capacity 1, full, two senders parked. The receive frees the slot and refills it from the
  // oldest sender, whose move throws: the next sender must fill the slot (else it stays
  // parked while the slot is free, and a later try_send overtakes it).
  auto [tx, rx] = csp::make_channel<throwing>(1);
  REQUIRE(tx.send(throwing(0)));
  bool first_done = false;
  bool second_done = false;
  csp::task<void> first = csp::spawn([&, tx = tx] {
    throwing v(1);
    v.throw_on_move(1);
    // The refill's move throws in the receiver's context: this sender retries with its own
    // move, which succeeds once the slot is free again.
    first_done = tx.send(std::move(v));
  });
  csp::task<void> second = csp::spawn([&, tx = tx] { second_done = tx.send(throwing(2)); });
  for (int i = 0; i < 10; ++i) csp::this_fiber::yield();  // both park: the slot is taken
  REQUIRE_FALSE(first_done);
  REQUIRE_FALSE(second_done);

  auto r = rx.try_recv();
  REQUIRE(r);
  CHECK(r->id() == 0);
  CHECK(rx.size() == 1);  // refilled, by the second sender
  CHECK(tx.try_send(throwing(3)) == csp::status::full);

  std::vector<int> order;
  for (int i = 0; i < 2; ++i) {
    auto v = rx.recv();
    REQUIRE(v);
    order.push_back(v->id());
  }
  first.join();
  second.join();
  CHECK(first_done);
  CHECK(second_done);
  // The first sender's send completed after the second's: FIFO is by completion.
  CHECK(order == std::vector<int>{2, 1});
  CHECK(rx.try_recv().status() == csp::status::empty);
}
