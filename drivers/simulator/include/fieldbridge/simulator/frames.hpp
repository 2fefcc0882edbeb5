// Modbus framing arithmetic for the simulator: how long a request is, how
// long its answer will be, and how long bytes take on an RTU line. Pure code.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fieldbridge/core/model.hpp"

namespace fieldbridge::simulator {

// Bytes of the RTU request that starts at bytes[0] (unit, function, ...,
// CRC) as far as the bytes seen so far tell: call again with more bytes until
// bytes.size() reaches the answer. 0 when the function code is not one the
// simulator serves (the caller drops the frame).
std::size_t rtu_request_size(std::span<const std::uint8_t> bytes);

// Bytes of the Modbus TCP frame (MBAP header + PDU) that starts at bytes[0],
// as far as known (7 until the header is in). 0 when the header is invalid.
std::size_t tcp_frame_size(std::span<const std::uint8_t> bytes);

// The RTU answer's size for `request` (a whole RTU frame): the normal answer,
// or the 5-byte exception answer when `exception`.
std::size_t rtu_response_size(std::span<const std::uint8_t> request, bool exception);

// CRC-16/MODBUS of `bytes`; sent low byte first.
std::uint16_t crc16(std::span<const std::uint8_t> bytes);

// One character on the line: start bit, data bits, parity bit, stop bits.
std::chrono::nanoseconds rtu_character_time(const modbus_rtu_line& line);

// The silence that ends a frame: 3.5 characters, at least 1.75 ms above
// 19200 baud (Modbus over serial line, 2.5.1.1).
std::chrono::nanoseconds rtu_frame_gap(const modbus_rtu_line& line);

}  // namespace fieldbridge::simulator
