// The Home Assistant announcer of `fieldbridge run`: publishes every entity
// config of run/homeassistant.hpp retained after each connect, again when
// Home Assistant says `online` on `<discovery_prefix>/status`, and clears
// (empty retained payload) the configs announced earlier whose points left
// the configuration. What was announced is remembered in a small state file
// (beside the store: `<store.path>.homeassistant`), replaced atomically.
//
// Threading: every member, and the client's completions, run on the
// runtime's io_context thread. Lifetime: completions that arrive after the
// announcer is gone are dropped (they hold only a weak handle).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "run/homeassistant.hpp"

namespace fieldbridge::gateway {

// `<store.path>.homeassistant`: the config topics announced last.
std::string homeassistant_state_path(const config::configuration& configuration);

// The topics in a state file (empty when there is none), and writing one
// (temporary file, fsync, rename): a crash leaves the old list or the new.
std::set<std::string> read_announced_topics(const std::string& path);
bool write_announced_topics(const std::string& path, const std::set<std::string>& topics);

class homeassistant_announcer {
 public:
  homeassistant_announcer(mqtt::client& client, const config::configuration& configuration, logger_ptr log);
  ~homeassistant_announcer();
  homeassistant_announcer(const homeassistant_announcer&) = delete;
  homeassistant_announcer& operator=(const homeassistant_announcer&) = delete;

  // The connection came up: subscribe to `<discovery_prefix>/status` (once;
  // the client restores it) and announce.
  void on_connected();
  // Any incoming message; true when it was Home Assistant's status (then an
  // `online` announces again).
  bool on_message(const mqtt::publish_packet& message);
  // After a valid reload: the new set of entities, announced at once when
  // connected (and the configs of points that left it cleared).
  void reconfigure(const config::configuration& configuration);

  // The configs that would be announced now.
  const std::vector<discovery_message>& messages() const noexcept;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace fieldbridge::gateway
