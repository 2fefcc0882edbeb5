// Reading times are stored as milliseconds since the Unix epoch (UTC).
#pragma once

#include <chrono>
#include <cstdint>

#include "fieldbridge/core/reading.hpp"

namespace fieldbridge::store {

inline std::int64_t to_unix_ms(wall_clock::time_point ts) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
}

inline wall_clock::time_point from_unix_ms(std::int64_t ms) {
  return wall_clock::time_point(std::chrono::duration_cast<wall_clock::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace fieldbridge::store
