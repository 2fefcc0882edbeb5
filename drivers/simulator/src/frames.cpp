#include "fieldbridge/simulator/frames.hpp"

#include "fieldbridge/drivers/rtu_frame.hpp"

namespace fieldbridge::simulator {

std::size_t rtu_request_size(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 2) return 2;
  switch (bytes[1]) {
    case 1: case 2: case 3: case 4: case 5: case 6:
      return 8;  // unit, function, address, quantity or value, CRC
    case 7: case 17:
      return 4;  // unit, function, CRC
    case 15: case 16:
      return bytes.size() < 7 ? 7 : 9 + std::size_t{bytes[6]};
    case 22:
      return 10;
    case 23:
      return bytes.size() < 11 ? 11 : 13 + std::size_t{bytes[10]};
    default:
      return 0;
  }
}

std::size_t tcp_frame_size(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 7) return 7;
  const std::size_t length = (std::size_t{bytes[4]} << 8) | bytes[5];
  // The length counts the unit id and the PDU (at most 253 bytes).
  if (bytes[2] != 0 || bytes[3] != 0 || length < 2 || length > 254) return 0;
  return 6 + length;
}

std::size_t rtu_response_size(std::span<const std::uint8_t> request, bool exception) {
  if (exception || request.size() < 6) return 5;
  const std::size_t quantity = (std::size_t{request[4]} << 8) | request[5];
  switch (request[1]) {
    case 1: case 2:
      return 5 + (quantity + 7) / 8;
    case 3: case 4:
      return 5 + 2 * quantity;
    case 23:
      return 5 + 2 * quantity;  // the read quantity comes first
    case 22:
      return 10;
    case 17:
      return 5 + 16;  // a short identification
    default:
      return 8;       // writes echo address and quantity or value
  }
}

// The same CRC-16 as the gateway's RTU-over-TCP framing: one implementation.
std::uint16_t crc16(std::span<const std::uint8_t> bytes) { return drivers::crc16(bytes); }

std::chrono::nanoseconds rtu_character_time(const modbus_rtu_line& line) {
  const std::int64_t bits = 1 + line.data_bits + (line.parity == 'N' ? 0 : 1) + line.stop_bits;
  return std::chrono::nanoseconds{bits * 1'000'000'000LL / line.baud};
}

std::chrono::nanoseconds rtu_frame_gap(const modbus_rtu_line& line) {
  if (line.baud > 19200) return std::chrono::microseconds{1750};
  return rtu_character_time(line) * 7 / 2;
}

}  // namespace fieldbridge::simulator
