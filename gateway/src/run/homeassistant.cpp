#include "run/homeassistant.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "fieldbridge/core/text.hpp"
#include "run/mqtt_options.hpp"

namespace fieldbridge::gateway {
namespace {

// A JSON object written key by key, in the order given.
class json_object {
 public:
  json_object& raw(std::string_view key, std::string_view json) {
    out_ += out_.empty() ? '{' : ',';
    append_json_string(out_, key);
    out_ += ':';
    out_ += json;
    return *this;
  }
  json_object& text(std::string_view key, std::string_view value) { return raw(key, json_string(value)); }
  json_object& text_if(std::string_view key, std::string_view value) {
    return value.empty() ? *this : text(key, value);
  }
  json_object& number(std::string_view key, double value) {
    return raw(key, json_value(point_value{value}).value_or("0"));
  }
  std::string str() const { return out_.empty() ? "{}" : out_ + '}'; }

 private:
  std::string out_;
};

std::string json_text_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out += ',';
    append_json_string(out, item);
  }
  return out + ']';
}

// What a unit says without doubt: its device_class and state_class, and
// the unit as Home Assistant spells it for that class. Units that fit
// several classes (%, ppm) give a state_class only; unknown units nothing.
struct unit_meaning {
  std::string_view unit;
  std::string_view device_class;
  std::string_view state_class;
  std::string_view ha_unit;  // empty: as configured
};

constexpr std::array<unit_meaning, 27> unit_meanings{{
    {"V", "voltage", "measurement", ""},
    {"mV", "voltage", "measurement", ""},
    {"kV", "voltage", "measurement", ""},
    {"A", "current", "measurement", ""},
    {"mA", "current", "measurement", ""},
    {"W", "power", "measurement", ""},
    {"kW", "power", "measurement", ""},
    {"MW", "power", "measurement", ""},
    {"VA", "apparent_power", "measurement", ""},
    {"var", "reactive_power", "measurement", ""},
    {"Wh", "energy", "total_increasing", ""},
    {"kWh", "energy", "total_increasing", ""},
    {"MWh", "energy", "total_increasing", ""},
    {"°C", "temperature", "measurement", ""},
    {"C", "temperature", "measurement", "°C"},
    {"degC", "temperature", "measurement", "°C"},
    {"°F", "temperature", "measurement", ""},
    {"K", "temperature", "measurement", ""},
    {"Hz", "frequency", "measurement", ""},
    {"kHz", "frequency", "measurement", ""},
    {"Pa", "pressure", "measurement", ""},
    {"hPa", "pressure", "measurement", ""},
    {"kPa", "pressure", "measurement", ""},
    {"bar", "pressure", "measurement", ""},
    {"mbar", "pressure", "measurement", ""},
    {"%", "", "measurement", ""},
    {"ppm", "", "measurement", ""},
}};

const unit_meaning* meaning_of(std::string_view unit) {
  const auto it = std::find_if(unit_meanings.begin(), unit_meanings.end(),
                               [&](const unit_meaning& m) { return m.unit == unit; });
  return it == unit_meanings.end() ? nullptr : &*it;
}

enum class entity_kind { sensor, enum_sensor, binary_sensor, number, switch_, select };

std::string_view component_of(entity_kind kind) {
  switch (kind) {
    case entity_kind::sensor:
    case entity_kind::enum_sensor: return "sensor";
    case entity_kind::binary_sensor: return "binary_sensor";
    case entity_kind::number: return "number";
    case entity_kind::switch_: return "switch";
    case entity_kind::select: return "select";
  }
  return "sensor";
}

bool is_bool(const point_spec& point) {
  return point.format.type == value_type::boolean || point.format.bit.has_value() ||
         point.table == register_table::coil || point.table == register_table::discrete_input;
}

// What Home Assistant can do with the point: write only what a command can
// write (not strings, not a packed field), read everything.
entity_kind kind_of(const point_spec& point) {
  const bool commandable = point.writable && !point.transform.packs_bits() &&
                           point.format.type != value_type::string;
  if (!point.transform.map.empty()) return commandable ? entity_kind::select : entity_kind::enum_sensor;
  if (is_bool(point)) return commandable ? entity_kind::switch_ : entity_kind::binary_sensor;
  if (point.format.type == value_type::string) return entity_kind::sensor;
  return commandable ? entity_kind::number : entity_kind::sensor;
}

// The raw range of a register type, before scale and offset.
std::pair<double, double> type_range(value_type type) {
  switch (type) {
    case value_type::int16: return {-32768.0, 32767.0};
    case value_type::uint16: return {0.0, 65535.0};
    case value_type::int32: return {-2147483648.0, 2147483647.0};
    case value_type::uint32: return {0.0, 4294967295.0};
    case value_type::int64:
      return {static_cast<double>(std::numeric_limits<std::int64_t>::min()),
              static_cast<double>(std::numeric_limits<std::int64_t>::max())};
    case value_type::uint64: return {0.0, static_cast<double>(std::numeric_limits<std::uint64_t>::max())};
    case value_type::float32:
      return {-static_cast<double>(std::numeric_limits<float>::max()),
              static_cast<double>(std::numeric_limits<float>::max())};
    default: return {-std::numeric_limits<double>::max(), std::numeric_limits<double>::max()};
  }
}

bool is_integer_type(value_type type) {
  return type != value_type::float32 && type != value_type::float64 && type != value_type::string &&
         type != value_type::boolean;
}

struct number_limits {
  double min, max, step;
};

// What a command may send: min/max when configured, else what the register
// holds after scale and offset; the step one raw count (or the rounding),
// never below the 0.001 Home Assistant allows.
number_limits limits_of(const point_spec& point) {
  const auto& f = point.format;
  auto [low, high] = type_range(f.type);
  low = low * f.scale + f.offset;
  high = high * f.scale + f.offset;
  if (low > high) std::swap(low, high);
  double step = 0.001;
  if (point.transform.round) {
    step = std::pow(10.0, -static_cast<double>(*point.transform.round));
  } else if (is_integer_type(f.type)) {
    step = std::fabs(f.scale);
  }
  return {point.min.value_or(low), point.max.value_or(high), std::max(step, 0.001)};
}

// The JSON expression that holds the point's value in what fieldbridge
// publishes on the entity's state topic. `value_json.values` would be the
// dict's method in Jinja, hence the brackets.
struct value_source {
  std::string state_topic;
  std::string expression;
  std::string present;  // device layout: the test that this message carries the point; empty: always
};

value_source source_of(const config::configuration& configuration, const device_spec& device,
                       const point_spec& point, bool device_layout) {
  if (device_layout) {
    const auto quoted = "'" + point.name + "'";  // names are [A-Za-z0-9_.-]: safe in quotes
    return {config::device_topic(configuration.mqtt, device.name), "value_json['values'][" + quoted + "]",
            quoted + " in value_json['values']"};
  }
  const bool json = configuration.mqtt.payload == config::payload_format::json;
  return {config::point_topic(configuration.mqtt, device, point), json ? "value_json.value" : "value_json", ""};
}

// A device message carries only the points due in that poll; for the others
// the template renders what each entity kind documents as "ignored": an
// empty string (binary_sensor, number, switch, select, and sensors that
// expect a number), or the entity's own state for text sensors.
std::string value_template(entity_kind kind, const value_source& source, bool numeric_sensor) {
  std::string value = source.expression;
  if (kind == entity_kind::binary_sensor || kind == entity_kind::switch_)
    value = "('true' if " + source.expression + " else 'false')";  // Jinja prints a JSON true as True
  if (source.present.empty()) return "{{ " + value + " }}";
  const bool text_sensor = (kind == entity_kind::sensor && !numeric_sensor) || kind == entity_kind::enum_sensor;
  return "{{ " + value + " if " + source.present + " else " + (text_sensor ? "states(entity_id)" : "''") + " }}";
}

std::string availability(const config::configuration& configuration, const device_spec& device) {
  const auto prefix = topic_prefix(configuration);
  return "[" + json_object().text("topic", status_topic(prefix)).str() + "," +
         json_object().text("topic", device_status_topic(prefix, device.name)).str() + "]";
}

std::string origin() {
  return json_object()
      .text("name", "fieldbridge")
      .text("sw_version", FIELDBRIDGE_VERSION)
      .str();
}

std::string config_topic(const config::configuration& configuration, std::string_view component,
                         std::string_view object_id) {
  return configuration.homeassistant.discovery_prefix + "/" + std::string(component) + "/" +
         config::homeassistant_id(configuration.gateway.name) + "/" + std::string(object_id) + "/config";
}

std::string unique_id(const config::configuration& configuration, const device_spec& device,
                      const point_spec& point) {
  return homeassistant_device_identifier(configuration, device.name) + "_" + config::homeassistant_id(point.name);
}

std::string device_block(const config::configuration& configuration, const device_spec& device) {
  const auto info = configuration.homeassistant.device(device.name);
  return json_object()
      .raw("identifiers", json_text_list({homeassistant_device_identifier(configuration, device.name)}))
      .text("name", device.name)
      .text_if("manufacturer", info.manufacturer)
      .text_if("model", info.model)
      .text("via_device", homeassistant_gateway_identifier(configuration))
      .str();
}

// The gateway as a device of its own, with one entity: its connectivity,
// read from `<prefix>/status` (retained online, offline as the last will).
discovery_message gateway_message(const config::configuration& configuration) {
  const auto id = homeassistant_gateway_identifier(configuration);
  const auto device = json_object()
                          .raw("identifiers", json_text_list({id}))
                          .text("name", configuration.gateway.name)
                          .text("manufacturer", "fieldbridge")
                          .text("model", "fieldbridge gateway")
                          .text("sw_version", FIELDBRIDGE_VERSION)
                          .str();
  const auto payload = json_object()
                           .text("name", "status")
                           .text("unique_id", id + "_status")
                           .text("state_topic", status_topic(topic_prefix(configuration)))
                           .text("payload_on", "online")
                           .text("payload_off", "offline")
                           .text("device_class", "connectivity")
                           .text("entity_category", "diagnostic")
                           .number("qos", 1)
                           .raw("device", device)
                           .raw("origin", origin())
                           .str();
  return {config_topic(configuration, "binary_sensor", "status"), payload, "binary_sensor", "", ""};
}

discovery_message point_message(const config::configuration& configuration, const device_spec& device,
                                const point_spec& point, bool device_layout) {
  const auto overrides = configuration.homeassistant.point(device.name, point.name);
  const auto kind = kind_of(point);
  const auto source = source_of(configuration, device, point, device_layout);
  const auto qos = point.qos.value_or(configuration.mqtt.qos);

  // Unit, device_class and state_class: configured overrides first, then
  // what the unit says. A text or enum sensor has neither unit nor state_class.
  std::string unit = point.unit;
  std::string device_class = overrides.device_class;
  std::string state_class = overrides.state_class;
  const bool numeric = kind == entity_kind::sensor ? point.format.type != value_type::string
                                                   : kind == entity_kind::number;
  if (numeric) {
    if (const auto* meaning = meaning_of(point.unit)) {
      if (device_class.empty()) device_class = meaning->device_class;
      if (state_class.empty() && kind == entity_kind::sensor) state_class = meaning->state_class;
      if (!meaning->ha_unit.empty()) unit = meaning->ha_unit;
    }
  } else {
    unit.clear();
  }
  if (kind != entity_kind::sensor) state_class.clear();  // only sensors have one
  if (kind == entity_kind::enum_sensor && device_class.empty()) device_class = "enum";
  const bool numeric_sensor = kind == entity_kind::sensor && (!unit.empty() || !device_class.empty() ||
                                                              !state_class.empty());

  json_object config;
  config.text("name", overrides.name.empty() ? point.name : overrides.name)
      .text("unique_id", unique_id(configuration, device, point))
      .text("state_topic", source.state_topic)
      .text("value_template", value_template(kind, source, numeric_sensor));
  const auto command_topic = config::point_topic(configuration.mqtt, device, point) + "/set";
  std::vector<std::string> options;
  for (const auto& [number, label] : point.transform.map) options.push_back(label);
  switch (kind) {
    case entity_kind::sensor:
    case entity_kind::enum_sensor:
      if (kind == entity_kind::enum_sensor && device_class == "enum") config.raw("options", json_text_list(options));
      break;
    case entity_kind::binary_sensor:
      config.text("payload_on", "true").text("payload_off", "false");
      break;
    case entity_kind::number: {
      const auto limits = limits_of(point);
      config.text("command_topic", command_topic)
          .number("min", limits.min)
          .number("max", limits.max)
          .number("step", limits.step);
      break;
    }
    case entity_kind::switch_:
      // What HA sends (payload_*) is a command /set accepts, and what
      // fieldbridge publishes, through the template, is a state (state_*).
      config.text("command_topic", command_topic)
          .text("payload_on", "true")
          .text("payload_off", "false")
          .text("state_on", "true")
          .text("state_off", "false");
      break;
    case entity_kind::select:
      config.text("command_topic", command_topic).raw("options", json_text_list(options));
      break;
  }
  config.text_if("unit_of_measurement", unit)
      .text_if("device_class", device_class)
      .text_if("state_class", state_class)
      .text_if("icon", overrides.icon)
      .raw("availability", availability(configuration, device))
      .text("availability_mode", "all")
      .number("qos", qos)
      .raw("device", device_block(configuration, device))
      .raw("origin", origin());
  const auto object_id = config::homeassistant_id(device.name) + "_" + config::homeassistant_id(point.name);
  return {config_topic(configuration, component_of(kind), object_id), config.str(), std::string(component_of(kind)),
          device.name, point.name};
}

}  // namespace

std::string homeassistant_gateway_identifier(const config::configuration& configuration) {
  return "fieldbridge_" + config::homeassistant_id(configuration.gateway.name);
}

std::string homeassistant_device_identifier(const config::configuration& configuration, std::string_view device) {
  return homeassistant_gateway_identifier(configuration) + "_" + config::homeassistant_id(device);
}

std::string discovery_status_topic(const config::configuration& configuration) {
  return configuration.homeassistant.discovery_prefix + "/status";
}

std::vector<discovery_message> discovery_messages(const config::configuration& configuration) {
  std::vector<discovery_message> out;
  if (!configuration.homeassistant.enabled) return out;
  out.push_back(gateway_message(configuration));
  for (const auto& bus : configuration.buses) {
    for (const auto& device : bus.devices) {
      const bool layout = config::layout_of(configuration, device.name) == config::payload_layout::device;
      for (const auto& point : device.points) {
        if (!configuration.homeassistant.point(device.name, point.name).announce) continue;
        out.push_back(point_message(configuration, device, point, layout));
      }
    }
  }
  return out;
}

}  // namespace fieldbridge::gateway
