#pragma once
// Helpers of the select suite (tests/select only): the ways a test's parties can run, a
// thread-safe check for use inside them, channel flavors, and the stress scale.
//
//   run_parties(mode, {party, ...})  runs every party concurrently and waits for all:
//     one_thread    every party is a fiber on the calling (test) thread
//     many_threads  parties are fibers spread over two worker std::threads
//     plain_threads every party is its own std::thread (its main fiber)
//   The first exception any party throws is rethrown on the test thread.
//
// Catch2 2.x assertions are not thread-safe: inside a party use SEL_CHECK (throws
// sel_test::check_failed, which fails the test once every party has finished).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <csp/csp.hpp>

namespace sel_test {

using namespace std::chrono_literals;

// ---- checks that may run on any thread

class check_failed : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] inline void fail_check(const char* what, const char* file, int line) {
  throw check_failed(std::string(file) + ":" + std::to_string(line) + ": check failed: " + what);
}

}  // namespace sel_test

#define SEL_CHECK(...) \
  ((__VA_ARGS__) ? void() : ::sel_test::fail_check(#__VA_ARGS__, __FILE__, __LINE__))

namespace sel_test {

// ---- knobs

// CSP_STRESS_SCALE multiplies the loop counts of the stress tests (default 1).
inline std::size_t stress_scale() {
  static const std::size_t scale = [] {
    const char* s = std::getenv("CSP_STRESS_SCALE");
    if (s == nullptr || *s == '\0') return std::size_t{1};
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s, &end, 10);
    return end == s || v == 0 ? std::size_t{1} : static_cast<std::size_t>(v);
  }();
  return scale;
}

// ---- running parties

enum class mode { one_thread, many_threads, plain_threads };
inline constexpr mode all_modes[] = {mode::one_thread, mode::many_threads, mode::plain_threads};

constexpr const char* to_string(mode m) noexcept {
  switch (m) {
    case mode::one_thread: return "fibers on one thread";
    case mode::many_threads: return "fibers on several threads";
    case mode::plain_threads: return "plain threads";
  }
  return "?";
}
inline std::ostream& operator<<(std::ostream& os, mode m) { return os << to_string(m); }

using party = std::function<void()>;

namespace detail {

class first_error {
 public:
  void capture() noexcept {
    std::lock_guard lk(m_);
    if (!e_) e_ = std::current_exception();
  }
  void rethrow_if_any() {
    std::lock_guard lk(m_);
    if (e_) std::rethrow_exception(e_);
  }

 private:
  std::mutex m_;
  std::exception_ptr e_;
};

// Aborts with a message if a run does not finish in time (a deadlock), so the failure
// names the run instead of leaving only the CTest timeout to report it.
class watchdog {
 public:
  explicit watchdog(std::string label) : label_(std::move(label)), thread_([this] { watch(); }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard lk(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void watch() {
    const auto limit = std::chrono::seconds(60 * static_cast<long long>(stress_scale()));
    std::unique_lock lk(m_);
    if (!cv_.wait_for(lk, limit, [this] { return done_; })) {
      std::fprintf(stderr, "\nselect suite watchdog: \"%s\" did not finish in %lld s: deadlock?\n",
                   label_.c_str(), static_cast<long long>(limit.count()));
      std::fflush(stderr);
      std::abort();
    }
  }

  std::string label_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

inline void fibers_here(const std::vector<party>& parties) {
  std::vector<csp::task<void>> tasks;
  tasks.reserve(parties.size());
  for (const party& p : parties) tasks.push_back(csp::spawn(p));
  for (auto& t : tasks) t.join();
}

}  // namespace detail

inline void run_parties(mode m, std::vector<party> parties, const std::string& label = "run") {
  detail::first_error errors;
  std::vector<party> guarded;
  guarded.reserve(parties.size());
  for (party& p : parties) {
    guarded.emplace_back([&errors, p = std::move(p)] {
      try {
        p();
      } catch (...) {
        errors.capture();
      }
    });
  }
  detail::watchdog dog(label + " (" + to_string(m) + ")");
  switch (m) {
    case mode::one_thread:
      detail::fibers_here(guarded);
      break;
    case mode::many_threads: {
      std::vector<std::vector<party>> per_thread(guarded.size() < 2 ? guarded.size() : 2);
      for (std::size_t i = 0; i < guarded.size(); ++i) {
        per_thread[i % per_thread.size()].push_back(guarded[i]);
      }
      std::vector<std::thread> threads;
      for (auto& ps : per_thread) threads.emplace_back([&ps] { detail::fibers_here(ps); });
      for (auto& t : threads) t.join();
      break;
    }
    case mode::plain_threads: {
      std::vector<std::thread> threads;
      for (const party& p : guarded) threads.emplace_back(p);
      for (auto& t : threads) t.join();
      break;
    }
  }
  errors.rethrow_if_any();
}

// Runs one party alone in mode m: a fiber here, a fiber on another thread, or a plain
// thread. Use SEL_CHECK inside (Catch2 may not assert from another thread).
inline void run_alone(mode m, party p, const std::string& label = "run_alone") {
  run_parties(m, {std::move(p)}, label);
}

// Lets parties that are about to block get parked first. Correctness never depends on it
// (a party that is not parked yet sees the same outcome); it only steers coverage.
inline void let_them_block() { csp::this_fiber::sleep_for(20ms); }

// Polls pred() until it holds, sleeping the calling fiber in between so that the other
// fibers of this thread run (a blind spin would deadlock fibers on one thread).
template <class Pred>
void wait_until(Pred pred) {
  while (!pred()) csp::this_fiber::sleep_for(100us);
}

inline double ms_since(csp::clock::time_point start) {
  return std::chrono::duration<double, std::milli>(csp::clock::now() - start).count();
}

// ---- channel flavors

struct rendezvous {
  static constexpr const char* name = "rendezvous";
  static constexpr bool is_rendezvous = true;
  static constexpr bool is_oneshot = false;
  static constexpr std::size_t room = 0;  // values a send can buffer with no receiver
  template <class T>
  static csp::channel_pair<T> make() { return csp::make_channel<T>(); }
};
template <std::size_t N>
struct bounded {
  static constexpr const char* name = "bounded";
  static constexpr bool is_rendezvous = false;
  static constexpr bool is_oneshot = false;
  static constexpr std::size_t room = N;
  template <class T>
  static csp::channel_pair<T> make() { return csp::make_channel<T>(N); }
};
struct unbounded {
  static constexpr const char* name = "unbounded";
  static constexpr bool is_rendezvous = false;
  static constexpr bool is_oneshot = false;
  static constexpr std::size_t room = 1000000;
  template <class T>
  static csp::channel_pair<T> make() { return csp::make_channel<T>(csp::unbounded); }
};
struct oneshot {
  static constexpr const char* name = "oneshot";
  static constexpr bool is_rendezvous = false;
  static constexpr bool is_oneshot = true;
  static constexpr std::size_t room = 1;
  template <class T>
  static csp::channel_pair<T> make() { return csp::make_oneshot<T>(); }
};

}  // namespace sel_test

#define SEL_ALL_FLAVORS \
  sel_test::rendezvous, sel_test::bounded<1>, sel_test::bounded<4>, sel_test::unbounded, \
      sel_test::oneshot
#define SEL_MULTI_VALUE_FLAVORS \
  sel_test::rendezvous, sel_test::bounded<1>, sel_test::bounded<4>, sel_test::unbounded
#define SEL_BUFFERED_FLAVORS sel_test::bounded<1>, sel_test::bounded<4>, sel_test::unbounded
