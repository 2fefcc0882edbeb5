// The shared retry schedule, as the MQTT client and the field buses use it.
#include "fieldbridge/core/backoff.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace fieldbridge {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

TEST(CoreBackoff, JitteredDoublingBetweenTheBounds) {
  EXPECT_EQ(backoff_delay(100ms, 5s, 0, 0), 100ms);
  EXPECT_EQ(backoff_delay(100ms, 5s, 0, 100), 200ms);
  EXPECT_EQ(backoff_delay(100ms, 5s, 1, 0), 200ms);
  EXPECT_EQ(backoff_delay(100ms, 5s, 1, 200), 400ms);
  EXPECT_EQ(backoff_delay(100ms, 5s, 60, 0), 2500ms);
  EXPECT_EQ(backoff_delay(100ms, 5s, std::numeric_limits<std::uint64_t>::max(), 2500), 5000ms);
  EXPECT_EQ(backoff_delay(0ms, 0ms, 3, 12345), 1ms) << "bounds below 1 ms count as 1 ms";
}

}  // namespace
}  // namespace fieldbridge
