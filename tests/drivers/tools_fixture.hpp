// A `fieldbridge simulate` child process for the tools' system tests, and a
// way to run the fieldbridge CLI against it.
#pragma once

#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {

// Starts `fieldbridge simulate -c SIMFILE` with `yaml` as the SIMFILE and
// waits for its "listening" line; stopped by pid when it goes.
class simulator_process {
 public:
  explicit simulator_process(const std::string& yaml) : dir_("fieldbridge-sim") {
    file_ = dir_.write_file("sim.yaml", yaml);
    process_ = child_process({fieldbridge_binary(), "simulate", "-c", file_.string()}, dir_ / "sim.log");
    const bool up = wait_until([this] { return log().find("simulate: listening on") != std::string::npos || !process_.running(); }, 10s);
    if (!up || !process_.running()) ADD_FAILURE() << "the simulator did not start:\n" << log();
  }
  ~simulator_process() { process_.stop(2s); }

  std::string log() const { return process_.log(); }
  child_process& process() { return process_; }
  // Rewrites the SIMFILE and has the simulator reload its faults.
  void reload(const std::string& yaml) {
    dir_.write_file("sim.yaml", yaml);
    const auto before = count("faults reloaded");
    process_.signal(SIGHUP);
    if (!wait_until([&] { return count("faults reloaded") > before; }, 5s)) ADD_FAILURE() << "no reload:\n" << log();
  }
  std::size_t count(const std::string& text) const {
    const auto all = log();
    std::size_t n = 0;
    for (auto at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++n;
    return n;
  }

 private:
  temp_dir dir_;
  std::filesystem::path file_;
  child_process process_;
};

// Runs `fieldbridge ARGS...`.
inline command_result fieldbridge(std::vector<std::string> args) {
  args.insert(args.begin(), fieldbridge_binary());
  return run_command(args, 30s);
}

}  // namespace fieldbridge::test
