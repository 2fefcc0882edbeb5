// The session's subscription memory on its own: what the broker granted is
// what a lost session gets back, in the order first asked for.
#include "subscription_memory.hpp"

#include <gtest/gtest.h>

namespace fieldbridge::mqtt {
namespace {

subscription sub(std::string filter, qos q = qos::at_least_once) {
  subscription s;
  s.filter = std::move(filter);
  s.options.max_qos = q;
  return s;
}

properties with_id(std::uint32_t id) {
  properties p;
  p.set(property_id::subscription_identifier, id);
  return p;
}

TEST(SubscriptionMemory, RemembersOnlyWhatWasGranted) {
  subscription_memory m;
  m.remember_pending({sub("a"), sub("b")}, {}, 1);
  EXPECT_TRUE(m.granted().empty());  // pending is not granted
  EXPECT_FALSE(m.any_granted());
  m.settle("a", 1, true);
  m.settle("b", 1, false);
  m.forget_if_empty();
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a")}));
}

TEST(SubscriptionMemory, ARefusedNewerRequestKeepsWhatWasGranted) {
  subscription_memory m;
  m.remember_pending({sub("a", qos::at_most_once)}, {}, 1);
  m.settle("a", 1, true);
  m.remember_pending({sub("a", qos::exactly_once)}, {}, 2);
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a", qos::at_most_once)}));  // until its SUBACK
  m.settle("a", 2, false);
  m.forget_if_empty();
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a", qos::at_most_once)}));
  m.remember_pending({sub("a", qos::exactly_once)}, {}, 3);
  m.settle("a", 3, true);
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a", qos::exactly_once)}));
}

TEST(SubscriptionMemory, AnAckForAnOlderRequestOfTheFilterIsIgnored) {
  subscription_memory m;
  m.remember_pending({sub("a", qos::at_most_once)}, {}, 1);
  m.remember_pending({sub("a", qos::exactly_once)}, {}, 2);  // asked again before the first SUBACK
  m.settle("a", 1, true);
  EXPECT_TRUE(m.granted().empty());
  m.settle("a", 2, true);
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a", qos::exactly_once)}));
}

TEST(SubscriptionMemory, AFailedRequestDropsOnlyWhatItAddedNew) {
  subscription_memory m;
  m.remember_pending({sub("a")}, {}, 1);
  m.settle("a", 1, true);
  m.remember_pending({sub("a", qos::exactly_once), sub("b")}, {}, 2);
  m.drop_pending(2);
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a")}));
  // "b" is forgotten: a later grant for token 2 finds nothing.
  m.settle("b", 2, true);
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a")}));
}

TEST(SubscriptionMemory, UnsubscribeForgetsAtOnceEvenWhilePending) {
  subscription_memory m;
  m.remember_pending({sub("a"), sub("b")}, {}, 1);
  m.settle("a", 1, true);
  m.forget({"a", "b"});
  m.settle("b", 1, true);  // the SUBACK arriving after the unsubscribe()
  EXPECT_TRUE(m.granted().empty());
  EXPECT_FALSE(m.any_granted());
}

TEST(SubscriptionMemory, KeepsTheOrderFirstAskedFor) {
  subscription_memory m;
  m.remember_pending({sub("a"), sub("b"), sub("c")}, {}, 1);
  for (const char* f : {"c", "a", "b"}) m.settle(f, 1, true);
  m.remember_pending({sub("a", qos::exactly_once)}, {}, 2);  // new options, same place
  m.settle("a", 2, true);
  EXPECT_EQ(m.granted(), (std::vector<subscription>{sub("a", qos::exactly_once), sub("b"), sub("c")}));
}

TEST(SubscriptionMemory, RestoreIsNeededOnlyWhenSomethingWasGranted) {
  subscription_memory m;
  m.on_session_lost();
  EXPECT_FALSE(m.restore_needed());
  m.remember_pending({sub("a")}, {}, 1);
  m.on_session_lost();
  EXPECT_FALSE(m.restore_needed());  // pending only: its own SUBACK settles it
  m.settle("a", 1, true);
  m.on_session_lost();
  EXPECT_TRUE(m.restore_needed());
  EXPECT_EQ(m.take_restore().size(), 1u);
  EXPECT_FALSE(m.restore_needed());
  m.on_restore_lost();  // the restoring SUBSCRIBE went with its connection
  EXPECT_TRUE(m.restore_needed());
}

TEST(SubscriptionMemory, RestoreSendsOneSubscribePerSetOfProperties) {
  subscription_memory m;
  m.remember_pending({sub("a"), sub("b")}, with_id(1), 1);
  m.remember_pending({sub("c")}, with_id(2), 2);
  m.remember_pending({sub("d")}, with_id(1), 3);
  for (const char* f : {"a", "b"}) m.settle(f, 1, true);
  m.settle("c", 2, true);
  m.settle("d", 3, true);
  const auto packets = m.take_restore();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0].packet_id, 0);
  EXPECT_EQ(packets[0].props, with_id(1));
  EXPECT_EQ(packets[0].subscriptions, (std::vector<subscription>{sub("a"), sub("b"), sub("d")}));
  EXPECT_EQ(packets[1].props, with_id(2));
  EXPECT_EQ(packets[1].subscriptions, (std::vector<subscription>{sub("c")}));
}

}  // namespace
}  // namespace fieldbridge::mqtt
