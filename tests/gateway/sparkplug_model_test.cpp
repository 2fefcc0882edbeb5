// The Sparkplug view of a configuration, pure: datatypes from point types,
// aliases, topics, births, the stored DDATA and what leaves at send time
// (seq, is_historical, no datatypes), seq wrapping, bdSeq across restarts,
// STATE payloads.
#include <gtest/gtest.h>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "sparkplug/model.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::gateway::sparkplug {
namespace {

const char* yaml = R"(gateway: { name: gw }
mqtt: { format: sparkplug_b }
sparkplug: { group_id: plant1 }
buses:
  - name: b
    modbus_tcp: { host: h }
    devices:
      - name: meter1
        unit: 1
        points:
          - { name: voltage, table: input, address: 0, type: float32, unit: V }
          - { name: seq, table: input, address: 8, type: uint16 }
          - { name: setpoint, table: holding, address: 10, type: int16, scale: 0.1, writable: true }
          - { name: pump, table: coil, address: 0 }
          - { name: energy, table: input, address: 20, type: uint32, unit: kWh }
          - { name: mode, table: holding, address: 30, map: { 0: off, 1: on } }
      - name: meter2
        unit: 2
        points:
          - { name: count, table: input, address: 0, type: int64, publish: on_change }
)";

config::configuration load() { return config::load_string(yaml, "test.yaml"); }

TEST(SparkplugModel, PointsBecomeMetricsWithDatatypesAndAliasesInConfigurationOrder) {
  const auto c = load();
  const metric_table table(c);
  ASSERT_EQ(table.devices().size(), 2u);
  const auto& m = table.devices()[0].metrics;
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m[0].name, "voltage");
  EXPECT_EQ(m[0].alias, 1u);  // 0 is Node Control/Rebirth
  EXPECT_EQ(m[0].type, sp::data_type::float_);
  EXPECT_EQ(m[1].type, sp::data_type::uint16);
  EXPECT_EQ(m[2].type, sp::data_type::double_);  // scaled
  EXPECT_EQ(m[3].type, sp::data_type::boolean);  // a coil
  EXPECT_EQ(m[4].type, sp::data_type::uint32);
  EXPECT_EQ(m[5].type, sp::data_type::string);   // mapped
  EXPECT_EQ(table.devices()[1].metrics[0].alias, 7u);
  EXPECT_EQ(table.devices()[1].metrics[0].type, sp::data_type::int64);
  const auto found = table.by_alias(5);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->first->name, "meter1");
  EXPECT_EQ(found->second->name, "energy");
  EXPECT_FALSE(table.by_alias(0));
  EXPECT_FALSE(table.by_alias(8));
}

TEST(SparkplugModel, TopicsFollowTheNamespace) {
  const auto c = load();
  EXPECT_EQ(c.sparkplug.edge_node_id, "gw");  // default: gateway.name
  EXPECT_EQ(topic(c.sparkplug, message_type::nbirth), "spBv1.0/plant1/NBIRTH/gw");
  EXPECT_EQ(topic(c.sparkplug, message_type::ddata, "meter1"), "spBv1.0/plant1/DDATA/gw/meter1");
  EXPECT_EQ(topic(c.sparkplug, message_type::dcmd, "meter2"), "spBv1.0/plant1/DCMD/gw/meter2");
  EXPECT_EQ(state_topic("scada"), "spBv1.0/STATE/scada");
}

TEST(SparkplugModel, BirthsCarryNamesAliasesDatatypesUnitsAndCurrentValues) {
  const auto c = load();
  const metric_table table(c);
  const auto nbirth = sp::decode(sp::encode(node_birth(41, 0, 1000)));
  EXPECT_EQ(nbirth.seq, 0u);
  ASSERT_EQ(nbirth.metrics.size(), 2u);
  EXPECT_EQ(nbirth.metrics[0].name, "bdSeq");
  EXPECT_EQ(nbirth.metrics[0].type, sp::data_type::int64);
  EXPECT_EQ(nbirth.metrics[0].val, sp::value{std::int64_t{41}});
  EXPECT_EQ(nbirth.metrics[1].name, "Node Control/Rebirth");
  EXPECT_EQ(nbirth.metrics[1].type, sp::data_type::boolean);
  EXPECT_EQ(nbirth.metrics[1].val, sp::value{false});

  const auto death = sp::decode(sp::encode(node_death(41, 1000)));
  EXPECT_FALSE(death.seq.has_value());
  ASSERT_EQ(death.metrics.size(), 1u);
  EXPECT_EQ(death.metrics[0].val, sp::value{std::int64_t{41}});

  current_values values;
  values["meter1"]["voltage"] = {sp::value{230.5f}, 900};
  const auto dbirth = sp::decode(sp::encode(device_birth(table.devices()[0], values, 1, 1000)));
  EXPECT_EQ(dbirth.seq, 1u);
  ASSERT_EQ(dbirth.metrics.size(), 6u);
  EXPECT_EQ(dbirth.metrics[0].name, "voltage");
  EXPECT_EQ(dbirth.metrics[0].alias, 1u);
  EXPECT_EQ(dbirth.metrics[0].val, sp::value{230.5f});
  EXPECT_EQ(dbirth.metrics[0].timestamp, 900u);
  ASSERT_EQ(dbirth.metrics[0].properties.size(), 1u);
  EXPECT_EQ(dbirth.metrics[0].properties[0].key, "engUnit");
  EXPECT_EQ(dbirth.metrics[0].properties[0].val, sp::value{std::string("V")});
  EXPECT_TRUE(dbirth.metrics[1].is_null);  // never read yet
  EXPECT_EQ(dbirth.metrics[1].type, sp::data_type::uint16);
  EXPECT_TRUE(dbirth.metrics[1].properties.empty());
}

TEST(SparkplugModel, StoredDataLeavesWithSeqWithoutDatatypesAndHistoricalWhenOlderThanTheBirths) {
  sp::metric a;
  a.alias = 2;
  a.timestamp = 500;
  a.type = sp::data_type::uint16;
  a.val = std::uint64_t{7};
  sp::metric b = a;
  b.alias = 3;
  b.timestamp = 1500;
  b.type = sp::data_type::double_;
  b.val = 21.5;
  const auto stored = sp::encode(stored_data({a, b}));
  const auto wire = to_wire(std::string_view(reinterpret_cast<const char*>(stored.data()), stored.size()), 17, 2000, 1000);
  sp::birth_types types;
  sp::payload birth;
  birth.metrics = {a, b};
  birth.metrics[0].name = "seq";
  birth.metrics[1].name = "setpoint";
  types.learn(birth);
  const auto p = sp::decode({reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()}, &types);
  EXPECT_EQ(p.seq, 17u);
  EXPECT_EQ(p.timestamp, 2000u);
  ASSERT_EQ(p.metrics.size(), 2u);
  EXPECT_FALSE(p.metrics[0].datatype_on_wire);
  EXPECT_FALSE(p.metrics[0].name.has_value());
  EXPECT_TRUE(p.metrics[0].is_historical);   // read at 500, births at 1000
  EXPECT_FALSE(p.metrics[1].is_historical);  // read at 1500
  EXPECT_EQ(p.metrics[0].val, sp::value{std::uint64_t{7}});
  EXPECT_EQ(p.metrics[1].val, sp::value{21.5});
  EXPECT_THROW(to_wire("not protobuf \xff\xff", 0, 0, 0), sp::codec_error);
}

TEST(SparkplugModel, SeqStartsAtZeroWithEachBirthAndWrapsAfter255) {
  sequence s;
  EXPECT_EQ(s.birth(), 0u);
  for (std::uint64_t i = 1; i <= 255; ++i) EXPECT_EQ(s.next(), i);
  EXPECT_EQ(s.next(), 0u);  // wraps
  EXPECT_EQ(s.next(), 1u);
  EXPECT_EQ(s.birth(), 0u);  // a rebirth starts again
  EXPECT_EQ(s.next(), 1u);
}

TEST(SparkplugModel, BdSeqSurvivesARestartInItsFile) {
  test::temp_dir dir("fieldbridge-bdseq");
  const auto path = (dir / "queue.db.sparkplug").string();
  EXPECT_EQ(read_bdseq(path), 0u);  // no file: 0
  ASSERT_TRUE(write_bdseq(path, 42));
  EXPECT_EQ(read_bdseq(path), 42u);
  ASSERT_TRUE(write_bdseq(path, 256));  // 0..255
  EXPECT_EQ(read_bdseq(path), 0u);
  dir.write_file("queue.db.sparkplug", "garbage\n");
  EXPECT_EQ(read_bdseq(path), 0u);
  EXPECT_FALSE(write_bdseq((dir / "no-such-dir" / "x").string(), 1));
}

TEST(SparkplugModel, HostStatePayloadsOfSparkplug3) {
  auto s = parse_host_state(R"({"online":true,"timestamp":1668114759262})");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->online);
  EXPECT_EQ(s->timestamp, 1668114759262u);
  s = parse_host_state(R"( { "timestamp" : 5 , "online" : false } )");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->online);
  EXPECT_EQ(s->timestamp, 5u);
  EXPECT_FALSE(parse_host_state("ONLINE"));  // Sparkplug 2.2's plain text is not 3.0's
  EXPECT_FALSE(parse_host_state(R"({"timestamp":5})"));
  EXPECT_FALSE(parse_host_state(R"({"online":true)"));
  EXPECT_FALSE(parse_host_state(R"({"online":yes,"timestamp":5})"));
}

TEST(SparkplugModel, AReloadMayNotChangeTheFormatTheSectionOrTheDevicesOfAnEdgeNode) {
  const auto running = load();
  EXPECT_FALSE(reload_refusal(running, running));
  auto next = running;
  next.buses[0].response_timeout = std::chrono::milliseconds(900);  // a bus setting: fine
  EXPECT_FALSE(reload_refusal(running, next));
  next = running;
  next.buses[0].devices[0].points[0].unit = "kV";
  ASSERT_TRUE(reload_refusal(running, next));
  EXPECT_NE(reload_refusal(running, next)->find("devices and their points"), std::string::npos);
  next = running;
  next.sparkplug.group_id = "plant2";
  ASSERT_TRUE(reload_refusal(running, next));
  EXPECT_EQ(reload_refusal(running, next)->rfind("sparkplug cannot change at run time", 0), 0u);
  next = running;
  next.mqtt.format = config::message_format::native;
  ASSERT_TRUE(reload_refusal(running, next));
  EXPECT_EQ(reload_refusal(running, next)->rfind("mqtt.format cannot change", 0), 0u);
  // Native configurations are reload's business alone.
  auto native = running;
  native.mqtt.format = config::message_format::native;
  auto changed = native;
  changed.buses[0].devices[0].points[0].unit = "kV";
  EXPECT_FALSE(reload_refusal(native, changed));
}

TEST(SparkplugModel, DataRouterSendsDueMetricsAsOneStoredDdataPerPollAndKeepsCurrentValues) {
  const auto c = load();
  const metric_table table(c);
  auto now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  data_router router(c, table, make_null_logger("t"), [&] { return now; });
  std::vector<store::message> stored;
  const auto offer = [&](store::message m) {
    stored.push_back(std::move(m));
    return true;
  };
  const auto ts = wall_clock::time_point{} + std::chrono::milliseconds(1764763200000);
  std::vector<reading> poll{{"meter1", "voltage", point_value{230.25}, quality::good, {}, ts},
                            {"meter1", "seq", point_value{std::uint64_t{9}}, quality::good, {}, ts},
                            {"meter1", "pump", point_value{true}, quality::good, {}, ts},
                            {"meter1", "energy", point_value{0.0}, quality::bad, "timeout", ts}};
  router.route(poll, offer);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].topic, "spBv1.0/plant1/DDATA/gw/meter1");
  EXPECT_EQ(stored[0].qos, 0);
  EXPECT_FALSE(stored[0].retain);
  const auto p = sp::decode({reinterpret_cast<const std::uint8_t*>(stored[0].payload.data()), stored[0].payload.size()});
  ASSERT_EQ(p.metrics.size(), 3u);  // the bad reading is left out
  EXPECT_EQ(p.metrics[0].alias, 1u);
  EXPECT_EQ(p.metrics[0].val, sp::value{230.25f});
  EXPECT_EQ(p.metrics[0].timestamp, 1764763200000u);
  EXPECT_EQ(p.metrics[1].val, sp::value{std::uint64_t{9}});
  EXPECT_EQ(p.metrics[2].val, sp::value{true});
  EXPECT_EQ(router.values().at("meter1").at("seq").value, sp::value{std::uint64_t{9}});

  // on_change: an unchanged count is not due again; a changed one is.
  std::vector<reading> count{{"meter2", "count", point_value{std::int64_t{-3}}, quality::good, {}, ts}};
  router.route(count, offer);
  router.route(count, offer);
  EXPECT_EQ(stored.size(), 2u);
  count[0].value = point_value{std::int64_t{-4}};
  router.route(count, offer);
  EXPECT_EQ(stored.size(), 3u);
  // After the device was offline its first value is due whatever it is.
  router.forget_device("meter2");
  EXPECT_FALSE(router.values().contains("meter2"));
  router.route(count, offer);
  EXPECT_EQ(stored.size(), 4u);
}

}  // namespace
}  // namespace fieldbridge::gateway::sparkplug
