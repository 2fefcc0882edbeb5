// Reconnect back-off: exponential growth between two bounds with random
// jitter, as pure arithmetic (no clock, no timer) so it can be tested and
// reused. The client asks for the next delay after every failed attempt and
// resets it once a connection is up.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace fieldbridge::mqtt {

// The delay before retry number `attempt` (0 = the first retry after a
// failure). Retry n draws from the upper half of the step min·2^(n+1),
// capped at max: [min, 2·min], [2·min, 4·min], ... then [max/2, max], never
// below min and never above max. Every retry is jittered, the first one
// included, so clients that lost the same broker do not come back in
// lockstep. `random` is any value from a uniform 64-bit source; the same
// inputs give the same delay. Bounds below 1 ms count as 1 ms; max below min
// counts as min. Any attempt count is safe (the step stops doubling at max).
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                        std::uint64_t attempt, std::uint64_t random) noexcept;

// backoff_delay() with the attempt counter and the random source kept.
class reconnect_backoff {
 public:
  reconnect_backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, std::uint64_t seed)
      : min_(min), max_(max), random_(seed) {}

  // The delay before the next attempt; counts one more failed attempt.
  std::chrono::milliseconds next() { return backoff_delay(min_, max_, attempts_++, random_()); }
  // A connection came up: the next failure starts again from min.
  void reset() noexcept { attempts_ = 0; }
  std::uint64_t failed_attempts() const noexcept { return attempts_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::uint64_t attempts_ = 0;
  std::mt19937_64 random_;
};

}  // namespace fieldbridge::mqtt
