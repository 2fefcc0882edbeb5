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
  // --log-level was given: a reload leaves the logger's level alone.
  bool log_level_fixed = false;
};

// Runs the gateway until SIGTERM or SIGINT and returns the process exit code
// (0 after a clean shutdown). SIGHUP reads configuration.source_path again
// and applies what changed (run/reload.hpp, docs/operations.md "Reload").
// Throws on start-up failures: the store cannot be opened, TLS files cannot
// be read, a bus spec cannot run.
int run(config::configuration configuration, const logger_ptr& logger, run_options options = {});

}  // namespace fieldbridge::gateway
