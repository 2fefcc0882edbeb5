// RAII owners for the SQLite C API: the connection, prepared statements and
// transactions. Private to the store. Values are bound as parameters; no SQL
// is ever assembled from data.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace fieldbridge::store::sqlite {

struct connection_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using connection = std::unique_ptr<sqlite3, connection_closer>;

// Opens `path` with `flags`; on failure returns null and sets `rc` and
// `message`.
connection open(const std::filesystem::path& path, int flags, int& rc, std::string& message);

// "<what>: <sqlite message> (<code name>)" for logs and exceptions.
std::string describe(sqlite3* db, int rc, std::string_view what);

// Runs SQL without results (pragmas, DDL); returns the SQLite result code.
int exec(sqlite3* db, const char* sql);

// The single text result of a query such as a pragma; empty on error.
std::string query_text(sqlite3* db, const char* sql, int& rc);

// A statement prepared once and reused: bind, step, then reset() (done by
// the next bind-free step cycle through reset()). Throws std::runtime_error
// from the constructor only: a statement that does not compile is a bug.
class statement {
 public:
  statement() = default;
  statement(sqlite3* db, std::string_view sql);

  statement& bind(int index, std::int64_t value);
  statement& bind(int index, std::string_view text);
  statement& bind_blob(int index, std::string_view bytes);
  statement& bind_null(int index);

  int step();        // SQLITE_ROW, SQLITE_DONE or an error code
  int run();         // step() then reset(); SQLITE_DONE on success
  void reset();      // ready for the next bind/step, bindings cleared

  std::int64_t column_int64(int index) const;
  std::string column_text(int index) const;   // also for blobs
  bool column_is_null(int index) const;

 private:
  struct finalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, finalizer> stmt_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class transaction {
 public:
  explicit transaction(sqlite3* db) : db_(db) {}
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  int begin();   // SQLITE_OK on success
  int commit();  // SQLITE_OK on success; on failure the destructor rolls back

 private:
  sqlite3* db_;
  bool active_ = false;
};

}  // namespace fieldbridge::store::sqlite
