#include "fieldbridge/drivers/rtu_frame.hpp"

#include "fieldbridge/drivers/modbus_error.hpp"

namespace fieldbridge::drivers {
namespace {

std::uint8_t read_function(register_table table) {
  switch (table) {
    case register_table::coil: return 1;
    case register_table::discrete_input: return 2;
    case register_table::holding_register: return 3;
    case register_table::input_register: return 4;
  }
  return 3;
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

void seal(std::vector<std::uint8_t>& frame) {
  const auto crc = crc16(frame);
  frame.push_back(static_cast<std::uint8_t>(crc & 0xFF));
  frame.push_back(static_cast<std::uint8_t>(crc >> 8));
}

bool crc_ok(std::span<const std::uint8_t> frame) {
  if (frame.size() < 4) return false;
  const auto crc = crc16(frame.first(frame.size() - 2));
  return frame[frame.size() - 2] == (crc & 0xFF) && frame[frame.size() - 1] == (crc >> 8);
}

}  // namespace

std::uint16_t crc16(std::span<const std::uint8_t> bytes) noexcept {
  std::uint16_t crc = 0xFFFF;
  for (const auto byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1U) != 0 ? static_cast<std::uint16_t>((crc >> 1) ^ 0xA001U)
                            : static_cast<std::uint16_t>(crc >> 1);
    }
  }
  return crc;
}

std::vector<std::uint8_t> rtu_read_request(std::uint8_t unit, register_table table, std::uint16_t address,
                                           std::uint16_t count) {
  std::vector<std::uint8_t> frame{unit, read_function(table)};
  put16(frame, address);
  put16(frame, count);
  seal(frame);
  return frame;
}

std::vector<std::uint8_t> rtu_write_request(std::uint8_t unit, write_function function, std::uint16_t address,
                                            std::span<const std::uint16_t> words) {
  std::vector<std::uint8_t> frame{unit, static_cast<std::uint8_t>(function)};
  put16(frame, address);
  switch (function) {
    case write_function::write_single_coil:
      put16(frame, words[0] != 0 ? 0xFF00 : 0x0000);
      break;
    case write_function::write_single_register:
      put16(frame, words[0]);
      break;
    case write_function::write_multiple_coils: {
      put16(frame, static_cast<std::uint16_t>(words.size()));
      const auto bytes = (words.size() + 7) / 8;
      frame.push_back(static_cast<std::uint8_t>(bytes));
      for (std::size_t b = 0; b < bytes; ++b) {
        std::uint8_t packed = 0;
        for (std::size_t i = 0; i < 8 && b * 8 + i < words.size(); ++i) {
          if (words[b * 8 + i] != 0) packed = static_cast<std::uint8_t>(packed | (1U << i));
        }
        frame.push_back(packed);
      }
      break;
    }
    case write_function::write_multiple_registers:
      put16(frame, static_cast<std::uint16_t>(words.size()));
      frame.push_back(static_cast<std::uint8_t>(words.size() * 2));
      for (const auto w : words) put16(frame, w);
      break;
  }
  seal(frame);
  return frame;
}

rtu_expectation expect_answer(std::span<const std::uint8_t> request) {
  rtu_expectation e;
  e.unit = request[0];
  e.function = request[1];
  if (e.function <= 4) {
    const std::size_t count = (std::size_t{request[4]} << 8) | request[5];
    e.read = true;
    e.byte_count = static_cast<std::uint8_t>(e.function <= 2 ? (count + 7) / 8 : count * 2);
    e.size = 5 + std::size_t{e.byte_count};
  } else {
    for (int i = 0; i < 4; ++i) e.echo[i] = request[2 + static_cast<std::size_t>(i)];
    e.size = 8;
  }
  return e;
}

rtu_scan find_answer(std::span<const std::uint8_t> bytes, const rtu_expectation& expected) {
  const std::uint8_t exception_function = static_cast<std::uint8_t>(expected.function | 0x80);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != expected.unit) continue;
    const auto rest = bytes.subspan(i);
    // A candidate cut short by the end of what arrived so far: wait for more.
    if (rest.size() < 2) return {rtu_scan::result::incomplete, i};
    if (rest[1] == exception_function) {
      if (rest.size() < 5) return {rtu_scan::result::incomplete, i};
      if (crc_ok(rest.first(5))) return {rtu_scan::result::exception, i, 5, rest[2]};
      continue;
    }
    if (rest[1] != expected.function) continue;
    if (expected.read) {
      if (rest.size() < 3) return {rtu_scan::result::incomplete, i};
      if (rest[2] != expected.byte_count) continue;  // another length: not ours
    } else {
      const std::size_t have = std::min<std::size_t>(rest.size(), 6);
      bool echoed = true;
      for (std::size_t k = 2; k < have; ++k) echoed = echoed && rest[k] == expected.echo[k - 2];
      if (!echoed) continue;
    }
    if (rest.size() < expected.size) return {rtu_scan::result::incomplete, i};
    if (crc_ok(rest.first(expected.size))) return {rtu_scan::result::answer, i, expected.size};
    // Unit, function and length all match: the answer, garbled on the way.
    return {rtu_scan::result::bad_crc, i, expected.size};
  }
  return {rtu_scan::result::incomplete, bytes.size()};
}

std::vector<std::uint16_t> answer_words(std::span<const std::uint8_t> answer, register_table table,
                                        std::uint16_t count) {
  std::vector<std::uint16_t> out(count, 0);
  const auto data = answer.subspan(3);
  if (table == register_table::coil || table == register_table::discrete_input) {
    for (std::size_t i = 0; i < count && i / 8 < data.size(); ++i) out[i] = (data[i / 8] >> (i % 8)) & 1U;
  } else {
    for (std::size_t i = 0; i < count && 2 * i + 1 < data.size(); ++i) {
      out[i] = static_cast<std::uint16_t>((data[2 * i] << 8) | data[2 * i + 1]);
    }
  }
  return out;
}

boost::system::error_code exception_error(std::uint8_t code) noexcept {
  switch (code) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 10: case 11:
      return {static_cast<int>(code), modbus_category()};
    default:
      return modbus_errc::unknown_exception;
  }
}

}  // namespace fieldbridge::drivers
