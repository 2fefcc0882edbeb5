// Home Assistant MQTT discovery: the entity configs a configuration announces,
// one retained message per entity on
// `<discovery_prefix>/<component>/<node_id>/<object_id>/config` (the single
// component form of https://www.home-assistant.io/integrations/mqtt/).
// Pure functions of the configuration, no I/O. See docs/gateway.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fieldbridge/config/config.hpp"

namespace fieldbridge::gateway {

// One entity's config message.
struct discovery_message {
  std::string topic;      // <discovery_prefix>/<component>/<node_id>/<object_id>/config
  std::string payload;    // the JSON config, published retained
  std::string component;  // sensor, binary_sensor, number, switch or select
  std::string device;     // empty for the gateway's own status entity
  std::string point;
};

// Every entity the configuration announces: the gateway's status entity
// first, then each point that is not `homeassistant: false`, in
// configuration order. Empty when homeassistant.enabled is false. A device
// in the device layout (config::layout_of) has its entities read the device
// message on `<prefix>/<device>`, `{"ts":..,"values":{..}}`.
std::vector<discovery_message> discovery_messages(const config::configuration& configuration);

// `<discovery_prefix>/status`, where Home Assistant says `online` when it starts.
std::string discovery_status_topic(const config::configuration& configuration);

// HA's identifiers: "fieldbridge_<gateway>" for the gateway's device,
// "fieldbridge_<gateway>_<device>" for a device, and an entity's unique_id
// "fieldbridge_<gateway>_<device>_<point>": names, never topics, so a new
// topic_prefix keeps every entity (and its history) in Home Assistant.
std::string homeassistant_gateway_identifier(const config::configuration& configuration);
std::string homeassistant_device_identifier(const config::configuration& configuration, std::string_view device);

}  // namespace fieldbridge::gateway
