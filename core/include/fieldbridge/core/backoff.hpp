// Retry back-off: exponential growth between two bounds with random jitter,
// as pure arithmetic (no clock, no timer) so it can be tested and shared. The
// MQTT client's reconnects and the field buses' link and offline-device
// retries use the same schedule.
#pragma once

#include <chrono>
#include <cstdint>

namespace fieldbridge {

// The delay before retry number `attempt` (0 = the first retry after a
// failure). Retry n draws from the upper half of the step min·2^(n+1),
// capped at max: [min, 2·min], [2·min, 4·min], ... then [max/2, max], never
// below min and never above max. Every retry is jittered, the first one
// included, so peers that lost the same server do not come back in
// lockstep. `random` is any value from a uniform 64-bit source; the same
// inputs give the same delay. Bounds below 1 ms count as 1 ms; max below min
// counts as min. Any attempt count is safe (the step stops doubling at max).
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                        std::uint64_t attempt, std::uint64_t random) noexcept;

}  // namespace fieldbridge
