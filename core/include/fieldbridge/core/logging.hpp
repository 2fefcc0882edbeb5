// Logger construction. Loggers are created once by main and passed down;
// nothing looks them up in spdlog's global registry.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace fieldbridge {

using logger_ptr = std::shared_ptr<spdlog::logger>;

// Parses "trace|debug|info|warn|error|critical|off"; nullopt when unknown.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

// A logger writing to stderr. Under systemd (JOURNAL_STREAM set) it leaves out
// its own timestamp so journald's is not doubled.
logger_ptr make_stderr_logger(std::string name, spdlog::level::level_enum level);

// A logger that discards everything, for tests and tools that want silence.
logger_ptr make_null_logger(std::string name = "null");

}  // namespace fieldbridge
