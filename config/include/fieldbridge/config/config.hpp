// The gateway's configuration: the YAML file of PRODUCT.md loaded into typed
// structs. Loading either returns a complete, validated configuration or
// throws config_error naming FILE:LINE:COL and what was expected.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fieldbridge/core/model.hpp"
#include "fieldbridge/core/text.hpp"

namespace fieldbridge::config {

struct tls_settings {
  std::string ca_file;      // empty: the system trust store
  std::string cert_file;    // client certificate for mutual TLS
  std::string key_file;
  bool verify_hostname = true;
  bool verify_certificate = true;  // off only through the explicit key insecure_skip_verify

  bool operator==(const tls_settings&) const = default;
};

enum class mqtt_protocol : std::uint8_t { v311, v5 };
enum class payload_format : std::uint8_t { json, value };
// layout: how readings become messages (docs/gateway.md "Payload layouts"):
// a topic per point, or one message per device poll on <prefix>/<device>.
enum class payload_layout : std::uint8_t { point, device };

// sparkplug: mqtt.format: what the readings are published as. native:
// fieldbridge's own topics and payloads (docs/gateway.md); sparkplug_b: an
// Eclipse Sparkplug B 3.0 edge node (docs/sparkplug.md).
enum class message_format : std::uint8_t { native, sparkplug_b };

// One broker of mqtt.hosts (to_string() in core/text.hpp: "host:port").
using broker_address = network_endpoint;

struct mqtt_settings {
  std::string host = "localhost";
  std::uint16_t port = 1883;          // 8883 when tls is set and port is not
  mqtt_protocol protocol = mqtt_protocol::v5;
  std::string client_id;              // default: "fieldbridge-" + gateway.name
  std::string username;
  std::string password;               // from password or password_file (trailing newline cut)
  std::chrono::seconds keepalive{30};
  bool clean_start = false;
  std::chrono::seconds session_expiry{86400};
  std::optional<tls_settings> tls;
  std::string topic_prefix;           // default: "fieldbridge/" + gateway.name
  std::uint8_t qos = 1;
  bool retain = false;
  payload_format payload = payload_format::json;   // point layout only; a device message is JSON
  payload_layout layout = payload_layout::point;   // a device's layout: overrides it
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30000};
  std::uint16_t max_inflight = 20;
  // An unchanged on_change value is published again at least this often
  // (at its first reading after the period); 0: never. Per point: heartbeat.
  std::chrono::milliseconds heartbeat{0};
  // The largest packet accepted from the broker (announced in MQTT 5;
  // in 3.1.1 a bigger message is dropped and logged).
  std::uint32_t max_packet_size = 1u << 20;
  // --- failover (mqtt.hosts) ---
  // The brokers in the order they are tried; empty when the file gives
  // host/port instead (then host/port is the one broker). With hosts, host
  // and port hold the first entry. An entry without a port takes 8883 with
  // tls and 1883 without.
  std::vector<broker_address> hosts;
  message_format format = message_format::native;  // sparkplug: mqtt.format

  bool operator==(const mqtt_settings&) const = default;
};

// The brokers to connect to, in order: mqtt.hosts, or the one host/port.
std::vector<broker_address> brokers(const mqtt_settings& mqtt);

enum class overflow_policy : std::uint8_t { drop_oldest, drop_newest };
enum class drain_order : std::uint8_t { fifo, live_first };

struct store_settings {
  std::string path = "/var/lib/fieldbridge/queue.db";
  std::uint64_t max_size = 256ull * 1024 * 1024;
  overflow_policy on_full = overflow_policy::drop_oldest;
  std::chrono::milliseconds flush_interval{1000};
  drain_order drain = drain_order::fifo;
  // The hot tier's directory: "" = the default ($RUNTIME_DIRECTORY, else
  // /run/fieldbridge when writable, else /dev/shm), "none" = no hot tier.
  std::string hot_path;

  bool operator==(const store_settings&) const = default;
};

struct gateway_settings {
  std::string name = "fieldbridge";
  std::string log_level = "info";                    // trace|debug|info|warn|error|critical|off
  std::chrono::milliseconds stats_interval{60000};   // 0: no <prefix>/stats messages

  bool operator==(const gateway_settings&) const = default;
};

// --- Home Assistant MQTT discovery (homeassistant:, a device's manufacturer:
// and model:, a point's homeassistant:); see docs/gateway.md "Home Assistant" ---
struct homeassistant_entity {
  bool announce = true;          // homeassistant: false leaves the point out
  std::string device_class;      // overrides; empty: inferred from the point (or none)
  std::string state_class;
  std::string icon;
  std::string name;              // empty: the point's name

  bool operator==(const homeassistant_entity&) const = default;
};
struct homeassistant_device {
  std::string manufacturer;      // empty: not announced
  std::string model;
  std::map<std::string, homeassistant_entity, std::less<>> points;  // only points that set homeassistant:

  bool operator==(const homeassistant_device&) const = default;
};
struct homeassistant_settings {
  bool enabled = false;
  std::string discovery_prefix = "homeassistant";
  std::map<std::string, homeassistant_device, std::less<>> devices;  // only devices that set something
  // What a device or point set, or the defaults.
  homeassistant_device device(std::string_view device_name) const;
  homeassistant_entity point(std::string_view device_name, std::string_view point_name) const;

  bool operator==(const homeassistant_settings&) const = default;
};
// A name as a Home Assistant discovery topic level ([a-zA-Z0-9_-]): '.' becomes '_'.
std::string homeassistant_id(std::string_view name);

// --- the status page and metrics (http:; docs/operations.md "Status page
// and metrics"): an HTTP listener, off unless the section is there ---
struct http_settings {
  // An IP address (or localhost) and port; 127.0.0.1:8080 by default.
  network_endpoint listen{"127.0.0.1", 8080};
  std::string token_file;  // resolved path; empty: no token
  std::string token;       // the file's text without its line end; required beyond loopback
  bool operator==(const http_settings&) const = default;
};
// Whether the listener's host is a loopback address (127.0.0.0/8, ::1,
// localhost), where it needs no token.
bool is_loopback(std::string_view host);
// sparkplug: the `sparkplug:` section (mqtt.format: sparkplug_b only); see
// docs/sparkplug.md. Ids are names (letters, digits, '_', '-', '.').
struct sparkplug_settings {
  std::string group_id;          // required
  std::string edge_node_id;      // default: gateway.name
  std::string primary_host_id;   // empty: none; else DATA only while its STATE says online
  std::uint8_t data_qos = 0;     // DDATA/DDEATH QoS: 0 as the specification says; 1: acknowledged
  bool operator==(const sparkplug_settings&) const = default;
};

struct configuration {
  std::string source_path;
  gateway_settings gateway;
  mqtt_settings mqtt;
  store_settings store;
  std::vector<bus_spec> buses;
  homeassistant_settings homeassistant;
  std::optional<http_settings> http;  // http: the status page; absent: no listener
  sparkplug_settings sparkplug;  // sparkplug: used when mqtt.format is sparkplug_b
  // layout: the devices (and serial_line buses) that set their own layout.
  std::map<std::string, payload_layout, std::less<>> device_layouts;

  bool operator==(const configuration&) const = default;
};

// layout: a device's layout: its own `layout:`, else mqtt.layout.
payload_layout layout_of(const configuration& configuration, std::string_view device);
// layout: the device message's topic, "<topic_prefix>/<device>", and the
// retained "<topic_prefix>/<device>/meta" with the points' units.
std::string device_topic(const mqtt_settings& mqtt, std::string_view device);
std::string device_meta_topic(const mqtt_settings& mqtt, std::string_view device);

// The topic a point publishes on: "<topic_prefix>/<device>/<point>".
std::string point_topic(const mqtt_settings& mqtt, const device_spec& device, const point_spec& point);

// Whether the bus reads text lines (serial_line) rather than Modbus registers.
bool is_serial_line(const bus_spec& bus);

// Settings that load but do not do what they seem to promise, in words (one
// line each), for `fieldbridge check` and the start of `fieldbridge run`:
// QoS 2 points with a session that does not outlive the connection
// (clean_start: true, or session_expiry: 0 on MQTT 5), where exactly once
// cannot hold across a reconnect or restart.
std::vector<std::string> warnings(const configuration& configuration);

// A configuration mistake, located in the source text. what() is the full
// "FILE:LINE:COL: message" line.
class config_error : public std::runtime_error {
 public:
  config_error(std::string file, int line, int column, std::string message);
  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }
  int column() const noexcept { return column_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string file_;
  int line_;
  int column_;
  std::string message_;
};

// Reads and validates a configuration file. Relative paths inside it
// (password_file, tls files, store.path) are taken from the file's directory.
configuration load_file(const std::string& path);
// `name` stands for the file in error messages; relative paths inside the
// text are taken from `base_directory` (the working directory when empty).
configuration load_string(std::string_view yaml_text, const std::string& name,
                          const std::string& base_directory = {});

}  // namespace fieldbridge::config
