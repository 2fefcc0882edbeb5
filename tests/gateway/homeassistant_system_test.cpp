// Home Assistant discovery through `fieldbridge run` and a real mosquitto on
// a free loopback port: every entity's config is retained under the
// discovery prefix, announced again when Home Assistant says `online`, and
// cleared once its point has left the configuration. The bus points at a
// port nobody listens on: discovery does not wait for readings.
#include <signal.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mosquitto.hpp"
#include "network.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {
namespace {

// "TOPIC PAYLOAD" lines (mosquitto_sub -v, `check --homeassistant`) as a map;
// other lines (the check's summary) are left out.
std::map<std::string, std::string> discovery_lines(const std::string& text, const std::string& prefix = "") {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    if (space == std::string::npos || line.rfind("homeassistant/", 0) != 0) continue;
    if (!prefix.empty() && line.rfind(prefix, 0) != 0) continue;
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

class HomeAssistantRun : public ::testing::Test {
 protected:
  HomeAssistantRun() { broker_.start(); }

  std::filesystem::path write_config(bool with_pump) {
    const std::string pump = with_pump ? "\n          - { name: pump, table: coil, address: 0, writable: true }" : "";
    return config_ = dir_.write_file("gateway.yaml", fmt::format(R"(gateway: {{ name: gw, stats_interval: 0 }}
mqtt: {{ host: 127.0.0.1, port: {}, topic_prefix: test/gw, keepalive: 5s, reconnect: {{ min: 50ms, max: 200ms }} }}
store: {{ path: {}, hot_path: none }}
homeassistant: {{ enabled: true }}
buses:
  - name: tcp1
    modbus_tcp: {{ host: 127.0.0.1, port: {} }}
    devices:
      - name: meter1
        unit: 1
        manufacturer: Eastron
        points:
          - {{ name: voltage, table: input, address: 0, type: float32, unit: V }}
          - {{ name: setpoint, table: holding, address: 10, type: int16, scale: 0.1, writable: true }}{}
)",
                                                                  broker_.port(), (dir_ / "queue.db").string(),
                                                                  device_port_, pump));
  }

  // What `fieldbridge check --homeassistant` says the file announces.
  std::map<std::string, std::string> expected() const {
    const auto r = run_command({fieldbridge_binary(), "check", "-c", config_.string(), "--homeassistant"}, 10s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return discovery_lines(r.output);
  }

  child_process start_gateway() {
    child_process gw({fieldbridge_binary(), "run", "-c", config_.string()}, dir_ / "gateway.log");
    if (!wait_until([&] { return gw.log().find("Home Assistant: announced") != std::string::npos || !gw.running(); },
                    10s) ||
        !gw.running())
      ADD_FAILURE() << "the gateway did not announce:\n" << gw.log();
    return gw;
  }

  // The retained discovery configs now, as a new subscriber gets them.
  std::map<std::string, std::string> retained(std::size_t count) const {
    const auto r = run_command({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker_.port()), "-v",
                                "--retained-only", "-W", "3", "-C", std::to_string(count), "-t", "homeassistant/#"},
                               10s);
    return discovery_lines(r.output);
  }

  // The retained payload on one topic, or "" when there is none (after 1 s).
  std::string retained_one(const std::string& topic) const {
    const auto r = run_command({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker_.port()),
                                "--retained-only", "-W", "1", "-C", "1", "-t", topic},
                               5s);
    return r.exit_code == 0 ? r.output : "";
  }

  temp_dir dir_{"fieldbridge-ha"};
  mosquitto_broker broker_;
  std::uint16_t device_port_ = free_tcp_port();  // nothing answers there; the configs need no readings
  std::filesystem::path config_;
};

TEST_F(HomeAssistantRun, every_entity_config_is_retained_and_announced_again_when_home_assistant_starts) {
  write_config(true);
  const auto want = expected();
  ASSERT_EQ(want.size(), 4u);  // the gateway's status, voltage, setpoint, pump
  auto gw = start_gateway();
  EXPECT_TRUE(wait_until([&] { return retained(want.size()) == want; }, 10s)) << gw.log();

  // A subscriber that stays: the retained copies come with the retain flag
  // set, what the gateway publishes while it listens without.
  child_process sub({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker_.port()), "-F", "%r %t %p",
                     "-t", "homeassistant/+/+/+/config"},
                    dir_ / "sub.log");
  ASSERT_TRUE(wait_until([&] {
    std::size_t n = 0;
    std::istringstream lines(sub.log());
    for (std::string line; std::getline(lines, line);) n += line.rfind("1 homeassistant/", 0) == 0;
    return n == want.size();
  })) << sub.log();
  const auto r = run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_.port()), "-t",
                              "homeassistant/status", "-m", "online"},
                             10s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, std::string> again;
  EXPECT_TRUE(wait_until([&] {
    again.clear();
    std::istringstream lines(sub.log());
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("0 ", 0) != 0) continue;
      const auto text = line.substr(2);
      const auto space = text.find(' ');
      if (space != std::string::npos) again[text.substr(0, space)] = text.substr(space + 1);
    }
    return again == want;
  })) << sub.log();
  sub.stop(2s);
  EXPECT_EQ(gw.stop(), 0);
}

// "Published after each connect": a broker that comes back without its
// retained messages (its persistence file gone) gets every config again.
TEST_F(HomeAssistantRun, every_config_is_announced_again_after_a_reconnect) {
  write_config(true);
  const auto want = expected();
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return retained(want.size()) == want; }, 10s)) << gw.log();

  broker_.stop();
  std::filesystem::remove(broker_.directory() / "mosquitto.db");
  broker_.start();  // empty: whatever is retained now, the gateway published after the reconnect
  EXPECT_TRUE(wait_until([&] { return retained(want.size()) == want; }, 10s)) << gw.log();
  EXPECT_EQ(gw.stop(), 0);
}

TEST_F(HomeAssistantRun, a_removed_point_has_its_config_cleared_at_the_next_start) {
  write_config(true);
  const auto before = expected();
  {
    auto gw = start_gateway();
    ASSERT_TRUE(wait_until([&] { return retained(before.size()) == before; }, 10s)) << gw.log();
    EXPECT_EQ(gw.stop(), 0);
  }
  const auto state = read_file(dir_ / "queue.db.homeassistant");
  for (const auto& [topic, payload] : before) EXPECT_NE(state.find(topic + "\n"), std::string::npos) << state;

  write_config(false);  // the pump is gone
  const auto after = expected();
  ASSERT_EQ(after.size(), before.size() - 1);
  const std::string pump_topic = "homeassistant/switch/gw/meter1_pump/config";
  ASSERT_TRUE(before.count(pump_topic));
  ASSERT_FALSE(after.count(pump_topic));
  auto gw = start_gateway();
  EXPECT_TRUE(wait_until([&] { return retained_one(pump_topic).empty(); }, 10s)) << gw.log();
  EXPECT_EQ(retained(after.size()), after);
  EXPECT_TRUE(wait_until([&] { return read_file(dir_ / "queue.db.homeassistant").find(pump_topic) == std::string::npos; },
                         5s))
      << read_file(dir_ / "queue.db.homeassistant");
  EXPECT_EQ(gw.stop(), 0);
}

// A reload (SIGHUP) that adds a point announces its config at once; one
// that removes it clears it, and the state file forgets it.
TEST_F(HomeAssistantRun, a_reload_announces_an_added_point_and_clears_a_removed_one) {
  write_config(false);
  const auto without = expected();
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return retained(without.size()) == without; }, 10s)) << gw.log();
  const std::string pump_topic = "homeassistant/switch/gw/meter1_pump/config";
  ASSERT_EQ(retained_one(pump_topic), "");

  const auto applied = [&](std::size_t n) {
    return wait_until([&] {
      const auto log = gw.log();
      std::size_t count = 0;
      for (auto at = log.find("reload: applied"); at != std::string::npos; at = log.find("reload: applied", at + 1))
        ++count;
      return count >= n;
    }, 10s);
  };
  write_config(true);
  const auto with = expected();
  ASSERT_TRUE(with.count(pump_topic));
  gw.signal(SIGHUP);
  ASSERT_TRUE(applied(1)) << gw.log();
  EXPECT_TRUE(wait_until([&] { return retained(with.size()) == with; }, 10s)) << gw.log();

  write_config(false);
  gw.signal(SIGHUP);
  ASSERT_TRUE(applied(2)) << gw.log();
  EXPECT_TRUE(wait_until([&] { return retained_one(pump_topic).empty(); }, 10s)) << gw.log();
  EXPECT_EQ(retained(without.size()), without);
  EXPECT_TRUE(wait_until([&] { return read_file(dir_ / "queue.db.homeassistant").find(pump_topic) == std::string::npos; },
                         5s))
      << read_file(dir_ / "queue.db.homeassistant");
  EXPECT_EQ(gw.stop(), 0);
}

}  // namespace
}  // namespace fieldbridge::test
