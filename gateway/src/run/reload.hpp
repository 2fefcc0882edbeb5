// SIGHUP's decision: what a new configuration changes in a running gateway,
// or why it cannot be applied at run time. Pure: two configurations in, a
// plan or a refusal out (docs/operations.md "Reload"); the runtime carries
// the plan out. All or nothing: a refusal means nothing is applied.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "fieldbridge/config/config.hpp"

namespace fieldbridge::gateway {

struct reload_plan {
  // Bus names, in the order of the configuration they come from.
  std::vector<std::string> kept;       // equal spec: keeps running, untouched
  std::vector<std::string> removed;    // stopped
  std::vector<std::string> added;      // started
  std::vector<std::string> restarted;  // changed spec: stopped, then started with the new one
  // Devices that are in the old configuration and not in the new one: their
  // retained status is cleared.
  std::vector<std::string> removed_devices;
  // mqtt: settings of the connection changed (brokers, credentials, TLS,
  // session, keep-alive, window, back-off): a clean reconnect.
  bool reconnect = false;
  // Anything the routers, the status board or Home Assistant see changed
  // (buses, devices, points, mqtt qos/retain/payload/layout/heartbeat,
  // layouts, homeassistant:).
  bool routing = false;
  bool log_level = false;       // gateway.log_level
  bool stats_interval = false;  // gateway.stats_interval

  // Nothing to do: the file says what is running.
  bool empty() const noexcept;
  // In words, for the log: "bus tcp2 restarted, bus rtu1 added, MQTT reconnect".
  std::string summary() const;
};

// Why the new configuration is not applied; the running one stays.
struct reload_refusal {
  std::string reason;  // "store.path cannot change at run time (...)"
};

using reload_decision = std::variant<reload_plan, reload_refusal>;

// `running` is the configuration in use, `next` the one just loaded (valid:
// config::load_file accepted it).
reload_decision plan_reload(const config::configuration& running, const config::configuration& next);

}  // namespace fieldbridge::gateway
