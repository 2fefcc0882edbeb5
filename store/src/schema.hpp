// Opening a queue database: pragmas, integrity check, quarantine of corrupt
// files, schema creation and migration. Private to the store.
#pragma once

#include <filesystem>

#include "fieldbridge/core/logging.hpp"
#include "sqlite.hpp"

namespace fieldbridge::store {

// Version 1 kept messages without QoS 2 state; version 2 added packet_id,
// qos2_state and the stats table.
inline constexpr int current_schema_version = 2;

struct opened_database {
  sqlite::connection db;
  bool quarantined = false;  // a corrupt file was moved aside and a fresh one made
};

// Opens (or creates) the queue database at `path` in WAL mode with
// synchronous=FULL, runs PRAGMA quick_check, moves a corrupt file aside and
// starts afresh, and creates or migrates the schema. Throws store_error when
// the schema is newer than this build or the file cannot be opened at all.
opened_database open_queue_database(const std::filesystem::path& path, const logger_ptr& log);

// `path` with ".corrupt-<UTC time>" appended, unused so far.
std::filesystem::path quarantine_name(const std::filesystem::path& path);

}  // namespace fieldbridge::store
