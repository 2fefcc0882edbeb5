// Strict parsers for the duration and size notation of the configuration
// ("250ms", "5m", "64KiB"). Pure functions, safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fieldbridge::config {

// A parsed value, or why the text is not one (error is then non-empty).
template <typename T>
struct parse_result {
  std::optional<T> value;
  std::string error;
};

// "<digits><unit>" with unit ms, s, m, h or d; "0" alone is allowed. No sign,
// no fraction, no spaces; values past the range of std::chrono::milliseconds
// are refused.
parse_result<std::chrono::milliseconds> parse_duration(std::string_view text);

// "<digits>[unit]" with unit B, KiB, MiB, GiB, TiB (powers of 1024) or kB,
// MB, GB, TB (powers of 1000); no unit means bytes. Overflow is refused.
parse_result<std::uint64_t> parse_size(std::string_view text);

// The shortest exact spelling of a duration or a size ("90s", "1m", "64KiB"),
// for messages and the check table.
std::string format_duration(std::chrono::milliseconds duration);
std::string format_size(std::uint64_t bytes);

}  // namespace fieldbridge::config
