// Modbus RTU framing as pure code, for RTU over a TCP stream (serial device
// servers forward the serial frames, CRC and all): requests built, answers
// found in a byte stream that may hold partial frames, garbage, or a late
// answer to an earlier request. No I/O, no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <boost/system/error_code.hpp>

#include "fieldbridge/core/model.hpp"
#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::drivers {

// CRC-16/MODBUS (polynomial 0xA001 reflected, initial 0xFFFF) of `bytes`;
// it goes on the wire low byte first.
std::uint16_t crc16(std::span<const std::uint8_t> bytes) noexcept;

// A whole RTU request: unit, PDU, CRC.
std::vector<std::uint8_t> rtu_read_request(std::uint8_t unit, register_table table, std::uint16_t address,
                                           std::uint16_t count);
// Words are register values, or 0/1 per coil. The caller has checked the
// function suits the table and the count its limits.
std::vector<std::uint8_t> rtu_write_request(std::uint8_t unit, write_function function, std::uint16_t address,
                                            std::span<const std::uint16_t> words);

// What the answer to one request must look like.
struct rtu_expectation {
  std::uint8_t unit = 0;
  std::uint8_t function = 0;
  std::size_t size = 0;                 // the normal answer, unit to CRC
  std::uint8_t byte_count = 0;          // reads: the byte count field
  std::uint8_t echo[4] = {0, 0, 0, 0};  // writes: address and value/quantity, as sent
  bool read = false;
};
// The expectation of `request`, a whole frame from rtu_*_request.
rtu_expectation expect_answer(std::span<const std::uint8_t> request);

// Where the answer is in `bytes` (the stream received since the request).
struct rtu_scan {
  enum class result : std::uint8_t {
    incomplete,  // no answer yet: read more, keeping bytes from `start` on
    answer,      // bytes[start, start + size) is the answer, CRC checked
    exception,   // the device answered with exception `exception_code`
    bad_crc,     // a frame with this unit, function and length, but a bad CRC
  };
  result what = result::incomplete;
  std::size_t start = 0;
  std::size_t size = 0;
  std::uint8_t exception_code = 0;
};
// Scans for the first frame that matches unit, function (or its exception),
// length (the byte count of reads, the echo of writes) and CRC. Bytes that
// cannot start such a frame are skipped: line noise, a garbled frame, or a
// late answer to another request (another unit, function or length). An
// answer to an identical earlier request (same unit, function and length)
// cannot be told apart from the wire alone; the transport discards whatever
// is pending before it sends, which leaves only an answer that arrives
// between that and the real one.
rtu_scan find_answer(std::span<const std::uint8_t> bytes, const rtu_expectation& expected);

// The words of a read answer found by find_answer: registers, or one 0/1
// word per bit, `count` of them.
std::vector<std::uint16_t> answer_words(std::span<const std::uint8_t> answer, register_table table,
                                        std::uint16_t count);

// An exception code as the error the libmodbus link would report.
boost::system::error_code exception_error(std::uint8_t code) noexcept;

}  // namespace fieldbridge::drivers
