// The Home Assistant discovery configs, field by field, against the keys the
// Home Assistant documentation lists for each MQTT entity kind (full names
// only: the generator uses no abbreviations), and the announcer's state file.
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <gtest/gtest.h>

#include "process.hpp"
#include "run/homeassistant.hpp"
#include "run/homeassistant_announcer.hpp"
#include "run/payload.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::gateway {
namespace {

using ptree = boost::property_tree::ptree;
using keys = std::set<std::string>;

// Documented configuration variables, as listed on each page (the
// home-assistant.io sources, source/_integrations/<kind>.mqtt.markdown).
// Keys every MQTT entity page lists:
const keys common_keys{"availability", "availability_mode", "availability_template", "availability_topic",
                       "device", "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon",
                       "json_attributes_template", "json_attributes_topic", "name", "object_id", "platform",
                       "qos", "unique_id", "value_template"};
// https://www.home-assistant.io/integrations/sensor.mqtt/
const keys sensor_keys{"device_class", "expire_after", "force_update", "last_reset_value_template", "options",
                       "payload_available", "payload_not_available", "suggested_display_precision", "state_class",
                       "state_topic", "unit_of_measurement"};
// https://www.home-assistant.io/integrations/binary_sensor.mqtt/
const keys binary_sensor_keys{"device_class", "expire_after", "force_update", "off_delay", "payload_available",
                              "payload_not_available", "payload_off", "payload_on", "state_topic"};
// https://www.home-assistant.io/integrations/number.mqtt/
const keys number_keys{"command_template", "command_topic", "device_class", "min", "max", "mode", "optimistic",
                       "payload_reset", "retain", "state_topic", "step", "unit_of_measurement"};
// https://www.home-assistant.io/integrations/switch.mqtt/
const keys switch_keys{"command_template", "command_topic", "device_class", "optimistic", "payload_available",
                       "payload_not_available", "payload_off", "payload_on", "retain", "state_off", "state_on",
                       "state_topic"};
// https://www.home-assistant.io/integrations/select.mqtt/
const keys select_keys{"command_template", "command_topic", "optimistic", "options", "retain", "state_topic"};
// The `device` map (every page) and an `availability` item.
const keys device_keys{"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
                       "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"};
const keys availability_keys{"payload_available", "payload_not_available", "topic", "value_template"};
// https://www.home-assistant.io/integrations/mqtt/#discovery-payload: `origin`
// may be added to any discovery payload, with name, sw_version, support_url.
const keys discovery_keys{"origin"};
const keys origin_keys{"name", "sw_version", "support_url"};

keys documented(const std::string& component) {
  keys out = common_keys;
  out.insert(discovery_keys.begin(), discovery_keys.end());
  const auto& own = component == "sensor"          ? sensor_keys
                    : component == "binary_sensor" ? binary_sensor_keys
                    : component == "number"        ? number_keys
                    : component == "switch"        ? switch_keys
                                                   : select_keys;
  out.insert(own.begin(), own.end());
  return out;
}

keys keys_of(const ptree& tree) {
  keys out;
  for (const auto& [key, child] : tree) out.insert(key);
  return out;
}

std::vector<std::string> list_of(const ptree& tree) {
  std::vector<std::string> out;
  for (const auto& [key, child] : tree) out.push_back(child.data());
  return out;
}

ptree parse(const std::string& json) {
  std::istringstream in(json);
  ptree tree;
  boost::property_tree::read_json(in, tree);
  return tree;
}

const char* meter_yaml = R"(gateway: { name: boiler-room }
mqtt: { topic_prefix: plant1/boiler-room, payload: PAYLOAD }
homeassistant: { enabled: true }
buses:
  - name: rs485-1
    modbus_tcp: { host: 127.0.0.1 }
    devices:
      - name: meter1
        unit: 1
        manufacturer: Eastron
        model: SDM120
        points:
          - { name: voltage, table: input, address: 0, type: float32, unit: V }
          - { name: energy, table: input, address: 2, type: float32, unit: kWh, qos: 2 }
          - { name: temperature, table: input, address: 4, type: int16, unit: C, scale: 0.1 }
          - { name: humidity, table: input, address: 5, unit: '%', homeassistant: { device_class: humidity } }
          - { name: counts, table: input, address: 6, unit: pulses }
          - { name: setpoint, table: holding, address: 10, type: int16, scale: 0.1, writable: true, min: 0, max: 80 }
          - { name: speed, table: holding, address: 11, type: uint16, writable: true, unit: Hz }
          - { name: pump, table: coil, address: 0, type: bool, writable: true }
          - { name: alarm, table: discrete, address: 0, homeassistant: { device_class: problem, icon: 'mdi:alert', name: Alarm } }
          - { name: model, table: input, address: 20, type: string, length: 8 }
          - { name: mode, table: holding, address: 30, map: { 0: off, 1: auto, 2: manual }, writable: true }
          - { name: state, table: input, address: 31, map: { 0: stopped, 1: running } }
          - { name: field, table: holding, address: 32, mask: 0x00F0, shift: 4, writable: true }
          - { name: hidden, table: input, address: 40, homeassistant: false }
)";

config::configuration load(const std::string& payload = "json", std::string yaml = meter_yaml) {
  yaml.replace(yaml.find("PAYLOAD"), 7, payload);
  return config::load_string(yaml, "gw.yaml");
}

struct entity {
  discovery_message message;
  ptree config;
};

std::map<std::string, entity> entities(const config::configuration& c) {
  std::map<std::string, entity> out;
  for (const auto& m : discovery_messages(c)) out[m.point.empty() ? "<gateway>" : m.point] = {m, parse(m.payload)};
  return out;
}

// Every key documented for the kind, and the device, availability and
// origin maps' keys too.
void expect_documented(const entity& e) {
  const auto allowed = documented(e.message.component);
  for (const auto& key : keys_of(e.config))
    EXPECT_TRUE(allowed.count(key)) << e.message.component << " '" << e.message.point << "' has key " << key;
  for (const auto& key : keys_of(e.config.get_child("device")))
    EXPECT_TRUE(device_keys.count(key)) << "device key " << key;
  for (const auto& key : keys_of(e.config.get_child("origin")))
    EXPECT_TRUE(origin_keys.count(key)) << "origin key " << key;
  if (const auto availability = e.config.get_child_optional("availability")) {
    for (const auto& [unused, item] : *availability)
      for (const auto& key : keys_of(item)) EXPECT_TRUE(availability_keys.count(key)) << "availability key " << key;
  }
}

void expect_meter_device(const entity& e) {
  const auto& d = e.config.get_child("device");
  EXPECT_EQ(list_of(d.get_child("identifiers")), std::vector<std::string>{"fieldbridge_boiler-room_meter1"});
  EXPECT_EQ(d.get<std::string>("name"), "meter1");
  EXPECT_EQ(d.get<std::string>("manufacturer"), "Eastron");
  EXPECT_EQ(d.get<std::string>("model"), "SDM120");
  EXPECT_EQ(d.get<std::string>("via_device"), "fieldbridge_boiler-room");
  std::vector<std::string> topics;
  for (const auto& [unused, item] : e.config.get_child("availability")) topics.push_back(item.get<std::string>("topic"));
  EXPECT_EQ(topics, (std::vector<std::string>{"plant1/boiler-room/status", "plant1/boiler-room/meter1/status"}));
  EXPECT_EQ(e.config.get<std::string>("availability_mode"), "all");
  EXPECT_EQ(e.config.get<std::string>("origin.name"), "fieldbridge");
  EXPECT_EQ(e.message.topic, "homeassistant/" + e.message.component + "/boiler-room/meter1_" + e.message.point +
                                 "/config");
  EXPECT_EQ(e.config.get<std::string>("unique_id"), "fieldbridge_boiler-room_meter1_" + e.message.point);
  EXPECT_EQ(e.config.get<std::string>("state_topic"), "plant1/boiler-room/meter1/" + e.message.point);
}

TEST(homeassistant_discovery, every_kind_uses_only_documented_keys) {
  const auto all = entities(load());
  ASSERT_EQ(all.size(), 14u);  // the gateway and 13 points; `hidden` is left out
  EXPECT_FALSE(all.count("hidden"));
  for (const auto& [name, e] : all) expect_documented(e);
}

TEST(homeassistant_discovery, read_only_number_is_a_sensor_with_what_its_unit_says) {
  const auto all = entities(load());
  const auto& voltage = all.at("voltage");
  EXPECT_EQ(voltage.message.component, "sensor");
  expect_meter_device(voltage);
  EXPECT_EQ(keys_of(voltage.config),
            (keys{"name", "unique_id", "state_topic", "value_template", "unit_of_measurement", "device_class",
                  "state_class", "availability", "availability_mode", "qos", "device", "origin"}));
  EXPECT_EQ(voltage.config.get<std::string>("name"), "voltage");
  EXPECT_EQ(voltage.config.get<std::string>("value_template"), "{{ value_json.value }}");
  EXPECT_EQ(voltage.config.get<std::string>("unit_of_measurement"), "V");
  EXPECT_EQ(voltage.config.get<std::string>("device_class"), "voltage");
  EXPECT_EQ(voltage.config.get<std::string>("state_class"), "measurement");
  EXPECT_NE(voltage.message.payload.find(R"("qos":1)"), std::string::npos);

  const auto& energy = all.at("energy");
  EXPECT_EQ(energy.config.get<std::string>("device_class"), "energy");
  EXPECT_EQ(energy.config.get<std::string>("state_class"), "total_increasing");
  EXPECT_NE(energy.message.payload.find(R"("qos":2)"), std::string::npos);  // the point's QoS

  const auto& temperature = all.at("temperature");
  EXPECT_EQ(temperature.config.get<std::string>("unit_of_measurement"), "°C");  // as HA spells it
  EXPECT_EQ(temperature.config.get<std::string>("device_class"), "temperature");

  // %: many classes use it, so only the state_class; the override adds one.
  const auto& humidity = all.at("humidity");
  EXPECT_EQ(humidity.config.get<std::string>("device_class"), "humidity");
  EXPECT_EQ(humidity.config.get<std::string>("state_class"), "measurement");
  EXPECT_EQ(humidity.config.get<std::string>("unit_of_measurement"), "%");

  const auto& counts = all.at("counts");  // a unit that says nothing
  EXPECT_EQ(counts.config.get<std::string>("unit_of_measurement"), "pulses");
  EXPECT_FALSE(counts.config.get_child_optional("device_class"));
  EXPECT_FALSE(counts.config.get_child_optional("state_class"));
}

TEST(homeassistant_discovery, writable_number_is_a_number_with_limits_from_min_max_and_scale) {
  const auto all = entities(load());
  const auto& setpoint = all.at("setpoint");
  EXPECT_EQ(setpoint.message.component, "number");
  expect_meter_device(setpoint);
  EXPECT_EQ(setpoint.config.get<std::string>("command_topic"), "plant1/boiler-room/meter1/setpoint/set");
  EXPECT_NE(setpoint.message.payload.find(R"("min":0,"max":80,"step":0.1)"), std::string::npos)
      << setpoint.message.payload;
  EXPECT_FALSE(setpoint.config.get_child_optional("state_class"));  // numbers have none

  // Without min/max: the register's range; the step one raw count.
  const auto& speed = all.at("speed");
  EXPECT_NE(speed.message.payload.find(R"("min":0,"max":65535,"step":1)"), std::string::npos)
      << speed.message.payload;
  EXPECT_EQ(speed.config.get<std::string>("device_class"), "frequency");
  EXPECT_EQ(speed.config.get<std::string>("unit_of_measurement"), "Hz");
}

TEST(homeassistant_discovery, bools_speak_true_and_false_not_on_and_off) {
  const auto all = entities(load());
  const auto& pump = all.at("pump");
  EXPECT_EQ(pump.message.component, "switch");
  expect_meter_device(pump);
  EXPECT_EQ(pump.config.get<std::string>("command_topic"), "plant1/boiler-room/meter1/pump/set");
  // HA sends payload_on/off: commands that /set accepts.
  EXPECT_EQ(pump.config.get<std::string>("payload_on"), "true");
  EXPECT_EQ(pump.config.get<std::string>("payload_off"), "false");
  // Jinja renders a JSON true as "True": the template spells the state.
  EXPECT_EQ(pump.config.get<std::string>("value_template"), "{{ ('true' if value_json.value else 'false') }}");
  EXPECT_EQ(pump.config.get<std::string>("state_on"), "true");
  EXPECT_EQ(pump.config.get<std::string>("state_off"), "false");

  const auto& alarm = all.at("alarm");
  EXPECT_EQ(alarm.message.component, "binary_sensor");
  expect_meter_device(alarm);
  EXPECT_EQ(alarm.config.get<std::string>("payload_on"), "true");
  EXPECT_EQ(alarm.config.get<std::string>("payload_off"), "false");
  EXPECT_EQ(alarm.config.get<std::string>("value_template"), "{{ ('true' if value_json.value else 'false') }}");
  EXPECT_EQ(alarm.config.get<std::string>("device_class"), "problem");
  EXPECT_EQ(alarm.config.get<std::string>("icon"), "mdi:alert");
  EXPECT_EQ(alarm.config.get<std::string>("name"), "Alarm");
  EXPECT_FALSE(alarm.config.get_child_optional("command_topic"));
}

TEST(homeassistant_discovery, strings_and_mapped_points) {
  const auto all = entities(load());
  const auto& model = all.at("model");
  EXPECT_EQ(model.message.component, "sensor");
  EXPECT_FALSE(model.config.get_child_optional("unit_of_measurement"));
  EXPECT_FALSE(model.config.get_child_optional("device_class"));

  const auto& mode = all.at("mode");  // writable and mapped: the names are the commands
  EXPECT_EQ(mode.message.component, "select");
  expect_meter_device(mode);
  EXPECT_EQ(list_of(mode.config.get_child("options")), (std::vector<std::string>{"off", "auto", "manual"}));
  EXPECT_EQ(mode.config.get<std::string>("command_topic"), "plant1/boiler-room/meter1/mode/set");

  const auto& state = all.at("state");
  EXPECT_EQ(state.message.component, "sensor");
  EXPECT_EQ(state.config.get<std::string>("device_class"), "enum");
  EXPECT_EQ(list_of(state.config.get_child("options")), (std::vector<std::string>{"stopped", "running"}));
  EXPECT_FALSE(state.config.get_child_optional("state_class"));  // not with options
  EXPECT_FALSE(state.config.get_child_optional("unit_of_measurement"));

  // A packed field cannot be written on its own: read-only in HA too.
  const auto& field = all.at("field");
  EXPECT_EQ(field.message.component, "sensor");
  EXPECT_FALSE(field.config.get_child_optional("command_topic"));
}

TEST(homeassistant_discovery, the_gateway_is_a_device_with_its_connectivity) {
  const auto all = entities(load());
  const auto& gw = all.at("<gateway>");
  expect_documented(gw);
  EXPECT_EQ(gw.message.topic, "homeassistant/binary_sensor/boiler-room/status/config");
  EXPECT_EQ(gw.config.get<std::string>("state_topic"), "plant1/boiler-room/status");
  EXPECT_EQ(gw.config.get<std::string>("payload_on"), "online");
  EXPECT_EQ(gw.config.get<std::string>("payload_off"), "offline");
  EXPECT_EQ(gw.config.get<std::string>("device_class"), "connectivity");
  EXPECT_EQ(gw.config.get<std::string>("entity_category"), "diagnostic");
  EXPECT_EQ(list_of(gw.config.get_child("device.identifiers")), std::vector<std::string>{"fieldbridge_boiler-room"});
  EXPECT_FALSE(gw.config.get_child_optional("device.via_device"));
}

TEST(homeassistant_discovery, value_payloads_are_read_as_json) {
  const auto all = entities(load("value"));
  // The bare value: 230.4, true, or "FB-1" with its quotes.
  EXPECT_EQ(all.at("voltage").config.get<std::string>("value_template"), "{{ value_json }}");
  EXPECT_EQ(all.at("model").config.get<std::string>("value_template"), "{{ value_json }}");
  EXPECT_EQ(all.at("pump").config.get<std::string>("value_template"), "{{ ('true' if value_json else 'false') }}");
}

// meter_yaml with `layout: device` on meter1 (or `layout` as given).
std::string with_device_layout(const std::string& layout = "device") {
  auto yaml = std::string(meter_yaml);
  yaml.replace(yaml.find("        manufacturer:"), 0, "        layout: " + layout + "\n");
  return yaml;
}

TEST(homeassistant_discovery, device_layout_reads_the_device_message) {
  const auto c = load("json", with_device_layout());
  const auto all = entities(c);
  const auto& voltage = all.at("voltage");
  EXPECT_EQ(voltage.config.get<std::string>("state_topic"), "plant1/boiler-room/meter1");
  // A message carries only the points due in that poll; a numeric sensor
  // ignores the empty string.
  EXPECT_EQ(voltage.config.get<std::string>("value_template"),
            "{{ value_json['values']['voltage'] if 'voltage' in value_json['values'] else '' }}");
  EXPECT_EQ(all.at("pump").config.get<std::string>("value_template"),
            "{{ ('true' if value_json['values']['pump'] else 'false') if 'pump' in value_json['values'] else '' }}");
  // A text sensor would take '' as its state: it keeps its own instead.
  EXPECT_EQ(all.at("model").config.get<std::string>("value_template"),
            "{{ value_json['values']['model'] if 'model' in value_json['values'] else states(entity_id) }}");
  // Commands still go to the point's /set.
  EXPECT_EQ(all.at("pump").config.get<std::string>("command_topic"), "plant1/boiler-room/meter1/pump/set");
  for (const auto& [name, e] : all) expect_documented(e);
}

TEST(homeassistant_discovery, the_layout_follows_mqtt_layout_and_each_devices_override) {
  // mqtt.layout: device for every device, whatever mqtt.payload says (a
  // device message is always JSON).
  for (const auto* payload : {"json, layout: device", "value, layout: device"}) {
    const auto all = entities(load(payload));
    EXPECT_EQ(all.at("voltage").config.get<std::string>("state_topic"), "plant1/boiler-room/meter1") << payload;
    EXPECT_EQ(all.at("voltage").config.get<std::string>("value_template"),
              "{{ value_json['values']['voltage'] if 'voltage' in value_json['values'] else '' }}");
  }
  // The device's own `layout: point` wins over mqtt.layout: device.
  const auto back = entities(load("json, layout: device", with_device_layout("point")));
  EXPECT_EQ(back.at("voltage").config.get<std::string>("state_topic"), "plant1/boiler-room/meter1/voltage");
  EXPECT_EQ(back.at("voltage").config.get<std::string>("value_template"), "{{ value_json.value }}");
  // Availability, ids and the discovery topic do not depend on the layout.
  const auto point = entities(load());
  const auto device = entities(load("json", with_device_layout()));
  for (const auto& [name, e] : point) {
    EXPECT_EQ(device.at(name).message.topic, e.message.topic);
    for (const auto* key : {"unique_id", "availability_mode", "name", "unit_of_measurement", "device_class"})
      EXPECT_EQ(device.at(name).config.get<std::string>(key, ""), e.config.get<std::string>(key, "")) << name << key;
    const auto a = device.at(name).config.get_child_optional("availability");
    const auto b = e.config.get_child_optional("availability");
    ASSERT_EQ(static_cast<bool>(a), static_cast<bool>(b)) << name;
    if (a) {
      EXPECT_TRUE(*a == *b) << name;
    }
  }
}

TEST(homeassistant_discovery, ids_follow_names_not_topics) {
  auto yaml = std::string(meter_yaml);
  yaml.replace(yaml.find("plant1/boiler-room"), 18, "site9/elsewhere");
  const auto moved = entities(load("json", yaml));
  const auto before = entities(load());
  for (const auto& [name, e] : before) {
    EXPECT_EQ(moved.at(name).message.topic, e.message.topic);
    EXPECT_EQ(moved.at(name).config.get<std::string>("unique_id"), e.config.get<std::string>("unique_id"));
  }
  EXPECT_EQ(moved.at("voltage").config.get<std::string>("state_topic"), "site9/elsewhere/meter1/voltage");
}

TEST(homeassistant_discovery, off_by_default_and_prefix_configurable) {
  auto yaml = std::string(meter_yaml);
  yaml.replace(yaml.find("{ enabled: true }"), 17, "{ enabled: false }");
  EXPECT_TRUE(discovery_messages(load("json", yaml)).empty());
  yaml.replace(yaml.find("{ enabled: false }"), 18, "{ enabled: true, discovery_prefix: ha/disc }");
  const auto c = load("json", yaml);
  EXPECT_EQ(discovery_status_topic(c), "ha/disc/status");
  for (const auto& m : discovery_messages(c)) EXPECT_EQ(m.topic.rfind("ha/disc/", 0), 0u) << m.topic;
}

void expect_error(const std::string& yaml, const std::string& message) {
  try {
    config::load_string(yaml, "gw.yaml");
    ADD_FAILURE() << "no error for " << message;
  } catch (const config::config_error& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(homeassistant_discovery, configuration_errors) {
  const std::string head = "homeassistant: { enabled: true }\nbuses:\n  - name: b\n    modbus_tcp: { host: h }\n"
                           "    devices:\n      - name: d\n        unit: 1\n        points:\n";
  expect_error(head + "          - { name: a.b, table: input, address: 0 }\n"
                      "          - { name: a_b, table: input, address: 1 }\n",
               "gw.yaml:10:21: point 'd/a_b' and point 'd/a.b' (line 9) have the same Home Assistant id 'd_a_b'; "
               "rename one or set 'homeassistant: false' on one");
  expect_error(head + "          - { name: a, table: input, address: 0, homeassistant: true }\n",
               "gw.yaml:9:65: 'homeassistant' of a point is false (leave it out) or a map of device_class, "
               "state_class, icon and name; true is the default");
  expect_error(head + "          - { name: a, table: input, address: 0, homeassistant: { state_class: sum } }\n",
               "gw.yaml:9:80: expected measurement, measurement_angle, total or total_increasing for "
               "'state_class', got 'sum'");
  expect_error("homeassistant: { discovery_prefix: 'ha/#' }\nbuses: []\n",
               "gw.yaml:1:36: 'discovery_prefix' must be topic levels separated by single '/', without '+', '#' "
               "or a leading or trailing '/', got 'ha/#'");
}

// docs/gateway.md shows the configs of one meter exactly: its YAML and the
// `check --homeassistant` lines (with the version it was written with).
// Both documented examples: the meter in the point layout, and the same
// meter with the documented `mqtt:` line of the device layout.
TEST(homeassistant_discovery, the_documented_example_is_what_is_announced) {
  const auto docs = test::read_file(std::filesystem::path(FIELDBRIDGE_SOURCE_DIR) / "docs/gateway.md");
  const auto section = docs.find("The announced configs of one meter");
  ASSERT_NE(section, std::string::npos);
  const auto block = [&](const std::string& fence, std::size_t from) {
    const auto start = docs.find(fence + "\n", from);
    const auto end = docs.find("```\n", start + fence.size() + 1);
    return std::pair{docs.substr(start + fence.size() + 1, end - start - fence.size() - 1), end};
  };
  const auto announced = [](const std::string& yaml) {
    std::string out;
    for (const auto& m : discovery_messages(config::load_string(yaml, "meter.yaml"))) out += m.topic + " " + m.payload + "\n";
    const std::string version = std::string("\"sw_version\":\"") + FIELDBRIDGE_VERSION + "\"";
    const std::string documented_version = "\"sw_version\":\"0.1.0\"";
    for (auto at = out.find(version); at != std::string::npos; at = out.find(version, at + documented_version.size()))
      out.replace(at, version.size(), documented_version);
    return out;
  };
  const auto [yaml, yaml_end] = block("```yaml", section);
  const auto [lines, lines_end] = block("```text", yaml_end);
  EXPECT_EQ(announced(yaml), lines);

  const auto device_section = docs.find("The same meter in the device layout", lines_end);
  ASSERT_NE(device_section, std::string::npos);
  const auto [mqtt_line, mqtt_end] = block("```yaml", device_section);
  const auto [device_lines, device_end] = block("```text", mqtt_end);
  auto device_yaml = yaml;
  const auto mqtt_at = device_yaml.find("mqtt:");
  ASSERT_NE(mqtt_at, std::string::npos);
  device_yaml.replace(mqtt_at, device_yaml.find('\n', mqtt_at) + 1 - mqtt_at, mqtt_line);
  EXPECT_NE(device_yaml.find("layout: device"), std::string::npos) << device_yaml;
  EXPECT_EQ(announced(device_yaml), device_lines);
}

// The value_templates rendered by Jinja as Home Assistant renders MQTT
// values (a sandboxed environment; `value` the payload, `value_json` it
// parsed; `states` stands in for the entity's own state) on the payloads
// fieldbridge really publishes: what comes out is what the entity compares
// with payload_on/state_on or takes as its value.
// One Python run renders every case (a process per case is slow on a busy
// machine): argv holds template, payload, template, payload...; the results
// come back separated by the record separator 0x1e.
std::vector<std::string> render(const std::vector<std::pair<std::string, std::string>>& cases) {
  static const char* script = R"(import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment()
env.globals['states'] = lambda entity: 'kept'
args = sys.argv[1:]
for template, payload in zip(args[0::2], args[1::2]):
    variables = {'value': payload, 'entity_id': 'sensor.x'}
    try:
        variables['value_json'] = json.loads(payload)
    except ValueError:
        pass
    sys.stdout.write(env.from_string(template).render(**variables) + '\x1e')
)";
  std::vector<std::string> argv{"python3", "-c", script};
  for (const auto& [value_template, payload] : cases) {
    argv.push_back(value_template);
    argv.push_back(payload);
  }
  const auto r = test::run_command(argv, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> out;
  std::size_t from = 0;
  for (auto end = r.output.find('\x1e'); end != std::string::npos; end = r.output.find('\x1e', from)) {
    out.push_back(r.output.substr(from, end - from));
    from = end + 1;
  }
  return out;
}

std::string published(const point_value& value, config::payload_format format) {
  reading r{"meter1", "x", value, quality::good, "", wall_clock::now()};
  return reading_payload(r, "", format, false).value();
}

TEST(homeassistant_templates, render_what_the_entities_expect_from_real_payloads) {
  std::vector<std::pair<std::string, std::string>> cases;
  std::vector<std::string> expected;
  const auto expect = [&](std::string value_template, std::string payload, std::string result) {
    cases.emplace_back(std::move(value_template), std::move(payload));
    expected.push_back(std::move(result));
  };
  for (const auto format : {config::payload_format::json, config::payload_format::value}) {
    const auto all = entities(load(format == config::payload_format::json ? "json" : "value"));
    const auto tpl = [&](const char* point) { return all.at(point).config.get<std::string>("value_template"); };
    expect(tpl("voltage"), published(230.4, format), "230.4");
    expect(tpl("pump"), published(true, format), "true");  // state_on
    expect(tpl("pump"), published(false, format), "false");
    expect(tpl("alarm"), published(true, format), "true");  // payload_on
    expect(tpl("model"), published(std::string("FB-1"), format), "FB-1");
    expect(tpl("mode"), published(std::string("auto"), format), "auto");  // one of the options
  }
  // Without the template a JSON true would read as "True", matching neither state.
  expect("{{ value_json.value }}", published(true, config::payload_format::json), "True");

  // The device message (mqtt.layout: device) carries the points due in that
  // poll; the units are in the retained <prefix>/<device>/meta instead.
  const auto device = entities(load("json, layout: device"));
  const auto tpl = [&](const char* point) { return device.at(point).config.get<std::string>("value_template"); };
  const std::string message = R"({"ts":"2026-11-25T21:30:00.123Z","values":{"voltage":230.4,"pump":false,)"
                              R"("mode":"auto"}})";
  expect(tpl("voltage"), message, "230.4");
  expect(tpl("pump"), message, "false");
  expect(tpl("mode"), message, "auto");
  expect(tpl("setpoint"), message, "");   // not due: a number ignores ''
  expect(tpl("alarm"), message, "");      // a binary_sensor too
  expect(tpl("model"), message, "kept");  // a text sensor keeps its state
  expect(tpl("state"), message, "kept");

  const auto results = render(cases);
  ASSERT_EQ(results.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(results[i], expected[i]) << cases[i].first << " on " << cases[i].second;
  // `value_json.values` is the dict's method, not the member: hence the brackets.
  EXPECT_NE(render({{"{{ value_json.values }}", message}}).at(0).find("method"), std::string::npos);
}

TEST(homeassistant_announcer_state, written_atomically_and_read_back) {
  test::temp_dir dir("fieldbridge-ha-state");
  const auto path = (dir / "queue.db.homeassistant").string();
  EXPECT_TRUE(read_announced_topics(path).empty());
  const std::set<std::string> topics{"homeassistant/sensor/gw/d_a/config", "homeassistant/switch/gw/d_b/config"};
  ASSERT_TRUE(write_announced_topics(path, topics));
  EXPECT_EQ(read_announced_topics(path), topics);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  ASSERT_TRUE(write_announced_topics(path, {}));
  EXPECT_TRUE(read_announced_topics(path).empty());
  EXPECT_FALSE(write_announced_topics((dir / "missing" / "x").string(), topics));
}

TEST(homeassistant_announcer_state, lives_beside_the_store) {
  auto c = load();
  c.store.path = "/var/lib/fieldbridge/queue.db";
  EXPECT_EQ(homeassistant_state_path(c), "/var/lib/fieldbridge/queue.db.homeassistant");
}

}  // namespace
}  // namespace fieldbridge::gateway
