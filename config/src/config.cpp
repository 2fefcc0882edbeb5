#include "fieldbridge/config/config.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "loader.hpp"

namespace fieldbridge::config {
namespace {

// The message quotes values from the file; a control character (a newline in
// a block scalar, bytes of a binary file) must not break the one-line format.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::vector<broker_address> brokers(const mqtt_settings& mqtt) {
  if (!mqtt.hosts.empty()) return mqtt.hosts;
  return {{mqtt.host, mqtt.port}};
}

config_error::config_error(std::string file, int line, int column, std::string message)
    : std::runtime_error(fmt::format("{}:{}:{}: {}", printable(file), line, column, printable(message))),
      file_(std::move(file)), line_(line), column_(column), message_(printable(message)) {}

std::string point_topic(const mqtt_settings& mqtt, const device_spec& device, const point_spec& point) {
  return fmt::format("{}/{}/{}", mqtt.topic_prefix, device.name, point.name);
}

payload_layout layout_of(const configuration& configuration, std::string_view device) {
  const auto it = configuration.device_layouts.find(device);
  return it == configuration.device_layouts.end() ? configuration.mqtt.layout : it->second;
}

std::string device_topic(const mqtt_settings& mqtt, std::string_view device) {
  return fmt::format("{}/{}", mqtt.topic_prefix, device);
}

std::string device_meta_topic(const mqtt_settings& mqtt, std::string_view device) {
  return fmt::format("{}/{}/meta", mqtt.topic_prefix, device);
}

bool is_serial_line(const bus_spec& bus) { return std::holds_alternative<serial_line_port>(bus.link); }

std::vector<std::string> warnings(const configuration& configuration) {
  std::vector<std::string> out;
  const auto& mqtt = configuration.mqtt;
  std::size_t qos2 = 0;
  for (const auto& bus : configuration.buses)
    for (const auto& device : bus.devices)
      for (const auto& point : device.points)
        if (point.qos.value_or(mqtt.qos) == 2) ++qos2;
  if (qos2 == 0) return out;
  const char* why = mqtt.clean_start ? "mqtt.clean_start is true"
                    : mqtt.protocol == mqtt_protocol::v5 && mqtt.session_expiry.count() == 0
                        ? "mqtt.session_expiry is 0"
                        : nullptr;
  if (why != nullptr)
    out.push_back(fmt::format(
        "{} QoS 2 point{} but {}: the broker forgets the session at every disconnect, so a message whose "
        "exchange was cut off is sent again as new and can arrive twice (exactly once holds within one "
        "connection only); set clean_start: false and a session_expiry that outlasts a restart",
        qos2, qos2 == 1 ? "" : "s", why));
  return out;
}

configuration load_string(std::string_view yaml_text, const std::string& name, const std::string& base_directory) {
  const detail::document doc(name, base_directory);
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string{yaml_text});
  } catch (const YAML::DeepRecursion& error) {
    doc.fail(detail::location{error.mark.line + 1, error.mark.column + 1},
             fmt::format("YAML syntax error: nesting deeper than {} levels", error.depth()));
  } catch (const YAML::Exception& error) {
    // yaml-cpp's own wording ("end of map not found") with its 0-based mark.
    doc.fail(detail::location{error.mark.line + 1, error.mark.column + 1}, "YAML syntax error: " + error.msg);
  }
  if (documents.size() > 1) doc.fail(documents[1], "expected one YAML document, found a second one");
  try {
    return detail::load_document(doc, documents.empty() ? YAML::Node{} : documents.front());
  } catch (const YAML::Exception& error) {
    // Not expected from the typed readers; kept so that no input can escape
    // as anything but a located configuration error.
    doc.fail(detail::location{error.mark.line + 1, error.mark.column + 1}, error.msg);
  }
}

configuration load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    throw config_error(path, 1, 1, fmt::format("cannot read the configuration file: {}", std::strerror(error)));
  }
  // Bounded, so that -c /dev/zero fails instead of filling the memory.
  constexpr std::size_t largest_file = 16u << 20;
  const auto text = detail::read_at_most(in, largest_file);
  if (!text) throw config_error(path, 1, 1, "cannot read the configuration file");
  if (text->size() > largest_file) throw config_error(path, 1, 1, "the configuration file is larger than 16MiB");
  const auto directory = std::filesystem::absolute(std::filesystem::path{path}).parent_path().string();
  return load_string(*text, path, directory);
}

}  // namespace fieldbridge::config
