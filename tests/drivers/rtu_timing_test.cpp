// RTU timing arithmetic against the serial-line spec's numbers.
#include <gtest/gtest.h>

#include "fieldbridge/drivers/rtu_timing.hpp"

namespace fieldbridge::drivers {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

modbus_rtu_line line(std::uint32_t baud, char parity = 'N', std::uint8_t stop = 1) {
  modbus_rtu_line l;
  l.device = "/dev/null";
  l.baud = baud;
  l.parity = parity;
  l.stop_bits = stop;
  return l;
}

TEST(rtu_timing, bits_per_character) {
  EXPECT_EQ(bits_per_character(line(9600)), 10U);        // 8N1
  EXPECT_EQ(bits_per_character(line(9600, 'E')), 11U);   // 8E1
  EXPECT_EQ(bits_per_character(line(9600, 'N', 2)), 11U);  // 8N2
  EXPECT_EQ(bits_per_character(7, 'O', 2), 11U);
}

TEST(rtu_timing, character_time_and_silence_at_9600) {
  // 11 bits at 9600 baud: 1145.833 us; t3.5 = 4010.4 us.
  EXPECT_EQ(character_time(line(9600, 'E')), nanoseconds{1145833});
  EXPECT_EQ(inter_frame_silence(line(9600, 'E')), nanoseconds{4010416});
  EXPECT_EQ(inter_frame_silence(line(9600)), nanoseconds{3645833});  // 10 bits
}

TEST(rtu_timing, floor_of_1750us_above_19200) {
  EXPECT_EQ(inter_frame_silence(line(19200)), nanoseconds{1822916});
  EXPECT_EQ(inter_frame_silence(line(38400)), microseconds{1750});
  EXPECT_EQ(inter_frame_silence(line(115200, 'E')), microseconds{1750});
}

TEST(rtu_timing, request_gap_adds_the_extra_delay) {
  EXPECT_EQ(request_gap(line(115200), milliseconds{5}), microseconds{6750});
}

TEST(rtu_timing, frame_sizes_and_transaction_time) {
  EXPECT_EQ(read_request_bytes(), 8U);
  EXPECT_EQ(read_response_bytes(register_table::holding_register, 125), 255U);
  EXPECT_EQ(read_response_bytes(register_table::coil, 9), 7U);
  EXPECT_EQ(read_response_bytes(register_table::discrete_input, 8), 6U);
  // 8 + 25 bytes at 19200 8N1 (520833 ns each) + 2 * t3.5.
  EXPECT_EQ(read_transaction_time(line(19200), register_table::input_register, 10),
            nanoseconds{33 * 520833 + 2 * 1822916});
}

}  // namespace
}  // namespace fieldbridge::drivers
