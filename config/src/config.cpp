#include "fieldbridge/config/config.hpp"

#include <fmt/core.h>

namespace fieldbridge::config {

config_error::config_error(std::string file, int line, int column, std::string message)
    : std::runtime_error(fmt::format("{}:{}:{}: {}", file, line, column, message)),
      file_(std::move(file)), line_(line), column_(column), message_(std::move(message)) {}

}  // namespace fieldbridge::config
