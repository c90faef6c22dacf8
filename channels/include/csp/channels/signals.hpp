#pragma once
// csp::signals: POSIX signals as values on a channel, like Go's signal.Notify.
//
//   csp::receiver<int> sig = csp::signals({SIGINT, SIGTERM});
//   csp::select(csp::on_recv(sig, [&](csp::result<int> s) { stop(*s); }),
//               csp::on_recv(work, ...));
//
// Each time one of the signals reaches the process, its number is sent on the channel, so a
// signal is handled in a select like any other event, by ordinary code on a fiber (the
// signal handler itself only writes one byte to a pipe: see detail/signal_hub.hpp).
// While a receiver of such a channel is alive, its signals do not take their default action.

#include <initializer_list>

#include <csp/channels/detail/signal_hub.hpp>
#include <csp/channels/receiver.hpp>

namespace csp {

// Starts delivering `sigs` (e.g. {SIGINT, SIGTERM}) to a new channel and returns its
// receiver. The channel buffers `signals_capacity` values; a signal that arrives while it is
// full is dropped (as in Go, delivery never blocks). Several channels may ask for the same
// signal: each gets every delivery. Once the last receiver of a channel is gone its signals
// stop coming; a signal nobody listens to any more gets its former disposition back (at the
// latest when it next arrives, which then takes that disposition: by default, SIGINT ends
// the process). That includes a signal that arrived just before the last receiver went but
// was not handed out yet: receivers are not watched, so csp cannot tell it from one that
// arrived just after. Thread-safe; never blocks. Throws csp::invalid_argument for an empty list
// or a signal that cannot be caught (SIGKILL, SIGSTOP, a number outside 1..NSIG-1).
//
// A thread of csp's reads the pipe and sends the values: while it exists the runtime's
// deadlock report stays quiet (a signal may wake a fiber at any time).
inline receiver<int> signals(std::initializer_list<int> sigs) {
  return detail::signal_hub::instance().subscribe(sigs);
}

inline constexpr std::size_t signals_capacity = detail::signal_hub::capacity;

}  // namespace csp
