// The reading router with a fake clock and a scripted store: routes and
// payloads, on_change recorded only once the store accepted the value, the
// heartbeat that republishes an unchanged value. And the watchdog decision
// and the QoS 2 configuration warnings.
#include "run/reading_router.hpp"
#include "run/watchdog.hpp"

#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

config::configuration load(const std::string& mqtt_extra, const std::string& point_extra) {
  return config::load_string(R"(gateway: { name: gw }
mqtt: { host: 127.0.0.1, topic_prefix: site)" + mqtt_extra + R"( }
store: { path: ":memory:" }
buses:
  - name: tcp1
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: meter1
        unit: 1
        points:
          - { name: level, table: input, address: 0, type: uint16, publish: on_change)" + point_extra + R"( }
          - { name: volts, table: input, address: 1, type: uint16 }
)",
                             "test.yaml");
}

reading value(const std::string& point, double v) {
  return reading{"meter1", point, point_value{v}, quality::good, "", wall_clock::now()};
}

struct router_fixture {
  explicit router_fixture(const std::string& mqtt_extra = "", const std::string& point_extra = "")
      : configuration(load(mqtt_extra, point_extra)),
        router(configuration, make_null_logger(), [this] { return now; }) {}

  // Routes one reading; the store accepts unless `refuse`.
  std::size_t offer(const reading& r, bool refuse = false) {
    std::size_t offered = 0;
    router.route({r}, [&](store::message m) {
      ++offered;
      if (refuse) return false;
      accepted.push_back(std::move(m));
      return true;
    });
    return offered;
  }

  config::configuration configuration;
  steady::time_point now{std::chrono::hours{1}};
  gateway::reading_router router;
  std::vector<store::message> accepted;
};

TEST(ReadingRouter, RoutesToThePointTopicAndSkipsUnknownPoints) {
  router_fixture f;
  EXPECT_EQ(f.offer(value("volts", 230)), 1u);
  EXPECT_EQ(f.offer(reading{"meter1", "nope", point_value{1.0}, quality::good, "", wall_clock::now()}), 0u);
  ASSERT_EQ(f.accepted.size(), 1u);
  EXPECT_EQ(f.accepted[0].topic, "site/meter1/volts");
  EXPECT_EQ(f.accepted[0].source, "meter1/volts");
  EXPECT_EQ(f.accepted[0].qos, 1);
}

TEST(ReadingRouter, ReadingsInAnyOrderReachTheirOwnTopics) {
  // A poll reports points in configuration order; a read-back, a skipped
  // point or a duplicate breaks it, and each still finds its own route.
  router_fixture f;
  std::vector<std::string> topics;
  f.router.route({value("volts", 1), value("level", 2), value("volts", 3),
                  reading{"meter1", "nope", point_value{4.0}, quality::good, "", wall_clock::now()},
                  value("volts", 5)},
                 [&](store::message m) {
                   topics.push_back(m.topic + "=" + m.payload.substr(m.payload.find("\"value\":") + 8, 1));
                   return true;
                 });
  EXPECT_EQ(topics, (std::vector<std::string>{"site/meter1/volts=1", "site/meter1/level=2", "site/meter1/volts=3",
                                              "site/meter1/volts=5"}));
}

TEST(ReadingRouter, AnUnchangedOnChangeValueIsNotOffered) {
  router_fixture f;
  EXPECT_EQ(f.offer(value("level", 5)), 1u);
  EXPECT_EQ(f.offer(value("level", 5)), 0u);
  EXPECT_EQ(f.offer(value("level", 6)), 1u);
  f.router.forget_device("meter1");
  EXPECT_EQ(f.offer(value("level", 6)), 1u);
}

TEST(ReadingRouter, AnOnChangeValueTheStoreRefusedIsOfferedAgain) {
  router_fixture f;
  EXPECT_EQ(f.offer(value("level", 5)), 1u);
  EXPECT_EQ(f.offer(value("level", 6), /*refuse=*/true), 1u);  // drop_newest: full
  EXPECT_EQ(f.offer(value("level", 6)), 1u);                   // still a change
  EXPECT_EQ(f.offer(value("level", 6)), 0u);
  ASSERT_EQ(f.accepted.size(), 2u);
  EXPECT_NE(f.accepted[1].payload.find("\"value\":6"), std::string::npos) << f.accepted[1].payload;
}

TEST(ReadingRouter, HeartbeatRepublishesAnUnchangedValue) {
  router_fixture f(", heartbeat: 10s");
  EXPECT_EQ(f.offer(value("level", 5)), 1u);
  f.now += 5s;
  EXPECT_EQ(f.offer(value("level", 5)), 0u);
  f.now += 5s;
  EXPECT_EQ(f.offer(value("level", 5)), 1u);  // 10 s since the last one
  f.now += 1s;
  EXPECT_EQ(f.offer(value("level", 5)), 0u);
  f.now += 2s;
  EXPECT_EQ(f.offer(value("level", 7)), 1u);  // a change restarts the period
  f.now += 9s;
  EXPECT_EQ(f.offer(value("level", 7)), 0u);
  f.now += 1s;
  EXPECT_EQ(f.offer(value("level", 7)), 1u);
}

TEST(ReadingRouter, APointHeartbeatOverridesTheDefaultAndZeroTurnsItOff) {
  router_fixture f(", heartbeat: 10s", ", heartbeat: 0s");
  EXPECT_EQ(f.offer(value("level", 5)), 1u);
  f.now += 1h;
  EXPECT_EQ(f.offer(value("level", 5)), 0u);
  router_fixture g("", ", heartbeat: 2s");
  EXPECT_EQ(g.offer(value("level", 5)), 1u);
  g.now += 2s;
  EXPECT_EQ(g.offer(value("level", 5)), 1u);
}

TEST(ReadingRouter, WithoutHeartbeatAnUnchangedValueIsNeverRepublished) {
  router_fixture f;
  EXPECT_EQ(f.offer(value("level", 5)), 1u);
  f.now += 24h;
  EXPECT_EQ(f.offer(value("level", 5)), 0u);
}

TEST(ReadingRouter, AHeartbeatRefusedByTheStoreIsTriedAtTheNextReading) {
  router_fixture f(", heartbeat: 10s");
  EXPECT_EQ(f.offer(value("level", 5)), 1u);
  f.now += 10s;
  EXPECT_EQ(f.offer(value("level", 5), /*refuse=*/true), 1u);
  f.now += 1s;
  EXPECT_EQ(f.offer(value("level", 5)), 1u);
  EXPECT_EQ(f.accepted.size(), 2u);
}

TEST(ReadingRouter, HeartbeatWithoutOnChangeIsAConfigurationError) {
  try {
    config::load_string(R"(buses:
  - name: tcp1
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: meter1
        unit: 1
        points:
          - { name: volts, table: input, address: 1, type: uint16, heartbeat: 5s }
)",
                        "test.yaml");
    ADD_FAILURE() << "loaded";
  } catch (const config::config_error& e) {
    EXPECT_NE(std::string(e.what()).find("'heartbeat' needs 'publish: on_change'"), std::string::npos) << e.what();
  }
}

// --- layout: device -----------------------------------------------------------

// One device of every value type in the device layout, with per-point QoS,
// retain, on_change and heartbeat.
const char* device_layout_yaml = R"(gateway: { name: gw }
mqtt: { host: 127.0.0.1, topic_prefix: site, layout: device, qos: 0 MQTT_EXTRA }
store: { path: ":memory:" }
buses:
  - name: tcp1
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: meter1
        unit: 1
        points:
          - { name: voltage, table: input, address: 0, type: float32, unit: V }
          - { name: energy, table: input, address: 2, type: uint32, unit: kWh, qos: 2 }
          - { name: delta, table: input, address: 4, type: int16 }
          - { name: pump, table: coil, address: 0, type: bool, qos: 1 }
          - { name: model, table: input, address: 10, type: string, length: 4 }
          - { name: level, table: input, address: 20, type: uint16, publish: on_change, deadband: 2, heartbeat: 10s }
          - { name: big, table: input, address: 30, type: uint64 }
      - name: meter2
        unit: 2
        layout: point
        points:
          - { name: volts, table: input, address: 0, type: uint16 }
)";

struct device_fixture {
  explicit device_fixture(const std::string& mqtt_extra = "")
      : configuration(load_yaml(mqtt_extra)), router(configuration, make_null_logger(), [this] { return now; }) {}

  static config::configuration load_yaml(const std::string& mqtt_extra) {
    std::string yaml = device_layout_yaml;
    yaml.replace(yaml.find("MQTT_EXTRA"), 10, mqtt_extra);
    return config::load_string(yaml, "device.yaml");
  }

  reading at(const std::string& point, point_value v, quality q = quality::good) const {
    return reading{"meter1", point, std::move(v), q, q == quality::good ? "" : "timeout", ts};
  }
  // A whole poll of meter1 (the level as given).
  std::vector<reading> poll(point_value level) const {
    return {at("voltage", 230.5), at("energy", std::uint64_t{1234}), at("delta", std::int64_t{-3}),
            at("pump", false), at("model", std::string{"FB\"1"}), at("level", std::move(level)),
            at("big", std::uint64_t{18446744073709551615u})};
  }

  // Routes one poll; returns the messages offered. The store accepts unless `refuse`.
  std::vector<store::message> route(const std::vector<reading>& readings, bool refuse = false) {
    std::vector<store::message> offered;
    router.route(readings, [&](store::message m) {
      offered.push_back(m);
      if (refuse) return false;
      accepted.push_back(std::move(m));
      return true;
    });
    return offered;
  }
  // Routes one poll and returns the device message (failing when there is
  // not exactly one besides the meta).
  store::message device_message(const std::vector<reading>& readings) {
    auto offered = route(readings);
    std::vector<store::message> out;
    for (auto& m : offered)
      if (m.topic == "site/meter1") out.push_back(std::move(m));
    if (out.size() != 1) {
      ADD_FAILURE() << out.size() << " device messages";
      return {};
    }
    return out.front();
  }

  config::configuration configuration;
  steady::time_point now{std::chrono::hours{1}};
  wall_clock::time_point ts = wall_clock::time_point{} + std::chrono::seconds{1764700000} + 250ms;
  gateway::reading_router router;
  std::vector<store::message> accepted;
};

TEST(ReadingRouterDeviceLayout, OnePollIsOneMessageWithEveryValueType) {
  device_fixture f;
  const auto offered = f.route(f.poll(std::uint64_t{7}));
  // The retained meta with the units first (once), then the poll.
  ASSERT_EQ(offered.size(), 2u);
  EXPECT_EQ(offered[0].topic, "site/meter1/meta");
  EXPECT_EQ(offered[0].payload, R"({"units":{"voltage":"V","energy":"kWh"}})");
  EXPECT_TRUE(offered[0].retain);
  EXPECT_EQ(offered[0].qos, 2);
  const auto& m = offered[1];
  EXPECT_EQ(m.topic, "site/meter1");
  EXPECT_EQ(m.payload, R"({"ts":"2025-12-02T18:26:40.250Z","values":{"voltage":230.5,"energy":1234,"delta":-3,)"
                       R"("pump":false,"model":"FB\"1","level":7,"big":18446744073709551615}})");
  EXPECT_EQ(m.source, "meter1");
  EXPECT_EQ(m.ts, f.ts);
  EXPECT_EQ(m.qos, 2);  // the highest of its points: energy's
  EXPECT_FALSE(m.retain);
  // The next poll: no meta again.
  const auto next = f.route(f.poll(std::uint64_t{9}));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].topic, "site/meter1");
}

TEST(ReadingRouterDeviceLayout, QosIsTheHighestOfThePointsInTheMessage) {
  device_fixture f;
  f.route(f.poll(std::uint64_t{7}));  // level published
  EXPECT_EQ(f.device_message({f.at("voltage", 1.0)}).qos, 0);
  EXPECT_EQ(f.device_message({f.at("voltage", 1.0), f.at("pump", true)}).qos, 1);
  EXPECT_EQ(f.device_message({f.at("pump", true), f.at("energy", std::uint64_t{1})}).qos, 2);
}

TEST(ReadingRouterDeviceLayout, RetainedWhenAnyPointIsRetained) {
  device_fixture f(", retain: true");
  EXPECT_TRUE(f.device_message({f.at("voltage", 1.0)}).retain);
}

TEST(ReadingRouterDeviceLayout, BadAndNonFinitePointsAreLeftOut) {
  device_fixture f;
  auto poll = f.poll(std::uint64_t{7});
  poll[0] = f.at("voltage", 0.0, quality::bad);
  poll[2] = f.at("delta", std::numeric_limits<double>::quiet_NaN());
  const auto m = f.device_message(poll);
  EXPECT_EQ(m.payload, R"({"ts":"2025-12-02T18:26:40.250Z","values":{"energy":1234,"pump":false,"model":"FB\"1",)"
                       R"("level":7,"big":18446744073709551615}})");
  // Every point bad: no message at all.
  EXPECT_TRUE(f.route({f.at("voltage", 0.0, quality::bad), f.at("pump", false, quality::bad)}).empty());
  // Bad last: the separator of the good one before it stays right.
  EXPECT_EQ(f.device_message({f.at("voltage", 1.5), f.at("pump", false, quality::bad)}).payload,
            R"({"ts":"2025-12-02T18:26:40.250Z","values":{"voltage":1.5}})");
}

TEST(ReadingRouterDeviceLayout, OnChangeDeadbandAndHeartbeatPerPoint) {
  device_fixture f;
  f.route(f.poll(std::uint64_t{7}));
  // level within the deadband: left out, the others (publish: always) stay.
  auto m = f.device_message(f.poll(std::uint64_t{8}));
  EXPECT_EQ(m.payload.find("\"level\""), std::string::npos) << m.payload;
  EXPECT_NE(m.payload.find("\"voltage\":230.5"), std::string::npos) << m.payload;
  // Only level in the poll and not due: no message.
  EXPECT_TRUE(f.route({f.at("level", std::uint64_t{9})}).empty());
  // Beyond the deadband (from 7, the last published): in.
  m = f.device_message({f.at("level", std::uint64_t{10})});
  EXPECT_EQ(m.payload, R"({"ts":"2025-12-02T18:26:40.250Z","values":{"level":10}})");
  EXPECT_EQ(m.qos, 0);
  // Unchanged: due again by its heartbeat, 10 s after it was published.
  f.now += 9s;
  EXPECT_TRUE(f.route({f.at("level", std::uint64_t{10})}).empty());
  f.now += 1s;
  EXPECT_EQ(f.device_message({f.at("level", std::uint64_t{10})}).payload,
            R"({"ts":"2025-12-02T18:26:40.250Z","values":{"level":10}})");
  // Offline and back: the first value is published whatever it is.
  f.router.forget_device("meter1");
  EXPECT_EQ(f.route({f.at("level", std::uint64_t{10})}).size(), 1u);
}

TEST(ReadingRouterDeviceLayout, AMessageTheStoreRefusedPublishesNoneOfItsPoints) {
  device_fixture f;
  // The meta and the message refused (drop_newest: full): both offered again.
  EXPECT_EQ(f.route({f.at("level", std::uint64_t{7})}, /*refuse=*/true).size(), 2u);
  const auto again = f.route({f.at("level", std::uint64_t{7})});
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].topic, "site/meter1/meta");
  EXPECT_EQ(again[1].payload, R"({"ts":"2025-12-02T18:26:40.250Z","values":{"level":7}})");
  EXPECT_TRUE(f.route({f.at("level", std::uint64_t{7})}).empty());
}

TEST(ReadingRouterDeviceLayout, ADeviceInThePointLayoutKeepsItsTopicsByteForByte) {
  device_fixture f;
  const auto offered = f.route({reading{"meter2", "volts", point_value{std::int64_t{230}}, quality::good, "", f.ts}});
  ASSERT_EQ(offered.size(), 1u);
  EXPECT_EQ(offered[0].topic, "site/meter2/volts");
  EXPECT_EQ(offered[0].payload, R"({"value":230,"ts":"2025-12-02T18:26:40.250Z"})");
  EXPECT_EQ(offered[0].source, "meter2/volts");
}

TEST(ReadingRouterDeviceLayout, ReadingsOfTwoDevicesInOneCallAreTwoMessages) {
  device_fixture f;
  const auto offered = f.route({f.at("voltage", 1.0), reading{"meter2", "volts", point_value{1.0}, quality::good, "", f.ts},
                                f.at("pump", true), reading{"nobody", "x", point_value{1.0}, quality::good, "", f.ts}});
  std::vector<std::string> topics;
  for (const auto& m : offered) topics.push_back(m.topic);
  EXPECT_EQ(topics, (std::vector<std::string>{"site/meter1/meta", "site/meter1", "site/meter2/volts", "site/meter1"}));
}

TEST(ReadingRouterDeviceLayout, ANewValueAfterAWriteIsInTheNextMessage) {
  device_fixture f;
  f.route(f.poll(std::uint64_t{7}));
  auto poll = f.poll(std::uint64_t{7});
  poll[3] = f.at("pump", true);  // written through /set, read back by the next poll
  EXPECT_NE(f.device_message(poll).payload.find("\"pump\":true"), std::string::npos);
}

TEST(Watchdog, FedOnlyWhileEverySourceMovedWithinItsLimit) {
  const steady::time_point now{std::chrono::hours{1}};
  std::vector<gateway::progress_source> sources{{"the store", now - 1s, 10s}, {"bus tcp1", now - 2s, 10s}};
  EXPECT_FALSE(gateway::find_stall(now, sources));
  sources[1].last = now - 11s;  // a worker stuck in one request
  const auto stuck = gateway::find_stall(now, sources);
  ASSERT_TRUE(stuck);
  EXPECT_EQ(stuck->name, "bus tcp1");
  EXPECT_EQ(stuck->since, 11s);
  sources[1].last = now - 10s;  // exactly the limit is not a stall yet
  EXPECT_FALSE(gateway::find_stall(now, sources));
  sources[0].last = now - 30s;
  const auto store = gateway::find_stall(now, sources);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->name, "the store");
}

TEST(Watchdog, StallLimitLeavesRoomForSlowTurnsAndTheWatchdogPeriod) {
  EXPECT_EQ(gateway::stall_limit(500ms, 400ms), 10s);
  EXPECT_EQ(gateway::stall_limit(5s, 400ms), 15s);
  EXPECT_EQ(gateway::stall_limit(500ms, 30s), 30s);
}

TEST(ConfigWarnings, Qos2WithASessionThatEndsWithTheConnectionWarns) {
  const auto with = [](const std::string& mqtt) {
    return config::warnings(config::load_string(R"(mqtt: { host: 127.0.0.1)" + mqtt + R"( }
buses:
  - name: tcp1
    modbus_tcp: { host: 127.0.0.1, port: 1502 }
    devices:
      - name: meter1
        unit: 1
        points:
          - { name: volts, table: input, address: 1, type: uint16 }
)",
                                                "test.yaml"));
  };
  EXPECT_TRUE(with(", qos: 2").empty());
  EXPECT_TRUE(with(", qos: 1, clean_start: true").empty());
  ASSERT_EQ(with(", qos: 2, clean_start: true").size(), 1u);
  EXPECT_NE(with(", qos: 2, clean_start: true")[0].find("clean_start"), std::string::npos);
  ASSERT_EQ(with(", qos: 2, session_expiry: 0s").size(), 1u);
  EXPECT_NE(with(", qos: 2, session_expiry: 0s")[0].find("session_expiry"), std::string::npos);
  EXPECT_TRUE(with(", qos: 2, session_expiry: 0s, protocol: 3.1.1").empty());
}

}  // namespace
}  // namespace fieldbridge::test
