// Sparkplug B payloads (Eclipse Sparkplug 3.0.0, chapter 6): encoding and
// decoding of a payload and its metrics, on the protobuf-c code generated
// from mqtt/sparkplug/proto/sparkplug_b.proto. The types here are plain C++
// values; nothing of protobuf-c shows through.
//
// A metric's value is held by meaning (a signed or unsigned integer, a float,
// a string, bytes); its datatype picks the protobuf field it travels in, as
// the specification's datatype table says ("Datatype Details"):
//   Int8, Int16, Int32, UInt8, UInt16, UInt32  -> int_value (uint32); the
//     signed ones as the 32-bit two's complement of the value
//   Int64, UInt64, DateTime                    -> long_value (uint64); Int64
//     as the 64-bit two's complement
//   Float -> float_value, Double -> double_value, Boolean -> boolean_value
//   String, Text, UUID -> string_value
//   Bytes, File and every array type -> bytes_value (arrays packed little
//     endian, see pack_array/unpack_array)
// UInt32 in int_value is the 3.0 table's rule; Eclipse Tahu's JavaScript
// package (sparkplug-payload 1.0.3) writes and reads UInt32 in long_value.
// docs/sparkplug.md says how that was checked and what it means for a host.
//
// DATA and CMD messages leave the datatype out (tck-id-payloads-metric-
// datatype-not-req); a host decodes them with the datatypes its birth
// certificate gave each alias: birth_types below does that bookkeeping.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fieldbridge::sparkplug {

// The Sparkplug datatypes (the specification's enum values). DataSet,
// Template, PropertySet and PropertySetList are named for completeness; the
// codec does not carry their values (a metric of those types decodes with
// no value).
enum class data_type : std::uint32_t {
  unknown = 0,
  int8 = 1, int16 = 2, int32 = 3, int64 = 4,
  uint8 = 5, uint16 = 6, uint32 = 7, uint64 = 8,
  float_ = 9, double_ = 10, boolean = 11, string = 12, date_time = 13, text = 14,
  uuid = 15, data_set = 16, bytes = 17, file = 18, template_ = 19,
  property_set = 20, property_set_list = 21,
  int8_array = 22, int16_array = 23, int32_array = 24, int64_array = 25,
  uint8_array = 26, uint16_array = 27, uint32_array = 28, uint64_array = 29,
  float_array = 30, double_array = 31, boolean_array = 32, string_array = 33,
  date_time_array = 34,
};

// The specification's name of a datatype ("Int8", "UInt32", "DateTime", ...);
// "Unknown" for a number outside the enum.
std::string_view name_of(data_type type);
bool is_array(data_type type);

using bytes = std::vector<std::uint8_t>;

// A value by meaning. Which alternative a datatype takes:
//   Int8..Int64: std::int64_t; UInt8..UInt64, DateTime: std::uint64_t;
//   Float: float; Double: double; Boolean: bool; String, Text, UUID:
//   std::string; Bytes, File, arrays: bytes. std::monostate: no value (a null
//   metric, or a datatype the codec does not carry).
// A decoded metric whose datatype is not known (left out and not resolved)
// holds its protobuf field as is: int_value and long_value as std::uint64_t.
using value = std::variant<std::monostate, std::int64_t, std::uint64_t, float, double, bool,
                           std::string, bytes>;

// One entry of a metric's property set. Sparkplug defines the key "Quality"
// (Int32: 0 bad, 192 good, 500 stale); others are the application's, e.g.
// "engUnit" for the engineering unit as Ignition reads it.
struct property {
  std::string key;
  data_type type = data_type::string;
  value val;          // std::monostate with is_null
  bool is_null = false;
};

struct metric {
  std::optional<std::string> name;     // births; DATA messages use the alias alone
  std::optional<std::uint64_t> alias;
  std::optional<std::uint64_t> timestamp;  // ms since the epoch, UTC
  data_type type = data_type::unknown;  // picks the protobuf field; see the table above
  // Whether the datatype field is written (births) or was present (decode).
  // DATA and CMD messages leave it out: the decoder then resolves it by alias.
  bool datatype_on_wire = true;
  bool is_historical = false;
  bool is_transient = false;
  bool is_null = false;                // then val is std::monostate
  value val;
  std::vector<property> properties;
};

struct payload {
  std::optional<std::uint64_t> timestamp;  // ms since the epoch at publication, UTC
  std::optional<std::uint64_t> seq;        // every message but NDEATH
  std::vector<metric> metrics;
  std::optional<std::string> uuid;
  bytes body;
};

// A payload that is not valid protobuf, or a value that does not fit its
// datatype (encoding a string as Int32, an Int8 of 300).
class codec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bytes encode(const payload& message);

// What a host learnt from births: each metric's datatype by alias and by
// name, per edge node (aliases are unique across an edge node's NBIRTH and
// DBIRTHs). learn() a birth's payload; decode() a DATA message with it.
class birth_types {
 public:
  void learn(const payload& birth);
  std::optional<data_type> by_alias(std::uint64_t alias) const;
  std::optional<data_type> by_name(std::string_view name) const;
  std::optional<std::string> name_of_alias(std::uint64_t alias) const;
  void clear();

 private:
  std::map<std::uint64_t, std::pair<std::string, data_type>> aliases_;
  std::map<std::string, data_type, std::less<>> names_;
};

// Decodes a payload. A metric without a datatype takes the one `known` gives
// its alias (or name); with none it stays data_type::unknown and its value
// holds the raw protobuf field (see `value`).
payload decode(std::span<const std::uint8_t> data, const birth_types* known = nullptr);

// The array types' bytes_value ("Datatype Details", array types): numbers
// packed little endian; BooleanArray as a 4-byte little-endian count followed
// by the bits, most significant bit first, padded to a byte; StringArray as
// NUL-terminated UTF-8 strings. The element type is the datatype's.
using array_value = std::variant<std::vector<std::int64_t>, std::vector<std::uint64_t>,
                                 std::vector<float>, std::vector<double>, std::vector<bool>,
                                 std::vector<std::string>>;
bytes pack_array(data_type type, const array_value& elements);
array_value unpack_array(data_type type, std::span<const std::uint8_t> data);

}  // namespace fieldbridge::sparkplug
