// The configuration schema: walks the YAML tree section by section, fills the
// structs of config.hpp and the core model, and checks what spans entries
// (duplicate names, overlapping writable points). Stops at the first error.
#include "loader.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <type_traits>

#include <fmt/core.h>

#include "fieldbridge/config/units.hpp"
#include "fieldbridge/core/logging.hpp"

namespace fieldbridge::config::detail {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr std::array<std::uint32_t, 13> standard_bauds{300,   600,   1200,   2400,   4800,   9600,  19200,
                                                       38400, 57600, 115200, 230400, 460800, 921600};
constexpr std::int64_t max_address = 65535;

// Names become MQTT topic levels, so they are kept to a safe alphabet.
bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

std::string read_name(const map_reader& map) {
  const auto& e = map.require("name");
  auto name = map.to_string(e);
  if (!valid_name(name))
    map.doc().fail(e.value_location(),
                   fmt::format("name '{}' may contain only letters, digits, '_', '-' and '.' "
                               "(it becomes an MQTT topic level)",
                               name));
  return name;
}

// A file named in the configuration must be readable now, or the daemon
// would fail later.
std::ifstream open_for_reading(const map_reader& map, const entry& e, const std::string& path) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored))
    map.doc().fail(e.value_location(), fmt::format("cannot read {} '{}': {}", e.key, path, std::strerror(EISDIR)));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    map.doc().fail(e.value_location(), fmt::format("cannot read {} '{}': {}", e.key, path, std::strerror(error)));
  }
  return in;
}

// At most `limit` bytes are read, so that a device such as /dev/zero cannot
// hang the load.
std::string read_text_file(const map_reader& map, const entry& e, const std::string& path, std::size_t limit) {
  auto in = open_for_reading(map, e, path);
  auto text = read_at_most(in, limit);
  if (!text) map.doc().fail(e.value_location(), fmt::format("cannot read {} '{}'", e.key, path));
  if (text->size() > limit)
    map.doc().fail(e.value_location(), fmt::format("{} '{}' is larger than {} bytes", e.key, path, limit));
  return std::move(*text);
}

std::string read_path(const map_reader& map, std::string_view key, bool must_be_readable) {
  const auto* e = map.find(key);
  if (e == nullptr) return {};
  auto path = map.doc().resolve(map.to_string(*e));
  if (must_be_readable) open_for_reading(map, *e, path);
  return path;
}

const auto serial_parities = {std::pair<std::string_view, char>{"N", 'N'}, {"E", 'E'}, {"O", 'O'}};

// The settings of a serial port, shared by modbus_rtu and serial_line; each
// adds one key of its own (rs485, delimiter).
template <typename line>
line read_serial_port(const document& doc, const YAML::Node& node, const std::string& what) {
  constexpr bool rtu = std::is_same_v<line, modbus_rtu_line>;
  const map_reader map(doc, node, what,
                       {"device", "baud", "parity", "data_bits", "stop_bits", rtu ? "rs485" : "delimiter"});
  line settings;
  settings.device = map.to_string(map.require("device"));
  if (const auto* e = map.find("baud")) {
    const auto baud = map.to_integer(*e, 1, 4'000'000);
    if (std::find(standard_bauds.begin(), standard_bauds.end(), baud) == standard_bauds.end()) {
      std::vector<std::string> rates;
      for (auto rate : standard_bauds) rates.push_back(std::to_string(rate));
      std::vector<std::string_view> views(rates.begin(), rates.end());
      map.doc().fail(e->value_location(), fmt::format("baud {} is not a standard rate; expected {}", baud,
                                                      join_alternatives(views)));
    }
    settings.baud = static_cast<std::uint32_t>(baud);
  }
  map.read_choice("parity", settings.parity, serial_parities);
  map.read("data_bits", settings.data_bits, 5, 8);
  map.read("stop_bits", settings.stop_bits, 1, 2);
  if constexpr (rtu) {
    map.read("rs485", settings.rs485);
  } else {
    map.read("delimiter", settings.delimiter);
  }
  return settings;
}
class schema_loader {
 public:
  explicit schema_loader(const document& doc) : doc_(doc) {}

  configuration load(const YAML::Node& root) {
    if (root.IsNull())
      doc_.fail(root, "the configuration is empty; expected a map with gateway, mqtt, store and buses");
    const map_reader map(doc_, root, "the configuration", {"gateway", "mqtt", "store", "buses", "homeassistant", "http", "sparkplug"});
    configuration result;
    result.source_path = doc_.name();
    if (const auto* e = map.find("gateway")) load_gateway(map_reader(doc_, map.expect_map(*e), "gateway", gateway_keys), result.gateway);
    load_mqtt(map, result);
    if (const auto* e = map.find("store")) load_store(map_reader(doc_, map.expect_map(*e), "store", store_keys), result.store);
    if (const auto* e = map.find("homeassistant"))  // before the buses: their points check ids when it is on
      load_homeassistant(map_reader(doc_, map.expect_map(*e), "homeassistant", homeassistant_keys),
                         result.homeassistant);
    if (const auto* e = map.find("http"))  // http: the status page
      result.http = load_http(map_reader(doc_, map.expect_map(*e), "http", http_keys));
    load_sparkplug(map, result);  // sparkplug: after gateway and mqtt
    const auto& buses = map.require("buses");
    const auto& list = map.expect_list(buses);
    if (list.size() == 0) doc_.fail(buses.value_location(), "expected at least one bus in 'buses'");
    for (const auto& bus : list) result.buses.push_back(load_bus(bus));
    result.homeassistant.devices = std::move(homeassistant_devices_);
    result.device_layouts = std::move(device_layouts_);
    return result;
  }

 private:
  static inline const std::vector<std::string_view> gateway_keys{"name", "log_level", "stats_interval"};
  static inline const std::vector<std::string_view> mqtt_keys{
      "host",     "port",        "protocol",       "client_id", "username",     "password",
      "password_file", "keepalive", "clean_start", "session_expiry", "tls", "topic_prefix",
      "qos",      "retain",      "payload",        "reconnect", "max_inflight",
      "heartbeat", "max_packet_size", "hosts", "layout", "format"};
  static inline const std::vector<std::string_view> tls_keys{"ca_file", "cert_file", "key_file", "verify_hostname",
                                                             "insecure_skip_verify"};
  static inline const std::vector<std::string_view> store_keys{"path", "max_size", "on_full", "flush_interval",
                                                               "drain", "hot_path"};
  static inline const std::vector<std::string_view> link_keys{"modbus_rtu", "modbus_tcp", "modbus_rtu_tcp",
                                                              "serial_line"};
  static inline const std::vector<std::string_view> modbus_bus_keys{
      "name", "modbus_rtu", "modbus_tcp", "modbus_rtu_tcp", "serial_line", "timeout", "byte_timeout",
      "inter_request_delay", "devices"};
  static inline const std::vector<std::string_view> line_bus_keys{"name", "modbus_rtu", "modbus_tcp",
                                                                  "modbus_rtu_tcp", "serial_line",
                                                                  "silence_timeout", "points", "manufacturer",
                                                                  "model", "layout"};
  static inline const std::vector<std::string_view> device_keys{
      "name", "unit", "poll_interval", "max_registers", "max_bits", "max_gap", "force_multiple_write",
      "offline_after", "points", "manufacturer", "model", "layout"};
  static inline const std::vector<std::string_view> register_point_keys{
      "name", "table", "address", "type", "order", "bit", "length", "scale", "offset", "unit", "qos",
      "retain", "publish", "deadband", "heartbeat", "writable", "min", "max", "map", "mask", "shift", "round",
      "homeassistant"};
  static inline const std::vector<std::string_view> line_point_keys{
      "name", "pattern", "type", "scale", "offset", "unit", "qos", "retain", "publish", "deadband", "heartbeat",
      "map", "mask", "shift", "round", "homeassistant"};

  void load_gateway(const map_reader& map, gateway_settings& gateway) {
    if (map.find("name") != nullptr) gateway.name = read_name(map);
    if (const auto* e = map.find("log_level")) {
      gateway.log_level = map.to_string(*e);
      if (!parse_log_level(gateway.log_level))
        doc_.fail(e->value_location(),
                  fmt::format("expected trace, debug, info, warn, error, critical or off for 'log_level', got '{}'",
                              gateway.log_level));
    }
    map.read_duration("stats_interval", gateway.stats_interval, 0ms, 24h);
    if (gateway.stats_interval > 0ms && gateway.stats_interval < 1s)
      doc_.fail(map.find("stats_interval")->value_location(), "'stats_interval' must be 0 (off) or at least 1s");
  }

  // A topic prefix: levels separated by single '/', no wildcards.
  void check_topic_levels(const entry& e, const std::string& prefix) {
    if (prefix.find_first_of("+#") != std::string::npos || prefix.front() == '/' || prefix.back() == '/' ||
        prefix.find("//") != std::string::npos)
      doc_.fail(e.value_location(),
                fmt::format("'{}' must be topic levels separated by single '/', without '+', '#' "
                            "or a leading or trailing '/', got '{}'",
                            e.key, prefix));
  }

  void load_mqtt(const map_reader& root, configuration& result) {
    auto& mqtt = result.mqtt;
    mqtt.client_id = "fieldbridge-" + result.gateway.name;
    mqtt.topic_prefix = "fieldbridge/" + result.gateway.name;
    const auto* section = root.find("mqtt");
    if (section == nullptr) return;
    const map_reader map(doc_, root.expect_map(*section), "mqtt", mqtt_keys);
    map.read("host", mqtt.host);
    const bool port_given = map.read("port", mqtt.port, 1, 65535);
    if (const auto* e = map.find("protocol")) {
      // YAML reads 5 as a number and 3.1.1 as a string; both are plain text here.
      const auto index = map.to_choice(*e, {"5", "3.1.1"});
      mqtt.protocol = index == 0 ? mqtt_protocol::v5 : mqtt_protocol::v311;
    }
    map.read("client_id", mqtt.client_id);
    map.read_text("username", mqtt.username);
    load_password(map, mqtt);
    milliseconds keepalive = mqtt.keepalive;
    if (map.read_duration("keepalive", keepalive, 0ms, 65535s)) mqtt.keepalive = whole_seconds(map, "keepalive", keepalive);
    map.read("clean_start", mqtt.clean_start);
    milliseconds expiry = mqtt.session_expiry;
    if (map.read_duration("session_expiry", expiry, 0ms, std::chrono::seconds{UINT32_MAX}))
      mqtt.session_expiry = whole_seconds(map, "session_expiry", expiry);
    if (const auto* e = map.find("tls")) {
      mqtt.tls = load_tls(map_reader(doc_, map.expect_map(*e), "tls", tls_keys));
      if (!port_given) mqtt.port = 8883;
    }
    load_hosts(map, mqtt);  // after tls: an entry without a port takes tls's default
    if (const auto* e = map.find("topic_prefix")) {
      mqtt.topic_prefix = map.to_string(*e);
      check_topic_levels(*e, mqtt.topic_prefix);
    }
    map.read("qos", mqtt.qos, 0, 2);
    map.read("retain", mqtt.retain);
    map.read_choice("payload", mqtt.payload, {{"json", payload_format::json}, {"value", payload_format::value}});
    map.read_choice("layout", mqtt.layout, {{"point", payload_layout::point}, {"device", payload_layout::device}});
    default_layout_ = mqtt.layout;
    map.read_choice("format", mqtt.format,  // sparkplug
                    {{"native", message_format::native}, {"sparkplug_b", message_format::sparkplug_b}});
    if (const auto* e = map.find("reconnect")) {
      const map_reader reconnect(doc_, map.expect_map(*e), "reconnect", {"min", "max"});
      reconnect.read_duration("min", mqtt.reconnect_min, 10ms, 1h);
      reconnect.read_duration("max", mqtt.reconnect_max, 10ms, 1h);
      if (mqtt.reconnect_min > mqtt.reconnect_max) {
        const auto* at = reconnect.find("max") != nullptr ? reconnect.find("max") : reconnect.find("min");
        doc_.fail(at->value_location(), fmt::format("reconnect 'max' ({}) is less than 'min' ({})",
                                                    format_duration(mqtt.reconnect_max),
                                                    format_duration(mqtt.reconnect_min)));
      }
    }
    map.read("max_inflight", mqtt.max_inflight, 1, 65535);
    map.read_duration("heartbeat", mqtt.heartbeat, 0ms, 24h * 365);
    // 1 KiB fits every command; 256 MiB is the protocol's largest packet.
    std::uint64_t max_packet_size = mqtt.max_packet_size;
    if (map.read_size("max_packet_size", max_packet_size, 1ull << 10, 256ull << 20)) {
      mqtt.max_packet_size = static_cast<std::uint32_t>(max_packet_size);
    }
  }

  // --- failover (mqtt.hosts) ---
  // hosts: [ "a.example:8883", "[::1]:1883", "b.example" ]: the failover
  // list, instead of host/port.
  void load_hosts(const map_reader& map, mqtt_settings& mqtt) {
    const auto* e = map.find("hosts");
    if (e == nullptr) return;
    for (const auto* key : {"host", "port"}) {
      if (const auto* given = map.find(key))
        doc_.fail(given->key_node, fmt::format("give either 'hosts' or '{}' in mqtt, not both ('hosts' entries "
                                               "are \"host:port\")",
                                               key));
    }
    const auto& list = map.expect_list(*e);
    if (list.size() == 0) doc_.fail(e->value_location(), "expected at least one \"host:port\" in 'hosts'");
    const std::uint16_t default_port = mqtt.tls ? 8883 : 1883;
    for (const auto& item : list) {
      if (!item.IsScalar() || item.Scalar().empty())
        doc_.fail(item, fmt::format("expected \"host:port\" in 'hosts', got {}", describe(item)));
      std::string error;
      const auto parsed = split_host_port(item.Scalar(), error);
      if (!parsed) doc_.fail(item, "in 'hosts': " + error);
      broker_address broker{parsed->host, parsed->port.value_or(default_port)};
      if (std::find(mqtt.hosts.begin(), mqtt.hosts.end(), broker) != mqtt.hosts.end())
        doc_.fail(item, fmt::format("'hosts' lists {} twice", to_string(broker)));
      mqtt.hosts.push_back(std::move(broker));
    }
    mqtt.host = mqtt.hosts.front().host;
    mqtt.port = mqtt.hosts.front().port;
  }

  std::chrono::seconds whole_seconds(const map_reader& map, std::string_view key, milliseconds value) {
    if (value % 1s != 0ms)
      doc_.fail(map.find(key)->value_location(), fmt::format("'{}' must be whole seconds, got {}", key,
                                                             format_duration(value)));
    return std::chrono::duration_cast<std::chrono::seconds>(value);
  }

  void load_password(const map_reader& map, mqtt_settings& mqtt) {
    const auto* inline_password = map.find("password");
    const auto* file = map.find("password_file");
    if (inline_password != nullptr && file != nullptr) {
      const auto* later = where(file->key_node).line > where(inline_password->key_node).line ? file : inline_password;
      doc_.fail(where(later->key_node), "give either 'password' or 'password_file', not both");
    }
    if (inline_password != nullptr) {
      mqtt.password = map.to_string(*inline_password, /*allow_empty=*/true);
    }
    if (file != nullptr) {
      constexpr std::size_t longest_password = 65535;  // an MQTT binary field
      auto text = read_text_file(map, *file, doc_.resolve(map.to_string(*file)), longest_password + 2);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (text.size() > longest_password)
        doc_.fail(file->value_location(), fmt::format("the password in '{}' is longer than {} bytes",
                                                      map.to_string(*file), longest_password));
      mqtt.password = std::move(text);
    }
    if (!mqtt.password.empty() && mqtt.username.empty())
      doc_.fail(where((inline_password != nullptr ? inline_password : file)->key_node),
                "a password needs a 'username' (MQTT sends no password without one)");
  }

  tls_settings load_tls(const map_reader& map) {
    tls_settings tls;
    tls.ca_file = read_path(map, "ca_file", true);
    tls.cert_file = read_path(map, "cert_file", true);
    tls.key_file = read_path(map, "key_file", true);
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      const auto* given = map.find(tls.cert_file.empty() ? "key_file" : "cert_file");
      doc_.fail(where(given->key_node), "a client certificate needs both 'cert_file' and 'key_file'");
    }
    map.read("verify_hostname", tls.verify_hostname);
    bool insecure = false;
    map.read("insecure_skip_verify", insecure);
    tls.verify_certificate = !insecure;
    return tls;
  }

  void load_store(const map_reader& map, store_settings& store) {
    if (map.find("path") != nullptr) store.path = read_path(map, "path", false);
    map.read_size("max_size", store.max_size, 64ull << 10, 1ull << 50);
    map.read_choice("on_full", store.on_full,
                    {{"drop_oldest", overflow_policy::drop_oldest}, {"drop_newest", overflow_policy::drop_newest}});
    map.read_duration("flush_interval", store.flush_interval, 0ms, 1min);
    map.read_choice("drain", store.drain, {{"fifo", drain_order::fifo}, {"live_first", drain_order::live_first}});
    if (const auto* e = map.find("hot_path"); e != nullptr) {
      const auto text = map.to_string(*e);
      store.hot_path = text == "none" ? text : map.doc().resolve(text);
      if (store.hot_path.empty()) map.doc().fail(e->value_location(), "hot_path must be a directory or none");
    }
  }

  // --- buses, devices, points --------------------------------------------

  bus_spec load_bus(const YAML::Node& node) {
    const auto what = label("bus", node);
    if (!node.IsMap()) doc_.fail(node, fmt::format("expected a map for {}, got {}", what, describe(node)));
    std::vector<YAML::Node> links;
    for (const auto& pair : node)
      if (pair.first.IsScalar() &&
          std::find(link_keys.begin(), link_keys.end(), pair.first.Scalar()) != link_keys.end())
        links.push_back(pair.first);
    const bool line_bus = links.size() == 1 && links.front().Scalar() == "serial_line";
    const map_reader map = line_bus
        ? map_reader(doc_, node, what, line_bus_keys,
                     {{"devices", "a serial_line bus lists its 'points' directly, without devices"},
                      {"timeout", "it applies to Modbus buses only"},
                      {"byte_timeout", "it applies to Modbus buses only"},
                      {"inter_request_delay", "it applies to Modbus buses only"}})
        : map_reader(doc_, node, what, modbus_bus_keys,
                     {{"points", "the points of a Modbus bus belong to one of its 'devices'"},
                      {"silence_timeout", "it applies to serial_line buses; Modbus devices use 'offline_after'"}});
    if (links.empty())
      doc_.fail(node, fmt::format("{} needs a link: one of modbus_rtu, modbus_tcp, modbus_rtu_tcp or serial_line",
                                  what));
    if (links.size() > 1)
      doc_.fail(links[1], fmt::format("{} has two links, '{}' and '{}'; give exactly one", what,
                                      links[0].Scalar(), links[1].Scalar()));

    bus_spec bus;
    bus.name = read_name(map);
    check_unique(bus_names_, "bus", bus.name, map.require("name"));
    const auto& link = map.require(links.front().Scalar());
    const auto link_what = fmt::format("{} of {}", link.key, what);
    if (link.key == "modbus_rtu") {
      bus.link = read_serial_port<modbus_rtu_line>(doc_, map.expect_map(link), link_what);
    } else if (link.key == "modbus_tcp") {
      modbus_tcp_endpoint tcp;
      const map_reader settings(doc_, map.expect_map(link), link_what, {"host", "port"});
      tcp.host = settings.to_string(settings.require("host"));
      settings.read("port", tcp.port, 1, 65535);
      bus.link = tcp;
    } else if (link.key == "modbus_rtu_tcp") {
      modbus_rtu_tcp_endpoint box;
      const map_reader settings(doc_, map.expect_map(link), link_what, {"host", "port"});
      box.host = settings.to_string(settings.require("host"));
      settings.read("port", box.port, 1, 65535);
      bus.link = box;
    } else {
      bus.link = read_serial_port<serial_line_port>(doc_, map.expect_map(link), link_what);
    }

    if (line_bus) {
      device_spec device;
      device.name = bus.name;
      device.unit = 0;
      check_unique(device_names_, "device", device.name, map.require("name"));
      map.read_duration("silence_timeout", bus.silence_timeout, 0ms, 24h);
      load_layout(map, device.name);
      load_homeassistant_device(map, device.name);
      load_points(map, device, /*line_points=*/true);
      bus.devices.push_back(std::move(device));
      return bus;
    }

    map.read_duration("timeout", bus.response_timeout, 1ms, 1min);
    map.read_duration("byte_timeout", bus.byte_timeout, 0ms, 10s);
    map.read_duration("inter_request_delay", bus.inter_request_delay, 0ms, 10s);
    const auto& devices = map.require("devices");
    const auto& list = map.expect_list(devices);
    if (list.size() == 0) doc_.fail(devices.value_location(), fmt::format("expected at least one device in {}", what));
    std::map<int, std::pair<std::string, int>> units;  // unit id -> device name, line
    const bool tcp = std::holds_alternative<modbus_tcp_endpoint>(bus.link);
    for (const auto& device_node : list) {
      auto device = load_device(device_node, tcp, units);
      bus.devices.push_back(std::move(device));
    }
    return bus;
  }

  device_spec load_device(const YAML::Node& node, bool tcp, std::map<int, std::pair<std::string, int>>& units) {
    const map_reader map(doc_, node, label("device", node), device_keys,
                         {{"pattern", "it applies to serial_line points"}});
    device_spec device;
    device.name = read_name(map);
    check_unique(device_names_, "device", device.name, map.require("name"));
    // RTU unit 0 is the broadcast address, which never answers a read; over
    // TCP the unit id addresses a device behind a gateway, and 0 or 255 is
    // what a directly connected device expects.
    const auto& unit = map.require("unit");
    device.unit = static_cast<std::uint8_t>(map.to_integer(unit, tcp ? 0 : 1, tcp ? 255 : 247));
    const auto [used, inserted] = units.try_emplace(device.unit, device.name, where(unit.value).line);
    if (!inserted)
      doc_.fail(unit.value_location(), fmt::format("unit {} is already used by device '{}' on this bus (line {})",
                                                   device.unit, used->second.first, used->second.second));
    map.read_duration("poll_interval", device.poll_interval, 10ms, 24h);
    map.read("max_registers", device.max_registers_per_request, 1, 125);
    map.read("max_bits", device.max_bits_per_request, 1, 2000);
    map.read("max_gap", device.max_gap, 0, 124);
    map.read("force_multiple_write", device.force_multiple_write);
    map.read("offline_after", device.offline_after_failures, 1, 1000);
    load_layout(map, device.name);
    load_homeassistant_device(map, device.name);
    load_points(map, device, /*line_points=*/false);
    return device;
  }

  void load_points(const map_reader& owner, device_spec& device, bool line_points) {
    const auto& points = owner.require("points");
    const auto& list = owner.expect_list(points);
    if (list.size() == 0)
      doc_.fail(points.value_location(), fmt::format("expected at least one point in {}", owner.what()));
    std::map<std::string, location, std::less<>> names;
    std::vector<int> lines;  // of each point in device.points, for messages
    for (const auto& node : list) {
      const map_reader map = line_points
          ? map_reader(doc_, node, label("point", node), line_point_keys,
                       {{"table", "serial_line points read text, not registers"},
                        {"address", "serial_line points read text, not registers"},
                        {"order", "serial_line points read text, not registers"},
                        {"bit", "serial_line points read text, not registers"},
                        {"length", "serial_line points read text, not registers"},
                        {"writable", "serial_line points cannot be written"},
                        {"min", "min and max limit commands, and serial_line points cannot be written"},
                        {"max", "min and max limit commands, and serial_line points cannot be written"}})
          : map_reader(doc_, node, label("point", node), register_point_keys,
                       {{"pattern", "it applies to points of a serial_line bus"}});
      point_spec point;
      point.name = read_name(map);
      const auto& name_entry = map.require("name");
      if (point.name == "status")
        doc_.fail(name_entry.value_location(),
                  "point name 'status' is reserved: <prefix>/<device>/status is the device's status topic");
      if (const auto [first, inserted] = names.try_emplace(point.name, name_entry.value_location()); !inserted)
        doc_.fail(name_entry.value_location(), fmt::format("duplicate point name '{}' in device '{}' (first at line {})",
                                                           point.name, device.name, first->second.line));
      if (line_points)
        load_line_point(map, point);
      else
        load_register_point(map, device, point);
      load_publishing(map, point);
      load_homeassistant_point(map, device.name, point.name);
      if (point.writable) check_overlap(map, device, point, lines);
      lines.push_back(where(node).line);
      device.points.push_back(std::move(point));
    }
  }

  static bool is_bit_table(register_table table) {
    return table == register_table::coil || table == register_table::discrete_input;
  }

  static bool is_numeric(value_type type) { return type != value_type::boolean && type != value_type::string; }

  void read_type(const map_reader& map, value_type& type) {
    map.read_choice("type", type,
                    {{"bool", value_type::boolean}, {"int16", value_type::int16}, {"uint16", value_type::uint16},
                     {"int32", value_type::int32}, {"uint32", value_type::uint32}, {"int64", value_type::int64},
                     {"uint64", value_type::uint64}, {"float32", value_type::float32},
                     {"float64", value_type::float64}, {"string", value_type::string}});
  }

  void load_register_point(const map_reader& map, const device_spec& device, point_spec& point) {
    map.require("table");
    map.read_choice("table", point.table,
                    {{"coil", register_table::coil}, {"discrete", register_table::discrete_input},
                     {"input", register_table::input_register}, {"holding", register_table::holding_register}});
    const auto& address = map.require("address");
    point.address = static_cast<std::uint16_t>(map.to_integer(address, 0, max_address));
    auto& format = point.format;
    const bool bits = is_bit_table(point.table);
    const auto table_name = to_string(point.table);
    // Default type: what the table holds, or one bit of a register when `bit` is given.
    format.type = bits || map.find("bit") != nullptr ? value_type::boolean : value_type::uint16;
    read_type(map, format.type);
    // Type mistakes are reported at the type, or at the address when the type is implied.
    const auto type_location = (map.find("type") != nullptr ? *map.find("type") : address).value_location();
    if (bits && format.type != value_type::boolean)
      doc_.fail(type_location,
                fmt::format("{} points hold single bits and must be type bool, got {}", table_name,
                            to_string(format.type)));
    map.read_choice("order", format.order,
                    {{"ABCD", word_order::abcd}, {"CDAB", word_order::cdab}, {"BADC", word_order::badc},
                     {"DCBA", word_order::dcba}});
    if (const auto* order = map.find("order"); order != nullptr && (bits || format.type == value_type::boolean))
      doc_.fail(order->value_location(), fmt::format("'order' applies to register values, not to {} points",
                                                     bits ? table_name : "bool"));
    if (const auto* bit = map.find("bit")) {
      if (bits)
        doc_.fail(where(bit->key_node), fmt::format("'bit' selects a bit of a register; {} points are bits already",
                                                    table_name));
      const auto type = format.type;
      if (type != value_type::boolean && type != value_type::int16 && type != value_type::uint16)
        doc_.fail(where(bit->key_node),
                  fmt::format("'bit' needs a 16-bit register type (bool, int16 or uint16), not {}", to_string(type)));
      format.bit = static_cast<std::uint8_t>(map.to_integer(*bit, 0, 15));
    } else if (!bits && format.type == value_type::boolean) {
      doc_.fail(type_location,
                fmt::format("a bool on a {} register needs 'bit' (0..15) to say which bit", table_name));
    }
    if (const auto* length = map.find("length")) {
      if (format.type != value_type::string)
        doc_.fail(where(length->key_node),
                  fmt::format("'length' applies to string points only, not {}", to_string(format.type)));
      format.length = static_cast<std::uint16_t>(map.to_integer(*length, 1, device.max_registers_per_request));
    } else if (format.type == value_type::string) {
      doc_.fail(type_location, "a string point needs 'length', its size in registers");
    }
    const auto span = register_count(format);
    if (!bits && span > device.max_registers_per_request)
      doc_.fail(type_location,
                fmt::format("point spans {} registers, more than the device's max_registers ({})", span,
                            device.max_registers_per_request));
    if (point.address + span - 1 > max_address)
      doc_.fail(address.value_location(),
                fmt::format("{} at address {} spans {} registers and runs past the last address 65535",
                            to_string(format.type), point.address, span));
    read_scaling(map, point);
    read_transform(map, point);
    map.read("writable", point.writable);
    if (point.writable && (point.table == register_table::discrete_input || point.table == register_table::input_register))
      doc_.fail(map.find("writable")->value_location(),
                fmt::format("{} points are read-only in Modbus; only coil and holding points can be writable",
                            table_name));
    map.read("min", point.min);
    map.read("max", point.max);
    for (const auto* limit : {map.find("min"), map.find("max")}) {
      if (limit != nullptr && !is_numeric(format.type))
        doc_.fail(where(limit->key_node),
                  fmt::format("'{}' applies to numeric points, not {}", limit->key, to_string(format.type)));
    }
    if (point.min && point.max && *point.min > *point.max)
      doc_.fail(map.find("max")->value_location(),
                fmt::format("'max' ({}) is less than 'min' ({})", *point.max, *point.min));
  }

  void load_line_point(const map_reader& map, point_spec& point) {
    point.table = register_table::input_register;  // read-only; the drivers ignore it for serial lines
    point.format.type = value_type::float64;
    const auto& pattern = map.require("pattern");
    point.pattern = map.to_string(pattern);
    // std::regex compiles (and matches) recursively: a bound keeps a hostile
    // pattern from exhausting the stack.
    constexpr std::size_t max_pattern = 512;
    if (point.pattern.size() > max_pattern)
      doc_.fail(pattern.value_location(), fmt::format("pattern is {} characters long; at most {} are allowed",
                                                      point.pattern.size(), max_pattern));
    try {
      const std::regex compiled(point.pattern, std::regex::ECMAScript);
      if (compiled.mark_count() == 0)
        doc_.fail(pattern.value_location(),
                  fmt::format("pattern '{}' has no capture group; put the value in ( )", point.pattern));
    } catch (const std::regex_error& error) {
      doc_.fail(pattern.value_location(), fmt::format("pattern '{}' is not a valid regular expression: {}",
                                                      point.pattern, error.what()));
    }
    read_type(map, point.format.type);
    read_scaling(map, point);
    read_transform(map, point);
  }

  // map, mask, shift, round: applied after decoding and scale/offset.
  void read_transform(const map_reader& map, point_spec& point) {
    auto& t = point.transform;
    const auto type = point.format.type;
    const bool integer = is_numeric(type) && type != value_type::float32 && type != value_type::float64;
    for (const char* key : {"mask", "shift"}) {
      const auto* e = map.find(key);
      if (e == nullptr) continue;
      if (!integer)
        doc_.fail(where(e->key_node), fmt::format("'{}' picks bits of an integer; {} points are not integers", key,
                                                  to_string(type)));
      if (point.format.scale != 1.0 || point.format.offset != 0.0)
        doc_.fail(where(e->key_node),
                  fmt::format("'{}' picks bits of the raw integer; it cannot be combined with scale or offset", key));
    }
    const int bits = std::min(63, 16 * register_count(point.format));
    if (const auto* e = map.find("mask")) {
      const auto widest = bits >= 63 ? INT64_MAX : (std::int64_t{1} << bits) - 1;
      t.mask = static_cast<std::uint64_t>(map.to_integer(*e, 1, widest));
    }
    std::int64_t shift = 0;
    if (map.read("shift", shift, 0, bits - 1)) t.shift = static_cast<std::uint8_t>(shift);
    if (const auto* e = map.find("round")) {
      if (!is_numeric(type))
        doc_.fail(where(e->key_node), fmt::format("'round' applies to numeric points, not {}", to_string(type)));
      t.round = static_cast<std::uint8_t>(map.to_integer(*e, 0, 15));
    }
    if (const auto* e = map.find("map")) {
      if (type == value_type::string)
        doc_.fail(where(e->key_node), "'map' names numbers; string points are text already");
      const auto& node = map.expect_map(*e);
      if (node.size() == 0) doc_.fail(e->value_location(), "'map' needs at least one 'number: name' entry");
      for (const auto& pair : node) {
        const entry key{"map", pair.first, pair.first};
        const entry label{"map", pair.first, pair.second};
        const auto number = map.to_integer(key, INT64_MIN + 1, INT64_MAX);
        auto name = map.to_string(label);
        for (const auto& [known_number, known_name] : t.map) {
          if (known_number == number)
            doc_.fail(where(pair.first), fmt::format("'map' lists {} twice", number));
          if (known_name == name)
            doc_.fail(where(pair.second),
                      fmt::format("'map' names {} and {} both '{}'; a command could not say which", known_number,
                                  number, name));
        }
        t.map.emplace_back(number, std::move(name));
      }
    }
  }

  void read_scaling(const map_reader& map, point_spec& point) {
    for (const auto* key : {"scale", "offset"}) {
      const auto* e = map.find(key);
      if (e != nullptr && !is_numeric(point.format.type))
        doc_.fail(where(e->key_node),
                  fmt::format("'{}' applies to numeric points, not {}", key, to_string(point.format.type)));
    }
    if (map.read("scale", point.format.scale) && point.format.scale == 0.0)
      doc_.fail(map.find("scale")->value_location(), "'scale' cannot be 0 (commands divide by it)");
    map.read("offset", point.format.offset);
  }

  void load_publishing(const map_reader& map, point_spec& point) {
    if (const auto* e = map.find("unit")) {
      point.unit = map.to_string(*e);
    }
    if (const auto* e = map.find("qos")) point.qos = static_cast<std::uint8_t>(map.to_integer(*e, 0, 2));
    if (const auto* e = map.find("retain")) point.retain = map.to_bool(*e);
    map.read_choice("publish", point.publish,
                    {{"always", publish_mode::always}, {"on_change", publish_mode::on_change}});
    if (const auto* e = map.find("deadband")) {
      if (point.publish != publish_mode::on_change)
        doc_.fail(where(e->key_node), "'deadband' needs 'publish: on_change'");
      if (!is_numeric(point.format.type))
        doc_.fail(where(e->key_node),
                  fmt::format("'deadband' applies to numeric points, not {}", to_string(point.format.type)));
      point.deadband = map.to_number(*e);
      if (point.deadband < 0) doc_.fail(e->value_location(), "'deadband' cannot be negative");
    }
    milliseconds heartbeat{0};
    if (map.read_duration("heartbeat", heartbeat, 0ms, 24h * 365)) {
      if (point.publish != publish_mode::on_change)
        doc_.fail(where(map.find("heartbeat")->key_node), "'heartbeat' needs 'publish: on_change'");
      point.heartbeat = heartbeat;
    }
  }

  // Two writable points on the same register (or the same bit of it) would
  // let one command silently change the other point.
  void check_overlap(const map_reader& map, const device_spec& device, const point_spec& point,
                     const std::vector<int>& lines) {
    const auto first = point.address;
    const auto last = first + register_count(point.format) - 1;
    for (std::size_t i = 0; i < device.points.size(); ++i) {
      const auto& other = device.points[i];
      if (!other.writable || other.table != point.table) continue;
      const auto other_first = other.address;
      const auto other_last = other_first + register_count(other.format) - 1;
      if (last < other_first || other_last < first) continue;
      if (point.format.bit && other.format.bit && *point.format.bit != *other.format.bit) continue;
      doc_.fail(map.find("address")->value_location(),
                fmt::format("writable point '{}' overlaps writable point '{}' (line {}) on {} {}", point.name,
                            other.name, lines[i], to_string(point.table),
                            std::max<int>(first, other_first)));
    }
  }

  // --- payload layouts (docs/gateway.md "Payload layouts") ----------------

  // A device's `layout:`; in the device layout its name is a topic level
  // right under the prefix, next to the gateway's own status and stats.
  void load_layout(const map_reader& map, const std::string& device) {
    auto layout = default_layout_;
    if (map.read_choice("layout", layout, {{"point", payload_layout::point}, {"device", payload_layout::device}})) device_layouts_[device] = layout;
    if (layout != payload_layout::device || (device != "status" && device != "stats")) return;
    const auto* e = map.find("layout");
    doc_.fail(e != nullptr ? e->value_location() : map.require("name").value_location(),
              fmt::format("device '{0}' cannot use the device layout: its topic <prefix>/{0} is the gateway's "
                          "{0} topic; rename the device or give it 'layout: point'",
                          device));
  }

  // --- http: the status page and metrics (docs/operations.md) -------------

  static inline const std::vector<std::string_view> http_keys{"listen", "token_file"};

  // RFC 6750's b64token: what an Authorization: Bearer header can carry, and
  // a query parameter too without escaping.
  static bool is_token_text(std::string_view token) {
    const auto last = token.find_last_not_of('=');
    if (last == std::string_view::npos) return false;
    return std::all_of(token.begin(), token.begin() + static_cast<std::ptrdiff_t>(last + 1), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
             c == '_' || c == '~' || c == '+' || c == '/';
    });
  }

  http_settings load_http(const map_reader& map) {
    http_settings http;
    const entry* listen = map.find("listen");
    if (listen != nullptr) {
      const auto text = map.to_string(*listen);
      std::string error;
      const auto parsed = split_host_port(text, error);
      if (!parsed) doc_.fail(listen->value_location(), "in 'listen': " + error);
      std::array<unsigned char, 16> address{};
      if (parsed->host != "localhost" && ::inet_pton(AF_INET, parsed->host.c_str(), address.data()) != 1 &&
          ::inet_pton(AF_INET6, parsed->host.c_str(), address.data()) != 1)
        doc_.fail(listen->value_location(),
                  fmt::format("'listen' takes an IP address and port (127.0.0.1:8080, 0.0.0.0:8080, \"[::1]:8080\"), "
                              "got '{}'",
                              text));
      http.listen = {parsed->host, parsed->port.value_or(8080)};
    }
    if (const auto* e = map.find("token_file")) {
      constexpr std::size_t longest_token = 4096;
      http.token_file = map.doc().resolve(map.to_string(*e));
      auto token = read_text_file(map, *e, http.token_file, longest_token + 2);
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
      if (token.size() < 16 || token.size() > longest_token || !is_token_text(token))
        doc_.fail(e->value_location(),
                  fmt::format("the token in '{}' must be one line of 16 to {} letters, digits or -._~+/ "
                              "(openssl rand -hex 32 makes one)",
                              map.to_string(*e), longest_token));
      http.token = std::move(token);
    }
    if (!is_loopback(http.listen.host) && http.token.empty())
      doc_.fail(listen->value_location(),
                fmt::format("'listen' {} is reachable beyond this machine: give 'token_file' too (every request "
                            "must then carry the token)",
                            to_string(http.listen)));
    return http;
  }

  // --- Home Assistant discovery (docs/gateway.md) -------------------------

  // --- sparkplug: the `sparkplug:` section, with mqtt.format: sparkplug_b ---
  static inline const std::vector<std::string_view> sparkplug_keys{"group_id", "edge_node_id", "primary_host_id",
                                                                   "data_qos"};
  void load_sparkplug(const map_reader& root, configuration& result) {
    auto& sp = result.sparkplug;
    sp.edge_node_id = result.gateway.name;
    const auto* section = root.find("sparkplug");
    const bool sparkplug = result.mqtt.format == message_format::sparkplug_b;
    if (section == nullptr) {
      if (!sparkplug) return;
      const auto* mqtt = root.find("mqtt");
      const map_reader m(doc_, root.expect_map(*mqtt), "mqtt", mqtt_keys);
      doc_.fail(m.find("format")->value_location(),
                "mqtt.format sparkplug_b needs a 'sparkplug' section with at least group_id");
    }
    if (!sparkplug)
      doc_.fail(section->key_node, "'sparkplug' applies only with mqtt.format: sparkplug_b (set it in mqtt, or "
                                   "leave 'sparkplug' out)");
    const map_reader map(doc_, root.expect_map(*section), "sparkplug", sparkplug_keys);
    auto read_id = [&](std::string_view key, std::string& out, bool required) {
      const auto* e = required ? &map.require(key) : map.find(key);
      if (e == nullptr) return;
      out = map.to_string(*e);
      if (!valid_name(out))
        doc_.fail(e->value_location(), fmt::format("{} '{}' may contain only letters, digits, '_', '-' and '.' "
                                                   "(it becomes a Sparkplug topic level)",
                                                   e->key, out));
    };
    read_id("group_id", sp.group_id, true);
    read_id("edge_node_id", sp.edge_node_id, false);
    read_id("primary_host_id", sp.primary_host_id, false);
    map.read("data_qos", sp.data_qos, 0, 1);
    if (homeassistant_enabled_)
      doc_.fail(root.find("homeassistant")->key_node,
                "Home Assistant discovery announces native topics; it cannot be enabled with mqtt.format: "
                "sparkplug_b");
  }

  static inline const std::vector<std::string_view> homeassistant_keys{"enabled", "discovery_prefix"};
  static inline const std::vector<std::string_view> homeassistant_point_keys{"device_class", "state_class", "icon",
                                                                             "name"};

  void load_homeassistant(const map_reader& map, homeassistant_settings& settings) {
    map.read("enabled", settings.enabled);
    if (const auto* e = map.find("discovery_prefix")) {
      settings.discovery_prefix = map.to_string(*e);
      check_topic_levels(*e, settings.discovery_prefix);
    }
    homeassistant_enabled_ = settings.enabled;
  }

  void load_homeassistant_device(const map_reader& map, const std::string& device) {
    homeassistant_device info;
    const bool manufacturer = map.read("manufacturer", info.manufacturer);
    const bool model = map.read("model", info.model);
    if (manufacturer || model) homeassistant_devices_[device] = std::move(info);
  }

  // A point's `homeassistant: false`, or its overrides; and, with discovery
  // on, the check that its discovery topic is its own.
  void load_homeassistant_point(const map_reader& map, const std::string& device, const std::string& point) {
    homeassistant_entity entity;
    const auto* e = map.find("homeassistant");
    if (e != nullptr) {
      if (e->value.IsMap()) {
        const map_reader overrides(doc_, e->value, fmt::format("homeassistant of point '{}'", point),
                                   homeassistant_point_keys);
        overrides.read("device_class", entity.device_class);
        if (const auto* sc = overrides.find("state_class")) {
          static const std::vector<std::string_view> classes{"measurement", "measurement_angle", "total",
                                                             "total_increasing"};
          entity.state_class = classes[overrides.to_choice(*sc, classes)];
        }
        overrides.read("icon", entity.icon);
        overrides.read("name", entity.name);
      } else if (map.to_bool(*e)) {
        doc_.fail(e->value_location(),
                  "'homeassistant' of a point is false (leave it out) or a map of device_class, state_class, "
                  "icon and name; true is the default");
      } else {
        entity.announce = false;
      }
      homeassistant_devices_[device].points[point] = entity;
    }
    if (!homeassistant_enabled_ || !entity.announce) return;
    // '.' becomes '_' in discovery topics, and device and point join with '_':
    // two points that end up with the same id would replace each other.
    const auto id = homeassistant_id(device) + "_" + homeassistant_id(point);
    const auto at = map.require("name").value_location();
    const auto [first, inserted] = homeassistant_ids_.try_emplace(id, device + "/" + point, at.line);
    if (!inserted)
      doc_.fail(at, fmt::format("point '{}/{}' and point '{}' (line {}) have the same Home Assistant id '{}'; "
                                "rename one or set 'homeassistant: false' on one",
                                device, point, first->second.first, first->second.second, id));
  }

  void check_unique(std::map<std::string, int, std::less<>>& seen, std::string_view kind, const std::string& name,
                    const entry& at) {
    const auto [first, inserted] = seen.try_emplace(name, where(at.value).line);
    if (!inserted) {
      const auto why = kind == "device" ? "; device names are topic levels and must be unique across all buses"
                                        : "";
      doc_.fail(at.value_location(),
                fmt::format("duplicate {} name '{}' (first at line {}){}", kind, name, first->second, why));
    }
  }

  const document& doc_;
  std::map<std::string, int, std::less<>> bus_names_;
  std::map<std::string, int, std::less<>> device_names_;  // serial_line buses count as devices
  bool homeassistant_enabled_ = false;
  payload_layout default_layout_ = payload_layout::point;
  std::map<std::string, payload_layout, std::less<>> device_layouts_;
  std::map<std::string, homeassistant_device, std::less<>> homeassistant_devices_;
  std::map<std::string, std::pair<std::string, int>> homeassistant_ids_;  // id -> "device/point", line
};

}  // namespace

configuration load_document(const document& doc, const YAML::Node& root) {
  return schema_loader(doc).load(root);
}

std::optional<std::string> read_at_most(std::istream& in, std::size_t limit) {
  std::string text;
  std::array<char, 16384> chunk;
  while (text.size() <= limit) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (in.bad()) return std::nullopt;
    text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
    if (in.eof()) break;
  }
  return text;
}

}  // namespace fieldbridge::config::detail
