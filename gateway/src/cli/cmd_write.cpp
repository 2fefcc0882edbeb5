// fieldbridge write: one-shot write to a Modbus device, for commissioning.
#include "commands.hpp"

namespace fieldbridge::cli {

void add_write_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("write", "One-shot write to a Modbus device, for commissioning");
  sub->callback([&context] { context.exit_code = report_not_built("write", "the field drivers issue (#5)"); });
}

}  // namespace fieldbridge::cli
