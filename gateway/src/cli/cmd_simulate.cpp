// fieldbridge simulate: a Modbus TCP, RTU or RTU-over-TCP device simulator.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>

#include <fmt/core.h>

#include "commands.hpp"
#include "fieldbridge/simulator/simulator.hpp"

namespace fieldbridge::cli {

namespace {

constexpr const char* simulate_footer = R"(SIMFILE (YAML; see docs/simulator.md):
  tcp: { host: 127.0.0.1, port: 15020 }        # or
  rtu_tcp: { host: 127.0.0.1, port: 15021 }    # RTU frames over TCP, as a serial device server; or
  rtu: { device: /dev/pts/5, baud: 19200, parity: N, data_bits: 8, stop_bits: 1 }
  units:
    - id: 1                                    # or ids: [1, 2] / ids: 2-11 (one shared map)
      registers:
        - { table: input, address: 0, type: float32, order: CDAB, value: 230.4 }
        - { table: input, address: 2, count: 4, profile: counter, per: read }
        - { table: input, address: 6, profile: sine, amplitude: 10, offset: 50, period: 60s }
        - { table: holding, address: 10, type: int16, value: 215 }
        - { table: coil, address: 0, value: false }
  faults:
    - { unit: 1, table: holding, address: 100, count: 10, exception: illegal_data_address }
    - { unit: 2, no_answer: true }
    - { unit: 1, delay: 300ms }

Prints "simulate: listening on ..." once it serves, and one line per write it
receives. SIGHUP re-reads SIMFILE and swaps the faults (registers keep their
values); SIGTERM or SIGINT stops it. Exit 1 with FILE:LINE:COL on a SIMFILE error.
Example:
  fieldbridge simulate -c config/sim/demo.yaml)";

int run_simulate(const std::string& path, const command_context& context) {
  // Block the signals before any server thread exists, so that they all
  // inherit the mask and only this thread takes them, through sigwait.
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGHUP);
  sigset_t blocked = handled;
  sigaddset(&blocked, SIGPIPE);  // a client that went away is not a reason to die
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);

  simulator::sim_config config;
  try {
    config = simulator::load_sim_file(path);
  } catch (const simulator::sim_config_error& e) {
    fmt::print(stderr, "{}\n", e.what());
    return exit_failure;
  }
  simulator::simulator sim(std::move(config), context.make_logger("simulate"));
  try {
    sim.start();
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}\n", e.what());
    return exit_failure;
  }
  while (true) {
    int signo = 0;
    if (sigwait(&handled, &signo) != 0) continue;
    if (signo != SIGHUP) break;
    try {
      auto fresh = simulator::load_sim_file(path);
      const auto count = fresh.faults.size();
      sim.replace_faults(std::move(fresh.faults));
      fmt::print("simulate: faults reloaded from {} ({} active)\n", path, count);
    } catch (const simulator::sim_config_error& e) {
      fmt::print(stderr, "simulate: reload refused, keeping the old faults: {}\n", e.what());
    }
    std::fflush(stdout);
  }
  sim.stop();
  fmt::print("simulate: stopped\n");
  std::fflush(stdout);
  return exit_ok;
}

}  // namespace

void add_simulate_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("simulate", "A Modbus TCP, RTU or RTU-over-TCP device simulator (libmodbus server)");
  auto path = std::make_shared<std::string>();
  sub->add_option("-c,--config", *path, "the SIMFILE: link, units, register profiles, faults")
      ->required()
      ->type_name("SIMFILE");
  sub->footer(simulate_footer);
  sub->callback([&context, path] { context.exit_code = run_simulate(*path, context); });
}

}  // namespace fieldbridge::cli
