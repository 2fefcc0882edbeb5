// RTU framing for RTU over TCP: CRC vectors, requests byte for byte, and
// finding the answer in a stream with partial frames, noise, late answers to
// other requests, exceptions and bad CRCs.
#include "fieldbridge/drivers/rtu_frame.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "fieldbridge/drivers/modbus_error.hpp"

namespace fieldbridge::drivers {
namespace {

using bytes = std::vector<std::uint8_t>;
using result = rtu_scan::result;

bytes with_crc(bytes frame) {
  const auto crc = crc16(frame);
  frame.push_back(static_cast<std::uint8_t>(crc & 0xFF));
  frame.push_back(static_cast<std::uint8_t>(crc >> 8));
  return frame;
}

bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(rtu_frame, crc_matches_the_serial_line_spec_example) {
  // Modbus over Serial Line V1.02, 6.2.2: "02 07" is sent with CRC 41 12.
  const bytes spec{0x02, 0x07};
  EXPECT_EQ(crc16(spec), 0x1241);
  EXPECT_EQ(with_crc(spec), (bytes{0x02, 0x07, 0x41, 0x12}));
  EXPECT_EQ(crc16(bytes{}), 0xFFFF);
}

TEST(rtu_frame, requests_are_framed_byte_for_byte) {
  EXPECT_EQ(rtu_read_request(1, register_table::holding_register, 0, 10),
            (bytes{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD}));
  EXPECT_EQ(rtu_read_request(1, register_table::input_register, 0, 10)[1], 0x04);
  EXPECT_EQ(rtu_read_request(1, register_table::coil, 0, 10)[1], 0x01);
  EXPECT_EQ(rtu_read_request(1, register_table::discrete_input, 0, 10)[1], 0x02);
  const std::vector<std::uint16_t> one{3};
  EXPECT_EQ(rtu_write_request(0x11, write_function::write_single_register, 1, one),
            (bytes{0x11, 0x06, 0x00, 0x01, 0x00, 0x03, 0x9A, 0x9B}));
  const std::vector<std::uint16_t> on{1};
  EXPECT_EQ(rtu_write_request(0x11, write_function::write_single_coil, 0xAC, on),
            (bytes{0x11, 0x05, 0x00, 0xAC, 0xFF, 0x00, 0x4E, 0x8B}));
  const std::vector<std::uint16_t> two{0x000A, 0x0102};
  EXPECT_EQ(rtu_write_request(0x11, write_function::write_multiple_registers, 1, two),
            (bytes{0x11, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02, 0xC6, 0xF0}));
  // Coils 20..29 = 1011 0011 10 (the application protocol's FC15 example).
  const std::vector<std::uint16_t> coils{1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
  EXPECT_EQ(rtu_write_request(0x11, write_function::write_multiple_coils, 0x13, coils),
            (bytes{0x11, 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01, 0xBF, 0x0B}));
}

TEST(rtu_frame, a_read_answer_is_found_and_decoded) {
  const auto request = rtu_read_request(1, register_table::holding_register, 0, 1);
  const auto expected = expect_answer(request);
  EXPECT_EQ(expected.size, 7U);
  const auto answer = with_crc({0x01, 0x03, 0x02, 0x01, 0x02});
  const auto scan = find_answer(answer, expected);
  ASSERT_EQ(scan.what, result::answer);
  EXPECT_EQ(scan.start, 0U);
  EXPECT_EQ(scan.size, 7U);
  EXPECT_EQ(answer_words(answer, register_table::holding_register, 1), (std::vector<std::uint16_t>{0x0102}));

  const auto bits_request = rtu_read_request(1, register_table::coil, 0, 10);
  const auto bits = with_crc({0x01, 0x01, 0x02, 0xCD, 0x01});
  ASSERT_EQ(find_answer(bits, expect_answer(bits_request)).what, result::answer);
  EXPECT_EQ(answer_words(bits, register_table::coil, 10),
            (std::vector<std::uint16_t>{1, 0, 1, 1, 0, 0, 1, 1, 1, 0}));
}

TEST(rtu_frame, a_partial_answer_waits_for_more_at_every_cut) {
  const auto expected = expect_answer(rtu_read_request(7, register_table::input_register, 4, 2));
  const auto answer = with_crc({0x07, 0x04, 0x04, 0x00, 0x01, 0x00, 0x02});
  for (std::size_t cut = 0; cut < answer.size(); ++cut) {
    const bytes part(answer.begin(), answer.begin() + static_cast<std::ptrdiff_t>(cut));
    const auto scan = find_answer(part, expected);
    EXPECT_EQ(scan.what, result::incomplete) << cut;
    EXPECT_EQ(scan.start, 0U) << "the bytes so far are kept: " << cut;
  }
  EXPECT_EQ(find_answer(answer, expected).what, result::answer);
}

TEST(rtu_frame, noise_before_the_answer_is_skipped) {
  const auto expected = expect_answer(rtu_read_request(1, register_table::holding_register, 0, 1));
  const auto answer = with_crc({0x01, 0x03, 0x02, 0x00, 0x2A});
  const auto stream = concat({bytes{0x00, 0xFF, 0x55, 0x01, 0x99}, answer});
  const auto scan = find_answer(stream, expected);
  ASSERT_EQ(scan.what, result::answer);
  EXPECT_EQ(scan.start, 5U);
  // Noise alone: everything can go, nothing can start our answer.
  const bytes noise{0x00, 0xFF, 0x55};
  const auto none = find_answer(noise, expected);
  EXPECT_EQ(none.what, result::incomplete);
  EXPECT_EQ(none.start, noise.size());
}

TEST(rtu_frame, a_late_answer_to_another_request_is_never_taken) {
  const auto expected = expect_answer(rtu_read_request(2, register_table::holding_register, 0, 2));
  const auto ours = with_crc({0x02, 0x03, 0x04, 0x00, 0x01, 0x00, 0x02});
  // Another unit, the same function and length.
  const auto other_unit = with_crc({0x03, 0x03, 0x04, 0x11, 0x11, 0x22, 0x22});
  // The same unit, another function.
  const auto other_function = with_crc({0x02, 0x04, 0x04, 0x33, 0x33, 0x44, 0x44});
  // The same unit and function, another length (an earlier read of 1 register).
  const auto other_length = with_crc({0x02, 0x03, 0x02, 0x55, 0x55});
  for (const auto& late : {other_unit, other_function, other_length}) {
    EXPECT_EQ(find_answer(late, expected).what, result::incomplete);
    const auto stream = concat({late, ours});
    const auto scan = find_answer(stream, expected);
    ASSERT_EQ(scan.what, result::answer);
    EXPECT_EQ(scan.start, late.size());
    EXPECT_EQ(answer_words(std::span(stream).subspan(scan.start, scan.size), register_table::holding_register, 2),
              (std::vector<std::uint16_t>{1, 2}));
  }
}

TEST(rtu_frame, a_write_answer_must_echo_the_request) {
  const std::vector<std::uint16_t> value{0x1234};
  const auto request = rtu_write_request(1, write_function::write_single_register, 10, value);
  const auto expected = expect_answer(request);
  EXPECT_EQ(find_answer(request, expected).what, result::answer) << "FC06 answers with its request";
  // An echo of another write to the same unit is not ours.
  const std::vector<std::uint16_t> other{0x9999};
  const auto earlier = rtu_write_request(1, write_function::write_single_register, 10, other);
  EXPECT_EQ(find_answer(earlier, expected).what, result::incomplete);
  const auto stream = concat({earlier, request});
  EXPECT_EQ(find_answer(stream, expected).start, earlier.size());
}

TEST(rtu_frame, exceptions_and_bad_crcs_are_reported) {
  const auto expected = expect_answer(rtu_read_request(1, register_table::holding_register, 100, 1));
  const auto exception = with_crc({0x01, 0x83, 0x02});
  const auto scan = find_answer(exception, expected);
  ASSERT_EQ(scan.what, result::exception);
  EXPECT_EQ(scan.exception_code, 2);
  EXPECT_EQ(exception_error(scan.exception_code), modbus_errc::illegal_data_address);
  EXPECT_EQ(exception_error(99), modbus_errc::unknown_exception);
  // An exception frame whose CRC is wrong is noise, not an exception.
  auto garbled_exception = exception;
  garbled_exception.back() ^= 0xFF;
  EXPECT_EQ(find_answer(garbled_exception, expected).what, result::incomplete);

  auto garbled = with_crc({0x01, 0x03, 0x02, 0x00, 0x2A});
  garbled[4] ^= 0x01;
  EXPECT_EQ(find_answer(garbled, expected).what, result::bad_crc);
}

}  // namespace
}  // namespace fieldbridge::drivers
