#include "fieldbridge/core/text.hpp"

#include <cmath>
#include <ctime>
#include <iterator>
#include <type_traits>

#include <fmt/format.h>

namespace fieldbridge {

std::string utc_timestamp(wall_clock::time_point ts) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  auto seconds = static_cast<std::time_t>(ms / 1000);
  auto millis = ms % 1000;
  if (millis < 0) {  // before 1970: floor, not truncate
    millis += 1000;
    --seconds;
  }
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else out += c;
    }
  }
  out += '"';
}

std::string json_string(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

bool append_json_value(std::string& out, const point_value& value, bool single_precision) {
  return std::visit(
      [&out, single_precision](const auto& v) {
        using type = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<type, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<type, double>) {
          if (!std::isfinite(v)) return false;
          if (single_precision) fmt::format_to(std::back_inserter(out), "{}", static_cast<float>(v));
          else fmt::format_to(std::back_inserter(out), "{}", v);  // shortest form that reads back exactly
        } else if constexpr (std::is_same_v<type, std::string>) {
          append_json_string(out, v);
        } else {
          fmt::format_to(std::back_inserter(out), "{}", v);
        }
        return true;
      },
      value);
}

std::optional<std::string> json_value(const point_value& value, bool single_precision) {
  std::string out;
  if (!append_json_value(out, value, single_precision)) return std::nullopt;
  return out;
}

}  // namespace fieldbridge
