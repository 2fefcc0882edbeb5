// The queue's behaviour on real SQLite files: order, removal on completion,
// redelivery, the write-only-while-needed flush, overflow policies, QoS 2
// state across a reopen, and both drain orders.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <sstream>

#include "fieldbridge/store/queue.hpp"
#include "store_test_util.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::store {
namespace {

using namespace test_util;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

std::vector<int> range(int first, int last) {
  std::vector<int> out(static_cast<std::size_t>(last - first + 1));
  std::iota(out.begin(), out.end(), first);
  return out;
}

using QueueTest = store_fixture;

TEST_F(QueueTest, HandsOutInAppendOrderInBoundedWindowsInMemoryDatabase) {
  settings s;
  s.path = ":memory:";
  auto q = open(s);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(q->append(numbered(i)));
  EXPECT_THAT(numbers(q->take(4)), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(numbers(q->take(100)), ElementsAreArray(range(5, 10)));
  EXPECT_THAT(q->take(5), IsEmpty());  // all in flight
  EXPECT_EQ(q->depth(), 10u);
}

TEST_F(QueueTest, KeepsOrderAcrossWrittenAndPendingMessagesAndAReopen) {
  {
    auto q = open();
    for (int i = 1; i <= 300; ++i) q->append(numbered(i));
    ASSERT_EQ(q->sync(), flush_result::committed);
    for (int i = 301; i <= 320; ++i) q->append(numbered(i));
    // More than one read chunk from disk, then the pending tail.
    EXPECT_THAT(numbers(q->take(1000)), ElementsAreArray(range(1, 320)));
  }
  auto q = open();
  EXPECT_EQ(q->depth(), 320u);
  EXPECT_THAT(numbers(q->take(1000)), ElementsAreArray(range(1, 320)));
}

TEST_F(QueueTest, OldestIsTheFirstMessageNotCompletedOnDiskOrInMemory) {
  const auto ts = [](int n) { return numbered(n).ts; };
  auto q = open();
  EXPECT_EQ(q->oldest(), std::nullopt);
  for (int i = 1; i <= 100; ++i) q->append(numbered(i));
  EXPECT_EQ(q->oldest(), ts(1));  // in memory only
  ASSERT_EQ(q->sync(), flush_result::committed);
  for (int i = 101; i <= 110; ++i) q->append(numbered(i));
  const auto window = q->take(80);
  EXPECT_EQ(q->oldest(), ts(1));  // in flight still counts
  // Completed rows wait for their DELETE until the next write: skipped.
  for (const auto& e : window) q->complete(e.id);
  EXPECT_EQ(q->oldest(), ts(81));
  for (const auto& e : q->take(20)) q->complete(e.id);
  EXPECT_EQ(q->oldest(), ts(101));  // the disk is done, the pending tail is not
  for (const auto& e : q->take(10)) q->complete(e.id);
  EXPECT_EQ(q->oldest(), std::nullopt);
}

// A pending message keeps its topic, payload and source in one buffer: each
// field must come back as it was, in memory, from a written row and after a
// reopen, whatever its length (empty, under and over std::string's inline
// size) and its bytes (a payload is bytes, NUL and 0xff included).
TEST_F(QueueTest, EveryFieldComesBackAsAppendedFromMemoryFromDiskAndAfterAReopen) {
  using namespace std::string_literals;
  std::vector<message> sent(3);
  sent[0] = {"a/b", "\0\xff\x01payload with a NUL"s, 0, true, wall_clock::time_point(std::chrono::milliseconds(1)), ""};
  sent[1] = {"plant/a-topic-longer-than-fifteen-bytes/value", "", 2, false,
             wall_clock::time_point(std::chrono::milliseconds(1'800'000'000'123)), "meter/with-a-longer-source-name"};
  sent[2] = {"", std::string(5000, 'p'), 1, false, wall_clock::time_point(std::chrono::milliseconds(42)), "s"};
  const auto expect_as_sent = [&](const std::vector<envelope>& got, const char* where) {
    ASSERT_EQ(got.size(), sent.size()) << where;
    for (std::size_t i = 0; i < sent.size(); ++i) {
      const auto& m = got[i].msg;
      EXPECT_EQ(m.topic, sent[i].topic) << where << " " << i;
      EXPECT_EQ(m.payload, sent[i].payload) << where << " " << i;
      EXPECT_EQ(m.source, sent[i].source) << where << " " << i;
      EXPECT_EQ(m.qos, sent[i].qos) << where << " " << i;
      EXPECT_EQ(m.retain, sent[i].retain) << where << " " << i;
      EXPECT_EQ(m.ts, sent[i].ts) << where << " " << i;
    }
  };
  {
    auto q = open();
    std::uint64_t bytes = 0;
    for (const auto& m : sent) {
      ASSERT_TRUE(q->append(m));
      bytes += message_bytes(m);
    }
    EXPECT_EQ(q->bytes(), bytes);
    const auto from_memory = q->take(10);
    expect_as_sent(from_memory, "in memory");
    for (const auto& e : from_memory) q->undelivered(e.id);
    ASSERT_EQ(q->sync(), flush_result::committed);
    EXPECT_EQ(q->bytes(), bytes);
    const auto from_disk = q->take(10);
    expect_as_sent(from_disk, "written");
    for (const auto& e : from_disk) q->undelivered(e.id);
  }
  auto q = open();
  expect_as_sent(q->take(10), "after a reopen");
}

TEST_F(QueueTest, RemovesAMessageOnlyWhenItsPublishCompleted) {
  {
    auto q = open();
    for (int i = 1; i <= 3; ++i) q->append(numbered(i));
    const auto window = q->take(3);
    q->complete(window[1].id);
    ASSERT_EQ(q->sync(), flush_result::committed);
    EXPECT_EQ(q->depth(), 2u);
  }
  {
    // Handed out but never completed: still there after a restart.
    auto q = open();
    const auto window = q->take(10);
    EXPECT_THAT(numbers(window), ElementsAre(1, 3));
    q->complete(window[0].id);
    ASSERT_EQ(q->sync(), flush_result::committed);
  }
  auto q = open();
  EXPECT_THAT(numbers(q->take(10)), ElementsAre(3));
  EXPECT_EQ(q->stats().completed, 0u);
}

TEST_F(QueueTest, UndeliveredMessagesGoOutAgainInOrderWithoutQos2State) {
  auto q = open();
  for (int i = 1; i <= 4; ++i) q->append(numbered(i, 2));
  ASSERT_EQ(q->sync(), flush_result::committed);  // 1..4 written
  for (int i = 5; i <= 8; ++i) q->append(numbered(i, 2));  // 5..8 pending
  const auto window = q->take(8);
  ASSERT_EQ(window.size(), 8u);
  ASSERT_TRUE(q->record_publish_sent(window[1].id, 42));
  ASSERT_TRUE(q->record_publish_sent(window[5].id, 43));
  q->complete(window[0].id);
  for (std::size_t i : {5u, 1u, 6u}) q->undelivered(window[i].id);
  const auto again = q->take(8);
  EXPECT_THAT(numbers(again), ElementsAre(2, 6, 7));
  for (const auto& e : again) {
    EXPECT_EQ(e.packet_id, 0) << number_of(e);
    EXPECT_EQ(e.state, qos2_state::none) << number_of(e);
  }
  EXPECT_EQ(q->stats().redelivered, 3u);
  EXPECT_THAT(q->take(8), IsEmpty());
}

TEST_F(QueueTest, ARejectedMessageIsRemovedAndCountedApart) {
  auto q = open();
  for (int i = 1; i <= 3; ++i) q->append(numbered(i));
  ASSERT_EQ(q->sync(), flush_result::committed);
  q->append(numbered(4));
  const auto window = q->take(4);
  q->reject(window[1].id);  // written
  q->reject(window[3].id);  // pending
  q->complete(window[0].id);
  EXPECT_EQ(q->stats().rejected, 2u);
  EXPECT_EQ(q->stats().completed, 1u);
  EXPECT_EQ(q->depth(), 1u);
  ASSERT_EQ(q->sync(), flush_result::committed);
  // `fieldbridge queue stats` reads the count back from the file (docs/store.md).
  EXPECT_THAT(inspect(path_).counters,
              ::testing::Contains(std::pair<std::string, std::uint64_t>("rejected", 2)));
  q.reset();
  EXPECT_THAT(numbers(open()->take(10)), ElementsAre(3));
}

TEST_F(QueueTest, AMessageCompletedBeforeItsWriteIsDueIsNeverWritten) {
  auto q = open();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= 100; ++i) q->append(numbered(i));
  for (const auto& e : q->take(100)) q->complete(e.id);
  EXPECT_EQ(q->flush(start + std::chrono::hours(1)), flush_result::nothing_to_write);
  EXPECT_EQ(q->sync(), flush_result::nothing_to_write);
  EXPECT_EQ(q->stats().written, 0u);
  EXPECT_EQ(q->stats().never_written, 100u);
  EXPECT_EQ(q->stats().commits, 0u);
  EXPECT_EQ(q->depth(), 0u);
}

TEST_F(QueueTest, FlushWritesWhatWaitedHalfAFlushIntervalAndDeletesCompletedRows) {
  auto s = file_settings(path_);
  s.flush_interval = std::chrono::milliseconds(1000);
  auto q = open(s);
  q->append(numbered(1));
  const auto appended = std::chrono::steady_clock::now();
  EXPECT_EQ(q->flush(appended - std::chrono::milliseconds(1)), flush_result::nothing_to_write);
  EXPECT_EQ(q->pending(), 1u);
  EXPECT_EQ(q->flush(appended + q->flush_period()), flush_result::committed);
  EXPECT_EQ(q->pending(), 0u);
  EXPECT_EQ(q->stats().written, 1u);
  EXPECT_EQ(inspect(path_).depth, 1u);

  const auto window = q->take(1);
  q->complete(window.at(0).id);
  EXPECT_EQ(inspect(path_).depth, 1u);  // the delete waits for the next commit
  EXPECT_EQ(q->flush(), flush_result::committed);
  EXPECT_EQ(inspect(path_).depth, 0u);
}

TEST_F(QueueTest, AZeroFlushIntervalCommitsEveryAppendBeforeItReturns) {
  auto s = file_settings(path_);
  s.flush_interval = std::chrono::milliseconds(0);
  auto q = open(s);
  q->append(numbered(1));
  EXPECT_EQ(q->pending(), 0u);
  EXPECT_EQ(inspect(path_).depth, 1u);
  EXPECT_EQ(q->stats().commits, 1u);
  EXPECT_GT(q->flush_period().count(), 0);  // the owner's timer must not spin
}

TEST_F(QueueTest, AWindowInFlightAtFlushTimeIsWrittenAndStaysInFlight) {
  auto q = open();
  for (int i = 1; i <= 5; ++i) q->append(numbered(i));
  const auto window = q->take(3);
  ASSERT_EQ(q->sync(), flush_result::committed);
  EXPECT_THAT(numbers(q->take(10)), ElementsAre(4, 5));
  for (const auto& e : window) q->complete(e.id);
  EXPECT_EQ(q->depth(), 2u);
  ASSERT_EQ(q->sync(), flush_result::committed);
  EXPECT_EQ(inspect(path_).depth, 2u);
}

class OverflowTest : public QueueTest, public ::testing::WithParamInterface<bool> {
 protected:
  // Written to disk before the overflow, or still pending in memory.
  bool written() const { return GetParam(); }

  // Room for exactly n messages of numbered().
  static std::uint64_t room_for(int n) { return static_cast<std::uint64_t>(n) * message_bytes(numbered(1)); }

  // A queue filled to max_size with messages 1..n, written or pending.
  std::unique_ptr<queue> open_full(int n, overflow_policy on_full) {
    auto s = file_settings(path_);
    s.wal_limit = test_wal_limit;  // counted in max_size
    s.max_size = room_for(n) + test_wal_limit;
    s.on_full = on_full;
    auto q = open(s);
    for (int i = 1; i <= n; ++i) EXPECT_TRUE(q->append(numbered(i)));
    if (written()) {
      EXPECT_EQ(q->sync(), flush_result::committed);
    }
    return q;
  }
};

TEST_P(OverflowTest, DropOldestRemovesExactlyTheOldestMessages) {
  auto q = open_full(10, overflow_policy::drop_oldest);
  for (int i = 11; i <= 17; ++i) ASSERT_TRUE(q->append(numbered(i)));
  EXPECT_EQ(q->stats().dropped_oldest, 7u);
  EXPECT_EQ(q->stats().dropped_newest, 0u);
  EXPECT_EQ(q->depth(), 10u);
  EXPECT_EQ(q->bytes(), room_for(10));
  EXPECT_THAT(numbers(q->take(100)), ElementsAreArray(range(8, 17)));
  ASSERT_EQ(q->sync(), flush_result::committed);
  EXPECT_EQ(inspect(path_).depth, 10u);
}

TEST_P(OverflowTest, DropNewestRefusesExactlyTheMessagesThatDoNotFit) {
  auto q = open_full(10, overflow_policy::drop_newest);
  int refused = 0;
  for (int i = 11; i <= 17; ++i) refused += q->append(numbered(i)) ? 0 : 1;
  EXPECT_EQ(refused, 7);
  EXPECT_EQ(q->stats().dropped_newest, 7u);
  EXPECT_EQ(q->stats().dropped_oldest, 0u);
  EXPECT_EQ(q->stats().appended, 10u);
  // Room again once one completes.
  const auto window = q->take(1);
  q->complete(window.at(0).id);
  EXPECT_TRUE(q->append(numbered(18)));
  EXPECT_THAT(numbers(q->take(100)), ElementsAre(2, 3, 4, 5, 6, 7, 8, 9, 10, 18));
}

TEST_P(OverflowTest, DropOldestSkipsMessagesInFlight) {
  auto q = open_full(4, overflow_policy::drop_oldest);
  const auto window = q->take(2);  // 1 and 2 are being published
  q->append(numbered(5));
  q->append(numbered(6));
  EXPECT_EQ(q->stats().dropped_oldest, 2u);
  EXPECT_THAT(numbers(q->take(10)), ElementsAre(5, 6));
  q->complete(window[0].id);
  q->complete(window[1].id);
  EXPECT_EQ(q->depth(), 2u);
}

// Issue 11: drops read the oldest rows ahead in chunks; what they drop stays
// exactly the oldest available across chunks, commits, redeliveries and
// completions.
TEST_P(OverflowTest, DropOldestStaysExactAcrossChunksCommitsAndRedeliveries) {
  auto q = open_full(600, overflow_policy::drop_oldest);
  const auto window = q->take(3);  // 1, 2, 3 in flight
  q->complete(window[1].id);       // room for 601
  ASSERT_TRUE(q->append(numbered(601)));
  EXPECT_EQ(q->stats().dropped_oldest, 0u);
  ASSERT_TRUE(q->append(numbered(602)));  // drops 4: 1 and 3 are in flight
  EXPECT_EQ(q->sync(), flush_result::committed);
  q->undelivered(window[0].id);           // 1 is the oldest again
  ASSERT_TRUE(q->append(numbered(603)));  // drops 1
  for (int i = 604; i <= 900; ++i) ASSERT_TRUE(q->append(numbered(i)));  // drop 5..301
  q->complete(window[2].id);
  EXPECT_EQ(q->stats().dropped_oldest, 299u);
  EXPECT_EQ(q->depth(), 599u);
  EXPECT_EQ(q->bytes(), room_for(599));
  EXPECT_THAT(numbers(q->take(1000)), ElementsAreArray(range(302, 900)));
}

std::string written_or_pending(const ::testing::TestParamInfo<bool>& param) {
  return param.param ? "written" : "pending";
}
INSTANTIATE_TEST_SUITE_P(WrittenOrPending, OverflowTest, ::testing::Bool(), written_or_pending);

int occurrences(const std::string& text, std::string_view what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(QueueTest, DropsAreCountedEachAndLoggedAtMostOncePerPeriod) {
  std::ostringstream lines;
  auto log = std::make_shared<spdlog::logger>("store", std::make_shared<spdlog::sinks::ostream_sink_st>(lines));
  auto s = file_settings(path_);
  s.wal_limit = test_wal_limit;
  s.max_size = 2 * message_bytes(numbered(1)) + test_wal_limit;
  s.on_full = overflow_policy::drop_newest;
  queue q(s, log);
  for (int i = 1; i <= 100; ++i) q.append(numbered(i));
  EXPECT_EQ(q.stats().dropped_newest, 98u);
  const auto text = lines.str();
  EXPECT_EQ(occurrences(text, "store full"), 1) << text;
  EXPECT_THAT(text, ::testing::HasSubstr("store full: refused (drop_newest) 1 message(s)"));
}

// Issue 9 item 12: the last burst of drops is reported by a later flush,
// not only by a later drop (which may never come).
TEST_F(QueueTest, AFlushReportsTheDropsThatTheRateLimitHeldBack) {
  std::ostringstream lines;
  auto log = std::make_shared<spdlog::logger>("store", std::make_shared<spdlog::sinks::ostream_sink_st>(lines));
  auto s = file_settings(path_);
  s.hot_path = "none";
  s.wal_limit = test_wal_limit;
  s.max_size = 2 * message_bytes(numbered(1)) + test_wal_limit;
  s.on_full = overflow_policy::drop_newest;
  queue q(s, log);
  for (int i = 1; i <= 50; ++i) q.append(numbered(i));
  ASSERT_EQ(occurrences(lines.str(), "store full"), 1) << lines.str();
  q.flush(std::chrono::steady_clock::now());  // within the period: still quiet
  EXPECT_EQ(occurrences(lines.str(), "store full"), 1) << lines.str();
  q.flush(std::chrono::steady_clock::now() + std::chrono::minutes(1));
  const auto text = lines.str();
  EXPECT_EQ(occurrences(text, "store full"), 2) << text;
  EXPECT_THAT(text, ::testing::HasSubstr("47 more message(s) dropped or refused since the last report")) << text;
  q.flush(std::chrono::steady_clock::now() + std::chrono::minutes(2));  // nothing new: nothing said
  EXPECT_EQ(occurrences(lines.str(), "store full"), 2);
}

TEST_F(QueueTest, Qos2StateSurvivesAReopenAndIsResumedNotRepublished) {
  {
    auto q = open();
    for (int i = 1; i <= 4; ++i) q->append(numbered(i, 2));
    auto window = q->take(2);            // 1, 2 published while still pending
    ASSERT_TRUE(q->record_publish_sent(window[0].id, 101));
    ASSERT_TRUE(q->record_publish_sent(window[1].id, 102));
    ASSERT_EQ(q->sync(), flush_result::committed);
    ASSERT_TRUE(q->record_pubrel_sent(window[1].id));  // written row: durable at once
    window = q->take(1);                 // 3 published after its write
    ASSERT_TRUE(q->record_publish_sent(window[0].id, 103));
  }
  auto q = open();
  const auto& resumed = q->resumed();
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(number_of(resumed[0]), 1);
  EXPECT_EQ(resumed[0].packet_id, 101);
  EXPECT_EQ(resumed[0].state, qos2_state::publish_sent);
  EXPECT_EQ(number_of(resumed[1]), 2);
  EXPECT_EQ(resumed[1].packet_id, 102);
  EXPECT_EQ(resumed[1].state, qos2_state::pubrel_sent);
  EXPECT_EQ(resumed[2].packet_id, 103);
  EXPECT_EQ(resumed[2].msg.qos, 2);
  // Resumed exchanges are in flight: take() hands out only message 4.
  EXPECT_THAT(numbers(q->take(10)), ElementsAre(4));
  const auto one = resumed[0].id, two = resumed[1].id, three = resumed[2].id;
  q->complete(two);      // PUBCOMP after the resent PUBREL
  q->undelivered(three); // session lost: a new PUBLISH, no packet id
  const auto again = q->take(10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, three);
  EXPECT_EQ(again[0].packet_id, 0);
  ASSERT_EQ(q->sync(), flush_result::committed);
  q.reset();
  q = open();
  ASSERT_EQ(q->resumed().size(), 1u);
  EXPECT_EQ(q->resumed()[0].id, one);
  EXPECT_EQ(q->depth(), 3u);
}

TEST_F(QueueTest, FifoDrainsStrictlyInOrder) {
  auto s = file_settings(path_);
  s.drain = drain_order::fifo;
  auto q = open(s);
  for (int i = 1; i <= 8; ++i) q->append(numbered(i));
  ASSERT_EQ(q->sync(), flush_result::committed);  // the backlog of an outage
  for (int i = 9; i <= 14; ++i) q->append(numbered(i));
  std::vector<int> order;
  for (int i = 0; i < 14; ++i) order.push_back(number_of(q->take(1).at(0)));
  EXPECT_THAT(order, ElementsAreArray(range(1, 14)));
}

TEST_F(QueueTest, LiveFirstSendsNewReadingsFirstAndStillDrainsTheBacklog) {
  auto s = file_settings(path_);
  s.drain = drain_order::live_first;
  auto q = open(s);
  for (int i = 1; i <= 8; ++i) q->append(numbered(i));
  ASSERT_EQ(q->sync(), flush_result::committed);  // backlog: 1..8
  for (int i = 9; i <= 14; ++i) q->append(numbered(i, 1, 8, other_topic));  // live: 9..14
  std::vector<int> order;
  for (int i = 0; i < 14; ++i) {
    const auto window = q->take(1);
    order.push_back(number_of(window.at(0)));
    q->complete(window[0].id);
  }
  // Three live, one from the backlog, ...; each group in its own order.
  EXPECT_THAT(order, ElementsAre(9, 10, 11, 1, 12, 13, 14, 2, 3, 4, 5, 6, 7, 8));
  EXPECT_EQ(q->depth(), 0u);
}

TEST_F(QueueTest, LiveFirstWindowPutsLiveMessagesAheadOfTheBacklog) {
  auto s = file_settings(path_);
  s.drain = drain_order::live_first;
  auto q = open(s);
  for (int i = 1; i <= 8; ++i) q->append(numbered(i));
  ASSERT_EQ(q->sync(), flush_result::committed);
  for (int i = 9; i <= 20; ++i) q->append(numbered(i, 1, 8, other_topic));
  // A window of 8: six live and two from the backlog (3:1).
  EXPECT_THAT(numbers(q->take(8)), ElementsAre(9, 10, 11, 12, 13, 14, 1, 2));
  EXPECT_THAT(numbers(q->take(100)), ElementsAre(15, 16, 17, 18, 19, 20, 3, 4, 5, 6, 7, 8));
}

// Issue 9 item 11: a retained on_change point must not end with a stale
// value, so within a topic nothing older goes out after something newer.
TEST_F(QueueTest, LiveFirstNeverSendsAnOlderMessageAfterANewerOneOnTheSameTopic) {
  auto s = file_settings(path_);
  s.drain = drain_order::live_first;
  auto q = open(s);
  for (int i = 1; i <= 4; ++i) q->append(numbered(i));                      // backlog, topic A
  for (int i = 5; i <= 6; ++i) q->append(numbered(i, 1, 8, other_topic));  // backlog, topic B
  ASSERT_EQ(q->sync(), flush_result::committed);
  q->append(numbered(7));                      // live, topic A: waits for 1..4
  q->append(numbered(8, 1, 8, other_topic));  // live, topic B: waits for 5..6
  q->append(numbered(9, 1, 8, "plant/meter3/voltage"));  // live, a topic with no backlog
  std::vector<envelope> sent;
  for (int round = 0; round < 20 && sent.size() < 9; ++round) {
    for (auto& e : q->take(2)) sent.push_back(std::move(e));
  }
  ASSERT_EQ(sent.size(), 9u);
  std::map<std::string, int> last;
  for (const auto& e : sent) {
    const auto n = number_of(e);
    EXPECT_LT(last[e.msg.topic], n) << e.msg.topic << ": " << n << " after " << last[e.msg.topic];
    last[e.msg.topic] = n;
  }
  EXPECT_EQ(number_of(sent.front()), 9);  // live still goes first where it can
  EXPECT_EQ(last["plant/meter1/voltage"], 7);
  EXPECT_EQ(last[other_topic], 8);
}

// Also across an undelivered backlog message: the live one waits again.
TEST_F(QueueTest, LiveFirstHoldsALiveMessageWhileAnOlderOneOnItsTopicComesBack) {
  auto s = file_settings(path_);
  s.drain = drain_order::live_first;
  auto q = open(s);
  q->append(numbered(1));
  ASSERT_EQ(q->sync(), flush_result::committed);
  const auto first = q->take(1);
  ASSERT_THAT(numbers(first), ElementsAre(1));
  q->append(numbered(2));
  q->undelivered(first[0].id);  // 1 goes out again, before 2
  EXPECT_THAT(numbers(q->take(10)), ElementsAre(1));  // 2 waits for the next window
  EXPECT_THAT(numbers(q->take(10)), ElementsAre(2));
}

TEST_F(QueueTest, InspectReportsDepthTimesAndCountersWithoutTheWriter) {
  auto q = open();
  for (int i = 1; i <= 5; ++i) q->append(numbered(i));
  for (const auto& e : q->take(1)) q->complete(e.id);
  ASSERT_EQ(q->sync(), flush_result::committed);
  const auto view = inspect(path_);  // while the queue is open
  EXPECT_EQ(view.schema_version, 2);
  EXPECT_EQ(view.depth, 4u);
  EXPECT_EQ(view.bytes, 4 * message_bytes(numbered(2)));
  EXPECT_EQ(view.oldest, numbered(2).ts);
  EXPECT_EQ(view.newest, numbered(5).ts);
  EXPECT_GT(view.database_file_bytes + view.wal_file_bytes, 0u);
  ASSERT_TRUE(view.counters_written.has_value());
  const auto counter = [&](std::string_view name) {
    for (const auto& [n, v] : view.counters) if (n == name) return v;
    return std::uint64_t{999999};
  };
  EXPECT_EQ(counter("appended"), 5u);
  EXPECT_EQ(counter("completed"), 1u);
  EXPECT_EQ(counter("never_written"), 1u);
  EXPECT_EQ(counter("written"), 4u);
  EXPECT_THROW(inspect(dir_ / "absent.db"), store_error);
}

}  // namespace
}  // namespace fieldbridge::store
