// Request planning: merging, gaps, size caps, tables, and remembered splits.
#include <gtest/gtest.h>

#include "fieldbridge/drivers/planner.hpp"

namespace fieldbridge::drivers {
namespace {

point_spec reg(std::uint16_t address, value_type type = value_type::uint16,
               register_table table = register_table::holding_register) {
  point_spec p;
  p.name = "p" + std::to_string(address);
  p.table = table;
  p.address = address;
  p.format.type = type;
  return p;
}

TEST(planner, merges_adjacent_points_into_one_read) {
  const std::vector<point_spec> points = {reg(0, value_type::float32), reg(2, value_type::float32),
                                          reg(4), reg(5, value_type::uint64)};
  const auto blocks = plan_reads(points, {});
  ASSERT_EQ(blocks.size(), 1U);
  EXPECT_EQ(blocks[0], (read_block{register_table::holding_register, 0, 9, {0, 1, 2, 3}}));
}

TEST(planner, gaps_up_to_max_gap_are_read_over) {
  const std::vector<point_spec> points = {reg(10), reg(0), reg(3)};  // unsorted on purpose
  EXPECT_EQ(plan_reads(points, {125, 2000, 0}).size(), 3U);
  const auto gap2 = plan_reads(points, {125, 2000, 2});
  ASSERT_EQ(gap2.size(), 2U);
  EXPECT_EQ(gap2[0], (read_block{register_table::holding_register, 0, 4, {1, 2}}));
  EXPECT_EQ(gap2[1], (read_block{register_table::holding_register, 10, 1, {0}}));
  const auto gap6 = plan_reads(points, {125, 2000, 6});
  ASSERT_EQ(gap6.size(), 1U);
  EXPECT_EQ(gap6[0].count, 11);
}

TEST(planner, requests_never_exceed_125_registers_or_the_device_cap) {
  std::vector<point_spec> points;
  for (std::uint16_t a = 0; a < 300; a += 2) points.push_back(reg(a, value_type::float32));
  const auto blocks = plan_reads(points, {});
  std::size_t covered = 0;
  for (const auto& b : blocks) {
    EXPECT_LE(b.count, 125);
    covered += b.points.size();
  }
  EXPECT_EQ(covered, points.size());
  EXPECT_EQ(blocks.size(), 3U);  // 300 registers / 124 (floats never straddle) = 3
  device_spec device;
  device.points = points;
  device.max_registers_per_request = 16;
  const auto capped = plan_reads(points, limits_of(device));
  EXPECT_EQ(capped.size(), 300U / 16U + 1);
  for (const auto& b : capped) EXPECT_LE(b.count, 16);
}

TEST(planner, bits_use_the_2000_bit_limit_and_tables_stay_apart) {
  std::vector<point_spec> points;
  for (std::uint16_t a = 0; a < 2500; ++a) points.push_back(reg(a, value_type::boolean, register_table::coil));
  points.push_back(reg(0, value_type::uint16, register_table::input_register));
  points.push_back(reg(0, value_type::boolean, register_table::discrete_input));
  const auto blocks = plan_reads(points, {});
  ASSERT_EQ(blocks.size(), 4U);
  EXPECT_EQ(blocks[0].table, register_table::coil);
  EXPECT_EQ(blocks[0].count, 2000);
  EXPECT_EQ(blocks[1].count, 500);
  EXPECT_EQ(blocks[2].table, register_table::discrete_input);
  EXPECT_EQ(blocks[3].table, register_table::input_register);
}

TEST(planner, bits_of_one_register_share_a_read) {
  auto b0 = reg(7, value_type::boolean);
  b0.format.bit = 0;
  auto b9 = reg(7, value_type::boolean);
  b9.format.bit = 9;
  const auto blocks = plan_reads({b0, b9, reg(8)}, {});
  ASSERT_EQ(blocks.size(), 1U);
  EXPECT_EQ(blocks[0].count, 2);
}

TEST(planner, remembers_a_split_block) {
  device_spec device;
  device.max_gap = 15;
  auto b0 = reg(20, value_type::boolean);
  b0.format.bit = 0;
  auto b1 = reg(20, value_type::boolean);
  b1.format.bit = 1;
  device.points = {reg(0, value_type::float32), reg(5), b0, b1, reg(100)};
  request_planner planner(device);
  ASSERT_EQ(planner.blocks().size(), 2U);
  EXPECT_EQ(planner.split(0), 3U);  // float at 0, uint16 at 5, both bits of register 20
  ASSERT_EQ(planner.blocks().size(), 4U);
  EXPECT_EQ(planner.blocks()[0], (read_block{register_table::holding_register, 0, 2, {0}}));
  EXPECT_EQ(planner.blocks()[1], (read_block{register_table::holding_register, 5, 1, {1}}));
  EXPECT_EQ(planner.blocks()[2], (read_block{register_table::holding_register, 20, 1, {2, 3}}));
  EXPECT_EQ(planner.blocks()[3].address, 100);
  // A single-point block cannot split further.
  EXPECT_EQ(planner.split(3), 1U);
  EXPECT_EQ(planner.blocks().size(), 4U);
}

TEST(planner, one_request_per_point_for_the_baseline) {
  device_spec device;
  auto bit = reg(3, value_type::boolean);
  bit.format.bit = 1;
  device.points = {reg(0, value_type::float32), reg(2), reg(3), bit};
  EXPECT_EQ(request_planner(device).blocks().size(), 1U);
  const request_planner single(device, planning::one_per_point);
  ASSERT_EQ(single.blocks().size(), 3U);  // the bit shares register 3's read
  EXPECT_EQ(single.blocks()[2], (read_block{register_table::holding_register, 3, 1, {2, 3}}));
}

}  // namespace
}  // namespace fieldbridge::drivers
