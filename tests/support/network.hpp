// Loopback ports for tests. Every server a test starts listens on 127.0.0.1.
#pragma once

#include <chrono>
#include <cstdint>

namespace fieldbridge::test {

// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks
// it; the small race until the server binds is accepted in tests).
std::uint16_t free_tcp_port();

// Whether a TCP connect to 127.0.0.1:port succeeds within `timeout`.
bool wait_for_tcp_port(std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace fieldbridge::test
