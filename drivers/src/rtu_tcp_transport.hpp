// Modbus RTU frames over a TCP socket, for serial device servers.
#pragma once

#include <memory>

#include "fieldbridge/drivers/modbus_link.hpp"

namespace fieldbridge::drivers {

// Blocking, on the owner's thread: connect, send one framed request, wait up
// to the response time-out for its answer (found by find_answer, which skips
// garbage and answers to other requests). Pending bytes are discarded before
// every request. A closed or reset socket is a link failure (reopened by the
// bus with back-off).
std::unique_ptr<modbus_transport> make_rtu_tcp_transport(const modbus_rtu_tcp_endpoint& endpoint,
                                                         link_timeouts timeouts);

}  // namespace fieldbridge::drivers
