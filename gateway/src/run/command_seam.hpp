// The seam between the runtime and the command router (`<prefix>/<device>/
// <point>/set` → device write → `/set/result`). The runtime owns the MQTT
// client and the buses; a command handler only gets these two functions and
// the messages that match its subscriptions. Parsing commands is the
// router's business (run/command_router.hpp), not the runtime's.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/drivers/bus.hpp"
#include "fieldbridge/mqtt/packet.hpp"
#include "fieldbridge/mqtt/session.hpp"

namespace fieldbridge::gateway {

// Writes a point: finds the bus that has `device` and calls field_bus::write.
// An unknown device completes with ok=false (posted, never on the caller's
// stack). `done` runs on the runtime's io_context thread. The same type as
// command_router.hpp's, so the router takes it as it is.
using write_function = std::function<void(std::string_view device, std::string_view point,
                                          point_value value, drivers::write_handler done)>;

// Sends a reply straight through the client (not through the store: a late
// reply to a command is worthless). The handler fills topic, payload, QoS
// and MQTT 5 properties; properties are dropped for MQTT 3.1.1.
using publish_function = std::function<void(mqtt::publish_packet)>;

// What the runtime drives. Every call is on the runtime's io_context thread.
class command_handler {
 public:
  virtual ~command_handler() = default;
  // Filters to subscribe to at every connect without a session present,
  // within what the broker of this connection supports (wildcards).
  virtual std::vector<mqtt::subscription> subscriptions(const mqtt::broker_limits& broker) const = 0;
  // Every message the client receives.
  virtual void on_message(const mqtt::publish_packet& message) = 0;
  // Writes under way, not answered yet: a reload keeps a replaced handler
  // until its writes are answered.
  virtual std::size_t pending() const { return 0; }
};

struct command_context {
  const config::configuration& configuration;
  write_function write;
  publish_function publish;
  logger_ptr logger;
};

// Builds the handler once the runtime is set up; empty: no commands.
using command_handler_factory = std::function<std::unique_ptr<command_handler>(command_context context)>;

}  // namespace fieldbridge::gateway
