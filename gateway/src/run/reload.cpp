#include "run/reload.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace fieldbridge::gateway {

namespace {

const bus_spec* find_bus(const config::configuration& c, const std::string& name) {
  const auto it = std::find_if(c.buses.begin(), c.buses.end(), [&](const bus_spec& b) { return b.name == name; });
  return it == c.buses.end() ? nullptr : &*it;
}

std::set<std::string> device_names(const config::configuration& c) {
  std::set<std::string> out;
  for (const auto& bus : c.buses)
    for (const auto& device : bus.devices) out.insert(device.name);
  return out;
}

std::string restart_to(std::string_view what, std::string_view why) {
  return fmt::format("{} cannot change at run time ({}): the running configuration stays; restart the service to "
                     "apply it",
                     what, why);
}

// The store's settings, each named: the queue is open with them.
std::string store_refusal(const config::store_settings& a, const config::store_settings& b) {
  const char* field = a.path != b.path                      ? "store.path"
                      : a.max_size != b.max_size            ? "store.max_size"
                      : a.on_full != b.on_full              ? "store.on_full"
                      : a.flush_interval != b.flush_interval ? "store.flush_interval"
                      : a.drain != b.drain                  ? "store.drain"
                      : a.hot_path != b.hot_path            ? "store.hot_path"
                                                            : "store";
  return restart_to(field, "the store is open with it");
}

// mqtt: what the reading router uses (applied without touching the
// connection) is copied over; whatever differs then is about the
// connection. A key added to mqtt_settings later counts as a connection
// setting (a reconnect) until it is listed here; one that a reload cannot
// apply at all (mqtt.format, say) needs its refusal in plan_reload, ahead
// of this.
bool connection_changed(const config::mqtt_settings& running, const config::mqtt_settings& next) {
  auto same_routing = running;
  same_routing.qos = next.qos;
  same_routing.retain = next.retain;
  same_routing.payload = next.payload;
  same_routing.layout = next.layout;
  same_routing.heartbeat = next.heartbeat;
  same_routing.topic_prefix = next.topic_prefix;
  return !(same_routing == next);
}

bool routing_changed(const config::mqtt_settings& a, const config::mqtt_settings& b) {
  return a.qos != b.qos || a.retain != b.retain || a.payload != b.payload || a.layout != b.layout ||
         a.heartbeat != b.heartbeat;
}

// Everything outside what a reload applies, for the catch-all comparison.
config::configuration without_reloadable(config::configuration c) {
  c.source_path.clear();
  c.gateway.log_level.clear();
  c.gateway.stats_interval = {};
  c.mqtt = {};
  c.buses.clear();
  c.homeassistant = {};
  c.device_layouts.clear();
  return c;
}

void append_names(std::string& out, std::string_view what, const std::vector<std::string>& names) {
  for (const auto& name : names) out += fmt::format("{}bus {} {}", out.empty() ? "" : ", ", name, what);
}

}  // namespace

bool reload_plan::empty() const noexcept {
  return removed.empty() && added.empty() && restarted.empty() && !reconnect && !routing && !log_level &&
         !stats_interval;
}

std::string reload_plan::summary() const {
  if (empty()) return "nothing changed";
  std::string out;
  append_names(out, "removed", removed);
  append_names(out, "added", added);
  append_names(out, "restarted", restarted);
  if (!removed_devices.empty())
    out += fmt::format("{}device{} {} removed", out.empty() ? "" : ", ", removed_devices.size() == 1 ? "" : "s",
                       fmt::join(removed_devices, ", "));
  if (reconnect) out += fmt::format("{}MQTT reconnect", out.empty() ? "" : ", ");
  if (routing && removed.empty() && added.empty() && restarted.empty())
    out += fmt::format("{}topics and payloads", out.empty() ? "" : ", ");
  if (log_level) out += fmt::format("{}log level", out.empty() ? "" : ", ");
  if (stats_interval) out += fmt::format("{}stats interval", out.empty() ? "" : ", ");
  if (!kept.empty()) out += fmt::format("; {} bus{} untouched", kept.size(), kept.size() == 1 ? "" : "es");
  return out;
}

reload_decision plan_reload(const config::configuration& running, const config::configuration& next) {
  if (!(running.store == next.store)) return reload_refusal{store_refusal(running.store, next.store)};
  if (running.gateway.name != next.gateway.name)
    return reload_refusal{restart_to("gateway.name", "the client id and the topics may depend on it")};
  if (running.mqtt.topic_prefix != next.mqtt.topic_prefix)
    return reload_refusal{restart_to("mqtt.topic_prefix", "every topic, the retained statuses and the will are under it")};
  if (!(running.http == next.http))
    return reload_refusal{restart_to("http", "the status page's listener is bound with it")};
  if (!(without_reloadable(running) == without_reloadable(next)))
    return reload_refusal{restart_to("a setting outside buses:, mqtt:, homeassistant:, layouts, gateway.log_level and "
                                     "gateway.stats_interval",
                                     "only those are applied by a reload")};

  reload_plan plan;
  for (const auto& bus : running.buses) {
    const auto* now = find_bus(next, bus.name);
    if (now == nullptr) {
      plan.removed.push_back(bus.name);
    } else if (*now == bus) {
      plan.kept.push_back(bus.name);
    } else {
      plan.restarted.push_back(bus.name);
    }
  }
  for (const auto& bus : next.buses)
    if (find_bus(running, bus.name) == nullptr) plan.added.push_back(bus.name);
  const auto before = device_names(running);
  const auto after = device_names(next);
  for (const auto& device : before)
    if (after.count(device) == 0) plan.removed_devices.push_back(device);

  plan.reconnect = connection_changed(running.mqtt, next.mqtt);
  plan.routing = !plan.removed.empty() || !plan.added.empty() || !plan.restarted.empty() ||
                 routing_changed(running.mqtt, next.mqtt) || !(running.homeassistant == next.homeassistant) ||
                 running.device_layouts != next.device_layouts;
  plan.log_level = running.gateway.log_level != next.gateway.log_level;
  plan.stats_interval = running.gateway.stats_interval != next.gateway.stats_interval;
  return plan;
}

}  // namespace fieldbridge::gateway
