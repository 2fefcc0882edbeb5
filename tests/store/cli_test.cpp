// `fieldbridge queue stats` against a real queue database, beside a writer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fieldbridge/store/queue.hpp"
#include "process.hpp"
#include "store_test_util.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::store {
namespace {

using namespace test_util;
using ::testing::HasSubstr;
using fieldbridge::test::run_command;

class QueueCliTest : public ::testing::Test {
 protected:
  void fill(queue& q) {
    for (int i = 1; i <= 3; ++i) q.append(numbered(i));
    ASSERT_EQ(q.sync(), flush_result::committed);
  }
  fieldbridge::test::temp_dir dir_{"store-cli"};
  std::filesystem::path db_ = dir_ / "queue.db";
};

TEST_F(QueueCliTest, StatsFromTheConfigurationWhileTheQueueIsOpen) {
  queue q(file_settings(db_), make_null_logger());
  fill(q);
  const auto config = dir_.write_file("fieldbridge.yaml", "store:\n  path: " + db_.string() + "\n" + R"(buses:
  - name: plc
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: plc1
        unit: 1
        points:
          - { name: level, table: holding, address: 0, type: uint16 }
)");
  const auto result = run_command({fieldbridge::test::fieldbridge_binary(), "queue", "-c", config.string(), "stats"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("depth:          3 messages"));
  EXPECT_THAT(result.output, HasSubstr("oldest reading: 2027-01-15T08:00:01.000Z"));
  EXPECT_THAT(result.output, HasSubstr("newest reading: 2027-01-15T08:00:03.000Z"));
  EXPECT_THAT(result.output, HasSubstr("appended          3"));
}

TEST_F(QueueCliTest, StatsShowsTheHotTierAndTheNewCounters) {
  queue q(file_settings(db_), make_null_logger());
  fill(q);
  for (int i = 4; i <= 5; ++i) q.append(numbered(i));  // only in memory and the hot tier
  const auto config = dir_.write_file("fieldbridge.yaml", "store:\n  path: " + db_.string() +
                                                              "\n  hot_path: " + dir_.path().string() + "\n" + R"(buses:
  - name: plc
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: plc1
        unit: 1
        points:
          - { name: level, table: holding, address: 0, type: uint16 }
)");
  const auto result = run_command({fieldbridge::test::fieldbridge_binary(), "queue", "-c", config.string(), "stats"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("depth:          3 messages"));
  EXPECT_THAT(result.output, HasSubstr(": 2 messages not yet in the database"));
  EXPECT_THAT(result.output, HasSubstr("recreated         0"));
  EXPECT_THAT(result.output, HasSubstr("recovered         0"));
}

TEST_F(QueueCliTest, StatsWithDbAfterTheDaemonClosedIt) {
  {
    queue q(file_settings(db_), make_null_logger());
    fill(q);
  }
  const auto result = run_command({fieldbridge::test::fieldbridge_binary(), "queue", "--db", db_.string(), "stats"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("depth:          3 messages"));
}

TEST_F(QueueCliTest, FailsClearlyWhenTheDatabaseDoesNotExist) {
  const auto result =
      run_command({fieldbridge::test::fieldbridge_binary(), "queue", "--db", (dir_ / "none.db").string(), "stats"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("no queue database there"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "none.db"));
}

}  // namespace
}  // namespace fieldbridge::store
