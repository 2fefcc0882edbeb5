#include "schema.hpp"

#include <fmt/chrono.h>
#include <fmt/core.h>

#include <chrono>
#include <string>
#include <system_error>

#include "fieldbridge/store/queue.hpp"

namespace fieldbridge::store {
namespace {

constexpr const char* create_v2 = R"sql(
CREATE TABLE messages(
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  source TEXT NOT NULL,
  size INTEGER NOT NULL,
  packet_id INTEGER NOT NULL DEFAULT 0,
  qos2_state INTEGER NOT NULL DEFAULT 0);
CREATE TABLE stats(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 2;
)sql";

constexpr const char* migrate_v1_to_v2 = R"sql(
ALTER TABLE messages ADD COLUMN packet_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN qos2_state INTEGER NOT NULL DEFAULT 0;
CREATE TABLE stats(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 2;
)sql";

bool is_memory(const std::filesystem::path& path) { return path.empty() || path == ":memory:"; }

// The connection's page cache: SQLite's default is 2 MiB, which the queue
// fills within seconds of a backlog (and quick_check at open fills at once)
// although its working set is two edges of one B-tree: appends at the
// right, take/complete/drop at the left, a few levels deep. 256 KiB holds
// those many times over; a large write transaction spills its dirty pages
// to the WAL early instead of keeping them in memory. No memory-mapped I/O
// (Debian's default too, made explicit): mapped pages of a growing file
// would count in the gateway's RSS.
constexpr const char* memory_pragmas = "PRAGMA cache_size = -256; PRAGMA mmap_size = 0";

// Damage in the file itself, as opposed to a lock, a permission or a path.
bool means_corrupt(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

enum class check_outcome { usable, corrupt };

struct probe {
  check_outcome outcome = check_outcome::usable;
  int version = 0;
  std::string problem;
};

// Sets the pragmas and looks at the file. Throws store_error for failures
// that moving the file aside would not cure.
probe check(sqlite3* db, const std::filesystem::path& path) {
  probe result;
  int rc = SQLITE_OK;
  if (!is_memory(path)) {
    const auto mode = sqlite::query_text(db, "PRAGMA journal_mode=WAL", rc);
    if (rc == SQLITE_OK && mode != "wal") {
      throw store_error(fmt::format("{}: cannot switch to WAL mode (journal_mode is {})", path.string(), mode));
    }
  }
  if (rc == SQLITE_OK) rc = sqlite::exec(db, "PRAGMA synchronous=FULL");
  if (rc == SQLITE_OK && !is_memory(path)) rc = sqlite::exec(db, memory_pragmas);
  std::string version_text;
  if (rc == SQLITE_OK) version_text = sqlite::query_text(db, "PRAGMA user_version", rc);
  std::string quick;
  if (rc == SQLITE_OK) quick = sqlite::query_text(db, "PRAGMA quick_check", rc);
  if (rc != SQLITE_OK) {
    if (means_corrupt(rc)) {
      result.outcome = check_outcome::corrupt;
      result.problem = sqlite::describe(db, rc, "unreadable");
      return result;
    }
    throw store_error(sqlite::describe(db, rc, "cannot use " + path.string()));
  }
  if (quick != "ok") {
    result.outcome = check_outcome::corrupt;
    result.problem = "quick_check: " + quick;
    return result;
  }
  result.version = std::stoi(version_text);
  return result;
}

void run_script(sqlite3* db, const char* sql, const std::filesystem::path& path, std::string_view what) {
  sqlite::transaction tx(db);
  int rc = tx.begin();
  if (rc == SQLITE_OK) rc = sqlite::exec(db, sql);
  if (rc == SQLITE_OK) rc = tx.commit();
  if (rc != SQLITE_OK) throw store_error(sqlite::describe(db, rc, fmt::format("{}: {}", path.string(), what)));
}

sqlite::connection open_connection(const std::filesystem::path& path) {
  int rc = SQLITE_OK;
  std::string message;
  auto db = sqlite::open(is_memory(path) ? std::filesystem::path(":memory:") : path,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, rc, message);
  if (!db) throw store_error(message);
  // The loop thread must not stall on a lock; only a `queue stats` reader or
  // a checkpoint ever holds one, and only briefly.
  sqlite3_busy_timeout(db.get(), 200);
  return db;
}

void move_aside(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  if (std::filesystem::exists(from, ec)) std::filesystem::rename(from, to, ec);
  if (ec) throw store_error(fmt::format("cannot move {} aside to {}: {}", from.string(), to.string(), ec.message()));
}

}  // namespace

std::filesystem::path quarantine_name(const std::filesystem::path& path) {
  // fmt 9 formats a system_clock time_point in local time; the name says Z.
  const auto now = fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()));
  const auto base = fmt::format("{}.corrupt-{:%Y%m%dT%H%M%S}Z", path.string(), now);
  std::filesystem::path candidate = base;
  for (int n = 2; std::filesystem::exists(candidate); ++n) candidate = fmt::format("{}-{}", base, n);
  return candidate;
}

opened_database open_queue_database(const std::filesystem::path& path, const logger_ptr& log) {
  opened_database result;
  result.db = open_connection(path);
  auto found = check(result.db.get(), path);
  if (found.outcome == check_outcome::corrupt) {
    result.db.reset();
    const auto aside = quarantine_name(path);
    move_aside(path, aside);
    move_aside(path.string() + "-wal", aside.string() + "-wal");
    std::error_code ignored;
    std::filesystem::remove(path.string() + "-shm", ignored);
    log->error("store: {} is corrupt ({}); moved it to {} and started an empty queue; "
               "its messages are not published",
               path.string(), found.problem, aside.string());
    result.quarantined = true;
    result.db = open_connection(path);
    found = check(result.db.get(), path);
    if (found.outcome == check_outcome::corrupt) {
      throw store_error(fmt::format("{}: a fresh database is corrupt too: {}", path.string(), found.problem));
    }
  }
  if (found.version > current_schema_version) {
    throw store_error(fmt::format(
        "{} was written by a newer fieldbridge (queue schema version {}; this build knows up to {}); "
        "refusing to touch it. Upgrade fieldbridge, or move the file away to start an empty queue",
        path.string(), found.version, current_schema_version));
  }
  if (found.version == 0) {
    run_script(result.db.get(), create_v2, path, "cannot create the queue schema");
  } else if (found.version == 1) {
    run_script(result.db.get(), migrate_v1_to_v2, path, "cannot migrate the queue schema from version 1");
    log->info("store: migrated {} from schema version 1 to {}", path.string(), current_schema_version);
  }
  return result;
}

}  // namespace fieldbridge::store
