// The command router wired as the runtime will wire it: a real mqtt::client
// to a real mosquitto, a real Modbus TCP bus to an in-process libmodbus
// server, and a second client playing the SCADA side. Both protocol versions.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bus_fixture.hpp"
#include "client_recorder.hpp"
#include "command_router.hpp"
#include "fieldbridge/config/config.hpp"
#include "modbus_test_server.hpp"
#include "mosquitto.hpp"
#include "network.hpp"

namespace fieldbridge::test {
namespace {

namespace mq = fieldbridge::mqtt;

std::size_t writes_seen(modbus_test_server& server) {
  const auto functions = server.functions_seen();
  return static_cast<std::size_t>(std::count_if(functions.begin(), functions.end(), [](int f) {
    return f == 5 || f == 6 || f == 15 || f == 16;
  }));
}

class command_system_test : public ::testing::TestWithParam<mq::protocol_version> {
 protected:
  // Declared first, destroyed last: the bus and the clients post to it.
  event_loop loop_;
};

TEST_P(command_system_test, a_set_command_writes_the_register_and_answers_with_the_value_read_back) {
  const bool v5 = GetParam() == mq::protocol_version::v5;
  const std::uint16_t modbus_port = free_tcp_port();
  auto server = modbus_test_server::tcp(modbus_port);
  server->set(register_table::holding_register, 10, {0});
  const auto config = config::load_string(fmt::format(R"(
mqtt: {{ topic_prefix: test/gw }}
buses:
  - name: plc
    modbus_tcp: {{ host: 127.0.0.1, port: {} }}
    timeout: 500ms
    devices:
      - name: meter1
        unit: 1
        poll_interval: 1h
        points:
          - {{ name: setpoint, table: holding, address: 10, type: int16, scale: 0.1, writable: true, min: 0, max: 80 }}
          - {{ name: pump, table: coil, address: 0, type: bool, writable: true }}
)",
                                                      modbus_port),
                                          "system.yaml");

  mosquitto_broker broker;
  recorded_client scada(loop_.context, loopback_options(broker.port(), GetParam(), "scada"));
  scada.client->start();
  ASSERT_TRUE(loop_.run_until([&] { return scada.connects() == 1; })) << broker.log();
  std::optional<mq::subscribe_result> scada_subscribed;
  scada.client->subscribe({mq::subscription{"test/gw/+/+/set/result", {mq::qos::at_least_once}},
                           mq::subscription{"replies/#", {mq::qos::at_least_once}}},
                          [&](const mq::subscribe_result& r) { scada_subscribed = r; });
  ASSERT_TRUE(loop_.run_until([&] { return scada_subscribed.has_value(); }));
  // A careless tool left a retained command on the broker before the gateway came up.
  scada.publish("test/gw/meter1/setpoint/set", "12", mq::qos::at_least_once, /*retain=*/true);
  ASSERT_TRUE(loop_.run_until([&] { return scada.done("12"); }));

  // The gateway side: bus, client and router, wired as the runtime does.
  const auto logger = make_null_logger();
  auto bus = drivers::make_bus(config.buses.at(0), loop_.context.get_executor(), {[](auto) {}, [](auto) {}},
                               logger);
  bus->start();
  mq::client gateway(loop_.context, loopback_options(broker.port(), GetParam(), "gw"), logger);
  gateway::command_router router(
      config,
      [&](std::string_view device, std::string_view point, point_value value, drivers::write_handler done) {
        bus->write(device, point, std::move(value), std::move(done));
      },
      [&](mq::publish_packet result) { gateway.publish(std::move(result), {}); }, logger);
  std::optional<mq::subscribe_result> gateway_subscribed;
  gateway.on_connection([&](const mq::connection_event& event) {
    if (event.connected && !event.session_present) {
      gateway.subscribe(router.subscriptions(), [&](const mq::subscribe_result& r) { gateway_subscribed = r; });
    }
  });
  gateway.on_message([&](const mq::publish_packet& message) { router.on_message(message); });
  gateway.start();
  ASSERT_TRUE(loop_.run_until([&] { return gateway_subscribed.has_value(); })) << broker.log();
  ASSERT_EQ(gateway_subscribed->codes, std::vector<mq::reason_code>{mq::reason_code::granted_qos_1});

  // A live command. With MQTT 5 it asks for its answer elsewhere.
  mq::properties props;
  if (v5) {
    props.add(mq::property_id::response_topic, std::string("replies/scada"));
    props.add(mq::property_id::correlation_data, std::vector<std::uint8_t>{0xC0, 0xFF, 0xEE});
  }
  scada.client->publish("test/gw/meter1/setpoint/set", R"({"value": 42.5})", mq::qos::at_least_once, false, props);
  ASSERT_TRUE(loop_.run_until([&] { return !scada.messages.empty(); })) << broker.log();
  // The retained command, delivered before the live one if at all, was not written.
  EXPECT_EQ(scada.messages.size(), 1U);
  EXPECT_EQ(writes_seen(*server), 1U);
  const auto& result = scada.messages.at(0);
  EXPECT_EQ(result.topic, v5 ? "replies/scada" : "test/gw/meter1/setpoint/set/result");
  EXPECT_EQ(text_of(result.payload), R"({"ok":true,"value":42.5})");
  if (v5) {
    const auto correlation = result.props.binary(mq::property_id::correlation_data);
    ASSERT_TRUE(correlation.has_value());
    EXPECT_EQ(std::vector<std::uint8_t>(correlation->begin(), correlation->end()),
              (std::vector<std::uint8_t>{0xC0, 0xFF, 0xEE}));
  }
  EXPECT_EQ(server->get(register_table::holding_register, 10, 1), std::vector<std::uint16_t>{425});

  // A refused command is answered without bus traffic; a coil takes true.
  scada.publish("test/gw/meter1/setpoint/set", "90", mq::qos::at_least_once);
  ASSERT_TRUE(loop_.run_until([&] { return scada.messages.size() == 2; }));
  EXPECT_EQ(text_of(scada.messages[1].payload), R"({"ok":false,"error":"above max 80"})");
  EXPECT_EQ(writes_seen(*server), 1U);
  scada.publish("test/gw/meter1/pump/set", "true", mq::qos::at_least_once);
  ASSERT_TRUE(loop_.run_until([&] { return scada.messages.size() == 3; }));
  EXPECT_EQ(scada.messages[2].topic, "test/gw/meter1/pump/set/result");
  EXPECT_EQ(text_of(scada.messages[2].payload), R"({"ok":true,"value":true})");
  EXPECT_EQ(server->get(register_table::coil, 0, 1), std::vector<std::uint16_t>{1});
  EXPECT_EQ(router.pending(), 0U);

  bus->stop();
  gateway.stop();
  scada.client->stop();
}

INSTANTIATE_TEST_SUITE_P(protocols, command_system_test,
                         ::testing::Values(mq::protocol_version::v5, mq::protocol_version::v311),
                         [](const auto& param_info) {
                           return param_info.param == mq::protocol_version::v5 ? std::string("v5") : std::string("v311");
                         });

}  // namespace
}  // namespace fieldbridge::test
