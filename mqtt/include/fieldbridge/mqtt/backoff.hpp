// Reconnect back-off: the client asks for the next delay after every failed
// attempt and resets it once a connection is up. The schedule is core's
// shared one (fieldbridge/core/backoff.hpp: exponential growth between two
// bounds with random jitter, as pure arithmetic), the same the field buses
// use for their retries.
#pragma once

#include "fieldbridge/core/backoff.hpp"

#include <chrono>
#include <cstdint>
#include <random>

namespace fieldbridge::mqtt {

using fieldbridge::backoff_delay;

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
