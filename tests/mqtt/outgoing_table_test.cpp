// The session's outgoing table on its own: packet ids (messages, requests,
// owed PUBCOMPs), slots and their first-send order, the active count.
#include "outgoing_table.hpp"

#include <gtest/gtest.h>

namespace fieldbridge::mqtt {
namespace {

publish_packet message(std::string topic, qos q = qos::at_least_once) {
  publish_packet m;
  m.topic = std::move(topic);
  m.qos = q;
  return m;
}

TEST(OutgoingTable, IdsGoRoundRobinFromOneAndSkipWhatIsTaken) {
  outgoing_table t;
  EXPECT_EQ(t.allocate_id(), 1);
  EXPECT_EQ(t.allocate_id(), 2);  // 1 was never taken: still round robin, not lowest free
  t.add(7, message("a"), 3, outgoing_state::publish_sent);
  t.hold_request_id(4);
  EXPECT_EQ(t.allocate_id(), 5);
}

TEST(OutgoingTable, IdsWrapAfter65535AndNeverGiveZero) {
  outgoing_table t;
  std::uint16_t last = 0;
  for (int i = 0; i < 65535; ++i) last = t.allocate_id();
  EXPECT_EQ(last, 65535);
  EXPECT_EQ(t.allocate_id(), 1);
}

TEST(OutgoingTable, AllocateReturnsZeroWhenEveryIdIsBusy) {
  outgoing_table t;
  for (std::uint32_t id = 1; id < 65536; ++id) t.hold_request_id(static_cast<std::uint16_t>(id));
  EXPECT_EQ(t.allocate_id(), 0);
  t.free_request_id(40000);
  EXPECT_EQ(t.allocate_id(), 40000);
}

TEST(OutgoingTable, AddFindRelease) {
  outgoing_table t;
  const auto slot = t.add(42, message("t/1"), 9, outgoing_state::publish_sent);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.id_in_use(9));
  auto* o = t.find(9);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o, &t.at(slot));
  EXPECT_EQ(o->token, 42u);
  EXPECT_EQ(o->message.topic, "t/1");
  EXPECT_EQ(o->message.packet_id, 9);  // the message carries its id
  EXPECT_TRUE(o->in_use);
  EXPECT_FALSE(o->sent_on_connection);
  EXPECT_EQ(t.find(10), nullptr);

  t.release(9);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.id_in_use(9));
  EXPECT_EQ(t.find(9), nullptr);
  EXPECT_FALSE(t.at(slot).in_use);
  // The slot is recycled, not a new one.
  EXPECT_EQ(t.add(43, message("t/2"), 11, outgoing_state::pubrel_sent), slot);
  EXPECT_EQ(t.find(11)->state, outgoing_state::pubrel_sent);
}

TEST(OutgoingTable, RequestIdsAreTakenButHoldNoMessage) {
  outgoing_table t;
  t.hold_request_id(5);
  EXPECT_TRUE(t.id_in_use(5));
  EXPECT_EQ(t.find(5), nullptr);
  EXPECT_EQ(t.size(), 0u);
  t.free_request_id(5);
  EXPECT_FALSE(t.id_in_use(5));
}

TEST(OutgoingTable, OrderedSlotsFollowFirstSendOrderAcrossReusedSlots) {
  outgoing_table t;
  t.add(1, message("a"), 1, outgoing_state::publish_sent);
  t.add(2, message("b"), 2, outgoing_state::publish_sent);
  t.add(3, message("c"), 3, outgoing_state::publish_sent);
  t.release(1);  // frees the first slot; the next message reuses it
  t.add(4, message("d"), 4, outgoing_state::publish_sent);
  std::vector<message_token> order;
  for (const auto slot : t.ordered_slots()) order.push_back(t.at(slot).token);
  EXPECT_EQ(order, (std::vector<message_token>{2, 3, 4}));
}

TEST(OutgoingTable, ActiveCountsWhatWasSentOnThisConnection) {
  outgoing_table t;
  const auto a = t.add(1, message("a"), 1, outgoing_state::publish_sent);
  const auto b = t.add(2, message("b"), 2, outgoing_state::publish_sent);
  t.add(3, message("c"), 3, outgoing_state::publish_sent);
  t.mark_sent(a);
  t.mark_sent(b);
  EXPECT_EQ(t.active(), 2u);
  EXPECT_EQ(t.size(), 3u);
  t.release(1);  // sent: no longer active
  EXPECT_EQ(t.active(), 1u);
  t.release(3);  // never sent: active unchanged
  EXPECT_EQ(t.active(), 1u);
  t.on_connection_lost();
  EXPECT_EQ(t.active(), 0u);
  EXPECT_EQ(t.size(), 1u);  // the message waits for the next connection
  EXPECT_FALSE(t.find(2)->sent_on_connection);
}

TEST(OutgoingTable, OwedPubcompKeepsTheIdFromReuseUntilItComes) {
  outgoing_table t;
  t.owe_pubcomp(1);
  t.owe_pubcomp(1);
  EXPECT_FALSE(t.id_in_use(1));  // no message holds it
  EXPECT_EQ(t.allocate_id(), 2);
  EXPECT_TRUE(t.take_owed_pubcomp(1));
  EXPECT_TRUE(t.take_owed_pubcomp(1));
  EXPECT_FALSE(t.take_owed_pubcomp(1));
  EXPECT_FALSE(t.take_owed_pubcomp(2));
}

TEST(OutgoingTable, OwedPubcompsAreForgottenWithTheConnection) {
  outgoing_table t;
  t.owe_pubcomp(1);
  t.on_connection_lost();
  EXPECT_FALSE(t.take_owed_pubcomp(1));
  EXPECT_EQ(t.allocate_id(), 1);
}

TEST(OutgoingTable, OwedPubcompsSaturate) {
  outgoing_table t;
  for (int i = 0; i < 300; ++i) t.owe_pubcomp(7);
  int taken = 0;
  while (t.take_owed_pubcomp(7)) ++taken;
  EXPECT_EQ(taken, 255);
}

}  // namespace
}  // namespace fieldbridge::mqtt
