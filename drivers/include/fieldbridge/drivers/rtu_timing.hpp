// Modbus RTU line timing arithmetic (Modbus over Serial Line V1.02, 2.5.1.1).
// Pure functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "fieldbridge/core/model.hpp"

namespace fieldbridge::drivers {

// Bits on the wire per character: 1 start + data bits + parity (0/1) + stop.
std::uint32_t bits_per_character(std::uint8_t data_bits, char parity, std::uint8_t stop_bits);
std::uint32_t bits_per_character(const modbus_rtu_line& line);

// Time to send one character at the line's baud rate.
std::chrono::nanoseconds character_time(const modbus_rtu_line& line);

// The silence that ends a frame: 3.5 character times, but a fixed 1.75 ms
// above 19200 baud as the spec recommends.
std::chrono::nanoseconds inter_frame_silence(const modbus_rtu_line& line);

// The gap a master keeps before each request: the inter-frame silence plus
// the bus's configured extra delay.
std::chrono::nanoseconds request_gap(const modbus_rtu_line& line, milliseconds inter_request_delay);

// Bytes of an RTU frame (unit, function, ..., CRC) for a read request and its
// answer: 8 bytes out; 5 + 2*count (registers) or 5 + ceil(count/8) (bits) back.
std::size_t read_request_bytes();
std::size_t read_response_bytes(register_table table, std::uint16_t count);

// Line time of one read transaction: request + silence + answer + silence,
// the ideal a poll loop can approach (for the line-capacity benchmark).
std::chrono::nanoseconds read_transaction_time(const modbus_rtu_line& line, register_table table,
                                               std::uint16_t count);

}  // namespace fieldbridge::drivers
