// Sparkplug B payloads on protobuf-c: the C++ values of payload.hpp are laid
// into the generated C structs (pointing at the C++ data, nothing copied) and
// packed; decoding unpacks into protobuf-c's structs and copies out.
#include "fieldbridge/sparkplug/payload.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>

#include "sparkplug_b.pb-c.h"

namespace fieldbridge::sparkplug {
namespace {

using pb_payload = Fieldbridge__SparkplugB__Payload;
using pb_metric = Fieldbridge__SparkplugB__Metric;
using pb_property_set = Fieldbridge__SparkplugB__PropertySet;
using pb_property_value = Fieldbridge__SparkplugB__PropertyValue;

// Where a datatype's value travels: the protobuf field of the 3.0 table.
enum class wire_field { none, int32, int64, float32, float64, boolean, string, bytes };

wire_field field_of(data_type type) {
  switch (type) {
    case data_type::int8: case data_type::int16: case data_type::int32:
    case data_type::uint8: case data_type::uint16: case data_type::uint32:
      return wire_field::int32;
    case data_type::int64: case data_type::uint64: case data_type::date_time:
      return wire_field::int64;
    case data_type::float_: return wire_field::float32;
    case data_type::double_: return wire_field::float64;
    case data_type::boolean: return wire_field::boolean;
    case data_type::string: case data_type::text: case data_type::uuid:
      return wire_field::string;
    case data_type::bytes: case data_type::file:
      return wire_field::bytes;
    default:
      return is_array(type) ? wire_field::bytes : wire_field::none;
  }
}

// The range of an integer datatype, as [min, max] in int64/uint64 terms.
struct int_range { std::int64_t min; std::uint64_t max; };
int_range range_of(data_type type) {
  switch (type) {
    case data_type::int8: return {-128, 127};
    case data_type::int16: return {-32768, 32767};
    case data_type::int32: return {std::numeric_limits<std::int32_t>::min(), 2147483647u};
    case data_type::int64:
      return {std::numeric_limits<std::int64_t>::min(),
              static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())};
    case data_type::uint8: return {0, 255};
    case data_type::uint16: return {0, 65535};
    case data_type::uint32: return {0, 4294967295u};
    default: return {0, std::numeric_limits<std::uint64_t>::max()};
  }
}

[[noreturn]] void wrong_value(const metric& m, std::string_view why) {
  throw codec_error("sparkplug: metric " + m.name.value_or("alias " + std::to_string(m.alias.value_or(0))) +
                    " (" + std::string(name_of(m.type)) + "): " + std::string(why));
}

// An integer value of any integer alternative, checked against the range.
// Returns the value's bits as uint64 (two's complement for negatives).
std::uint64_t integer_bits(const metric& m, const value& v, data_type type) {
  const auto range = range_of(type);
  if (const auto* s = std::get_if<std::int64_t>(&v)) {
    if (*s < range.min || (*s >= 0 && static_cast<std::uint64_t>(*s) > range.max)) {
      wrong_value(m, "value " + std::to_string(*s) + " is out of range");
    }
    return static_cast<std::uint64_t>(*s);
  }
  if (const auto* u = std::get_if<std::uint64_t>(&v)) {
    if (*u > range.max) wrong_value(m, "value " + std::to_string(*u) + " is out of range");
    return *u;
  }
  wrong_value(m, "the value is not an integer");
}

// Keeps the strings and byte buffers that the C structs point at alive, and
// the C structs themselves, until the pack.
struct encode_arena {
  std::vector<std::unique_ptr<pb_metric>> metrics;
  std::vector<std::unique_ptr<pb_property_set>> sets;
  std::vector<std::unique_ptr<pb_property_value>> values;
  std::vector<std::unique_ptr<pb_property_value*[]>> value_arrays;
  std::vector<std::unique_ptr<char*[]>> key_arrays;
};

char* c_string(const std::string& s) { return const_cast<char*>(s.c_str()); }

// Sets a metric's or property's oneof from a value: `Target` is pb_metric or
// pb_property_value, which name their fields alike.
template <typename Target, typename Case>
void set_value(Target& target, const metric& m, data_type type, const value& v, Case cases[7]) {
  // cases: int, long, float, double, bool, string, bytes
  switch (field_of(type)) {
    case wire_field::int32:
      target.value_case = cases[0];
      target.int_value = static_cast<std::uint32_t>(integer_bits(m, v, type));
      return;
    case wire_field::int64:
      target.value_case = cases[1];
      target.long_value = integer_bits(m, v, type);
      return;
    case wire_field::float32:
      if (const auto* f = std::get_if<float>(&v)) {
        target.value_case = cases[2];
        target.float_value = *f;
        return;
      }
      wrong_value(m, "the value is not a float");
    case wire_field::float64:
      if (const auto* d = std::get_if<double>(&v)) {
        target.value_case = cases[3];
        target.double_value = *d;
        return;
      }
      wrong_value(m, "the value is not a double");
    case wire_field::boolean:
      if (const auto* b = std::get_if<bool>(&v)) {
        target.value_case = cases[4];
        target.boolean_value = *b ? 1 : 0;
        return;
      }
      wrong_value(m, "the value is not a boolean");
    case wire_field::string:
      if (const auto* s = std::get_if<std::string>(&v)) {
        target.value_case = cases[5];
        target.string_value = c_string(*s);
        return;
      }
      wrong_value(m, "the value is not a string");
    case wire_field::bytes:
      if constexpr (std::is_same_v<Target, pb_metric>) {
        if (const auto* b = std::get_if<bytes>(&v)) {
          target.value_case = cases[6];
          target.bytes_value.len = b->size();
          target.bytes_value.data = const_cast<std::uint8_t*>(b->data());
          return;
        }
        wrong_value(m, "the value is not bytes");
      } else {
        wrong_value(m, "a property cannot hold bytes");
      }
    case wire_field::none:
      wrong_value(m, "the codec does not carry values of this datatype");
  }
}

Fieldbridge__SparkplugB__Metric__ValueCase metric_cases[7] = {
    FIELDBRIDGE__SPARKPLUG_B__METRIC__VALUE_INT_VALUE,    FIELDBRIDGE__SPARKPLUG_B__METRIC__VALUE_LONG_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__METRIC__VALUE_FLOAT_VALUE,  FIELDBRIDGE__SPARKPLUG_B__METRIC__VALUE_DOUBLE_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__METRIC__VALUE_BOOLEAN_VALUE, FIELDBRIDGE__SPARKPLUG_B__METRIC__VALUE_STRING_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__METRIC__VALUE_BYTES_VALUE};
Fieldbridge__SparkplugB__PropertyValue__ValueCase property_cases[7] = {
    FIELDBRIDGE__SPARKPLUG_B__PROPERTY_VALUE__VALUE_INT_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__PROPERTY_VALUE__VALUE_LONG_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__PROPERTY_VALUE__VALUE_FLOAT_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__PROPERTY_VALUE__VALUE_DOUBLE_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__PROPERTY_VALUE__VALUE_BOOLEAN_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__PROPERTY_VALUE__VALUE_STRING_VALUE,
    FIELDBRIDGE__SPARKPLUG_B__PROPERTY_VALUE__VALUE__NOT_SET};

pb_property_set* lay_properties(encode_arena& arena, const metric& m) {
  auto set = std::make_unique<pb_property_set>();
  fieldbridge__sparkplug_b__property_set__init(set.get());
  const std::size_t n = m.properties.size();
  auto keys = std::make_unique<char*[]>(n);
  auto values = std::make_unique<pb_property_value*[]>(n);
  for (std::size_t i = 0; i < n; ++i) {
    const property& p = m.properties[i];
    auto pv = std::make_unique<pb_property_value>();
    fieldbridge__sparkplug_b__property_value__init(pv.get());
    pv->has_type = 1;
    pv->type = static_cast<std::uint32_t>(p.type);
    if (p.is_null || std::holds_alternative<std::monostate>(p.val)) {
      pv->has_is_null = 1;
      pv->is_null = 1;
    } else {
      set_value(*pv, m, p.type, p.val, property_cases);
    }
    keys[i] = c_string(p.key);
    values[i] = pv.get();
    arena.values.push_back(std::move(pv));
  }
  set->n_keys = n;
  set->keys = keys.get();
  set->n_values = n;
  set->values = values.get();
  arena.key_arrays.push_back(std::move(keys));
  arena.value_arrays.push_back(std::move(values));
  arena.sets.push_back(std::move(set));
  return arena.sets.back().get();
}

pb_metric* lay_metric(encode_arena& arena, const metric& m) {
  auto pm = std::make_unique<pb_metric>();
  fieldbridge__sparkplug_b__metric__init(pm.get());
  if (m.name) pm->name = c_string(*m.name);
  if (m.alias) { pm->has_alias = 1; pm->alias = *m.alias; }
  if (m.timestamp) { pm->has_timestamp = 1; pm->timestamp = *m.timestamp; }
  if (m.datatype_on_wire) { pm->has_datatype = 1; pm->datatype = static_cast<std::uint32_t>(m.type); }
  if (m.is_historical) { pm->has_is_historical = 1; pm->is_historical = 1; }
  if (m.is_transient) { pm->has_is_transient = 1; pm->is_transient = 1; }
  if (m.is_null || std::holds_alternative<std::monostate>(m.val)) {
    pm->has_is_null = 1;
    pm->is_null = 1;
  } else {
    set_value(*pm, m, m.type, m.val, metric_cases);
  }
  if (!m.properties.empty()) pm->properties = lay_properties(arena, m);
  arena.metrics.push_back(std::move(pm));
  return arena.metrics.back().get();
}

// A decoded integer field as the datatype's value: the low bits of the
// field, sign-extended for the signed types (an Int8 of -5 arrives as
// 0xFFFFFFFB from Tahu and from us, as 0xFB from writers that send only the
// byte: both read -5).
value integer_value(data_type type, std::uint64_t raw) {
  switch (type) {
    case data_type::int8: return std::int64_t{static_cast<std::int8_t>(raw & 0xFFu)};
    case data_type::int16: return std::int64_t{static_cast<std::int16_t>(raw & 0xFFFFu)};
    case data_type::int32: return std::int64_t{static_cast<std::int32_t>(raw & 0xFFFFFFFFu)};
    case data_type::int64: return static_cast<std::int64_t>(raw);
    case data_type::uint8: return std::uint64_t{raw & 0xFFu};
    case data_type::uint16: return std::uint64_t{raw & 0xFFFFu};
    case data_type::uint32: return std::uint64_t{raw & 0xFFFFFFFFu};
    default: return raw;
  }
}

template <typename Source>
value read_value(const Source& source, data_type type, int value_case, const int cases[7]) {
  // cases: int, long, float, double, bool, string, bytes (0: none)
  // Either integer field is read for any integer datatype: the 3.0 table
  // puts UInt32 in int_value, Tahu's JavaScript writes it in long_value, and
  // a host should read both.
  const bool integer = field_of(type) == wire_field::int32 || field_of(type) == wire_field::int64;
  if (value_case == cases[0]) {
    return integer ? integer_value(type, source.int_value) : value{std::uint64_t{source.int_value}};
  }
  if (value_case == cases[1]) {
    return integer ? integer_value(type, source.long_value) : value{std::uint64_t{source.long_value}};
  }
  if (value_case == cases[2]) return source.float_value;
  if (value_case == cases[3]) return source.double_value;
  if (value_case == cases[4]) return source.boolean_value != 0;
  if (value_case == cases[5]) return std::string(source.string_value ? source.string_value : "");
  if constexpr (std::is_same_v<Source, pb_metric>) {
    if (value_case == cases[6]) {
      return bytes(source.bytes_value.data, source.bytes_value.data + source.bytes_value.len);
    }
  }
  return std::monostate{};
}

const int metric_case_ints[7] = {10, 11, 12, 13, 14, 15, 16};
const int property_case_ints[7] = {3, 4, 5, 6, 7, 8, -1};

// Little-endian element access for the array types.
template <typename T>
void put_le(bytes& out, T v) {
  using U = std::conditional_t<sizeof(T) == 1, std::uint8_t,
            std::conditional_t<sizeof(T) == 2, std::uint16_t,
            std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
  const U u = std::bit_cast<U>(v);
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
}
template <typename T>
T get_le(std::span<const std::uint8_t> in, std::size_t at) {
  using U = std::conditional_t<sizeof(T) == 1, std::uint8_t,
            std::conditional_t<sizeof(T) == 2, std::uint16_t,
            std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
  U u = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) u |= static_cast<U>(static_cast<U>(in[at + i]) << (8 * i));
  return std::bit_cast<T>(u);
}

[[noreturn]] void wrong_array(data_type type, std::string_view why) {
  throw codec_error("sparkplug: " + std::string(name_of(type)) + ": " + std::string(why));
}

template <typename T, typename Elements>
void pack_numbers(bytes& out, data_type type, const Elements& elements) {
  for (const auto e : elements) {
    if constexpr (std::is_integral_v<T>) {
      if (std::cmp_less(e, std::numeric_limits<T>::min()) || std::cmp_greater(e, std::numeric_limits<T>::max())) {
        wrong_array(type, "element " + std::to_string(e) + " is out of range");
      }
    }
    put_le<T>(out, static_cast<T>(e));
  }
}

template <typename T, typename Element>
std::vector<Element> unpack_numbers(data_type type, std::span<const std::uint8_t> data) {
  if (data.size() % sizeof(T) != 0) wrong_array(type, "the length is not a multiple of the element size");
  std::vector<Element> out;
  out.reserve(data.size() / sizeof(T));
  for (std::size_t at = 0; at < data.size(); at += sizeof(T)) out.push_back(static_cast<Element>(get_le<T>(data, at)));
  return out;
}

}  // namespace

std::string_view name_of(data_type type) {
  switch (type) {
    case data_type::unknown: return "Unknown";
    case data_type::int8: return "Int8";
    case data_type::int16: return "Int16";
    case data_type::int32: return "Int32";
    case data_type::int64: return "Int64";
    case data_type::uint8: return "UInt8";
    case data_type::uint16: return "UInt16";
    case data_type::uint32: return "UInt32";
    case data_type::uint64: return "UInt64";
    case data_type::float_: return "Float";
    case data_type::double_: return "Double";
    case data_type::boolean: return "Boolean";
    case data_type::string: return "String";
    case data_type::date_time: return "DateTime";
    case data_type::text: return "Text";
    case data_type::uuid: return "UUID";
    case data_type::data_set: return "DataSet";
    case data_type::bytes: return "Bytes";
    case data_type::file: return "File";
    case data_type::template_: return "Template";
    case data_type::property_set: return "PropertySet";
    case data_type::property_set_list: return "PropertySetList";
    case data_type::int8_array: return "Int8Array";
    case data_type::int16_array: return "Int16Array";
    case data_type::int32_array: return "Int32Array";
    case data_type::int64_array: return "Int64Array";
    case data_type::uint8_array: return "UInt8Array";
    case data_type::uint16_array: return "UInt16Array";
    case data_type::uint32_array: return "UInt32Array";
    case data_type::uint64_array: return "UInt64Array";
    case data_type::float_array: return "FloatArray";
    case data_type::double_array: return "DoubleArray";
    case data_type::boolean_array: return "BooleanArray";
    case data_type::string_array: return "StringArray";
    case data_type::date_time_array: return "DateTimeArray";
  }
  return "Unknown";
}

bool is_array(data_type type) {
  const auto n = static_cast<std::uint32_t>(type);
  return n >= 22 && n <= 34;
}

bytes encode(const payload& message) {
  encode_arena arena;
  pb_payload p;
  fieldbridge__sparkplug_b__payload__init(&p);
  if (message.timestamp) { p.has_timestamp = 1; p.timestamp = *message.timestamp; }
  if (message.seq) { p.has_seq = 1; p.seq = *message.seq; }
  if (message.uuid) p.uuid = c_string(*message.uuid);
  if (!message.body.empty()) {
    p.has_body = 1;
    p.body.len = message.body.size();
    p.body.data = const_cast<std::uint8_t*>(message.body.data());
  }
  std::vector<pb_metric*> metrics;
  metrics.reserve(message.metrics.size());
  for (const metric& m : message.metrics) metrics.push_back(lay_metric(arena, m));
  p.n_metrics = metrics.size();
  p.metrics = metrics.data();
  bytes out(fieldbridge__sparkplug_b__payload__get_packed_size(&p));
  fieldbridge__sparkplug_b__payload__pack(&p, out.data());
  return out;
}

payload decode(std::span<const std::uint8_t> data, const birth_types* known) {
  struct deleter {
    void operator()(pb_payload* p) const { fieldbridge__sparkplug_b__payload__free_unpacked(p, nullptr); }
  };
  std::unique_ptr<pb_payload, deleter> p(fieldbridge__sparkplug_b__payload__unpack(nullptr, data.size(), data.data()));
  if (!p) throw codec_error("sparkplug: the payload is not a valid Sparkplug B protobuf message");
  payload out;
  if (p->has_timestamp) out.timestamp = p->timestamp;
  if (p->has_seq) out.seq = p->seq;
  if (p->uuid) out.uuid = std::string(p->uuid);
  if (p->has_body) out.body.assign(p->body.data, p->body.data + p->body.len);
  out.metrics.reserve(p->n_metrics);
  for (std::size_t i = 0; i < p->n_metrics; ++i) {
    const pb_metric& pm = *p->metrics[i];
    metric m;
    if (pm.name) m.name = std::string(pm.name);
    if (pm.has_alias) m.alias = pm.alias;
    if (pm.has_timestamp) m.timestamp = pm.timestamp;
    m.datatype_on_wire = pm.has_datatype != 0;
    if (pm.has_datatype) {
      m.type = static_cast<data_type>(pm.datatype);
    } else if (known) {
      std::optional<data_type> t;
      if (m.alias) t = known->by_alias(*m.alias);
      if (!t && m.name) t = known->by_name(*m.name);
      if (t) m.type = *t;
    }
    m.is_historical = pm.has_is_historical && pm.is_historical;
    m.is_transient = pm.has_is_transient && pm.is_transient;
    m.is_null = pm.has_is_null && pm.is_null;
    if (!m.is_null) m.val = read_value(pm, m.type, static_cast<int>(pm.value_case), metric_case_ints);
    if (pm.properties) {
      const pb_property_set& set = *pm.properties;
      if (set.n_keys != set.n_values) {
        throw codec_error("sparkplug: a property set has " + std::to_string(set.n_keys) + " keys and " +
                          std::to_string(set.n_values) + " values");
      }
      for (std::size_t k = 0; k < set.n_keys; ++k) {
        const pb_property_value& pv = *set.values[k];
        property prop;
        prop.key = set.keys[k] ? set.keys[k] : "";
        prop.type = pv.has_type ? static_cast<data_type>(pv.type) : data_type::unknown;
        prop.is_null = pv.has_is_null && pv.is_null;
        if (!prop.is_null) prop.val = read_value(pv, prop.type, static_cast<int>(pv.value_case), property_case_ints);
        m.properties.push_back(std::move(prop));
      }
    }
    out.metrics.push_back(std::move(m));
  }
  return out;
}

void birth_types::learn(const payload& birth) {
  for (const metric& m : birth.metrics) {
    if (!m.datatype_on_wire) continue;
    if (m.name) names_[*m.name] = m.type;
    if (m.alias) aliases_[*m.alias] = {m.name.value_or(std::string{}), m.type};
  }
}

std::optional<data_type> birth_types::by_alias(std::uint64_t alias) const {
  const auto it = aliases_.find(alias);
  if (it == aliases_.end()) return std::nullopt;
  return it->second.second;
}

std::optional<data_type> birth_types::by_name(std::string_view name) const {
  const auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> birth_types::name_of_alias(std::uint64_t alias) const {
  const auto it = aliases_.find(alias);
  if (it == aliases_.end()) return std::nullopt;
  return it->second.first;
}

void birth_types::clear() {
  aliases_.clear();
  names_.clear();
}

bytes pack_array(data_type type, const array_value& elements) {
  bytes out;
  auto want = [&]<typename V>(std::type_identity<V>) -> const V& {
    if (const auto* v = std::get_if<V>(&elements)) return *v;
    wrong_array(type, "the elements are of another type");
  };
  using i64 = std::vector<std::int64_t>;
  using u64 = std::vector<std::uint64_t>;
  switch (type) {
    case data_type::int8_array: pack_numbers<std::int8_t>(out, type, want(std::type_identity<i64>{})); break;
    case data_type::int16_array: pack_numbers<std::int16_t>(out, type, want(std::type_identity<i64>{})); break;
    case data_type::int32_array: pack_numbers<std::int32_t>(out, type, want(std::type_identity<i64>{})); break;
    case data_type::int64_array: pack_numbers<std::int64_t>(out, type, want(std::type_identity<i64>{})); break;
    case data_type::uint8_array: pack_numbers<std::uint8_t>(out, type, want(std::type_identity<u64>{})); break;
    case data_type::uint16_array: pack_numbers<std::uint16_t>(out, type, want(std::type_identity<u64>{})); break;
    case data_type::uint32_array: pack_numbers<std::uint32_t>(out, type, want(std::type_identity<u64>{})); break;
    case data_type::uint64_array:
    case data_type::date_time_array:
      pack_numbers<std::uint64_t>(out, type, want(std::type_identity<u64>{}));
      break;
    case data_type::float_array:
      for (float f : want(std::type_identity<std::vector<float>>{})) put_le<float>(out, f);
      break;
    case data_type::double_array:
      for (double d : want(std::type_identity<std::vector<double>>{})) put_le<double>(out, d);
      break;
    case data_type::boolean_array: {
      const auto& bits = want(std::type_identity<std::vector<bool>>{});
      if (bits.size() > 0xFFFFFFFFu) wrong_array(type, "too many elements");
      put_le<std::uint32_t>(out, static_cast<std::uint32_t>(bits.size()));
      for (std::size_t i = 0; i < bits.size(); ++i) {
        if (i % 8 == 0) out.push_back(0);
        if (bits[i]) out.back() = static_cast<std::uint8_t>(out.back() | (0x80u >> (i % 8)));
      }
      break;
    }
    case data_type::string_array:
      for (const std::string& s : want(std::type_identity<std::vector<std::string>>{})) {
        if (s.find('\0') != std::string::npos) wrong_array(type, "an element holds a NUL character");
        out.insert(out.end(), s.begin(), s.end());
        out.push_back(0);
      }
      break;
    default:
      wrong_array(type, "not an array datatype");
  }
  return out;
}

array_value unpack_array(data_type type, std::span<const std::uint8_t> data) {
  switch (type) {
    case data_type::int8_array: return unpack_numbers<std::int8_t, std::int64_t>(type, data);
    case data_type::int16_array: return unpack_numbers<std::int16_t, std::int64_t>(type, data);
    case data_type::int32_array: return unpack_numbers<std::int32_t, std::int64_t>(type, data);
    case data_type::int64_array: return unpack_numbers<std::int64_t, std::int64_t>(type, data);
    case data_type::uint8_array: return unpack_numbers<std::uint8_t, std::uint64_t>(type, data);
    case data_type::uint16_array: return unpack_numbers<std::uint16_t, std::uint64_t>(type, data);
    case data_type::uint32_array: return unpack_numbers<std::uint32_t, std::uint64_t>(type, data);
    case data_type::uint64_array:
    case data_type::date_time_array:
      return unpack_numbers<std::uint64_t, std::uint64_t>(type, data);
    case data_type::float_array: return unpack_numbers<float, float>(type, data);
    case data_type::double_array: return unpack_numbers<double, double>(type, data);
    case data_type::boolean_array: {
      if (data.size() < 4) wrong_array(type, "shorter than its 4-byte count");
      const std::uint32_t count = get_le<std::uint32_t>(data, 0);
      if ((data.size() - 4) != (std::uint64_t{count} + 7) / 8) wrong_array(type, "the count does not match the bytes");
      std::vector<bool> bits(count);
      for (std::uint32_t i = 0; i < count; ++i) bits[i] = (data[4 + i / 8] & (0x80u >> (i % 8))) != 0;
      return bits;
    }
    case data_type::string_array: {
      std::vector<std::string> out;
      std::size_t start = 0;
      for (std::size_t i = 0; i < data.size(); ++i) {
        if (data[i] == 0) {
          out.emplace_back(reinterpret_cast<const char*>(data.data() + start), i - start);
          start = i + 1;
        }
      }
      if (start != data.size()) wrong_array(type, "the last string is not NUL-terminated");
      return out;
    }
    default:
      wrong_array(type, "not an array datatype");
  }
}

}  // namespace fieldbridge::sparkplug
