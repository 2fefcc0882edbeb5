// Per-point transforms after decoding and scale/offset: mask and shift on
// packed words, round, map to names and back for commands, and what cannot
// be inverted.
#include <gtest/gtest.h>

#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::drivers {
namespace {

point_spec holding(value_type type) {
  point_spec p;
  p.name = "p";
  p.table = register_table::holding_register;
  p.format.type = type;
  p.writable = true;
  return p;
}

point_spec mode_point() {
  auto p = holding(value_type::uint16);
  p.transform.map = {{0, "stopped"}, {1, "running"}, {2, "fault"}};
  return p;
}

TEST(transform, mask_and_shift_pick_a_field_of_a_packed_word) {
  auto p = holding(value_type::uint16);
  p.transform.mask = 0x00F0;
  p.transform.shift = 4;
  const std::uint16_t word[] = {0xABCD};
  EXPECT_EQ(decode_point(word, p).value, point_value{std::uint64_t{0xC}});
  // A signed register is masked as its bits: -2 is 0xFFFE.
  auto s = holding(value_type::int16);
  s.transform.mask = 0x000E;
  s.transform.shift = 1;
  const std::uint16_t minus_two[] = {0xFFFE};
  EXPECT_EQ(decode_point(minus_two, s).value, point_value{std::uint64_t{7}});
  // Shift alone keeps the sign.
  auto a = holding(value_type::int16);
  a.transform.shift = 2;
  const std::uint16_t minus_eight[] = {0xFFF8};
  EXPECT_EQ(decode_point(minus_eight, a).value, point_value{std::int64_t{-2}});
}

TEST(transform, round_keeps_n_decimals_after_scale) {
  auto p = holding(value_type::uint16);
  p.format.scale = 0.001;
  p.transform.round = 1;
  const std::uint16_t word[] = {23456};
  EXPECT_DOUBLE_EQ(std::get<double>(decode_point(word, p).value), 23.5);
  p.transform.round = 0;
  EXPECT_DOUBLE_EQ(std::get<double>(decode_point(word, p).value), 23.0);
}

TEST(transform, map_names_values_and_an_unmapped_value_is_bad_quality) {
  const auto p = mode_point();
  const std::uint16_t running[] = {1};
  const auto named = decode_point(running, p);
  ASSERT_TRUE(named.good());
  EXPECT_EQ(named.value, point_value{std::string("running")});
  const std::uint16_t seven[] = {7};
  const auto unmapped = decode_point(seven, p);
  EXPECT_FALSE(unmapped.good());
  EXPECT_EQ(unmapped.error, "value 7 is not in the map");
  EXPECT_EQ(unmapped.value, point_value{std::uint64_t{7}});
  // After scale, only whole values can be looked up.
  auto scaled = mode_point();
  scaled.format.scale = 0.5;
  const std::uint16_t three[] = {3};
  EXPECT_EQ(decode_point(three, scaled).error, "value 1.5 is not in the map");
  const std::uint16_t four[] = {4};
  EXPECT_EQ(decode_point(four, scaled).value, point_value{std::string("fault")});
  // A bad decode stays as it was.
  auto f = holding(value_type::float32);
  f.transform.map = {{0, "zero"}};
  const std::uint16_t nan[] = {0x7FC0, 0};
  EXPECT_EQ(decode_point(nan, f).error, "NaN");
}

TEST(transform, a_command_to_a_mapped_point_is_one_of_its_names) {
  const auto p = mode_point();
  const auto raw = invert_transform(point_value{std::string("fault")}, p);
  ASSERT_TRUE(raw.ok()) << raw.error;
  EXPECT_EQ(raw.value, point_value{std::int64_t{2}});
  EXPECT_EQ(check_write(p, point_value{std::string("running")}), "");
  EXPECT_EQ(check_write(p, point_value{std::string("paused")}), "'paused' is not one of: stopped, running, fault");
  EXPECT_EQ(check_write(p, point_value{std::int64_t{1}}), "expected one of: stopped, running, fault");
  const auto words = encode(invert_transform(point_value{std::string("running")}, p).value, p);
  ASSERT_TRUE(words.ok()) << words.error;
  EXPECT_EQ(words.words, (std::vector<std::uint16_t>{1}));
  // A mapped coil takes its names too and writes a bool.
  point_spec coil;
  coil.name = "pump";
  coil.table = register_table::coil;
  coil.format.type = value_type::boolean;
  coil.writable = true;
  coil.transform.map = {{0, "off"}, {1, "on"}};
  EXPECT_EQ(invert_transform(point_value{std::string("on")}, coil).value, point_value{true});
  EXPECT_EQ(check_write(coil, point_value{std::string("on")}), "");
  // Scale and offset are inverted after the map.
  auto scaled = mode_point();
  scaled.format.scale = 0.5;
  EXPECT_EQ(encode(invert_transform(point_value{std::string("fault")}, scaled).value, scaled).words,
            (std::vector<std::uint16_t>{4}));
}

TEST(transform, a_field_of_a_packed_word_cannot_be_written) {
  auto p = holding(value_type::uint16);
  p.transform.mask = 0x0F;
  EXPECT_EQ(check_write(p, point_value{std::int64_t{3}}),
            "point 'p' is a field of a packed register (mask/shift) and cannot be written on its own");
  // round is not inverted: the value is written as given.
  auto r = holding(value_type::uint16);
  r.transform.round = 0;
  EXPECT_EQ(check_write(r, point_value{std::int64_t{3}}), "");
}

TEST(transform, described_for_check) {
  auto p = mode_point();
  p.transform.mask = 0x00F0;
  p.transform.shift = 4;
  p.transform.round = 2;
  EXPECT_EQ(describe_transform(p.transform), "map {0: stopped, 1: running, 2: fault}, mask 0x00F0, shift 4, round 2");
  EXPECT_EQ(describe_transform(point_transform{}), "");
}

}  // namespace
}  // namespace fieldbridge::drivers
