#pragma once
// csp: Communicating Sequential Processes for C++20 — typed channels and fibers.
// Include this one header to get the whole public API.

#include <csp/config.hpp>
#include <csp/errors.hpp>
#include <csp/result.hpp>
#include <csp/status.hpp>
#include <csp/fibers/fibers.hpp>
#include <csp/channels/channels.hpp>
#include <csp/select/select.hpp>
#include <csp/select/selector.hpp>
