// The field model: buses, devices and points as the configuration declares
// them. Produced by the config parser, consumed by the drivers and the
// gateway. Plain values with no behaviour beyond small helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fieldbridge {

using milliseconds = std::chrono::milliseconds;

// The four Modbus data tables.
enum class register_table : std::uint8_t { coil, discrete_input, input_register, holding_register };

enum class value_type : std::uint8_t {
  boolean, int16, uint16, int32, uint32, int64, uint64, float32, float64, string
};

// Register order of multi-register values, named by the byte order of a
// 32-bit value (ABCD = big endian, the Modbus default). For 64-bit values the
// same rule extends to eight bytes: abcd = ABCDEFGH, cdab = GHEFCDAB (words
// reversed), badc = BADCFEHG (bytes swapped in each word), dcba = HGFEDCBA.
enum class word_order : std::uint8_t { abcd, cdab, badc, dcba };

enum class publish_mode : std::uint8_t { always, on_change };

// How a point's registers (or bits) turn into a value.
struct register_format {
  value_type type = value_type::uint16;
  word_order order = word_order::abcd;
  std::optional<std::uint8_t> bit;  // one bit (0..15) of a single register
  std::uint16_t length = 0;         // registers, for value_type::string
  double scale = 1.0;               // value = raw * scale + offset
  double offset = 0.0;

  bool operator==(const register_format&) const = default;
};

// Registers (or bits, for coil/discrete tables) that a format spans.
std::uint16_t register_count(const register_format& format);

// What happens to a point's value after decoding and scale/offset, in this
// order: `mask` and `shift` pick a field out of a packed integer (value & mask,
// then >> shift), `round` keeps that many decimals, `map` names integer
// values (a mapped value is published as its string). Writes invert `map`
// (and scale/offset); mask and shift cannot be inverted.
struct point_transform {
  std::optional<std::uint64_t> mask;
  std::uint8_t shift = 0;
  std::optional<std::uint8_t> round;
  std::vector<std::pair<std::int64_t, std::string>> map;  // in the order configured

  bool empty() const noexcept { return !mask && shift == 0 && !round && map.empty(); }
  bool packs_bits() const noexcept { return mask.has_value() || shift != 0; }

  bool operator==(const point_transform&) const = default;
};

struct point_spec {
  std::string name;
  register_table table = register_table::holding_register;
  std::uint16_t address = 0;
  register_format format;
  std::string unit;                   // engineering unit, e.g. "V"; empty when unset
  std::optional<std::uint8_t> qos;    // overrides mqtt.qos
  std::optional<bool> retain;         // overrides mqtt.retain
  publish_mode publish = publish_mode::always;
  double deadband = 0.0;              // for publish_mode::on_change
  std::optional<milliseconds> heartbeat;  // overrides mqtt.heartbeat; 0: none
  bool writable = false;
  std::optional<double> min;
  std::optional<double> max;
  std::string pattern;                // serial_line points: regex with one capture
  point_transform transform;          // after decoding and scale/offset

  bool operator==(const point_spec&) const = default;
};

struct device_spec {
  std::string name;
  std::uint8_t unit = 1;                          // Modbus unit id (0 for serial_line)
  milliseconds poll_interval{1000};
  std::uint16_t max_registers_per_request = 125;  // devices that reject large reads set less
  std::uint16_t max_bits_per_request = 2000;
  std::uint16_t max_gap = 0;                      // unused registers a merged read may span
  bool force_multiple_write = false;              // FC16/FC15 even for one register/coil
  std::uint32_t offline_after_failures = 3;
  std::vector<point_spec> points;

  bool operator==(const device_spec&) const = default;
};

struct modbus_rtu_line {
  std::string device;          // e.g. /dev/ttyUSB0
  std::uint32_t baud = 9600;
  char parity = 'N';           // 'N', 'E' or 'O'
  std::uint8_t data_bits = 8;
  std::uint8_t stop_bits = 1;
  bool rs485 = false;          // ask the kernel for RS-485 direction control

  bool operator==(const modbus_rtu_line&) const = default;
};

struct modbus_tcp_endpoint {
  std::string host;
  std::uint16_t port = 502;

  bool operator==(const modbus_tcp_endpoint&) const = default;
};

// A serial device server (USR, Waveshare, Moxa NPort in TCP server mode)
// that forwards raw RTU frames, CRC included, over one TCP socket: every
// unit id of its RS-485 line shares that socket.
struct modbus_rtu_tcp_endpoint {
  std::string host;
  std::uint16_t port = 502;

  bool operator==(const modbus_rtu_tcp_endpoint&) const = default;
};

struct serial_line_port {
  std::string device;
  std::uint32_t baud = 9600;
  char parity = 'N';
  std::uint8_t data_bits = 8;
  std::uint8_t stop_bits = 1;
  std::string delimiter = "\n";

  bool operator==(const serial_line_port&) const = default;
};

using bus_link = std::variant<modbus_rtu_line, modbus_tcp_endpoint, serial_line_port, modbus_rtu_tcp_endpoint>;

// A bus is one worker: a serial line or one TCP endpoint. A serial_line bus
// has exactly one device, named after the bus, whose points carry patterns.
struct bus_spec {
  std::string name;
  bus_link link;
  milliseconds response_timeout{500};
  milliseconds byte_timeout{0};          // 0: libmodbus default
  milliseconds inter_request_delay{0};   // extra silence between requests
  milliseconds silence_timeout{0};       // serial_line: offline after this long without a matching line; 0 = never
  std::vector<device_spec> devices;

  bool operator==(const bus_spec&) const = default;
};

std::string_view to_string(register_table table);
std::string_view to_string(value_type type);
std::string_view to_string(word_order order);
std::string_view to_string(publish_mode mode);

}  // namespace fieldbridge
