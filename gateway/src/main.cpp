// fieldbridge: one binary, many subcommands. main parses the command line and
// hands over; everything else lives in the modules.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/commands.hpp"

namespace {

bool valid_log_level(const std::string& text) {
  return fieldbridge::parse_log_level(text).has_value();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fieldbridge::cli;
  command_context context;

  CLI::App app{"fieldbridge: a gateway between Modbus / serial field devices and MQTT", "fieldbridge"};
  app.set_version_flag("--version", std::string{"fieldbridge "} + FIELDBRIDGE_VERSION);
  app.add_option("--log-level", context.global.log_level,
                 "trace, debug, info, warn, error, critical or off")
      ->check([](const std::string& text) {
        return valid_log_level(text) ? std::string{} : "unknown log level '" + text + "'";
      })
      ->capture_default_str();
  app.require_subcommand(1);
  app.fallthrough();  // --log-level and --version also work after the subcommand

  add_run_command(app, context);
  add_check_command(app, context);
  add_read_command(app, context);
  add_write_command(app, context);
  add_probe_command(app, context);
  add_scan_command(app, context);
  add_simulate_command(app, context);
  add_queue_command(app, context);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  } catch (const std::exception& e) {
    // A start-up failure a subcommand did not report itself (an unreadable
    // file, a resource it could not get): one line and exit 1, never abort.
    fmt::print(stderr, "fieldbridge: {}\n", e.what());
    return exit_failure;
  }
  return context.exit_code;
}
