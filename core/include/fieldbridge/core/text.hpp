// Text formats every module writes the same way: UTC timestamps and JSON
// string literals. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "fieldbridge/core/reading.hpp"

namespace fieldbridge {

// "2026-11-25T21:30:00.123Z": UTC, milliseconds (floored before 1970).
std::string utc_timestamp(wall_clock::time_point ts);

// Appends `text` as a JSON string literal, quotes included; control
// characters are escaped, other bytes pass through unchanged.
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

}  // namespace fieldbridge
