#include "fieldbridge/simulator/sim_config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include "fieldbridge/config/units.hpp"
#include "fieldbridge/drivers/modbus_error.hpp"
#include "fieldbridge/simulator/profiles.hpp"

namespace fieldbridge::simulator {

std::uint32_t register_block::span() const {
  return static_cast<std::uint32_t>(count) * register_count(format);
}

std::vector<std::uint8_t> sim_config::unit_ids() const {
  std::vector<std::uint8_t> ids;
  for (const auto& group : groups) ids.insert(ids.end(), group.ids.begin(), group.ids.end());
  std::sort(ids.begin(), ids.end());
  return ids;
}

sim_config_error::sim_config_error(const std::string& file, int line, int column,
                                   const std::string& message)
    : std::runtime_error(fmt::format("{}:{}:{}: {}", file, line, column, message)) {}

namespace {

using drivers::modbus_errc;

// The names are the enumerators of modbus_errc, which carry the wire codes;
// only code 11 keeps the protocol's full name.
constexpr std::pair<std::string_view, modbus_errc> exception_names[] = {
    {"illegal_function", modbus_errc::illegal_function},
    {"illegal_data_address", modbus_errc::illegal_data_address},
    {"illegal_data_value", modbus_errc::illegal_data_value},
    {"server_device_failure", modbus_errc::server_device_failure},
    {"acknowledge", modbus_errc::acknowledge},
    {"server_device_busy", modbus_errc::server_device_busy},
    {"negative_acknowledge", modbus_errc::negative_acknowledge},
    {"memory_parity_error", modbus_errc::memory_parity_error},
    {"gateway_path_unavailable", modbus_errc::gateway_path_unavailable},
    {"gateway_target_failed_to_respond", modbus_errc::gateway_target_failed}};

}  // namespace

std::optional<std::uint8_t> parse_exception_code(std::string_view text) {
  for (const auto& [name, code] : exception_names) {
    if (name == text) return static_cast<std::uint8_t>(code);
  }
  unsigned number = 0;
  const auto [rest, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc{} && rest == text.data() + text.size() && number >= 1 && number <= 11) {
    return static_cast<std::uint8_t>(number);
  }
  return std::nullopt;
}

namespace {

// Reads the YAML tree, turning every mistake into FILE:LINE:COL.
class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const {
    const auto mark = node.Mark();
    throw sim_config_error(file_, mark.line + 1, mark.column + 1, message);
  }

  void expect_map(const YAML::Node& node, std::string_view what) const {
    if (!node.IsMap()) fail(node, fmt::format("{} must be a mapping", what));
  }

  void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed) const {
    for (const auto& entry : map) {
      const auto key = entry.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
        fail(entry.first, fmt::format("unknown key '{}' (expected one of: {})", key, list));
      }
    }
  }

  std::string text(const YAML::Node& node, std::string_view what) const {
    if (!node.IsScalar()) fail(node, fmt::format("{} must be a scalar", what));
    return node.Scalar();
  }

  template <typename T>
  T integer(const YAML::Node& node, std::string_view what, std::int64_t min, std::int64_t max) const {
    const auto value = text(node, what);
    std::int64_t number = 0;
    const auto [rest, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (ec != std::errc{} || rest != value.data() + value.size()) {
      fail(node, fmt::format("{} must be an integer, not '{}'", what, value));
    }
    if (number < min || number > max) {
      fail(node, fmt::format("{} must be between {} and {}, not {}", what, min, max, number));
    }
    return static_cast<T>(number);
  }

  double number(const YAML::Node& node, std::string_view what) const {
    const auto value = text(node, what);
    double result = 0;
    const auto [rest, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
    if (ec != std::errc{} || rest != value.data() + value.size()) {
      fail(node, fmt::format("{} must be a number, not '{}'", what, value));
    }
    return result;
  }

  milliseconds duration(const YAML::Node& node, std::string_view what) const {
    const auto value = text(node, what);
    const auto parsed = config::parse_duration(value).value;
    if (!parsed) fail(node, fmt::format("{} must be a duration like 250ms, 1s, 5m, not '{}'", what, value));
    return *parsed;
  }

  template <typename E>
  E choice(const YAML::Node& node, std::string_view what,
           std::initializer_list<std::pair<std::string_view, E>> names) const {
    const auto value = text(node, what);
    std::string list;
    for (const auto& [name, e] : names) {
      if (name == value) return e;
      list += (list.empty() ? "" : ", ") + std::string(name);
    }
    fail(node, fmt::format("{} must be one of {}, not '{}'", what, list, value));
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

register_table read_table(const reader& r, const YAML::Node& node) {
  return r.choice<register_table>(node, "table",
      {{"coil", register_table::coil}, {"discrete", register_table::discrete_input},
       {"input", register_table::input_register}, {"holding", register_table::holding_register}});
}

bool is_bit_table(register_table table) {
  return table == register_table::coil || table == register_table::discrete_input;
}

point_value constant_value(const reader& r, const YAML::Node& node, const register_format& format) {
  const auto text = r.text(node, "value");
  if (format.type == value_type::string) return text;
  if (text == "true" || text == "on") return true;
  if (text == "false" || text == "off") return false;
  std::int64_t signed_number = 0;
  const auto* end = text.data() + text.size();
  if (auto [rest, ec] = std::from_chars(text.data(), end, signed_number); ec == std::errc{} && rest == end) {
    return signed_number;
  }
  std::uint64_t unsigned_number = 0;
  if (auto [rest, ec] = std::from_chars(text.data(), end, unsigned_number); ec == std::errc{} && rest == end) {
    return unsigned_number;
  }
  return r.number(node, "value");
}

register_block read_block(const reader& r, const YAML::Node& node) {
  r.expect_map(node, "a register entry");
  r.check_keys(node, {"table", "address", "count", "type", "order", "length", "value", "profile",
                      "start", "step", "per", "min", "max", "amplitude", "offset", "period"});
  register_block block;
  block.line = node.Mark().line + 1;
  if (!node["table"]) r.fail(node, "a register entry needs 'table'");
  if (!node["address"]) r.fail(node, "a register entry needs 'address'");
  block.table = read_table(r, node["table"]);
  block.address = r.integer<std::uint16_t>(node["address"], "address", 0, 65535);
  if (node["count"]) block.count = r.integer<std::uint16_t>(node["count"], "count", 1, 65535);

  auto& format = block.format;
  format.type = is_bit_table(block.table) ? value_type::boolean : value_type::uint16;
  if (node["type"]) {
    format.type = r.choice<value_type>(node["type"], "type",
        {{"bool", value_type::boolean}, {"int16", value_type::int16}, {"uint16", value_type::uint16},
         {"int32", value_type::int32}, {"uint32", value_type::uint32}, {"int64", value_type::int64},
         {"uint64", value_type::uint64}, {"float32", value_type::float32},
         {"float64", value_type::float64}, {"string", value_type::string}});
    if (is_bit_table(block.table) != (format.type == value_type::boolean)) {
      r.fail(node["type"], is_bit_table(block.table) ? "coil and discrete entries hold type bool"
                                                     : "type bool belongs to the coil and discrete tables");
    }
  }
  if (node["order"]) {
    format.order = r.choice<word_order>(node["order"], "order",
        {{"ABCD", word_order::abcd}, {"CDAB", word_order::cdab}, {"BADC", word_order::badc},
         {"DCBA", word_order::dcba}});
  }
  if (format.type == value_type::string) {
    if (!node["length"]) r.fail(node, "a string entry needs 'length' (registers)");
    format.length = r.integer<std::uint16_t>(node["length"], "length", 1, 125);
  } else if (node["length"]) {
    r.fail(node["length"], "'length' applies to type string only");
  }
  if (block.address + block.span() > 65536) r.fail(node, "the entry runs past address 65535");

  auto& shape = block.shape;
  if (node["profile"]) {
    shape.kind = r.choice<profile_kind>(node["profile"], "profile",
        {{"constant", profile_kind::constant}, {"counter", profile_kind::counter},
         {"ramp", profile_kind::ramp}, {"sine", profile_kind::sine}, {"random", profile_kind::random}});
  }
  // Each profile takes its own keys; a key of another profile is a mistake.
  const auto allow_only = [&](std::initializer_list<std::string_view> own) {
    for (std::string_view key : {"value", "start", "step", "per", "min", "max", "amplitude", "offset", "period"}) {
      if (node[std::string(key)] && std::find(own.begin(), own.end(), key) == own.end()) {
        r.fail(node[std::string(key)], fmt::format("'{}' does not apply to this profile", key));
      }
    }
  };
  if (format.type == value_type::string && shape.kind != profile_kind::constant) {
    r.fail(node["profile"], "a string entry can only be constant");
  }
  switch (shape.kind) {
    case profile_kind::constant:
      allow_only({"value"});
      if (!node["value"]) r.fail(node, "a constant entry needs 'value'");
      shape.value = constant_value(r, node["value"], format);
      try {
        profile_words(shape.value, format);
      } catch (const std::invalid_argument& e) {
        r.fail(node["value"], fmt::format("value does not fit: {}", e.what()));
      }
      break;
    case profile_kind::counter:
      allow_only({"start", "step", "per"});
      if (node["start"]) shape.start = r.number(node["start"], "start");
      if (node["step"]) shape.step = r.number(node["step"], "step");
      if (node["per"]) {
        shape.tick = r.choice<counter_tick>(node["per"], "per",
            {{"read", counter_tick::per_read}, {"second", counter_tick::per_second}});
      }
      break;
    case profile_kind::ramp:
    case profile_kind::random:
      allow_only(shape.kind == profile_kind::ramp ? std::initializer_list<std::string_view>{"min", "max", "period"}
                                                  : std::initializer_list<std::string_view>{"min", "max"});
      if (node["min"]) shape.min = r.number(node["min"], "min");
      if (node["max"]) shape.max = r.number(node["max"], "max");
      if (shape.max < shape.min) r.fail(node, "'max' is below 'min'");
      if (node["period"]) shape.period = r.duration(node["period"], "period");
      break;
    case profile_kind::sine:
      allow_only({"amplitude", "offset", "period"});
      if (node["amplitude"]) shape.amplitude = r.number(node["amplitude"], "amplitude");
      if (node["offset"]) shape.offset = r.number(node["offset"], "offset");
      if (node["period"]) shape.period = r.duration(node["period"], "period");
      break;
  }
  if ((shape.kind == profile_kind::ramp || shape.kind == profile_kind::sine) && shape.period.count() <= 0) {
    r.fail(node["period"], "'period' must be above 0");
  }
  return block;
}

// "1", "1-10" or a list of those.
std::vector<std::uint8_t> read_ids(const reader& r, const YAML::Node& node) {
  std::vector<std::uint8_t> ids;
  const auto one = [&](const YAML::Node& item) {
    const auto value = r.text(item, "unit id");
    const auto dash = value.find('-');
    if (dash == std::string::npos) {
      ids.push_back(r.integer<std::uint8_t>(item, "unit id", 1, 247));
      return;
    }
    const auto bound = [&](std::string_view part) {
      unsigned id = 0;
      const auto [rest, ec] = std::from_chars(part.data(), part.data() + part.size(), id);
      if (ec != std::errc{} || rest != part.data() + part.size() || id < 1 || id > 247) {
        r.fail(item, fmt::format("unit range '{}' must be like 1-10 within 1..247", value));
      }
      return id;
    };
    const auto first = bound(std::string_view(value).substr(0, dash));
    const auto last = bound(std::string_view(value).substr(dash + 1));
    if (last < first) r.fail(item, fmt::format("unit range '{}' runs backwards", value));
    for (auto id = first; id <= last; ++id) ids.push_back(static_cast<std::uint8_t>(id));
  };
  if (node.IsSequence()) {
    for (const auto& item : node) one(item);
  } else {
    one(node);
  }
  return ids;
}

std::vector<fault> read_faults(const reader& r, const YAML::Node& list) {
  std::vector<fault> faults;
  if (!list.IsSequence()) r.fail(list, "'faults' must be a list");
  for (const auto& node : list) {
    r.expect_map(node, "a fault");
    r.check_keys(node, {"unit", "table", "address", "count", "no_answer", "exception", "delay"});
    fault f;
    if (node["unit"]) f.unit = r.integer<std::uint8_t>(node["unit"], "unit", 1, 247);
    if (node["table"]) f.table = read_table(r, node["table"]);
    if (node["address"]) {
      f.address = r.integer<std::uint16_t>(node["address"], "address", 0, 65535);
      f.count = 1;
    }
    if (node["count"]) f.count = r.integer<std::uint32_t>(node["count"], "count", 1, 65536);
    const int kinds = (node["no_answer"] ? 1 : 0) + (node["exception"] ? 1 : 0) + (node["delay"] ? 1 : 0);
    if (kinds != 1) r.fail(node, "a fault needs exactly one of 'no_answer', 'exception', 'delay'");
    if (node["no_answer"]) {
      if (r.text(node["no_answer"], "no_answer") != "true") r.fail(node["no_answer"], "write 'no_answer: true'");
      f.kind = fault_kind::no_answer;
    } else if (node["exception"]) {
      f.kind = fault_kind::exception;
      const auto name = r.text(node["exception"], "exception");
      auto code = parse_exception_code(name);
      if (!code) {
        r.fail(node["exception"], fmt::format("unknown exception '{}' (a code 1..11 or illegal_function, "
                                              "illegal_data_address, illegal_data_value, server_device_failure, "
                                              "acknowledge, server_device_busy, gateway_path_unavailable, "
                                              "gateway_target_failed_to_respond)", name));
      }
      f.exception_code = *code;
    } else {
      f.kind = fault_kind::delay;
      f.delay = r.duration(node["delay"], "delay");
    }
    faults.push_back(f);
  }
  return faults;
}

sim_link read_link(const reader& r, const YAML::Node& root) {
  int links = 0;
  for (const char* key : {"tcp", "rtu", "rtu_tcp"}) {
    if (root[key] && ++links > 1) r.fail(root[key], "give one of 'tcp', 'rtu' or 'rtu_tcp', not two");
  }
  for (const char* key : {"tcp", "rtu_tcp"}) {
    const auto node = root[key];
    if (!node) continue;
    const auto what = fmt::format("'{}'", key);
    r.expect_map(node, what);
    r.check_keys(node, {"host", "port"});
    modbus_tcp_endpoint tcp;
    tcp.host = node["host"] ? r.text(node["host"], "host") : "127.0.0.1";
    if (!node["port"]) r.fail(node, fmt::format("{} needs 'port'", what));
    tcp.port = r.integer<std::uint16_t>(node["port"], "port", 1, 65535);
    if (std::string_view{key} == "rtu_tcp") return modbus_rtu_tcp_endpoint{tcp.host, tcp.port};
    return tcp;
  }
  if (const auto node = root["rtu"]) {
    r.expect_map(node, "'rtu'");
    r.check_keys(node, {"device", "baud", "parity", "data_bits", "stop_bits"});
    modbus_rtu_line rtu;
    if (!node["device"]) r.fail(node, "'rtu' needs 'device'");
    rtu.device = r.text(node["device"], "device");
    if (node["baud"]) rtu.baud = r.integer<std::uint32_t>(node["baud"], "baud", 50, 4'000'000);
    if (node["parity"]) {
      rtu.parity = r.choice<char>(node["parity"], "parity", {{"N", 'N'}, {"E", 'E'}, {"O", 'O'}});
    }
    if (node["data_bits"]) rtu.data_bits = r.integer<std::uint8_t>(node["data_bits"], "data_bits", 7, 8);
    if (node["stop_bits"]) rtu.stop_bits = r.integer<std::uint8_t>(node["stop_bits"], "stop_bits", 1, 2);
    return rtu;
  }
  r.fail(root, "the simulator needs 'tcp: {port: N}', 'rtu_tcp: {port: N}' or 'rtu: {device: PATH, baud: N}'");
}

sim_config read_config(const reader& r, const YAML::Node& root) {
  if (!root.IsMap()) r.fail(root, "the SIMFILE must be a mapping with 'tcp', 'rtu_tcp' or 'rtu' and 'units'");
  r.check_keys(root, {"tcp", "rtu", "rtu_tcp", "seed", "units", "faults"});
  sim_config config;
  config.source_path = r.file();
  config.link = read_link(r, root);
  if (root["seed"]) config.seed = r.integer<std::uint64_t>(root["seed"], "seed", 0, INT64_MAX);
  const auto units = root["units"];
  if (!units || !units.IsSequence() || units.size() == 0) {
    r.fail(units ? units : root, "'units' must be a non-empty list of units");
  }
  std::map<std::uint8_t, int> seen;
  for (const auto& node : units) {
    r.expect_map(node, "a unit");
    r.check_keys(node, {"id", "ids", "registers"});
    if (node["id"].IsDefined() == node["ids"].IsDefined()) r.fail(node, "a unit needs either 'id' or 'ids'");
    const auto ids_node = node["id"] ? node["id"] : node["ids"];
    unit_group group;
    group.ids = read_ids(r, ids_node);
    for (auto id : group.ids) {
      if (seen.contains(id)) r.fail(ids_node, fmt::format("unit {} is listed twice", id));
      seen[id] = 1;
    }
    if (const auto list = node["registers"]) {
      if (!list.IsSequence()) r.fail(list, "'registers' must be a list");
      for (const auto& item : list) {
        auto block = read_block(r, item);
        for (const auto& other : group.blocks) {
          const bool overlap = other.table == block.table && block.address < other.address + other.span() &&
                               other.address < block.address + block.span();
          if (overlap) {
            r.fail(item, fmt::format("overlaps the {} entry at line {}", to_string(block.table), other.line));
          }
        }
        group.blocks.push_back(std::move(block));
      }
    }
    config.groups.push_back(std::move(group));
  }
  if (const auto faults = root["faults"]) {
    config.faults = read_faults(r, faults);
    for (std::size_t i = 0; i < config.faults.size(); ++i) {
      const auto& f = config.faults[i];
      if (f.unit && !seen.contains(*f.unit)) {
        r.fail(faults[i]["unit"], fmt::format("unit {} is not simulated", *f.unit));
      }
    }
  }
  return config;
}

}  // namespace

sim_config load_sim_string(std::string_view yaml_text, const std::string& name) {
  reader r(name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw sim_config_error(name, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  try {
    return read_config(r, root);
  } catch (const YAML::Exception& e) {
    throw sim_config_error(name, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
}

sim_config load_sim_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw sim_config_error(path, 1, 1, "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  return load_sim_string(text.str(), path);
}

}  // namespace fieldbridge::simulator
