// Topic name/filter validation and matching (MQTT 5 section 4.7).
#include <fieldbridge/mqtt/topic.hpp>

#include <gtest/gtest.h>

#include <string>

namespace fieldbridge::mqtt {
namespace {

TEST(TopicName, Valid) {
  for (const char* n : {"a", "a/b", "/", "a//b", "/a", "a/", "$SYS/broker", "plant1/boiler room/temp", "\xC3\xA9t\xC3\xA9"}) {
    EXPECT_TRUE(valid_topic_name(n)) << n;
  }
  EXPECT_TRUE(valid_topic_name(std::string(65535, 'a')));
}

TEST(TopicName, Invalid) {
  for (const char* n : {"", "a/+", "+", "#", "a/#", "a+b", "a#"}) {
    EXPECT_FALSE(valid_topic_name(n)) << n;
  }
  EXPECT_FALSE(valid_topic_name(std::string(65536, 'a')));
  EXPECT_FALSE(valid_topic_name(std::string("a\0b", 3)));
  EXPECT_FALSE(valid_topic_name("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(valid_topic_name("\xC3"));          // truncated UTF-8
}

TEST(TopicFilter, Valid) {
  for (const char* f : {"a", "#", "+", "a/#", "+/+", "a/+/b", "/+", "+/", "/#", "a//#", "$SYS/#", "$share/g/a/+",
                        "$share/g/#"}) {
    EXPECT_TRUE(valid_topic_filter(f)) << f;
  }
}

TEST(TopicFilter, Invalid) {
  for (const char* f : {"", "a#", "a/#/b", "#/", "a+", "+a", "a/b+/c", "##", "++", "a/#b", "$share/", "$share/g",
                        "$share//a", "$share/g+/a", "$share/g#/a", "$share/g/"}) {
    EXPECT_FALSE(valid_topic_filter(f)) << f;
  }
  EXPECT_FALSE(valid_topic_filter(std::string(65536, 'a')));
  EXPECT_FALSE(valid_topic_filter(std::string("a\0", 2)));
}

struct match_case {
  const char* filter;
  const char* name;
  bool matches;
};

TEST(TopicMatch, SpecExamples) {
  const match_case cases[] = {
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/#", "sport", true},
      {"#", "sport/tennis", true},
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"a/b", "a/b", true},
      {"a/b", "a/b/c", false},
      {"a/b/c", "a/b", false},
      {"a/+/c", "a/x/c", true},
      {"a/+/c", "a/x/d", false},
      {"+/#", "a", true},
      {"a//b", "a//b", true},
      {"a/+/b", "a//b", true},
      // $ topics are not matched by a leading wildcard.
      {"#", "$SYS/broker", false},
      {"+/broker", "$SYS/broker", false},
      {"$SYS/#", "$SYS/broker", true},
      {"$SYS/+", "$SYS/broker", true},
      // Shared subscriptions match on the part after the group.
      {"$share/g/a/+", "a/b", true},
      {"$share/g/#", "x/y", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(topic_matches(c.filter, c.name), c.matches) << c.filter << " vs " << c.name;
  }
}

}  // namespace
}  // namespace fieldbridge::mqtt
