// plan_reload: what a new configuration changes in a running gateway, or
// why it is refused (all or nothing). Pure: two loaded configurations in.
// And the reading router's reconfigure(), which keeps what it knew of the
// points that stay.
#include "run/reload.hpp"
#include "run/reading_router.hpp"
#include "run/service_manager.hpp"

#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
using gateway::plan_reload;
using gateway::reload_plan;
using gateway::reload_refusal;

// Two Modbus TCP buses and a serial_line one; `edit` rewrites the text.
struct yaml_parts {
  std::string gateway = "{ name: gw }";
  std::string mqtt = "{ host: 127.0.0.1, port: 1883, topic_prefix: site }";
  std::string store = "{ path: /var/lib/fb/queue.db }";
  std::string tcp1_poll = "1s";
  std::string tcp1_extra_point;
  bool tcp1_second_device = true;
  std::string tcp2_port = "1503";
  bool with_tcp2 = true;
  bool with_line = false;
  std::string extra;  // top-level sections
};

config::configuration load(const yaml_parts& p) {
  std::string text = "gateway: " + p.gateway + "\nmqtt: " + p.mqtt + "\nstore: " + p.store + "\n" + p.extra + R"(
buses:
  - name: tcp1
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: meter1
        unit: 1
        poll_interval: )" + p.tcp1_poll + R"(
        points:
          - { name: volts, table: input, address: 0, type: uint16 })" +
                     p.tcp1_extra_point;
  if (p.tcp1_second_device) text += R"(
      - name: meter2
        unit: 2
        points:
          - { name: amps, table: input, address: 0, type: uint16 })";
  if (p.with_tcp2) text += R"(
  - name: tcp2
    modbus_tcp: { host: 127.0.0.1, port: )" + p.tcp2_port + R"( }
    devices:
      - name: plc
        unit: 1
        points:
          - { name: level, table: holding, address: 0, type: int16, writable: true })";
  if (p.with_line) text += R"(
  - name: weather
    serial_line: { device: /dev/ttyACM0, baud: 9600 }
    points:
      - { name: temperature, pattern: 'T=(-?[0-9.]+)', type: float64 })";
  text += "\n";
  return config::load_string(text, "test.yaml");
}

reload_plan plan_of(const yaml_parts& a, const yaml_parts& b) {
  const auto decision = plan_reload(load(a), load(b));
  if (const auto* refusal = std::get_if<reload_refusal>(&decision)) {
    ADD_FAILURE() << "refused: " << refusal->reason;
    return {};
  }
  return std::get<reload_plan>(decision);
}

std::string refusal_of(const yaml_parts& a, const yaml_parts& b) {
  const auto decision = plan_reload(load(a), load(b));
  if (const auto* refusal = std::get_if<reload_refusal>(&decision)) return refusal->reason;
  ADD_FAILURE() << "not refused: " << std::get<reload_plan>(decision).summary();
  return {};
}

using names = std::vector<std::string>;

TEST(PlanReload, TheSameFileChangesNothing) {
  const auto plan = plan_of({}, {});
  EXPECT_TRUE(plan.empty()) << plan.summary();
  EXPECT_EQ(plan.kept, (names{"tcp1", "tcp2"}));
  EXPECT_EQ(plan.summary(), "nothing changed");
}

TEST(PlanReload, AnAddedPointRestartsOnlyItsBus) {
  yaml_parts b;
  b.tcp1_extra_point = "\n          - { name: watts, table: input, address: 4, type: uint16 }";
  const auto plan = plan_of({}, b);
  EXPECT_EQ(plan.restarted, names{"tcp1"});
  EXPECT_EQ(plan.kept, names{"tcp2"});
  EXPECT_TRUE(plan.added.empty());
  EXPECT_TRUE(plan.removed.empty());
  EXPECT_TRUE(plan.removed_devices.empty());
  EXPECT_TRUE(plan.routing);
  EXPECT_FALSE(plan.reconnect);
  EXPECT_EQ(plan.summary(), "bus tcp1 restarted; 1 bus untouched");
}

TEST(PlanReload, ARemovedDeviceIsNamedAndItsBusRestarted) {
  yaml_parts b;
  b.tcp1_second_device = false;
  const auto plan = plan_of({}, b);
  EXPECT_EQ(plan.restarted, names{"tcp1"});
  EXPECT_EQ(plan.kept, names{"tcp2"});
  EXPECT_EQ(plan.removed_devices, names{"meter2"});
}

TEST(PlanReload, APollIntervalIsABusChange) {
  yaml_parts b;
  b.tcp1_poll = "250ms";
  const auto plan = plan_of({}, b);
  EXPECT_EQ(plan.restarted, names{"tcp1"});
  EXPECT_EQ(plan.kept, names{"tcp2"});
  EXPECT_TRUE(plan.removed_devices.empty());
}

TEST(PlanReload, BusesAddedAndRemoved) {
  yaml_parts a;
  yaml_parts b;
  b.with_tcp2 = false;
  b.with_line = true;
  const auto plan = plan_of(a, b);
  EXPECT_EQ(plan.removed, names{"tcp2"});
  EXPECT_EQ(plan.added, names{"weather"});
  EXPECT_EQ(plan.kept, names{"tcp1"});
  EXPECT_EQ(plan.removed_devices, names{"plc"});
  EXPECT_EQ(plan.summary(), "bus tcp2 removed, bus weather added, device plc removed; 1 bus untouched");
}

TEST(PlanReload, ABrokerPortIsAReconnectThatKeepsEveryBus) {
  yaml_parts b;
  b.mqtt = "{ host: 127.0.0.1, port: 1884, topic_prefix: site }";
  const auto plan = plan_of({}, b);
  EXPECT_TRUE(plan.reconnect);
  EXPECT_FALSE(plan.routing);
  EXPECT_EQ(plan.kept, (names{"tcp1", "tcp2"}));
  EXPECT_TRUE(plan.restarted.empty());
  EXPECT_EQ(plan.summary(), "MQTT reconnect; 2 buses untouched");
}

TEST(PlanReload, ConnectionSettingsReconnectRoutingOnesDoNot) {
  for (const auto* mqtt : {"{ host: 127.0.0.1, topic_prefix: site, keepalive: 10s }",
                           "{ host: 127.0.0.1, topic_prefix: site, username: u, password: p }",
                           "{ host: 127.0.0.1, topic_prefix: site, client_id: other }",
                           "{ hosts: [ \"127.0.0.1:1883\", \"127.0.0.2:1883\" ], topic_prefix: site }",
                           "{ host: 127.0.0.1, topic_prefix: site, max_inflight: 5 }",
                           "{ host: 127.0.0.1, topic_prefix: site, protocol: 3.1.1 }"}) {
    yaml_parts b;
    b.mqtt = mqtt;
    const auto plan = plan_of({}, b);
    EXPECT_TRUE(plan.reconnect) << mqtt;
    EXPECT_FALSE(plan.routing) << mqtt;
  }
  for (const auto* mqtt : {"{ host: 127.0.0.1, topic_prefix: site, qos: 2 }",
                           "{ host: 127.0.0.1, topic_prefix: site, retain: true }",
                           "{ host: 127.0.0.1, topic_prefix: site, payload: value }",
                           "{ host: 127.0.0.1, topic_prefix: site, layout: device }",
                           "{ host: 127.0.0.1, topic_prefix: site, heartbeat: 5m }"}) {
    yaml_parts b;
    b.mqtt = mqtt;
    const auto plan = plan_of({}, b);
    EXPECT_FALSE(plan.reconnect) << mqtt;
    EXPECT_TRUE(plan.routing) << mqtt;
    EXPECT_EQ(plan.kept, (names{"tcp1", "tcp2"})) << mqtt;
  }
}

TEST(PlanReload, GatewaySettingsThatApplyInPlace) {
  yaml_parts b;
  b.gateway = "{ name: gw, log_level: debug, stats_interval: 5s }";
  const auto plan = plan_of({}, b);
  EXPECT_TRUE(plan.log_level);
  EXPECT_TRUE(plan.stats_interval);
  EXPECT_FALSE(plan.routing);
  EXPECT_FALSE(plan.reconnect);
  EXPECT_EQ(plan.summary(), "log level, stats interval; 2 buses untouched");
}

TEST(PlanReload, HomeAssistantIsRouting) {
  yaml_parts b;
  b.extra = "homeassistant: { enabled: true }\n";
  const auto plan = plan_of({}, b);
  EXPECT_TRUE(plan.routing);
  EXPECT_EQ(plan.kept, (names{"tcp1", "tcp2"}));
}

TEST(PlanReload, TheStoreIsRefusedByName) {
  for (const auto& [store, field] : std::vector<std::pair<std::string, std::string>>{
           {"{ path: /var/lib/fb/other.db }", "store.path"},
           {"{ path: /var/lib/fb/queue.db, max_size: 1MiB }", "store.max_size"},
           {"{ path: /var/lib/fb/queue.db, on_full: drop_newest }", "store.on_full"},
           {"{ path: /var/lib/fb/queue.db, flush_interval: 5s }", "store.flush_interval"},
           {"{ path: /var/lib/fb/queue.db, drain: live_first }", "store.drain"},
           {"{ path: /var/lib/fb/queue.db, hot_path: none }", "store.hot_path"}}) {
    yaml_parts b;
    b.store = store;
    b.tcp1_poll = "250ms";  // all or nothing: the bus change is not applied either
    EXPECT_EQ(refusal_of({}, b), field + " cannot change at run time (the store is open with it): the running "
                                         "configuration stays; restart the service to apply it");
  }
}

TEST(PlanReload, NameAndPrefixAreRefused) {
  yaml_parts name;
  name.gateway = "{ name: other }";
  EXPECT_NE(refusal_of({}, name).find("gateway.name cannot change at run time"), std::string::npos);
  yaml_parts prefix;
  prefix.mqtt = "{ host: 127.0.0.1, port: 1883, topic_prefix: elsewhere }";
  EXPECT_NE(refusal_of({}, prefix).find("mqtt.topic_prefix cannot change at run time"), std::string::npos);
}

TEST(PlanReload, TheStatusPageIsRefused) {
  yaml_parts with_http;
  with_http.extra = "http: { listen: 127.0.0.1:8080 }\n";
  EXPECT_NE(refusal_of({}, with_http).find("http cannot change at run time"), std::string::npos);
  yaml_parts other_port;
  other_port.extra = "http: { listen: 127.0.0.1:8081 }\n";
  EXPECT_NE(refusal_of(with_http, other_port).find("http cannot change at run time"), std::string::npos);
  EXPECT_TRUE(plan_of(with_http, with_http).empty());
}

// --- the reading router across a reload ---

reading value(const std::string& device, const std::string& point, double v) {
  return reading{device, point, point_value{v}, quality::good, "", wall_clock::now()};
}

TEST(ReadingRouterReconfigure, KeepsOnChangeStateOfPointsThatStay) {
  const auto text = [](bool extra) {
    std::string t = R"(gateway: { name: gw }
mqtt: { host: 127.0.0.1, topic_prefix: site }
store: { path: ":memory:" }
buses:
  - name: tcp1
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: meter1
        unit: 1
        points:
          - { name: level, table: input, address: 0, type: uint16, publish: on_change })";
    if (extra) t += "\n          - { name: volts, table: input, address: 1, type: uint16 }";
    return config::load_string(t + "\n", "test.yaml");
  };
  auto before = std::make_unique<config::configuration>(text(false));
  gateway::reading_router router(*before, make_null_logger());
  std::vector<std::string> topics;
  const auto sink = [&](store::message m) {
    topics.push_back(m.topic);
    return true;
  };
  router.route({value("meter1", "level", 1), value("meter1", "volts", 230)}, sink);
  EXPECT_EQ(topics, names{"site/meter1/level"});  // volts is not configured yet

  const auto after = text(true);
  router.reconfigure(after);
  before.reset();  // the router keeps nothing of the old configuration
  topics.clear();
  router.route({value("meter1", "level", 1), value("meter1", "volts", 230)}, sink);
  // The unchanged on_change value stays unpublished; the new point is routed.
  EXPECT_EQ(topics, names{"site/meter1/volts"});

  router.reconfigure(text(false));
  topics.clear();
  router.route({value("meter1", "level", 2), value("meter1", "volts", 230)}, sink);
  EXPECT_EQ(topics, names{"site/meter1/level"});
}

TEST(ServiceManagerReloading, SendsBothFieldsSystemdWants) {
  EXPECT_EQ(gateway::reloading_state(std::chrono::microseconds(123456789)), "RELOADING=1\nMONOTONIC_USEC=123456789");
  const auto now = gateway::reloading_state();
  EXPECT_EQ(now.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << now;
}

}  // namespace
}  // namespace fieldbridge::test
