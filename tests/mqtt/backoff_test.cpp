// Reconnect back-off: bounds, growth, jitter, reset and huge attempt counts,
// with seeded generators (no clock).
#include <fieldbridge/mqtt/backoff.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <set>

namespace fieldbridge::mqtt {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

TEST(Backoff, FirstDelayIsJitteredBetweenMinAndTwiceMin) {
  std::mt19937_64 random(1);
  std::set<ms> seen;
  for (int i = 0; i < 200; ++i) {
    const auto d = backoff_delay(500ms, 30s, 0, random());
    EXPECT_GE(d, 500ms);
    EXPECT_LE(d, 1000ms);
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 50u) << "the first retry is jittered too";
  // The extremes of the random source reach both ends of the range.
  EXPECT_EQ(backoff_delay(500ms, 30s, 0, 0), 500ms);
  EXPECT_EQ(backoff_delay(500ms, 30s, 0, 500), 1000ms);
}

TEST(Backoff, EachFailedAttemptDoublesTheRangeUntilTheCap) {
  // Retry n draws from [min·2^n, min·2^(n+1)]; from retry 5 on the step is capped at max.
  const ms min = 100ms, max = 5000ms;
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  ms low = min;
  for (std::uint64_t attempt = 0; attempt < 6; ++attempt) {
    const ms high = std::min(low * 2, max);
    const ms floor = std::max(high / 2, min);
    EXPECT_EQ(backoff_delay(min, max, attempt, 0), floor) << attempt;
    EXPECT_EQ(backoff_delay(min, max, attempt, (high - floor).count()), high) << attempt;
    EXPECT_LE(backoff_delay(min, max, attempt, top), high) << attempt;
    if (attempt > 0) {
      EXPECT_GT(floor, backoff_delay(min, max, attempt - 1, 0)) << "grows at " << attempt;
    }
    low = high;
  }
  // At the cap: the upper half of max, still jittered.
  EXPECT_EQ(backoff_delay(min, max, 6, 0), 2500ms);
  EXPECT_EQ(backoff_delay(min, max, 6, 2500), 5000ms);
}

TEST(Backoff, NeverAboveMaxNorBelowMinAndNoOverflowAfterThousandsOfAttempts) {
  reconnect_backoff backoff(10ms, 40ms, 7);
  for (int i = 0; i < 5000; ++i) {
    const auto d = backoff.next();
    ASSERT_GE(d, 10ms) << i;
    ASSERT_LE(d, 40ms) << i;
  }
  EXPECT_EQ(backoff.failed_attempts(), 5000u);
  // Extreme bounds and attempt counts: no overflow, no sign change.
  const ms huge{std::numeric_limits<ms::rep>::max()};
  for (const std::uint64_t attempt : {std::uint64_t{62}, std::uint64_t{63}, std::uint64_t{64}, std::uint64_t{100000},
                                      std::numeric_limits<std::uint64_t>::max()}) {
    for (const std::uint64_t random : {std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max()}) {
      const auto d = backoff_delay(1ms, huge, attempt, random);
      EXPECT_GE(d, huge / 2) << attempt;
      EXPECT_LE(d, huge) << attempt;
      EXPECT_EQ(backoff_delay(3s, 3s, attempt, random), 3s);
    }
  }
}

TEST(Backoff, InvertedOrZeroBoundsAreSafe) {
  EXPECT_EQ(backoff_delay(2s, 1s, 0, 12345), 2s) << "max below min counts as min";
  EXPECT_EQ(backoff_delay(0ms, 0ms, 5, 99), 1ms) << "bounds below 1 ms count as 1 ms";
  EXPECT_EQ(backoff_delay(-5ms, -1ms, 0, 0), 1ms);
}

TEST(Backoff, JitterVariesAndASeedReproducesItsSequence) {
  reconnect_backoff a(100ms, 60s, 42), b(100ms, 60s, 42), c(100ms, 60s, 43);
  std::vector<ms> from_a, from_b, from_c;
  for (int i = 0; i < 12; ++i) {
    from_a.push_back(a.next());
    from_b.push_back(b.next());
    from_c.push_back(c.next());
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c) << "another seed, another sequence";
  // Many clients at the same attempt spread over the range.
  std::set<ms> spread;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    reconnect_backoff client(100ms, 60s, seed);
    client.next();
    client.next();
    spread.insert(client.next());  // the third retry: [400, 800] ms
  }
  EXPECT_GT(spread.size(), 50u);
  EXPECT_GE(*spread.begin(), 400ms);
  EXPECT_LE(*spread.rbegin(), 800ms);
}

TEST(Backoff, ResetAfterAConnectionStartsFromMinAgain) {
  reconnect_backoff backoff(100ms, 60s, 3);
  for (int i = 0; i < 10; ++i) backoff.next();
  EXPECT_GE(backoff.next(), 25600ms) << "grown after 10 failures";
  backoff.reset();
  EXPECT_EQ(backoff.failed_attempts(), 0u);
  const auto d = backoff.next();
  EXPECT_GE(d, 100ms);
  EXPECT_LE(d, 200ms);
}

}  // namespace
}  // namespace fieldbridge::mqtt
