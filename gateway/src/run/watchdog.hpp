// The watchdog decision: systemd's watchdog is fed only while every part
// that must move has moved recently (each bus worker, the store's flush
// timer), so a stuck worker leads to a restart, not only a stuck event loop.
// Pure: the runtime gathers the times and sends WATCHDOG=1.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace fieldbridge::gateway {

struct progress_source {
  std::string name;                            // "bus tcp1", "store"
  std::chrono::steady_clock::time_point last;  // its last progress
  std::chrono::milliseconds limit;             // longer without progress is a stall
};

struct stall {
  std::string name;
  std::chrono::milliseconds since;  // how long without progress
};

// The first source without progress within its limit at `now`; nullopt
// when all of them moved recently (feed the watchdog).
std::optional<stall> find_stall(std::chrono::steady_clock::time_point now, const std::vector<progress_source>& sources);

// How long a source may go without progress before it counts as stuck:
// `expected_turn` (its longest legitimate loop turn: a request time-out, a
// flush period) three times over, never less than the watchdog's own
// period nor 10 s, so a slow device is not taken for a stuck one.
std::chrono::milliseconds stall_limit(std::chrono::milliseconds expected_turn, std::chrono::microseconds watchdog);

}  // namespace fieldbridge::gateway
