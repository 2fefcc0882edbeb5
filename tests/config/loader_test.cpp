// The loader on valid configurations: defaults, derived values and the
// model it produces for the drivers and the gateway.
#include <filesystem>
#include <random>
#include <typeinfo>
#include <string>

#include <gtest/gtest.h>

#include "fieldbridge/config/config.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::config {
namespace {

using namespace std::chrono_literals;

const std::string one_tcp_point =
    "buses:\n"
    "  - name: plc\n"
    "    modbus_tcp: { host: 127.0.0.1 }\n"
    "    devices:\n"
    "      - name: d\n"
    "        unit: 1\n"
    "        points:\n"
    "          - { name: p, table: holding, address: 0 }\n";

TEST(loader, defaults_of_a_minimal_configuration) {
  const auto config = load_string(one_tcp_point, "minimal.yaml");
  EXPECT_EQ(config.source_path, "minimal.yaml");
  EXPECT_EQ(config.gateway.name, "fieldbridge");
  EXPECT_EQ(config.gateway.log_level, "info");
  EXPECT_EQ(config.gateway.stats_interval, 60s);
  EXPECT_EQ(config.mqtt.host, "localhost");
  EXPECT_EQ(config.mqtt.port, 1883);
  EXPECT_EQ(config.mqtt.protocol, mqtt_protocol::v5);
  EXPECT_EQ(config.mqtt.client_id, "fieldbridge-fieldbridge");
  EXPECT_EQ(config.mqtt.topic_prefix, "fieldbridge/fieldbridge");
  EXPECT_EQ(config.mqtt.keepalive, 30s);
  EXPECT_FALSE(config.mqtt.clean_start);
  EXPECT_EQ(config.mqtt.session_expiry, 24h);
  EXPECT_FALSE(config.mqtt.tls);
  EXPECT_EQ(config.mqtt.qos, 1);
  EXPECT_FALSE(config.mqtt.retain);
  EXPECT_EQ(config.mqtt.payload, payload_format::json);
  EXPECT_EQ(config.mqtt.layout, payload_layout::point);
  EXPECT_EQ(layout_of(config, "anything"), payload_layout::point);
  EXPECT_EQ(config.mqtt.reconnect_min, 500ms);
  EXPECT_EQ(config.mqtt.reconnect_max, 30s);
  EXPECT_EQ(config.mqtt.max_inflight, 20);
  EXPECT_EQ(config.mqtt.max_packet_size, 1u << 20);
  EXPECT_EQ(config.store.path, "/var/lib/fieldbridge/queue.db");
  EXPECT_EQ(config.store.max_size, 256ull << 20);
  EXPECT_EQ(config.store.on_full, overflow_policy::drop_oldest);
  EXPECT_EQ(config.store.flush_interval, 1s);
  EXPECT_EQ(config.store.drain, drain_order::fifo);
  EXPECT_EQ(config.store.hot_path, "");  // the store's default directory

  ASSERT_EQ(config.buses.size(), 1u);
  const auto& bus = config.buses[0];
  EXPECT_EQ(bus.name, "plc");
  const auto& tcp = std::get<modbus_tcp_endpoint>(bus.link);
  EXPECT_EQ(tcp.host, "127.0.0.1");
  EXPECT_EQ(tcp.port, 502);
  EXPECT_EQ(bus.response_timeout, 500ms);
  EXPECT_EQ(bus.byte_timeout, 0ms);
  EXPECT_EQ(bus.inter_request_delay, 0ms);
  ASSERT_EQ(bus.devices.size(), 1u);
  const auto& device = bus.devices[0];
  EXPECT_EQ(device.unit, 1);
  EXPECT_EQ(device.poll_interval, 1s);
  EXPECT_EQ(device.max_registers_per_request, 125);
  EXPECT_EQ(device.max_bits_per_request, 2000);
  EXPECT_EQ(device.max_gap, 0);
  EXPECT_FALSE(device.force_multiple_write);
  EXPECT_EQ(device.offline_after_failures, 3u);
  ASSERT_EQ(device.points.size(), 1u);
  const auto& point = device.points[0];
  EXPECT_EQ(point.table, register_table::holding_register);
  EXPECT_EQ(point.format.type, value_type::uint16);
  EXPECT_EQ(point.format.order, word_order::abcd);
  EXPECT_FALSE(point.format.bit);
  EXPECT_EQ(point.format.scale, 1.0);
  EXPECT_EQ(point.format.offset, 0.0);
  EXPECT_FALSE(point.qos);
  EXPECT_FALSE(point.retain);
  EXPECT_EQ(point.publish, publish_mode::always);
  EXPECT_FALSE(point.writable);
  EXPECT_EQ(point_topic(config.mqtt, device, point), "fieldbridge/fieldbridge/d/p");
}

// sparkplug: mqtt.format and the sparkplug section, with their defaults.
TEST(loader, sparkplug_section_and_its_defaults) {
  const auto native = load_string("buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - { name: d, "
                                  "unit: 1, points: [ { name: p, table: holding, address: 0 } ] }\n",
                                  "t.yaml");
  EXPECT_EQ(native.mqtt.format, message_format::native);
  const auto c = load_string("gateway: { name: line-3 }\nmqtt: { format: sparkplug_b }\nsparkplug: { group_id: plant1 }\n"
                             "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - { name: d, unit: 1, "
                             "points: [ { name: p, table: holding, address: 0 } ] }\n",
                             "t.yaml");
  EXPECT_EQ(c.mqtt.format, message_format::sparkplug_b);
  EXPECT_EQ(c.sparkplug.group_id, "plant1");
  EXPECT_EQ(c.sparkplug.edge_node_id, "line-3");
  EXPECT_EQ(c.sparkplug.primary_host_id, "");
  EXPECT_EQ(c.sparkplug.data_qos, 0);
  const auto all = load_string("mqtt: { format: sparkplug_b }\nsparkplug: { group_id: g, edge_node_id: e.1, primary_host_id: "
                               "scada, data_qos: 1 }\nbuses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n"
                               "      - { name: d, unit: 1, points: [ { name: p, table: holding, address: 0 } ] }\n",
                               "t.yaml");
  EXPECT_EQ(all.sparkplug.edge_node_id, "e.1");
  EXPECT_EQ(all.sparkplug.primary_host_id, "scada");
  EXPECT_EQ(all.sparkplug.data_qos, 1);
}

TEST(loader, store_hot_path_is_a_directory_or_none) {
  const auto none = load_string("store: { hot_path: none }\n" + std::string(one_tcp_point), "/etc/fb/a.yaml");
  EXPECT_EQ(none.store.hot_path, "none");
  const auto dir = load_string("store: { hot_path: /run/fb }\n" + std::string(one_tcp_point), "/etc/fb/a.yaml");
  EXPECT_EQ(dir.store.hot_path, "/run/fb");
  EXPECT_THROW(load_string("store: { hot_path: \"\" }\n" + std::string(one_tcp_point), "a.yaml"), config_error);
}

TEST(loader, gateway_name_sets_client_id_and_prefix_defaults) {
  const auto config = load_string("gateway: { name: boiler-room }\n" + one_tcp_point, "x.yaml");
  EXPECT_EQ(config.mqtt.client_id, "fieldbridge-boiler-room");
  EXPECT_EQ(config.mqtt.topic_prefix, "fieldbridge/boiler-room");
  const auto explicit_names = load_string(
      "gateway: { name: g }\nmqtt: { client_id: c1, topic_prefix: plant1/boiler }\n" + one_tcp_point, "x.yaml");
  EXPECT_EQ(explicit_names.mqtt.client_id, "c1");
  EXPECT_EQ(explicit_names.mqtt.topic_prefix, "plant1/boiler");
  EXPECT_EQ(point_topic(explicit_names.mqtt, explicit_names.buses[0].devices[0],
                        explicit_names.buses[0].devices[0].points[0]),
            "plant1/boiler/d/p");
}

TEST(loader, protocol_accepts_five_and_three_one_one) {
  EXPECT_EQ(load_string("mqtt: { protocol: 5 }\n" + one_tcp_point, "x").mqtt.protocol, mqtt_protocol::v5);
  EXPECT_EQ(load_string("mqtt: { protocol: 3.1.1 }\n" + one_tcp_point, "x").mqtt.protocol, mqtt_protocol::v311);
  EXPECT_EQ(load_string("mqtt: { protocol: '3.1.1' }\n" + one_tcp_point, "x").mqtt.protocol, mqtt_protocol::v311);
}

TEST(loader, max_packet_size_takes_a_size) {
  EXPECT_EQ(load_string("mqtt: { max_packet_size: 64KiB }\n" + one_tcp_point, "x").mqtt.max_packet_size, 64u << 10);
  EXPECT_EQ(load_string("mqtt: { max_packet_size: 256MiB }\n" + one_tcp_point, "x").mqtt.max_packet_size, 256u << 20);
}

// http: off without the section; 127.0.0.1:8080 with an empty one; a token
// from a file (its line end cut), required beyond loopback only.
TEST(loader, http_section_listen_and_token) {
  EXPECT_FALSE(load_string(one_tcp_point, "a.yaml").http);
  const auto empty = load_string("http: {}\n" + one_tcp_point, "a.yaml");
  ASSERT_TRUE(empty.http);
  EXPECT_EQ(empty.http->listen, (network_endpoint{"127.0.0.1", 8080}));
  EXPECT_EQ(empty.http->token, "");
  const auto v6 = load_string("http: { listen: '[::1]:9100' }\n" + one_tcp_point, "a.yaml");
  EXPECT_EQ(v6.http->listen, (network_endpoint{"::1", 9100}));
  EXPECT_EQ(load_string("http: { listen: localhost }\n" + one_tcp_point, "a.yaml").http->listen,
            (network_endpoint{"localhost", 8080}));

  const test::temp_dir dir;
  dir.write_file("token", "0123456789abcdef0123456789abcdef\r\n");
  const auto lan = load_string("http: { listen: 0.0.0.0:8080, token_file: token }\n" + one_tcp_point, "a.yaml",
                               dir.path().string());
  EXPECT_EQ(lan.http->listen, (network_endpoint{"0.0.0.0", 8080}));
  EXPECT_EQ(lan.http->token, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(lan.http->token_file, (dir / "token").string());
}

TEST(loader, is_loopback_names_this_machine_only) {
  for (const auto* host : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) EXPECT_TRUE(is_loopback(host)) << host;
  for (const auto* host : {"0.0.0.0", "::", "192.168.1.5", "fd00::5", "::ffff:127.0.0.1", "gw.example", "", "128.0.0.1"})
    EXPECT_FALSE(is_loopback(host)) << host;
}

TEST(loader, hosts_lists_the_failover_brokers_in_order) {
  const auto plain = load_string("mqtt:\n  hosts: [ \"a.example:1884\", b.example, \"[::1]:1885\", \"[fe80::2]\" ]\n" +
                                     one_tcp_point,
                                 "x");
  const std::vector<broker_address> expected{
      {"a.example", 1884}, {"b.example", 1883}, {"::1", 1885}, {"fe80::2", 1883}};
  EXPECT_EQ(plain.mqtt.hosts, expected);
  EXPECT_EQ(brokers(plain.mqtt), expected);
  // host/port name the first, for whatever shows one broker.
  EXPECT_EQ(plain.mqtt.host, "a.example");
  EXPECT_EQ(plain.mqtt.port, 1884);
  EXPECT_EQ(to_string(expected[2]), "[::1]:1885");
  // Without a port an entry takes the TLS default, whatever the order of the keys.
  const auto tls = load_string("mqtt:\n  hosts: [ a, \"b:8884\" ]\n  tls: {}\n" + one_tcp_point, "x");
  EXPECT_EQ(tls.mqtt.hosts, (std::vector<broker_address>{{"a", 8883}, {"b", 8884}}));
  // The one-broker form is a list of one.
  const auto single = load_string("mqtt: { host: h, port: 1999 }\n" + one_tcp_point, "x");
  EXPECT_TRUE(single.mqtt.hosts.empty());
  EXPECT_EQ(brokers(single.mqtt), (std::vector<broker_address>{{"h", 1999}}));
}

TEST(loader, tls_defaults_the_port_to_8883_unless_given) {
  const auto tls = load_string("mqtt: { host: b, tls: {} }\n" + one_tcp_point, "x");
  ASSERT_TRUE(tls.mqtt.tls);
  EXPECT_EQ(tls.mqtt.port, 8883);
  EXPECT_TRUE(tls.mqtt.tls->verify_hostname);
  EXPECT_TRUE(tls.mqtt.tls->verify_certificate);
  EXPECT_TRUE(tls.mqtt.tls->ca_file.empty());
  const auto explicit_port = load_string(
      "mqtt: { port: 9999, tls: { verify_hostname: false, insecure_skip_verify: true } }\n" + one_tcp_point, "x");
  EXPECT_EQ(explicit_port.mqtt.port, 9999);
  EXPECT_FALSE(explicit_port.mqtt.tls->verify_hostname);
  EXPECT_FALSE(explicit_port.mqtt.tls->verify_certificate);
}

TEST(loader, relative_files_are_taken_from_the_config_directory) {
  const test::temp_dir dir;
  dir.write_file("mqtt.pass", "s3cret\r\n");
  dir.write_file("ca.pem", "not checked as PEM here\n");
  const auto path = dir.write_file(
      "fieldbridge.yaml",
      "mqtt:\n  username: gw\n  password_file: mqtt.pass\n  tls: { ca_file: ca.pem }\nstore: { path: q.db }\n" +
          one_tcp_point);
  const auto config = load_file(path.string());
  EXPECT_EQ(config.mqtt.password, "s3cret");  // the trailing newline is cut
  EXPECT_EQ(config.mqtt.tls->ca_file, (dir.path() / "ca.pem").string());
  EXPECT_EQ(config.store.path, (dir.path() / "q.db").string());
}

TEST(loader, password_file_keeps_inner_text) {
  const test::temp_dir dir;
  const auto file = dir.write_file("pass", "with space\n\n");
  const auto config = load_string("mqtt: { username: u, password_file: '" + file.string() + "' }\n" + one_tcp_point, "x");
  EXPECT_EQ(config.mqtt.password, "with space");
}

TEST(loader, register_points) {
  const auto config = load_string(
      "buses:\n"
      "  - name: rtu\n"
      "    modbus_rtu: { device: /dev/ttyUSB0, baud: 19200, parity: E, data_bits: 8, stop_bits: 2, rs485: yes }\n"
      "    timeout: 250ms\n"
      "    byte_timeout: 5ms\n"
      "    inter_request_delay: 10ms\n"
      "    devices:\n"
      "      - name: m\n"
      "        unit: 247\n"
      "        poll_interval: 2s\n"
      "        max_registers: 60\n"
      "        max_bits: 800\n"
      "        max_gap: 4\n"
      "        force_multiple_write: true\n"
      "        offline_after: 5\n"
      "        points:\n"
      "          - { name: f, table: input, address: 0x10, type: float64, order: DCBA, scale: 2.5, offset: -1 }\n"
      "          - { name: s, table: holding, address: 100, type: string, length: 10 }\n"
      "          - { name: b, table: holding, address: 3, bit: 15, writable: true }\n"
      "          - { name: b2, table: holding, address: 3, type: bool, bit: 14, writable: true }\n"
      "          - { name: c, table: coil, address: 65535, writable: true, qos: 0, retain: true }\n"
      "          - { name: w, table: holding, address: 65534, type: int32, writable: true, min: -5, max: 5.5 }\n"
      "          - { name: o, table: input, address: 9, type: int16, publish: on_change, deadband: 0.5, unit: V }\n",
      "x");
  const auto& bus = config.buses[0];
  const auto& rtu = std::get<modbus_rtu_line>(bus.link);
  EXPECT_EQ(rtu.device, "/dev/ttyUSB0");
  EXPECT_EQ(rtu.baud, 19200u);
  EXPECT_EQ(rtu.parity, 'E');
  EXPECT_EQ(rtu.stop_bits, 2);
  EXPECT_TRUE(rtu.rs485);
  EXPECT_EQ(bus.response_timeout, 250ms);
  EXPECT_EQ(bus.byte_timeout, 5ms);
  EXPECT_EQ(bus.inter_request_delay, 10ms);
  const auto& device = bus.devices[0];
  EXPECT_EQ(device.unit, 247);
  EXPECT_EQ(device.poll_interval, 2s);
  EXPECT_EQ(device.max_registers_per_request, 60);
  EXPECT_EQ(device.max_bits_per_request, 800);
  EXPECT_EQ(device.max_gap, 4);
  EXPECT_TRUE(device.force_multiple_write);
  EXPECT_EQ(device.offline_after_failures, 5u);
  const auto& points = device.points;
  ASSERT_EQ(points.size(), 7u);
  EXPECT_EQ(points[0].address, 16);
  EXPECT_EQ(points[0].table, register_table::input_register);
  EXPECT_EQ(points[0].format.type, value_type::float64);
  EXPECT_EQ(points[0].format.order, word_order::dcba);
  EXPECT_EQ(points[0].format.scale, 2.5);
  EXPECT_EQ(points[0].format.offset, -1.0);
  EXPECT_EQ(points[1].format.type, value_type::string);
  EXPECT_EQ(points[1].format.length, 10);
  EXPECT_EQ(register_count(points[1].format), 10);
  EXPECT_EQ(points[2].format.type, value_type::boolean);  // implied by bit
  EXPECT_EQ(points[2].format.bit, 15);
  EXPECT_EQ(points[3].format.bit, 14);
  EXPECT_EQ(points[4].table, register_table::coil);
  EXPECT_EQ(points[4].format.type, value_type::boolean);  // implied by the table
  EXPECT_EQ(points[4].qos, 0);
  EXPECT_EQ(points[4].retain, true);
  EXPECT_EQ(points[5].min, -5.0);
  EXPECT_EQ(points[5].max, 5.5);
  EXPECT_EQ(points[6].publish, publish_mode::on_change);
  EXPECT_EQ(points[6].deadband, 0.5);
  EXPECT_EQ(points[6].unit, "V");
}

TEST(loader, serial_line_bus_becomes_one_device_named_after_the_bus) {
  const auto config = load_string(
      "buses:\n"
      "  - name: weather\n"
      "    serial_line: { device: /dev/ttyACM0, baud: 115200, delimiter: \"\\r\\n\" }\n"
      "    points:\n"
      "      - { name: t, pattern: 'T=(-?[0-9.]+)', unit: C }\n"
      "      - { name: label, pattern: 'L=(\\w+)', type: string }\n",
      "x");
  const auto& bus = config.buses[0];
  EXPECT_TRUE(is_serial_line(bus));
  const auto& port = std::get<serial_line_port>(bus.link);
  EXPECT_EQ(port.baud, 115200u);
  EXPECT_EQ(port.delimiter, "\r\n");
  ASSERT_EQ(bus.devices.size(), 1u);
  EXPECT_EQ(bus.devices[0].name, "weather");
  EXPECT_EQ(bus.devices[0].unit, 0);
  ASSERT_EQ(bus.devices[0].points.size(), 2u);
  EXPECT_EQ(bus.devices[0].points[0].pattern, "T=(-?[0-9.]+)");
  EXPECT_EQ(bus.devices[0].points[0].format.type, value_type::float64);
  EXPECT_EQ(bus.devices[0].points[1].format.type, value_type::string);
  EXPECT_FALSE(bus.devices[0].points[0].writable);
}

TEST(loader, writable_points_may_share_a_register_on_different_bits_or_tables) {
  EXPECT_NO_THROW(load_string(
      "buses:\n"
      "  - name: b\n"
      "    modbus_tcp: { host: h }\n"
      "    devices:\n"
      "      - name: d\n"
      "        unit: 0\n"
      "        points:\n"
      "          - { name: a, table: holding, address: 0, bit: 0, writable: true }\n"
      "          - { name: b, table: holding, address: 0, bit: 1, writable: true }\n"
      "          - { name: c, table: coil, address: 0, writable: true }\n"
      "          - { name: d, table: holding, address: 1, type: uint32, writable: true }\n"
      "          - { name: e, table: holding, address: 1 }\n",
      "x"));
}

TEST(loader, yaml_anchors_and_comments_are_fine) {
  EXPECT_NO_THROW(load_string(
      "# comment\n"
      "buses:\n"
      "  - name: b   # trailing comment\n"
      "    modbus_tcp: &plc { host: h, port: 1502 }\n"
      "    devices:\n"
      "      - name: d\n"
      "        unit: 1\n"
      "        points: [ { name: p, table: input, address: 1 } ]\n"
      "  - name: b2\n"
      "    modbus_tcp: *plc\n"
      "    devices:\n"
      "      - { name: d2, unit: 1, points: [ { name: p, table: input, address: 1 } ] }\n",
      "x"));
}

TEST(loader, windows_line_ends_and_byte_order_mark) {
  std::string crlf;
  for (const char c : one_tcp_point) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  const auto config = load_string("\xEF\xBB\xBF" + crlf, "x");
  EXPECT_EQ(config.buses[0].devices[0].points[0].name, "p");
  try {
    load_string("mqtt:\r\n  prot: 1\r\n" + crlf, "x");
    FAIL() << "accepted";
  } catch (const config_error& error) {
    EXPECT_STREQ(error.what(), "x:2:3: unknown key 'prot' in mqtt; did you mean 'port'?");
  }
}

TEST(loader, example_configurations_load) {
  const std::filesystem::path source{FIELDBRIDGE_SOURCE_DIR};
  EXPECT_NO_THROW(load_file((source / "config/fieldbridge.example.yaml").string()));
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(source / "config/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    ++examples;
    EXPECT_NO_THROW(load_file(entry.path().string())) << entry.path();
  }
  EXPECT_GE(examples, 3);
}

TEST(loader, config_error_carries_its_parts) {
  try {
    load_string("buses: 5\n", "f.yaml");
    FAIL() << "no error";
  } catch (const config_error& error) {
    EXPECT_EQ(error.file(), "f.yaml");
    EXPECT_EQ(error.line(), 1);
    EXPECT_EQ(error.column(), 8);
    EXPECT_EQ(error.message(), "expected a list for 'buses', got '5'");
    EXPECT_STREQ(error.what(), "f.yaml:1:8: expected a list for 'buses', got '5'");
  }
}

TEST(loader, missing_file_is_a_located_error) {
  try {
    load_file("/nonexistent/fieldbridge.yaml");
    FAIL() << "no error";
  } catch (const config_error& error) {
    EXPECT_STREQ(error.what(),
                 "/nonexistent/fieldbridge.yaml:1:1: cannot read the configuration file: No such file or directory");
  }
}

}  // namespace
}  // namespace fieldbridge::config

namespace fieldbridge::config {
namespace {

// Mutations of the reference configuration (deterministic): every one either
// loads or fails with a located config_error; nothing else may escape, and
// nothing may crash (the sanitizer build runs this too).
TEST(loader, mutated_inputs_fail_only_with_config_error) {
  const auto reference =
      test::read_file(std::filesystem::path{FIELDBRIDGE_SOURCE_DIR} / "config/fieldbridge.example.yaml");
  std::mt19937 random(20261125);
  constexpr std::string_view alphabet = ":{}[],-'\"\n #&*!|>?0x9.\t\\%@`~";
  int rejected = 0;
  constexpr int rounds = 400;
  for (int round = 0; round < rounds; ++round) {
    std::string text = reference;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int edit = 0; edit < edits && !text.empty(); ++edit) {
      const auto at = random() % text.size();
      switch (random() % 4) {
        case 0: text.erase(at, 1 + random() % 8); break;
        case 1: text.insert(at, 1, alphabet[random() % alphabet.size()]); break;
        case 2: text[at] = static_cast<char>(random() % 256); break;
        default: text.resize(at); break;
      }
    }
    try {
      load_string(text, "mutated.yaml", "/nonexistent");
    } catch (const config_error& error) {
      ++rejected;
      EXPECT_GE(error.line(), 1);
      EXPECT_GE(error.column(), 1);
      EXPECT_EQ(std::string{error.what()}.find('\n'), std::string::npos) << error.what();
    } catch (const std::exception& error) {
      ADD_FAILURE() << "escaped as " << typeid(error).name() << ": " << error.what() << "\n" << text;
    }
  }
  EXPECT_GT(rejected, rounds / 2);  // the mutations do hit the validation
}

// layout: mqtt.layout for every device, a device's (or serial_line bus's)
// own `layout:` over it, and the device topics.
TEST(loader, layout_defaults_to_mqtt_layout_and_a_device_overrides_it) {
  const auto config = load_string(R"(mqtt: { topic_prefix: site, layout: device }
buses:
  - name: b
    modbus_tcp: { host: h }
    devices:
      - { name: m1, unit: 1, points: [ { name: p, table: holding, address: 0 } ] }
      - { name: m2, unit: 2, layout: point, points: [ { name: p, table: holding, address: 0 } ] }
  - name: w
    serial_line: { device: /dev/ttyACM0 }
    layout: point
    points: [ { name: t, pattern: 'T=(.*)' } ]
)",
                                  "layouts.yaml");
  EXPECT_EQ(config.mqtt.layout, payload_layout::device);
  EXPECT_EQ(layout_of(config, "m1"), payload_layout::device);
  EXPECT_EQ(layout_of(config, "m2"), payload_layout::point);
  EXPECT_EQ(layout_of(config, "w"), payload_layout::point);
  EXPECT_EQ(device_topic(config.mqtt, "m1"), "site/m1");
  EXPECT_EQ(device_meta_topic(config.mqtt, "m1"), "site/m1/meta");
  // A device named status or stats is fine in the point layout.
  EXPECT_NO_THROW(load_string(R"(buses:
  - name: b
    modbus_tcp: { host: h }
    devices: [ { name: status, unit: 1, points: [ { name: p, table: holding, address: 0 } ] } ]
)",
                              "status.yaml"));
}

}  // namespace
}  // namespace fieldbridge::config
