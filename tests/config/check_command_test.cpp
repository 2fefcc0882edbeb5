// `fieldbridge check` as a user runs it: the point table for good files, one
// located message and exit 1 for bad ones, and never a crash.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fieldbridge/config/config.hpp"
#include "network.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge {
namespace {

using test::fieldbridge_binary;
using test::run_command;
using namespace std::chrono_literals;

const std::filesystem::path source_dir{FIELDBRIDGE_SOURCE_DIR};

std::vector<std::filesystem::path> shipped_configs() {
  std::vector<std::filesystem::path> files{source_dir / "config/fieldbridge.example.yaml"};
  for (const auto& entry : std::filesystem::directory_iterator(source_dir / "config/examples"))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  return files;
}

// The line of `output` that holds `needle`, or "" when none does.
std::string line_with(const std::string& output, const std::string& needle) {
  const auto at = output.find(needle);
  if (at == std::string::npos) return {};
  const auto begin = output.rfind('\n', at);
  const auto end = output.find('\n', at);
  return output.substr(begin == std::string::npos ? 0 : begin + 1,
                       end == std::string::npos ? std::string::npos : end - (begin == std::string::npos ? 0 : begin + 1));
}

// sparkplug: aliases and Sparkplug datatypes per metric, then the topics.
TEST(check_command, sparkplug_configurations_list_metrics_aliases_and_topics) {
  const auto result =
      run_command({fieldbridge_binary(), "check", "-c", (source_dir / "config/examples/sparkplug-edge-node.yaml").string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("ALIAS  DATATYPE  METRIC"), std::string::npos) << result.output;
  const auto voltage = line_with(result.output, " voltage\n");
  EXPECT_NE(voltage.find(" 1 "), std::string::npos) << voltage;
  EXPECT_NE(voltage.find(" Float "), std::string::npos) << voltage;
  EXPECT_NE(line_with(result.output, " fill-setpoint\n").find(" Double "), std::string::npos);
  for (const auto* topic : {"spBv1.0/plant1/NBIRTH/line-3 ", "spBv1.0/plant1/NDEATH/line-3 ", "spBv1.0/plant1/NCMD/line-3 ",
                            "spBv1.0/plant1/DBIRTH/line-3/meter1 ", "spBv1.0/plant1/DDATA/line-3/tank1 ",
                            "spBv1.0/plant1/DCMD/line-3/tank1 ", "spBv1.0/STATE/scada "})
    EXPECT_NE(result.output.find(topic), std::string::npos) << topic << "\n" << result.output;
}

TEST(check_command, shipped_configurations_pass_and_list_every_point) {
  for (const auto& file : shipped_configs()) {
    const auto result = run_command({fieldbridge_binary(), "check", "-c", file.string()});
    ASSERT_EQ(result.exit_code, 0) << file << "\n" << result.output;
    EXPECT_NE(result.output.find("BUS"), std::string::npos);
    const auto config = config::load_file(file.string());
    std::size_t points = 0;
    for (const auto& bus : config.buses) {
      for (const auto& device : bus.devices) {
        for (const auto& point : device.points) {
          ++points;
          // sparkplug: the row ends with the metric's name instead of a topic.
          const bool sparkplug = config.mqtt.format == config::message_format::sparkplug_b;
          const auto row = line_with(result.output, " " + (sparkplug ? point.name : config::point_topic(config.mqtt, device, point)) + "\n");
          ASSERT_FALSE(row.empty()) << point.name << " missing in\n" << result.output;
          EXPECT_EQ(row.rfind(bus.name + " ", 0), 0u) << row;
          EXPECT_NE(row.find(" " + device.name + " "), std::string::npos) << row;
        }
      }
    }
    EXPECT_NE(result.output.find(std::to_string(points) + " points"), std::string::npos) << result.output;
  }
}

TEST(check_command, table_row_shows_span_type_order_access_and_qos) {
  const auto result =
      run_command({fieldbridge_binary(), "check", "-c", (source_dir / "config/fieldbridge.example.yaml").string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // Collapse the column padding to compare the cells.
  auto cells = [](std::string row) {
    std::string collapsed;
    for (char c : row)
      if (c != ' ' || (collapsed.size() > 0 && collapsed.back() != ' ')) collapsed += c;
    return collapsed;
  };
  EXPECT_EQ(cells(line_with(result.output, "/meter1/voltage")),
            "rs485-1 meter1 1 input 0..1 float32 ABCD r 1 point fieldbridge/fieldbridge/meter1/voltage");
  EXPECT_EQ(cells(line_with(result.output, "/meter1/setpoint")),
            "rs485-1 meter1 1 holding 10 int16 x0.1 rw 1 point fieldbridge/fieldbridge/meter1/setpoint");
  EXPECT_EQ(cells(line_with(result.output, "/meter1/alarm")),
            "rs485-1 meter1 1 holding 20 bool bit 3 r 1 point fieldbridge/fieldbridge/meter1/alarm");
  EXPECT_EQ(cells(line_with(result.output, "/meter1/serial_number")),
            "rs485-1 meter1 1 holding 64..71 string len 8 r 1 point fieldbridge/fieldbridge/meter1/serial_number");
  EXPECT_EQ(cells(line_with(result.output, "/weather/temperature")),
            "weather weather - line /T=(-?[0-9.]+)/ float64 r 1 point fieldbridge/fieldbridge/weather/temperature");
  EXPECT_NE(result.output.find("3 buses, 3 devices, 9 points; broker localhost:1883 (MQTT 5)"), std::string::npos)
      << result.output;
}

TEST(check_command, lists_every_broker_of_a_failover_list_in_order) {
  test::temp_dir dir;
  const auto file = dir.write_file("failover.yaml", R"(mqtt:
  hosts: [ "a.example:8883", b.example, "[::1]:1884" ]
  tls: {}
buses:
  - name: b
    modbus_tcp: { host: h }
    devices:
      - { name: d, unit: 1, points: [ { name: p, table: holding, address: 0 } ] }
)");
  const auto result = run_command({fieldbridge_binary(), "check", "-c", file.string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("; brokers a.example:8883, b.example:8883, [::1]:1884 (MQTT 5, TLS, failover in this "
                               "order)"),
            std::string::npos)
      << result.output;
}

// http: the summary says where the status page listens and whether it
// asks for a token; a listener beyond loopback without one is refused.
TEST(check_command, prints_the_status_page_address) {
  test::temp_dir dir;
  const std::string buses = R"(buses:
  - name: b
    modbus_tcp: { host: h }
    devices:
      - { name: d, unit: 1, points: [ { name: p, table: holding, address: 0 } ] }
)";
  const auto local = dir.write_file("local.yaml", "http: { listen: 127.0.0.1:9180 }\n" + buses);
  auto result = run_command({fieldbridge_binary(), "check", "-c", local.string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find(local.string() + ": status page on http://127.0.0.1:9180/ (/status.json, /metrics; "
                                                "no token: this machine only)"),
            std::string::npos)
      << result.output;

  dir.write_file("token", "0123456789abcdef0123456789abcdef\n");
  const auto lan = dir.write_file("lan.yaml", "http: { listen: 0.0.0.0:9180, token_file: token }\n" + buses);
  result = run_command({fieldbridge_binary(), "check", "-c", lan.string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find(": status page on http://0.0.0.0:9180/ (/status.json, /metrics; token required)"),
            std::string::npos)
      << result.output;

  const auto open = dir.write_file("open.yaml", "http: { listen: 0.0.0.0:9180 }\n" + buses);
  result = run_command({fieldbridge_binary(), "check", "-c", open.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find(open.string() + ":1:17: 'listen' 0.0.0.0:9180 is reachable beyond this machine"),
            std::string::npos)
      << result.output;
}

// layout: one device in each layout, the other's `layout:` overriding
// mqtt.layout. The point map shows each device's layout and where its
// values go; --homeassistant points each entity at that topic.
const char* two_layouts_yaml = R"(gateway: { name: gw }
mqtt: { topic_prefix: site, layout: device }
homeassistant: { enabled: true }
buses:
  - name: b
    modbus_tcp: { host: h }
    devices:
      - name: meter1
        unit: 1
        points: [ { name: voltage, table: input, address: 0, type: float32, unit: V } ]
      - name: meter2
        unit: 2
        layout: point
        points: [ { name: voltage, table: input, address: 0, type: float32, unit: V } ]
)";

TEST(check_command, point_map_shows_each_devices_layout_and_topic) {
  test::temp_dir dir;
  const auto file = dir.write_file("layouts.yaml", two_layouts_yaml);
  const auto result = run_command({fieldbridge_binary(), "check", "-c", file.string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto meter1 = line_with(result.output, " meter1 ");
  const auto meter2 = line_with(result.output, " meter2 ");
  EXPECT_NE(meter1.find(" device  site/meter1 values.voltage"), std::string::npos) << result.output;
  EXPECT_NE(meter2.find(" point   site/meter2/voltage"), std::string::npos) << result.output;
}

TEST(check_command, homeassistant_follows_each_devices_layout) {
  test::temp_dir dir;
  const auto file = dir.write_file("layouts.yaml", two_layouts_yaml);
  const auto result = run_command({fieldbridge_binary(), "check", "-c", file.string(), "--homeassistant"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto meter1 = line_with(result.output, "homeassistant/sensor/gw/meter1_voltage/config ");
  const auto meter2 = line_with(result.output, "homeassistant/sensor/gw/meter2_voltage/config ");
  ASSERT_FALSE(meter1.empty()) << result.output;
  ASSERT_FALSE(meter2.empty()) << result.output;
  EXPECT_NE(meter1.find(R"("state_topic":"site/meter1")"), std::string::npos) << meter1;
  EXPECT_NE(meter1.find(R"("value_template":"{{ value_json['values']['voltage'] if 'voltage' in )"
                        R"(value_json['values'] else '' }}")"),
            std::string::npos)
      << meter1;
  EXPECT_NE(meter2.find(R"("state_topic":"site/meter2/voltage")"), std::string::npos) << meter2;
  EXPECT_NE(meter2.find(R"("value_template":"{{ value_json.value }}")"), std::string::npos) << meter2;
  // Everything else is the same for both.
  for (const auto* same : {R"("unit_of_measurement":"V")", R"("availability_mode":"all")"}) {
    EXPECT_NE(meter1.find(same), std::string::npos) << meter1;
    EXPECT_NE(meter2.find(same), std::string::npos) << meter2;
  }
}

TEST(check_command, documented_sample_output_is_the_real_output) {
  const auto example = (source_dir / "config/fieldbridge.example.yaml").string();
  auto result = run_command({fieldbridge_binary(), "check", "-c", example});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  // The docs show the path relative to the source tree.
  result.output.replace(result.output.find(example), example.size(), "config/fieldbridge.example.yaml");
  const auto docs = test::read_file(source_dir / "docs/configuration.md");
  const auto begin = docs.find("```\nBUS ");
  ASSERT_NE(begin, std::string::npos);
  const auto end = docs.find("```", begin + 4);
  EXPECT_EQ(docs.substr(begin + 4, end - begin - 4), result.output);
}

struct bad_file {
  const char* name;
  std::string text;
  std::string expected;  // after "FILE:"
};

TEST(check_command, bad_files_print_one_located_line_and_exit_1) {
  const std::string device =
      "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n        unit: 1\n"
      "        points:\n";
  const std::vector<bad_file> files{
      {"unknown_key", "mqtt:\n  prot: 1883\n", "2:3: unknown key 'prot' in mqtt; did you mean 'port'?"},
      {"syntax", "mqtt: {host: x\n", "2:1: YAML syntax error: end of map flow not found"},
      {"wrong_type", "mqtt: { port: [1] }\n", "1:15: expected an integer for 'port', got a list"},
      {"duration", "mqtt: { keepalive: 10 }\n",
       "1:20: 'keepalive': expected a duration such as 250ms, 1s, 5m, 1h or 1d; '10' has no unit"},
      {"size", "store: { max_size: 1.5GiB }\n",
       "1:20: 'max_size': expected a size such as 65536, 64KiB, 256MiB or 1GiB; unknown unit '.5GiB'"},
      {"password_file", "mqtt: { username: u, password_file: /nonexistent/p }\n",
       "1:37: cannot read password_file '/nonexistent/p': No such file or directory"},
      {"overlap",
       device + "          - { name: a, table: holding, address: 1, type: float32, writable: true }\n"
                "          - { name: b, table: holding, address: 2, type: int16, writable: true }\n",
       "9:49: writable point 'b' overlaps writable point 'a' (line 8) on holding 2"},
      {"unit_range", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x }\n    devices:\n      - name: d\n"
                     "        unit: 0\n",
       "6:15: 'unit' must be 1..247, got 0"},
      {"no_pattern", "buses:\n  - name: w\n    serial_line: { device: /dev/x }\n    points:\n      - { name: t }\n",
       "5:9: missing required key 'pattern' in point 't'"},
      {"deep_nesting", "buses: " + std::string(100000, '[') + "\n", ""},
      {"binary_garbage", std::string("\x00\xff\xfe\x01garbage\x7f", 12), ""},
  };
  const test::temp_dir dir;
  for (const auto& bad : files) {
    const auto path = dir.write_file(std::string{bad.name} + ".yaml", bad.text);
    const auto result = run_command({fieldbridge_binary(), "check", "-c", path.string()});
    EXPECT_EQ(result.exit_code, 1) << bad.name << "\n" << result.output;
    if (!bad.expected.empty()) {
      EXPECT_EQ(result.output, path.string() + ":" + bad.expected + "\n") << bad.name;
    } else {
      // Whatever yaml-cpp says about it: one located line, no crash.
      EXPECT_EQ(result.output.rfind(path.string() + ":", 0), 0u) << bad.name << "\n" << result.output;
      EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << bad.name << "\n"
                                                                                  << result.output;
    }
  }
}

TEST(check_command, connect_fails_when_no_broker_listens) {
  // The probe itself belongs to the MQTT client; here only that check hands
  // over after a good load and passes the probe's failure on.
  const test::temp_dir dir;
  const auto port = test::free_tcp_port();
  const auto path = dir.write_file(
      "c.yaml", "mqtt: { host: 127.0.0.1, port: " + std::to_string(port) +
                    ", reconnect: { min: 10ms, max: 10ms } }\n"
                    "buses:\n  - name: b\n    modbus_tcp: { host: 127.0.0.1 }\n    devices:\n"
                    "      - { name: d, unit: 1, points: [ { name: p, table: holding, address: 0 } ] }\n");
  const auto result = run_command({fieldbridge_binary(), "check", "-c", path.string(), "--connect"}, 30s);
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_NE(result.exit_code, 128 + SIGKILL) << "killed after the time-out\n" << result.output;
  EXPECT_NE(result.output.find("fieldbridge/fieldbridge/d/p"), std::string::npos) << result.output;
}

// Issue 9 item 9: QoS 2 with a session that ends with the connection loads,
// with a warning that exactly once then holds within one connection only.
TEST(check_command, qos2_with_clean_start_warns_and_passes) {
  const test::temp_dir dir;
  const std::string bus =
      "buses:\n  - name: b\n    modbus_tcp: { host: 127.0.0.1 }\n    devices:\n"
      "      - { name: d, unit: 1, points: [ { name: p, table: holding, address: 0, qos: 2 } ] }\n";
  const auto clean = dir.write_file("clean.yaml", "mqtt: { host: 127.0.0.1, clean_start: true }\n" + bus);
  auto result = run_command({fieldbridge_binary(), "check", "-c", clean.string()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("warning: 1 QoS 2 point but mqtt.clean_start is true"), std::string::npos)
      << result.output;
  const auto expiry = dir.write_file("expiry.yaml", "mqtt: { host: 127.0.0.1, session_expiry: 0 }\n" + bus);
  result = run_command({fieldbridge_binary(), "check", "-c", expiry.string()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("mqtt.session_expiry is 0"), std::string::npos) << result.output;
  const auto fine = dir.write_file("fine.yaml", "mqtt: { host: 127.0.0.1 }\n" + bus);
  result = run_command({fieldbridge_binary(), "check", "-c", fine.string()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("warning"), std::string::npos) << result.output;
}

TEST(check_command, missing_file) {
  const auto result = run_command({fieldbridge_binary(), "check", "-c", "/nonexistent/fieldbridge.yaml"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output,
            "/nonexistent/fieldbridge.yaml:1:1: cannot read the configuration file: No such file or directory\n");
}

TEST(check_command, endless_file) {
  const auto result = run_command({fieldbridge_binary(), "check", "-c", "/dev/zero"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.output, "/dev/zero:1:1: the configuration file is larger than 16MiB\n");
}

TEST(check_command, needs_a_config_file) {
  const auto result = run_command({fieldbridge_binary(), "check"});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("--config"), std::string::npos) << result.output;
}

TEST(check_command, help) {
  const auto result = run_command({fieldbridge_binary(), "check", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const auto* word : {"-c,--config", "--connect", "FILE:LINE:COL"})
    EXPECT_NE(result.output.find(word), std::string::npos) << word << "\n" << result.output;
}

TEST(fieldbridge_command, version) {
  const auto result = run_command({fieldbridge_binary(), "--version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, std::string{"fieldbridge "} + FIELDBRIDGE_VERSION + "\n");
}

TEST(fieldbridge_command, help_lists_every_subcommand) {
  const auto result = run_command({fieldbridge_binary(), "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const auto* command : {"run", "check", "read", "write", "probe", "scan", "simulate", "queue"})
    EXPECT_NE(result.output.find("  " + std::string{command} + " "), std::string::npos) << command << "\n"
                                                                                       << result.output;
  EXPECT_NE(result.output.find("--log-level"), std::string::npos);
}

TEST(fieldbridge_command, every_subcommand_has_help) {
  for (const auto* command : {"run", "check", "read", "write", "probe", "scan", "simulate", "queue"}) {
    const auto result = run_command({fieldbridge_binary(), command, "--help"});
    EXPECT_EQ(result.exit_code, 0) << command << "\n" << result.output;
    EXPECT_NE(result.output.find("Usage"), std::string::npos) << command << "\n" << result.output;
  }
}

TEST(check_command, log_level_is_accepted_and_changes_no_output) {
  const auto example = (source_dir / "config/fieldbridge.example.yaml").string();
  const auto plain = run_command({fieldbridge_binary(), "check", "-c", example});
  const auto quiet = run_command({fieldbridge_binary(), "--log-level", "debug", "check", "-c", example});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.output, plain.output);
}

// PRODUCT.md: --version and --log-level work everywhere, also after the subcommand.
TEST(fieldbridge_command, global_options_work_after_the_subcommand) {
  const auto example = (source_dir / "config/fieldbridge.example.yaml").string();
  const auto version = run_command({fieldbridge_binary(), "check", "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, std::string{"fieldbridge "} + FIELDBRIDGE_VERSION + "\n");
  const auto level = run_command({fieldbridge_binary(), "check", "-c", example, "--log-level", "warn"});
  EXPECT_EQ(level.exit_code, 0) << level.output;
  const auto bad = run_command({fieldbridge_binary(), "check", "-c", example, "--log-level", "loud"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("unknown log level 'loud'"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace fieldbridge
