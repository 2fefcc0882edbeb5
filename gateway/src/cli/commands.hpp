// The subcommands of the fieldbridge binary. Each lives in its own file and
// registers itself on the CLI11 app; main only dispatches.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "fieldbridge/core/logging.hpp"

namespace fieldbridge::cli {

// Options that every subcommand accepts.
struct global_options {
  std::string log_level = "info";
};

// Shared by every subcommand's callback; the callback stores its exit code.
struct command_context {
  global_options global;
  int exit_code = 0;

  // A stderr logger at the --log-level the user asked for.
  logger_ptr make_logger(std::string name) const;
};

// Exit codes shared by all subcommands.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;      // the command ran and failed (bad config, device error)
inline constexpr int exit_usage = 2;        // bad command line

void add_run_command(CLI::App& app, command_context& context);
void add_check_command(CLI::App& app, command_context& context);
void add_read_command(CLI::App& app, command_context& context);
void add_write_command(CLI::App& app, command_context& context);
void add_probe_command(CLI::App& app, command_context& context);
void add_scan_command(CLI::App& app, command_context& context);
void add_simulate_command(CLI::App& app, command_context& context);
void add_queue_command(CLI::App& app, command_context& context);

}  // namespace fieldbridge::cli
