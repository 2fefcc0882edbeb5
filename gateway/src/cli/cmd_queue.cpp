// fieldbridge queue: inspect the store-and-forward queue. Reads the database
// read-only (a WAL reader), so it works beside the running daemon.
#include <fmt/core.h>

#include "commands.hpp"
#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/text.hpp"
#include "fieldbridge/store/queue.hpp"

namespace fieldbridge::cli {
namespace {

std::string human_bytes(std::uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  if (n < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(n) / 1024);
  return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1024.0 * 1024.0));
}

void print_stats(const std::string& path, const store::snapshot& s) {
  fmt::print("queue:          {} (schema version {})\n", path, s.schema_version);
  fmt::print("depth:          {} messages ({} counted against max_size)\n", s.depth, human_bytes(s.bytes));
  fmt::print("qos2 in flight: {}\n", s.qos2_in_flight);
  fmt::print("oldest reading: {}\n", s.oldest ? utc_timestamp(*s.oldest) : "-");
  fmt::print("newest reading: {}\n", s.newest ? utc_timestamp(*s.newest) : "-");
  fmt::print("on disk:        {} (database {} + WAL {})\n", human_bytes(s.database_file_bytes + s.wal_file_bytes),
             human_bytes(s.database_file_bytes), human_bytes(s.wal_file_bytes));
  if (s.counters_written) {
    fmt::print("counters as of the daemon's last write, {}:\n", utc_timestamp(*s.counters_written));
    for (const auto& [name, value] : s.counters) fmt::print("  {:<17} {}\n", name, value);
  } else {
    fmt::print("counters:       none written yet\n");
  }
  fmt::print("(messages the daemon holds in memory, at most one flush_interval, are not counted)\n");
}

}  // namespace

void add_queue_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("queue", "Inspect the store-and-forward queue");
  static std::string config_path;
  static std::string db_path;
  auto* config_option = sub->add_option("-c,--config", config_path, "configuration file (its store.path)");
  sub->add_option("--db", db_path, "the queue database itself, instead of -c")->excludes(config_option);
  sub->require_subcommand(1);
  auto* stats = sub->add_subcommand("stats", "Depth, oldest and newest reading, size on disk, counters");
  stats->callback([&context] {
    std::string path = db_path;
    try {
      if (path.empty()) {
        if (config_path.empty()) {
          fmt::print(stderr, "fieldbridge queue: give -c FILE (or --db PATH)\n");
          context.exit_code = exit_usage;
          return;
        }
        path = config::load_file(config_path).store.path;
      }
      print_stats(path, store::inspect(path));
      context.exit_code = exit_ok;
    } catch (const config::config_error& e) {
      fmt::print(stderr, "{}\n", e.what());
      context.exit_code = exit_failure;
    } catch (const store::store_error& e) {
      fmt::print(stderr, "fieldbridge queue: {}\n", e.what());
      context.exit_code = exit_failure;
    }
  });
}

}  // namespace fieldbridge::cli
