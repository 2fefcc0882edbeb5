// fieldbridge run: run the gateway (the service's ExecStart). Loads the
// configuration and hands over to the runtime (gateway/src/run/).
#include <cstdio>
#include <exception>

#include <fmt/core.h>

#include "commands.hpp"
#include "fieldbridge/config/config.hpp"
#include "run/command_router.hpp"
#include "run/runtime.hpp"

namespace fieldbridge::cli {

namespace {

// The command router behind the runtime's command seam.
class router_commands final : public gateway::command_handler {
 public:
  explicit router_commands(gateway::command_context c)
      : router_(c.configuration, std::move(c.write), std::move(c.publish), std::move(c.logger)) {}
  std::vector<mqtt::subscription> subscriptions(const mqtt::broker_limits& broker) const override {
    return router_.subscriptions(broker.wildcard_subscription_available);
  }
  void on_message(const mqtt::publish_packet& message) override { router_.on_message(message); }

 private:
  gateway::command_router router_;
};

int run_gateway(const std::string& config_path, const CLI::App& app, const command_context& context) {
  config::configuration configuration;
  try {
    configuration = config::load_file(config_path);
  } catch (const config::config_error& error) {
    fmt::print(stderr, "{}\n", error.what());
    return exit_failure;
  }
  // --log-level on the command line wins over the file's gateway.log_level.
  const bool level_given = app.get_parent() != nullptr && app.get_parent()->count("--log-level") > 0;
  const auto level = parse_log_level(level_given ? context.global.log_level : configuration.gateway.log_level);
  auto logger = make_stderr_logger("fieldbridge", level.value_or(spdlog::level::info));
  try {
    gateway::run_options options;
    options.commands = [](gateway::command_context c) { return std::make_unique<router_commands>(std::move(c)); };
    return gateway::run(configuration, logger, std::move(options));
  } catch (const std::exception& e) {
    // Printed, not logged: it must show even with log_level: off.
    fmt::print(stderr, "fieldbridge run: cannot start: {}\n", e.what());
    return exit_failure;
  }
}

}  // namespace

void add_run_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("run", "Run the gateway (the service's ExecStart)");
  static std::string config_path;
  sub->add_option("-c,--config", config_path, "configuration file")->required();
  sub->callback([sub, &context] { context.exit_code = run_gateway(config_path, *sub, context); });
}

}  // namespace fieldbridge::cli
