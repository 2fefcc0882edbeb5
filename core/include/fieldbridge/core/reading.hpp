// A reading: one value of one point at one time, as a driver produced it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

namespace fieldbridge {

using wall_clock = std::chrono::system_clock;

// Integers stay integers when no scale/offset applies, so a uint64 counter
// of 2^53 + 1 survives; scaled values and floats are doubles.
using point_value = std::variant<bool, std::int64_t, std::uint64_t, double, std::string>;

enum class quality : std::uint8_t { good, bad };

struct reading {
  std::string device;
  std::string point;
  point_value value;
  quality q = quality::good;
  std::string error;             // why the quality is bad; empty when good
  wall_clock::time_point ts;
};

}  // namespace fieldbridge
