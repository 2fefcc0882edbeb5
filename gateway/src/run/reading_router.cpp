#include "run/reading_router.hpp"

#include <utility>

namespace fieldbridge::gateway {

reading_router::reading_router(const config::configuration& configuration, logger_ptr log, clock now)
    : configuration_(configuration), log_(std::move(log)), now_(std::move(now)) {
  for (const auto& bus : configuration_.buses)
    for (const auto& device : bus.devices)
      for (const auto& point : device.points) {
        point_route route;
        route.topic = config::point_topic(configuration_.mqtt, device, point);
        route.unit = point.unit;
        route.qos = point.qos.value_or(configuration_.mqtt.qos);
        route.retain = point.retain.value_or(configuration_.mqtt.retain);
        route.on_change = point.publish == publish_mode::on_change;
        route.deadband = point.deadband;
        route.single_precision = point.format.type == value_type::float32;
        route.heartbeat = point.heartbeat.value_or(configuration_.mqtt.heartbeat);
        route.source = device.name + "/" + point.name;
        routes_[device.name].emplace(point.name, std::move(route));
      }
}

void reading_router::route(const std::vector<reading>& readings, const sink& offer) {
  // A poll's readings come from one device at one time: its table is looked
  // up, and the clock read, once.
  const auto now = now_();
  device_routes* device = nullptr;
  const std::string* device_name = nullptr;
  for (const auto& r : readings) {
    if (device_name == nullptr || *device_name != r.device) {
      const auto known = routes_.find(r.device);
      device = known == routes_.end() ? nullptr : &known->second;
      device_name = &r.device;
    }
    if (device == nullptr) continue;
    const auto found = device->find(r.point);
    if (found == device->end()) continue;
    auto& route = found->second;
    const auto& key = route.source;
    auto payload = payloads_.build(r, route.unit, configuration_.mqtt.payload, route.single_precision);
    if (!payload) {
      // Bad quality: no number is better than a wrong one; the device's
      // status topic and the stats say what is wrong.
      log_->debug("{}: not published: {}", key, r.error.empty() ? "no valid value" : r.error);
      continue;
    }
    const bool heartbeat_due =
        route.heartbeat.count() > 0 && route.published && now - route.last_published >= route.heartbeat;
    if (route.on_change && !heartbeat_due && !changes_.changed(key, r.value, route.deadband)) continue;
    store::message m;
    m.topic = route.topic;
    m.payload = std::move(*payload);
    m.qos = route.qos;
    m.retain = route.retain;
    m.ts = r.ts;
    m.source = route.source;
    // A drop is counted and logged by the store. An on_change value it
    // refused is not the last published one: the next reading tries again.
    if (!offer(std::move(m))) continue;
    if (route.on_change) changes_.remember(key, r.value);
    route.published = true;
    route.last_published = now;
  }
}

void reading_router::forget_device(const std::string& device) { changes_.forget_prefix(device + "/"); }

}  // namespace fieldbridge::gateway
