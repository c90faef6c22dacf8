#pragma once
// A raw NNG socket for the nng rows (net_nng.cpp): opened by one of NNG's protocol
// constructors, closed on scope exit, with the few calls the rows need, each turning NNG's
// error numbers into exceptions that fail the row.

#include <nng/nng.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>

namespace bench {

inline void nng_check(int rv, const std::string& what) {
  if (rv != 0) throw std::runtime_error("nng: " + what + ": " + nng_strerror(rv));
}

class nng_sock {
 public:
  // `open` is e.g. nng_push0_open.
  explicit nng_sock(int (*open)(nng_socket*), const char* name) {
    nng_check(open(&s_), name);
    try {
      // A lost message must fail the row, not hang it until --timeout.
      set_ms(NNG_OPT_RECVTIMEO, std::chrono::seconds(10));
      set_ms(NNG_OPT_SENDTIMEO, std::chrono::seconds(10));
      // Counts pipes from here on; registered before any endpoint exists.
      nng_check(nng_pipe_notify(s_, NNG_PIPE_EV_ADD_POST, &nng_sock::pipe_added, this),
                "nng_pipe_notify");
    } catch (...) {
      nng_close(s_);
      throw;
    }
  }
  nng_sock(const nng_sock&) = delete;
  nng_sock& operator=(const nng_sock&) = delete;
  ~nng_sock() { nng_close(s_); }  // waits for NNG's callbacks into *this to finish

  nng_socket get() const noexcept { return s_; }

  void set_int(const char* option, int v) {
    nng_check(nng_socket_set_int(s_, option, v), std::string("set ") + option);
  }
  void set_ms(const char* option, std::chrono::milliseconds d) {
    nng_check(nng_socket_set_ms(s_, option, static_cast<nng_duration>(d.count())),
              std::string("set ") + option);
  }

  // Listens on `url` (port 0: any free one) and returns the URL with the port bound.
  std::string listen(const std::string& url) {
    nng_listener l;
    nng_check(nng_listen(s_, url.c_str(), &l, 0), "listen " + url);
    int port = 0;
    nng_check(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), "bound port");
    return url.substr(0, url.rfind(':') + 1) + std::to_string(port);
  }

  // Connects (NNG's synchronous first attempt).
  void dial(const std::string& url) {
    nng_check(nng_dial(s_, url.c_str(), nullptr, 0), "dial " + url);
  }

  // Waits until a pipe (a connection that finished NNG's SP handshake) is attached, so that
  // the first send of a run does not wait for the connection inside the clock (csp::net's
  // dial returns only after its handshake, too).
  void wait_connected() {
    std::unique_lock lk(mutex_);
    if (!cv_.wait_for(lk, std::chrono::seconds(10), [this] { return pipes_ > 0; })) {
      throw std::runtime_error("nng: no connection within 10 s");
    }
  }

  void send(const void* data, std::size_t size) {
    nng_check(nng_send(s_, const_cast<void*>(data), size, 0), "nng_send");
  }
  // Receives one message of exactly `size` bytes into `out`.
  void recv(void* out, std::size_t size) {
    std::size_t got = size;
    nng_check(nng_recv(s_, out, &got, 0), "nng_recv");
    if (got != size) {
      throw std::runtime_error("nng: a message of " + std::to_string(got) + " bytes, expected " +
                               std::to_string(size));
    }
  }

 private:
  static void pipe_added(nng_pipe, nng_pipe_ev, void* self) {
    auto* me = static_cast<nng_sock*>(self);
    {
      std::lock_guard lk(me->mutex_);
      ++me->pipes_;
    }
    me->cv_.notify_all();
  }

  nng_socket s_{};
  std::mutex mutex_;
  std::condition_variable cv_;
  int pipes_ = 0;
};

}  // namespace bench
