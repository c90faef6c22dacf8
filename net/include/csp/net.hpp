#pragma once
// csp::net: channels whose other end is in another process or on another machine, over NNG's
// byte streams (tcp://, ipc://), values encoded by csp::net::codec<T> (cereal by default).
// CMake target csp::net. See the README's "Beyond one machine".

#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>

#include <csp/csp.hpp>
#include <csp/net/codec.hpp>
#include <csp/net/dial.hpp>
#include <csp/net/listener.hpp>
#include <csp/net/options.hpp>
