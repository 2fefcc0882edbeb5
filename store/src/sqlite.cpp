#include "sqlite.hpp"

#include <fmt/core.h>

#include <stdexcept>

namespace fieldbridge::store::sqlite {

connection open(const std::filesystem::path& path, int flags, int& rc, std::string& message) {
  sqlite3* raw = nullptr;
  rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  connection db(raw);  // owns the handle even when open failed
  if (rc != SQLITE_OK) {
    message = describe(raw, rc, "cannot open " + path.string());
    return nullptr;
  }
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

std::string describe(sqlite3* db, int rc, std::string_view what) {
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return fmt::format("{}: {} ({})", what, detail, sqlite3_errstr(rc));
}

int exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

std::string query_text(sqlite3* db, const char* sql, int& rc) {
  sqlite3_stmt* raw = nullptr;
  rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, &sqlite3_finalize);
  if (rc != SQLITE_OK) return {};
  std::string text;
  rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW) {
    if (const auto* p = sqlite3_column_text(raw, 0)) text = reinterpret_cast<const char*>(p);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  return text;
}

statement::statement(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  stmt_.reset(raw);
  if (rc != SQLITE_OK) throw std::runtime_error(describe(db, rc, fmt::format("cannot prepare \"{}\"", sql)));
}

statement& statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_.get(), index, value);
  return *this;
}

statement& statement::bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
  return *this;
}

statement& statement::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob64(stmt_.get(), index, bytes.data(), bytes.size(), SQLITE_STATIC);
  return *this;
}

statement& statement::bind_null(int index) {
  sqlite3_bind_null(stmt_.get(), index);
  return *this;
}

int statement::step() { return sqlite3_step(stmt_.get()); }

int statement::run() {
  const int rc = step();
  reset();
  return rc;
}

void statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::int64_t statement::column_int64(int index) const { return sqlite3_column_int64(stmt_.get(), index); }

std::string statement::column_text(int index) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_.get(), index));
  const int size = sqlite3_column_bytes(stmt_.get(), index);
  return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(size));
}

bool statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}

transaction::~transaction() {
  if (active_) exec(db_, "ROLLBACK");
}

int transaction::begin() {
  const int rc = exec(db_, "BEGIN IMMEDIATE");
  active_ = rc == SQLITE_OK;
  return rc;
}

int transaction::commit() {
  const int rc = exec(db_, "COMMIT");
  // A failed COMMIT may leave the transaction open; the destructor rolls it
  // back. When SQLite already rolled back, ROLLBACK is a harmless error.
  if (rc == SQLITE_OK) active_ = false;
  return rc;
}

}  // namespace fieldbridge::store::sqlite
