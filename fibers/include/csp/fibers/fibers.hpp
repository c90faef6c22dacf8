#pragma once
// Everything about fibers: go, spawn/task, this_fiber, wait_group.

#include <csp/fibers/spawn.hpp>
#include <csp/fibers/this_fiber.hpp>
#include <csp/fibers/wait_group.hpp>
