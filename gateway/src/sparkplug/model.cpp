#include "sparkplug/model.hpp"

#include <cctype>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <type_traits>
#include <utility>

#include "run/ordered_lookup.hpp"
#include "run/state_file.hpp"

namespace fieldbridge::gateway::sparkplug {

std::string_view name_of(message_type type) {
  switch (type) {
    case message_type::nbirth: return "NBIRTH";
    case message_type::ndeath: return "NDEATH";
    case message_type::ndata: return "NDATA";
    case message_type::ncmd: return "NCMD";
    case message_type::dbirth: return "DBIRTH";
    case message_type::ddeath: return "DDEATH";
    case message_type::ddata: return "DDATA";
    case message_type::dcmd: return "DCMD";
  }
  return "NDATA";
}

std::string topic(const config::sparkplug_settings& s, message_type type, std::string_view device) {
  std::string t = "spBv1.0/" + s.group_id + "/" + std::string(name_of(type)) + "/" + s.edge_node_id;
  if (!device.empty()) t += "/" + std::string(device);
  return t;
}

std::string state_topic(std::string_view host_id) { return "spBv1.0/STATE/" + std::string(host_id); }

sp::data_type metric_type(const point_spec& point) {
  const auto& f = point.format;
  if (!point.transform.map.empty()) return sp::data_type::string;
  if (f.type == value_type::string) return sp::data_type::string;
  if (f.type == value_type::boolean || f.bit || point.table == register_table::coil ||
      point.table == register_table::discrete_input)
    return sp::data_type::boolean;
  if (f.scale != 1.0 || f.offset != 0.0) return sp::data_type::double_;
  switch (f.type) {
    case value_type::int16: return sp::data_type::int16;
    case value_type::uint16: return sp::data_type::uint16;
    case value_type::int32: return sp::data_type::int32;
    case value_type::uint32: return sp::data_type::uint32;
    case value_type::int64: return sp::data_type::int64;
    case value_type::uint64: return sp::data_type::uint64;
    case value_type::float32: return sp::data_type::float_;
    case value_type::float64: return sp::data_type::double_;
    default: return sp::data_type::double_;
  }
}

namespace {

bool is_signed_type(sp::data_type t) {
  return t == sp::data_type::int8 || t == sp::data_type::int16 || t == sp::data_type::int32 || t == sp::data_type::int64;
}
bool is_unsigned_type(sp::data_type t) {
  return t == sp::data_type::uint8 || t == sp::data_type::uint16 || t == sp::data_type::uint32 ||
         t == sp::data_type::uint64;
}

// A double that is a whole number within the int64/uint64 range.
template <typename T>
std::optional<T> whole(double d) {
  if (!std::isfinite(d) || d != std::trunc(d)) return std::nullopt;
  if (d < static_cast<double>(std::numeric_limits<T>::min()) || d >= std::ldexp(1.0, std::is_signed_v<T> ? 63 : 64))
    return std::nullopt;
  return static_cast<T>(d);
}

}  // namespace

std::optional<sp::value> metric_value(sp::data_type type, const point_value& value) {
  if (type == sp::data_type::boolean) {
    if (const auto* b = std::get_if<bool>(&value)) return sp::value{*b};
    if (const auto* i = std::get_if<std::int64_t>(&value)) return sp::value{*i != 0};
    if (const auto* u = std::get_if<std::uint64_t>(&value)) return sp::value{*u != 0};
    return std::nullopt;
  }
  if (type == sp::data_type::string) {
    if (const auto* s = std::get_if<std::string>(&value)) return sp::value{*s};
    return std::nullopt;
  }
  if (type == sp::data_type::float_ || type == sp::data_type::double_) {
    double d = 0;
    if (const auto* x = std::get_if<double>(&value)) d = *x;
    else if (const auto* i = std::get_if<std::int64_t>(&value)) d = static_cast<double>(*i);
    else if (const auto* u = std::get_if<std::uint64_t>(&value)) d = static_cast<double>(*u);
    else return std::nullopt;
    if (type == sp::data_type::float_) return sp::value{static_cast<float>(d)};
    return sp::value{d};
  }
  if (is_signed_type(type) || is_unsigned_type(type)) {
    // The codec checks the datatype's range when the payload is encoded.
    if (const auto* i = std::get_if<std::int64_t>(&value)) return sp::value{*i};
    if (const auto* u = std::get_if<std::uint64_t>(&value)) return sp::value{*u};
    if (const auto* d = std::get_if<double>(&value)) {
      if (const auto i = whole<std::int64_t>(*d)) return sp::value{*i};
      if (const auto u = whole<std::uint64_t>(*d)) return sp::value{*u};
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<point_value> command_value(const sp::value& value) {
  if (const auto* b = std::get_if<bool>(&value)) return point_value{*b};
  if (const auto* i = std::get_if<std::int64_t>(&value)) return point_value{*i};
  if (const auto* u = std::get_if<std::uint64_t>(&value)) {
    // Like the /set parser: an integer that fits int64 is an int64.
    if (*u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return point_value{static_cast<std::int64_t>(*u)};
    return point_value{*u};
  }
  if (const auto* f = std::get_if<float>(&value)) return point_value{static_cast<double>(*f)};
  if (const auto* d = std::get_if<double>(&value)) return point_value{*d};
  if (const auto* s = std::get_if<std::string>(&value)) return point_value{*s};
  return std::nullopt;
}

std::uint64_t epoch_ms(wall_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return ms < 0 ? 0 : static_cast<std::uint64_t>(ms);
}

metric_table::metric_table(const config::configuration& configuration) {
  std::uint64_t alias = rebirth_alias + 1;
  for (const auto& bus : configuration.buses)
    for (const auto& device : bus.devices) {
      device_def d;
      d.name = device.name;
      for (const auto& point : device.points) {
        metric_def m;
        m.name = point.name;
        m.alias = alias++;
        m.type = metric_type(point);
        m.point = &point;
        d.by_name.emplace(m.name, d.metrics.size());
        by_alias_.emplace(m.alias, std::pair{devices_.size(), d.metrics.size()});
        d.metrics.push_back(std::move(m));
      }
      by_name_.emplace(d.name, devices_.size());
      devices_.push_back(std::move(d));
    }
}

const device_def* metric_table::device(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &devices_[it->second];
}

std::optional<std::pair<const device_def*, const metric_def*>> metric_table::by_alias(std::uint64_t alias) const {
  const auto it = by_alias_.find(alias);
  if (it == by_alias_.end()) return std::nullopt;
  const auto& d = devices_[it->second.first];
  return std::pair{&d, &d.metrics[it->second.second]};
}

namespace {

sp::metric named(std::string_view name, std::optional<std::uint64_t> alias, sp::data_type type, sp::value v,
                 std::uint64_t ts) {
  sp::metric m;
  m.name = std::string(name);
  m.alias = alias;
  m.type = type;
  m.val = std::move(v);
  m.is_null = std::holds_alternative<std::monostate>(m.val);
  m.timestamp = ts;
  return m;
}

}  // namespace

sp::payload node_birth(std::uint64_t bdseq, std::uint64_t seq, std::uint64_t now_ms) {
  sp::payload p;
  p.timestamp = now_ms;
  p.seq = seq;
  p.metrics.push_back(named(bdseq_metric, std::nullopt, sp::data_type::int64, static_cast<std::int64_t>(bdseq), now_ms));
  p.metrics.push_back(named(rebirth_metric, rebirth_alias, sp::data_type::boolean, false, now_ms));
  return p;
}

sp::payload node_death(std::uint64_t bdseq, std::uint64_t now_ms) {
  sp::payload p;
  p.timestamp = now_ms;
  p.metrics.push_back(named(bdseq_metric, std::nullopt, sp::data_type::int64, static_cast<std::int64_t>(bdseq), now_ms));
  return p;
}

sp::payload device_birth(const device_def& device, const current_values& values, std::uint64_t seq,
                         std::uint64_t now_ms) {
  sp::payload p;
  p.timestamp = now_ms;
  p.seq = seq;
  const auto known = values.find(device.name);
  for (const auto& def : device.metrics) {
    sp::value v;
    std::uint64_t ts = now_ms;
    if (known != values.end()) {
      if (const auto it = known->second.find(def.name); it != known->second.end()) {
        v = it->second.value;
        ts = it->second.timestamp;
      }
    }
    auto m = named(def.name, def.alias, def.type, std::move(v), ts);
    if (def.point != nullptr && !def.point->unit.empty())
      m.properties.push_back({"engUnit", sp::data_type::string, def.point->unit, false});
    p.metrics.push_back(std::move(m));
  }
  return p;
}

sp::payload device_death(std::uint64_t seq, std::uint64_t now_ms) {
  sp::payload p;
  p.timestamp = now_ms;
  p.seq = seq;
  return p;
}

sp::payload stored_data(std::vector<sp::metric> metrics) {
  sp::payload p;
  p.metrics = std::move(metrics);
  for (auto& m : p.metrics) {
    m.name.reset();
    m.datatype_on_wire = true;  // for to_wire(), which leaves it out
  }
  return p;
}

std::string to_wire(std::string_view stored, std::uint64_t seq, std::uint64_t now_ms, std::uint64_t births_ms) {
  sp::payload p = sp::decode({reinterpret_cast<const std::uint8_t*>(stored.data()), stored.size()});
  p.seq = seq;
  p.timestamp = now_ms;
  for (auto& m : p.metrics) {
    m.datatype_on_wire = false;
    m.is_historical = m.timestamp.value_or(0) < births_ms;
  }
  const auto bytes = sp::encode(p);
  return std::string(bytes.begin(), bytes.end());
}

data_router::data_router(const config::configuration& configuration, const metric_table& table, logger_ptr log,
                         clock now)
    : table_(table), log_(std::move(log)), now_(std::move(now)), qos_(configuration.sparkplug.data_qos) {
  for (const auto& device : table_.devices()) {
    auto& d = devices_[device.name];
    d.topic = topic(configuration.sparkplug, message_type::ddata, device.name);
    for (const auto& def : device.metrics) {
      point_state p;
      p.def = &def;
      p.key = device.name + "/" + def.name;
      p.on_change = def.point->publish == publish_mode::on_change;
      p.deadband = def.point->deadband;
      p.heartbeat = def.point->heartbeat.value_or(configuration.mqtt.heartbeat);
      if (d.index.emplace(def.name, d.points.size()).second) d.points.push_back(std::move(p));
    }
  }
}

store::message data_router::message(const std::string& device, const device_state& d,
                                    std::vector<sp::metric> metrics, wall_clock::time_point ts) const {
  store::message m;
  m.topic = d.topic;
  const auto bytes = sp::encode(stored_data(std::move(metrics)));
  m.payload.assign(bytes.begin(), bytes.end());
  m.qos = qos_;
  m.retain = false;
  m.ts = ts;
  m.source = device;
  return m;
}

void data_router::route(const std::vector<reading>& readings, const sink& offer) {
  const auto now = now_();
  for_each_device_run(readings, [&](const reading* first, const reading* last) {
    const auto known = devices_.find(first->device);
    if (known != devices_.end()) route_device(known->first, known->second, first, last, now, offer);
  });
}

void data_router::route_device(const std::string& device, device_state& d, const reading* first,
                               const reading* last, std::chrono::steady_clock::time_point now, const sink& offer) {
  std::vector<sp::metric> metrics;
  std::vector<std::pair<point_state*, const point_value*>> due;
  std::size_t next = 0;
  for (const auto* x = first; x != last; ++x) {
    const std::size_t found = find_in_order(d.points, d.index, x->point, next);
    if (found == not_found) continue;
    next = found + 1;
    if (x->q != quality::good) continue;
    auto& state = d.points[found];
    const auto v = metric_value(state.def->type, x->value);
    if (!v) {
      log_->debug("{}: not published: the value does not fit the metric's datatype {}", state.key,
                  sp::name_of(state.def->type));
      continue;
    }
    const auto ts = epoch_ms(x->ts);
    values_[device][state.def->name] = current_value{*v, ts};
    const bool heartbeat_due =
        state.heartbeat.count() > 0 && state.published && now - state.last_published >= state.heartbeat;
    if (state.on_change && !heartbeat_due && !changes_.changed(state.key, x->value, state.deadband)) continue;
    sp::metric m;
    m.alias = state.def->alias;
    m.timestamp = ts;
    m.type = state.def->type;
    m.val = *v;
    metrics.push_back(std::move(m));
    due.emplace_back(&state, &x->value);
  }
  if (metrics.empty()) return;
  store::message m;
  try {
    m = message(device, d, std::move(metrics), first->ts);
  } catch (const sp::codec_error& e) {
    log_->warn("{}: a DDATA could not be encoded: {}", device, e.what());
    return;
  }
  // Refused by the store: none of its on_change values counts as published.
  if (!offer(std::move(m))) return;
  for (const auto& [state, value] : due) {
    if (state->on_change) changes_.remember(state->key, *value);
    state->published = true;
    state->last_published = now;
  }
}

void data_router::forget_device(const std::string& device) {
  changes_.forget_prefix(device + "/");
  values_.erase(device);
}

void data_router::written(const std::string& device, const std::string& point, const point_value& value,
                          wall_clock::time_point ts, const sink& offer) {
  const auto d = devices_.find(device);
  if (d == devices_.end()) return;
  const std::size_t found = find_in_order(d->second.points, d->second.index, point, 0);
  if (found == not_found) return;
  const auto* p = &d->second.points[found];
  const auto v = metric_value(p->def->type, value);
  if (!v) return;
  values_[device][point] = current_value{*v, epoch_ms(ts)};
  sp::metric m;
  m.alias = p->def->alias;
  m.timestamp = epoch_ms(ts);
  m.type = p->def->type;
  m.val = *v;
  try {
    if (offer(message(device, d->second, {std::move(m)}, ts)) && p->on_change)
      changes_.remember(p->key, value);
  } catch (const sp::codec_error& e) {
    log_->warn("{}/{}: the written value could not be encoded: {}", device, point, e.what());
  }
}

std::string bdseq_path(const config::configuration& configuration) { return configuration.store.path + ".sparkplug"; }

std::uint64_t read_bdseq(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return 0;
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
  if (ec != std::errc{} || v > 255) return 0;
  (void)end;
  return v;
}

bool write_bdseq(const std::string& path, std::uint64_t bdseq) {
  const std::string text = std::to_string(bdseq % 256) + "\n";
  return replace_file(path, text);
}

std::optional<std::string> reload_refusal(const config::configuration& running, const config::configuration& next) {
  const auto restart = [](std::string_view what, std::string_view why) {
    return std::string(what) + " cannot change at run time (" + std::string(why) +
           "): the running configuration stays; restart the service to apply it";
  };
  if (running.mqtt.format != next.mqtt.format) return restart("mqtt.format", "the gateway publishes in one dialect");
  if (running.mqtt.format != config::message_format::sparkplug_b) return std::nullopt;
  if (!(running.sparkplug == next.sparkplug)) return restart("sparkplug", "the edge node's identity and session");
  const auto devices = [](const config::configuration& c) {
    std::vector<std::pair<std::string, std::vector<point_spec>>> out;
    for (const auto& bus : c.buses)
      for (const auto& device : bus.devices) out.emplace_back(device.name, device.points);
    return out;
  };
  if (devices(running) != devices(next))
    return restart("with mqtt.format: sparkplug_b, the devices and their points",
                   "the hosts know them by the births' aliases and datatypes");
  return std::nullopt;
}

std::optional<host_state> parse_host_state(std::string_view json) {
  // A small reader for the one shape: an object with "online" (bool) and
  // "timestamp" (an unsigned integer), in any order, other members skipped
  // when they are simple values.
  std::size_t i = 0;
  auto space = [&] {
    while (i < json.size() && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) ++i;
  };
  auto take = [&](char c) {
    space();
    if (i < json.size() && json[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  auto string = [&]() -> std::optional<std::string_view> {
    if (!take('"')) return std::nullopt;
    const auto end = json.find('"', i);
    if (end == std::string_view::npos) return std::nullopt;
    const auto s = json.substr(i, end - i);
    i = end + 1;
    return s;
  };
  if (!take('{')) return std::nullopt;
  std::optional<bool> online;
  std::optional<std::uint64_t> timestamp;
  if (!take('}')) {
    do {
      const auto key = string();
      if (!key || !take(':')) return std::nullopt;
      space();
      if (json.substr(i, 4) == "true") {
        i += 4;
        if (*key == "online") online = true;
      } else if (json.substr(i, 5) == "false") {
        i += 5;
        if (*key == "online") online = false;
      } else if (i < json.size() && json[i] == '"') {
        if (!string()) return std::nullopt;
      } else {
        const auto start = i;
        while (i < json.size() && (std::isdigit(static_cast<unsigned char>(json[i])) || json[i] == '-' ||
                                   json[i] == '.' || json[i] == 'e' || json[i] == 'E' || json[i] == '+'))
          ++i;
        if (start == i) return std::nullopt;
        if (*key == "timestamp") {
          std::uint64_t v = 0;
          const auto [end, ec] = std::from_chars(json.data() + start, json.data() + i, v);
          if (ec != std::errc{} || end != json.data() + i) return std::nullopt;
          timestamp = v;
        }
      }
    } while (take(','));
    if (!take('}')) return std::nullopt;
  }
  space();
  if (i != json.size() || !online) return std::nullopt;
  return host_state{*online, timestamp.value_or(0)};
}

}  // namespace fieldbridge::gateway::sparkplug
