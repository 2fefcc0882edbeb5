// See backoff.hpp for the schedule.
#include "fieldbridge/core/backoff.hpp"

#include <algorithm>

namespace fieldbridge {

std::chrono::milliseconds backoff_delay(std::chrono::milliseconds min, std::chrono::milliseconds max,
                                        std::uint64_t attempt, std::uint64_t random) noexcept {
  using ms = std::chrono::milliseconds;
  const auto low = std::max(min, ms{1}).count();
  const auto high = std::max(max.count(), low);
  // Double at most until the cap: the loop is bounded by log2(high / low)
  // whatever the attempt count, and `step > high / 2` stops it before a
  // doubling could overflow.
  auto step = low;
  for (std::uint64_t i = 0; i <= attempt && step < high; ++i) step = step > high / 2 ? high : step * 2;
  step = std::min(step, high);
  const auto floor = std::max(step / 2, low);
  // floor <= step <= high, so the span fits. The modulo bias is span / 2^64:
  // below 2^-40 for any span under 4.6 hours.
  const auto span = static_cast<std::uint64_t>(step - floor) + 1;
  return ms{floor + static_cast<std::int64_t>(random % span)};
}

}  // namespace fieldbridge
