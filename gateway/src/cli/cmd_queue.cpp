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

void print_stats(const std::string& path, const store::snapshot& s, const std::optional<store::hot_snapshot>& hot) {
  fmt::print("queue:          {} (schema version {})\n", path, s.schema_version);
  fmt::print("depth:          {} messages ({} counted against max_size)\n", s.depth, human_bytes(s.bytes));
  fmt::print("qos2 in flight: {}\n", s.qos2_in_flight);
  fmt::print("oldest reading: {}\n", s.oldest ? utc_timestamp(*s.oldest) : "-");
  fmt::print("newest reading: {}\n", s.newest ? utc_timestamp(*s.newest) : "-");
  fmt::print("on disk:        {} (database {} + WAL {})\n", human_bytes(s.database_file_bytes + s.wal_file_bytes),
             human_bytes(s.database_file_bytes), human_bytes(s.wal_file_bytes));
  if (s.counters_written) {
    fmt::print("counters as of the daemon's last write, {}:\n", utc_timestamp(*s.counters_written));
    // Every counter the store keeps (recreated, recovered, dropped_*, ...).
    for (const auto& [name, value] : s.counters) fmt::print("  {:<17} {}\n", name, value);
  } else {
    fmt::print("counters:       none written yet\n");
  }
  if (!hot) {
    fmt::print("hot tier:       no file (the daemon is stopped cleanly, or runs without one)\n");
  } else if (!hot->readable) {
    fmt::print("hot tier:       {} ({}), not readable by this user\n", hot->file.string(), human_bytes(hot->file_bytes));
  } else {
    fmt::print("hot tier:       {} ({}): {} messages not yet in the database{}\n", hot->file.string(),
               human_bytes(hot->file_bytes), hot->messages, hot->torn ? " (ends in a torn record)" : "");
  }
  fmt::print("(depth counts the database only; the hot tier holds the rest, at most one flush_interval)\n");
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
    std::string hot_path;
    try {
      if (path.empty()) {
        if (config_path.empty()) {
          fmt::print(stderr, "fieldbridge queue: give -c FILE (or --db PATH)\n");
          context.exit_code = exit_usage;
          return;
        }
        const auto configuration = config::load_file(config_path);
        path = configuration.store.path;
        hot_path = configuration.store.hot_path;
      }
      const auto snapshot = store::inspect(path);
      print_stats(path, snapshot, store::inspect_hot(path, hot_path, snapshot.last_id));
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
