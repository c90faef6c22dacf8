// csp::net within one process over loopback: the semantics on every way of running
// (run_modes.hpp), the codec, and what a hostile or wrong peer gets.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <csp/net.hpp>

#include "net/net_value.hpp"
#include "net/raw_socket.hpp"
#include "contract/contract.hpp"  // CSP_EACH_MODE, current_test

using namespace std::chrono_literals;
using csp_test::run_mode;
using net_test::value;

namespace {

csp::net::options with_peers(std::size_t peers) {
  csp::net::options o;
  o.peers = peers;
  return o;
}

// A frame as csp::net writes it (net/include/csp/net/detail/frame.hpp): length, kind, payload.
std::string frame(unsigned char kind, const std::string& payload) {
  std::string f(4, '\0');
  const auto length = static_cast<std::uint32_t>(payload.size() + 1);
  for (int i = 0; i < 4; ++i) f[static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
  f.push_back(static_cast<char>(kind));
  return f + payload;
}
std::string hello() { return frame(1, std::string("csp-net") + '\x01'); }
std::string encoded(const value& v) {
  std::string out;
  csp::net::codec<value>::encode(v, out);
  return out;
}

}  // namespace

TEST_CASE("net: on every way of running, each peer's values arrive in order and close ends rx",
          "[net][modes]") {
  const run_mode mode = CSP_EACH_MODE();
  CAPTURE(mode);
  const std::size_t peers = 2;
  const std::uint64_t count = 300;
  auto l = csp::net::listen<value>("tcp://127.0.0.1:0", with_peers(peers));
  std::map<int, std::uint64_t> next;
  std::uint64_t received = 0;
  bool in_order = true;
  csp_test::run_processes(
      mode, peers,
      [&](std::size_t i) {
        csp::sender<value> tx = csp::net::dial<value>(l.url());
        for (std::uint64_t s = 0; s < count; ++s) {
          CSP_EXPECT(tx.send(net_test::make_value(static_cast<int>(i), s, i * 10)));
        }
        tx.close();
      },
      [&] {
        for (value& v : l.rx()) {
          in_order = in_order && v.seq == next[v.peer]++ && net_test::payload_ok(v);
          ++received;
        }
      },
      csp_test::current_test());
  CHECK(received == peers * count);
  CHECK(in_order);
  CHECK(l.peers_connected() == peers);
  CHECK(l.peers_closed() == peers);
  CHECK(l.peers_lost() == 0);
}

TEST_CASE("net: close returns once every value sent has reached the listener", "[net][close]") {
  csp::net::options o = with_peers(1);
  o.capacity = 1000;
  auto l = csp::net::listen<value>("tcp://127.0.0.1:0", o);
  const bool explicit_close = GENERATE(true, false);
  CAPTURE(explicit_close);
  {
    csp::sender<value> tx = csp::net::dial<value>(l.url());
    for (std::uint64_t s = 0; s < 500; ++s) REQUIRE(tx.send(net_test::make_value(0, s, 100)));
    CHECK(csp::net::link_status(tx).state == csp::net::link_state::open);
    if (explicit_close) {
      tx.close();
      CHECK(csp::net::link_status(tx).state == csp::net::link_state::delivered);
    }
  }  // or the drop of the last handle
  // Nothing received yet: every value must already be buffered on the listener's side.
  CHECK(l.rx().size() == 500);
  std::uint64_t n = 0;
  for (value& v : l.rx()) CHECK(v.seq == n++);
  CHECK(n == 500);
}

TEST_CASE("net: the listener's close drains rx, then closes it; the dialer's send fails",
          "[net][close]") {
  auto l = csp::net::listen<int>("tcp://127.0.0.1:0", with_peers(0));
  csp::sender<int> tx = csp::net::dial<int>(l.url());
  REQUIRE(tx.send(1));
  csp::receiver<int> rx = l.rx();
  REQUIRE(rx.recv_for(10s).value() == 1);
  l.close();
  CHECK(rx.recv_for(10s).status() == csp::status::closed);
  const auto closed_at = std::chrono::steady_clock::now();
  bool failed = false;
  for (int i = 0; i < 100000 && !failed; ++i) {
    failed = !tx.send(i);
    if (!failed) std::this_thread::sleep_for(1ms);
  }
  CHECK(failed);
  CHECK(std::chrono::steady_clock::now() - closed_at < 10s);
  const csp::net::link_report r = csp::net::link_status(tx);
  CHECK(r.state == csp::net::link_state::failed);
  CHECK(!r.why.empty());
  auto [local_tx, local_rx] = csp::make_channel<int>(1);
  CHECK(csp::net::link_status(local_tx).state == csp::net::link_state::local);
  CHECK_THROWS_AS(csp::net::link_status(csp::sender<int>{}), csp::empty_handle);
}

TEST_CASE("net: bad options and unreachable or foreign peers are clear errors", "[net][errors]") {
  csp::net::options zero;
  zero.capacity = 0;
  CHECK_THROWS_AS(csp::net::listen<int>("tcp://127.0.0.1:0", zero), csp::invalid_argument);
  CHECK_THROWS_AS(csp::net::dial<int>("tcp://127.0.0.1:1", zero), csp::invalid_argument);
  csp::net::options tiny;
  tiny.max_frame = 8;
  CHECK_THROWS_AS(csp::net::listen<int>("tcp://127.0.0.1:0", tiny), csp::invalid_argument);

  CHECK_THROWS_AS(csp::net::listen<int>("nonsense://where"), csp::net::error);
  CHECK_THROWS_AS(csp::net::dial<int>("nonsense://where"), csp::net::error);
  auto l = csp::net::listen<int>("tcp://127.0.0.1:0");
  CHECK_THROWS_AS(csp::net::listen<int>(l.url()), csp::net::error);  // the port is taken

  csp::net::options quick;
  quick.connect_timeout = 300ms;
  {
    // A port nobody listens on is retried, then refused.
    const std::string nobody = net_test::closed_port_url();
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(csp::net::dial<int>(nobody, quick), csp::net::error);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
  {
    // Something that is not a csp::net listener answers.
    const net_test::raw_server http("HTTP/1.1 400 Bad Request\r\n\r\n");
    std::thread serve([&] { http.serve_one(5000); });
    CHECK_THROWS_AS(csp::net::dial<int>(http.url(), quick), csp::net::error);
    serve.join();
  }
}

TEST_CASE("net: dialers beyond options.peers are refused: their dial throws", "[net][errors]") {
  // Two dial at once for one place: however their handshakes interleave, exactly one link
  // is made, and the other dial fails rather than returning a sender about to break.
  auto l = csp::net::listen<int>("tcp://127.0.0.1:0");  // peers = 1
  csp::net::options quick;
  quick.connect_timeout = 1000ms;
  std::atomic<int> made{0}, refused{0};
  auto dial = [&](int v) {
    try {
      csp::sender<int> tx = csp::net::dial<int>(l.url(), quick);
      ++made;
      tx.send(v);
    } catch (const csp::net::error&) {
      ++refused;
    }
  };
  std::thread a(dial, 1), b(dial, 2);
  a.join();
  b.join();
  CHECK(made == 1);
  CHECK(refused == 1);
  const auto v = l.rx().recv_for(10s);
  REQUIRE(v);
  CHECK((*v == 1 || *v == 2));
  CHECK(l.rx().recv_for(10s).status() == csp::status::closed);
  CHECK(l.peers_connected() == 1);
}

TEST_CASE("net: hostile bytes drop that peer, counted lost; the other peers go on",
          "[net][hostile]") {
  std::string bytes;
  SECTION("garbage instead of a hello") { bytes = "GET / HTTP/1.1\r\n\r\n"; }
  SECTION("a frame above max_frame") { bytes = hello() + "\xff\xff\xff\x0f\x02"; }
  SECTION("an unknown frame kind") { bytes = hello() + frame(9, "x"); }
  SECTION("a value that does not decode") { bytes = hello() + frame(2, "\x01\x02\x03"); }
  SECTION("a string that claims a terabyte") {
    // A whole value, then its string's length replaced by 2^40: resizing to it is the attack.
    std::string v = encoded(net_test::make_value(1, 2, 3));
    const std::size_t size_at = v.size() - 3 - 8;  // the payload's length, before its 3 bytes
    v.replace(size_at, 8, std::string("\x00\x00\x00\x00\x00\x01\x00\x00", 8));
    bytes = hello() + frame(2, v);
  }
  SECTION("a value with bytes left over") { bytes = hello() + frame(2, encoded(value{}) + "zz"); }
  SECTION("an ack, which only listeners send") { bytes = hello() + frame(5, std::string(8, '\0')); }
  SECTION("a fin that counts values that never came") {
    bytes = hello() + frame(4, std::string("\x05\0\0\0\0\0\0\0", 8));
  }
  const bool before_handshake = bytes.rfind("GET", 0) == 0;
  // A hostile peer that got through the handshake takes a place among `peers`.
  auto l = csp::net::listen<value>("tcp://127.0.0.1:0", with_peers(before_handshake ? 1 : 2));
  CHECK(net_test::send_raw_and_wait_for_close(net_test::port_of(l.url()), bytes, 10000));
  csp_test::wait_until([&] { return l.peers_lost() == 1; });
  CHECK(l.peers_lost() == 1);
  CHECK(!l.last_loss().empty());
  std::atomic<std::uint64_t> sent{0};
  std::thread dialer([&] {  // receiving meanwhile: close() waits for rx to take every value
    csp::sender<value> tx = csp::net::dial<value>(l.url());
    for (std::uint64_t s = 0; s < 300; ++s) sent += tx.send(net_test::make_value(0, s, 5));
  });
  std::uint64_t n = 0;
  for (value& v : l.rx()) CHECK(v.seq == n++);
  dialer.join();
  CHECK(sent == 300);
  CHECK(n == 300);
  CHECK(l.peers_closed() == 1);
  CHECK(l.peers_lost() == 1);
}

TEST_CASE("net: a flood of silent connections is capped, and cleared by the handshake deadline",
          "[net][hostile]") {
  csp::net::options o;
  o.connect_timeout = 500ms;  // how long a silent connection may hold its place
  auto l = csp::net::listen<int>("tcp://127.0.0.1:0", o);
  std::vector<int> silent;
  for (int i = 0; i < 70; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = net_test::loopback(net_test::port_of(l.url()));
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    silent.push_back(fd);
  }
  // 64 wait in their handshake, the other 6 are refused at once; then all 70 time out.
  csp_test::wait_until([&] { return l.peers_lost() >= 6; });
  CHECK(l.peers_lost() >= 6);
  csp_test::wait_until([&] { return l.peers_lost() == 70; });
  CHECK(l.peers_lost() == 70);
  for (int fd : silent) ::close(fd);
  csp::sender<int> tx = csp::net::dial<int>(l.url());
  REQUIRE(tx.send(5));
  CHECK(l.rx().recv_for(10s).value() == 5);
  CHECK(l.peers_connected() == 1);
}

TEST_CASE("net: a value above max_frame fails the link instead of being sent", "[net][errors]") {
  csp::net::options o = with_peers(1);
  o.max_frame = 1024;
  auto l = csp::net::listen<std::string>("tcp://127.0.0.1:0", o);
  csp::sender<std::string> tx = csp::net::dial<std::string>(l.url(), o);
  REQUIRE(tx.send(std::string(100, 'a')));
  REQUIRE(tx.send(std::string(4096, 'b')));  // buffered locally; the link fails on it
  bool failed = false;
  for (int i = 0; i < 10000 && !failed; ++i) {
    failed = !tx.send(std::string(10, 'c'));
    if (!failed) std::this_thread::sleep_for(1ms);
  }
  CHECK(failed);
  CHECK(csp::net::link_status(tx).why.find("max_frame") != std::string::npos);
  auto first = l.rx().recv_for(10s);
  REQUIRE(first);
  CHECK(*first == std::string(100, 'a'));
  CHECK(l.rx().recv_for(10s).status() == csp::status::closed);
  CHECK(l.peers_lost() == 1);
}

TEST_CASE("net: codec: cereal round trips; short, long and lying bytes are decode_errors",
          "[net][codec]") {
  const value v = net_test::make_value(4, 99, 20);
  const std::string bytes = encoded(v);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const value back = csp::net::codec<value>::decode(p, bytes.size());
  CHECK(back.peer == 4);
  CHECK(back.seq == 99);
  CHECK(back.payload == v.payload);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    CHECK_THROWS_AS(csp::net::codec<value>::decode(p, cut), csp::net::decode_error);
  }
  const std::string longer = bytes + "x";
  CHECK_THROWS_AS(csp::net::codec<value>::decode(
                      reinterpret_cast<const unsigned char*>(longer.data()), longer.size()),
                  csp::net::decode_error);

  using nested = std::vector<std::vector<std::string>>;
  std::string n;
  csp::net::codec<nested>::encode(nested{{"a", "b"}, {}, {"c"}}, n);
  CHECK(csp::net::codec<nested>::decode(reinterpret_cast<const unsigned char*>(n.data()),
                                        n.size()) == nested{{"a", "b"}, {}, {"c"}});
  n.replace(1, 8, std::string("\x00\x00\x00\x00\x01\x00\x00\x00", 8));  // 2^32 inner vectors
  CHECK_THROWS_AS(csp::net::codec<nested>::decode(
                      reinterpret_cast<const unsigned char*>(n.data()), n.size()),
                  csp::net::decode_error);
}

namespace {
// A type cereal knows nothing about, sent with a codec of its own.
struct point {
  int x, y;
};
}  // namespace

template <>
struct csp::net::codec<point> {
  static void encode(const point& p, std::string& out) {
    out += std::to_string(p.x) + "," + std::to_string(p.y);
  }
  static point decode(const unsigned char* data, std::size_t size) {
    const std::string s(reinterpret_cast<const char*>(data), size);
    const std::size_t comma = s.find(',');
    if (comma == std::string::npos) throw csp::net::decode_error("no comma");
    return point{std::stoi(s.substr(0, comma)), std::stoi(s.substr(comma + 1))};
  }
};

TEST_CASE("net: a user's codec specialization is what goes on the wire", "[net][codec]") {
  auto l = csp::net::listen<point>("tcp://127.0.0.1:0");
  {
    csp::sender<point> tx = csp::net::dial<point>(l.url());
    for (int i = 0; i < 10; ++i) REQUIRE(tx.send(point{i, -i}));
  }
  int i = 0;
  for (point& p : l.rx()) {
    CHECK(p.x == i);
    CHECK(p.y == -i);
    ++i;
  }
  CHECK(i == 10);
}

TEST_CASE("net: the frame reader finds the same frames however the stream is cut",
          "[net][frames]") {
  // Three frames as a link carries them: a hello, a data frame, a heartbeat. A read may end
  // anywhere, including right after a frame's 4-byte length, before its kind byte.
  const std::string data = encoded(net_test::make_value(1, 2, 70));
  const std::string stream = hello() + frame(2, data) + frame(3, "");
  for (std::size_t cut = 1; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    csp::net::detail::frame_reader reader(4096);
    std::vector<std::pair<int, std::string>> frames;
    std::string why;
    std::size_t fed = 0;
    bool bad = false;
    while (!bad) {
      csp::net::detail::frame f;
      const auto got = reader.next(f, why);
      if (got == csp::net::detail::frame_reader::result::bad) bad = true;
      if (got == csp::net::detail::frame_reader::result::frame) {
        frames.emplace_back(static_cast<int>(f.kind),
                            std::string(reinterpret_cast<const char*>(f.payload), f.size));
        continue;
      }
      if (fed == stream.size()) break;
      std::size_t room = 0;
      unsigned char* into = reader.prepare(room);
      // The first read fills the whole room when it can, as a fast stream would.
      const std::size_t n = std::min({room, cut, stream.size() - fed});
      std::copy_n(stream.data() + fed, n, into);
      reader.commit(n);
      fed += n;
    }
    REQUIRE_FALSE(bad);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].first == 1);
    CHECK(frames[1].first == 2);
    CHECK(frames[1].second == data);
    CHECK(frames[2].first == 3);
  }
}

TEST_CASE("net: the codec grows vectors as they decode and refuses impossible bools",
          "[net][codec]") {
  // A vector of big elements whose announced size fits the frame's byte count: resizing to
  // it first would allocate 4 KiB per announced element.
  using big = std::vector<std::array<char, 4096>>;
  std::string bytes;
  csp::net::codec<big>::encode(big(2), bytes);
  bytes.replace(1, 8, std::string("\x00\x00\x01\x00\x00\x00\x00\x00", 8));  // 65,536 elements
  bytes.append(60000, 'x');  // enough bytes for the size check, not for the elements
  CHECK_THROWS_AS(csp::net::codec<big>::decode(
                      reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()),
                  csp::net::decode_error);
  const std::string two = "\x01\x02";
  CHECK_THROWS_AS(csp::net::codec<bool>::decode(
                      reinterpret_cast<const unsigned char*>(two.data()), two.size()),
                  csp::net::decode_error);
}

TEST_CASE("net: the shortcut for numbers and strings writes and reads cereal's own bytes",
          "[net][codec]") {
  auto same_as_cereal = [](const auto& v) {
    using T = std::decay_t<decltype(v)>;
    std::string fast, slow;
    csp::net::codec<T>::encode(v, fast);
    csp::net::detail::cereal_codec<T>::encode(v, slow);
    CHECK(fast == slow);
    const auto* p = reinterpret_cast<const unsigned char*>(slow.data());
    CHECK(csp::net::codec<T>::decode(p, slow.size()) == v);
    const auto* q = reinterpret_cast<const unsigned char*>(fast.data());
    CHECK(csp::net::detail::cereal_codec<T>::decode(q, fast.size()) == v);
  };
  same_as_cereal(0);
  same_as_cereal(-123456789);
  same_as_cereal(std::uint64_t{0x0123456789abcdef});
  same_as_cereal(3.25);
  same_as_cereal('x');
  same_as_cereal(std::string());
  same_as_cereal(std::string("hello, world"));
  same_as_cereal(std::string(100000, 'z'));

  // A big-endian writer's bytes (flag 0) read back swapped.
  const std::string big_endian_int = std::string("\x00\x00\x00\x01\x02", 5);
  CHECK(csp::net::codec<std::int32_t>::decode(
            reinterpret_cast<const unsigned char*>(big_endian_int.data()), 5) == 0x102);
  // Wrong flag, wrong size, a string size that disagrees with the frame.
  for (const std::string& bad : {std::string("\x02\x00\x00\x00\x00", 5), std::string("\x01\x00", 2),
                                std::string("\x01\x05\0\0\0\0\0\0\0abc", 12)}) {
    const auto* p = reinterpret_cast<const unsigned char*>(bad.data());
    CHECK_THROWS_AS(csp::net::codec<std::int32_t>::decode(p, bad.size()), csp::net::decode_error);
    CHECK_THROWS_AS(csp::net::codec<std::string>::decode(p, bad.size()), csp::net::decode_error);
  }
}
