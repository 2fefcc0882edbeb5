// A socat pty pair standing in for an RS-485 line: two linked pseudo
// terminals in a temporary directory. Closing it (stop) makes both ends
// disappear, as an unplugged USB adapter does.
#pragma once

#include <filesystem>
#include <string>

#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {

class pty_pair {
 public:
  pty_pair();
  ~pty_pair();

  // The two ends: a device (simulator) opens one, the gateway the other.
  std::string device_end() const { return (dir_ / "device").string(); }
  std::string gateway_end() const { return (dir_ / "gateway").string(); }

  void start();   // (re)create both links; waits until they exist
  void stop();    // kill socat by pid; both links vanish
  pid_t pid() const { return process_.pid(); }

 private:
  temp_dir dir_;
  child_process process_;
};

}  // namespace fieldbridge::test
