// The configuration's mqtt: section as mqtt::client_options, shared by
// `fieldbridge run` and `fieldbridge check --connect` so both connect alike.
#pragma once

#include <string>
#include <string_view>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/mqtt/client.hpp"

namespace fieldbridge::gateway {

// The topic prefix in use: mqtt.topic_prefix, or "fieldbridge/<gateway.name>"
// when the file left it out (the loader normally fills it in).
std::string topic_prefix(const config::configuration& configuration);
// The retained status topics under a prefix: the gateway's `<prefix>/status`
// (online, offline, the will) and a device's `<prefix>/<device>/status`. One
// place, since Home Assistant's availability reads what the runtime writes.
std::string status_topic(std::string_view prefix);
std::string device_status_topic(std::string_view prefix, std::string_view device);

// Host, port, protocol, credentials, keep-alive, session, window, back-off
// and TLS as the file says. No will: the caller adds the one it needs.
mqtt::client_options client_options_from(const config::configuration& configuration);

}  // namespace fieldbridge::gateway
