// The Modbus device simulator behind `fieldbridge simulate`: a libmodbus
// server on TCP (one thread per connection) or on an RTU line (one thread,
// answers paced like a real line at the configured baud).
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/simulator/sim_config.hpp"

namespace fieldbridge::simulator {

// Thread-safe: stop() and replace_faults() may be called from any thread
// while the server threads run. Not copyable; the destructor stops it.
class simulator {
 public:
  // Output lines (listening, every write received) go to `out`, one flushed
  // line each; problems go to `log`.
  simulator(sim_config config, logger_ptr log, std::FILE* out = stdout);
  ~simulator();
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  // Listens (TCP) or opens the line (RTU), starts serving and prints the
  // "simulate: listening on ..." line. Throws std::runtime_error when it
  // cannot listen or open the line.
  void start();
  // Stops serving and joins the server threads. Idempotent.
  void stop();
  // Swaps the injected faults (for SIGHUP reloads).
  void replace_faults(std::vector<fault> faults);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace fieldbridge::simulator
