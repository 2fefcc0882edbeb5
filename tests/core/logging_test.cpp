#include <gtest/gtest.h>

#include "fieldbridge/core/logging.hpp"

namespace fieldbridge {
namespace {

TEST(ParseLogLevel, KnowsEveryName) {
  EXPECT_EQ(parse_log_level("debug"), spdlog::level::debug);
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("error"), spdlog::level::err);
  EXPECT_EQ(parse_log_level("off"), spdlog::level::off);
  EXPECT_FALSE(parse_log_level("loud").has_value());
  EXPECT_FALSE(parse_log_level("").has_value());
}

TEST(StderrLogger, TakesTheRequestedLevel) {
  auto logger = make_stderr_logger("test", spdlog::level::warn);
  EXPECT_EQ(logger->level(), spdlog::level::warn);
  EXPECT_EQ(logger->name(), "test");
}

}  // namespace
}  // namespace fieldbridge
