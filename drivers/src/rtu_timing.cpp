#include "fieldbridge/drivers/rtu_timing.hpp"

namespace fieldbridge::drivers {

using std::chrono::nanoseconds;

std::uint32_t bits_per_character(std::uint8_t data_bits, char parity, std::uint8_t stop_bits) {
  const std::uint32_t parity_bits = (parity == 'N' || parity == 'n') ? 0 : 1;
  return 1U + data_bits + parity_bits + stop_bits;
}

std::uint32_t bits_per_character(const modbus_rtu_line& line) {
  return bits_per_character(line.data_bits, line.parity, line.stop_bits);
}

nanoseconds character_time(const modbus_rtu_line& line) {
  if (line.baud == 0) return nanoseconds{0};
  return nanoseconds{std::uint64_t{bits_per_character(line)} * 1'000'000'000ULL / line.baud};
}

nanoseconds inter_frame_silence(const modbus_rtu_line& line) {
  // Above 19200 baud the spec fixes t3.5 at 1.75 ms, since UARTs cannot time
  // shorter gaps reliably.
  if (line.baud > 19200) return std::chrono::microseconds{1750};
  if (line.baud == 0) return nanoseconds{0};
  // 3.5 characters, computed from the bits so no rounding compounds.
  return nanoseconds{std::uint64_t{bits_per_character(line)} * 7'000'000'000ULL / (2ULL * line.baud)};
}

nanoseconds request_gap(const modbus_rtu_line& line, milliseconds inter_request_delay) {
  return inter_frame_silence(line) + inter_request_delay;
}

std::size_t read_request_bytes() { return 8; }

std::size_t read_response_bytes(register_table table, std::uint16_t count) {
  const bool bits = table == register_table::coil || table == register_table::discrete_input;
  // unit + function + byte count + data + CRC(2)
  return 5 + (bits ? (std::size_t{count} + 7) / 8 : std::size_t{count} * 2);
}

nanoseconds read_transaction_time(const modbus_rtu_line& line, register_table table,
                                  std::uint16_t count) {
  const auto bytes = read_request_bytes() + read_response_bytes(table, count);
  return character_time(line) * static_cast<std::int64_t>(bytes) + 2 * inter_frame_silence(line);
}

}  // namespace fieldbridge::drivers
