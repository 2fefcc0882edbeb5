// Register profiles evaluated: the value a simulated register holds now.
// Pure code; the caller owns the clock, the read counts and the generator.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "fieldbridge/simulator/sim_config.hpp"

namespace fieldbridge::simulator {

// The value of `shape` `elapsed` after the start, at the `reads`-th read
// (0 for the first), drawing from `random` for random profiles. Constants
// come back as configured; the others as doubles.
point_value profile_value(const profile& shape, std::chrono::nanoseconds elapsed, std::uint64_t reads,
                          std::mt19937_64& random);

// The registers (or 0/1 bits) that hold `value` in `format`. Integer types
// take the value rounded and wrapped to their width (a counter rolls over
// like a device's would); bool takes the lowest bit, so a counter toggles.
// Throws std::invalid_argument when a constant does not fit its type.
std::vector<std::uint16_t> profile_words(const point_value& value, const register_format& format);

}  // namespace fieldbridge::simulator
