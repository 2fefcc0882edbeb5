// The Sparkplug B payload codec: every datatype round-tripped, the protobuf
// field each datatype travels in (checked against bytes written out by hand
// from the 3.0 schema and datatype table, not against our own encoder), DATA
// messages decoded with the birth's datatypes, and the array packings of the
// specification's examples.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fieldbridge/sparkplug/payload.hpp"

namespace sp = fieldbridge::sparkplug;
using sp::data_type;

namespace {

sp::metric make(std::string name, std::uint64_t alias, data_type type, sp::value v) {
  sp::metric m;
  m.name = std::move(name);
  m.alias = alias;
  m.timestamp = 1764763200000 + alias;
  m.type = type;
  m.val = std::move(v);
  return m;
}

sp::payload round_trip(const sp::payload& p, const sp::birth_types* known = nullptr) {
  const sp::bytes wire = sp::encode(p);
  return sp::decode(wire, known);
}

// One metric of `type` holding `v`, encoded, decoded, compared.
void expect_round_trip(data_type type, const sp::value& v) {
  sp::payload p;
  p.timestamp = 1764763200000;
  p.seq = 3;
  p.metrics.push_back(make("m", 7, type, v));
  const sp::payload back = round_trip(p);
  ASSERT_EQ(back.metrics.size(), 1u) << sp::name_of(type);
  const sp::metric& m = back.metrics[0];
  EXPECT_EQ(m.type, type) << sp::name_of(type);
  EXPECT_TRUE(m.datatype_on_wire);
  EXPECT_EQ(m.name, "m");
  EXPECT_EQ(m.alias, 7u);
  EXPECT_EQ(m.timestamp, 1764763200007u);
  EXPECT_EQ(m.val, v) << sp::name_of(type) << " value index " << v.index() << " came back as index "
                      << m.val.index();
  EXPECT_EQ(back.seq, 3u);
  EXPECT_EQ(back.timestamp, 1764763200000u);
}

}  // namespace

TEST(SparkplugPayload, EveryScalarDatatypeRoundTripsAtItsLimits) {
  expect_round_trip(data_type::int8, std::int64_t{-128});
  expect_round_trip(data_type::int8, std::int64_t{127});
  expect_round_trip(data_type::int16, std::int64_t{-32768});
  expect_round_trip(data_type::int16, std::int64_t{32767});
  expect_round_trip(data_type::int32, std::int64_t{std::numeric_limits<std::int32_t>::min()});
  expect_round_trip(data_type::int32, std::int64_t{std::numeric_limits<std::int32_t>::max()});
  expect_round_trip(data_type::int64, std::int64_t{std::numeric_limits<std::int64_t>::min()});
  expect_round_trip(data_type::int64, std::int64_t{std::numeric_limits<std::int64_t>::max()});
  expect_round_trip(data_type::uint8, std::uint64_t{255});
  expect_round_trip(data_type::uint16, std::uint64_t{65535});
  expect_round_trip(data_type::uint32, std::uint64_t{4294967295u});
  expect_round_trip(data_type::uint64, std::uint64_t{std::numeric_limits<std::uint64_t>::max()});
  expect_round_trip(data_type::float_, 3.25f);
  expect_round_trip(data_type::float_, -std::numeric_limits<float>::infinity());
  expect_round_trip(data_type::double_, 230.123456789012);
  expect_round_trip(data_type::boolean, true);
  expect_round_trip(data_type::boolean, false);
  expect_round_trip(data_type::string, std::string("Pump 1 \xC2\xB0" "C"));
  expect_round_trip(data_type::string, std::string());
  expect_round_trip(data_type::date_time, std::uint64_t{1764763200123});
  expect_round_trip(data_type::text, std::string("line one\nline two"));
  expect_round_trip(data_type::uuid, std::string("8f14e45f-ceea-467a-9af1-6f1d5a2b7c3e"));
  expect_round_trip(data_type::bytes, sp::bytes{0x00, 0xFF, 0x10});
  expect_round_trip(data_type::file, sp::bytes{'%', 'P', 'D', 'F'});
  expect_round_trip(data_type::bytes, sp::bytes{});
}

TEST(SparkplugPayload, EveryArrayDatatypeRoundTripsThroughBytesValue) {
  const std::vector<std::pair<data_type, sp::array_value>> cases = {
      {data_type::int8_array, std::vector<std::int64_t>{-128, 0, 127}},
      {data_type::int16_array, std::vector<std::int64_t>{-32768, 1, 32767}},
      {data_type::int32_array, std::vector<std::int64_t>{std::numeric_limits<std::int32_t>::min(), 5}},
      {data_type::int64_array, std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), -1}},
      {data_type::uint8_array, std::vector<std::uint64_t>{0, 255}},
      {data_type::uint16_array, std::vector<std::uint64_t>{65535}},
      {data_type::uint32_array, std::vector<std::uint64_t>{4294967295u, 0}},
      {data_type::uint64_array, std::vector<std::uint64_t>{std::numeric_limits<std::uint64_t>::max()}},
      {data_type::float_array, std::vector<float>{1.5f, -0.25f}},
      {data_type::double_array, std::vector<double>{12.354213, 1022.9123213}},
      {data_type::boolean_array, std::vector<bool>{true, false, true, true, false, false, false, false, true}},
      {data_type::string_array, std::vector<std::string>{"ABC", "", "hello"}},
      {data_type::date_time_array, std::vector<std::uint64_t>{1256102875335, 1656107875000}},
  };
  for (const auto& [type, elements] : cases) {
    SCOPED_TRACE(std::string(sp::name_of(type)));
    ASSERT_TRUE(sp::is_array(type));
    sp::payload p;
    p.seq = 0;
    p.metrics.push_back(make("a", 1, type, sp::pack_array(type, elements)));
    const sp::payload back = round_trip(p);
    ASSERT_EQ(back.metrics.size(), 1u);
    EXPECT_EQ(back.metrics[0].type, type);
    const auto* raw = std::get_if<sp::bytes>(&back.metrics[0].val);
    ASSERT_NE(raw, nullptr);
    EXPECT_EQ(sp::unpack_array(type, *raw), elements);
  }
}

// The examples of the specification's "Datatype Details" for the array types
// whose examples are self-consistent. (Errata of the 3.0 text: the Int8Array
// example gives 0xEF for -23, which is 0xE9; the FloatArray and DoubleArray
// examples show big-endian bytes under a little-endian rule; the
// DateTimeArray one has 12 bytes for two 8-byte values. The rule in words,
// little endian, is what is implemented.)
TEST(SparkplugPayload, ArrayPackingMatchesTheSpecificationExamples) {
  using i64 = std::vector<std::int64_t>;
  using u64 = std::vector<std::uint64_t>;
  EXPECT_EQ(sp::pack_array(data_type::int8_array, i64{-23, 123}), (sp::bytes{0xE9, 0x7B}));
  EXPECT_EQ(sp::pack_array(data_type::int16_array, i64{-30000, 30000}), (sp::bytes{0xD0, 0x8A, 0x30, 0x75}));
  EXPECT_EQ(sp::pack_array(data_type::int32_array, i64{-1, 315338746}),
            (sp::bytes{0xFF, 0xFF, 0xFF, 0xFF, 0xFA, 0xAF, 0xCB, 0x12}));
  EXPECT_EQ(sp::pack_array(data_type::int64_array, i64{-4270929666821191986, -3601064768563266876}),
            (sp::bytes{0xCE, 0x06, 0x72, 0xAC, 0x18, 0x9C, 0xBA, 0xC4, 0xC4, 0xBA, 0x9C, 0x18, 0xAC, 0x72, 0x06, 0xCE}));
  EXPECT_EQ(sp::pack_array(data_type::uint8_array, u64{23, 250}), (sp::bytes{0x17, 0xFA}));
  EXPECT_EQ(sp::pack_array(data_type::uint16_array, u64{30, 52360}), (sp::bytes{0x1E, 0x00, 0x88, 0xCC}));
  EXPECT_EQ(sp::pack_array(data_type::uint32_array, u64{52, 3293969225}),
            (sp::bytes{0x34, 0x00, 0x00, 0x00, 0x49, 0xFB, 0x55, 0xC4}));
  EXPECT_EQ(sp::pack_array(data_type::uint64_array, u64{52, 16444743074749521625u}),
            (sp::bytes{0x34, 0, 0, 0, 0, 0, 0, 0, 0xD9, 0x9E, 0x02, 0xD1, 0xB2, 0x76, 0x37, 0xE4}));
  // [false,false,true,true,false,true,false,false,true,true,false,true]
  // -> count 12 (4 bytes LE), 0x34, 0xD0 (the example's 0xDX, X padding 0).
  EXPECT_EQ(sp::pack_array(data_type::boolean_array,
                           std::vector<bool>{false, false, true, true, false, true, false, false, true, true, false, true}),
            (sp::bytes{0x0C, 0x00, 0x00, 0x00, 0x34, 0xD0}));
  EXPECT_EQ(sp::pack_array(data_type::string_array, std::vector<std::string>{"ABC", "hello"}),
            (sp::bytes{0x41, 0x42, 0x43, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00}));
  // The spec's example with the padding bits set ("X: do not care") reads the same.
  EXPECT_EQ(sp::unpack_array(data_type::boolean_array, sp::bytes{0x0C, 0x00, 0x00, 0x00, 0x34, 0xDF}),
            (sp::array_value{std::vector<bool>{false, false, true, true, false, true, false, false, true, true,
                                               false, true}}));
  // Little endian in words: 1.5f is 0x3FC00000.
  EXPECT_EQ(sp::pack_array(data_type::float_array, std::vector<float>{1.5f}), (sp::bytes{0x00, 0x00, 0xC0, 0x3F}));
}

// The field each datatype travels in, against bytes written by hand from the
// 3.0 schema: Payload.metrics is field 2 (tag 0x12), Metric.datatype field 4
// (tag 0x20), int_value field 10 (tag 0x50, varint), long_value field 11
// (tag 0x58), float_value 12 (0x65, fixed32), double_value 13 (0x69,
// fixed64), boolean_value 14 (0x70), string_value 15 (0x7A), bytes_value 16
// (0x82 0x01). This is the UInt32 check: the 3.0 datatype table gives UInt32
// the protobuf type uint32, i.e. int_value; Tahu's JavaScript would write
// tag 0x58 here.
TEST(SparkplugPayload, EachDatatypeTravelsInTheFieldTheSpecificationTableGives) {
  auto only_metric = [](data_type type, sp::value v) {
    sp::payload p;
    sp::metric m;
    m.type = type;
    m.val = std::move(v);
    p.metrics.push_back(std::move(m));
    return sp::encode(p);
  };
  // UInt32 4294967295 -> int_value (10): 50 FF FF FF FF 0F.
  EXPECT_EQ(only_metric(data_type::uint32, std::uint64_t{4294967295u}),
            (sp::bytes{0x12, 0x08, 0x20, 0x07, 0x50, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}));
  // Int8 -5 -> int_value as the 32-bit two's complement 0xFFFFFFFB.
  EXPECT_EQ(only_metric(data_type::int8, std::int64_t{-5}),
            (sp::bytes{0x12, 0x08, 0x20, 0x01, 0x50, 0xFB, 0xFF, 0xFF, 0xFF, 0x0F}));
  // UInt16 300 -> int_value: AC 02.
  EXPECT_EQ(only_metric(data_type::uint16, std::uint64_t{300}), (sp::bytes{0x12, 0x05, 0x20, 0x06, 0x50, 0xAC, 0x02}));
  // Int64 -1 -> long_value (11), ten varint bytes.
  EXPECT_EQ(only_metric(data_type::int64, std::int64_t{-1}),
            (sp::bytes{0x12, 0x0D, 0x20, 0x04, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
  // DateTime 1 -> long_value.
  EXPECT_EQ(only_metric(data_type::date_time, std::uint64_t{1}), (sp::bytes{0x12, 0x04, 0x20, 0x0D, 0x58, 0x01}));
  // Float 1.5 -> float_value (12), fixed32 little endian.
  EXPECT_EQ(only_metric(data_type::float_, 1.5f),
            (sp::bytes{0x12, 0x07, 0x20, 0x09, 0x65, 0x00, 0x00, 0xC0, 0x3F}));
  // Double 1.5 -> double_value (13).
  EXPECT_EQ(only_metric(data_type::double_, 1.5),
            (sp::bytes{0x12, 0x0B, 0x20, 0x0A, 0x69, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F}));
  // Boolean true -> boolean_value (14).
  EXPECT_EQ(only_metric(data_type::boolean, true), (sp::bytes{0x12, 0x04, 0x20, 0x0B, 0x70, 0x01}));
  // Text "hi" -> string_value (15).
  EXPECT_EQ(only_metric(data_type::text, std::string("hi")),
            (sp::bytes{0x12, 0x06, 0x20, 0x0E, 0x7A, 0x02, 'h', 'i'}));
  // Bytes {1} -> bytes_value (16).
  EXPECT_EQ(only_metric(data_type::bytes, sp::bytes{1}), (sp::bytes{0x12, 0x06, 0x20, 0x11, 0x82, 0x01, 0x01, 0x01}));
}

// Tahu's JavaScript writes UInt32 in long_value; a host must still read it.
TEST(SparkplugPayload, AUInt32InLongValueAsTahuWritesItStillDecodes) {
  // Metric{datatype: 7, long_value: 3000000000}
  const sp::bytes tahu_style{0x12, 0x08, 0x20, 0x07, 0x58, 0x80, 0xBC, 0xC1, 0x96, 0x0B};
  const sp::payload p = sp::decode(tahu_style);
  ASSERT_EQ(p.metrics.size(), 1u);
  EXPECT_EQ(p.metrics[0].type, data_type::uint32);
  EXPECT_EQ(p.metrics[0].val, sp::value{std::uint64_t{3000000000u}});
}

// DATA messages carry the alias alone and no datatype; the birth's datatypes
// decode them, as a host application does.
TEST(SparkplugPayload, DataWithoutDatatypesDecodesWithTheBirthsDatatypesByAlias) {
  sp::payload birth;
  birth.seq = 0;
  birth.metrics.push_back(make("pump/temperature", 1, data_type::int16, std::int64_t{-40}));
  birth.metrics.push_back(make("pump/flow", 2, data_type::double_, 12.5));
  birth.metrics.push_back(make("pump/hours", 3, data_type::uint32, std::uint64_t{4000000000u}));
  birth.metrics.push_back(make("pump/running", 4, data_type::boolean, false));
  birth.metrics.push_back(make("pump/offset", 5, data_type::int8, std::int64_t{-1}));

  sp::payload data;
  data.seq = 1;
  for (auto m : {make("", 1, data_type::int16, std::int64_t{-2}), make("", 3, data_type::uint32, std::uint64_t{7}),
                 make("", 4, data_type::boolean, true), make("", 5, data_type::int8, std::int64_t{-128})}) {
    m.name.reset();
    m.datatype_on_wire = false;
    m.is_historical = m.alias == 3u;
    data.metrics.push_back(m);
  }
  const sp::bytes wire = sp::encode(data);

  sp::birth_types known;
  known.learn(sp::decode(sp::encode(birth)));
  EXPECT_EQ(known.name_of_alias(2), "pump/flow");
  const sp::payload back = sp::decode(wire, &known);
  ASSERT_EQ(back.metrics.size(), 4u);
  EXPECT_FALSE(back.metrics[0].name.has_value());
  EXPECT_FALSE(back.metrics[0].datatype_on_wire);
  EXPECT_EQ(back.metrics[0].type, data_type::int16);
  EXPECT_EQ(back.metrics[0].val, sp::value{std::int64_t{-2}});
  EXPECT_EQ(back.metrics[1].type, data_type::uint32);
  EXPECT_EQ(back.metrics[1].val, sp::value{std::uint64_t{7}});
  EXPECT_TRUE(back.metrics[1].is_historical);
  EXPECT_FALSE(back.metrics[0].is_historical);
  EXPECT_EQ(back.metrics[2].val, sp::value{true});
  EXPECT_EQ(back.metrics[3].val, sp::value{std::int64_t{-128}});

  // Without the birth the datatype is unknown and the raw field shows: the
  // Int16 -2 is the uint32 0xFFFFFFFE.
  const sp::payload raw = sp::decode(wire);
  EXPECT_EQ(raw.metrics[0].type, data_type::unknown);
  EXPECT_EQ(raw.metrics[0].val, sp::value{std::uint64_t{0xFFFFFFFEu}});
}

TEST(SparkplugPayload, PropertiesCarryTheEngineeringUnitAndQuality) {
  sp::payload p;
  sp::metric m = make("voltage", 9, data_type::float_, 230.5f);
  m.properties.push_back({"engUnit", data_type::string, std::string("V"), false});
  m.properties.push_back({"Quality", data_type::int32, std::int64_t{192}, false});
  m.properties.push_back({"engHigh", data_type::double_, 250.0, false});
  m.properties.push_back({"note", data_type::string, std::monostate{}, true});
  p.metrics.push_back(m);
  const sp::payload back = round_trip(p);
  ASSERT_EQ(back.metrics.size(), 1u);
  const auto& props = back.metrics[0].properties;
  ASSERT_EQ(props.size(), 4u);
  EXPECT_EQ(props[0].key, "engUnit");
  EXPECT_EQ(props[0].type, data_type::string);
  EXPECT_EQ(props[0].val, sp::value{std::string("V")});
  EXPECT_EQ(props[1].key, "Quality");
  EXPECT_EQ(props[1].type, data_type::int32);
  EXPECT_EQ(props[1].val, sp::value{std::int64_t{192}});
  EXPECT_EQ(props[2].val, sp::value{250.0});
  EXPECT_TRUE(props[3].is_null);
  EXPECT_EQ(props[3].val, sp::value{});
}

TEST(SparkplugPayload, NullHistoricalAndTransientFlagsRoundTrip) {
  sp::payload p;
  sp::metric m = make("x", 1, data_type::double_, std::monostate{});
  m.is_null = true;
  m.is_historical = true;
  m.is_transient = true;
  p.metrics.push_back(m);
  p.uuid = "fieldbridge";
  p.body = {1, 2, 3};
  const sp::payload back = round_trip(p);
  ASSERT_EQ(back.metrics.size(), 1u);
  EXPECT_TRUE(back.metrics[0].is_null);
  EXPECT_TRUE(back.metrics[0].is_historical);
  EXPECT_TRUE(back.metrics[0].is_transient);
  EXPECT_EQ(back.metrics[0].val, sp::value{});
  EXPECT_EQ(back.uuid, "fieldbridge");
  EXPECT_EQ(back.body, (sp::bytes{1, 2, 3}));
  EXPECT_FALSE(back.timestamp.has_value());
}

// NDEATH carries no seq: an absent seq stays absent.
TEST(SparkplugPayload, APayloadWithoutSeqDecodesWithoutSeq) {
  sp::payload death;
  death.timestamp = 5;
  death.metrics.push_back(make("bdSeq", 0, data_type::uint64, std::uint64_t{41}));
  const sp::payload back = round_trip(death);
  EXPECT_FALSE(back.seq.has_value());
  EXPECT_EQ(back.metrics.at(0).val, sp::value{std::uint64_t{41}});
}

TEST(SparkplugPayload, ValuesThatDoNotFitTheirDatatypeAreRefused) {
  auto encode_one = [](data_type type, sp::value v) {
    sp::payload p;
    p.metrics.push_back(make("bad", 1, type, std::move(v)));
    return sp::encode(p);
  };
  EXPECT_THROW(encode_one(data_type::int8, std::int64_t{128}), sp::codec_error);
  EXPECT_THROW(encode_one(data_type::int8, std::int64_t{-129}), sp::codec_error);
  EXPECT_THROW(encode_one(data_type::uint16, std::int64_t{-1}), sp::codec_error);
  EXPECT_THROW(encode_one(data_type::uint32, std::uint64_t{4294967296u}), sp::codec_error);
  EXPECT_THROW(encode_one(data_type::int64, std::uint64_t{std::numeric_limits<std::uint64_t>::max()}),
               sp::codec_error);
  EXPECT_THROW(encode_one(data_type::int32, std::string("12")), sp::codec_error);
  EXPECT_THROW(encode_one(data_type::float_, 1.0), sp::codec_error);
  EXPECT_THROW(encode_one(data_type::string, std::int64_t{1}), sp::codec_error);
  EXPECT_THROW(encode_one(data_type::data_set, std::int64_t{1}), sp::codec_error);
  EXPECT_THROW(sp::pack_array(data_type::uint8_array, std::vector<std::uint64_t>{256}), sp::codec_error);
  EXPECT_THROW(sp::pack_array(data_type::int16_array, std::vector<std::uint64_t>{1}), sp::codec_error);
  EXPECT_THROW(sp::pack_array(data_type::string_array, std::vector<std::string>{std::string("a\0b", 3)}),
               sp::codec_error);
  // A non-negative int64 is accepted for an unsigned type and vice versa.
  EXPECT_NO_THROW(encode_one(data_type::uint16, std::int64_t{65535}));
  EXPECT_NO_THROW(encode_one(data_type::int16, std::uint64_t{32767}));
}

TEST(SparkplugPayload, MalformedBytesAreRefused) {
  EXPECT_THROW(sp::decode(sp::bytes{0x12, 0x08, 0x20}), sp::codec_error);      // truncated metric
  EXPECT_THROW(sp::decode(sp::bytes{0x12, 0x02, 0x7A, 0x05}), sp::codec_error);  // string past the end
  EXPECT_THROW(sp::unpack_array(data_type::int32_array, sp::bytes{1, 2, 3}), sp::codec_error);
  EXPECT_THROW(sp::unpack_array(data_type::boolean_array, sp::bytes{9, 0, 0, 0, 0xFF}), sp::codec_error);
  EXPECT_THROW(sp::unpack_array(data_type::string_array, sp::bytes{'a'}), sp::codec_error);
  EXPECT_NO_THROW(sp::decode(sp::bytes{}));  // an empty payload is a valid message
}

TEST(SparkplugPayload, DatatypeNamesAreTheSpecifications) {
  EXPECT_EQ(sp::name_of(data_type::uint32), "UInt32");
  EXPECT_EQ(sp::name_of(data_type::date_time), "DateTime");
  EXPECT_EQ(sp::name_of(data_type::float_), "Float");
  EXPECT_EQ(sp::name_of(data_type::date_time_array), "DateTimeArray");
  EXPECT_EQ(sp::name_of(static_cast<data_type>(99)), "Unknown");
}
