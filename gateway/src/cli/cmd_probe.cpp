// fieldbridge probe: read a block once and print every interpretation.
#include "commands.hpp"

namespace fieldbridge::cli {

void add_probe_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("probe", "Read a block once and print every interpretation");
  sub->callback([&context] { context.exit_code = report_not_built("probe", "the field drivers issue (#5)"); });
}

}  // namespace fieldbridge::cli
