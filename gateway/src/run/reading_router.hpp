// The reading router: turns a bus's readings into the store messages they
// publish as (topic, payload, QoS, retain per point), or into nothing (bad
// quality, an unchanged on_change value). An on_change value counts as
// published only once the store accepted it, and `heartbeat` republishes an
// unchanged one at least that often. Pure apart from the clock it is given.
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

  // Routes each reading of a known point to `offer`, in order.
  void route(const std::vector<reading>& readings, const sink& offer);
  // A device went offline: the first value after it is back is published
  // whatever it is.
  void forget_device(const std::string& device);

 private:
  // What a reading of one point turns into.
  struct point_route {
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

  const config::configuration& configuration_;
  logger_ptr log_;
  clock now_;
  // device → point → where it goes: looked up with the reading's own names,
  // no key built per reading.
  using device_routes = std::map<std::string, point_route, std::less<>>;
  std::map<std::string, device_routes, std::less<>> routes_;
  change_filter changes_;
  payload_builder payloads_;
};

}  // namespace fieldbridge::gateway
