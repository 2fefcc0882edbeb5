// fieldbridge queue: inspect the store-and-forward queue.
#include "commands.hpp"

namespace fieldbridge::cli {

void add_queue_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("queue", "Inspect the store-and-forward queue");
  static std::string config_path;
  sub->add_option("-c,--config", config_path, "configuration file")->required();
  sub->callback([&context] { context.exit_code = report_not_built("queue", "the store issue (#4)"); });
}

}  // namespace fieldbridge::cli
