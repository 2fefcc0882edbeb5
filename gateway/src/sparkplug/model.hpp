// The Sparkplug B view of a fieldbridge configuration, and the messages of
// an edge node built from it: pure functions and small value types, no I/O
// (edge_node.hpp does the publishing). See docs/sparkplug.md.
//
// - Every configured device is a Sparkplug device, every point a metric:
//   name = the point's name, datatype from its type (metric_type()), alias
//   numbered in configuration order from 1 (0 is Node Control/Rebirth),
//   the unit as the property engUnit.
// - Topics spBv1.0/<group>/<type>/<edge node>[/<device>].
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/core/reading.hpp"
#include "fieldbridge/sparkplug/payload.hpp"
#include "fieldbridge/store/queue.hpp"
#include "run/payload.hpp"

namespace fieldbridge::gateway::sparkplug {

namespace sp = fieldbridge::sparkplug;

inline constexpr std::string_view rebirth_metric = "Node Control/Rebirth";
inline constexpr std::string_view bdseq_metric = "bdSeq";
inline constexpr std::uint64_t rebirth_alias = 0;

// The message types of the topic namespace.
enum class message_type : std::uint8_t { nbirth, ndeath, ndata, ncmd, dbirth, ddeath, ddata, dcmd };
std::string_view name_of(message_type type);

// "spBv1.0/<group>/<type>/<edge>" and, for device messages, "/<device>".
std::string topic(const config::sparkplug_settings& s, message_type type, std::string_view device = {});
// "spBv1.0/STATE/<host id>".
std::string state_topic(std::string_view host_id);

// A point's Sparkplug datatype: Boolean for coils, discrete inputs, bits and
// boolean registers; String for string points and points with a `map`;
// Double when scale or offset applies; else the register type's own (Int16,
// UInt32, Float for float32, Double for float64, ...).
sp::data_type metric_type(const point_spec& point);

// A reading's value as a metric of `type` holds it; nullopt when it cannot
// (a value of another kind, out of the datatype's range).
std::optional<sp::value> metric_value(sp::data_type type, const point_value& value);
// A DCMD metric's value as a write of the point takes it: Boolean as bool,
// integers as int64/uint64, Float/Double as double, String as string.
std::optional<point_value> command_value(const sp::value& value);

// Milliseconds since the epoch (UTC), Sparkplug's timestamps.
std::uint64_t epoch_ms(wall_clock::time_point t);

struct metric_def {
  std::string name;
  std::uint64_t alias = 0;
  sp::data_type type = sp::data_type::unknown;
  const point_spec* point = nullptr;  // into the configuration
};

struct device_def {
  std::string name;
  std::vector<metric_def> metrics;                     // configuration order
  std::map<std::string, std::size_t, std::less<>> by_name;  // into metrics
};

// The metric table: every device and metric with its alias and datatype.
// Holds pointers into `configuration`, which must outlive it.
class metric_table {
 public:
  explicit metric_table(const config::configuration& configuration);

  const std::vector<device_def>& devices() const noexcept { return devices_; }
  const device_def* device(std::string_view name) const;
  // The device and metric an alias names; nullopt for none (or the node's).
  std::optional<std::pair<const device_def*, const metric_def*>> by_alias(std::uint64_t alias) const;

 private:
  std::vector<device_def> devices_;
  std::map<std::string, std::size_t, std::less<>> by_name_;
  std::map<std::uint64_t, std::pair<std::size_t, std::size_t>> by_alias_;
};

// The last value of each metric, for births ("current values").
struct current_value {
  sp::value value;
  std::uint64_t timestamp = 0;
};
using current_values = std::map<std::string, std::map<std::string, current_value, std::less<>>, std::less<>>;

// NBIRTH: bdSeq and Node Control/Rebirth (false), seq as given.
sp::payload node_birth(std::uint64_t bdseq, std::uint64_t seq, std::uint64_t now_ms);
// NDEATH: bdSeq alone, no seq (the will, and the one sent at shutdown).
sp::payload node_death(std::uint64_t bdseq, std::uint64_t now_ms);
// DBIRTH: every metric of the device with name, alias, datatype, engUnit
// and its current value (is_null when none was read yet).
sp::payload device_birth(const device_def& device, const current_values& values, std::uint64_t seq,
                         std::uint64_t now_ms);
// DDEATH: no metrics.
sp::payload device_death(std::uint64_t seq, std::uint64_t now_ms);

// A DDATA as it waits in the store: aliases, timestamps, values and (for
// the sender, who decodes it) datatypes; no seq. to_wire() makes it the
// message that goes out.
sp::payload stored_data(std::vector<sp::metric> metrics);
// The stored DDATA as it leaves: datatypes left out (DATA messages carry
// none), `seq`, the payload timestamp `now_ms`, and is_historical on every
// metric read before `births_ms` (the births carried newer values: these
// waited in the store through an outage or a primary host's absence).
// Throws sp::codec_error for bytes that are not a stored DDATA.
std::string to_wire(std::string_view stored, std::uint64_t seq, std::uint64_t now_ms, std::uint64_t births_ms);

// Readings to the DDATA messages the store keeps: one per device poll with
// the metrics that are due by the points' publish settings (always, or
// on_change with deadband and heartbeat, as in the native layouts), QoS
// sparkplug.data_qos, never retained; nothing when none is due. Keeps every
// good reading's value as the metric's current value, for the births.
// Single-threaded; pure apart from the clock it is given.
class data_router {
 public:
  using clock = std::function<std::chrono::steady_clock::time_point()>;
  using sink = std::function<bool(store::message)>;  // true: the store took it

  data_router(const config::configuration& configuration, const metric_table& table, logger_ptr log,
              clock now = [] { return std::chrono::steady_clock::now(); });

  void route(const std::vector<reading>& readings, const sink& offer);
  // The device went offline: its first value after it is back is due
  // whatever it is, and its births show no value until then.
  void forget_device(const std::string& device);
  // A value the gateway wrote (DCMD): the current value, and one DDATA.
  void written(const std::string& device, const std::string& point, const point_value& value,
               wall_clock::time_point ts, const sink& offer);
  const current_values& values() const noexcept { return values_; }

 private:
  struct point_state {
    const metric_def* def = nullptr;
    std::string key;  // "device/point", for the change filter
    bool on_change = false;
    double deadband = 0;
    std::chrono::milliseconds heartbeat{0};
    std::chrono::steady_clock::time_point last_published{};
    bool published = false;
    // For find_in_order: the name is the metric definition's.
    friend const std::string& name_of(const point_state& p) { return p.def->name; }
  };
  // A device's points in configuration order and by name (found as in
  // run/ordered_lookup.hpp).
  struct device_state {
    std::string topic;
    std::vector<point_state> points;
    std::map<std::string, std::size_t, std::less<>> index;  // point name → points
  };

  // The DDATA of one device's readings [first, last), if any is due.
  void route_device(const std::string& device, device_state& d, const reading* first, const reading* last,
                    std::chrono::steady_clock::time_point now, const sink& offer);

  store::message message(const std::string& device, const device_state& d, std::vector<sp::metric> metrics,
                         wall_clock::time_point ts) const;

  const metric_table& table_;
  logger_ptr log_;
  clock now_;
  std::uint8_t qos_ = 0;
  std::map<std::string, device_state, std::less<>> devices_;
  change_filter changes_;
  current_values values_;
};

// seq: 0..255, wrapping; the NBIRTH takes 0 and every later message of the
// node (DBIRTH, DDATA, DDEATH) the next.
class sequence {
 public:
  std::uint64_t birth() noexcept {
    next_ = 1;
    return 0;
  }
  std::uint64_t next() noexcept {
    const auto s = next_;
    next_ = (next_ + 1) % 256;
    return s;
  }
  std::uint64_t peek() const noexcept { return next_; }

 private:
  std::uint64_t next_ = 0;
};

// bdSeq across restarts: the file holds the bdSeq of the next CONNECT's
// will ("<n>\n", 0..255). Missing or unreadable: 0.
std::string bdseq_path(const config::configuration& configuration);
std::uint64_t read_bdseq(const std::string& path);
bool write_bdseq(const std::string& path, std::uint64_t bdseq);  // atomically (temporary file, rename)

// Why a reload from `running` to `next` cannot be applied to the edge node,
// or nullopt: mqtt.format and the sparkplug section cannot change at run
// time, nor, with sparkplug_b, the devices and their points (the births,
// aliases and datatypes the hosts know).
std::optional<std::string> reload_refusal(const config::configuration& running, const config::configuration& next);

// A Sparkplug 3.0 STATE payload: {"online":true|false,"timestamp":<ms>}.
struct host_state {
  bool online = false;
  std::uint64_t timestamp = 0;
};
std::optional<host_state> parse_host_state(std::string_view json);

}  // namespace fieldbridge::gateway::sparkplug
