// fieldbridge read: one-shot read and decode of a Modbus device, for commissioning.
#include "commands.hpp"

namespace fieldbridge::cli {

void add_read_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("read", "One-shot read and decode of a Modbus device, for commissioning");
  sub->callback([&context] { context.exit_code = report_not_built("read", "the field drivers issue (#5)"); });
}

}  // namespace fieldbridge::cli
