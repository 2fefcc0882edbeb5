// Durations and sizes: the notation of PRODUCT.md, parsed strictly.
#include <gtest/gtest.h>

#include "fieldbridge/config/units.hpp"

namespace fieldbridge::config {
namespace {

using namespace std::chrono_literals;

TEST(duration, units) {
  EXPECT_EQ(parse_duration("250ms").value, 250ms);
  EXPECT_EQ(parse_duration("1s").value, 1000ms);
  EXPECT_EQ(parse_duration("5m").value, 300'000ms);
  EXPECT_EQ(parse_duration("1h").value, 3'600'000ms);
  EXPECT_EQ(parse_duration("1d").value, 86'400'000ms);
  EXPECT_EQ(parse_duration("0").value, 0ms);
  EXPECT_EQ(parse_duration("000").value, 0ms);
  EXPECT_EQ(parse_duration("0s").value, 0ms);
  EXPECT_EQ(parse_duration("90s").value, 90'000ms);
}

TEST(duration, largest_value_and_overflow) {
  // 9223372036854775807 ms is the largest std::chrono::milliseconds.
  EXPECT_EQ(parse_duration("9223372036854775807ms").value, std::chrono::milliseconds::max());
  EXPECT_FALSE(parse_duration("9223372036854775808ms").value);
  EXPECT_EQ(parse_duration("9223372036854775808ms").error, "duration '9223372036854775808ms' is too large");
  EXPECT_EQ(parse_duration("106751991167d").value, std::chrono::milliseconds{106751991167LL * 86'400'000LL});
  EXPECT_FALSE(parse_duration("106751991168d").value);
  EXPECT_FALSE(parse_duration("99999999999999999999999s").value);
}

TEST(duration, refuses_what_is_not_the_notation) {
  for (const auto* text : {"", "s", "ms", "1", "30", "1.5s", "-1s", "+1s", "1 s", " 1s", "1s ", "1sec", "1S",
                           "1M", "1ms5", "1h30m", "0x10s", "1y", "1us", "inf", "1e3ms"}) {
    const auto result = parse_duration(text);
    EXPECT_FALSE(result.value) << text;
    EXPECT_FALSE(result.error.empty()) << text;
  }
  EXPECT_EQ(parse_duration("30").error, "expected a duration such as 250ms, 1s, 5m, 1h or 1d; '30' has no unit");
  EXPECT_EQ(parse_duration("-1s").error, "a duration cannot be negative");
  EXPECT_EQ(parse_duration("5min").error, "expected a duration such as 250ms, 1s, 5m, 1h or 1d; unknown unit 'min'");
}

TEST(size, units) {
  EXPECT_EQ(parse_size("0").value, 0u);
  EXPECT_EQ(parse_size("65536").value, 65536u);
  EXPECT_EQ(parse_size("100B").value, 100u);
  EXPECT_EQ(parse_size("64KiB").value, 65536u);
  EXPECT_EQ(parse_size("256MiB").value, 256ull * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB").value, 1ull << 30);
  EXPECT_EQ(parse_size("2TiB").value, 2ull << 40);
  EXPECT_EQ(parse_size("1kB").value, 1000u);
  EXPECT_EQ(parse_size("1KB").value, 1000u);
  EXPECT_EQ(parse_size("5MB").value, 5'000'000u);
  EXPECT_EQ(parse_size("1GB").value, 1'000'000'000u);
  EXPECT_EQ(parse_size("3TB").value, 3'000'000'000'000u);
}

TEST(size, overflow) {
  EXPECT_EQ(parse_size("18446744073709551615").value, UINT64_MAX);
  EXPECT_FALSE(parse_size("18446744073709551616").value);
  EXPECT_EQ(parse_size("16777215TiB").value, 16777215ull << 40);
  EXPECT_FALSE(parse_size("16777216TiB").value);
  EXPECT_EQ(parse_size("16777216TiB").error, "size '16777216TiB' is too large");
}

TEST(size, refuses_what_is_not_the_notation) {
  for (const auto* text : {"", "KiB", "-1", "-1KiB", "1.5MiB", "1 MiB", "1kib", "1mb", "1Mi", "1K", "1M", "0x10",
                           "1e6", "64KiB "}) {
    const auto result = parse_size(text);
    EXPECT_FALSE(result.value) << text;
    EXPECT_FALSE(result.error.empty()) << text;
  }
  EXPECT_EQ(parse_size("-1").error, "a size cannot be negative");
  EXPECT_EQ(parse_size("1Mi").error, "expected a size such as 65536, 64KiB, 256MiB or 1GiB; unknown unit 'Mi'");
}

TEST(format, shortest_exact_spelling) {
  EXPECT_EQ(format_duration(0ms), "0");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(5min), "5m");
  EXPECT_EQ(format_duration(24h), "1d");
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(65536), "64KiB");
  EXPECT_EQ(format_size(256ull << 20), "256MiB");
  EXPECT_EQ(format_size(3ull << 30), "3GiB");
}

TEST(format, round_trips_through_the_parser) {
  for (const auto ms : {1LL, 999LL, 1000LL, 61'000LL, 3'600'000LL, 86'400'000LL * 7, 123'456'789LL}) {
    const std::chrono::milliseconds duration{ms};
    EXPECT_EQ(parse_duration(format_duration(duration)).value, duration) << ms;
  }
  for (const auto bytes : {1ull, 1023ull, 1024ull, 65536ull, 1ull << 40, (1ull << 40) + 1}) {
    EXPECT_EQ(parse_size(format_size(bytes)).value, bytes) << bytes;
  }
}

}  // namespace
}  // namespace fieldbridge::config
