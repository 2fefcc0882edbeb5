#include "run/payload.hpp"

#include "fieldbridge/core/text.hpp"

#include <cmath>
#include <ctime>
#include <type_traits>

#include <fmt/format.h>

namespace fieldbridge::gateway {

std::optional<std::string> json_value(const point_value& value, bool single_precision) {
  return std::visit(
      [single_precision](const auto& v) -> std::optional<std::string> {
        using type = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<type, bool>) {
          return std::string(v ? "true" : "false");
        } else if constexpr (std::is_same_v<type, double>) {
          if (!std::isfinite(v)) return std::nullopt;
          if (single_precision) return fmt::format("{}", static_cast<float>(v));
          return fmt::format("{}", v);  // shortest form that reads back exactly
        } else if constexpr (std::is_same_v<type, std::string>) {
          return json_string(v);
        } else {
          return fmt::format("{}", v);
        }
      },
      value);
}

std::optional<std::string> reading_payload(const reading& r, std::string_view unit, config::payload_format format,
                                           bool single_precision) {
  if (r.q != quality::good) return std::nullopt;
  auto value = json_value(r.value, single_precision);
  if (!value) return std::nullopt;
  if (format == config::payload_format::value) return value;
  std::string out = "{\"value\":" + *value + ",\"ts\":\"" + utc_timestamp(r.ts) + "\"";
  if (!unit.empty()) out += ",\"unit\":" + json_string(unit);
  out += '}';
  return out;
}

namespace {

std::optional<double> as_number(const point_value& value) {
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&value)) return static_cast<double>(*u);
  return std::nullopt;
}

}  // namespace

bool change_filter::accept(const std::string& key, const point_value& value, double deadband) {
  auto it = last_.find(key);
  if (it == last_.end()) {
    last_.emplace(key, value);
    return true;
  }
  bool changed = false;
  const auto now = as_number(value);
  const auto before = as_number(it->second);
  if (now && before && deadband > 0) changed = std::fabs(*now - *before) > deadband;
  else changed = !(value == it->second);
  if (changed) it->second = value;
  return changed;
}

void change_filter::forget_prefix(const std::string& prefix) {
  for (auto it = last_.lower_bound(prefix); it != last_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
    it = last_.erase(it);
}

}  // namespace fieldbridge::gateway
