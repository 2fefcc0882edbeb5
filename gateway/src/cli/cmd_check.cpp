// fieldbridge check: validate the configuration and print the point map.
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "commands.hpp"
#include "connect_probe.hpp"
#include "fieldbridge/config/config.hpp"
#include "fieldbridge/drivers/codec.hpp"
#include "run/homeassistant.hpp"
#include "sparkplug/model.hpp"  // sparkplug: the metric table

namespace fieldbridge::cli {
namespace {

struct check_options {
  std::string config_path;
  bool connect = false;
  bool homeassistant = false;
};

// Registers as "first..last" (0-based protocol addresses, inclusive), one
// number for a single register or bit.
std::string register_span(const point_spec& point) {
  const auto count = register_count(point.format);
  if (count <= 1) return std::to_string(point.address);
  return fmt::format("{}..{}", point.address, point.address + count - 1);
}

std::string describe_format(const point_spec& point, bool line_point) {
  const auto& format = point.format;
  std::string text{to_string(format.type)};
  if (register_count(format) > 1 && format.type != value_type::string && !line_point)
    text += fmt::format(" {}", to_string(format.order));
  if (format.bit) text += fmt::format(" bit {}", *format.bit);
  if (format.type == value_type::string && !line_point) text += fmt::format(" len {}", format.length);
  if (format.scale != 1.0) text += fmt::format(" x{}", format.scale);
  if (format.offset != 0.0) text += fmt::format(" {:+}", format.offset);
  if (!point.transform.empty()) text += " " + drivers::describe_transform(point.transform);
  return text;
}

using table_row = std::vector<std::string>;

void print_table(const std::vector<table_row>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        line += row[i];  // no trailing padding after the last column
      } else {
        line += fmt::format("{:<{}}  ", row[i], widths[i]);
      }
    }
    fmt::print("{}\n", line);
  }
}

void print_native_map(const config::configuration& configuration);
void print_summary(const config::configuration& configuration);

// sparkplug: with mqtt.format: sparkplug_b the point map names each point's
// metric (alias, Sparkplug datatype) instead of a topic, and the edge
// node's and devices' Sparkplug topics follow it.
void print_sparkplug_map(const config::configuration& configuration) {
  namespace spk = gateway::sparkplug;
  const spk::metric_table table(configuration);
  const auto& s = configuration.sparkplug;
  std::vector<table_row> rows{
      {"BUS", "DEVICE", "UNIT", "TABLE", "REGISTERS", "TYPE", "ACCESS", "QOS", "ALIAS", "DATATYPE", "METRIC"}};
  for (const auto& bus : configuration.buses) {
    const bool line_bus = config::is_serial_line(bus);
    for (const auto& device : bus.devices) {
      const auto* def = table.device(device.name);
      for (const auto& point : device.points) {
        const auto& metric = def->metrics[def->by_name.find(point.name)->second];
        rows.push_back({bus.name, device.name, line_bus ? "-" : std::to_string(device.unit),
                        line_bus ? "line" : std::string{to_string(point.table)},
                        line_bus ? "/" + point.pattern + "/" : register_span(point), describe_format(point, line_bus),
                        point.writable ? "rw" : "r", std::to_string(s.data_qos), std::to_string(metric.alias),
                        std::string(fieldbridge::sparkplug::name_of(metric.type)), metric.name});
      }
    }
  }
  print_table(rows);
  fmt::print("\n");
  std::vector<table_row> topics{{"MESSAGE", "TOPIC", "CARRIES"}};
  using spk::message_type;
  topics.push_back({"NBIRTH", spk::topic(s, message_type::nbirth), "bdSeq, Node Control/Rebirth (alias 0)"});
  topics.push_back({"NDEATH", spk::topic(s, message_type::ndeath), "bdSeq (the will; also sent at shutdown)"});
  topics.push_back({"NCMD", spk::topic(s, message_type::ncmd), "Node Control/Rebirth"});
  for (const auto& device : table.devices()) {
    topics.push_back({"DBIRTH", spk::topic(s, message_type::dbirth, device.name),
                      fmt::format("{} metric{}, with names, aliases, datatypes, current values", device.metrics.size(),
                                  device.metrics.size() == 1 ? "" : "s")});
    topics.push_back({"DDATA", spk::topic(s, message_type::ddata, device.name), "due metrics by alias"});
    topics.push_back({"DDEATH", spk::topic(s, message_type::ddeath, device.name), "when the device goes offline"});
    topics.push_back({"DCMD", spk::topic(s, message_type::dcmd, device.name), "writes of writable metrics"});
  }
  if (!s.primary_host_id.empty())
    topics.push_back({"STATE", spk::state_topic(s.primary_host_id), "the primary host: data only while it says online"});
  print_table(topics);
}

void print_point_map(const config::configuration& configuration) {
  if (configuration.mqtt.format == config::message_format::sparkplug_b) {  // sparkplug
    print_sparkplug_map(configuration);
  } else {
    print_native_map(configuration);
  }
  print_summary(configuration);
}

void print_native_map(const config::configuration& configuration) {
  std::vector<table_row> rows{
      {"BUS", "DEVICE", "UNIT", "TABLE", "REGISTERS", "TYPE", "ACCESS", "QOS", "LAYOUT", "TOPIC"}};
  for (const auto& bus : configuration.buses) {
    const bool line_bus = config::is_serial_line(bus);
    for (const auto& device : bus.devices) {
      // layout: in the device layout a point is a key of the device message.
      const bool device_layout = config::layout_of(configuration, device.name) == config::payload_layout::device;
      for (const auto& point : device.points) {
        const auto qos = point.qos.value_or(configuration.mqtt.qos);
        rows.push_back({bus.name, device.name, line_bus ? "-" : std::to_string(device.unit),
                        line_bus ? "line" : std::string{to_string(point.table)},
                        line_bus ? "/" + point.pattern + "/" : register_span(point),
                        describe_format(point, line_bus), point.writable ? "rw" : "r", std::to_string(qos),
                        device_layout ? "device" : "point",
                        device_layout ? config::device_topic(configuration.mqtt, device.name) + " values." + point.name
                                      : config::point_topic(configuration.mqtt, device, point)});
      }
    }
  }
  print_table(rows);
}

void print_summary(const config::configuration& configuration) {
  std::size_t devices = 0;
  std::size_t points = 0;
  for (const auto& bus : configuration.buses) {
    devices += bus.devices.size();
    for (const auto& device : bus.devices) points += device.points.size();
  }
  const auto& mqtt = configuration.mqtt;
  // failover: every broker of mqtt.hosts, in the order they are tried.
  const auto brokers = config::brokers(mqtt);
  std::string broker_text;
  for (const auto& broker : brokers) broker_text += (broker_text.empty() ? "" : ", ") + to_string(broker);
  fmt::print("{}: {} bus{}, {} device{}, {} point{}; {} {} (MQTT {}{}{})\n", configuration.source_path,
             configuration.buses.size(), configuration.buses.size() == 1 ? "" : "es", devices,
             devices == 1 ? "" : "s", points, points == 1 ? "" : "s", brokers.size() == 1 ? "broker" : "brokers",
             broker_text, mqtt.protocol == config::mqtt_protocol::v5 ? "5" : "3.1.1", mqtt.tls ? ", TLS" : "",
             brokers.size() == 1 ? "" : ", failover in this order");
  // http: where the status page will listen.
  if (const auto& http = configuration.http)
    fmt::print("{}: status page on http://{}/ (/status.json, /metrics; {})\n", configuration.source_path,
               to_string(http->listen), http->token.empty() ? "no token: this machine only" : "token required");
}

// `--homeassistant`: each discovery message as `mosquitto_sub -v` shows it,
// "TOPIC PAYLOAD", one a line (published retained).
void print_discovery(const config::configuration& configuration) {
  if (!configuration.homeassistant.enabled) {
    fmt::print("{}: Home Assistant discovery is off (homeassistant.enabled: false): nothing is announced\n",
               configuration.source_path);
    return;
  }
  const auto messages = gateway::discovery_messages(configuration);
  for (const auto& m : messages) fmt::print("{} {}\n", m.topic, m.payload);
  fmt::print("{}: {} Home Assistant entit{}, retained under '{}'; re-announced when '{}' says online\n",
             configuration.source_path, messages.size(), messages.size() == 1 ? "y" : "ies",
             configuration.homeassistant.discovery_prefix, gateway::discovery_status_topic(configuration));
}

int run_check(const check_options& options, const command_context& context) {
  config::configuration configuration;
  try {
    configuration = config::load_file(options.config_path);
  } catch (const config::config_error& error) {
    fmt::print(stderr, "{}\n", error.what());
    return exit_failure;
  }
  if (options.homeassistant)
    print_discovery(configuration);
  else
    print_point_map(configuration);
  // Warnings do not fail the check: the configuration runs, just not as it may seem.
  for (const auto& warning : config::warnings(configuration))
    fmt::print(stderr, "{}: warning: {}\n", configuration.source_path, warning);
  if (!options.connect) return exit_ok;
  std::fflush(stdout);
  // check logs at the command line's --log-level, not the file's gateway.log_level.
  return run_connect_probe(configuration, context.make_logger("check"));
}

}  // namespace

void add_check_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand(
      "check", "Validate the configuration and print every point with its bus, device, registers, type and topic");
  auto options = std::make_shared<check_options>();
  sub->add_option("-c,--config", options->config_path, "configuration file (YAML)")->required();
  sub->add_flag("--connect", options->connect,
                "also connect to the broker (each of mqtt.hosts in turn) and round-trip a probe message at "
                "QoS 0, 1 and 2");
  sub->add_flag("--homeassistant", options->homeassistant,
                "print the Home Assistant discovery messages (topic and retained config) instead of the point map");
  sub->footer(
      "On the first error, prints FILE:LINE:COL: message to stderr and exits 1.\n"
      "REGISTERS are 0-based protocol addresses, first..last inclusive.");
  sub->callback([options, &context] { context.exit_code = run_check(*options, context); });
}

}  // namespace fieldbridge::cli
