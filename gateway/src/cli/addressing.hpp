// The addressing flags that read, write, probe and scan share: the link
// (--tcp, --rtu-tcp, or --rtu with its line settings), the unit and the register span.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "fieldbridge/core/model.hpp"
#include "fieldbridge/core/reading.hpp"
#include "fieldbridge/drivers/modbus_link.hpp"

namespace fieldbridge::cli {

// --tcp HOST[:PORT] | --rtu-tcp HOST[:PORT] | --rtu DEV --baud N [--parity] [--data-bits]
// [--stop-bits], --timeout.
struct link_flags {
  std::string tcp;
  std::string rtu_tcp;
  std::string rtu;
  std::uint32_t baud = 0;
  std::string parity = "N";
  unsigned data_bits = 8;
  unsigned stop_bits = 1;
  std::string timeout;
};

// --unit, --table, --address, and the decoding flags.
struct point_flags {
  unsigned unit = 1;
  std::string table;
  unsigned address = 0;
  unsigned count = 1;
  std::string type;
  std::string order = "ABCD";
  std::optional<unsigned> bit;
  unsigned length = 0;
  double scale = 1.0;
  double offset = 0.0;
};

void add_link_flags(CLI::App& sub, link_flags& flags, const std::string& default_timeout);
// `with_format`: --type/--order/--bit/--length/--scale/--offset as well (read, write).
void add_point_flags(CLI::App& sub, point_flags& flags, bool with_format);

// A link the flags describe, ready to open; `description` names it in messages
// ("127.0.0.1:502", "/dev/ttyUSB0 at 9600 8N1").
struct link_target {
  bus_link link;
  drivers::link_timeouts timeouts;
  std::string description;
};
// Throws CLI::ValidationError on a contradiction the parser cannot see
// (none or two of --tcp/--rtu-tcp/--rtu, --rtu without --baud, a bad duration).
link_target resolve_link(const link_flags& flags);

// Every word order, in the order --order lists and probe prints them.
inline constexpr word_order all_orders[] = {word_order::abcd, word_order::cdab, word_order::badc,
                                           word_order::dcba};

register_table table_of(const std::string& name);
// The point the flags describe (type defaults: bool on bit tables, uint16 else).
point_spec point_of(const point_flags& flags);

// "500ms", "2s"; throws CLI::ValidationError naming `flag` when malformed.
milliseconds parse_duration_flag(const std::string& text, const std::string& flag);

// A decoded value for people: float32 in its own shortest form (230.4, not
// 230.39999389648438), the rest as drivers::to_text.
std::string value_text(const point_value& value, const register_format& format);
// "0x4366 0x6666"
std::string hex_words(std::span<const std::uint16_t> words);

// One line for a failed request: names the Modbus exception or the time-out.
std::string describe_error(const boost::system::error_code& ec, const link_target& target, unsigned unit);

}  // namespace fieldbridge::cli
