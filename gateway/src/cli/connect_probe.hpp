// `fieldbridge check --connect`: connect with the file's MQTT settings and
// round-trip a probe message at QoS 0, 1 and 2, printing each step.
#pragma once

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"

namespace fieldbridge::cli {

// Probes every broker of the configuration (mqtt.hosts in order, or the one
// host/port). Returns the process exit code: 0 when every step succeeded on
// every broker, 1 with the broker's reason (or the TLS error) printed otherwise.
int run_connect_probe(const config::configuration& configuration, const logger_ptr& logger);

}  // namespace fieldbridge::cli
