// Child processes for system tests: started with an argv (no shell), stopped
// by their pid (never by name), always reaped. Output goes to a log file that
// a failing test can print.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace fieldbridge::test {

using namespace std::chrono_literals;

// Polls `condition` until it holds or `timeout` passes; returns whether it
// held. This is a deadline on a condition, not a sleep for synchronisation.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = 10s,
                std::chrono::milliseconds poll = 5ms);

class child_process {
 public:
  child_process() = default;
  // Starts argv[0] (searched in PATH) with stdout and stderr appended to
  // `log_file` (or inherited when empty). Throws on failure to start.
  explicit child_process(std::vector<std::string> argv, std::filesystem::path log_file = {},
                         std::vector<std::string> extra_env = {});
  ~child_process();  // SIGKILL and reap if still running
  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  bool running();                       // reaps if it has exited
  void signal(int signo) const;         // to this pid only
  // Waits for exit; returns the exit status (128+signal when killed), or
  // nullopt when the timeout passed first.
  std::optional<int> wait(std::chrono::milliseconds timeout = 10s);
  // SIGTERM, then SIGKILL after `grace`; returns the exit status.
  int stop(std::chrono::milliseconds grace = 5s);
  int kill_hard();                      // SIGKILL and reap
  const std::filesystem::path& log_file() const noexcept { return log_file_; }
  std::string log() const;              // what the child wrote so far

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::filesystem::path log_file_;
};

// Runs a command to completion and returns its exit status and output
// (stdout and stderr merged). For short CLI invocations. `extra_env`
// ("NAME=value") is added to the inherited environment.
struct command_result {
  int exit_code = -1;
  std::string output;
};
command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = 60s,
                           std::vector<std::string> extra_env = {});

// The fieldbridge binary under test.
std::string fieldbridge_binary();

}  // namespace fieldbridge::test
