#include "pty_pair.hpp"

#include <chrono>
#include <stdexcept>

namespace fieldbridge::test {

using namespace std::chrono_literals;

pty_pair::pty_pair() : dir_("fieldbridge-pty") { start(); }

pty_pair::~pty_pair() { stop(); }

void pty_pair::start() {
  stop();
  // raw,echo=0: a byte-transparent line, as a serial adapter is.
  process_ = child_process(
      {"socat", "-d", "-d", "pty,raw,echo=0,link=" + device_end(),
       "pty,raw,echo=0,link=" + gateway_end()},
      dir_ / "socat.log");
  const bool ready = wait_until([this] {
    return std::filesystem::exists(device_end()) && std::filesystem::exists(gateway_end());
  }, 10s);
  if (!ready) throw std::runtime_error("socat did not create the pty pair:\n" + process_.log());
}

void pty_pair::stop() {
  process_.stop(2s);
  // socat removes its links on SIGTERM; make sure a killed one leaves none.
  std::error_code ignored;
  std::filesystem::remove(device_end(), ignored);
  std::filesystem::remove(gateway_end(), ignored);
}

}  // namespace fieldbridge::test
