// fieldbridge check: validate the configuration and print the point map.
#include "commands.hpp"

namespace fieldbridge::cli {

void add_check_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("check", "Validate the configuration and print every point");
  static std::string config_path;
  sub->add_option("-c,--config", config_path, "configuration file")->required();
  sub->callback([&context] { context.exit_code = report_not_built("check", "the foundation issue (#2)"); });
}

}  // namespace fieldbridge::cli
