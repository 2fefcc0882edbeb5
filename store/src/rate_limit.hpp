// Rate limiting for log lines about repeated events (drops, write errors):
// the first event logs at once, later ones at most once per period, with
// the number that happened in between; pending_report() gives the rest.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace fieldbridge::store {

class log_rate_limit {
 public:
  using clock = std::chrono::steady_clock;
  explicit log_rate_limit(clock::duration period = std::chrono::seconds(10)) : period_(period) {}

  // Records one event; returns how many events to report when a log line is
  // due now, nullopt while quiet.
  std::optional<std::uint64_t> event(clock::time_point now = clock::now()) {
    ++unreported_;
    if (last_ && now - *last_ < period_) return std::nullopt;
    last_ = now;
    const auto n = unreported_;
    unreported_ = 0;
    return n;
  }

  // The events held back since the last report, once a report is due; for a
  // periodic caller, so the last burst of events is reported too.
  std::optional<std::uint64_t> pending_report(clock::time_point now = clock::now()) {
    if (unreported_ == 0 || (last_ && now - *last_ < period_)) return std::nullopt;
    last_ = now;
    const auto n = unreported_;
    unreported_ = 0;
    return n;
  }

 private:
  clock::duration period_;
  std::optional<clock::time_point> last_;
  std::uint64_t unreported_ = 0;
};

}  // namespace fieldbridge::store
