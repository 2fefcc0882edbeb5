// The hot tier (issue 9 items 2, 6, 7, 8): what the store accepted survives
// a SIGKILL of the process with no window, also while the disk refuses
// writes; a store file deleted or replaced while open is made again; the
// WAL stays within its bound.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sqlite3.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>

#include "fieldbridge/store/queue.hpp"
#include "process.hpp"
#include "store_test_util.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::store {
namespace {

using namespace test_util;
using namespace std::chrono_literals;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::vector<std::filesystem::path> files_ending(const std::filesystem::path& dir, std::string_view end) {
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().string().ends_with(end)) found.push_back(entry.path());
  }
  return found;
}

std::vector<long> payload_numbers(std::vector<envelope> window) {
  std::vector<long> out;
  for (const auto& e : window) out.push_back(std::stol(e.msg.payload));
  return out;
}

std::uint64_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

class HotTierTest : public store_fixture {
 protected:
  std::filesystem::path hot_dir_ = dir_ / "run";
  void SetUp() override { std::filesystem::create_directory(hot_dir_); }

  settings hot_settings() {
    auto s = file_settings(path_);
    s.hot_path = hot_dir_.string();
    s.flush_interval = 1min;
    return s;
  }

  // Runs store_hot_child until `ready` holds for its output, then SIGKILLs it.
  void run_and_kill(const std::string& mode, long n, const std::function<bool(const std::string&)>& ready,
                    const std::string& log_name = "child.log") {
    fieldbridge::test::child_process child(
        {STORE_HOT_CHILD, path_.string(), hot_dir_.string(), mode, std::to_string(n)}, dir_ / log_name);
    ASSERT_TRUE(fieldbridge::test::wait_until([&] { return ready(child.log()); }, 30s, 1ms)) << child.log();
    ASSERT_EQ(child.kill_hard(), 128 + SIGKILL);
  }

  // The highest n of the child's whole "accepted <n>" lines.
  static long last_accepted(const std::string& log) {
    long last = 0;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;
      long n = 0;
      if (std::sscanf(line.c_str(), "accepted %ld", &n) == 1) last = n;
    }
    return last;
  }
};

TEST_F(HotTierTest, MessagesAndTheirQos2StateSurviveASigkillBeforeAnyWrite) {
  constexpr long n = 400;
  run_and_kill("qos2", n, [](const std::string& log) { return log.find("ready\n") != std::string::npos; });
  ASSERT_EQ(inspect(path_).depth, 0u);  // nothing reached the database: all was in the hot tier
  ASSERT_EQ(files_ending(hot_dir_, ".hot").size(), 1u);

  auto q = open(hot_settings());
  EXPECT_EQ(q->depth(), static_cast<std::uint64_t>(n - n / 4));  // the completed quarter is gone
  EXPECT_EQ(q->stats().recovered, static_cast<std::uint64_t>(n - n / 4));
  EXPECT_EQ(inspect(path_).depth, static_cast<std::uint64_t>(n - n / 4));  // replayed into SQLite at open
  // QoS 2 exchanges resume with their packet ids, in order.
  std::vector<long> resumed;
  for (const auto& e : q->resumed()) {
    const long i = std::stol(e.msg.payload);
    resumed.push_back(i);
    EXPECT_EQ(e.packet_id, i) << i;
    EXPECT_EQ(e.state, i % 4 == 1 ? qos2_state::publish_sent : qos2_state::pubrel_sent) << i;
    EXPECT_EQ(e.msg.qos, 2);
    EXPECT_EQ(e.msg.retain, i % 2 == 0);
    EXPECT_EQ(e.msg.topic, "hot/test/" + std::to_string(i % 3));
    EXPECT_EQ(e.msg.ts, wall_clock::time_point(std::chrono::milliseconds(1'800'000'000'000 + i)));
  }
  std::vector<long> expected_resumed, expected_queued;
  for (long i = 1; i <= n; ++i) {
    if (i % 4 == 1 || i % 4 == 2) expected_resumed.push_back(i);
    if (i % 4 == 0) expected_queued.push_back(i);
  }
  EXPECT_THAT(resumed, ElementsAreArray(expected_resumed));
  // Those left in flight without state are published again, in order.
  EXPECT_THAT(payload_numbers(q->take(1000)), ElementsAreArray(expected_queued));
}

TEST_F(HotTierTest, EveryAcceptedMessageSurvivesSigkillsInOrderAndATornRecordIsIgnored) {
  long expected_last = 0;
  for (int round = 0; round < 5; ++round) {
    const long already = expected_last;
    long accepted = 0;
    run_and_kill("stream", 0, [&](const std::string& log) {
      accepted = last_accepted(log);
      return accepted >= 200;
    }, "child-" + std::to_string(round) + ".log");
    accepted = last_accepted(fieldbridge::test::read_file(dir_ / ("child-" + std::to_string(round) + ".log")));
    const auto hot = files_ending(hot_dir_, ".hot");
    ASSERT_EQ(hot.size(), 1u);
    if (round == 4) {
      // A record cut short (as a write cut by power loss would leave it): the
      // whole records before it count, it does not.
      std::filesystem::resize_file(hot[0], std::filesystem::file_size(hot[0]) - 3);
    }
    std::ostringstream lines;
    auto log = std::make_shared<spdlog::logger>("store", std::make_shared<spdlog::sinks::ostream_sink_st>(lines));
    queue q(hot_settings(), log);
    const auto all = payload_numbers(q.take(1'000'000));
    // Each child numbers from 1; its messages follow the earlier ones.
    ASSERT_GE(all.size(), static_cast<std::size_t>(already));
    std::vector<long> mine(all.begin() + static_cast<long>(already), all.end());
    ASSERT_FALSE(mine.empty());
    for (std::size_t i = 0; i < mine.size(); ++i) ASSERT_EQ(mine[i], static_cast<long>(i) + 1) << "round " << round;
    // Everything accepted is there (and the append the kill cut short may be).
    if (round < 4) {
      EXPECT_GE(static_cast<long>(mine.size()), accepted) << "round " << round;
      EXPECT_LE(static_cast<long>(mine.size()), accepted + 1) << "round " << round;
    } else {
      EXPECT_GE(static_cast<long>(mine.size()), accepted - 1);
      EXPECT_THAT(lines.str(), HasSubstr("torn or damaged record")) << lines.str();
    }
    for (const auto& e : q.resumed()) ADD_FAILURE() << "resumed QoS 1 message " << e.id;
    expected_last = static_cast<long>(all.size());
    for (const auto& e : q.take(0)) q.undelivered(e.id);
  }
}

TEST_F(HotTierTest, ReplayingTheSameHotLogTwiceGivesTheSameQueue) {
  run_and_kill("qos2", 40, [](const std::string& log) { return log.find("ready\n") != std::string::npos; });
  const auto hot = files_ending(hot_dir_, ".hot").at(0);
  const auto copy = dir_ / "hot.copy";
  std::filesystem::copy_file(hot, copy);
  std::vector<long> first;
  {
    auto q = open(hot_settings());
    first = payload_numbers(q->take(1000));
    for (const auto& e : q->resumed()) first.push_back(std::stol(e.msg.payload));
  }
  // As if the process died after the replay's commit, before the log was reset.
  std::filesystem::copy_file(copy, hot, std::filesystem::copy_options::overwrite_existing);
  auto q = open(hot_settings());
  auto second = payload_numbers(q->take(1000));
  for (const auto& e : q->resumed()) second.push_back(std::stol(e.msg.payload));
  EXPECT_EQ(first, second);
  EXPECT_EQ(q->depth(), 30u);
  EXPECT_EQ(inspect(path_).depth, 30u);
}

TEST_F(HotTierTest, ACleanCloseLeavesNoHotFileAndNoneTurnsItOff) {
  {
    auto q = open(hot_settings());
    ASSERT_TRUE(q->hot_file().has_value());
    EXPECT_EQ(q->hot_file()->parent_path(), hot_dir_);
    for (int i = 1; i <= 10; ++i) q->append(numbered(i));
    EXPECT_GT(q->hot_bytes(), 10 * message_bytes(numbered(1)) / 2);
    EXPECT_EQ(files_ending(hot_dir_, ".hot").size(), 1u);
  }
  EXPECT_TRUE(files_ending(hot_dir_, ".hot").empty());
  EXPECT_EQ(inspect(path_).depth, 10u);
  auto s = hot_settings();
  s.hot_path = "none";
  auto q = open(s);
  EXPECT_FALSE(q->hot_file().has_value());
  q->append(numbered(11));
  EXPECT_TRUE(files_ending(hot_dir_, ".hot").empty());
}

TEST_F(HotTierTest, TwoStoresGetTwoHotFiles) {
  auto a = open(hot_settings());
  auto s = hot_settings();
  s.path = dir_ / "other.db";
  auto b = open(s);
  ASSERT_TRUE(a->hot_file() && b->hot_file());
  EXPECT_NE(*a->hot_file(), *b->hot_file());
}

TEST_F(HotTierTest, AHealthyStreamKeepsTheHotFileSmallAndTheDiskUntouched) {
  auto q = open(hot_settings());
  std::uint64_t largest = 0;
  auto now = std::chrono::steady_clock::now();
  for (int i = 1; i <= 20000; ++i) {
    q->append(numbered(i, 1, 100));
    for (const auto& e : q->take(20)) q->complete(e.id);
    if (i % 1000 == 0) {
      now += 500ms;
      EXPECT_EQ(q->flush(now), flush_result::nothing_to_write);
    }
    largest = std::max(largest, q->hot_bytes());
  }
  EXPECT_EQ(q->stats().written, 0u);
  EXPECT_EQ(q->stats().commits, 0u);
  EXPECT_LT(largest, 1024u * 1024u) << "the hot tier is compacted";
}

// Issue 11: a batch collects its records and writes them once, when it
// ends; what it wrote survives a SIGKILL like records written one by one.
TEST_F(HotTierTest, ABatchWritesItsRecordsWhenItEndsAndTheySurviveASigkill) {
  {
    auto s = hot_settings();
    s.path = dir_ / "first.db";
    auto q = open(s);
    const auto empty = q->hot_bytes();
    {
      queue::batch b(*q);
      for (int i = 1; i <= 10; ++i) q->append(numbered(i, 1, 10));
      EXPECT_EQ(q->hot_bytes(), empty) << "held until the batch ends";
    }
    const auto appended = q->hot_bytes();
    EXPECT_GT(appended, empty);
    {
      queue::batch b(*q);
      q->append(numbered(11, 1, 10));
      EXPECT_EQ(q->take(1).size(), 1u);  // take() writes what is held before it hands out
      EXPECT_GT(q->hot_bytes(), appended);
    }
  }
  constexpr long n = 300;
  run_and_kill("batch", n, [](const std::string& log) { return log.find("ready\n") != std::string::npos; });
  auto q = open(hot_settings());
  std::vector<long> expected;
  for (long i = 2; i <= n; i += 2) expected.push_back(i);
  expected.push_back(n + 1);  // the next poll's, whose write carried the completions
  EXPECT_EQ(q->depth(), expected.size());
  EXPECT_THAT(payload_numbers(q->take(1000)), ElementsAreArray(expected));
}

// Issue 11: a completed QoS 0/1 message's removal waits for the next write
// of the hot tier (the next poll's records, flush(), sync(), a QoS 2 record,
// or 256 of them), so acknowledgements cost no write(2) of their own.
TEST_F(HotTierTest, CompletionsWaitForTheNextWriteAndFlushWritesThem) {
  auto q = open(hot_settings());
  {
    queue::batch b(*q);
    for (int i = 1; i <= 10; ++i) q->append(numbered(i, 1, 10));
  }
  for (const auto& e : q->take(10)) q->complete(e.id);
  const auto before = q->hot_bytes();
  EXPECT_EQ(q->take(10).size(), 0u);  // a take() that writes nothing held does not write them either
  EXPECT_EQ(q->hot_bytes(), before) << "the completions wait";
  {
    queue::batch b(*q);
    q->append(numbered(11, 1, 10));
  }
  const auto one_append = message_bytes(numbered(11, 1, 10));
  EXPECT_GT(q->hot_bytes(), before + one_append / 2) << "the next poll's write carries them";
  const auto with_poll = q->hot_bytes();
  for (const auto& e : q->take(10)) q->complete(e.id);
  EXPECT_EQ(q->hot_bytes(), with_poll);
  q->flush(std::chrono::steady_clock::now());
  EXPECT_GT(q->hot_bytes(), with_poll) << "flush() writes what waits";

  // QoS 2 and rejections never wait.
  q->append(numbered(12, 2, 10));
  auto taken = q->take(1);
  ASSERT_EQ(taken.size(), 1u);
  const auto before_qos2 = q->hot_bytes();
  q->complete(taken[0].id);
  EXPECT_GT(q->hot_bytes(), before_qos2);
  q->append(numbered(13, 1, 10));
  taken = q->take(1);
  ASSERT_EQ(taken.size(), 1u);
  const auto before_reject = q->hot_bytes();
  q->reject(taken[0].id);
  EXPECT_GT(q->hot_bytes(), before_reject);
}

// The same for a row already written to SQLite: its removal (the hot tier
// remembers it until the DELETE commits) waits at QoS 1, not at QoS 2.
TEST_F(HotTierTest, AWrittenRowsCompletionWaitsAtQos1AndNotAtQos2) {
  auto q = open(hot_settings());
  q->append(numbered(1, 1, 10));
  q->append(numbered(2, 2, 10));
  ASSERT_EQ(q->sync(), flush_result::committed);
  const auto taken = q->take(2);
  ASSERT_EQ(taken.size(), 2u);
  const auto before = q->hot_bytes();
  q->complete(taken[0].id);
  EXPECT_EQ(q->hot_bytes(), before) << "QoS 1: the removal waits";
  q->complete(taken[1].id);
  EXPECT_GT(q->hot_bytes(), before) << "QoS 2: written at once";
}

TEST_F(HotTierTest, AtMostTwoHundredFiftySixCompletionsWait) {
  auto q = open(hot_settings());
  {
    queue::batch b(*q);
    for (int i = 1; i <= 300; ++i) q->append(numbered(i, 1, 10));
  }
  const auto taken = q->take(300);
  ASSERT_EQ(taken.size(), 300u);
  const auto before = q->hot_bytes();
  for (std::size_t i = 0; i < 255; ++i) q->complete(taken[i].id);
  EXPECT_EQ(q->hot_bytes(), before);
  q->complete(taken[255].id);
  EXPECT_GT(q->hot_bytes(), before) << "the 256th writes them all";
}

// What a kill -9 costs while completions wait: those messages go out again
// (at least once), none is lost.
TEST_F(HotTierTest, CompletionsNotYetWrittenArePublishedAgainAfterASigkill) {
  constexpr long n = 100;
  run_and_kill("completed", n, [](const std::string& log) { return log.find("ready\n") != std::string::npos; });
  auto q = open(hot_settings());
  std::vector<long> all;
  for (long i = 1; i <= n; ++i) all.push_back(i);
  EXPECT_THAT(payload_numbers(q->take(1000)), ElementsAreArray(all));
}

// Issue 9 item 6: what the store holds in memory while the disk refuses
// writes survives the process, and every drop is counted and logged.
TEST_F(HotTierTest, DiskFullMessagesInMemorySurviveTheProcessAndDropsAreCounted) {
  const auto sample = numbered(1, 1, 2000);
  auto s = hot_settings();
  s.memory_limit = 20 * message_bytes(sample);
  std::ostringstream lines;
  auto log = std::make_shared<spdlog::logger>("store", std::make_shared<spdlog::sinks::ostream_sink_st>(lines));
  {
    queue q(s, log);
    ASSERT_TRUE(q.append(numbered(1, 1, 2000)));
    ASSERT_EQ(q.sync(), flush_result::committed);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    const auto pages = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    q.limit_file_pages(pages);  // "disk full"
    for (int i = 2; i <= 31; ++i) ASSERT_TRUE(q.append(numbered(i, 1, 2000)));
    EXPECT_TRUE(q.disk_failing());
    EXPECT_EQ(q.stats().dropped_overflow, 10u);
    EXPECT_EQ(q.flush(std::chrono::steady_clock::now() + 1h), flush_result::failed);
  }  // the process ends with the disk still full (the destructor's write fails too)
  EXPECT_THAT(lines.str(), HasSubstr("dropped the oldest")) << lines.str();
  EXPECT_THAT(lines.str(), HasSubstr("stay in the hot tier")) << lines.str();
  // Space is back (a new connection has no page cap).
  auto q = open(hot_settings());
  std::vector<long> expected{1};
  for (long i = 12; i <= 31; ++i) expected.push_back(i);
  EXPECT_THAT(payload_numbers(q->take(100)), ElementsAreArray(expected));
  EXPECT_EQ(q->stats().recovered, 20u);
}

TEST_F(HotTierTest, WhileTheDiskFailsWritesGoInBoundedChunks) {
  auto s = hot_settings();
  s.memory_limit = 64ull << 20;
  s.max_batch = 100000;
  auto q = open(s);
  ASSERT_TRUE(q->append(numbered(1, 1, 100)));
  ASSERT_EQ(q->sync(), flush_result::committed);
  q->limit_file_pages(1);  // below the file's size: no new page
  for (int i = 2; i <= 3001; ++i) ASSERT_TRUE(q->append(numbered(i, 1, 100)));
  EXPECT_EQ(q->sync(), flush_result::failed);
  EXPECT_TRUE(q->disk_failing());
  const auto failed = q->stats().write_errors;
  EXPECT_EQ(q->sync(), flush_result::failed);  // one small chunk tried, not all 3000
  EXPECT_EQ(q->stats().write_errors, failed + 1);
  q->limit_file_pages(0);
  const auto commits = q->stats().commits;
  EXPECT_EQ(q->sync(), flush_result::committed);
  // A small chunk while the disk is suspect, then the rest in one go.
  EXPECT_EQ(q->stats().commits, commits + 2);
  EXPECT_EQ(q->pending(), 0u);
  EXPECT_EQ(inspect(path_).depth, 3001u);
}

// Issue 9 item 7.
TEST_F(HotTierTest, AStoreFileDeletedWhileOpenIsRecreatedWithEverythingUnacknowledged) {
  auto q = open(hot_settings());
  for (int i = 1; i <= 50; ++i) q->append(numbered(i, i % 2 == 0 ? 2 : 1));
  ASSERT_EQ(q->sync(), flush_result::committed);
  auto window = q->take(10);
  for (int k = 0; k < 5; ++k) q->complete(window[static_cast<std::size_t>(k)].id);  // 1..5 done
  ASSERT_TRUE(q->record_publish_sent(window[5].id, 77));                              // 6: QoS 2
  for (int i = 51; i <= 60; ++i) q->append(numbered(i));                              // pending
  std::filesystem::remove(path_);  // a cleanup job, a mistaken rm
  std::filesystem::remove(path_.string() + "-wal");
  std::filesystem::remove(path_.string() + "-shm");
  q->flush(std::chrono::steady_clock::now() + 1h);
  EXPECT_EQ(q->stats().recreated, 1u);
  ASSERT_TRUE(std::filesystem::exists(path_));
  q->flush(std::chrono::steady_clock::now() + 1h);  // the same file now: nothing more
  EXPECT_EQ(q->stats().recreated, 1u);
  q->append(numbered(61));
  q.reset();
  auto reopened = open(hot_settings());
  ASSERT_EQ(reopened->resumed().size(), 1u);
  EXPECT_EQ(reopened->resumed()[0].packet_id, 77);
  EXPECT_EQ(std::stol(reopened->resumed()[0].msg.payload), 6);
  std::vector<long> expected;
  for (long i = 7; i <= 61; ++i) expected.push_back(i);
  EXPECT_THAT(payload_numbers(reopened->take(100)), ElementsAreArray(expected));
  bool counted = false;
  for (const auto& [name, value] : inspect(path_).counters) counted |= name == "recreated" && value == 1;
  EXPECT_TRUE(counted) << "queue stats shows it";
}

TEST_F(HotTierTest, AForeignFilePutInPlaceOfTheStoreIsMovedAsideAndTheStoreRecreated) {
  auto q = open(hot_settings());
  for (int i = 1; i <= 5; ++i) q->append(numbered(i));
  ASSERT_EQ(q->sync(), flush_result::committed);
  const auto tmp = dir_ / "foreign";
  { std::ofstream(tmp) << "someone else's file"; }
  std::filesystem::rename(tmp, path_);
  q->flush(std::chrono::steady_clock::now() + 1h);
  EXPECT_EQ(q->stats().recreated, 1u);
  const auto aside = files_ending(dir_.path(), "Z");
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_THAT(aside[0].filename().string(), ::testing::StartsWith("queue.db.replaced-"));
  EXPECT_EQ(fieldbridge::test::read_file(aside[0]), "someone else's file");
  q.reset();
  EXPECT_THAT(payload_numbers(open(hot_settings())->take(10)), ElementsAreArray(std::vector<long>{1, 2, 3, 4, 5}));
}

// Issue 9 item 8: with a reader open between commits (queue stats) or not.
TEST_F(HotTierTest, TheWalStaysWithinItsBoundAfterManyCommits) {
  for (const bool reader : {false, true}) {
    SCOPED_TRACE(reader ? "with a reader" : "alone");
    std::filesystem::remove(path_);
    auto s = hot_settings();
    s.max_size = 8ull << 20;  // bound: 1 MiB
    auto q = open(s);
    ASSERT_EQ(q->wal_bound(), 1u << 20);
    sqlite3* other = nullptr;
    if (reader) {
      ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &other, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    }
    std::uint64_t largest = 0;
    int n = 0;
    for (int commit = 0; commit < 300; ++commit) {
      for (int i = 0; i < 50; ++i) q->append(numbered(++n, 1, 200));
      for (const auto& e : q->take(40)) q->complete(e.id);
      ASSERT_EQ(q->sync(), flush_result::committed);
      if (other != nullptr) {
        sqlite3_stmt* st = nullptr;
        ASSERT_EQ(sqlite3_prepare_v2(other, "SELECT count(*) FROM messages", -1, &st, nullptr), SQLITE_OK);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        sqlite3_finalize(st);
      }
      largest = std::max(largest, file_size_or_zero(path_.string() + "-wal"));
    }
    if (other != nullptr) sqlite3_close(other);
    EXPECT_LE(largest, q->wal_bound());
    EXPECT_GT(q->stats().checkpoints, 0u);
    EXPECT_GT(largest, 0u);
    q.reset();
  }
}

TEST_F(HotTierTest, TheWalBoundIsCountedInMaxSize) {
  auto s = hot_settings();
  s.max_size = 1ull << 20;  // bound: 128 KiB, so 896 KiB for messages
  auto q = open(s);
  EXPECT_EQ(q->wal_bound(), 128u * 1024u);
  const auto each = message_bytes(numbered(1, 1, 1000));
  for (int i = 1; i <= 2000; ++i) q->append(numbered(i, 1, 1000));
  EXPECT_LE(q->bytes(), s.max_size - q->wal_bound());
  EXPECT_GT(q->bytes() + each, s.max_size - q->wal_bound());
}

}  // namespace
}  // namespace fieldbridge::store
