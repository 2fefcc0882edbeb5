// `fieldbridge run`: the composition root. One io_context thread owns the MQTT
// client, the store and the timers; each bus polls on its own worker and
// posts readings back. See docs/gateway.md for topics, payloads, status,
// stats, shutdown and delivery.
#pragma once

#include <chrono>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "run/command_seam.hpp"

namespace fieldbridge::gateway {

struct run_options {
  command_handler_factory commands;                 // empty: no command topics
  std::chrono::milliseconds shutdown_grace{5000};   // for offline + DISCONNECT after SIGTERM
};

// Runs the gateway until SIGTERM or SIGINT and returns the process exit code
// (0 after a clean shutdown). Throws on start-up failures: the store cannot
// be opened, TLS files cannot be read, a bus spec cannot run.
int run(const config::configuration& configuration, const logger_ptr& logger, run_options options = {});

}  // namespace fieldbridge::gateway
