// The buses' stateful wrapper of core's backoff_delay: attempts, jitter, reset.
#include <gtest/gtest.h>

#include <set>

#include "fieldbridge/drivers/bus.hpp"

namespace fieldbridge {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

TEST(DriversBackoff, TheBusesWrapperCountsAttemptsJittersAndResets) {
  drivers::backoff retry(drivers::backoff_policy{50ms, 400ms}, 42);
  std::set<ms> first;
  for (int i = 0; i < 50; ++i) {
    drivers::backoff b(drivers::backoff_policy{50ms, 400ms}, static_cast<std::uint64_t>(i));
    const auto d = b.next();
    EXPECT_GE(d, 50ms);
    EXPECT_LE(d, 100ms);
    first.insert(d);
  }
  EXPECT_GT(first.size(), 5U) << "different seeds draw different delays";
  for (int i = 0; i < 20; ++i) {
    const auto d = retry.next();
    EXPECT_GE(d, 50ms);
    EXPECT_LE(d, 400ms);
  }
  EXPECT_EQ(retry.failed_attempts(), 20U);
  EXPECT_GE(retry.next(), 200ms) << "at the cap: the upper half of max";
  retry.reset();
  EXPECT_EQ(retry.failed_attempts(), 0U);
  EXPECT_LE(retry.next(), 100ms);
}

}  // namespace
}  // namespace fieldbridge
