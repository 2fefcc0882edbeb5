// The simulator's SIMFILE: where it listens, which unit ids it answers as,
// the register profiles of each unit and the faults it injects. Loading
// returns a validated configuration or throws sim_config_error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fieldbridge/core/model.hpp"
#include "fieldbridge/core/reading.hpp"

namespace fieldbridge::simulator {

using milliseconds = std::chrono::milliseconds;

// How a block of registers changes over time.
enum class profile_kind : std::uint8_t { constant, counter, ramp, sine, random };
enum class counter_tick : std::uint8_t { per_read, per_second };

struct profile {
  profile_kind kind = profile_kind::constant;
  point_value value = 0.0;                  // constant
  double start = 0.0, step = 1.0;           // counter
  counter_tick tick = counter_tick::per_read;
  double min = 0.0, max = 100.0;            // ramp, random
  double amplitude = 1.0, offset = 0.0;     // sine
  milliseconds period{10000};               // ramp, sine
};

// `count` values of one format laid out back to back from `address`, all
// following the same profile (each value of a per-read counter counts alone).
struct register_block {
  register_table table = register_table::holding_register;
  std::uint16_t address = 0;
  std::uint16_t count = 1;
  register_format format;
  profile shape;
  int line = 0;  // 1-based, for messages

  // Registers (or bits) the block spans.
  std::uint32_t span() const;
};

// Units listed together share one register map.
struct unit_group {
  std::vector<std::uint8_t> ids;
  std::vector<register_block> blocks;
};

enum class fault_kind : std::uint8_t { no_answer, exception, delay };

// A fault applies to requests of `unit` (all units when unset) that touch
// `table` (any when unset) within [address, address + count).
struct fault {
  std::optional<std::uint8_t> unit;
  std::optional<register_table> table;
  std::uint16_t address = 0;
  std::uint32_t count = 65536;
  fault_kind kind = fault_kind::no_answer;
  std::uint8_t exception_code = 0;   // for fault_kind::exception
  milliseconds delay{0};             // for fault_kind::delay: answer late
};

// Modbus TCP, an RTU line, or RTU frames over TCP (as a serial device
// server forwards them).
using sim_link = std::variant<modbus_tcp_endpoint, modbus_rtu_line, modbus_rtu_tcp_endpoint>;

struct sim_config {
  std::string source_path;
  sim_link link;
  std::uint64_t seed = 1;            // for random profiles
  std::vector<unit_group> groups;
  std::vector<fault> faults;

  // Every unit id answered, ascending.
  std::vector<std::uint8_t> unit_ids() const;
};

// A SIMFILE mistake; what() is the full "FILE:LINE:COL: message" line.
class sim_config_error : public std::runtime_error {
 public:
  sim_config_error(const std::string& file, int line, int column, const std::string& message);
};

sim_config load_sim_file(const std::string& path);
// `name` stands for the file in error messages.
sim_config load_sim_string(std::string_view yaml_text, const std::string& name);

// Exception codes by name ("illegal_data_address") or number ("2");
// nullopt when unknown.
std::optional<std::uint8_t> parse_exception_code(std::string_view text);

}  // namespace fieldbridge::simulator
