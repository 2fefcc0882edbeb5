// The command router: MQTT messages on `<prefix>/<device>/<point>/set` become
// device writes, each answered once on `.../set/result` (or, with MQTT 5, on
// the request's Response Topic with its Correlation Data). A command that is
// not a valid write for a writable point is answered with an error and never
// reaches the bus. The runtime owns the client and the buses; the router only
// sees them through the two functions it is given. See docs/commands.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/core/reading.hpp"
#include "fieldbridge/drivers/bus.hpp"
#include "fieldbridge/mqtt/packet.hpp"
#include "command_seam.hpp"

namespace fieldbridge::gateway {

// write_function and publish_function: see command_seam.hpp.

// A command payload: `42`, `-1.5e3`, `true`, `false` or `{"value": 42}`, with
// JSON whitespace around the tokens. Anything else is an `error` meant for the
// result message. Integers that fit stay int64/uint64; other numbers are
// doubles. Pure.
struct command_payload {
  point_value value;
  std::string error;

  bool ok() const noexcept { return error.empty(); }
};
command_payload parse_command_payload(std::string_view payload);
// For a point with a `map`: also one of its names, bare (`running`), quoted
// (`"running"`) or as `{"value": "running"}`, giving a string value; numbers
// and true/false parse as above (check_write then asks for a name). Pure.
command_payload parse_mapped_command(std::string_view payload);

// The JSON of a result: {"ok":true,"value":42} or {"ok":false,"error":"..."}.
std::string result_json(const drivers::write_result& result);

// Threading: every member, and the write completions, run on the one thread of
// the runtime's executor; there are no locks. Lifetime: a write completion that
// arrives after the router is gone is dropped (it holds only a weak handle).
class command_router {
 public:
  command_router(const config::configuration& config, write_function write, publish_function publish,
                 logger_ptr logger);
  ~command_router();
  command_router(const command_router&) = delete;
  command_router& operator=(const command_router&) = delete;

  // One filter, `<prefix>/+/+/set` at QoS 1 with retain handling "do not send",
  // so that a command to an unknown device or a read-only point is answered
  // too. Subscribe to it once: the MQTT client restores it by itself after a
  // reconnect that finds no session present. When the broker said wildcard
  // subscriptions are not available (MQTT 5 CONNACK), one filter per
  // writable point instead, `<prefix>/<device>/<point>/set`: commands to
  // anything else then never reach the gateway and get no answer.
  std::vector<mqtt::subscription> subscriptions(bool wildcards_available = true) const;

  // Any incoming message. Returns false when the topic is not a command topic
  // (the message is left alone); true when it was handled: written, refused
  // with a result, or ignored because it was retained or empty.
  bool on_message(const mqtt::publish_packet& message);

  // Commands written and not answered yet.
  std::size_t pending() const noexcept;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace fieldbridge::gateway
