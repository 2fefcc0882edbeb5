#include "fieldbridge/core/logging.hpp"

#include <cstdlib>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace fieldbridge {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> names[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"off", spdlog::level::off}};
  for (const auto& [name, level] : names) {
    if (name == text) return level;
  }
  return std::nullopt;
}

namespace {

// "<N>" syslog priority prefix that journald reads from a service's stderr
// (SyslogLevelPrefix=), so `journalctl -p err` works.
class syslog_priority_flag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char priorities[] = {'7', '7', '6', '4', '3', '2', '6'};
    const auto index = static_cast<std::size_t>(msg.level);
    dest.push_back('<');
    dest.push_back(index < sizeof priorities ? priorities[index] : '6');
    dest.push_back('>');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<syslog_priority_flag>();
  }
};

}  // namespace

logger_ptr make_stderr_logger(std::string name, spdlog::level::level_enum level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::move(name), std::move(sink));
  // journald stamps every line itself; a second timestamp is noise there.
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<syslog_priority_flag>('*').set_pattern("%*%n: %v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %n: %v");
  }
  logger->set_level(level);
  return logger;
}

logger_ptr make_null_logger(std::string name) {
  return std::make_shared<spdlog::logger>(std::move(name),
                                          std::make_shared<spdlog::sinks::null_sink_mt>());
}

}  // namespace fieldbridge
