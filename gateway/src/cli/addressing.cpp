#include "addressing.hpp"

#include <fmt/core.h>

#include "fieldbridge/drivers/codec.hpp"
#include "fieldbridge/drivers/modbus_error.hpp"
#include "fieldbridge/config/units.hpp"
#include "fieldbridge/core/text.hpp"

namespace fieldbridge::cli {

namespace {

constexpr register_table all_tables[] = {register_table::coil, register_table::discrete_input,
                                          register_table::input_register, register_table::holding_register};
constexpr value_type all_types[] = {value_type::boolean, value_type::int16,   value_type::uint16,
                                    value_type::int32,   value_type::uint32,  value_type::int64,
                                    value_type::uint64,  value_type::float32, value_type::float64,
                                    value_type::string};

// The flag spellings are core's to_string names, so they cannot drift apart.
template <typename E, std::size_t N>
std::vector<std::string> names_of(const E (&values)[N]) {
  std::vector<std::string> names;
  for (const auto value : values) names.emplace_back(to_string(value));
  return names;
}

template <typename E, std::size_t N>
E named(const E (&values)[N], const std::string& name, const std::string& flag, const std::string& what) {
  for (const auto value : values) {
    if (to_string(value) == name) return value;
  }
  throw CLI::ValidationError(flag, "unknown " + what + " " + name);
}

const std::vector<std::string> table_names = names_of(all_tables);
const std::vector<std::string> type_names = names_of(all_types);
const std::vector<std::string> order_names = names_of(all_orders);

// HOST[:PORT], [v6-address]:PORT, or a bare v6 address; port 502 unless given.
std::pair<std::string, std::uint16_t> tcp_address(const std::string& text, const std::string& flag) {
  std::string error;
  const auto parsed = split_host_port(text, error);
  if (!parsed) throw CLI::ValidationError(flag, error);
  return {parsed->host, parsed->port.value_or(502)};
}

}  // namespace

void add_link_flags(CLI::App& sub, link_flags& flags, const std::string& default_timeout) {
  flags.timeout = default_timeout;
  auto* group = sub.add_option_group("link", "Where the device is (give --tcp, --rtu-tcp or --rtu)");
  auto* tcp = group->add_option("--tcp", flags.tcp, "Modbus TCP device, HOST[:PORT] (port 502 by default)")
                  ->type_name("HOST[:PORT]");
  auto* rtu_tcp = group->add_option("--rtu-tcp", flags.rtu_tcp,
                                    "Modbus RTU frames over TCP: a serial device server, HOST[:PORT] (port 502 by default)")
                      ->type_name("HOST[:PORT]");
  auto* rtu = group->add_option("--rtu", flags.rtu, "Modbus RTU serial line, e.g. /dev/ttyUSB0")->type_name("DEV");
  tcp->excludes(rtu);
  tcp->excludes(rtu_tcp);
  rtu_tcp->excludes(rtu);
  group->require_option(1);
  sub.add_option("--baud", flags.baud, "RTU line speed (needed with --rtu)")->type_name("N");
  sub.add_option("--parity", flags.parity, "RTU parity")->check(CLI::IsMember({"N", "E", "O"}))->capture_default_str();
  sub.add_option("--data-bits", flags.data_bits, "RTU data bits")->check(CLI::Range(7U, 8U))->capture_default_str();
  sub.add_option("--stop-bits", flags.stop_bits, "RTU stop bits")->check(CLI::Range(1U, 2U))->capture_default_str();
  sub.add_option("--timeout", flags.timeout, "response time-out, e.g. 250ms, 2s")->capture_default_str();
}

void add_point_flags(CLI::App& sub, point_flags& flags, bool with_format) {
  sub.add_option("--unit", flags.unit, "Modbus unit id (slave address)")->check(CLI::Range(0U, 255U))->required();
  sub.add_option("--table", flags.table, "coil, discrete, input or holding")
      ->check(CLI::IsMember(table_names))
      ->required();
  sub.add_option("--address", flags.address, "first register (or bit), 0-based as on the wire")
      ->check(CLI::Range(0U, 65535U))
      ->required();
  if (!with_format) return;
  sub.add_option("--type", flags.type, "bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string "
                                       "(default: bool on coil/discrete, uint16 on registers)")
      ->check(CLI::IsMember(type_names));
  sub.add_option("--order", flags.order, "register order of multi-register values")
      ->check(CLI::IsMember(order_names))
      ->capture_default_str();
  sub.add_option("--bit", flags.bit, "one bit (0-15) of a register, as a bool")->check(CLI::Range(0U, 15U));
  sub.add_option("--length", flags.length, "registers of a string value")->check(CLI::Range(1U, 125U));
  sub.add_option("--scale", flags.scale, "value = raw * scale + offset")->capture_default_str();
  sub.add_option("--offset", flags.offset, "value = raw * scale + offset")->capture_default_str();
}

milliseconds parse_duration_flag(const std::string& text, const std::string& flag) {
  const auto parsed = config::parse_duration(text).value;
  if (!parsed || parsed->count() <= 0) {
    throw CLI::ValidationError(flag, "'" + text + "' is not a duration like 250ms or 2s");
  }
  return *parsed;
}

link_target resolve_link(const link_flags& flags) {
  link_target target;
  target.timeouts.response = parse_duration_flag(flags.timeout, "--timeout");
  if (!flags.tcp.empty()) {
    const auto [host, port] = tcp_address(flags.tcp, "--tcp");
    target.description = fmt::format("{}:{}", host, port);
    target.link = modbus_tcp_endpoint{host, port};
    return target;
  }
  if (!flags.rtu_tcp.empty()) {
    const auto [host, port] = tcp_address(flags.rtu_tcp, "--rtu-tcp");
    target.description = fmt::format("{}:{} (RTU over TCP)", host, port);
    target.link = modbus_rtu_tcp_endpoint{host, port};
    return target;
  }
  if (flags.baud == 0) throw CLI::ValidationError("--baud", "--rtu needs --baud");
  modbus_rtu_line line;
  line.device = flags.rtu;
  line.baud = flags.baud;
  line.parity = flags.parity.front();
  line.data_bits = static_cast<std::uint8_t>(flags.data_bits);
  line.stop_bits = static_cast<std::uint8_t>(flags.stop_bits);
  target.description = fmt::format("{} at {} {}{}{}", line.device, line.baud, flags.data_bits, line.parity,
                                   flags.stop_bits);
  target.link = line;
  return target;
}

register_table table_of(const std::string& name) { return named(all_tables, name, "--table", "table"); }

point_spec point_of(const point_flags& flags) {
  point_spec point;
  point.name = "cli";
  point.table = table_of(flags.table);
  point.address = static_cast<std::uint16_t>(flags.address);
  const bool bits = point.table == register_table::coil || point.table == register_table::discrete_input;
  auto& format = point.format;
  format.type = flags.type.empty() ? (bits || flags.bit ? value_type::boolean : value_type::uint16)
                                   : named(all_types, flags.type, "--type", "type");
  format.order = named(all_orders, flags.order, "--order", "order");
  if (flags.bit) {
    if (bits) throw CLI::ValidationError("--bit", "--bit selects a bit of a register; coils are bits already");
    if (format.type != value_type::boolean) throw CLI::ValidationError("--bit", "--bit gives a bool");
    format.bit = static_cast<std::uint8_t>(*flags.bit);
  } else if (bits != (format.type == value_type::boolean)) {
    throw CLI::ValidationError("--type", bits ? "coils and discrete inputs are bool"
                                              : "a register is bool only with --bit");
  }
  if (format.type == value_type::string) {
    if (flags.length == 0) throw CLI::ValidationError("--length", "a string needs --length (registers)");
    format.length = static_cast<std::uint16_t>(flags.length);
  }
  format.scale = flags.scale;
  format.offset = flags.offset;
  if (flags.address + std::size_t{register_count(format)} * flags.count > 65536) {
    throw CLI::ValidationError("--address", "the span runs past address 65535");
  }
  return point;
}

std::string value_text(const point_value& value, const register_format& format) {
  const auto* number = std::get_if<double>(&value);
  if (number != nullptr && format.type == value_type::float32 && format.scale == 1.0 && format.offset == 0.0) {
    return fmt::format("{}", static_cast<float>(*number));
  }
  return drivers::to_text(value);
}

std::string hex_words(std::span<const std::uint16_t> words) {
  std::string text;
  for (const auto word : words) text += fmt::format("{}0x{:04X}", text.empty() ? "" : " ", word);
  return text;
}

std::string describe_error(const boost::system::error_code& ec, const link_target& target, unsigned unit) {
  if (drivers::is_exception(ec)) {
    return fmt::format("unit {} at {} answered with Modbus exception {} ({})", unit, target.description,
                       ec.value(), ec.message());
  }
  if (drivers::is_timeout(ec)) {
    return fmt::format("no answer from unit {} at {} within {}ms (time-out)", unit, target.description,
                       target.timeouts.response.count());
  }
  return fmt::format("cannot talk to unit {} at {}: {}", unit, target.description, ec.message());
}

}  // namespace fieldbridge::cli
