#include "fieldbridge/core/text.hpp"

#include <charconv>
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

std::string to_string(const network_endpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}", v6 ? "[" : "", endpoint.host, v6 ? "]" : "", endpoint.port);
}

std::optional<host_and_port> split_host_port(std::string_view text, std::string& error) {
  const auto to_port = [&](std::string_view digits) -> std::optional<std::uint16_t> {
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
      error = fmt::format("'{}' is not a port", digits);
      return std::nullopt;
    }
    unsigned long port = 0;  // wider than a port, so 70000 reads whole and is refused below
    const auto [end, failed] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (failed != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535) {
      error = fmt::format("port {} is out of range 1..65535", digits);
      return std::nullopt;
    }
    return static_cast<std::uint16_t>(port);
  };
  host_and_port result;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = fmt::format("missing ']' in {}", text);
      return std::nullopt;
    }
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        error = fmt::format("expected :PORT after ']' in {}", text);
        return std::nullopt;
      }
      result.port = to_port(text.substr(close + 2));
      if (!result.port) return std::nullopt;
    }
    result.host = std::string(text.substr(1, close - 1));
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos && text.find(':') == colon) {
    result.port = to_port(text.substr(colon + 1));
    if (!result.port) return std::nullopt;
    result.host = std::string(text.substr(0, colon));
  } else {
    result.host = std::string(text);
  }
  if (result.host.empty()) {
    error = fmt::format("no host in '{}'", text);
    return std::nullopt;
  }
  return result;
}

}  // namespace fieldbridge
