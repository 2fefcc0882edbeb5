// kill -9 at random moments: every message whose commit had returned is
// present exactly once and in order, and the database is intact.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <random>
#include <sstream>
#include <thread>

#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::store {
namespace {

using namespace std::chrono_literals;

// store_crash_child takes and completes at most this many per cycle.
constexpr long max_completes_per_cycle = 30;

struct report {
  long committed = 0;   // every number up to this one was committed
  long completed = 0;   // every number up to this one was completed and deleted
  std::size_t lines = 0;
};

// Whole lines only: the last one may have been cut by the kill.
report parse(const std::string& log) {
  report r;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline after it
    long committed = 0, completed = 0;
    if (std::sscanf(line.c_str(), "committed %ld completed %ld", &committed, &completed) == 2) {
      r.committed = committed;
      r.completed = std::max(r.completed, completed);
      ++r.lines;
    }
  }
  return r;
}

struct contents {
  std::vector<long> numbers;  // in id order
  std::string integrity;
};

contents read_back(const std::filesystem::path& path) {
  contents c;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT payload FROM messages ORDER BY id", -1, &stmt, nullptr), SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    c.numbers.push_back(std::stol(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))));
  }
  sqlite3_finalize(stmt);
  EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr), SQLITE_OK);
  if (sqlite3_step(stmt) == SQLITE_ROW) c.integrity = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return c;
}

TEST(StoreCrashTest, EveryCommittedMessageSurvivesSigkillExactlyOnceAndInOrder) {
  fieldbridge::test::temp_dir dir("store-crash");
  const auto db = dir / "queue.db";
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  long committed = 0;  // highest number any child reported committed
  long completed = 0;  // highest number any child reported completed
  long next = 1;
  constexpr int kills = 100;
  for (int round = 0; round < kills; ++round) {
    const auto log = dir / ("child-" + std::to_string(round) + ".log");
    fieldbridge::test::child_process child(
        {STORE_CRASH_CHILD, db.string(), std::to_string(next), std::to_string(random())}, log);
    // Kill after a random number of commits, plus a random few hundred
    // microseconds so the kill lands anywhere in the cycle, fsync included.
    const auto commits = std::uniform_int_distribution<std::size_t>(1, 6)(random);
    ASSERT_TRUE(fieldbridge::test::wait_until([&] { return parse(child.log()).lines >= commits; }, 20s, 1ms))
        << "round " << round << ": " << child.log();
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(random)));
    EXPECT_EQ(child.kill_hard(), 128 + SIGKILL) << "round " << round;
    const auto r = parse(child.log());
    committed = std::max(committed, r.committed);
    completed = std::max(completed, r.completed);

    const auto found = read_back(db);
    ASSERT_EQ(found.integrity, "ok") << "round " << round;
    // In order and never twice.
    for (std::size_t i = 1; i < found.numbers.size(); ++i) {
      ASSERT_LT(found.numbers[i - 1], found.numbers[i]) << "round " << round << " at " << i;
    }
    // Everything committed and not completed is there. The cycle cut by the
    // kill may have committed completions it could not report (the commit is
    // visible once its WAL frame is written, before the fsync returns): at
    // most max_completes_per_cycle more from the front. The next child
    // reports those as completed, having found them gone.
    auto it = std::lower_bound(found.numbers.begin(), found.numbers.end(), completed + 1);
    const long first = it == found.numbers.end() ? committed + 1 : std::min(*it, committed + 1);
    ASSERT_LE(first - (completed + 1), max_completes_per_cycle) << "round " << round << ": lost " << completed + 1;
    for (long n = first; n <= committed; ++n, ++it) {
      ASSERT_TRUE(it != found.numbers.end() && *it == n)
          << "round " << round << ": lost " << n << " (committed " << committed << ", completed " << completed
          << ", found " << found.numbers.size() << " rows)\n" << child.log();
    }
    // Completed and committed deletions stay deleted.
    if (!found.numbers.empty()) {
      ASSERT_GT(found.numbers.front(), completed) << "round " << round;
      next = std::max(committed, found.numbers.back()) + 1;
    } else {
      next = committed + 1;
    }
  }
  EXPECT_GT(committed, kills);
}

}  // namespace
}  // namespace fieldbridge::store
