#include "run/watchdog.hpp"

#include <algorithm>

namespace fieldbridge::gateway {

std::optional<stall> find_stall(std::chrono::steady_clock::time_point now, const std::vector<progress_source>& sources) {
  for (const auto& s : sources) {
    const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.last);
    if (since > s.limit) return stall{s.name, since};
  }
  return std::nullopt;
}

std::chrono::milliseconds stall_limit(std::chrono::milliseconds expected_turn, std::chrono::microseconds watchdog) {
  using std::chrono::milliseconds;
  return std::max({expected_turn * 3, std::chrono::duration_cast<milliseconds>(watchdog), milliseconds{10000}});
}

}  // namespace fieldbridge::gateway
