// Bad configurations, one per row: the YAML, and the exact
// "LINE:COL: message" that load_string must throw. The message must say
// what was expected; the location must be the offending key or value.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fieldbridge/config/config.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::config {
namespace {

struct bad_config {
  const char* name;
  std::string yaml;
  std::string expected;  // "LINE:COL: message"
};

std::ostream& operator<<(std::ostream& out, const bad_config& row) { return out << row.name; }

// One Modbus TCP device whose points follow; the first point is on line 8,
// its "- " at column 11 and a flow map's "{" at column 13.
const std::string tcp_points =
    "buses:\n"
    "  - name: b\n"
    "    modbus_tcp: { host: h }\n"
    "    devices:\n"
    "      - name: d\n"
    "        unit: 1\n"
    "        points:\n";

// A serial_line bus whose points follow from line 4 ("- " at column 7).
const std::string line_points =
    "buses:\n"
    "  - name: w\n"
    "    serial_line: { device: /dev/ttyACM0 }\n"
    "    points:\n";

// A valid buses section to append after other sections.
const std::string good_buses = tcp_points + "          - { name: p, table: holding, address: 0 }\n";

std::vector<bad_config> rows() {
  return {
      // --- YAML itself -------------------------------------------------------
      {"yaml_syntax", "gateway: [1,\nbuses: 2\n", "3:1: YAML syntax error: end of sequence flow not found"},
      {"yaml_tab", "gateway:\n\tname: x\n", "2:6: YAML syntax error: illegal map value"},
      {"yaml_bad_anchor", "gateway: *nothing\n", "1:10: YAML syntax error: the referenced anchor is not defined"},
      {"yaml_too_deep", "buses: " + std::string(600, '[') + "\n",
       "2:1: YAML syntax error: nesting deeper than 500 levels"},
      {"control_characters_are_escaped", "mqtt:\n  port: |\n    a\n    b\n" + good_buses,
       "2:9: expected an integer for 'port', got the quoted string 'a\\nb\\n'"},
      {"empty_file", "", "1:1: the configuration is empty; expected a map with gateway, mqtt, store and buses"},
      {"root_is_list", "- a\n- b\n", "1:1: expected a map for the configuration, got a list"},
      {"two_documents", good_buses + "---\nfoo: 1\n", "10:1: expected one YAML document, found a second one"},
      {"unknown_top_key_suggestion", "gatway:\n  name: x\n" + good_buses,
       "1:1: unknown key 'gatway' in the configuration; did you mean 'gateway'?"},
      {"unknown_top_key_list", "plugins: []\n" + good_buses,
       "1:1: unknown key 'plugins' in the configuration; expected gateway, mqtt, store, buses, homeassistant, "
       "http or sparkplug"},
      {"duplicate_key", "mqtt:\n  host: a\n  port: 1\n  host: b\n" + good_buses,
       "4:3: duplicate key 'host' in mqtt (first at line 2)"},
      {"non_scalar_key", "? [a]\n: 1\n" + good_buses, "1:3: expected a plain key in the configuration, got a list"},
      {"missing_buses", "gateway: { name: g }\n", "1:1: missing required key 'buses' in the configuration"},
      {"buses_empty", "buses: []\n", "1:8: expected at least one bus in 'buses'"},
      {"buses_is_map", "buses: { a: 1 }\n", "1:8: expected a list for 'buses', got a map"},
      {"buses_empty_value", "buses:\n", "1:1: expected a list for 'buses', got nothing"},

      // --- sparkplug (mqtt.format: sparkplug_b) ---------------------------------
      {"sparkplug_format_unknown", "mqtt: { format: sparkplug }\n" + good_buses,
       "1:17: expected native or sparkplug_b for 'format', got 'sparkplug' (did you mean 'sparkplug_b'?)"},
      {"sparkplug_format_without_section", "mqtt: { format: sparkplug_b }\n" + good_buses,
       "1:17: mqtt.format sparkplug_b needs a 'sparkplug' section with at least group_id"},
      {"sparkplug_section_without_format", "sparkplug: { group_id: g }\n" + good_buses,
       "1:1: 'sparkplug' applies only with mqtt.format: sparkplug_b (set it in mqtt, or leave 'sparkplug' out)"},
      {"sparkplug_group_missing", "mqtt: { format: sparkplug_b }\nsparkplug: { edge_node_id: e }\n" + good_buses,
       "2:12: missing required key 'group_id' in sparkplug"},
      {"sparkplug_group_with_slash", "mqtt: { format: sparkplug_b }\nsparkplug: { group_id: a/b }\n" + good_buses,
       "2:24: group_id 'a/b' may contain only letters, digits, '_', '-' and '.' (it becomes a Sparkplug topic level)"},
      {"sparkplug_host_with_wildcard",
       "mqtt: { format: sparkplug_b }\nsparkplug: { group_id: g, primary_host_id: '#' }\n" + good_buses,
       "2:44: primary_host_id '#' may contain only letters, digits, '_', '-' and '.' (it becomes a Sparkplug topic level)"},
      {"sparkplug_data_qos_2", "mqtt: { format: sparkplug_b }\nsparkplug: { group_id: g, data_qos: 2 }\n" + good_buses,
       "2:37: 'data_qos' must be 0..1, got 2"},
      {"sparkplug_unknown_key", "mqtt: { format: sparkplug_b }\nsparkplug: { group_id: g, edge: e }\n" + good_buses,
       "2:27: unknown key 'edge' in sparkplug; expected group_id, edge_node_id, primary_host_id or data_qos"},
      {"sparkplug_with_homeassistant",
       "mqtt: { format: sparkplug_b }\nsparkplug: { group_id: g }\nhomeassistant: { enabled: true }\n" + good_buses,
       "3:1: Home Assistant discovery announces native topics; it cannot be enabled with mqtt.format: sparkplug_b"},

      // --- gateway ----------------------------------------------------------
      {"gateway_is_scalar", "gateway: boiler\n" + good_buses, "1:10: expected a map for 'gateway', got 'boiler'"},
      {"gateway_name_slash", "gateway: { name: a/b }\n" + good_buses,
       "1:18: name 'a/b' may contain only letters, digits, '_', '-' and '.' (it becomes an MQTT topic level)"},
      {"log_level_unknown", "gateway: { log_level: verbose }\n" + good_buses,
       "1:23: expected trace, debug, info, warn, error, critical or off for 'log_level', got 'verbose'"},
      {"stats_interval_too_short", "gateway: { stats_interval: 500ms }\n" + good_buses,
       "1:28: 'stats_interval' must be 0 (off) or at least 1s"},

      // --- mqtt -------------------------------------------------------------
      {"mqtt_is_list", "mqtt: [a]\n" + good_buses, "1:7: expected a map for 'mqtt', got a list"},
      {"port_not_number", "mqtt: { port: abc }\n" + good_buses, "1:15: expected an integer for 'port', got 'abc'"},
      {"port_quoted", "mqtt: { port: \"1883\" }\n" + good_buses,
       "1:15: expected an integer for 'port', got the quoted string '1883'"},
      {"port_range", "mqtt: { port: 70000 }\n" + good_buses, "1:15: 'port' must be 1..65535, got 70000"},
      {"port_zero", "mqtt: { port: 0 }\n" + good_buses, "1:15: 'port' must be 1..65535, got 0"},
      {"port_float", "mqtt: { port: 1883.5 }\n" + good_buses, "1:15: expected an integer for 'port', got '1883.5'"},
      {"port_empty", "mqtt:\n  port:\n" + good_buses, "2:3: expected an integer for 'port', got nothing"},
      {"protocol_four", "mqtt: { protocol: 4 }\n" + good_buses,
       "1:19: expected 5 or 3.1.1 for 'protocol', got '4'"},
      {"qos_three", "mqtt: { qos: 3 }\n" + good_buses, "1:14: 'qos' must be 0..2, got 3"},
      {"keepalive_bare_number", "mqtt: { keepalive: 30 }\n" + good_buses,
       "1:20: 'keepalive': expected a duration such as 250ms, 1s, 5m, 1h or 1d; '30' has no unit"},
      {"keepalive_fraction", "mqtt: { keepalive: 1500ms }\n" + good_buses,
       "1:20: 'keepalive' must be whole seconds, got 1500ms"},
      {"keepalive_negative", "mqtt: { keepalive: -1s }\n" + good_buses,
       "1:20: 'keepalive': a duration cannot be negative"},
      {"keepalive_too_long", "mqtt: { keepalive: 1d }\n" + good_buses,
       "1:20: 'keepalive' must be 0..65535s, got 1d"},
      {"session_expiry_overflow", "mqtt: { session_expiry: 99999999999999999999d }\n" + good_buses,
       "1:25: 'session_expiry': duration '99999999999999999999d' is too large"},
      {"session_expiry_unit", "mqtt: { session_expiry: 1week }\n" + good_buses,
       "1:25: 'session_expiry': expected a duration such as 250ms, 1s, 5m, 1h or 1d; unknown unit 'week'"},
      {"clean_start_not_bool", "mqtt: { clean_start: maybe }\n" + good_buses,
       "1:22: expected true or false for 'clean_start', got 'maybe'"},
      {"payload_unknown", "mqtt: { payload: xml }\n" + good_buses,
       "1:18: expected json or value for 'payload', got 'xml'"},
      {"payload_typo", "mqtt: { payload: jsn }\n" + good_buses,
       "1:18: expected json or value for 'payload', got 'jsn' (did you mean 'json'?)"},
      // --- layout ----------------------------------------------------------------
      {"layout_unknown", "mqtt: { layout: table }\n" + good_buses,
       "1:17: expected point or device for 'layout', got 'table'"},
      {"device_layout_unknown",
       "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n        unit: 1\n"
       "        layout: devices\n        points:\n          - { name: p, table: holding, address: 0 }\n",
       "7:17: expected point or device for 'layout', got 'devices' (did you mean 'device'?)"},
      {"device_layout_for_a_device_named_status",
       "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: status\n        unit: 1\n"
       "        layout: device\n        points:\n          - { name: p, table: holding, address: 0 }\n",
       "7:17: device 'status' cannot use the device layout: its topic <prefix>/status is the gateway's status "
       "topic; rename the device or give it 'layout: point'"},
      {"mqtt_layout_device_and_a_serial_line_bus_named_stats",
       "mqtt: { layout: device }\nbuses:\n  - name: stats\n    serial_line: { device: /dev/ttyACM0 }\n"
       "    points:\n      - { name: t, pattern: 'T=(.*)' }\n",
       "3:11: device 'stats' cannot use the device layout: its topic <prefix>/stats is the gateway's stats "
       "topic; rename the device or give it 'layout: point'"},
      {"mqtt_unknown_key", "mqtt:\n  hots: x\n" + good_buses, "2:3: unknown key 'hots' in mqtt; did you mean 'host'?"},
      // --- mqtt.hosts (failover) ---------------------------------------------
      {"hosts_and_host", "mqtt:\n  hosts: [ \"a:1883\" ]\n  host: b\n" + good_buses,
       "3:3: give either 'hosts' or 'host' in mqtt, not both ('hosts' entries are \"host:port\")"},
      {"hosts_and_port", "mqtt:\n  port: 1884\n  hosts: [ a ]\n" + good_buses,
       "2:3: give either 'hosts' or 'port' in mqtt, not both ('hosts' entries are \"host:port\")"},
      {"hosts_empty", "mqtt: { hosts: [] }\n" + good_buses, "1:16: expected at least one \"host:port\" in 'hosts'"},
      {"hosts_not_list", "mqtt: { hosts: a }\n" + good_buses, "1:16: expected a list for 'hosts', got 'a'"},
      {"hosts_entry_map", "mqtt:\n  hosts:\n    - { host: a }\n" + good_buses,
       "3:7: expected \"host:port\" in 'hosts', got a map"},
      {"hosts_bad_port", "mqtt:\n  hosts: [ \"a:1883\", \"b:88x3\" ]\n" + good_buses,
       "2:22: in 'hosts': '88x3' is not a port"},
      {"hosts_port_range", "mqtt:\n  hosts:\n    - a:70000\n" + good_buses,
       "3:7: in 'hosts': port 70000 is out of range 1..65535"},
      {"hosts_v6_unclosed", "mqtt:\n  hosts:\n    - \"[::1:1883\"\n" + good_buses,
       "3:7: in 'hosts': missing ']' in [::1:1883"},
      {"hosts_twice", "mqtt:\n  hosts: [ \"a:1883\", a ]\n" + good_buses, "2:22: 'hosts' lists a:1883 twice"},
      {"password_and_file", "mqtt:\n  username: u\n  password: a\n  password_file: /x\n" + good_buses,
       "4:3: give either 'password' or 'password_file', not both"},
      {"password_file_missing", "mqtt:\n  username: u\n  password_file: /nonexistent/mqtt.pass\n" + good_buses,
       "3:18: cannot read password_file '/nonexistent/mqtt.pass': No such file or directory"},
      {"password_without_user", "mqtt:\n  password: secret\n" + good_buses,
       "2:3: a password needs a 'username' (MQTT sends no password without one)"},
      {"password_file_endless", "mqtt:\n  username: u\n  password_file: /dev/zero\n" + good_buses,
       "3:18: password_file '/dev/zero' is larger than 65537 bytes"},
      {"tls_ca_missing", "mqtt:\n  tls:\n    ca_file: /nonexistent/ca.pem\n" + good_buses,
       "3:14: cannot read ca_file '/nonexistent/ca.pem': No such file or directory"},
      {"tls_is_bool", "mqtt: { tls: true }\n" + good_buses, "1:14: expected a map for 'tls', got 'true'"},
      {"tls_unknown_key", "mqtt: { tls: { verify: false } }\n" + good_buses,
       "1:16: unknown key 'verify' in tls; expected ca_file, cert_file, key_file, verify_hostname or "
       "insecure_skip_verify"},
      {"topic_prefix_wildcard", "mqtt: { topic_prefix: 'plant/#' }\n" + good_buses,
       "1:23: 'topic_prefix' must be topic levels separated by single '/', without '+', '#' or a leading or "
       "trailing '/', got 'plant/#'"},
      {"topic_prefix_empty", "mqtt: { topic_prefix: '' }\n" + good_buses,
       "1:23: expected a non-empty string for 'topic_prefix', got an empty string"},
      {"topic_prefix_trailing_slash", "mqtt: { topic_prefix: plant/ }\n" + good_buses,
       "1:23: 'topic_prefix' must be topic levels separated by single '/', without '+', '#' or a leading or "
       "trailing '/', got 'plant/'"},
      {"reconnect_max_below_min", "mqtt:\n  reconnect: { min: 10s, max: 1s }\n" + good_buses,
       "2:31: reconnect 'max' (1s) is less than 'min' (10s)"},
      {"max_inflight_zero", "mqtt: { max_inflight: 0 }\n" + good_buses, "1:23: 'max_inflight' must be 1..65535, got 0"},
      {"max_packet_size_small", "mqtt: { max_packet_size: 100 }\n" + good_buses,
       "1:26: 'max_packet_size' must be 1KiB..256MiB, got 100"},
      {"max_packet_size_unit", "mqtt: { max_packet_size: 1XB }\n" + good_buses,
       "1:26: 'max_packet_size': expected a size such as 65536, 64KiB, 256MiB or 1GiB; unknown unit 'XB'"},

      // --- store ------------------------------------------------------------
      {"max_size_unit", "store: { max_size: 10XB }\n" + good_buses,
       "1:20: 'max_size': expected a size such as 65536, 64KiB, 256MiB or 1GiB; unknown unit 'XB'"},
      {"max_size_small", "store: { max_size: 1KiB }\n" + good_buses,
       "1:20: 'max_size' must be 64KiB..1024TiB, got 1KiB"},
      {"max_size_negative", "store: { max_size: -5MiB }\n" + good_buses, "1:20: 'max_size': a size cannot be negative"},
      {"on_full_typo", "store: { on_full: drop_olde }\n" + good_buses,
       "1:19: expected drop_oldest or drop_newest for 'on_full', got 'drop_olde' (did you mean 'drop_oldest'?)"},
      {"flush_interval_long", "store: { flush_interval: 2m }\n" + good_buses,
       "1:26: 'flush_interval' must be 0..1m, got 2m"},
      {"drain_unknown", "store: { drain: lifo }\n" + good_buses,
       "1:17: expected fifo or live_first for 'drain', got 'lifo' (did you mean 'fifo'?)"},

      // --- buses ------------------------------------------------------------
      {"bus_without_link", "buses:\n  - name: b\n    devices: []\n",
       "2:5: bus 'b' needs a link: one of modbus_rtu, modbus_tcp, modbus_rtu_tcp or serial_line"},
      {"bus_link_typo", "buses:\n  - name: b\n    modbus_rut: {}\n",
       "3:5: unknown key 'modbus_rut' in bus 'b'; did you mean 'modbus_rtu'?"},
      {"bus_two_links", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x }\n    modbus_tcp: { host: h }\n",
       "4:5: bus 'b' has two links, 'modbus_rtu' and 'modbus_tcp'; give exactly one"},
      {"bus_is_scalar", "buses:\n  - rs485\n", "2:5: expected a map for bus, got 'rs485'"},
      {"bus_missing_name", "buses:\n  - modbus_tcp: { host: h }\n    devices: []\n",
       "2:5: missing required key 'name' in bus"},
      {"duplicate_bus_name", good_buses + "  - name: b\n    modbus_tcp: { host: h2 }\n",
       "9:11: duplicate bus name 'b' (first at line 2)"},
      {"rtu_unknown_key", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x, bauds: 9600 }\n",
       "3:35: unknown key 'bauds' in modbus_rtu of bus 'b'; did you mean 'baud'?"},
      {"rtu_missing_device", "buses:\n  - name: b\n    modbus_rtu: { baud: 9600 }\n",
       "3:17: missing required key 'device' in modbus_rtu of bus 'b'"},
      {"baud_nonstandard", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x, baud: 9601 }\n",
       "3:41: baud 9601 is not a standard rate; expected 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
       "115200, 230400, 460800 or 921600"},
      {"parity_unknown", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x, parity: X }\n",
       "3:43: expected N, E or O for 'parity', got 'X'"},
      {"data_bits_nine", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x, data_bits: 9 }\n",
       "3:46: 'data_bits' must be 5..8, got 9"},
      {"stop_bits_three", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x, stop_bits: 3 }\n",
       "3:46: 'stop_bits' must be 1..2, got 3"},
      {"tcp_missing_host", "buses:\n  - name: b\n    modbus_tcp: { port: 502 }\n",
       "3:17: missing required key 'host' in modbus_tcp of bus 'b'"},
      {"timeout_zero", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    timeout: 0\n",
       "4:14: 'timeout' must be 1ms..1m, got 0"},
      {"modbus_bus_without_devices", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n",
       "2:5: missing required key 'devices' in bus 'b'"},
      {"points_on_modbus_bus", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    points: []\n",
       "4:5: 'points' is not allowed in bus 'b': the points of a Modbus bus belong to one of its 'devices'"},
      {"devices_on_serial_line", "buses:\n  - name: w\n    serial_line: { device: /dev/x }\n    devices: []\n",
       "4:5: 'devices' is not allowed in bus 'w': a serial_line bus lists its 'points' directly, without devices"},
      {"serial_line_empty_delimiter", "buses:\n  - name: w\n    serial_line: { device: /dev/x, delimiter: '' }\n",
       "3:47: expected a non-empty string for 'delimiter', got an empty string"},

      // --- devices ----------------------------------------------------------
      {"rtu_unit_zero", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x }\n    devices:\n      - name: d\n"
                        "        unit: 0\n",
       "6:15: 'unit' must be 1..247, got 0"},
      {"rtu_unit_248", "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x }\n    devices:\n      - name: d\n"
                       "        unit: 248\n",
       "6:15: 'unit' must be 1..247, got 248"},
      {"tcp_unit_256", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n"
                       "        unit: 256\n",
       "6:15: 'unit' must be 0..255, got 256"},
      {"device_missing_unit", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n"
                              "        points: []\n",
       "5:9: missing required key 'unit' in device 'd'"},
      {"duplicate_unit", good_buses + "      - name: d2\n        unit: 1\n",
       "10:15: unit 1 is already used by device 'd' on this bus (line 6)"},
      {"duplicate_device_across_buses",
       good_buses + "  - name: b2\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n",
       "12:15: duplicate device name 'd' (first at line 5); device names are topic levels and must be unique "
       "across all buses"},
      {"device_named_like_serial_bus",
       "buses:\n  - name: w\n    serial_line: { device: /dev/x }\n    points: [ { name: t, pattern: '(1)' } ]\n"
       "  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: w\n",
       "8:15: duplicate device name 'w' (first at line 2); device names are topic levels and must be unique "
       "across all buses"},
      {"device_without_points", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n"
                                "        unit: 1\n        points: []\n",
       "7:17: expected at least one point in device 'd'"},
      {"poll_interval_too_fast", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n"
                                 "        unit: 1\n        poll_interval: 5ms\n",
       "7:24: 'poll_interval' must be 10ms..1d, got 5ms"},
      {"max_registers_too_many", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n"
                                 "        unit: 1\n        max_registers: 126\n",
       "7:24: 'max_registers' must be 1..125, got 126"},
      {"device_unknown_key", "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    devices:\n      - name: d\n"
                             "        unit: 1\n        poll: 1s\n",
       "7:9: unknown key 'poll' in device 'd'; expected name, unit, poll_interval, max_registers, max_bits, max_gap, "
       "force_multiple_write, offline_after, points, manufacturer, model or layout"},

      // --- register points --------------------------------------------------
      {"point_unknown_key_typo", tcp_points + "          - { name: p, table: holding, adress: 0 }\n",
       "8:40: unknown key 'adress' in point 'p'; did you mean 'address'?"},
      {"point_missing_address", tcp_points + "          - { name: p, table: holding }\n",
       "8:13: missing required key 'address' in point 'p'"},
      {"point_missing_table", tcp_points + "          - { name: p, address: 3 }\n",
       "8:13: missing required key 'table' in point 'p'"},
      {"point_missing_name", tcp_points + "          - { table: holding, address: 3 }\n",
       "8:13: missing required key 'name' in point"},
      {"point_is_scalar", tcp_points + "          - voltage\n", "8:13: expected a map for point, got 'voltage'"},
      {"table_typo", tcp_points + "          - { name: p, table: holdings, address: 0 }\n",
       "8:31: expected coil, discrete, input or holding for 'table', got 'holdings' (did you mean 'holding'?)"},
      {"address_too_large", tcp_points + "          - { name: p, table: holding, address: 65536 }\n",
       "8:49: 'address' must be 0..65535, got 65536"},
      {"address_negative", tcp_points + "          - { name: p, table: holding, address: -1 }\n",
       "8:49: 'address' must be 0..65535, got -1"},
      {"address_word", tcp_points + "          - { name: p, table: holding, address: ten }\n",
       "8:49: expected an integer for 'address', got 'ten'"},
      {"address_list", tcp_points + "          - { name: p, table: holding, address: [1, 2] }\n",
       "8:49: expected an integer for 'address', got a list"},
      {"float32_runs_past_end", tcp_points + "          - { name: p, table: input, address: 65535, type: float32 }\n",
       "8:47: float32 at address 65535 spans 2 registers and runs past the last address 65535"},
      {"string_runs_past_end",
       tcp_points + "          - { name: p, table: holding, address: 65530, type: string, length: 8 }\n",
       "8:49: string at address 65530 spans 8 registers and runs past the last address 65535"},
      {"string_without_length", tcp_points + "          - { name: p, table: holding, address: 0, type: string }\n",
       "8:58: a string point needs 'length', its size in registers"},
      {"string_too_long", tcp_points + "          - { name: p, table: holding, address: 0, type: string, length: 126 }\n",
       "8:74: 'length' must be 1..125, got 126"},
      {"length_on_int16", tcp_points + "          - { name: p, table: holding, address: 0, type: int16, length: 2 }\n",
       "8:65: 'length' applies to string points only, not int16"},
      {"type_unknown", tcp_points + "          - { name: p, table: holding, address: 0, type: float }\n",
       "8:58: expected bool, int16, uint16, int32, uint32, int64, uint64, float32, float64 or string for 'type', "
       "got 'float'"},
      {"order_typo", tcp_points + "          - { name: p, table: holding, address: 0, type: int32, order: ABDC }\n",
       "8:72: expected ABCD, CDAB, BADC or DCBA for 'order', got 'ABDC' (did you mean 'ABCD'?)"},
      {"order_on_coil", tcp_points + "          - { name: p, table: coil, address: 0, order: CDAB }\n",
       "8:56: 'order' applies to register values, not to coil points"},
      {"bit_sixteen", tcp_points + "          - { name: p, table: holding, address: 0, bit: 16 }\n",
       "8:57: 'bit' must be 0..15, got 16"},
      {"bit_on_float32", tcp_points + "          - { name: p, table: holding, address: 0, type: float32, bit: 1 }\n",
       "8:67: 'bit' needs a 16-bit register type (bool, int16 or uint16), not float32"},
      {"bit_on_coil", tcp_points + "          - { name: p, table: coil, address: 0, bit: 1 }\n",
       "8:49: 'bit' selects a bit of a register; coil points are bits already"},
      {"bool_register_without_bit", tcp_points + "          - { name: p, table: input, address: 0, type: bool }\n",
       "8:56: a bool on a input register needs 'bit' (0..15) to say which bit"},
      {"int16_on_coil", tcp_points + "          - { name: p, table: coil, address: 0, type: int16 }\n",
       "8:55: coil points hold single bits and must be type bool, got int16"},
      {"float_on_discrete", tcp_points + "          - { name: p, table: discrete, address: 0, type: float32 }\n",
       "8:59: discrete points hold single bits and must be type bool, got float32"},
      {"writable_input", tcp_points + "          - { name: p, table: input, address: 0, writable: true }\n",
       "8:60: input points are read-only in Modbus; only coil and holding points can be writable"},
      {"writable_discrete", tcp_points + "          - { name: p, table: discrete, address: 0, writable: true }\n",
       "8:63: discrete points are read-only in Modbus; only coil and holding points can be writable"},
      {"writable_not_bool", tcp_points + "          - { name: p, table: holding, address: 0, writable: 1 }\n",
       "8:62: expected true or false for 'writable', got '1'"},
      {"min_above_max",
       tcp_points + "          - { name: p, table: holding, address: 0, writable: true, min: 80, max: 0 }\n",
       "8:82: 'max' (0) is less than 'min' (80)"},
      {"min_not_number", tcp_points + "          - { name: p, table: holding, address: 0, min: low }\n",
       "8:57: expected a number for 'min', got 'low'"},
      {"min_on_bool", tcp_points + "          - { name: p, table: coil, address: 0, min: 0 }\n",
       "8:49: 'min' applies to numeric points, not bool"},
      {"writable_overlap",
       tcp_points + "          - { name: a, table: holding, address: 10, type: uint32, writable: true }\n"
                    "          - { name: b, table: holding, address: 11, writable: true }\n",
       "9:49: writable point 'b' overlaps writable point 'a' (line 8) on holding 11"},
      {"writable_overlap_same_bit",
       tcp_points + "          - { name: a, table: holding, address: 3, bit: 2, writable: true }\n"
                    "          - { name: b, table: holding, address: 3, bit: 2, writable: true }\n",
       "9:49: writable point 'b' overlaps writable point 'a' (line 8) on holding 3"},
      {"writable_overlap_bit_and_word",
       tcp_points + "          - { name: a, table: holding, address: 3, type: int16, writable: true }\n"
                    "          - { name: b, table: holding, address: 3, bit: 2, writable: true }\n",
       "9:49: writable point 'b' overlaps writable point 'a' (line 8) on holding 3"},
      {"writable_overlap_coils",
       tcp_points + "          - { name: a, table: coil, address: 7, writable: true }\n"
                    "          - { name: b, table: coil, address: 7, writable: true }\n",
       "9:46: writable point 'b' overlaps writable point 'a' (line 8) on coil 7"},
      {"duplicate_point_name",
       tcp_points + "          - { name: p, table: holding, address: 0 }\n"
                    "          - { name: p, table: holding, address: 1 }\n",
       "9:21: duplicate point name 'p' in device 'd' (first at line 8)"},
      {"point_name_status", tcp_points + "          - { name: status, table: holding, address: 0 }\n",
       "8:21: point name 'status' is reserved: <prefix>/<device>/status is the device's status topic"},
      {"point_name_space", tcp_points + "          - { name: 'room temp', table: holding, address: 0 }\n",
       "8:21: name 'room temp' may contain only letters, digits, '_', '-' and '.' (it becomes an MQTT topic level)"},
      {"scale_zero", tcp_points + "          - { name: p, table: holding, address: 0, scale: 0 }\n",
       "8:59: 'scale' cannot be 0 (commands divide by it)"},
      {"scale_on_string",
       tcp_points + "          - { name: p, table: holding, address: 0, type: string, length: 2, scale: 2 }\n",
       "8:77: 'scale' applies to numeric points, not string"},
      {"qos_on_point", tcp_points + "          - { name: p, table: holding, address: 0, qos: 5 }\n",
       "8:57: 'qos' must be 0..2, got 5"},
      {"publish_unknown", tcp_points + "          - { name: p, table: holding, address: 0, publish: sometimes }\n",
       "8:61: expected always or on_change for 'publish', got 'sometimes'"},
      {"deadband_without_on_change", tcp_points + "          - { name: p, table: holding, address: 0, deadband: 1 }\n",
       "8:52: 'deadband' needs 'publish: on_change'"},
      {"deadband_negative",
       tcp_points + "          - { name: p, table: holding, address: 0, publish: on_change, deadband: -1 }\n",
       "8:82: 'deadband' cannot be negative"},
      {"pattern_on_register_point", tcp_points + "          - { name: p, table: holding, address: 0, pattern: 'x' }\n",
       "8:52: 'pattern' is not allowed in point 'p': it applies to points of a serial_line bus"},
      {"rtu_point_runs_over_max_registers",
       "buses:\n  - name: b\n    modbus_rtu: { device: /dev/x }\n    devices:\n      - name: d\n"
       "        unit: 1\n        max_registers: 2\n        points:\n"
       "          - { name: p, table: holding, address: 0, type: float64 }\n",
       "9:58: point spans 4 registers, more than the device's max_registers (2)"},

      // --- transforms (map, mask, shift, round) -------------------------------
      {"transform_mask_on_a_float", tcp_points + "          - { name: p, table: holding, address: 0, type: float32, mask: 0x0F }\n",
       "8:67: 'mask' picks bits of an integer; float32 points are not integers"},
      {"transform_shift_with_scale", tcp_points + "          - { name: p, table: holding, address: 0, scale: 0.1, shift: 4 }\n",
       "8:64: 'shift' picks bits of the raw integer; it cannot be combined with scale or offset"},
      {"transform_mask_wider_than_the_type", tcp_points + "          - { name: p, table: holding, address: 0, mask: 0x10000 }\n",
       "8:58: 'mask' must be 1..65535, got 0x10000"},
      {"transform_map_names_twice", tcp_points + "          - { name: p, table: holding, address: 0, map: { 0: off, 1: off } }\n",
       "8:70: 'map' names 0 and 1 both 'off'; a command could not say which"},
      {"transform_map_on_a_string",
       tcp_points + "          - { name: p, table: holding, address: 0, type: string, length: 2, map: { 0: a } }\n",
       "8:77: 'map' names numbers; string points are text already"},
      {"transform_round_too_many", tcp_points + "          - { name: p, table: holding, address: 0, type: float32, round: 16 }\n",
       "8:74: 'round' must be 0..15, got 16"},
      {"silence_timeout_on_a_modbus_bus",
       "buses:\n  - name: b\n    modbus_tcp: { host: h }\n    silence_timeout: 10s\n    devices: []\n",
       "4:5: 'silence_timeout' is not allowed in bus 'b': it applies to serial_line buses; Modbus devices use 'offline_after'"},

      // --- serial_line points -----------------------------------------------
      {"line_point_without_pattern", line_points + "      - { name: t, unit: C }\n",
       "5:9: missing required key 'pattern' in point 't'"},
      {"line_pattern_without_group", line_points + "      - { name: t, pattern: 'T=[0-9.]+' }\n",
       "5:29: pattern 'T=[0-9.]+' has no capture group; put the value in ( )"},
      {"line_pattern_invalid", line_points + "      - { name: t, pattern: 'T=((' }\n",
       "5:29: pattern 'T=((' is not a valid regular expression: Mismatched '(' and ')' in regular expression"},
      {"line_point_address", line_points + "      - { name: t, pattern: '(.*)', address: 3 }\n",
       "5:37: 'address' is not allowed in point 't': serial_line points read text, not registers"},
      {"line_point_writable", line_points + "      - { name: t, pattern: '(.*)', writable: true }\n",
       "5:37: 'writable' is not allowed in point 't': serial_line points cannot be written"},
      {"line_pattern_too_long", line_points + "      - { name: t, pattern: '(" + std::string(600, 'x') + ")' }\n",
       "5:29: pattern is 602 characters long; at most 512 are allowed"},
      // --- http (the status page) ------------------------------------------
      {"http_not_map", "http: 8080\n" + good_buses, "1:7: expected a map for 'http', got '8080'"},
      {"http_unknown_key", "http: { port: 8080 }\n" + good_buses,
       "1:9: unknown key 'port' in http; expected listen or token_file"},
      {"http_listen_name", "http: { listen: gw.example:8080 }\n" + good_buses,
       "1:17: 'listen' takes an IP address and port (127.0.0.1:8080, 0.0.0.0:8080, \"[::1]:8080\"), got "
       "'gw.example:8080'"},
      {"http_listen_port", "http: { listen: '127.0.0.1:80800' }\n" + good_buses,
       "1:17: in 'listen': port 80800 is out of range 1..65535"},
      {"http_beyond_loopback_needs_token", "http:\n  listen: 0.0.0.0:8080\n" + good_buses,
       "2:11: 'listen' 0.0.0.0:8080 is reachable beyond this machine: give 'token_file' too (every request must "
       "then carry the token)"},
      {"http_lan_address_needs_token", "http: { listen: '[fd00::5]:8080' }\n" + good_buses,
       "1:17: 'listen' [fd00::5]:8080 is reachable beyond this machine: give 'token_file' too (every request must "
       "then carry the token)"},
      {"http_token_file_missing", "http: { listen: 0.0.0.0:8080, token_file: /nonexistent/token }\n" + good_buses,
       "1:43: cannot read token_file '/nonexistent/token': No such file or directory"},
      {"http_token_file_endless", "http: { token_file: /dev/zero }\n" + good_buses,
       "1:21: token_file '/dev/zero' is larger than 4098 bytes"},
      {"line_points_missing", "buses:\n  - name: w\n    serial_line: { device: /dev/x }\n",
       "2:5: missing required key 'points' in bus 'w'"},
  };
}

class bad_configuration : public testing::TestWithParam<bad_config> {};

TEST_P(bad_configuration, names_line_column_and_what_was_expected) {
  const auto& row = GetParam();
  try {
    load_string(row.yaml, "bad.yaml");
    FAIL() << "accepted:\n" << row.yaml;
  } catch (const config_error& error) {
    EXPECT_EQ(error.what(), "bad.yaml:" + row.expected) << row.yaml;
  }
}

INSTANTIATE_TEST_SUITE_P(rows, bad_configuration, testing::ValuesIn(rows()),
                         [](const testing::TestParamInfo<bad_config>& row) { return std::string{row.param.name}; });

TEST(bad_configuration_file, unreadable_password_file_that_exists) {
  // A directory exists but is not a readable password file.
  const test::temp_dir dir;
  const auto yaml = "mqtt:\n  username: u\n  password_file: '" + dir.path().string() + "'\n" + good_buses;
  try {
    load_string(yaml, "bad.yaml");
    FAIL() << "accepted a directory as password file";
  } catch (const config_error& error) {
    EXPECT_EQ(error.line(), 3);
    EXPECT_EQ(error.column(), 18);
    EXPECT_EQ(error.message().rfind("cannot read password_file '" + dir.path().string() + "'", 0), 0u)
        << error.message();
  }
}

TEST(bad_configuration_file, tls_cert_without_key) {
  const test::temp_dir dir;
  const auto cert = dir.write_file("c.pem", "x");
  const auto yaml = "mqtt:\n  tls:\n    cert_file: '" + cert.string() + "'\n" + good_buses;
  try {
    load_string(yaml, "bad.yaml");
    FAIL() << "accepted";
  } catch (const config_error& error) {
    EXPECT_STREQ(error.what(), "bad.yaml:3:5: a client certificate needs both 'cert_file' and 'key_file'");
  }
}

// http.token_file: one line of token characters, long enough to guess at
// no better than chance.
TEST(bad_configuration_file, http_token_too_short_or_with_spaces) {
  const test::temp_dir dir;
  for (const auto* text : {"short\n", "", "a token with spaces in it\n", "two-lines-0123456789\nsecond-line-0123456789\n"}) {
    const auto token = dir.write_file("token", text);
    const auto yaml = "http:\n  listen: 0.0.0.0:8080\n  token_file: '" + token.string() + "'\n" + good_buses;
    try {
      load_string(yaml, "bad.yaml");
      FAIL() << "accepted the token '" << text << "'";
    } catch (const config_error& error) {
      EXPECT_EQ(error.what(), "bad.yaml:3:15: the token in '" + token.string() +
                                  "' must be one line of 16 to 4096 letters, digits or -._~+/ (openssl rand -hex 32 "
                                  "makes one)");
    }
  }
}

}  // namespace
}  // namespace fieldbridge::config
