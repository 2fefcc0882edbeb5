#include "fieldbridge/simulator/profiles.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::simulator {

point_value profile_value(const profile& shape, std::chrono::nanoseconds elapsed, std::uint64_t reads,
                          std::mt19937_64& random) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double period = std::chrono::duration<double>(shape.period).count();
  switch (shape.kind) {
    case profile_kind::constant:
      return shape.value;
    case profile_kind::counter: {
      const double ticks = shape.tick == counter_tick::per_read ? static_cast<double>(reads) : std::floor(seconds);
      return shape.start + shape.step * ticks;
    }
    case profile_kind::ramp: {
      const double phase = std::fmod(seconds, period) / period;
      return shape.min + (shape.max - shape.min) * phase;
    }
    case profile_kind::sine:
      return shape.offset + shape.amplitude * std::sin(2 * std::numbers::pi * seconds / period);
    case profile_kind::random:
      return std::uniform_real_distribution<double>(shape.min, shape.max)(random);
  }
  return 0.0;
}

namespace {

bool is_integer_type(value_type type) {
  switch (type) {
    case value_type::int16: case value_type::uint16: case value_type::int32: case value_type::uint32:
    case value_type::int64: case value_type::uint64:
      return true;
    default:
      return false;
  }
}

// Rounds and wraps a generated double into the type's width, as a device
// register would roll over.
point_value wrap_integer(double value, value_type type) {
  const unsigned bits = type == value_type::int16 || type == value_type::uint16   ? 16
                        : type == value_type::int32 || type == value_type::uint32 ? 32
                                                                                  : 64;
  const double rounded = std::nearbyint(value);
  // Two's complement wrap through a signed 64-bit value (doubles beyond 2^63 saturate).
  const std::int64_t as_signed = std::fabs(rounded) < 9.2e18 ? static_cast<std::int64_t>(rounded)
                                 : rounded < 0                ? INT64_MIN
                                                              : INT64_MAX;
  std::uint64_t raw = static_cast<std::uint64_t>(as_signed);
  if (bits < 64) raw &= (std::uint64_t{1} << bits) - 1;
  const bool is_signed = type == value_type::int16 || type == value_type::int32 || type == value_type::int64;
  if (!is_signed) return raw;
  if (bits < 64 && (raw >> (bits - 1)) != 0) raw |= ~((std::uint64_t{1} << bits) - 1);
  return static_cast<std::int64_t>(raw);
}

}  // namespace

std::vector<std::uint16_t> profile_words(const point_value& value, const register_format& format) {
  point_value shaped = value;
  if (const auto* number = std::get_if<double>(&value)) {
    if (format.type == value_type::boolean) {
      shaped = (static_cast<std::int64_t>(std::nearbyint(std::fabs(*number))) & 1) != 0;
    } else if (is_integer_type(format.type)) {
      shaped = wrap_integer(*number, format.type);
    }
  }
  point_spec point;
  point.format = format;
  point.format.scale = 1.0;
  point.format.offset = 0.0;
  auto words = drivers::encode(shaped, point);
  if (!words.ok()) throw std::invalid_argument(words.error);
  return std::move(words.words);
}

}  // namespace fieldbridge::simulator
