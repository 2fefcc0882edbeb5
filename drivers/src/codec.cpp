#include "fieldbridge/drivers/codec.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cctype>
#include <cmath>
#include <limits>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

namespace fieldbridge::drivers {
namespace {

bool is_signed_integer(value_type type) {
  return type == value_type::int16 || type == value_type::int32 || type == value_type::int64;
}

bool is_unsigned_integer(value_type type) {
  return type == value_type::uint16 || type == value_type::uint32 || type == value_type::uint64;
}

bool is_float(value_type type) {
  return type == value_type::float32 || type == value_type::float64;
}

bool unscaled(const register_format& format) {
  return format.scale == 1.0 && format.offset == 0.0;
}

std::uint16_t swap_bytes(std::uint16_t word) {
  return static_cast<std::uint16_t>((word << 8U) | (word >> 8U));
}

// Words in ABCD order to the big-endian integer they spell.
std::uint64_t assemble(std::span<const std::uint16_t> words) {
  std::uint64_t raw = 0;
  for (const std::uint16_t word : words) raw = (raw << 16U) | word;
  return raw;
}

std::vector<std::uint16_t> disassemble(std::uint64_t raw, std::size_t count) {
  std::vector<std::uint16_t> words(count);
  for (std::size_t i = count; i-- > 0;) {
    words[i] = static_cast<std::uint16_t>(raw & 0xFFFFU);
    raw >>= 16U;
  }
  return words;
}

decoded bad(std::string error) {
  return decoded{point_value{0.0}, quality::bad, std::move(error)};
}

decoded finite_or_bad(double value) {
  if (std::isnan(value)) return bad("NaN");
  if (std::isinf(value)) return bad(value > 0 ? "+infinity" : "-infinity");
  return decoded{point_value{value}, quality::good, {}};
}

std::string decode_string(std::span<const std::uint16_t> words, word_order order) {
  // Word reversal makes no sense for text; only the byte swap applies.
  const bool swapped = order == word_order::badc || order == word_order::dcba;
  std::string text;
  text.reserve(words.size() * 2);
  for (std::uint16_t word : words) {
    if (swapped) word = swap_bytes(word);
    text.push_back(static_cast<char>(word >> 8U));
    text.push_back(static_cast<char>(word & 0xFFU));
  }
  while (!text.empty() && (text.back() == '\0' || text.back() == ' ')) text.pop_back();
  return text;
}

decoded decode_impl(std::span<const std::uint16_t> words, const register_format& format,
                    bool apply_scale) {
  if (format.bit) {
    if (words.empty()) return bad("too few registers");
    if (*format.bit > 15) return bad("bit out of range");
    return decoded{point_value{((words[0] >> *format.bit) & 1U) != 0}, quality::good, {}};
  }
  const std::size_t count = register_count(format);
  if (count == 0) return bad("string length is 0");
  if (words.size() < count) return bad("too few registers");
  const auto span = words.first(count);

  if (format.type == value_type::boolean) return {point_value{span[0] != 0}, quality::good, {}};
  if (format.type == value_type::string) {
    return {point_value{decode_string(span, format.order)}, quality::good, {}};
  }

  const std::uint64_t raw = assemble(reorder(span, format.order));
  const bool scaled = apply_scale && !unscaled(format);
  const auto finish = [&](double value) {
    return finite_or_bad(scaled ? value * format.scale + format.offset : value);
  };

  switch (format.type) {
    case value_type::float32: return finish(std::bit_cast<float>(static_cast<std::uint32_t>(raw)));
    case value_type::float64: return finish(std::bit_cast<double>(raw));
    case value_type::int16:
    case value_type::int32:
    case value_type::int64: {
      const unsigned bits = static_cast<unsigned>(count) * 16U;
      // Sign-extend from the type's width.
      const std::uint64_t sign = std::uint64_t{1} << (bits - 1U);
      const std::uint64_t mask = bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1U;
      const std::int64_t value = std::bit_cast<std::int64_t>(((raw & mask) ^ sign) - sign);
      if (!scaled) return {point_value{value}, quality::good, {}};
      return finish(static_cast<double>(value));
    }
    case value_type::uint16:
    case value_type::uint32:
    case value_type::uint64:
      if (!scaled) return {point_value{raw}, quality::good, {}};
      return finish(static_cast<double>(raw));
    case value_type::boolean:
    case value_type::string: break;
  }
  return bad("unknown type");
}

// A value as a double, for min/max checks and scaled encodes.
std::optional<double> as_double(const point_value& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? 1.0 : 0.0;
  if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&value)) return static_cast<double>(*u);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::nullopt;
}

encoded fail(std::string error) { return encoded{{}, std::move(error)}; }

std::string range_error(value_type type) {
  return fmt::format("out of range for {}", to_string(type));
}

// The integer a raw value must fit, with the type's limits; signed types in
// int64 arithmetic, unsigned in uint64, so 64-bit values stay exact.
struct integer_limits {
  std::int64_t min_signed;
  std::int64_t max_signed;
  std::uint64_t max_unsigned;
};

integer_limits limits_of(value_type type) {
  switch (type) {
    case value_type::int16: return {INT16_MIN, INT16_MAX, 0};
    case value_type::int32: return {INT32_MIN, INT32_MAX, 0};
    case value_type::int64: return {INT64_MIN, INT64_MAX, 0};
    case value_type::uint16: return {0, 0, UINT16_MAX};
    case value_type::uint32: return {0, 0, UINT32_MAX};
    default: return {0, 0, UINT64_MAX};
  }
}

// Raw bits of an integer-typed value, or an error.
std::variant<std::uint64_t, std::string> encode_integer(const point_value& value, double engineering,
                                                        const register_format& format) {
  const integer_limits limits = limits_of(format.type);
  const bool is_signed = is_signed_integer(format.type);
  const auto check_signed = [&](std::int64_t v) -> std::variant<std::uint64_t, std::string> {
    if (v < limits.min_signed || v > limits.max_signed) return range_error(format.type);
    return std::bit_cast<std::uint64_t>(v);
  };
  const auto check_unsigned = [&](std::uint64_t v) -> std::variant<std::uint64_t, std::string> {
    if (v > limits.max_unsigned) return range_error(format.type);
    return v;
  };
  if (unscaled(format)) {
    // Exact paths: integers never go through a double.
    if (const auto* i = std::get_if<std::int64_t>(&value)) {
      if (is_signed) return check_signed(*i);
      if (*i < 0) return range_error(format.type);
      return check_unsigned(static_cast<std::uint64_t>(*i));
    }
    if (const auto* u = std::get_if<std::uint64_t>(&value)) {
      if (!is_signed) return check_unsigned(*u);
      if (*u > static_cast<std::uint64_t>(INT64_MAX)) return range_error(format.type);
      return check_signed(static_cast<std::int64_t>(*u));
    }
  }
  const double raw = std::round((engineering - format.offset) / format.scale);
  if (!std::isfinite(raw)) return range_error(format.type);
  // 2^63 and 2^64 are exact doubles; compare against them, not the limits.
  constexpr double two_63 = 9223372036854775808.0;
  constexpr double two_64 = 18446744073709551616.0;
  if (is_signed) {
    if (raw < -two_63 || raw >= two_63) return range_error(format.type);
    return check_signed(static_cast<std::int64_t>(raw));
  }
  if (raw < 0 || raw >= two_64) return range_error(format.type);
  return check_unsigned(static_cast<std::uint64_t>(raw));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

std::vector<std::uint16_t> reorder(std::span<const std::uint16_t> words, word_order order) {
  std::vector<std::uint16_t> out(words.begin(), words.end());
  if (order == word_order::cdab || order == word_order::dcba) std::reverse(out.begin(), out.end());
  if (order == word_order::badc || order == word_order::dcba) {
    for (std::uint16_t& word : out) word = swap_bytes(word);
  }
  return out;
}

decoded decode(std::span<const std::uint16_t> words, const register_format& format) {
  return decode_impl(words, format, true);
}

decoded decode_raw(std::span<const std::uint16_t> words, const register_format& format) {
  return decode_impl(words, format, false);
}

encoded encode(const point_value& value, const point_spec& point,
               std::optional<std::uint16_t> current_register) {
  const register_format& format = point.format;
  if (point.table == register_table::input_register || point.table == register_table::discrete_input) {
    return fail(fmt::format("the {} table is read-only", to_string(point.table)));
  }

  if (format.type == value_type::string) {
    const auto* text = std::get_if<std::string>(&value);
    if (text == nullptr) return fail("expected a string");
    if (text->size() > std::size_t{format.length} * 2) {
      return fail(fmt::format("longer than {} characters", std::size_t{format.length} * 2));
    }
    std::vector<std::uint16_t> words(format.length, 0);
    for (std::size_t i = 0; i < text->size(); ++i) {
      const auto byte = static_cast<std::uint16_t>(static_cast<unsigned char>((*text)[i]));
      words[i / 2] |= (i % 2 == 0) ? static_cast<std::uint16_t>(byte << 8U) : byte;
    }
    if (format.order == word_order::badc || format.order == word_order::dcba) {
      for (std::uint16_t& word : words) word = swap_bytes(word);
    }
    return encoded{std::move(words), {}};
  }

  const std::optional<double> engineering = as_double(value);
  if (!engineering) return fail("expected a number");
  if (!std::isfinite(*engineering)) return fail("not a number");
  if (point.min && *engineering < *point.min) return fail(fmt::format("below min {}", *point.min));
  if (point.max && *engineering > *point.max) return fail(fmt::format("above max {}", *point.max));

  if (format.type == value_type::boolean || format.bit) {
    if (*engineering != 0.0 && *engineering != 1.0) return fail("expected true or false");
    const bool on = *engineering != 0.0;
    if (!format.bit) return encoded{{static_cast<std::uint16_t>(on ? 1 : 0)}, {}};
    if (*format.bit > 15) return fail("bit out of range");
    if (!current_register) return fail("writing a bit needs the current register");
    const auto mask = static_cast<std::uint16_t>(1U << *format.bit);
    const auto word = static_cast<std::uint16_t>(on ? (*current_register | mask)
                                                    : (*current_register & ~mask));
    return encoded{{word}, {}};
  }
  if (point.table == register_table::coil) return fail("a coil holds a bool");

  const std::size_t count = register_count(format);
  std::uint64_t raw = 0;
  if (is_float(format.type)) {
    const double scaled = (*engineering - format.offset) / format.scale;
    if (!std::isfinite(scaled)) return fail(range_error(format.type));
    if (format.type == value_type::float32) {
      if (std::fabs(scaled) > std::numeric_limits<float>::max()) return fail(range_error(format.type));
      raw = std::bit_cast<std::uint32_t>(static_cast<float>(scaled));
    } else {
      raw = std::bit_cast<std::uint64_t>(scaled);
    }
  } else {
    auto bits = encode_integer(value, *engineering, format);
    if (auto* error = std::get_if<std::string>(&bits)) return fail(std::move(*error));
    raw = std::get<std::uint64_t>(bits);
    if (count < 4) raw &= (std::uint64_t{1} << (count * 16)) - 1U;
  }
  const auto big_endian = disassemble(raw, count);
  return encoded{reorder(big_endian, format.order), {}};
}

namespace {

// A value as the integer a map looks up: bools as 0/1, doubles only when whole.
std::optional<std::int64_t> map_key(const point_value& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? 1 : 0;
  if (const auto* i = std::get_if<std::int64_t>(&value)) return *i;
  if (const auto* u = std::get_if<std::uint64_t>(&value)) {
    if (*u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return static_cast<std::int64_t>(*u);
    return std::nullopt;
  }
  if (const auto* d = std::get_if<double>(&value)) {
    if (std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9.2e18) return static_cast<std::int64_t>(*d);
  }
  return std::nullopt;
}

std::string labels(const point_transform& t) {
  std::string out;
  for (const auto& [key, label] : t.map) out += fmt::format("{}{}", out.empty() ? "" : ", ", label);
  return out;
}

}  // namespace

decoded apply_transform(decoded value, const point_spec& point) {
  const auto& t = point.transform;
  if (!value.good() || t.empty()) return value;
  if (t.packs_bits()) {
    // The config allows mask/shift on unscaled integer types only.
    if (const auto* i = std::get_if<std::int64_t>(&value.value)) {
      value.value = t.mask ? point_value{(static_cast<std::uint64_t>(*i) & *t.mask) >> t.shift}
                           : point_value{*i >> t.shift};
    } else if (const auto* u = std::get_if<std::uint64_t>(&value.value)) {
      value.value = point_value{(*u & t.mask.value_or(~std::uint64_t{0})) >> t.shift};
    }
  }
  if (t.round) {
    if (const auto* d = std::get_if<double>(&value.value)) {
      const double factor = std::pow(10.0, *t.round);
      const double rounded = std::round(*d * factor) / factor;
      if (std::isfinite(rounded)) value.value = rounded;
    }
  }
  if (!t.map.empty()) {
    const auto key = map_key(value.value);
    const auto found = key ? std::find_if(t.map.begin(), t.map.end(), [&](const auto& e) { return e.first == *key; })
                           : t.map.end();
    if (found == t.map.end()) {
      value.q = quality::bad;
      value.error = fmt::format("value {} is not in the map", to_text(value.value));
    } else {
      value.value = point_value{found->second};
    }
  }
  return value;
}

decoded decode_point(std::span<const std::uint16_t> words, const point_spec& point) {
  return apply_transform(decode(words, point.format), point);
}

parsed invert_transform(const point_value& value, const point_spec& point) {
  const auto& t = point.transform;
  if (t.packs_bits()) {
    return parsed{value, fmt::format("point '{}' is a field of a packed register (mask/shift) and cannot be written on its own",
                                     point.name)};
  }
  if (t.map.empty()) return parsed{value, {}};
  const auto* text = std::get_if<std::string>(&value);
  if (text == nullptr) return parsed{value, fmt::format("expected one of: {}", labels(t))};
  const auto found = std::find_if(t.map.begin(), t.map.end(), [&](const auto& e) { return e.second == *text; });
  if (found == t.map.end()) return parsed{value, fmt::format("'{}' is not one of: {}", *text, labels(t))};
  if (point.format.type == value_type::boolean || point.format.bit || point.table == register_table::coil) {
    return parsed{point_value{found->first != 0}, {}};
  }
  return parsed{point_value{found->first}, {}};
}

std::string describe_transform(const point_transform& t) {
  std::vector<std::string> parts;
  if (!t.map.empty()) {
    std::string entries;
    for (const auto& [key, label] : t.map) entries += fmt::format("{}{}: {}", entries.empty() ? "" : ", ", key, label);
    parts.push_back("map {" + entries + "}");
  }
  if (t.mask) parts.push_back(fmt::format("mask 0x{:04X}", *t.mask));
  if (t.shift != 0) parts.push_back(fmt::format("shift {}", t.shift));
  if (t.round) parts.push_back(fmt::format("round {}", *t.round));
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::string check_write(const point_spec& point, const point_value& user_value) {
  if (!point.writable) return fmt::format("point '{}' is not writable", point.name);
  const parsed raw = invert_transform(user_value, point);
  if (!raw.ok()) return raw.error;
  const point_value& value = raw.value;
  // The kinds are kept apart here, not in encode(): the command line parses
  // "1" for a coil as true itself, but a command of 1 for a switch or of
  // true for a setpoint is more likely a mistake than a wish.
  const bool is_bool = std::holds_alternative<bool>(value);
  const bool is_text = std::holds_alternative<std::string>(value);
  if (point.format.type == value_type::string) {
    if (!is_text) return "expected a string";
  } else if (point.format.type == value_type::boolean || point.format.bit ||
             point.table == register_table::coil) {
    if (!is_bool) return "expected true or false";
  } else if (is_bool || is_text) {
    return "expected a number";
  }
  // A bit point's real encode needs the current register; any will do to validate.
  return encode(value, point, std::uint16_t{0}).error;
}

parsed parse_value(std::string_view input, const register_format& format) {
  if (format.type == value_type::string) return parsed{point_value{std::string(input)}, {}};
  const std::string_view text = trim(input);
  if (format.type == value_type::boolean || format.bit) {
    const std::string word = lower(text);
    if (word == "true" || word == "on" || word == "1") return parsed{point_value{true}, {}};
    if (word == "false" || word == "off" || word == "0") return parsed{point_value{false}, {}};
    return parsed{point_value{false}, fmt::format("'{}' is not a bool", text)};
  }
  if (unscaled(format) && (is_signed_integer(format.type) || is_unsigned_integer(format.type))) {
    if (const auto i = parse_number<std::int64_t>(text)) return parsed{point_value{*i}, {}};
    if (const auto u = parse_number<std::uint64_t>(text)) return parsed{point_value{*u}, {}};
  }
  if (const auto d = parse_number<double>(text)) return parsed{point_value{*d}, {}};
  return parsed{point_value{0.0}, fmt::format("'{}' is not a number", text)};
}

std::optional<write_function> choose_write_function(register_table table, std::size_t count,
                                                    bool force_multiple) {
  const bool multiple = force_multiple || count != 1;
  switch (table) {
    case register_table::coil:
      return multiple ? write_function::write_multiple_coils : write_function::write_single_coil;
    case register_table::holding_register:
      return multiple ? write_function::write_multiple_registers
                      : write_function::write_single_register;
    case register_table::discrete_input:
    case register_table::input_register: break;
  }
  return std::nullopt;
}

std::string to_text(const point_value& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else {
          return fmt::format("{}", v);
        }
      },
      value);
}

}  // namespace fieldbridge::drivers
