#include "fieldbridge/core/model.hpp"

namespace fieldbridge {

std::uint16_t register_count(const register_format& format) {
  switch (format.type) {
    case value_type::boolean:
    case value_type::int16:
    case value_type::uint16: return 1;
    case value_type::int32:
    case value_type::uint32:
    case value_type::float32: return 2;
    case value_type::int64:
    case value_type::uint64:
    case value_type::float64: return 4;
    case value_type::string: return format.length;
  }
  return 1;
}

std::string_view to_string(register_table table) {
  switch (table) {
    case register_table::coil: return "coil";
    case register_table::discrete_input: return "discrete";
    case register_table::input_register: return "input";
    case register_table::holding_register: return "holding";
  }
  return "?";
}

std::string_view to_string(value_type type) {
  switch (type) {
    case value_type::boolean: return "bool";
    case value_type::int16: return "int16";
    case value_type::uint16: return "uint16";
    case value_type::int32: return "int32";
    case value_type::uint32: return "uint32";
    case value_type::int64: return "int64";
    case value_type::uint64: return "uint64";
    case value_type::float32: return "float32";
    case value_type::float64: return "float64";
    case value_type::string: return "string";
  }
  return "?";
}

std::string_view to_string(word_order order) {
  switch (order) {
    case word_order::abcd: return "ABCD";
    case word_order::cdab: return "CDAB";
    case word_order::badc: return "BADC";
    case word_order::dcba: return "DCBA";
  }
  return "?";
}

std::string_view to_string(publish_mode mode) {
  return mode == publish_mode::always ? "always" : "on_change";
}

}  // namespace fieldbridge
