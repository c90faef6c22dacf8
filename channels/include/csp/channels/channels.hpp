#pragma once
// Everything about channels: make_channel, make_oneshot, sender<T>, receiver<T>, and the
// timer channels after, tick and never, and signals (POSIX signals as channel values).

#include <csp/channels/make_channel.hpp>
#include <csp/channels/receiver.hpp>
#include <csp/channels/sender.hpp>
#include <csp/channels/signals.hpp>
#include <csp/channels/timers.hpp>
