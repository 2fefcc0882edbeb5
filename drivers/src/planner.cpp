#include "fieldbridge/drivers/planner.hpp"

#include <algorithm>
#include <numeric>

namespace fieldbridge::drivers {
namespace {

bool bit_table(register_table table) {
  return table == register_table::coil || table == register_table::discrete_input;
}

std::uint32_t span_of(const point_spec& point) {
  // A bit of a register, or a coil, spans one address.
  if (point.format.bit || bit_table(point.table)) return 1;
  return std::max<std::uint32_t>(1, register_count(point.format));
}

}  // namespace

plan_limits limits_of(const device_spec& device) {
  return plan_limits{
      static_cast<std::uint16_t>(std::clamp<std::uint16_t>(device.max_registers_per_request, 1, 125)),
      static_cast<std::uint16_t>(std::clamp<std::uint16_t>(device.max_bits_per_request, 1, 2000)),
      device.max_gap};
}

std::vector<read_block> plan_reads(const std::vector<point_spec>& points, const plan_limits& limits) {
  std::vector<std::size_t> order(points.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (points[a].table != points[b].table) return points[a].table < points[b].table;
    return points[a].address < points[b].address;
  });

  std::vector<read_block> blocks;
  std::uint32_t block_end = 0;  // one past the last address the open block covers
  for (const std::size_t index : order) {
    const point_spec& point = points[index];
    const std::uint32_t start = point.address;
    const std::uint32_t end = start + span_of(point);
    const std::uint32_t limit = bit_table(point.table) ? limits.max_bits : limits.max_registers;
    if (!blocks.empty()) {
      read_block& open = blocks.back();
      const std::uint32_t merged_end = std::max(block_end, end);
      const bool same_table = open.table == point.table;
      const bool gap_ok = start <= block_end || start - block_end <= limits.max_gap;
      if (same_table && gap_ok && merged_end - open.address <= limit) {
        block_end = merged_end;
        open.count = static_cast<std::uint16_t>(block_end - open.address);
        open.points.push_back(index);
        continue;
      }
    }
    // A point larger than the limit still gets its own request; the link
    // rejects it and the reading says why.
    blocks.push_back(read_block{point.table, point.address,
                                static_cast<std::uint16_t>(std::min<std::uint32_t>(end - start, 0xFFFF)),
                                {index}});
    block_end = end;
  }
  return blocks;
}

std::vector<read_block> split_block(const read_block& block, const std::vector<point_spec>& points) {
  std::vector<read_block> parts;
  for (const std::size_t index : block.points) {
    const point_spec& point = points[index];
    const auto count = static_cast<std::uint16_t>(span_of(point));
    const auto same = std::find_if(parts.begin(), parts.end(), [&](const read_block& part) {
      return part.address == point.address && part.count == count;
    });
    if (same != parts.end()) {
      same->points.push_back(index);
    } else {
      parts.push_back(read_block{block.table, point.address, count, {index}});
    }
  }
  return parts;
}

request_planner::request_planner(const device_spec& device, planning mode)
    : points_(device.points), blocks_(plan_reads(points_, limits_of(device))) {
  if (mode == planning::one_per_point) {
    for (std::size_t i = 0; i < blocks_.size(); i += split(i)) {
    }
  }
}

std::size_t request_planner::split(std::size_t index) {
  if (index >= blocks_.size()) return 0;
  auto parts = split_block(blocks_[index], points_);
  if (parts.size() <= 1) return 1;
  const std::size_t count = parts.size();
  blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(index));
  blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(index),
                 std::make_move_iterator(parts.begin()), std::make_move_iterator(parts.end()));
  return count;
}

}  // namespace fieldbridge::drivers
