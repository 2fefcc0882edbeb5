// inspect(): the read-only view behind `fieldbridge queue stats`.
#include <fmt/core.h>

#include <system_error>

#include "fieldbridge/store/queue.hpp"
#include "sqlite.hpp"
#include "unix_time.hpp"

namespace fieldbridge::store {
namespace {

std::uint64_t file_size_or_zero(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

}  // namespace

snapshot inspect(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw store_error(fmt::format("{}: no queue database there (the daemon creates it on first start)", path.string()));
  }
  int rc = SQLITE_OK;
  std::string message;
  // Read-only: a WAL reader beside the running daemon, which it never blocks.
  auto db = sqlite::open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, rc, message);
  if (!db) throw store_error(message);
  sqlite3_busy_timeout(db.get(), 2000);

  snapshot result;
  const auto fail = [&](int code, std::string_view what) {
    return store_error(sqlite::describe(db.get(), code, fmt::format("{}: {}", path.string(), what)));
  };
  const auto version = sqlite::query_text(db.get(), "PRAGMA user_version", rc);
  if (rc != SQLITE_OK) throw fail(rc, "not a readable queue database");
  result.schema_version = std::stoi(version);
  if (result.schema_version < 1) throw store_error(path.string() + ": not a fieldbridge queue database (no schema)");

  // One read transaction, so the figures agree with each other.
  if ((rc = sqlite::exec(db.get(), "BEGIN")) != SQLITE_OK) throw fail(rc, "cannot start reading");
  sqlite::statement totals(db.get(),
      "SELECT count(*), coalesce(sum(size), 0), min(ts), max(ts), coalesce(max(id), 0) FROM messages");
  if ((rc = totals.step()) != SQLITE_ROW) throw fail(rc, "cannot read the queue");
  result.depth = static_cast<std::uint64_t>(totals.column_int64(0));
  result.bytes = static_cast<std::uint64_t>(totals.column_int64(1));
  if (!totals.column_is_null(2)) result.oldest = from_unix_ms(totals.column_int64(2));
  if (!totals.column_is_null(3)) result.newest = from_unix_ms(totals.column_int64(3));
  result.last_id = totals.column_int64(4);
  totals.reset();
  if (result.schema_version >= 2) {
    sqlite::statement qos2(db.get(), "SELECT count(*) FROM messages WHERE qos2_state != 0");
    if ((rc = qos2.step()) != SQLITE_ROW) throw fail(rc, "cannot read the queue");
    result.qos2_in_flight = static_cast<std::uint64_t>(qos2.column_int64(0));
    qos2.reset();
    sqlite::statement stats(db.get(), "SELECT name, value FROM stats ORDER BY name");
    while ((rc = stats.step()) == SQLITE_ROW) {
      auto name = stats.column_text(0);
      const auto value = stats.column_int64(1);
      if (name == "written_at_ms") {
        result.counters_written = from_unix_ms(value);
      } else {
        result.counters.emplace_back(std::move(name), static_cast<std::uint64_t>(value));
      }
    }
    if (rc != SQLITE_DONE) throw fail(rc, "cannot read the counters");
  }
  sqlite::exec(db.get(), "COMMIT");
  result.database_file_bytes = file_size_or_zero(path);
  result.wal_file_bytes = file_size_or_zero(path.string() + "-wal");
  return result;
}

}  // namespace fieldbridge::store
