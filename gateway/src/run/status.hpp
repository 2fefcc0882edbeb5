// The gateway's state for people and scrapers: the runtime feeds the board
// (readings, device status, reload outcomes) and it renders <prefix>/stats,
// the HTTP /status.json and the Prometheus /metrics (docs/operations.md).
// Single-threaded: it belongs to the runtime's io_context thread, no lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/reading.hpp"
#include "fieldbridge/drivers/bus.hpp"
#include "fieldbridge/store/queue.hpp"
#include "run/forwarder.hpp"

namespace fieldbridge::mqtt {
class client;
}

namespace fieldbridge::gateway {

// The result of the last SIGHUP reload: applied, or refused with the reason.
struct reload_outcome {
  bool ok = false;
  std::string error;  // FILE:LINE:COL: message, or why it cannot change; empty when ok
  wall_clock::time_point at;
};

// The latest reading of one configured point; no ts until the first one.
struct point_status {
  std::string name;
  std::string unit;
  bool single_precision = false;  // float32: printed with float's shortest form
  std::optional<reading> latest;
};

struct device_status {
  std::string name;
  drivers::device_counters counters;
  std::optional<bool> online;  // the last status event; none before the first
  std::vector<point_status> points;
};

struct bus_status {
  std::string name;
  std::string link;  // "modbus_tcp 127.0.0.1:502", "modbus_rtu /dev/ttyUSB0", ...
  std::vector<device_status> devices;
};

struct mqtt_status {
  bool connected = false;
  std::string broker;            // host:port in use or being tried
  std::uint64_t connections = 0; // established since start; reconnects = connections - 1
  std::size_t in_flight = 0;     // publishes awaiting their acknowledgement
};

struct store_status {
  std::uint64_t depth = 0;
  std::uint64_t bytes = 0;
  std::optional<wall_clock::time_point> oldest;  // reading time of the oldest message kept
  bool disk_failing = false;
  store::counters counters;
};

// Everything a renderer needs, taken at one instant. Plain data, so the
// renderers are pure functions that tests call with made-up values.
struct gateway_snapshot {
  wall_clock::time_point now;
  std::string name;    // gateway.name
  std::string prefix;  // topic prefix
  std::vector<bus_status> buses;
  mqtt_status mqtt;
  store_status store;
  forwarder_counters forwarder;
  std::optional<std::string> paused;  // the refusal that holds the drain back
  std::optional<reload_outcome> last_reload;
};

// <prefix>/stats (docs/gateway.md).
std::string render_stats(const gateway_snapshot& s);
// GET /status.json: the stats' totals plus every bus, device and point.
std::string render_status_json(const gateway_snapshot& s);
// GET /metrics: Prometheus text format 0.0.4.
std::string render_metrics(const gateway_snapshot& s);

// What the board reads at render time: the runtime's own parts. They must
// outlive the board's use; `buses` is read in place, so a reload that adds
// or removes buses is seen at the next render.
struct status_sources {
  const std::vector<std::unique_ptr<drivers::field_bus>>& buses;
  const store::queue& store;
  const forwarder& forward;
  const mqtt::client& client;
};

class status_board {
 public:
  status_board(const config::configuration& configuration, status_sources sources);

  // The points and devices to show, in configuration order; the latest
  // values of those that stay are kept (for a reload).
  void configure(const config::configuration& configuration);

  void on_readings(const std::vector<reading>& readings);
  void on_status(std::string_view device, bool online);
  void set_reload(reload_outcome outcome);
  const std::optional<reload_outcome>& last_reload() const noexcept { return last_reload_; }

  // `with_points`: the latest reading of every point too (not for stats).
  gateway_snapshot snapshot(bool with_points = true) const;
  std::string stats_json() const { return render_stats(snapshot(false)); }
  std::string status_json() const { return render_status_json(snapshot()); }
  std::string metrics() const { return render_metrics(snapshot()); }

 private:
  struct device_entry {
    std::optional<bool> online;
    std::vector<point_status> points;
    std::map<std::string, std::size_t, std::less<>> index;  // point name → points
  };
  std::string name_;
  std::string prefix_;
  status_sources sources_;
  std::map<std::string, device_entry, std::less<>> devices_;
  std::optional<reload_outcome> last_reload_;
};

}  // namespace fieldbridge::gateway
