// The Modbus register codec: registers (or bits) in, values out, and back.
// Pure functions with no I/O; safe to call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fieldbridge/core/model.hpp"
#include "fieldbridge/core/reading.hpp"

namespace fieldbridge::drivers {

// A decoded value. When q is bad, `error` says why (e.g. "NaN", "too few
// registers") and `value` must not be published as a number.
struct decoded {
  point_value value;
  quality q = quality::good;
  std::string error;

  bool good() const noexcept { return q == quality::good; }
};

// Decodes the registers (or bits as 0/1 words, for the coil and discrete
// tables) that `format` spans, starting at words[0]. Applies scale/offset.
// Integers stay exact (int64_t for signed types, uint64_t for unsigned) when
// scale is 1 and offset 0; otherwise the value is a double. bool and `bit`
// give bool, strings give std::string (trailing NULs and spaces trimmed).
// NaN and infinities give quality::bad.
decoded decode(std::span<const std::uint16_t> words, const register_format& format);

// As decode, but ignoring scale and offset: the raw interpretation, for probe.
decoded decode_raw(std::span<const std::uint16_t> words, const register_format& format);

// The point's transform (mask, shift, round, map; see point_transform)
// applied to a good decoded value; bad ones pass unchanged. A value that the
// map does not list is bad quality ("value 7 is not in the map"), its number
// kept in `value` for the logs.
decoded apply_transform(decoded value, const point_spec& point);

// decode() with the point's format, then apply_transform(): what a poll
// publishes for `point`.
decoded decode_point(std::span<const std::uint16_t> words, const point_spec& point);

// "map {0: stopped, 1: running}, mask 0x00F0, shift 4, round 2"; empty when none.
std::string describe_transform(const point_transform& transform);

// Result of encoding a value for a write. ok() or an `error` meant for the
// user, e.g. "above max 80", "out of range for int16", "not a number".
struct encoded {
  std::vector<std::uint16_t> words;  // registers, or 0/1 per coil
  std::string error;

  bool ok() const noexcept { return error.empty(); }
};

// Encodes `value` for `point`: checks min/max against the engineering value,
// inverts scale/offset (rounding to nearest for integer types), checks the
// raw value against the type's range, and lays the words out in the point's
// order. A bool on a coil gives one word 0/1. A `bit` point needs the current
// register: pass it as `current_register` (read-modify-write); without it the
// result is an error. Strings are NUL-padded to `length` registers.
encoded encode(const point_value& value, const point_spec& point,
               std::optional<std::uint16_t> current_register = std::nullopt);

// Why `value` may not be written to `point`, or an empty string when it may:
// the point must be `writable`, the value of the point's kind (true/false for
// bool, coil and `bit` points; a number for numeric points; text for string
// points; one of its strings for a mapped point, see invert_transform) and
// encodable (min/max, NaN, the type's range; see encode). Pure:
// the buses call it before queueing a write, and the gateway's command router
// before it asks a bus, so a refused command costs no bus traffic.
std::string check_write(const point_spec& point, const point_value& value);

// Parses user text ("42", "-1.5", "true", "off", a string) into a value of
// the point's type family, for `fieldbridge write --value` and MQTT commands.
// nullopt-style failure is reported through `error`.
struct parsed {
  point_value value;
  std::string error;

  bool ok() const noexcept { return error.empty(); }
};
parsed parse_value(std::string_view text, const register_format& format);

// The inverse of the transform for a command: a mapped point takes one of
// its strings and gets the number it stands for (a bool for bool points);
// other values pass unchanged. Errors: a mapped point given anything but one
// of its strings; a point with mask or shift (a field of a packed word
// cannot be written on its own).
parsed invert_transform(const point_value& value, const point_spec& point);


// The Modbus function a write uses: FC05/FC15 for coils, FC06/FC16 for
// holding registers; force_multiple (the device option) forces FC15/FC16.
enum class write_function : std::uint8_t {
  write_single_coil = 5,
  write_single_register = 6,
  write_multiple_coils = 15,
  write_multiple_registers = 16,
};
// nullopt when the table is not writable (inputs and discrete inputs).
std::optional<write_function> choose_write_function(register_table table, std::size_t count,
                                                    bool force_multiple);

// Puts the words of a multi-register value in big-endian (ABCD...) order, or
// back: reverses the words for CDAB/DCBA and swaps the bytes in each word for
// BADC/DCBA. The transform is its own inverse.
std::vector<std::uint16_t> reorder(std::span<const std::uint16_t> words, word_order order);

// A value as text for the tools and logs: integers exactly, doubles in the
// shortest form that round-trips, bools as true/false, strings as they are.
std::string to_text(const point_value& value);

}  // namespace fieldbridge::drivers
