// The reading router with a fake clock and a scripted store: routes and
// payloads, on_change recorded only once the store accepted the value, the
// heartbeat that republishes an unchanged value. And the watchdog decision
// and the QoS 2 configuration warnings.
#include "run/reading_router.hpp"
#include "run/watchdog.hpp"

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
