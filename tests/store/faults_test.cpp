// Faults at open and at commit: schema migration and refusal, corrupt files
// moved aside, a full disk with recovery.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "fieldbridge/store/queue.hpp"
#include "store_test_util.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::store {
namespace {

using namespace test_util;
using ::testing::HasSubstr;

// Runs SQL on a database file with the plain C API, outside the store.
void run_sql(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

std::string text_of(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

std::vector<std::filesystem::path> quarantined_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    const bool aside = name.find(".corrupt-") != std::string::npos && name.find("-wal") == std::string::npos;
    if (aside) found.push_back(entry.path());
  }
  return found;
}

using FaultsTest = store_fixture;

// Version 1 never shipped: it is this build's layout without QoS 2 state,
// made here by hand so the migration path is exercised for real.
TEST_F(FaultsTest, MigratesASyntheticVersion1DatabaseToVersion2) {
  run_sql(path_, R"sql(
    CREATE TABLE messages(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, topic TEXT NOT NULL,
      payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, source TEXT NOT NULL,
      size INTEGER NOT NULL);
    INSERT INTO messages VALUES(7, 1800000001000, 't/a', '1', 2, 0, 'a', 50);
    INSERT INTO messages VALUES(9, 1800000002000, 't/b', '2', 1, 1, 'b', 50);
    PRAGMA user_version = 1;)sql");
  auto q = open();
  EXPECT_EQ(text_of(path_, "PRAGMA user_version"), "2");
  EXPECT_TRUE(q->resumed().empty());
  EXPECT_EQ(q->depth(), 2u);
  const auto window = q->take(10);
  ASSERT_EQ(window.size(), 2u);
  EXPECT_EQ(window[0].id, 7);
  EXPECT_EQ(window[0].msg.topic, "t/a");
  EXPECT_EQ(window[0].msg.qos, 2);
  EXPECT_TRUE(window[1].msg.retain);
  EXPECT_TRUE(q->record_publish_sent(window[0].id, 5));  // the new columns work
  const auto id = q->append(numbered(1));
  EXPECT_EQ(id, 10);  // ids continue after the migrated rows
}

TEST_F(FaultsTest, RefusesADatabaseFromANewerSchemaAndLeavesItAlone) {
  run_sql(path_, "CREATE TABLE future(x); PRAGMA user_version = 3;");
  try {
    open();
    FAIL() << "opened a newer schema";
  } catch (const store_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("newer fieldbridge"));
    EXPECT_THAT(e.what(), HasSubstr("schema version 3"));
  }
  EXPECT_EQ(text_of(path_, "PRAGMA user_version"), "3");
  EXPECT_TRUE(quarantined_files(dir_.path()).empty());
}

TEST_F(FaultsTest, MovesAFileOfGarbageAsideAndStartsAFreshQueue) {
  std::string garbage;
  for (int i = 0; i < 200; ++i) garbage += "this is not an SQLite database at all. ";
  dir_.write_file("queue.db", garbage);
  auto q = open();
  EXPECT_EQ(q->stats().quarantined, 1u);
  EXPECT_EQ(q->depth(), 0u);
  const auto aside = quarantined_files(dir_.path());
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(fieldbridge::test::read_file(aside[0]), garbage);
  EXPECT_THAT(aside[0].filename().string(), ::testing::StartsWith("queue.db.corrupt-"));
  ASSERT_TRUE(q->append(numbered(1)));
  EXPECT_EQ(q->sync(), flush_result::committed);
  EXPECT_EQ(inspect(path_).depth, 1u);
}

TEST_F(FaultsTest, AQuarantineIsLoggedAsAnErrorNamingWhereTheFileWent) {
  dir_.write_file("queue.db", std::string(8192, 'x'));
  std::ostringstream lines;
  auto log = std::make_shared<spdlog::logger>("store", std::make_shared<spdlog::sinks::ostream_sink_st>(lines));
  log->set_pattern("%l %v");
  queue q(file_settings(path_), log);
  const auto aside = quarantined_files(dir_.path());
  ASSERT_EQ(aside.size(), 1u);
  const auto text = lines.str();
  EXPECT_THAT(text, ::testing::StartsWith("error store: ")) << text;
  EXPECT_THAT(text, HasSubstr("is corrupt")) << text;
  EXPECT_THAT(text, HasSubstr(aside[0].string())) << text;
}

TEST_F(FaultsTest, MovesADatabaseWithDamagedPagesAside) {
  {
    auto q = open();
    for (int i = 1; i <= 400; ++i) q->append(numbered(i, 1, 200));
    ASSERT_EQ(q->sync(), flush_result::committed);
  }  // closed: checkpointed into the main file
  ASSERT_FALSE(std::filesystem::exists(path_.string() + "-wal"));
  const auto size = std::filesystem::file_size(path_);
  ASSERT_GT(size, 8 * 4096u);
  {
    // Keep the header page; scribble over the pages of the table's b-tree.
    std::fstream file(path_, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096);
    const std::string junk(static_cast<std::size_t>(size) - 4096, '\xA5');
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto q = open();
  EXPECT_EQ(q->stats().quarantined, 1u);
  EXPECT_EQ(q->depth(), 0u);
  EXPECT_EQ(quarantined_files(dir_.path()).size(), 1u);
}

TEST_F(FaultsTest, DiskFullKeepsMessagesInABoundedMemoryBufferAndRecovers) {
  const auto sample = numbered(1, 1, 2000);
  auto s = file_settings(path_);
  s.memory_limit = 20 * message_bytes(sample);
  s.on_full = overflow_policy::drop_oldest;
  auto q = open(s);
  ASSERT_TRUE(q->append(numbered(1, 1, 2000)));
  ASSERT_EQ(q->sync(), flush_result::committed);
  const auto pages = std::stoull(text_of(path_, "PRAGMA page_count"));
  q->limit_file_pages(pages);  // no room for another page: "disk full"

  // 2..11: the tenth fills half the memory buffer and tries an early write.
  for (int i = 2; i <= 11; ++i) ASSERT_TRUE(q->append(numbered(i, 1, 2000)));
  EXPECT_TRUE(q->disk_failing());
  EXPECT_EQ(q->stats().write_errors, 1u);
  EXPECT_EQ(q->flush(std::chrono::steady_clock::now() + std::chrono::hours(1)), flush_result::failed);
  EXPECT_EQ(q->stats().write_errors, 2u);
  // 12..31: the buffer holds 20; the ten oldest pending ones overflow.
  for (int i = 12; i <= 31; ++i) ASSERT_TRUE(q->append(numbered(i, 1, 2000)));
  EXPECT_EQ(q->stats().dropped_overflow, 10u);
  EXPECT_EQ(q->pending(), 20u);
  EXPECT_EQ(q->depth(), 21u);

  q->limit_file_pages(0);  // space returns
  EXPECT_EQ(q->flush(std::chrono::steady_clock::now() + std::chrono::hours(1)), flush_result::committed);
  EXPECT_FALSE(q->disk_failing());
  EXPECT_EQ(q->pending(), 0u);
  q.reset();
  auto reopened = open();
  std::vector<int> expected{1};
  for (int i = 12; i <= 31; ++i) expected.push_back(i);
  EXPECT_THAT(numbers(reopened->take(100)), ::testing::ElementsAreArray(expected));
  EXPECT_EQ(text_of(path_, "PRAGMA integrity_check"), "ok");
}

TEST_F(FaultsTest, DiskFullWithDropNewestRefusesWhatDoesNotFitInMemory) {
  const auto sample = numbered(1, 1, 2000);
  auto s = file_settings(path_);
  s.memory_limit = 5 * message_bytes(sample);
  s.on_full = overflow_policy::drop_newest;
  auto q = open(s);
  q->append(numbered(1, 1, 2000));
  ASSERT_EQ(q->sync(), flush_result::committed);
  q->limit_file_pages(std::stoull(text_of(path_, "PRAGMA page_count")));
  int refused = 0;
  for (int i = 2; i <= 12; ++i) refused += q->append(numbered(i, 1, 2000)) ? 0 : 1;
  EXPECT_TRUE(q->disk_failing());
  EXPECT_EQ(refused, 6);
  EXPECT_EQ(q->stats().dropped_overflow, 6u);
  q->limit_file_pages(0);
  EXPECT_EQ(q->sync(), flush_result::committed);
  EXPECT_THAT(numbers(q->take(100)), ::testing::ElementsAre(1, 2, 3, 4, 5, 6));
}

}  // namespace
}  // namespace fieldbridge::store
