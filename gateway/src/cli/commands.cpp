#include "commands.hpp"

#include <fmt/core.h>

namespace fieldbridge::cli {

logger_ptr command_context::make_logger(std::string name) const {
  // main validated the level already; "info" is only a fallback.
  return make_stderr_logger(std::move(name),
                            parse_log_level(global.log_level).value_or(spdlog::level::info));
}

}  // namespace fieldbridge::cli
