#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

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

std::string log_one_error_line() {
  testing::internal::CaptureStderr();
  {
    auto logger = make_stderr_logger("gw", spdlog::level::info);
    logger->error("broker gone");
    logger->flush();
  }
  return testing::internal::GetCapturedStderr();
}

// Under systemd journald stamps the time itself and reads the <N> priority.
TEST(StderrLogger, UnderJournaldWritesPriorityPrefixAndNoTimestamp) {
  ::setenv("JOURNAL_STREAM", "8:12345", 1);
  const auto line = log_one_error_line();
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(line, "<3>gw: broker gone\n");
}

TEST(StderrLogger, OnATerminalStampsTimeAndLevel) {
  ::unsetenv("JOURNAL_STREAM");
  const auto line = log_one_error_line();
  EXPECT_NE(line.find("error"), std::string::npos) << line;
  EXPECT_NE(line.find("gw: broker gone"), std::string::npos) << line;
  EXPECT_NE(line.find(":"), 0u) << line;
  EXPECT_EQ(line.find("<3>"), std::string::npos) << line;
}

}  // namespace
}  // namespace fieldbridge
