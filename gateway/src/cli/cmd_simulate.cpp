// fieldbridge simulate: a Modbus TCP or RTU device simulator.
#include "commands.hpp"

namespace fieldbridge::cli {

void add_simulate_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("simulate", "A Modbus TCP or RTU device simulator");
  sub->callback([&context] { context.exit_code = report_not_built("simulate", "the field drivers issue (#5)"); });
}

}  // namespace fieldbridge::cli
