// Request planning: a device's points merged into as few Modbus reads as the
// device allows. Pure code; one planner per device, used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fieldbridge/core/model.hpp"

namespace fieldbridge::drivers {

// One read request: `count` registers (or bits) of `table` from `address`,
// serving the points at `points` (indices into device_spec::points).
struct read_block {
  register_table table = register_table::holding_register;
  std::uint16_t address = 0;
  std::uint16_t count = 0;
  std::vector<std::size_t> points;

  bool operator==(const read_block&) const = default;
};

struct plan_limits {
  std::uint16_t max_registers = 125;  // per request, capped at the protocol's 125
  std::uint16_t max_bits = 2000;      // per request, capped at the protocol's 2000
  std::uint16_t max_gap = 0;          // unused registers (bits) a merged read may span
};

plan_limits limits_of(const device_spec& device);

// Merges the points into blocks: per table, sorted by address, a point joins
// the current block when the gap to it is at most max_gap and the block stays
// within the size limit. Blocks come out ordered by table, then address.
std::vector<read_block> plan_reads(const std::vector<point_spec>& points, const plan_limits& limits);

// Splits a block into one block per point (points with the same span share
// one), for a device that rejects the merged read.
std::vector<read_block> split_block(const read_block& block, const std::vector<point_spec>& points);

// Merged requests (the default), or one request per point: the baseline the
// benchmark compares against, and a fallback for devices nothing else suits.
enum class planning : std::uint8_t { merged, one_per_point };

// The plan of one device, which remembers the splits its device forced.
class request_planner {
 public:
  explicit request_planner(const device_spec& device, planning mode = planning::merged);

  const std::vector<read_block>& blocks() const noexcept { return blocks_; }

  // The device answered "illegal data address" for blocks()[index]: replace
  // it by its per-point blocks, kept for every later cycle. Returns how many
  // blocks now stand in its place (1 when it was a single point already, and
  // nothing changed).
  std::size_t split(std::size_t index);

 private:
  std::vector<point_spec> points_;
  std::vector<read_block> blocks_;
};

}  // namespace fieldbridge::drivers
