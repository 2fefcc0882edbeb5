#include "run/reading_router.hpp"

#include <algorithm>
#include <utility>

#include "run/ordered_lookup.hpp"

namespace fieldbridge::gateway {

reading_router::reading_router(const config::configuration& configuration, logger_ptr log, clock now)
    : payload_format_(configuration.mqtt.payload),
      log_(std::move(log)),
      now_(std::move(now)),
      routes_(build_routes(configuration)) {}

reading_router::route_table reading_router::build_routes(const config::configuration& configuration) {
  route_table routes;
  for (const auto& bus : configuration.buses)
    for (const auto& device : bus.devices) {
      auto& d = routes[device.name];
      d.name = device.name;
      d.device_layout = config::layout_of(configuration, device.name) == config::payload_layout::device;
      if (d.device_layout) {
        d.topic = config::device_topic(configuration.mqtt, device.name);
        d.meta_topic = config::device_meta_topic(configuration.mqtt, device.name);
        d.meta_payload = "{\"units\":{";
        bool first = true;
        for (const auto& point : device.points) {
          if (point.unit.empty()) continue;
          if (!first) d.meta_payload += ',';
          first = false;
          append_json_string(d.meta_payload, point.name);
          d.meta_payload += ':';
          append_json_string(d.meta_payload, point.unit);
        }
        d.meta_payload += "}}";
      }
      for (const auto& point : device.points) {
        point_route route;
        route.topic = config::point_topic(configuration.mqtt, device, point);
        route.unit = point.unit;
        route.qos = point.qos.value_or(configuration.mqtt.qos);
        route.retain = point.retain.value_or(configuration.mqtt.retain);
        route.on_change = point.publish == publish_mode::on_change;
        route.deadband = point.deadband;
        route.single_precision = point.format.type == value_type::float32;
        route.heartbeat = point.heartbeat.value_or(configuration.mqtt.heartbeat);
        route.source = device.name + "/" + point.name;
        route.name = point.name;
        if (d.index.emplace(point.name, d.points.size()).second) d.points.push_back(std::move(route));
      }
    }
  return routes;
}

void reading_router::reconfigure(const config::configuration& configuration) {
  auto routes = build_routes(configuration);
  for (auto& [name, old_device] : routes_) {
    const auto now = routes.find(name);
    for (auto& old_route : old_device.points) {
      const std::size_t stays =
          now == routes.end() ? not_found : find_in_order(now->second.points, now->second.index, old_route.name, 0);
      if (stays == not_found) {
        changes_.forget(old_route.source);
        continue;
      }
      auto& route = now->second.points[stays];
      if (route.topic != old_route.topic) {
        changes_.forget(route.source);
        continue;
      }
      route.published = old_route.published;
      route.last_published = old_route.last_published;
    }
    if (now != routes.end() && now->second.meta_topic == old_device.meta_topic &&
        now->second.meta_payload == old_device.meta_payload)
      now->second.meta_published = old_device.meta_published;
  }
  routes_ = std::move(routes);
  payload_format_ = configuration.mqtt.payload;
}

void reading_router::route(const std::vector<reading>& readings, const sink& offer) {
  // A poll's readings come from one device at one time: its table is looked
  // up, and the clock read, once.
  const auto now = now_();
  for_each_device_run(readings, [&](const reading* first, const reading* last) {
    const auto known = routes_.find(first->device);
    if (known == routes_.end()) return;
    auto& device = known->second;
    if (device.device_layout) {
      route_device(device, first, last, now, offer);
      return;
    }
    std::size_t next = 0;
    for (const auto* r = first; r != last; ++r)
      if (auto* route = device.find(r->point, next)) route_point(*route, *r, now, offer);
  });
}

reading_router::point_route* reading_router::device_route::find(const std::string& point, std::size_t& next) {
  const std::size_t found = find_in_order(points, index, point, next);
  if (found == not_found) return nullptr;
  next = found + 1;
  return &points[found];
}

bool reading_router::due(const point_route& route, const reading& r, std::chrono::steady_clock::time_point now) const {
  const bool heartbeat_due =
      route.heartbeat.count() > 0 && route.published && now - route.last_published >= route.heartbeat;
  return !route.on_change || heartbeat_due || changes_.changed(route.source, r.value, route.deadband);
}

void reading_router::published(point_route& route, const point_value& value,
                               std::chrono::steady_clock::time_point now) {
  if (route.on_change) changes_.remember(route.source, value);
  route.published = true;
  route.last_published = now;
}

void reading_router::route_point(point_route& route, const reading& r, std::chrono::steady_clock::time_point now,
                                 const sink& offer) {
  auto payload = payloads_.build(r, route.unit, payload_format_, route.single_precision);
  if (!payload) {
    // Bad quality: no number is better than a wrong one; the device's
    // status topic and the stats say what is wrong.
    log_->debug("{}: not published: {}", route.source, r.error.empty() ? "no valid value" : r.error);
    return;
  }
  if (!due(route, r, now)) return;
  store::message m;
  m.topic = route.topic;
  m.payload = std::move(*payload);
  m.qos = route.qos;
  m.retain = route.retain;
  m.ts = r.ts;
  m.source = route.source;
  // A drop is counted and logged by the store. An on_change value it
  // refused is not the last published one: the next reading tries again.
  if (offer(std::move(m))) published(route, r.value, now);
}

void reading_router::route_device(device_route& device, const reading* first, const reading* last,
                                  std::chrono::steady_clock::time_point now, const sink& offer) {
  buffer_.clear();
  due_.clear();
  payloads_.open(buffer_, first->ts);
  std::uint8_t qos = 0;
  bool retain = false;
  std::size_t next = 0;
  for (const auto* r = first; r != last; ++r) {
    auto* found = device.find(r->point, next);
    if (found == nullptr) continue;
    auto& route = *found;
    if (r->q != quality::good) {
      // Left out, as in the point layout: the device's status topic and
      // the stats say what is wrong.
      log_->debug("{}: not published: {}", route.source, r->error.empty() ? "no valid value" : r->error);
      continue;
    }
    if (!due(route, *r, now)) continue;
    if (!payloads_.add(buffer_, route.name, *r, due_.empty(), route.single_precision)) {
      log_->debug("{}: not published: not a finite number", route.source);
      continue;
    }
    due_.push_back({&route, &r->value});
    qos = std::max(qos, route.qos);
    retain = retain || route.retain;
  }
  if (due_.empty()) return;
  payload_builder::close(buffer_);
  if (!device.meta_published) {
    store::message meta;
    meta.topic = device.meta_topic;
    meta.payload = device.meta_payload;
    meta.qos = std::max<std::uint8_t>(qos, 1);
    meta.retain = true;
    meta.ts = first->ts;
    meta.source = device.name;
    device.meta_published = offer(std::move(meta));
  }
  store::message m;
  m.topic = device.topic;
  m.payload.assign(buffer_);
  m.qos = qos;
  m.retain = retain;
  m.ts = first->ts;
  m.source = device.name;
  // Refused: none of its on_change values counts as published.
  if (!offer(std::move(m))) return;
  for (const auto& p : due_) published(*p.route, *p.value, now);
}

void reading_router::forget_device(const std::string& device) { changes_.forget_prefix(device + "/"); }

}  // namespace fieldbridge::gateway
