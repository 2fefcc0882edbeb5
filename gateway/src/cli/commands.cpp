#include "commands.hpp"

#include <fmt/core.h>

namespace fieldbridge::cli {

logger_ptr command_context::make_logger(std::string name) const {
  // main validated the level already; "info" is only a fallback.
  return make_stderr_logger(std::move(name),
                            parse_log_level(global.log_level).value_or(spdlog::level::info));
}

int report_not_built(std::string_view command, std::string_view arrives_with) {
  fmt::print(stderr, "fieldbridge {}: not built yet; it arrives with {}\n", command, arrives_with);
  return exit_not_built;
}

}  // namespace fieldbridge::cli
