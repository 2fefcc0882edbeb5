// fieldbridge scan: list the Modbus unit ids that answer.
#include "commands.hpp"

namespace fieldbridge::cli {

void add_scan_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("scan", "List the Modbus unit ids that answer");
  sub->callback([&context] { context.exit_code = report_not_built("scan", "the field drivers issue (#5)"); });
}

}  // namespace fieldbridge::cli
