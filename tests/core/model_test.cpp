#include <gtest/gtest.h>

#include "fieldbridge/core/model.hpp"

namespace fieldbridge {
namespace {

TEST(RegisterCount, FollowsTheType) {
  register_format format;
  format.type = value_type::boolean;
  EXPECT_EQ(register_count(format), 1);
  format.type = value_type::uint16;
  EXPECT_EQ(register_count(format), 1);
  format.type = value_type::float32;
  EXPECT_EQ(register_count(format), 2);
  format.type = value_type::uint64;
  EXPECT_EQ(register_count(format), 4);
  format.type = value_type::string;
  format.length = 10;
  EXPECT_EQ(register_count(format), 10);
}

TEST(ModelNames, MatchTheConfigurationWords) {
  EXPECT_EQ(to_string(register_table::input_register), "input");
  EXPECT_EQ(to_string(register_table::discrete_input), "discrete");
  EXPECT_EQ(to_string(value_type::float64), "float64");
  EXPECT_EQ(to_string(word_order::cdab), "CDAB");
  EXPECT_EQ(to_string(publish_mode::on_change), "on_change");
}

}  // namespace
}  // namespace fieldbridge
