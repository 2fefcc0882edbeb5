// The status board's renderers on made-up snapshots: <prefix>/stats byte for
// byte as the runtime wrote it before the board existed, /status.json and
// /metrics (families, labels, escaping, the reload outcome). And the board
// itself: latest values per point, kept across a reconfigure.
#include "run/status.hpp"

#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "fieldbridge/mqtt/client.hpp"
#include "run/mqtt_options.hpp"

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
using gateway::gateway_snapshot;

const wall_clock::time_point t0 = wall_clock::time_point(1'800'000'000s);

gateway_snapshot two_devices() {
  gateway_snapshot s;
  s.now = t0;
  s.name = "gw";
  s.prefix = "site/gw";
  gateway::bus_status bus;
  bus.name = "tcp1";
  bus.link = "modbus_tcp 127.0.0.1:1502";
  gateway::device_status a;
  a.name = "meter1";
  a.counters.polls = 10;
  a.counters.good = 18;
  a.counters.bad = 2;
  a.counters.timeouts = 1;
  a.counters.round_trip = 2500us;
  a.counters.online = true;
  a.online = true;
  gateway::point_status volts;
  volts.name = "voltage";
  volts.unit = "V";
  volts.single_precision = true;
  volts.latest = reading{"meter1", "voltage", point_value{static_cast<double>(230.4f)}, quality::good, "", t0 - 1500ms};
  gateway::point_status never;
  never.name = "current";
  a.points = {volts, never};
  gateway::device_status b;
  b.name = "odd\"name";
  b.counters.polls = 3;
  b.counters.exceptions = 2;
  b.counters.errors = 1;
  gateway::point_status bad;
  bad.name = "flow";
  bad.latest = reading{"odd\"name", "flow", point_value{0.0}, quality::bad, "timeout", t0 - 2s};
  b.points = {bad};
  bus.devices = {a, b};
  s.buses = {bus};
  s.mqtt.connected = true;
  s.mqtt.broker = "127.0.0.1:1883";
  s.mqtt.connections = 3;
  s.mqtt.in_flight = 4;
  s.store.depth = 7;
  s.store.bytes = 700;
  s.store.oldest = t0 - 90s;
  s.store.counters.dropped_oldest = 5;
  s.store.counters.write_errors = 1;
  s.forwarder.published = 11;
  s.forwarder.rejected = 1;
  s.forwarder.refused = 2;
  return s;
}

TEST(status_render, stats_are_byte_for_byte_what_the_runtime_published) {
  auto s = two_devices();
  EXPECT_EQ(gateway::render_stats(s),
            R"({"ts":"2027-01-15T08:00:00.000Z","polled":20,"published":11,"queued":7,"dropped":6,"errors":5,)"
            R"("refused":2,"broker":"127.0.0.1:1883","buses":{"tcp1":{"polls":13,"polled":20,"good":18,"bad":2,)"
            R"("timeouts":1,"exceptions":2,"errors":1,"devices":2,"online":1}}})");
  s.paused = "not authorized";
  s.last_reload = gateway::reload_outcome{false, "a.yaml:3:5: bad \"x\"", t0};
  EXPECT_EQ(gateway::render_stats(s),
            R"({"ts":"2027-01-15T08:00:00.000Z","polled":20,"published":11,"queued":7,"dropped":6,"errors":5,)"
            R"("refused":2,"paused":"not authorized","broker":"127.0.0.1:1883","buses":{"tcp1":{"polls":13,)"
            R"("polled":20,"good":18,"bad":2,"timeouts":1,"exceptions":2,"errors":1,"devices":2,"online":1}},)"
            R"("reload":{"ok":false,"error":"a.yaml:3:5: bad \"x\"","ts":"2027-01-15T08:00:00.000Z"}})");
}

TEST(status_render, status_json_has_every_point_with_value_quality_and_age) {
  const auto json = gateway::render_status_json(two_devices());
  EXPECT_NE(json.find(R"("mqtt":{"connected":true,"broker":"127.0.0.1:1883","reconnects":2,"in_flight":4,"paused":null})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("store":{"depth":7,"bytes":700,"oldest":"2027-01-15T07:58:30.000Z","oldest_age_seconds":90,)"
                      R"("disk_failing":false})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({"name":"voltage","unit":"V","value":230.4,"quality":"good","error":"",)"
                      R"("ts":"2027-01-15T07:59:58.500Z","age_seconds":1.5})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({"name":"current","unit":"","value":null,"quality":null,"error":"","ts":null,"age_seconds":null})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"({"name":"flow","unit":"","value":null,"quality":"bad","error":"timeout",)"), std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("round_trip_ms":2.5)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("reload":null)"), std::string::npos) << json;
}

TEST(status_render, metrics_have_help_type_labels_and_escaped_values) {
  auto s = two_devices();
  const auto text = gateway::render_metrics(s);
  const auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("# TYPE fieldbridge_readings_polled_total counter")) << text;
  EXPECT_TRUE(has("fieldbridge_readings_polled_total 20"));
  EXPECT_TRUE(has("fieldbridge_messages_published_total 11"));
  EXPECT_TRUE(has("fieldbridge_messages_queued 7"));
  EXPECT_TRUE(has("fieldbridge_messages_dropped_total 6"));
  EXPECT_TRUE(has("fieldbridge_errors_total 5"));
  EXPECT_TRUE(has(R"(fieldbridge_device_polls_total{bus="tcp1",device="meter1"} 10)"));
  EXPECT_TRUE(has(R"(fieldbridge_device_exceptions_total{bus="tcp1",device="odd\"name"} 2)")) << text;
  EXPECT_TRUE(has(R"(fieldbridge_device_readings_total{bus="tcp1",device="meter1",quality="bad"} 2)"));
  EXPECT_TRUE(has(R"(fieldbridge_device_round_trip_seconds{bus="tcp1",device="meter1"} 0.0025)"));
  EXPECT_TRUE(has(R"(fieldbridge_device_online{bus="tcp1",device="odd\"name"} 0)"));
  EXPECT_TRUE(has("fieldbridge_mqtt_connected 1"));
  EXPECT_TRUE(has("fieldbridge_mqtt_reconnects_total 2"));
  EXPECT_TRUE(has("fieldbridge_mqtt_in_flight 4"));
  EXPECT_TRUE(has(R"(fieldbridge_mqtt_broker_info{broker="127.0.0.1:1883"} 1)"));
  EXPECT_TRUE(has("fieldbridge_store_bytes 700"));
  EXPECT_TRUE(has("fieldbridge_store_oldest_age_seconds 90"));
  EXPECT_TRUE(has(std::string(R"(fieldbridge_build_info{version=")") + FIELDBRIDGE_VERSION + R"("} 1)"));
  EXPECT_EQ(text.find("fieldbridge_reload"), std::string::npos);  // no reload yet
  // Every sample follows the HELP and TYPE of its family.
  EXPECT_LT(text.find("# HELP fieldbridge_mqtt_in_flight "), text.find("fieldbridge_mqtt_in_flight 4"));

  s.last_reload = gateway::reload_outcome{true, "", t0};
  const auto after = gateway::render_metrics(s);
  EXPECT_NE(after.find("# TYPE fieldbridge_reload_success gauge\nfieldbridge_reload_success 1\n"), std::string::npos);
  EXPECT_NE(after.find("fieldbridge_reload_timestamp_seconds 1800000000\n"), std::string::npos) << after;
}

// A bus that only reports: its spec and one counter set per device.
class reporting_bus : public drivers::field_bus {
 public:
  explicit reporting_bus(bus_spec spec) : spec_(std::move(spec)) {}
  void start() override {}
  void stop() override {}
  std::chrono::steady_clock::time_point last_progress() const noexcept override { return {}; }
  void write(std::string_view, std::string_view, point_value, drivers::write_handler) override {}
  std::vector<std::pair<std::string, drivers::device_counters>> counters() const override {
    std::vector<std::pair<std::string, drivers::device_counters>> out;
    for (const auto& d : spec_.devices) out.emplace_back(d.name, drivers::device_counters{});
    return out;
  }
  const bus_spec& spec() const noexcept override { return spec_; }

 private:
  bus_spec spec_;
};

TEST(status_board, keeps_the_latest_reading_per_point_across_a_reconfigure) {
  const auto load = [](const std::string& points) {
    return config::load_string(R"(gateway: { name: gw }
mqtt: { host: 127.0.0.1, port: 1, topic_prefix: site }
store: { path: ":memory:" }
buses:
  - name: tcp1
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: meter1
        unit: 1
        points:
)" + points,
                               "test.yaml");
  };
  const auto first = load("          - { name: a, table: input, address: 0, type: uint16 }\n"
                          "          - { name: b, table: input, address: 1, type: float32, unit: V }\n");
  boost::asio::io_context io;
  const auto log = make_null_logger();
  store::settings ss;
  ss.path = ":memory:";
  store::queue store(ss, log);
  mqtt::client client(io, gateway::client_options_from(first), log);
  gateway::forwarder forward(io, client, store, log, {});
  std::vector<std::unique_ptr<drivers::field_bus>> buses;
  buses.push_back(std::make_unique<reporting_bus>(first.buses.at(0)));
  gateway::status_board board(first, {buses, store, forward, client});

  board.on_readings({reading{"meter1", "a", point_value{std::int64_t{1}}, quality::good, "", t0},
                     reading{"meter1", "b", point_value{2.5}, quality::good, "", t0},
                     reading{"nobody", "a", point_value{std::int64_t{9}}, quality::good, "", t0}});
  // Out of the configuration's order: each point still gets its own.
  board.on_readings({reading{"meter1", "b", point_value{4.5}, quality::good, "", t0 + 1s},
                     reading{"meter1", "a", point_value{std::int64_t{3}}, quality::good, "", t0 + 1s}});
  board.on_status("meter1", true);
  auto snap = board.snapshot();
  ASSERT_EQ(snap.buses.size(), 1u);
  ASSERT_EQ(snap.buses[0].devices.size(), 1u);
  const auto& device = snap.buses[0].devices[0];
  EXPECT_EQ(device.online, true);
  ASSERT_EQ(device.points.size(), 2u);
  ASSERT_TRUE(device.points[0].latest);
  EXPECT_EQ(std::get<std::int64_t>(device.points[0].latest->value), 3);
  ASSERT_TRUE(device.points[1].latest);
  EXPECT_EQ(std::get<double>(device.points[1].latest->value), 4.5);
  EXPECT_TRUE(device.points[1].single_precision);
  EXPECT_EQ(snap.buses[0].link, "modbus_tcp 127.0.0.1:1502");
  EXPECT_EQ(snap.mqtt.broker, "127.0.0.1:1");
  EXPECT_TRUE(board.stats_json().find("reload") == std::string::npos);
  board.set_reload({true, "", t0});
  EXPECT_NE(board.stats_json().find(R"("reload":{"ok":true,"error":"","ts":"2027-01-15T08:00:00.000Z"})"),
            std::string::npos);

  // A reload drops a, keeps b's value, adds c without one.
  board.configure(load("          - { name: b, table: input, address: 1, type: float32, unit: V }\n"
                       "          - { name: c, table: input, address: 2, type: uint16 }\n"));
  snap = board.snapshot();
  const auto& points = snap.buses[0].devices[0].points;
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].name, "b");
  ASSERT_TRUE(points[0].latest);
  EXPECT_EQ(std::get<double>(points[0].latest->value), 4.5);
  EXPECT_EQ(points[1].name, "c");
  EXPECT_FALSE(points[1].latest);
  EXPECT_EQ(snap.buses[0].devices[0].online, true);
  EXPECT_TRUE(snap.last_reload && snap.last_reload->ok);
}

}  // namespace
}  // namespace fieldbridge::test
