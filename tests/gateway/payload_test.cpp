#include <gtest/gtest.h>

#include <limits>

#include "run/payload.hpp"

namespace fieldbridge::gateway {
namespace {

using namespace std::chrono_literals;

reading make_reading(point_value value, quality q = quality::good) {
  reading r;
  r.device = "meter1";
  r.point = "voltage";
  r.value = std::move(value);
  r.q = q;
  // 2026-11-25T21:30:00.123Z
  r.ts = wall_clock::time_point{std::chrono::milliseconds{1795642200123}};
  return r;
}

TEST(Payload, TimestampIsUtcWithMilliseconds) {
  EXPECT_EQ(utc_timestamp(wall_clock::time_point{std::chrono::milliseconds{1795642200123}}), "2026-11-25T21:30:00.123Z");
  EXPECT_EQ(utc_timestamp(wall_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(utc_timestamp(wall_clock::time_point{std::chrono::milliseconds{-1}}), "1969-12-31T23:59:59.999Z");
}

TEST(Payload, JsonCarriesValueTimestampAndUnit) {
  EXPECT_EQ(reading_payload(make_reading(230.4), "V", config::payload_format::json),
            R"({"value":230.4,"ts":"2026-11-25T21:30:00.123Z","unit":"V"})");
  EXPECT_EQ(reading_payload(make_reading(std::int64_t{-7}), "", config::payload_format::json),
            R"({"value":-7,"ts":"2026-11-25T21:30:00.123Z"})");
}

TEST(Payload, ABuilderKeepsTheLastTimestampOnlyWhileReadingsShareIt) {
  payload_builder builder;
  auto r = make_reading(230.4);
  EXPECT_EQ(builder.build(r, "V", config::payload_format::json),
            R"({"value":230.4,"ts":"2026-11-25T21:30:00.123Z","unit":"V"})");
  r.value = std::int64_t{-7};
  EXPECT_EQ(builder.build(r, "", config::payload_format::json), R"({"value":-7,"ts":"2026-11-25T21:30:00.123Z"})");
  r.ts += 1ms;
  EXPECT_EQ(builder.build(r, "", config::payload_format::json), R"({"value":-7,"ts":"2026-11-25T21:30:00.124Z"})");
  r.ts = wall_clock::time_point{};
  EXPECT_EQ(builder.build(r, "", config::payload_format::json), R"({"value":-7,"ts":"1970-01-01T00:00:00.000Z"})");
  r.value = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(builder.build(r, "", config::payload_format::json));
  EXPECT_EQ(builder.build(make_reading(std::string("FB-1")), "", config::payload_format::value), R"("FB-1")");
}

TEST(Payload, ValueFormatIsTheBareValue) {
  EXPECT_EQ(reading_payload(make_reading(230.4), "V", config::payload_format::value), "230.4");
  EXPECT_EQ(reading_payload(make_reading(true), "", config::payload_format::value), "true");
  EXPECT_EQ(reading_payload(make_reading(false), "", config::payload_format::value), "false");
  EXPECT_EQ(reading_payload(make_reading(std::string("FB-1")), "", config::payload_format::value), R"("FB-1")");
  // 2^53 + 1 stays exact: integers are not routed through double.
  EXPECT_EQ(reading_payload(make_reading(std::uint64_t{9007199254740993ull}), "", config::payload_format::value),
            "9007199254740993");
}

TEST(Payload, Float32ValuesPrintWithFloatPrecision) {
  const double from_register = static_cast<double>(230.4f);  // 230.39999389648438
  EXPECT_EQ(json_value(from_register, true), "230.4");
  EXPECT_NE(json_value(from_register, false), "230.4");
}

TEST(Payload, StringsAreEscaped) {
  EXPECT_EQ(json_string("a\"b\\c\n\x01"), R"("a\"b\\c\n\u0001")");
}

TEST(Payload, BadQualityAndNonFiniteAreNotPublished) {
  EXPECT_FALSE(reading_payload(make_reading(1.0, quality::bad), "", config::payload_format::json));
  EXPECT_FALSE(reading_payload(make_reading(std::numeric_limits<double>::quiet_NaN()), "", config::payload_format::value));
  EXPECT_FALSE(reading_payload(make_reading(std::numeric_limits<double>::infinity()), "", config::payload_format::json));
}

TEST(ChangeFilter, DeadbandSuppressesSmallChanges) {
  change_filter f;
  EXPECT_TRUE(f.accept("m/p", 10.0, 0.5));
  EXPECT_FALSE(f.accept("m/p", 10.4, 0.5));
  EXPECT_FALSE(f.accept("m/p", 10.5, 0.5));  // exactly the deadband is not more than it
  EXPECT_TRUE(f.accept("m/p", 10.6, 0.5));
  EXPECT_FALSE(f.accept("m/p", 10.2, 0.5));  // measured from the last published value, 10.6
  EXPECT_TRUE(f.accept("m/p", 10.0, 0.5));
}

TEST(ChangeFilter, ZeroDeadbandPublishesAnyChangeAndNoRepeat) {
  change_filter f;
  EXPECT_TRUE(f.accept("m/a", std::int64_t{1}, 0));
  EXPECT_FALSE(f.accept("m/a", std::int64_t{1}, 0));
  EXPECT_TRUE(f.accept("m/a", std::int64_t{2}, 0));
  EXPECT_TRUE(f.accept("m/s", std::string("x"), 0));
  EXPECT_FALSE(f.accept("m/s", std::string("x"), 0));
  EXPECT_TRUE(f.accept("m/s", std::string("y"), 3));  // strings ignore the deadband
}

TEST(ChangeFilter, ForgettingADevicePublishesItsNextValue) {
  change_filter f;
  EXPECT_TRUE(f.accept("m1/a", 1.0, 0));
  EXPECT_TRUE(f.accept("m10/a", 1.0, 0));
  f.forget_prefix("m1/");
  EXPECT_TRUE(f.accept("m1/a", 1.0, 0));
  EXPECT_FALSE(f.accept("m10/a", 1.0, 0));
}

}  // namespace
}  // namespace fieldbridge::gateway
