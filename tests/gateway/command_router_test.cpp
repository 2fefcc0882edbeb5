// The command router with a fake bus and a fake publisher: every accepted
// payload shape, every refusal with its exact result and no write, MQTT 5
// response topics, retained and foreign messages, and late or double results.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "command_router.hpp"
#include "fieldbridge/config/config.hpp"

namespace fieldbridge::gateway {
namespace {

const std::string configuration_text = R"(
mqtt: { topic_prefix: plant1/boiler }
buses:
  - name: plc
    modbus_tcp: { host: 127.0.0.1 }
    devices:
      - name: meter1
        unit: 1
        points:
          - { name: setpoint, table: holding, address: 10, type: int16, scale: 0.1, writable: true, min: 0, max: 80 }
          - { name: pump, table: coil, address: 0, type: bool, writable: true }
          - { name: raw, table: holding, address: 11, type: uint16, writable: true }
          - { name: level, table: holding, address: 12, type: int16, writable: true }
          - { name: set, table: holding, address: 13, type: float32, writable: true }
          - { name: alarm, table: holding, address: 20, bit: 3, writable: true }
          - { name: count, table: holding, address: 30, type: uint64, writable: true }
          - { name: voltage, table: input, address: 0, type: float32 }
          - { name: mode, table: holding, address: 40, writable: true, map: { 0: stopped, 1: running, 2: fault } }
          - { name: state, table: holding, address: 41, writable: true, mask: 0x0F }
)";

struct write_call {
  std::string device;
  std::string point;
  point_value value;
  drivers::write_handler done;
};

std::string text_of(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

mqtt::publish_packet command(std::string topic, std::string_view payload, bool retain = false) {
  mqtt::publish_packet message;
  message.topic = std::move(topic);
  message.payload.assign(payload.begin(), payload.end());
  message.qos = mqtt::qos::at_least_once;
  message.retain = retain;
  return message;
}

std::string refusal(std::string_view json_escaped_error) {
  return R"({"ok":false,"error":")" + std::string(json_escaped_error) + "\"}";
}

class command_router_test : public ::testing::Test {
 protected:
  command_router_test()
      : config_(config::load_string(configuration_text, "router.yaml")),
        router_(std::make_unique<command_router>(
            config_,
            [this](std::string_view device, std::string_view point, point_value value,
                   drivers::write_handler done) {
              writes_.push_back({std::string(device), std::string(point), std::move(value), std::move(done)});
            },
            [this](mqtt::publish_packet message) { published_.push_back(std::move(message)); },
            make_null_logger())) {}

  // Sends `payload` to meter1/<point>/set; the command must be refused with
  // `json_escaped_error` on .../set/result and never reach the bus.
  void expect_refused(const std::string& point, std::string_view payload, std::string_view json_escaped_error) {
    SCOPED_TRACE(point + " <- " + std::string(payload));
    const std::size_t before = published_.size();
    const std::string topic = "plant1/boiler/meter1/" + point + "/set";
    EXPECT_TRUE(router_->on_message(command(topic, payload)));
    EXPECT_TRUE(writes_.empty());
    ASSERT_EQ(published_.size(), before + 1);
    EXPECT_EQ(published_.back().topic, topic + "/result");
    EXPECT_EQ(text_of(published_.back().payload), refusal(json_escaped_error));
    EXPECT_EQ(published_.back().qos, mqtt::qos::at_least_once);
    EXPECT_FALSE(published_.back().retain);
    EXPECT_EQ(router_->pending(), 0U);
  }

  config::configuration config_;
  std::vector<write_call> writes_;
  std::vector<mqtt::publish_packet> published_;
  std::unique_ptr<command_router> router_;
};

TEST_F(command_router_test, subscribes_to_every_set_topic_under_the_prefix_without_retained_messages) {
  const auto subscriptions = router_->subscriptions();
  ASSERT_EQ(subscriptions.size(), 1U);
  EXPECT_EQ(subscriptions[0].filter, "plant1/boiler/+/+/set");
  EXPECT_EQ(subscriptions[0].options.max_qos, mqtt::qos::at_least_once);
  EXPECT_EQ(subscriptions[0].options.retain_handling, mqtt::retain_handling::dont_send);
}

// Issue 10 defect 8: a broker without wildcard subscriptions gets one
// filter per writable point, never the wildcard it would refuse.
TEST_F(command_router_test, subscribes_per_writable_point_when_the_broker_has_no_wildcards) {
  const auto subscriptions = router_->subscriptions(false);
  ASSERT_FALSE(subscriptions.empty());
  std::size_t writable = 0;
  for (const auto& device : config_.buses.at(0).devices) {
    for (const auto& point : device.points) writable += point.writable ? 1 : 0;
  }
  EXPECT_EQ(writable, 9U);  // the fixture's writable points, the mapped and masked ones included
  EXPECT_EQ(subscriptions.size(), writable);
  EXPECT_EQ(subscriptions.at(0).filter.substr(0, 21), "plant1/boiler/meter1/");
  for (const auto& s : subscriptions) EXPECT_EQ(s.filter.find("voltage"), std::string::npos) << "read-only";
  for (const auto& s : subscriptions) {
    EXPECT_EQ(s.filter.find_first_of("+#"), std::string::npos) << s.filter;
    EXPECT_TRUE(s.filter.starts_with("plant1/boiler/")) << s.filter;
    EXPECT_TRUE(s.filter.ends_with("/set")) << s.filter;
    EXPECT_EQ(s.options.retain_handling, mqtt::retain_handling::dont_send);
  }
}

TEST_F(command_router_test, every_accepted_shape_is_written_and_answered_with_the_read_back_value) {
  struct accepted {
    std::string point;
    std::string payload;
    point_value value;
    std::string json;  // the value as the result spells it
  };
  const std::vector<accepted> cases = {
      {"level", "42", point_value{std::int64_t{42}}, "42"},
      {"level", " \t42\r\n", point_value{std::int64_t{42}}, "42"},
      {"level", "-7", point_value{std::int64_t{-7}}, "-7"},
      {"level", "-0", point_value{std::int64_t{0}}, "0"},
      {"level", "1e1", point_value{10.0}, "10"},
      {"setpoint", "42.5", point_value{42.5}, "42.5"},
      {"setpoint", "4.25E+1", point_value{42.5}, "42.5"},
      {"level", R"({"value":42})", point_value{std::int64_t{42}}, "42"},
      {"level", " { \"value\" :\n-3 } ", point_value{std::int64_t{-3}}, "-3"},
      {"pump", "true", point_value{true}, "true"},
      {"pump", R"({"value":false})", point_value{false}, "false"},
      {"alarm", "true", point_value{true}, "true"},
      {"count", "18446744073709551615", point_value{std::uint64_t{18446744073709551615ULL}}, "18446744073709551615"},
      {"set", "1.5", point_value{1.5}, "1.5"},  // a point named "set": .../set/set
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.point + " <- " + c.payload);
    writes_.clear();
    published_.clear();
    const std::string topic = "plant1/boiler/meter1/" + c.point + "/set";
    EXPECT_TRUE(router_->on_message(command(topic, c.payload)));
    ASSERT_EQ(writes_.size(), 1U);
    EXPECT_EQ(writes_[0].device, "meter1");
    EXPECT_EQ(writes_[0].point, c.point);
    EXPECT_EQ(writes_[0].value, c.value);
    EXPECT_TRUE(published_.empty()) << "answered before the bus did";
    EXPECT_EQ(router_->pending(), 1U);

    writes_[0].done(drivers::write_result{true, writes_[0].value, {}});
    ASSERT_EQ(published_.size(), 1U);
    EXPECT_EQ(published_[0].topic, topic + "/result");
    EXPECT_EQ(text_of(published_[0].payload), R"({"ok":true,"value":)" + c.json + "}");
    EXPECT_EQ(published_[0].qos, mqtt::qos::at_least_once);
    EXPECT_FALSE(published_[0].retain);
    EXPECT_TRUE(published_[0].props.empty());
    EXPECT_EQ(router_->pending(), 0U);
  }
}

TEST_F(command_router_test, the_result_carries_what_the_bus_read_back_not_what_was_asked) {
  router_->on_message(command("plant1/boiler/meter1/setpoint/set", "42.04"));
  ASSERT_EQ(writes_.size(), 1U);
  writes_[0].done(drivers::write_result{true, point_value{42.0}, {}});
  ASSERT_EQ(published_.size(), 1U);
  EXPECT_EQ(text_of(published_[0].payload), R"({"ok":true,"value":42})");
}

TEST_F(command_router_test, malformed_payloads_are_refused_without_a_write) {
  const std::string shape = R"(expected a number, true, false or {\"value\": ...})";
  for (const char* payload : {"abc", "\"42\"", "[42]", "null", "NaN", "-NaN", "Infinity", "-Infinity", "+1",
                              ".5", "1.", "1e", "1e+", "-", "--1", "{}", "{", R"({"value":})",
                              R"({"value":"42"})", R"({"value":{"value":42}})", R"({"value":[42]})",
                              R"({value:42})", "True", "FALSE", "on", " ", "\v42"}) {
    expect_refused("level", payload, shape);
  }
  for (const char* payload : {"42abc", "42 43", "0x10", "01", R"({"value":42}x)", "true false", "42,"}) {
    expect_refused("level", payload, "unexpected text after the value");
  }
  expect_refused("level", R"({"value":42,"value":43})",
                 R"(expected '}' after the value: only {\"value\": ...} is accepted)");
  expect_refused("level", R"({"value":42,"unit":"V"})",
                 R"(expected '}' after the value: only {\"value\": ...} is accepted)");
  expect_refused("level", R"({"val":42})", R"(unknown key 'val' (only \"value\" is accepted))");
  expect_refused("level", R"({"val\u0075e":42})", R"(unknown key 'val\\u0075e' (only \"value\" is accepted))");
  expect_refused("level", "{\"\xff\x01k\":1}", R"(unknown key '??k' (only \"value\" is accepted))");
  expect_refused("level", "{\"" + std::string(40, 'k') + "\":1}",
                 "unknown key '" + std::string(32, 'k') + R"(...' (only \"value\" is accepted))");
  expect_refused("level", "1e400", "number out of range");
  expect_refused("set", "-1e99999999999999999999", "number out of range");
}

TEST_F(command_router_test, values_the_point_does_not_allow_are_refused_with_the_drivers_words) {
  expect_refused("setpoint", "80.5", "above max 80");
  expect_refused("setpoint", R"({"value":-1})", "below min 0");
  expect_refused("setpoint", "true", "expected a number");
  expect_refused("level", "32768", "out of range for int16");
  expect_refused("level", "-32769", "out of range for int16");
  expect_refused("level", "1e308", "out of range for int16");
  expect_refused("raw", "-1", "out of range for uint16");
  expect_refused("raw", "65536", "out of range for uint16");
  expect_refused("count", "18446744073709551616", "out of range for uint64");
  expect_refused("set", "1e39", "out of range for float32");
  expect_refused("pump", "1", "expected true or false");
  expect_refused("pump", R"({"value":0})", "expected true or false");
  expect_refused("alarm", "1", "expected true or false");
  expect_refused("voltage", "230", "point 'voltage' is not writable");
}

TEST_F(command_router_test, a_mapped_point_takes_its_names_bare_quoted_or_as_value) {
  for (const std::string_view payload : {"running", R"("running")", R"({"value":"running"})", R"( { "value" : "running" } )"}) {
    SCOPED_TRACE(std::string(payload));
    writes_.clear();
    EXPECT_TRUE(router_->on_message(command("plant1/boiler/meter1/mode/set", payload)));
    ASSERT_EQ(writes_.size(), 1U);
    // The bus gets the name; it turns it into the register's number itself.
    EXPECT_EQ(writes_[0].value, point_value{std::string("running")});
    writes_[0].done(drivers::write_result{true, point_value{std::string("running")}, {}});
    EXPECT_EQ(text_of(published_.back().payload), R"({"ok":true,"value":"running"})");
  }
  writes_.clear();
  expect_refused("mode", "paused", "'paused' is not one of: stopped, running, fault");
  expect_refused("mode", "1", "expected one of: stopped, running, fault");
  expect_refused("mode", R"({"value":"run\"ning"})", R"(expected a number, true, false or {\"value\": ...})");
  expect_refused("state", "3", "point 'state' is a field of a packed register (mask/shift) and cannot be written on its own");
  // Points without a map still refuse text.
  expect_refused("raw", "running", R"(expected a number, true, false or {\"value\": ...})");
}

TEST_F(command_router_test, unknown_devices_and_points_are_refused) {
  EXPECT_TRUE(router_->on_message(command("plant1/boiler/nobody/setpoint/set", "1")));
  EXPECT_TRUE(router_->on_message(command("plant1/boiler/meter1/nothing/set", "1")));
  EXPECT_TRUE(router_->on_message(command("plant1/boiler/meter1/a\"b/set", "1")));
  EXPECT_TRUE(writes_.empty());
  ASSERT_EQ(published_.size(), 3U);
  EXPECT_EQ(published_[0].topic, "plant1/boiler/nobody/setpoint/set/result");
  EXPECT_EQ(text_of(published_[0].payload), refusal("no device 'nobody'"));
  EXPECT_EQ(published_[1].topic, "plant1/boiler/meter1/nothing/set/result");
  EXPECT_EQ(text_of(published_[1].payload), refusal("no point 'nothing' on device 'meter1'"));
  EXPECT_EQ(text_of(published_[2].payload), refusal(R"(no point 'a\"b' on device 'meter1')"));
}

TEST_F(command_router_test, messages_that_are_not_commands_are_left_alone) {
  for (const char* topic :
       {"plant1/boiler/meter1/level", "plant1/boiler/meter1/level/set/result", "plant1/boiler/status",
        "plant1/boiler/meter1/status", "plant1/boiler/stats", "plant1/boiler/set", "plant1/boiler/meter1/set",
        "plant1/boilerX/meter1/level/set", "plant1/boile/meter1/level/set", "other/meter1/level/set",
        "plant1/boiler/meter1/level/set/extra", "plant1/boiler//level/set", "plant1/boiler/meter1//set",
        "plant1/boiler/a/meter1/level/set", "plant1/boiler/meter1/level/sets", "plant1/boiler/meter1/level/Set"}) {
    SCOPED_TRACE(topic);
    EXPECT_FALSE(router_->on_message(command(topic, "42")));
  }
  EXPECT_TRUE(writes_.empty());
  EXPECT_TRUE(published_.empty());
}

TEST_F(command_router_test, retained_and_empty_commands_are_ignored_without_an_answer) {
  EXPECT_TRUE(router_->on_message(command("plant1/boiler/meter1/level/set", "42", /*retain=*/true)));
  EXPECT_TRUE(router_->on_message(command("plant1/boiler/meter1/level/set", "oops", /*retain=*/true)));
  EXPECT_TRUE(router_->on_message(command("plant1/boiler/meter1/level/set", "")));
  EXPECT_TRUE(writes_.empty());
  EXPECT_TRUE(published_.empty());
  // The same command live is written.
  EXPECT_TRUE(router_->on_message(command("plant1/boiler/meter1/level/set", "42")));
  EXPECT_EQ(writes_.size(), 1U);
}

TEST_F(command_router_test, mqtt5_response_topic_and_correlation_data_are_honoured) {
  const std::vector<std::uint8_t> correlation{0x00, 0x01, 0xFF, 0x7F};
  auto request = command("plant1/boiler/meter1/level/set", "42");
  request.props.add(mqtt::property_id::response_topic, std::string("app/replies/7"));
  request.props.add(mqtt::property_id::correlation_data, correlation);
  router_->on_message(request);
  ASSERT_EQ(writes_.size(), 1U);
  writes_[0].done(drivers::write_result{true, point_value{std::int64_t{42}}, {}});

  // A refused one goes the same way.
  auto refused = request;
  refused.payload = {'x'};
  router_->on_message(refused);

  ASSERT_EQ(published_.size(), 2U);
  for (const auto& reply : published_) {
    EXPECT_EQ(reply.topic, "app/replies/7");
    const auto echoed = reply.props.binary(mqtt::property_id::correlation_data);
    ASSERT_TRUE(echoed.has_value());
    EXPECT_EQ(std::vector<std::uint8_t>(echoed->begin(), echoed->end()), correlation);
    EXPECT_FALSE(reply.props.contains(mqtt::property_id::response_topic));
  }
  EXPECT_EQ(text_of(published_[0].payload), R"({"ok":true,"value":42})");
  EXPECT_EQ(text_of(published_[1].payload), refusal(R"(expected a number, true, false or {\"value\": ...})"));
}

TEST_F(command_router_test, a_response_topic_with_wildcards_falls_back_to_the_result_topic) {
  auto request = command("plant1/boiler/meter1/level/set", "1");
  request.props.add(mqtt::property_id::response_topic, std::string("app/+/replies"));
  request.props.add(mqtt::property_id::correlation_data, std::vector<std::uint8_t>{9});
  router_->on_message(request);
  ASSERT_EQ(writes_.size(), 1U);
  writes_[0].done(drivers::write_result{true, point_value{std::int64_t{1}}, {}});
  ASSERT_EQ(published_.size(), 1U);
  EXPECT_EQ(published_[0].topic, "plant1/boiler/meter1/level/set/result");
  EXPECT_TRUE(published_[0].props.contains(mqtt::property_id::correlation_data));
}

TEST_F(command_router_test, a_failed_write_is_answered_with_the_drivers_reason) {
  router_->on_message(command("plant1/boiler/meter1/level/set", "5"));
  ASSERT_EQ(writes_.size(), 1U);
  writes_[0].done(drivers::write_result{false, {}, "time-out"});
  ASSERT_EQ(published_.size(), 1U);
  EXPECT_EQ(text_of(published_[0].payload), refusal("time-out"));
}

TEST_F(command_router_test, each_command_is_answered_exactly_once_in_the_order_the_bus_finishes) {
  router_->on_message(command("plant1/boiler/meter1/level/set", "1"));
  router_->on_message(command("plant1/boiler/meter1/raw/set", "2"));
  ASSERT_EQ(writes_.size(), 2U);
  EXPECT_EQ(router_->pending(), 2U);
  writes_[1].done(drivers::write_result{true, point_value{std::uint64_t{2}}, {}});
  writes_[1].done(drivers::write_result{true, point_value{std::uint64_t{2}}, {}});  // a buggy bus
  writes_[0].done(drivers::write_result{false, {}, "the bus stopped"});
  ASSERT_EQ(published_.size(), 2U);
  EXPECT_EQ(published_[0].topic, "plant1/boiler/meter1/raw/set/result");
  EXPECT_EQ(published_[1].topic, "plant1/boiler/meter1/level/set/result");
  EXPECT_EQ(text_of(published_[1].payload), refusal("the bus stopped"));
  EXPECT_EQ(router_->pending(), 0U);
}

TEST_F(command_router_test, a_result_after_the_router_is_gone_is_dropped) {
  router_->on_message(command("plant1/boiler/meter1/level/set", "1"));
  ASSERT_EQ(writes_.size(), 1U);
  router_.reset();
  writes_[0].done(drivers::write_result{true, point_value{std::int64_t{1}}, {}});
  EXPECT_TRUE(published_.empty());
}

TEST(command_result, is_json_with_escaped_text_and_no_nan) {
  EXPECT_EQ(result_json({true, point_value{true}, {}}), R"({"ok":true,"value":true})");
  EXPECT_EQ(result_json({true, point_value{std::int64_t{-5}}, {}}), R"({"ok":true,"value":-5})");
  EXPECT_EQ(result_json({true, point_value{std::uint64_t{18446744073709551615ULL}}, {}}),
            R"({"ok":true,"value":18446744073709551615})");
  EXPECT_EQ(result_json({true, point_value{0.1}, {}}), R"({"ok":true,"value":0.1})");
  EXPECT_EQ(result_json({true, point_value{std::nan("")}, {}}), R"({"ok":true,"value":null})");
  EXPECT_EQ(result_json({true, point_value{std::string("a\"b\\c")}, {}}), R"({"ok":true,"value":"a\"b\\c"})");
  EXPECT_EQ(result_json({false, {}, "line\nbreak\ttab\x01!"}), R"({"ok":false,"error":"line\nbreak\ttab\u0001!"})");
}

TEST(command_payload, integers_stay_exact_and_other_numbers_are_doubles) {
  EXPECT_EQ(parse_command_payload("9223372036854775807").value, point_value{std::int64_t{9223372036854775807LL}});
  EXPECT_EQ(parse_command_payload("-9223372036854775808").value,
            point_value{std::int64_t{-9223372036854775807LL - 1}});
  EXPECT_EQ(parse_command_payload("9223372036854775808").value, point_value{std::uint64_t{9223372036854775808ULL}});
  EXPECT_EQ(parse_command_payload("-9223372036854775809").value, point_value{-9223372036854775809.0});
  EXPECT_EQ(parse_command_payload("100000000000000000000").value, point_value{1e20});
  EXPECT_EQ(parse_command_payload("0.5").value, point_value{0.5});
  EXPECT_EQ(parse_command_payload("-2e-3").value, point_value{-0.002});
}

}  // namespace
}  // namespace fieldbridge::gateway
