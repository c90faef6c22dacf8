// Bad input and errors: make_channel's capacity checks, empty sender/receiver handles,
// csp::result<T>, csp::status and its printing, and the exception type hierarchy.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <csp/csp.hpp>

using namespace std::chrono_literals;

namespace {

struct big {
  char bytes[1 << 20];
};

struct wide {
  std::int64_t a;
  std::int64_t b;
};

// Both the csp type and the standard base it promises.
#define REQUIRE_THROWS_INVALID_ARGUMENT(expr)            \
  do {                                                   \
    REQUIRE_THROWS_AS(expr, csp::invalid_argument);      \
    REQUIRE_THROWS_AS(expr, std::invalid_argument);      \
  } while (false)

#define REQUIRE_THROWS_EMPTY_HANDLE(expr)           \
  do {                                              \
    REQUIRE_THROWS_AS(expr, csp::empty_handle);     \
    REQUIRE_THROWS_AS(expr, std::logic_error);      \
  } while (false)

}  // namespace

// ---------------------------------------------------------------------------------------
// Exception types

TEST_CASE("exception types derive from the documented standard bases", "[errors]") {
  STATIC_REQUIRE(std::is_base_of_v<std::invalid_argument, csp::invalid_argument>);
  STATIC_REQUIRE(std::is_base_of_v<std::logic_error, csp::empty_handle>);
  STATIC_REQUIRE(std::is_base_of_v<std::logic_error, csp::bad_result_access>);

  const csp::invalid_argument ia("bad capacity");
  REQUIRE(std::string(ia.what()) == "bad capacity");
  const csp::empty_handle eh("no channel");
  REQUIRE(std::string(eh.what()) == "no channel");
  const csp::bad_result_access bra("no value");
  REQUIRE(std::string(bra.what()) == "no value");
}

// ---------------------------------------------------------------------------------------
// make_channel: bad capacities

TEST_CASE("make_channel rejects a negative capacity", "[errors][make_channel]") {
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<int>(-1));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<int>(std::numeric_limits<int>::min()));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<int>(std::int64_t{-1}));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<int>(static_cast<short>(-7)));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<std::string>(static_cast<signed char>(-1)));
  REQUIRE_THROWS_INVALID_ARGUMENT(
      csp::make_channel<int>(std::numeric_limits<std::ptrdiff_t>::min()));
}

TEST_CASE("make_channel rejects a capacity above max_capacity<T>()", "[errors][make_channel]") {
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<int>(csp::max_capacity<int>() + 1));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<char>(csp::max_capacity<char>() + 1));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<wide>(csp::max_capacity<wide>() + 1));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<big>(csp::max_capacity<big>() + 1));
  REQUIRE_THROWS_INVALID_ARGUMENT(
      csp::make_channel<int>(std::numeric_limits<std::size_t>::max()));
  REQUIRE_THROWS_INVALID_ARGUMENT(
      csp::make_channel<int>(std::numeric_limits<std::uintmax_t>::max()));
  // A signed capacity above the limit (max_capacity<int> < PTRDIFF_MAX).
  REQUIRE_THROWS_INVALID_ARGUMENT(
      csp::make_channel<int>(std::numeric_limits<std::ptrdiff_t>::max()));
  REQUIRE_THROWS_INVALID_ARGUMENT(
      csp::make_channel<big>(static_cast<long long>(csp::max_capacity<big>()) + 1));
}

TEST_CASE("max_capacity<T>() is the address space divided by sizeof(T)", "[make_channel]") {
  STATIC_REQUIRE(csp::max_capacity<char>() ==
                 static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()));
  STATIC_REQUIRE(csp::max_capacity<big>() ==
                 static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) /
                     sizeof(big));
  STATIC_REQUIRE(csp::max_capacity<big>() * sizeof(big) <=
                 static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()));
}

// ASan's and TSan's allocators abort on a request this size instead of throwing
// std::bad_alloc (operator new reports out-of-memory whatever allocator_may_return_null
// says), so this one case cannot run under them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CSP_TEST_HUGE_ALLOCATION_FAILS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CSP_TEST_HUGE_ALLOCATION_FAILS 0
#endif
#endif
#ifndef CSP_TEST_HUGE_ALLOCATION_FAILS
#define CSP_TEST_HUGE_ALLOCATION_FAILS 1
#endif

#if CSP_TEST_HUGE_ALLOCATION_FAILS
TEST_CASE("make_channel rejects a capacity whose buffer cannot be allocated",
          "[errors][make_channel]") {
  // Accepted by the max_capacity check, but ~2^63 bytes: the allocation must fail, and
  // that must surface as csp::invalid_argument, not std::bad_alloc.
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<big>(csp::max_capacity<big>()));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<int>(csp::max_capacity<int>()));
  REQUIRE_THROWS_INVALID_ARGUMENT(csp::make_channel<wide>(csp::max_capacity<wide>() / 2));
  REQUIRE_THROWS_INVALID_ARGUMENT(
      csp::make_channel<big>(static_cast<std::int64_t>(csp::max_capacity<big>())));

  // Nothing is left broken: ordinary channels still work.
  auto [tx, rx] = csp::make_channel<int>(2);
  REQUIRE(tx.send(1));
  REQUIRE(*rx.recv() == 1);
}
#endif

TEST_CASE("make_channel accepts every valid capacity type", "[make_channel]") {
  auto [t0, r0] = csp::make_channel<int>(0);
  REQUIRE(r0.capacity() == std::optional<std::size_t>(0));
  auto [t1, r1] = csp::make_channel<int>(std::size_t{1});
  REQUIRE(r1.capacity() == std::optional<std::size_t>(1));
  auto [t2, r2] = csp::make_channel<int>(static_cast<unsigned char>(200));
  REQUIRE(t2.capacity() == std::optional<std::size_t>(200));
  auto [t3, r3] = csp::make_channel<int>(std::int64_t{3});
  REQUIRE(r3.capacity() == std::optional<std::size_t>(3));
  auto [t4, r4] = csp::make_channel<int>(csp::unbounded);
  REQUIRE_FALSE(r4.capacity().has_value());
  auto [t5, r5] = csp::make_channel<int>();
  REQUIRE(r5.capacity() == std::optional<std::size_t>(0));
}

// ---------------------------------------------------------------------------------------
// Empty handles

namespace {

void require_empty_sender(csp::sender<int>& tx) {
  REQUIRE_FALSE(static_cast<bool>(tx));
  REQUIRE(tx == csp::sender<int>{});
  int lvalue = 5;
  REQUIRE_THROWS_EMPTY_HANDLE(tx.send(1));
  REQUIRE_THROWS_EMPTY_HANDLE(tx.send(lvalue));
  REQUIRE_THROWS_EMPTY_HANDLE(tx.try_send(1));
  REQUIRE_THROWS_EMPTY_HANDLE(tx.send_for(1, 1ms));
  REQUIRE_THROWS_EMPTY_HANDLE(tx.send_until(1, csp::clock::now() + 1ms));
  REQUIRE_THROWS_EMPTY_HANDLE(tx.send_until(1, std::chrono::system_clock::now() + 1ms));
  REQUIRE_THROWS_EMPTY_HANDLE(tx.close());
  REQUIRE_THROWS_EMPTY_HANDLE(tx.is_closed());
  REQUIRE_THROWS_EMPTY_HANDLE(tx.size());
  REQUIRE_THROWS_EMPTY_HANDLE(tx.capacity());
  REQUIRE(lvalue == 5);
}

void require_empty_receiver(csp::receiver<int>& rx) {
  REQUIRE_FALSE(static_cast<bool>(rx));
  REQUIRE(rx == csp::receiver<int>{});
  REQUIRE_THROWS_EMPTY_HANDLE(rx.recv());
  REQUIRE_THROWS_EMPTY_HANDLE(rx.try_recv());
  REQUIRE_THROWS_EMPTY_HANDLE(rx.recv_for(1ms));
  REQUIRE_THROWS_EMPTY_HANDLE(rx.recv_until(csp::clock::now() + 1ms));
  REQUIRE_THROWS_EMPTY_HANDLE(rx.recv_until(std::chrono::system_clock::now() + 1ms));
  REQUIRE_THROWS_EMPTY_HANDLE(rx.begin());
  REQUIRE_THROWS_EMPTY_HANDLE([&rx] {
    for (int v : rx) (void)v;
  }());
  REQUIRE_THROWS_EMPTY_HANDLE(rx.close());
  REQUIRE_THROWS_EMPTY_HANDLE(rx.is_closed());
  REQUIRE_THROWS_EMPTY_HANDLE(rx.size());
  REQUIRE_THROWS_EMPTY_HANDLE(rx.capacity());
}

}  // namespace

TEST_CASE("every operation on a default-constructed handle throws csp::empty_handle",
          "[errors][handles]") {
  csp::sender<int> tx;
  csp::receiver<int> rx;
  require_empty_sender(tx);
  require_empty_receiver(rx);
}

TEST_CASE("every operation on a moved-from handle throws csp::empty_handle",
          "[errors][handles]") {
  auto [tx, rx] = csp::make_channel<int>(4);

  SECTION("moved-from by construction") {
    csp::sender<int> tx2(std::move(tx));
    csp::receiver<int> rx2(std::move(rx));
    require_empty_sender(tx);
    require_empty_receiver(rx);
    // The moved-to handles own the channel, which is still open and works.
    REQUIRE_FALSE(tx2.is_closed());
    REQUIRE(tx2.send(7));
    auto r = rx2.recv();
    REQUIRE(r);
    REQUIRE(*r == 7);
  }

  SECTION("moved-from by assignment") {
    csp::sender<int> tx2;
    csp::receiver<int> rx2;
    tx2 = std::move(tx);
    rx2 = std::move(rx);
    require_empty_sender(tx);
    require_empty_receiver(rx);
    REQUIRE(tx2.try_send(8) == csp::status::ok);
    REQUIRE(rx2.try_recv().value() == 8);
  }

  SECTION("an emptied handle can be given a channel again") {
    csp::sender<int> tx2(std::move(tx));
    require_empty_sender(tx);
    tx = tx2;
    REQUIRE(static_cast<bool>(tx));
    REQUIRE(tx.send(9));
    REQUIRE(rx.recv().value() == 9);
  }
}

TEST_CASE("empty handles of a move-only type also throw", "[errors][handles]") {
  csp::sender<std::unique_ptr<int>> tx;
  csp::receiver<std::unique_ptr<int>> rx;
  auto p = std::make_unique<int>(3);
  REQUIRE_THROWS_AS(tx.send(std::move(p)), csp::empty_handle);
  REQUIRE(p != nullptr);  // the value stays with the caller
  REQUIRE(*p == 3);
  REQUIRE_THROWS_AS(tx.try_send(std::move(p)), csp::empty_handle);
  REQUIRE(p != nullptr);
  REQUIRE_THROWS_AS(rx.recv(), csp::empty_handle);
  REQUIRE_THROWS_AS(rx.try_recv(), csp::empty_handle);
}

TEST_CASE("empty handles throw from a fiber and from a plain thread", "[errors][handles]") {
  auto t = csp::spawn([] {
    csp::receiver<int> rx;
    (void)rx.recv();
    return 0;
  });
  REQUIRE_THROWS_AS(t.join(), csp::empty_handle);

  std::exception_ptr from_thread;
  std::thread th([&from_thread] {
    try {
      csp::sender<int> tx;
      (void)tx.send(1);
    } catch (...) {
      from_thread = std::current_exception();
    }
  });
  th.join();
  REQUIRE(from_thread);
  REQUIRE_THROWS_AS(std::rethrow_exception(from_thread), csp::empty_handle);
}

// ---------------------------------------------------------------------------------------
// csp::result<T>

TEST_CASE("result with a value", "[result]") {
  csp::result<int> r(std::in_place, 7);
  REQUIRE(r.status() == csp::status::ok);
  REQUIRE(r.has_value());
  REQUIRE(static_cast<bool>(r));
  REQUIRE(*r == 7);
  REQUIRE(r.value() == 7);
  REQUIRE(r.value_or(3) == 7);

  *r = 8;  // operator* gives a reference into the result
  REQUIRE(r.value() == 8);
  r.value() = 9;
  REQUIRE(*r == 9);

  const csp::result<int>& cr = r;
  REQUIRE(*cr == 9);
  REQUIRE(cr.value() == 9);
  REQUIRE(cr.value_or(0) == 9);
  STATIC_REQUIRE(std::is_same_v<decltype(*cr), const int&>);
  STATIC_REQUIRE(std::is_same_v<decltype(cr.value()), const int&>);
  STATIC_REQUIRE(std::is_same_v<decltype(*r), int&>);
  STATIC_REQUIRE(std::is_same_v<decltype(*std::move(r)), int&&>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::move(r).value()), int&&>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<csp::result<int>, bool>);  // explicit bool
  STATIC_REQUIRE(std::is_same_v<csp::result<int>::value_type, int>);
}

TEST_CASE("result: operator-> reaches the value's members", "[result]") {
  csp::result<std::string> r(std::in_place, "hello");
  REQUIRE(r->size() == 5);
  r->append(" world");
  REQUIRE(*r == "hello world");
  const csp::result<std::string>& cr = r;
  REQUIRE(cr->front() == 'h');
  STATIC_REQUIRE(std::is_same_v<decltype(cr.operator->()), const std::string*>);

  csp::result<std::string> from_args(std::in_place, 3, 'x');  // in_place forwards arguments
  REQUIRE(*from_args == "xxx");
}

TEST_CASE("result without a value", "[result]") {
  const csp::status s =
      GENERATE(csp::status::empty, csp::status::closed, csp::status::timeout, csp::status::full);
  CAPTURE(s);
  csp::result<int> r(s);
  REQUIRE(r.status() == s);
  REQUIRE_FALSE(r.has_value());
  REQUIRE_FALSE(static_cast<bool>(r));
  REQUIRE_THROWS_AS(r.value(), csp::bad_result_access);
  REQUIRE_THROWS_AS(r.value(), std::logic_error);
  const csp::result<int>& cr = r;
  REQUIRE_THROWS_AS(cr.value(), csp::bad_result_access);
  REQUIRE_THROWS_AS(std::move(r).value(), csp::bad_result_access);
  REQUIRE(r.value_or(5) == 5);
  REQUIRE(cr.value_or(6) == 6);
  csp::result<int> moved(s);
  REQUIRE(std::move(moved).value_or(7) == 7);
  REQUIRE(r.status() == s);  // unchanged by the failed accesses
}

TEST_CASE("result::value_or converts the fallback and keeps or moves the value", "[result]") {
  SECTION("conversion of the fallback") {
    csp::result<std::string> none(csp::status::closed);
    REQUIRE(none.value_or("fallback") == "fallback");
    csp::result<long> nl(csp::status::timeout);
    REQUIRE(nl.value_or(3) == 3L);
    csp::result<double> nd(csp::status::empty);
    REQUIRE(nd.value_or(1.5f) == 1.5);
  }
  SECTION("on an lvalue the value stays") {
    csp::result<std::string> r(std::in_place, "kept");
    REQUIRE(r.value_or("other") == "kept");
    REQUIRE(r.has_value());
    REQUIRE(*r == "kept");
  }
  SECTION("on an rvalue a move-only value is moved out") {
    csp::result<std::unique_ptr<int>> r(std::in_place, std::make_unique<int>(4));
    std::unique_ptr<int> p = std::move(r).value_or(nullptr);
    REQUIRE(p);
    REQUIRE(*p == 4);
    csp::result<std::unique_ptr<int>> none(csp::status::closed);
    REQUIRE(std::move(none).value_or(nullptr) == nullptr);
  }
}

TEST_CASE("result of a move-only type", "[result]") {
  csp::result<std::unique_ptr<int>> r(std::in_place, std::make_unique<int>(12));
  REQUIRE(**r == 12);
  REQUIRE(*r->get() == 12);
  std::unique_ptr<int> p = std::move(r).value();
  REQUIRE(*p == 12);
  csp::result<std::unique_ptr<int>> r2(std::in_place, std::make_unique<int>(13));
  std::unique_ptr<int> q = *std::move(r2);
  REQUIRE(*q == 13);
  csp::result<std::unique_ptr<int>> none(csp::status::closed);
  REQUIRE_THROWS_AS(std::move(none).value(), csp::bad_result_access);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<csp::result<std::unique_ptr<int>>>);
  STATIC_REQUIRE(std::is_move_constructible_v<csp::result<std::unique_ptr<int>>>);
}

TEST_CASE("result is usable in constant expressions", "[result]") {
  constexpr csp::result<int> r(std::in_place, 3);
  STATIC_REQUIRE(r.status() == csp::status::ok);
  STATIC_REQUIRE(r.has_value());
  STATIC_REQUIRE(*r == 3);
  STATIC_REQUIRE(r.value_or(9) == 3);
  constexpr csp::result<int> none(csp::status::closed);
  STATIC_REQUIRE(!none.has_value());
  STATIC_REQUIRE(none.value_or(9) == 9);
}

TEST_CASE("results that channels return carry the documented statuses", "[result][channels]") {
  auto [tx, rx] = csp::make_channel<int>(2);

  auto empty = rx.try_recv();
  REQUIRE(empty.status() == csp::status::empty);
  REQUIRE_FALSE(empty);
  REQUIRE_THROWS_AS(empty.value(), csp::bad_result_access);

  auto timed_out = rx.recv_for(2ms);
  REQUIRE(timed_out.status() == csp::status::timeout);
  REQUIRE_FALSE(timed_out);

  REQUIRE(tx.send(1));
  REQUIRE(tx.try_send(2) == csp::status::ok);
  REQUIRE(tx.try_send(3) == csp::status::full);
  REQUIRE(tx.send_for(3, 2ms) == csp::status::timeout);
  tx.close();
  REQUIRE(tx.try_send(3) == csp::status::closed);
  REQUIRE_FALSE(tx.send(3));

  // The loop idiom: values until closed and drained, then a result with status closed.
  std::vector<int> got;
  csp::result<int> last(csp::status::empty);
  for (;;) {
    auto v = rx.recv();
    if (!v) {
      last = std::move(v);
      break;
    }
    got.push_back(*v);
  }
  REQUIRE(got == std::vector<int>{1, 2});
  REQUIRE(last.status() == csp::status::closed);
  REQUIRE_THROWS_AS(last.value(), csp::bad_result_access);
  REQUIRE(rx.try_recv().status() == csp::status::closed);
  REQUIRE(rx.recv_for(1ms).status() == csp::status::closed);
}

// ---------------------------------------------------------------------------------------
// csp::status

TEST_CASE("to_string(status) names every status", "[status]") {
  STATIC_REQUIRE(csp::to_string(csp::status::ok) == "ok");
  STATIC_REQUIRE(noexcept(csp::to_string(csp::status::ok)));
  REQUIRE(csp::to_string(csp::status::ok) == "ok");
  REQUIRE(csp::to_string(csp::status::empty) == "empty");
  REQUIRE(csp::to_string(csp::status::full) == "full");
  REQUIRE(csp::to_string(csp::status::closed) == "closed");
  REQUIRE(csp::to_string(csp::status::timeout) == "timeout");
}

TEST_CASE("operator<< prints the status name", "[status]") {
  const std::pair<csp::status, const char*> cases[] = {
      {csp::status::ok, "ok"},         {csp::status::empty, "empty"},
      {csp::status::full, "full"},     {csp::status::closed, "closed"},
      {csp::status::timeout, "timeout"},
  };
  for (const auto& [s, name] : cases) {
    std::ostringstream os;
    os << "[" << s << "]";
    REQUIRE(os.str() == std::string("[") + name + "]");
  }
  std::ostringstream chained;
  chained << csp::status::full << ',' << csp::status::closed;
  REQUIRE(chained.str() == "full,closed");
}

TEST_CASE("statuses are distinct", "[status]") {
  const csp::status all[] = {csp::status::ok, csp::status::empty, csp::status::full,
                             csp::status::closed, csp::status::timeout};
  for (std::size_t i = 0; i < std::size(all); ++i) {
    for (std::size_t j = 0; j < std::size(all); ++j) {
      REQUIRE((all[i] == all[j]) == (i == j));
      REQUIRE((csp::to_string(all[i]) == csp::to_string(all[j])) == (i == j));
    }
  }
}
