#include "run/payload.hpp"

#include <cmath>

namespace fieldbridge::gateway {

std::optional<std::string> reading_payload(const reading& r, std::string_view unit, config::payload_format format,
                                           bool single_precision) {
  return payload_builder{}.build(r, unit, format, single_precision);
}

const std::string& payload_builder::timestamp(wall_clock::time_point ts) {
  if (last_ts_text_.empty() || ts != last_ts_) {
    last_ts_ = ts;
    last_ts_text_ = utc_timestamp(ts);
  }
  return last_ts_text_;
}

std::optional<std::string> payload_builder::build(const reading& r, std::string_view unit,
                                                  config::payload_format format, bool single_precision) {
  if (r.q != quality::good) return std::nullopt;
  std::string out;
  if (format == config::payload_format::json) {
    out.reserve(48 + unit.size());
    out += "{\"value\":";
  }
  if (!append_json_value(out, r.value, single_precision)) return std::nullopt;
  if (format == config::payload_format::value) return out;
  out += ",\"ts\":\"";
  out += timestamp(r.ts);
  out += '"';
  if (!unit.empty()) {
    out += ",\"unit\":";
    append_json_string(out, unit);
  }
  out += '}';
  return out;
}

void payload_builder::open(std::string& out, wall_clock::time_point ts) {
  out += "{\"ts\":\"";
  out += timestamp(ts);
  out += "\",\"values\":{";
}

bool payload_builder::add(std::string& out, std::string_view name, const reading& r, bool first,
                          bool single_precision) {
  if (r.q != quality::good) return false;
  const auto mark = out.size();
  if (!first) out += ',';
  append_json_string(out, name);
  out += ':';
  if (append_json_value(out, r.value, single_precision)) return true;
  out.resize(mark);
  return false;
}

void payload_builder::close(std::string& out) { out += "}}"; }

namespace {

std::optional<double> as_number(const point_value& value) {
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&value)) return static_cast<double>(*u);
  return std::nullopt;
}

}  // namespace

bool change_filter::accept(const std::string& key, const point_value& value, double deadband) {
  if (!changed(key, value, deadband)) return false;
  remember(key, value);
  return true;
}

bool change_filter::changed(const std::string& key, const point_value& value, double deadband) const {
  const auto it = last_.find(key);
  if (it == last_.end()) return true;
  const auto now = as_number(value);
  const auto before = as_number(it->second);
  if (now && before && deadband > 0) return std::fabs(*now - *before) > deadband;
  return !(value == it->second);
}

void change_filter::remember(const std::string& key, const point_value& value) { last_[key] = value; }

void change_filter::forget_prefix(const std::string& prefix) {
  for (auto it = last_.lower_bound(prefix); it != last_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
    it = last_.erase(it);
}

void change_filter::forget(const std::string& key) { last_.erase(key); }

}  // namespace fieldbridge::gateway
