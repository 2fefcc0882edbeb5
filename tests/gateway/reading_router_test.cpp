// The reading router with a fake clock and a scripted store: routes,
// payloads and on_change.
#include "run/reading_router.hpp"

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

}  // namespace
}  // namespace fieldbridge::test
