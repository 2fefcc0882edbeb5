// The text-line parser: one capture per point, converted to the point's type.
#include <gtest/gtest.h>

#include <stdexcept>

#include "fieldbridge/drivers/serial_line.hpp"

namespace fieldbridge::drivers {
namespace {

point_spec text_point(std::string name, std::string pattern, value_type type) {
  point_spec p;
  p.name = std::move(name);
  p.pattern = std::move(pattern);
  p.format.type = type;
  return p;
}

TEST(line_parser, extracts_each_matching_point) {
  auto scaled = text_point("pressure", "P=([0-9]+)", value_type::int32);
  scaled.format.scale = 0.01;
  const line_parser parser({text_point("temp", "T=(-?[0-9.]+)", value_type::float64),
                            text_point("count", "N=([0-9]+)", value_type::uint64),
                            text_point("ok", "OK=(\\w+)", value_type::boolean),
                            text_point("id", "ID=(\\S+)", value_type::string), scaled});
  const auto matches = parser.parse("T=-12.5 N=9007199254740993 OK=true ID=ab-1 P=101325");
  ASSERT_EQ(matches.size(), 5U);
  EXPECT_EQ(matches[0].value.value, point_value{-12.5});
  EXPECT_EQ(matches[1].value.value, point_value{std::uint64_t{9007199254740993ULL}});
  EXPECT_EQ(matches[2].value.value, point_value{true});
  EXPECT_EQ(matches[3].value.value, point_value{std::string("ab-1")});
  EXPECT_DOUBLE_EQ(std::get<double>(matches[4].value.value), 1013.25);
}

TEST(line_parser, no_match_gives_nothing_and_bad_text_gives_bad_quality) {
  const line_parser parser({text_point("temp", "T=([^ ]+)", value_type::float32),
                            text_point("small", "S=(-?[0-9]+)", value_type::int16)});
  EXPECT_TRUE(parser.parse("nothing here").empty());
  const auto matches = parser.parse("T=abc S=40000");
  ASSERT_EQ(matches.size(), 2U);
  EXPECT_FALSE(matches[0].value.good());
  EXPECT_EQ(matches[1].value.error, "out of range for int16");
  EXPECT_EQ(parser.parse("T=nan")[0].value.good(), false);
}

TEST(line_parser, rejects_patterns_without_a_capture_or_that_do_not_compile) {
  EXPECT_THROW(line_parser({text_point("x", "T=[0-9]+", value_type::float64)}), std::invalid_argument);
  EXPECT_THROW(line_parser({text_point("x", "T=([0-9]+", value_type::float64)}), std::invalid_argument);
}

}  // namespace
}  // namespace fieldbridge::drivers
