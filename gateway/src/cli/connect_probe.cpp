#include "connect_probe.hpp"

#include "commands.hpp"

namespace fieldbridge::cli {

int run_connect_probe(const config::configuration&, const logger_ptr&) {
  return report_not_built("check --connect", "the MQTT client issue (#3)");
}

}  // namespace fieldbridge::cli
