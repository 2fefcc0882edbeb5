#include "fieldbridge/config/units.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <utility>

#include <fmt/core.h>

namespace fieldbridge::config {
namespace {

struct unit_factor {
  std::string_view suffix;
  std::uint64_t factor;
};

// Longest suffixes first where one is the tail of another ("ms" before "s").
constexpr std::array duration_units{
    unit_factor{"ms", 1},        unit_factor{"s", 1000},        unit_factor{"m", 60'000},
    unit_factor{"h", 3'600'000}, unit_factor{"d", 86'400'000},
};

constexpr std::array size_units{
    unit_factor{"KiB", 1ull << 10}, unit_factor{"MiB", 1ull << 20}, unit_factor{"GiB", 1ull << 30},
    unit_factor{"TiB", 1ull << 40}, unit_factor{"kB", 1'000},       unit_factor{"KB", 1'000},
    unit_factor{"MB", 1'000'000},   unit_factor{"GB", 1'000'000'000},
    unit_factor{"TB", 1'000'000'000'000}, unit_factor{"B", 1},
};

// Splits "123abc" into its leading decimal digits and the rest.
std::pair<std::string_view, std::string_view> split_number(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  return {text.substr(0, digits), text.substr(digits)};
}

// digits * factor, or nullopt on overflow past `limit`.
std::optional<std::uint64_t> scaled(std::string_view digits, std::uint64_t factor,
                                    std::uint64_t limit) {
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  if (number > limit / factor) return std::nullopt;
  return number * factor;
}

template <std::size_t n>
const unit_factor* find_unit(const std::array<unit_factor, n>& units, std::string_view suffix) {
  for (const auto& unit : units)
    if (unit.suffix == suffix) return &unit;
  return nullptr;
}

}  // namespace

parse_result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  constexpr auto expected = "expected a duration such as 250ms, 1s, 5m, 1h or 1d";
  const auto [digits, suffix] = split_number(text);
  if (digits.empty()) {
    if (!text.empty() && text.front() == '-') return {{}, "a duration cannot be negative"};
    return {{}, expected};
  }
  if (suffix.empty()) {
    if (digits.find_first_not_of('0') == std::string_view::npos) return {std::chrono::milliseconds{0}, {}};
    return {{}, fmt::format("{}; '{}' has no unit", expected, text)};
  }
  const auto* unit = find_unit(duration_units, suffix);
  if (unit == nullptr) return {{}, fmt::format("{}; unknown unit '{}'", expected, suffix)};
  const auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
  const auto value = scaled(digits, unit->factor, limit);
  if (!value) return {{}, fmt::format("duration '{}' is too large", text)};
  return {std::chrono::milliseconds{static_cast<std::chrono::milliseconds::rep>(*value)}, {}};
}

parse_result<std::uint64_t> parse_size(std::string_view text) {
  constexpr auto expected = "expected a size such as 65536, 64KiB, 256MiB or 1GiB";
  const auto [digits, suffix] = split_number(text);
  if (digits.empty()) {
    if (!text.empty() && text.front() == '-') return {{}, "a size cannot be negative"};
    return {{}, expected};
  }
  std::uint64_t factor = 1;
  if (!suffix.empty()) {
    const auto* unit = find_unit(size_units, suffix);
    if (unit == nullptr) return {{}, fmt::format("{}; unknown unit '{}'", expected, suffix)};
    factor = unit->factor;
  }
  const auto value = scaled(digits, factor, std::numeric_limits<std::uint64_t>::max());
  if (!value) return {{}, fmt::format("size '{}' is too large", text)};
  return {*value, {}};
}

std::string format_duration(std::chrono::milliseconds duration) {
  const auto count = static_cast<std::uint64_t>(duration.count() < 0 ? 0 : duration.count());
  if (count == 0) return "0";
  // The largest unit that divides the value exactly.
  for (auto it = duration_units.rbegin(); it != duration_units.rend(); ++it)
    if (count % it->factor == 0) return fmt::format("{}{}", count / it->factor, it->suffix);
  return fmt::format("{}ms", count);
}

std::string format_size(std::uint64_t bytes) {
  if (bytes == 0) return "0";
  constexpr std::array binary{unit_factor{"TiB", 1ull << 40}, unit_factor{"GiB", 1ull << 30},
                              unit_factor{"MiB", 1ull << 20}, unit_factor{"KiB", 1ull << 10}};
  for (const auto& unit : binary)
    if (bytes % unit.factor == 0) return fmt::format("{}{}", bytes / unit.factor, unit.suffix);
  return fmt::format("{}", bytes);
}

}  // namespace fieldbridge::config
