// Text formats every module writes the same way: UTC timestamps, JSON
// string literals and values. Pure functions.
#pragma once

#include <optional>
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

// The value as JSON: numbers in their shortest exact form, bools true/false,
// strings quoted. nullopt for a non-finite number (JSON has none).
// `single_precision`: the value came from a float32 register, so it is printed
// with float's shortest form (230.4, not 230.39999389648438): the digits
// beyond float precision are noise the device never sent.
std::optional<std::string> json_value(const point_value& value, bool single_precision = false);
// The same, appended to `out` (for a buffer reused across readings); false,
// with `out` unchanged, for a non-finite number.
bool append_json_value(std::string& out, const point_value& value, bool single_precision = false);

}  // namespace fieldbridge
