// The reading router: turns a bus's readings into the store messages they
// publish as (topic, payload, QoS, retain per point), or into nothing (bad
// quality, an unchanged on_change value). An on_change value counts as
// published only once the store accepted it, and `heartbeat` republishes an
// unchanged one at least that often. Pure apart from the clock it is given.
//
// In the device layout (layout: device) a poll's readings of one device
// become one message on <prefix>/<device>, `{"ts":..,"values":{..}}`, with
// the points that are due (the same per-point on_change, deadband and
// heartbeat decisions), QoS the highest of them, retained when any of them
// is; none due, no message. Before a device's first message the router
// offers its retained <prefix>/<device>/meta, `{"units":{..}}`, once.
//
// A reload hands it the new configuration: the routes follow it, and what
// the router remembers of the points that stay (the last on_change value,
// the heartbeat's clock, a device's meta sent) is kept.
//
// Threading: single-threaded (the gateway's io_context thread).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/core/reading.hpp"
#include "fieldbridge/store/queue.hpp"
#include "run/payload.hpp"

namespace fieldbridge::gateway {

class reading_router {
 public:
  using clock = std::function<std::chrono::steady_clock::time_point()>;
  // Offers one message to the store; true when the store accepted it.
  using sink = std::function<bool(store::message)>;

  reading_router(const config::configuration& configuration, logger_ptr log,
                 clock now = [] { return std::chrono::steady_clock::now(); });

  // After a reload: routes from `configuration` from now on (readings of
  // points it no longer has are dropped, as any unknown point's). Keeps
  // the state of every point whose topic stays; nothing is kept of
  // `configuration` (it may go once this returns).
  void reconfigure(const config::configuration& configuration);

  // Routes each reading of a known point to `offer`, in order.
  void route(const std::vector<reading>& readings, const sink& offer);
  // A device went offline: the first value after it is back is published
  // whatever it is.
  void forget_device(const std::string& device);

 private:
  // What a reading of one point turns into.
  struct point_route {
    std::string name;
    std::string topic;
    std::string source;  // "device/point": the store message's source and the on_change key
    std::string unit;
    std::uint8_t qos = 1;
    bool retain = false;
    bool on_change = false;
    double deadband = 0;
    bool single_precision = false;  // a float32 register
    std::chrono::milliseconds heartbeat{0};  // 0: none
    std::chrono::steady_clock::time_point last_published{};
    bool published = false;
  };

  // A device's points, in configuration order and by name (looked up with
  // the reading's own names and order: run/ordered_lookup.hpp) and, in the
  // device layout, its message.
  struct device_route {
    std::vector<point_route> points;
    std::map<std::string, std::size_t, std::less<>> index;  // point name → points
    point_route* find(const std::string& point, std::size_t& next);
    bool device_layout = false;
    std::string topic;  // device layout: <prefix>/<device>
    std::string name;   // the message's source
    std::string meta_topic, meta_payload;
    bool meta_published = false;
  };
  // A point that went into the device message being built, with its value
  // (the reading lives as long as route()).
  struct due_point {
    point_route* route;
    const point_value* value;
  };

  using route_table = std::map<std::string, device_route, std::less<>>;
  static route_table build_routes(const config::configuration& configuration);

  void route_point(point_route& route, const reading& r, std::chrono::steady_clock::time_point now,
                   const sink& offer);
  // Whether a good reading of `route` is to be published now.
  bool due(const point_route& route, const reading& r, std::chrono::steady_clock::time_point now) const;
  // The device message of readings [first, last) of one device.
  void route_device(device_route& device, const reading* first, const reading* last,
                    std::chrono::steady_clock::time_point now, const sink& offer);
  void published(point_route& route, const point_value& value, std::chrono::steady_clock::time_point now);

  config::payload_format payload_format_;  // mqtt.payload, of the point layout
  logger_ptr log_;
  clock now_;
  route_table routes_;
  change_filter changes_;
  payload_builder payloads_;
  std::string buffer_;           // the device message being built, reused
  std::vector<due_point> due_;   // its points, reused
};

}  // namespace fieldbridge::gateway
