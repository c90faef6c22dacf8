#pragma once
// Everything about fibers: go, spawn/task, scope, stacks, the runtime, this_fiber, wait_group.

#include <csp/fibers/runtime.hpp>
#include <csp/fibers/scope.hpp>
#include <csp/fibers/spawn.hpp>
#include <csp/fibers/stack.hpp>
#include <csp/fibers/this_fiber.hpp>
#include <csp/fibers/wait_group.hpp>
