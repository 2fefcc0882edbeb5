#include "run/status.hpp"

#include <chrono>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

#include "fieldbridge/core/text.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "run/ordered_lookup.hpp"
#include "run/mqtt_options.hpp"

namespace fieldbridge::gateway {

namespace {

// What <prefix>/stats and /status.json count, summed over every bus.
struct totals {
  std::uint64_t polled = 0;
  std::uint64_t errors = 0;
  std::uint64_t dropped = 0;
};

struct bus_sums {
  std::uint64_t polls = 0, good = 0, bad = 0, timeouts = 0, exceptions = 0, other = 0, online = 0, devices = 0;
};

bus_sums sum(const bus_status& bus) {
  bus_sums out;
  for (const auto& d : bus.devices) {
    const auto& c = d.counters;
    out.polls += c.polls;
    out.good += c.good;
    out.bad += c.bad;
    out.timeouts += c.timeouts;
    out.exceptions += c.exceptions;
    out.other += c.errors;
    out.online += c.online ? 1 : 0;
    ++out.devices;
  }
  return out;
}

totals total(const gateway_snapshot& s) {
  totals t;
  for (const auto& bus : s.buses) {
    const auto b = sum(bus);
    t.polled += b.good + b.bad;
    t.errors += b.timeouts + b.exceptions + b.other;
  }
  const auto& st = s.store.counters;
  t.dropped = st.dropped_oldest + st.dropped_newest + st.dropped_overflow + s.forwarder.rejected;
  t.errors += st.write_errors;
  return t;
}

std::string reload_json(const reload_outcome& r) {
  return fmt::format("{{\"ok\":{},\"error\":{},\"ts\":\"{}\"}}", r.ok ? "true" : "false", json_string(r.error),
                     utc_timestamp(r.at));
}

double seconds_between(wall_clock::time_point from, wall_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Whole milliseconds as seconds, so 1.5 and not 1.50000012.
std::string seconds_text(std::chrono::milliseconds ms) { return fmt::format("{}", static_cast<double>(ms.count()) / 1000.0); }

std::string age_text(wall_clock::time_point ts, wall_clock::time_point now) {
  return seconds_text(std::max(std::chrono::milliseconds{0}, std::chrono::duration_cast<std::chrono::milliseconds>(now - ts)));
}

std::string link_text(const bus_link& link) {
  return std::visit(
      [](const auto& l) -> std::string {
        using T = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<T, modbus_rtu_line>) {
          return fmt::format("modbus_rtu {} {} {}{}{}", l.device, l.baud, l.data_bits, l.parity, l.stop_bits);
        } else if constexpr (std::is_same_v<T, modbus_tcp_endpoint>) {
          return "modbus_tcp " + to_string(network_endpoint{l.host, l.port});
        } else if constexpr (std::is_same_v<T, modbus_rtu_tcp_endpoint>) {
          return "modbus_rtu_tcp " + to_string(network_endpoint{l.host, l.port});
        } else {
          return fmt::format("serial_line {} {}", l.device, l.baud);
        }
      },
      link);
}

// --- Prometheus text format 0.0.4 ---

// A label value: backslash, double quote and line feed escaped.
void append_label_value(std::string& out, std::string_view v) {
  for (const char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

class metrics_writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // labels: alternating name, value.
  template <typename Value>
  void sample(std::string_view name, std::initializer_list<std::string_view> labels, Value value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (auto it = labels.begin(); it != labels.end(); it += 2) {
        if (!first) out_ += ',';
        first = false;
        out_ += *it;
        out_ += "=\"";
        append_label_value(out_, *(it + 1));
        out_ += '"';
      }
      out_ += '}';
    }
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }
  template <typename Value>
  void single(std::string_view name, std::string_view type, std::string_view help, Value value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string render_stats(const gateway_snapshot& s) {
  std::string buses;
  for (const auto& bus : s.buses) {
    const auto b = sum(bus);
    if (!buses.empty()) buses += ',';
    buses += fmt::format(
        "{}:{{\"polls\":{},\"polled\":{},\"good\":{},\"bad\":{},\"timeouts\":{},\"exceptions\":{},\"errors\":{},"
        "\"devices\":{},\"online\":{}}}",
        json_string(bus.name), b.polls, b.good + b.bad, b.good, b.bad, b.timeouts, b.exceptions, b.other, b.devices,
        b.online);
  }
  const auto t = total(s);
  // "paused" only while the broker's refusal holds the drain back.
  const auto paused = s.paused ? fmt::format(",\"paused\":{}", json_string(*s.paused)) : "";
  const auto reload = s.last_reload ? ",\"reload\":" + reload_json(*s.last_reload) : "";
  return fmt::format(
      "{{\"ts\":\"{}\",\"polled\":{},\"published\":{},\"queued\":{},\"dropped\":{},\"errors\":{},"
      "\"refused\":{}{},\"broker\":{},\"buses\":{{{}}}{}}}",
      utc_timestamp(s.now), t.polled, s.forwarder.published, s.store.depth, t.dropped, t.errors, s.forwarder.refused,
      paused, json_string(s.mqtt.broker), buses, reload);
}

std::string render_status_json(const gateway_snapshot& s) {
  const auto t = total(s);
  std::string out = fmt::format(
      "{{\"ts\":\"{}\",\"gateway\":{},\"version\":{},\"prefix\":{},"
      "\"polled\":{},\"published\":{},\"queued\":{},\"dropped\":{},\"errors\":{},\"refused\":{},",
      utc_timestamp(s.now), json_string(s.name), json_string(FIELDBRIDGE_VERSION), json_string(s.prefix), t.polled,
      s.forwarder.published, s.store.depth, t.dropped, t.errors, s.forwarder.refused);
  fmt::format_to(std::back_inserter(out),
                 "\"mqtt\":{{\"connected\":{},\"broker\":{},\"reconnects\":{},\"in_flight\":{},\"paused\":{}}},",
                 s.mqtt.connected, json_string(s.mqtt.broker), s.mqtt.connections > 0 ? s.mqtt.connections - 1 : 0,
                 s.mqtt.in_flight, s.paused ? json_string(*s.paused) : "null");
  fmt::format_to(std::back_inserter(out),
                 "\"store\":{{\"depth\":{},\"bytes\":{},\"oldest\":{},\"oldest_age_seconds\":{},\"disk_failing\":{}}},",
                 s.store.depth, s.store.bytes, s.store.oldest ? "\"" + utc_timestamp(*s.store.oldest) + "\"" : "null",
                 s.store.oldest ? age_text(*s.store.oldest, s.now) : "null", s.store.disk_failing);
  out += "\"reload\":";
  out += s.last_reload ? reload_json(*s.last_reload) : "null";
  out += ",\"buses\":[";
  for (std::size_t b = 0; b < s.buses.size(); ++b) {
    const auto& bus = s.buses[b];
    if (b > 0) out += ',';
    fmt::format_to(std::back_inserter(out), "{{\"name\":{},\"link\":{},\"devices\":[", json_string(bus.name),
                   json_string(bus.link));
    for (std::size_t d = 0; d < bus.devices.size(); ++d) {
      const auto& dev = bus.devices[d];
      const auto& c = dev.counters;
      if (d > 0) out += ',';
      fmt::format_to(std::back_inserter(out),
                     "{{\"name\":{},\"online\":{},\"polls\":{},\"good\":{},\"bad\":{},\"timeouts\":{},"
                     "\"exceptions\":{},\"errors\":{},\"round_trip_ms\":{},\"points\":[",
                     json_string(dev.name), dev.online.value_or(c.online), c.polls, c.good, c.bad, c.timeouts,
                     c.exceptions, c.errors, static_cast<double>(c.round_trip.count()) / 1000.0);
      for (std::size_t p = 0; p < dev.points.size(); ++p) {
        const auto& point = dev.points[p];
        if (p > 0) out += ',';
        fmt::format_to(std::back_inserter(out), "{{\"name\":{},\"unit\":{},", json_string(point.name),
                       json_string(point.unit));
        if (!point.latest) {
          out += "\"value\":null,\"quality\":null,\"error\":\"\",\"ts\":null,\"age_seconds\":null}";
          continue;
        }
        const auto& r = *point.latest;
        out += "\"value\":";
        if (r.q != quality::good || !append_json_value(out, r.value, point.single_precision)) out += "null";
        fmt::format_to(std::back_inserter(out), ",\"quality\":\"{}\",\"error\":{},\"ts\":\"{}\",\"age_seconds\":{}}}",
                       r.q == quality::good ? "good" : "bad", json_string(r.error), utc_timestamp(r.ts),
                       age_text(r.ts, s.now));
      }
      out += "]}";
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

std::string render_metrics(const gateway_snapshot& s) {
  const auto t = total(s);
  metrics_writer m;
  m.family("fieldbridge_build_info", "gauge", "The running fieldbridge build (always 1).");
  m.sample("fieldbridge_build_info", {"version", FIELDBRIDGE_VERSION}, 1);

  m.single("fieldbridge_readings_polled_total", "counter", "Readings taken from the devices, good and bad.", t.polled);
  m.single("fieldbridge_messages_published_total", "counter", "Messages the broker acknowledged (QoS 0: written).",
           s.forwarder.published);
  m.single("fieldbridge_messages_queued", "gauge", "Messages in the store not yet delivered (the store's depth).",
           s.store.depth);
  m.single("fieldbridge_messages_dropped_total", "counter",
           "Messages lost to a full store, a failing disk or a permanent broker refusal.", t.dropped);
  m.single("fieldbridge_messages_refused_total", "counter",
           "Publishes the broker refused for a reason that may pass (kept, drain paused).", s.forwarder.refused);
  m.single("fieldbridge_errors_total", "counter", "Device timeouts, exceptions, other bus errors and store write errors.",
           t.errors);

  const auto per_device = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    m.family(name, type, help);
    for (const auto& bus : s.buses)
      for (const auto& dev : bus.devices) m.sample(name, {"bus", bus.name, "device", dev.name}, value(dev));
  };
  per_device("fieldbridge_device_polls_total", "counter", "Poll cycles (serial_line: lines received).",
             [](const device_status& d) { return d.counters.polls; });
  m.family("fieldbridge_device_readings_total", "counter", "Readings by quality.");
  for (const auto& bus : s.buses)
    for (const auto& dev : bus.devices) {
      m.sample("fieldbridge_device_readings_total", {"bus", bus.name, "device", dev.name, "quality", "good"},
               dev.counters.good);
      m.sample("fieldbridge_device_readings_total", {"bus", bus.name, "device", dev.name, "quality", "bad"},
               dev.counters.bad);
    }
  per_device("fieldbridge_device_timeouts_total", "counter", "Requests that timed out.",
             [](const device_status& d) { return d.counters.timeouts; });
  per_device("fieldbridge_device_exceptions_total", "counter", "Modbus exception answers.",
             [](const device_status& d) { return d.counters.exceptions; });
  per_device("fieldbridge_device_errors_total", "counter", "Other failures: CRC, bad frames, link down.",
             [](const device_status& d) { return d.counters.errors; });
  per_device("fieldbridge_device_round_trip_seconds", "gauge",
             "Round-trip time of the last answered request (0 before the first).",
             [](const device_status& d) { return static_cast<double>(d.counters.round_trip.count()) / 1e6; });
  per_device("fieldbridge_device_online", "gauge", "1 while the device answers, else 0.",
             [](const device_status& d) { return d.online.value_or(d.counters.online) ? 1 : 0; });

  m.single("fieldbridge_mqtt_connected", "gauge", "1 while connected to a broker.", s.mqtt.connected ? 1 : 0);
  m.single("fieldbridge_mqtt_reconnects_total", "counter", "Connections established after the first.",
           s.mqtt.connections > 0 ? s.mqtt.connections - 1 : 0);
  m.single("fieldbridge_mqtt_in_flight", "gauge", "QoS 1/2 publishes awaiting their acknowledgement.", s.mqtt.in_flight);
  m.family("fieldbridge_mqtt_broker_info", "gauge", "The broker in use, or being tried while disconnected (always 1).");
  m.sample("fieldbridge_mqtt_broker_info", {"broker", s.mqtt.broker}, 1);

  m.single("fieldbridge_store_bytes", "gauge", "Bytes of the messages in the store (counted against store.max_size).",
           s.store.bytes);
  m.single("fieldbridge_store_oldest_age_seconds", "gauge",
           "Age of the oldest reading in the store (0 when it is empty).",
           s.store.oldest ? std::max(0.0, seconds_between(*s.store.oldest, s.now)) : 0.0);
  m.single("fieldbridge_store_write_errors_total", "counter", "Store commits that failed (disk full, I/O error).",
           s.store.counters.write_errors);
  m.single("fieldbridge_store_disk_failing", "gauge", "1 while the last store write failed.",
           s.store.disk_failing ? 1 : 0);

  if (s.last_reload) {
    m.single("fieldbridge_reload_success", "gauge", "1 when the last reload was applied, 0 when it was refused.",
             s.last_reload->ok ? 1 : 0);
    m.single("fieldbridge_reload_timestamp_seconds", "gauge", "When the last reload was tried (Unix time).",
             std::chrono::duration<double>(s.last_reload->at.time_since_epoch()).count());
  }
  return m.take();
}

// --- the board ---

status_board::status_board(const config::configuration& configuration, status_sources sources)
    : sources_(sources) {
  configure(configuration);
}

void status_board::configure(const config::configuration& configuration) {
  name_ = configuration.gateway.name;
  prefix_ = topic_prefix(configuration);
  std::map<std::string, device_entry, std::less<>> devices;
  for (const auto& bus : configuration.buses) {
    for (const auto& device : bus.devices) {
      device_entry entry;
      const auto old = devices_.find(device.name);
      if (old != devices_.end()) entry.online = old->second.online;
      for (const auto& point : device.points) {
        entry.index.emplace(point.name, entry.points.size());
        auto& p = entry.points.emplace_back();
        p.name = point.name;
        p.unit = point.unit;
        p.single_precision = point.format.type == value_type::float32;
        if (old != devices_.end()) {
          const auto was = old->second.index.find(point.name);
          if (was != old->second.index.end()) p.latest = std::move(old->second.points[was->second].latest);
        }
      }
      devices.emplace(device.name, std::move(entry));
    }
  }
  devices_ = std::move(devices);
}

void status_board::on_readings(const std::vector<reading>& readings) {
  // The readings of one call are usually one device's, in its points' order:
  // one lookup for the device, one compare per point.
  for_each_device_run(readings, [&](const reading* first, const reading* last) {
    const auto device = devices_.find(first->device);
    if (device == devices_.end()) return;
    auto& entry = device->second;
    std::size_t next = 0;
    for (const auto* r = first; r != last; ++r) {
      const std::size_t point = find_in_order(entry.points, entry.index, r->point, next);
      if (point == not_found) continue;
      entry.points[point].latest = *r;
      next = point + 1;
    }
  });
}

void status_board::on_status(std::string_view device, bool online) {
  const auto found = devices_.find(device);
  if (found != devices_.end()) found->second.online = online;
}

void status_board::set_reload(reload_outcome outcome) { last_reload_ = std::move(outcome); }

gateway_snapshot status_board::snapshot(bool with_points) const {
  gateway_snapshot s;
  s.now = wall_clock::now();
  s.name = name_;
  s.prefix = prefix_;
  for (const auto& bus : sources_.buses) {
    bus_status b;
    b.name = bus->spec().name;
    b.link = link_text(bus->spec().link);
    for (auto& [name, counters] : bus->counters()) {
      device_status d;
      d.name = name;
      d.counters = counters;
      if (const auto found = devices_.find(name); found != devices_.end()) {
        d.online = found->second.online;
        if (with_points) d.points = found->second.points;
      }
      b.devices.push_back(std::move(d));
    }
    s.buses.push_back(std::move(b));
  }
  const auto& client = sources_.client;
  s.mqtt.connected = client.connected();
  s.mqtt.broker = to_string(client.current_broker());
  s.mqtt.connections = client.connections();
  s.mqtt.in_flight = client.protocol_session().inflight_count();
  s.store.depth = sources_.store.depth();
  s.store.bytes = sources_.store.bytes();
  s.store.oldest = sources_.store.oldest();
  s.store.disk_failing = sources_.store.disk_failing();
  s.store.counters = sources_.store.stats();
  s.forwarder = sources_.forward.counters();
  s.paused = sources_.forward.paused();
  s.last_reload = last_reload_;
  return s;
}

}  // namespace fieldbridge::gateway
