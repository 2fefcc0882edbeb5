// Readings as MQTT payloads, and the on_change filter. Pure functions, no I/O.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/reading.hpp"
#include "fieldbridge/core/text.hpp"

namespace fieldbridge::gateway {

// The payload PRODUCT.md promises: json `{"value":..,"ts":"..Z"[,"unit":".."]}`
// or the bare value. nullopt when the reading must not be published as a
// number: bad quality (the device status topic speaks instead) or non-finite.
std::optional<std::string> reading_payload(const reading& r, std::string_view unit, config::payload_format format,
                                           bool single_precision = false);

// Builds the same payloads for a stream of readings, keeping the text of
// the last timestamp: the readings of one poll share it, and formatting it
// is most of a payload's cost. Single-threaded.
class payload_builder {
 public:
  std::optional<std::string> build(const reading& r, std::string_view unit, config::payload_format format,
                                   bool single_precision = false);
  // layout: the pieces of a device message, appended to the caller's
  // (reused) buffer. open() starts `{"ts":"..","values":{`; add() appends
  // `"name":value` (false, and nothing appended, for a bad or non-finite
  // reading); close() ends it. The caller says whether add() is the first.
  void open(std::string& out, wall_clock::time_point ts);
  bool add(std::string& out, std::string_view name, const reading& r, bool first, bool single_precision = false);
  static void close(std::string& out);
  // The ISO 8601 text of `ts`, formatted once per distinct time.
  const std::string& timestamp(wall_clock::time_point ts);

 private:

  wall_clock::time_point last_ts_{};
  std::string last_ts_text_;
};

// `publish: on_change`: remembers the last published value per key and says
// whether a new one differs by more than the deadband (any change when the
// deadband is 0; strings and bools on any change). Single-threaded.
class change_filter {
 public:
  // True when `value` should be published; it then becomes the last value.
  bool accept(const std::string& key, const point_value& value, double deadband);
  // The two halves of accept(), for an owner that records a value only once
  // it was really published (the store took it): whether `value` differs
  // from the last one, and making it the last one.
  bool changed(const std::string& key, const point_value& value, double deadband) const;
  void remember(const std::string& key, const point_value& value);
  // Forgets every key that starts with `prefix`, so the first value after a
  // device comes back online is published whatever it is.
  void forget_prefix(const std::string& prefix);
  // Forgets one key (a point that left the configuration at a reload).
  void forget(const std::string& key);

 private:
  std::map<std::string, point_value> last_;
};

}  // namespace fieldbridge::gateway
