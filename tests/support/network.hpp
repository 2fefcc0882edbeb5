// Loopback ports for tests. Every server a test starts listens on 127.0.0.1.
#pragma once

#include <chrono>
#include <cstdint>

namespace fieldbridge::test {

// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks
// it; the small race until the server binds is accepted in tests).
std::uint16_t free_tcp_port();

// A socket listening on 127.0.0.1 at a port the kernel picks, returned in
// `port`; `socket_flags` are added to SOCK_STREAM | SOCK_CLOEXEC (e.g.
// SOCK_NONBLOCK). Throws std::runtime_error naming `what` and errno's text.
int listen_on_loopback(int socket_flags, std::uint16_t& port, const char* what);

// Whether a TCP connect to 127.0.0.1:port succeeds within `timeout`.
bool wait_for_tcp_port(std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace fieldbridge::test
