// fieldbridge run: run the gateway (the service's ExecStart). Loads the
// configuration and hands over to the runtime (gateway/src/run/).
#include <malloc.h>

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
  std::size_t pending() const override { return router_.pending(); }

 private:
  gateway::command_router router_;
};

// glibc's allocator set for a small daemon, before any thread exists. One
// arena: the bus workers allocate one readings vector per poll, which the
// event loop frees, and per-thread arenas (up to 8 per core) each kept their
// own free memory (heaptrack/malloc_stats at 10k readings/s: three extra
// arenas holding 450 KiB for 45 KiB in use); one poll a millisecond per bus
// does not contend for the lock (small blocks come from the thread cache
// anyway). Fixed mmap and trim thresholds: glibc raises both after a large
// block is freed (up to 32 MiB), after which freed memory stays in the
// heap instead of going back to the system.
void tune_allocator() {
  ::mallopt(M_ARENA_MAX, 1);
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

int run_gateway(const std::string& config_path, const CLI::App& app, const command_context& context) {
  tune_allocator();
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
    options.log_level_fixed = level_given;
    return gateway::run(std::move(configuration), logger, std::move(options));
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
