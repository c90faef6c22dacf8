#pragma once
// One NNG byte stream (TCP, IPC or TLS), read and written by csp::net's own plain threads,
// which wait on NNG's completions (nng_aio_wait). A fiber never waits here: fibers talk to
// these threads through ordinary csp channels, so they park by the channels' own protocol.

#include <nng/nng.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <csp/net/options.hpp>

namespace csp::net::detail {

[[noreturn]] inline void throw_nng(const std::string& what, int rv) {
  throw error("csp::net: " + what + ": " + nng_strerror(rv), rv);
}

inline nng_duration to_nng(std::chrono::milliseconds d) {
  return d.count() > 0x7fffffff ? 0x7fffffff : static_cast<nng_duration>(d.count());
}

// NNG initializes itself on the first call that needs it, behind a flag it reads without a
// lock (posix_thread.c, NNG 1.5): two threads whose first NNG calls meet race on that flag
// (TSan saw two first dials do so). listen() and dial() call this before anything else: a
// C++ static's initialization orders NNG's set-up before every later call. Throws
// csp::net::error if NNG cannot start (no memory or threads).
inline void init_nng() {
  static const int rv = [] {
    nng_aio* a = nullptr;
    const int r = nng_aio_alloc(&a, nullptr, nullptr);  // the cheapest call that initializes
    nng_aio_free(a);
    return r;
  }();
  if (rv != 0) throw_nng("NNG's initialization", rv);
}

struct aio_deleter {
  void operator()(nng_aio* a) const noexcept { nng_aio_free(a); }
};
using aio_ptr = std::unique_ptr<nng_aio, aio_deleter>;

// Frees an aio before the NNG object it ran on (a stream, a dialer) is freed. An aio whose
// timeout fires is completed by NNG's expiry thread, which calls the object's cancel function
// (it locks the object's mutex) and may still be inside it after nng_aio_wait has returned
// here. nng_aio_stop does not wait for that; nng_aio_free does (NNG 1.5, core/aio.c), so
// freeing the object first could free a mutex that thread is about to unlock. TSan, against
// an instrumented libnng, reported exactly that for a dialer.
inline void free_before_owner(aio_ptr& aio) noexcept { aio.reset(); }

inline aio_ptr make_aio() {
  nng_aio* a = nullptr;
  if (int rv = nng_aio_alloc(&a, nullptr, nullptr); rv != 0) throw_nng("nng_aio_alloc", rv);
  return aio_ptr(a);
}

class stream {
 public:
  explicit stream(nng_stream* s) : s_(s), send_(make_aio()), recv_(make_aio()) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() {
    close();
    free_before_owner(send_);
    free_before_owner(recv_);
    nng_stream_free(s_);
  }

  // Aborts any read or write in progress (they fail with NNG_ECLOSED); idempotent;
  // callable from any thread.
  void close() noexcept {
    if (!closed_.exchange(true, std::memory_order_acq_rel)) nng_stream_close(s_);
  }

  // Writes all of [data, data + size): 0, or NNG's error (NNG_ETIMEDOUT after `timeout`
  // without progress; NNG_DURATION_INFINITE waits as long as it takes). One writer at a time.
  int write_all(const void* data, std::size_t size, nng_duration timeout) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      nng_iov iov{const_cast<char*>(p), size};
      nng_aio_set_iov(send_.get(), 1, &iov);
      nng_aio_set_timeout(send_.get(), timeout);
      nng_stream_send(s_, send_.get());
      nng_aio_wait(send_.get());
      if (int rv = nng_aio_result(send_.get()); rv != 0) return rv;
      const std::size_t n = nng_aio_count(send_.get());
      p += n;
      size -= n;
    }
    return 0;
  }
  int write_all(const std::string& bytes, nng_duration timeout) {
    return write_all(bytes.data(), bytes.size(), timeout);
  }

  // Reads what has arrived, up to `room` bytes, into `out`: 0 and `got` > 0, or NNG's error
  // (NNG_ETIMEDOUT after `timeout` of silence, NNG_ECLOSED / NNG_ECONNSHUT / ... when the
  // stream ended). One reader at a time.
  int read_some(void* out, std::size_t room, std::size_t& got, nng_duration timeout) {
    nng_iov iov{out, room};
    nng_aio_set_iov(recv_.get(), 1, &iov);
    nng_aio_set_timeout(recv_.get(), timeout);
    nng_stream_recv(s_, recv_.get());
    nng_aio_wait(recv_.get());
    got = nng_aio_count(recv_.get());
    const int rv = nng_aio_result(recv_.get());
    if (rv == 0 && got == 0) return NNG_ECONNSHUT;
    return rv;
  }

 private:
  nng_stream* s_;
  aio_ptr send_, recv_;
  std::atomic<bool> closed_{false};
};

}  // namespace csp::net::detail
