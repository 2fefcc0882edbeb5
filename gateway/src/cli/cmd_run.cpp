// fieldbridge run: run the gateway (the service's ExecStart).
#include "commands.hpp"

namespace fieldbridge::cli {

void add_run_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("run", "Run the gateway (the service's ExecStart)");
  static std::string config_path;
  sub->add_option("-c,--config", config_path, "configuration file")->required();
  sub->callback([&context] { context.exit_code = report_not_built("run", "the gateway issue"); });
}

}  // namespace fieldbridge::cli
