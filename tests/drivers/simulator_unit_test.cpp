// Pure parts of the simulator: SIMFILE parsing and its located errors, the
// Modbus framing arithmetic, and the register profiles.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "fieldbridge/config/units.hpp"
#include "fieldbridge/simulator/frames.hpp"
#include "fieldbridge/simulator/profiles.hpp"
#include "fieldbridge/simulator/sim_config.hpp"

namespace fieldbridge::simulator {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string error_of(const std::string& text) {
  try {
    load_sim_string(text, "sim.yaml");
  } catch (const sim_config_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(SimulatorConfig, ReadsLinkUnitsBlocksAndFaults) {
  const auto config = load_sim_string(R"(
tcp: { port: 15020 }
seed: 7
units:
  - ids: [1, 3-4]
    registers:
      - { table: input, address: 0, type: float32, order: CDAB, value: 230.4 }
      - { table: holding, address: 10, count: 3, profile: counter, per: second, step: 2 }
      - { table: coil, address: 0, value: true }
  - id: 9
faults:
  - { unit: 3, table: holding, address: 10, count: 2, exception: illegal_data_address }
  - { unit: 4, no_answer: true }
  - { delay: 250ms }
)", "sim.yaml");
  const auto& tcp = std::get<modbus_tcp_endpoint>(config.link);
  EXPECT_EQ(tcp.host, "127.0.0.1");
  EXPECT_EQ(tcp.port, 15020);
  EXPECT_EQ(config.seed, 7U);
  EXPECT_EQ(config.unit_ids(), (std::vector<std::uint8_t>{1, 3, 4, 9}));
  ASSERT_EQ(config.groups.size(), 2U);
  const auto& blocks = config.groups[0].blocks;
  ASSERT_EQ(blocks.size(), 3U);
  EXPECT_EQ(blocks[0].format.type, value_type::float32);
  EXPECT_EQ(blocks[0].format.order, word_order::cdab);
  EXPECT_EQ(std::get<double>(blocks[0].shape.value), 230.4);
  EXPECT_EQ(blocks[1].span(), 3U);
  EXPECT_EQ(blocks[1].shape.kind, profile_kind::counter);
  EXPECT_EQ(blocks[1].shape.tick, counter_tick::per_second);
  EXPECT_EQ(blocks[2].format.type, value_type::boolean);
  ASSERT_EQ(config.faults.size(), 3U);
  EXPECT_EQ(config.faults[0].exception_code, 2);
  EXPECT_EQ(config.faults[0].count, 2U);
  EXPECT_EQ(config.faults[1].kind, fault_kind::no_answer);
  EXPECT_FALSE(config.faults[2].unit.has_value());
  EXPECT_EQ(config.faults[2].delay, 250ms);
}

TEST(SimulatorConfig, ReadsAnRtuLine) {
  const auto config = load_sim_string(
      "rtu: { device: /dev/pts/9, baud: 19200, parity: E, stop_bits: 1 }\nunits: [ { id: 2 } ]\n", "sim.yaml");
  const auto& line = std::get<modbus_rtu_line>(config.link);
  EXPECT_EQ(line.device, "/dev/pts/9");
  EXPECT_EQ(line.baud, 19200U);
  EXPECT_EQ(line.parity, 'E');
}

TEST(SimulatorConfig, ReadsAnRtuOverTcpEndpoint) {
  const auto config = load_sim_string("rtu_tcp: { port: 15021 }\nunits: [ { id: 2 } ]\n", "sim.yaml");
  const auto& box = std::get<modbus_rtu_tcp_endpoint>(config.link);
  EXPECT_EQ(box.host, "127.0.0.1");
  EXPECT_EQ(box.port, 15021);
  EXPECT_THAT(error_of("tcp: { port: 1 }\nrtu_tcp: { port: 2 }\nunits: [ { id: 2 } ]\n"),
              HasSubstr("sim.yaml:2:10: give one of 'tcp', 'rtu' or 'rtu_tcp', not two"));
}

TEST(SimulatorConfig, ErrorsNameFileLineAndColumn) {
  EXPECT_EQ(error_of("tcp: { port: 1502 }\nunits:\n  - id: 1\n    colour: red\n"),
            "sim.yaml:4:5: unknown key 'colour' (expected one of: id, ids, registers)");
  EXPECT_THAT(error_of("tcp: { port: 1502 }\nunits:\n  - id: 1\n    registers:\n      - { table: input, address: 0, type: float33, value: 1 }\n"),
              HasSubstr("sim.yaml:5:43: type must be one of"));
  EXPECT_THAT(error_of("tcp: { port: 99999 }\nunits: [ { id: 1 } ]\n"), HasSubstr("sim.yaml:1:14: port must be between 1 and 65535"));
  EXPECT_THAT(error_of("units: [ { id: 1 } ]\n"), HasSubstr("sim.yaml:1:1: the simulator needs"));
  EXPECT_THAT(error_of("tcp: { port: 1502 }\nunits: [ { id: 1 }, { id: 1 } ]\n"), HasSubstr("sim.yaml:2:27: unit 1 is listed twice"));
  EXPECT_THAT(error_of("tcp: { port: 1502 }\nunits:\n - id: 1\n   registers:\n    - { table: holding, address: 0, type: int32, value: 1 }\n    - { table: holding, address: 1, value: 2 }\n"),
              HasSubstr("sim.yaml:6:7: overlaps the holding entry at line 5"));
  EXPECT_THAT(error_of("tcp: { port: 1502 }\nunits: [ { id: 1 } ]\nfaults: [ { unit: 1, exception: on_fire } ]\n"),
              HasSubstr("sim.yaml:3:33: unknown exception 'on_fire'"));
  EXPECT_THAT(error_of("tcp: { port: 1502 }\nunits: [ { id: 1 } ]\nfaults: [ { unit: 2, no_answer: true } ]\n"),
              HasSubstr("sim.yaml:3:19: unit 2 is not simulated"));
  EXPECT_THAT(error_of("tcp: { port: 1502 }\nunits:\n  - id: 1\n    registers:\n      - { table: input, address: 0, profile: sine, period: soon }\n"),
              HasSubstr("sim.yaml:5:60: period must be a duration"));
  EXPECT_THAT(error_of("tcp: { port: 1502 }\nunits: [ { id: 1 }\n"), HasSubstr("sim.yaml:3:1: end of sequence flow not found"));
}

// A constant the register cannot hold is refused at load, at its value,
// rather than failing when the first request reaches it.
TEST(SimulatorConfig, AConstantThatDoesNotFitItsTypeIsAFileError) {
  EXPECT_EQ(error_of("tcp: { port: 1502 }\nunits:\n  - id: 1\n    registers:\n      - { table: holding, address: 0, value: 70000 }\n"),
            "sim.yaml:5:46: value does not fit: out of range for uint16");
  EXPECT_EQ(error_of("tcp: { port: 1502 }\nunits:\n  - id: 1\n    registers:\n      - { table: holding, address: 0, value: 65535 }\n"),
            "no error");
}

TEST(SimulatorConfig, ParsesDurationsAndExceptionNames) {
  EXPECT_EQ(config::parse_duration("250ms").value, 250ms);
  EXPECT_EQ(config::parse_duration("2s").value, 2000ms);
  EXPECT_EQ(config::parse_duration("5m").value, 300'000ms);
  EXPECT_FALSE(config::parse_duration("5").value.has_value());
  EXPECT_FALSE(config::parse_duration("-1s").value.has_value());
  EXPECT_EQ(parse_exception_code("gateway_target_failed_to_respond"), 11);
  EXPECT_EQ(parse_exception_code("3"), 3);
  EXPECT_FALSE(parse_exception_code("12").has_value());
}

TEST(SimulatorFrames, RtuRequestSizesFollowTheFunctionCode) {
  const std::array<std::uint8_t, 8> read{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD};
  EXPECT_EQ(rtu_request_size(std::span(read).first(1)), 2U);
  EXPECT_EQ(rtu_request_size(read), 8U);
  const std::array<std::uint8_t, 7> write_head{0x11, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04};
  EXPECT_EQ(rtu_request_size(std::span(write_head).first(3)), 7U);
  EXPECT_EQ(rtu_request_size(write_head), 13U);
  const std::array<std::uint8_t, 2> unknown{0x01, 0x2B};
  EXPECT_EQ(rtu_request_size(unknown), 0U);
}

TEST(SimulatorFrames, CrcMatchesTheSpecificationExample) {
  // Modbus over serial line, 6.2.2: "01 03 00 00 00 0A" carries CRC C5 CD.
  const std::array<std::uint8_t, 6> frame{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A};
  const auto crc = crc16(frame);
  EXPECT_EQ(crc & 0xFF, 0xC5);
  EXPECT_EQ(crc >> 8, 0xCD);
}

TEST(SimulatorFrames, TcpFrameSizeComesFromTheMbapLength) {
  const std::array<std::uint8_t, 7> header{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01};
  EXPECT_EQ(tcp_frame_size(std::span(header).first(3)), 7U);
  EXPECT_EQ(tcp_frame_size(header), 12U);
  const std::array<std::uint8_t, 7> bad_protocol{0x00, 0x01, 0x00, 0x07, 0x00, 0x06, 0x01};
  EXPECT_EQ(tcp_frame_size(bad_protocol), 0U);
}

TEST(SimulatorFrames, ResponseSizesAndLineTiming) {
  const std::array<std::uint8_t, 8> read_ten{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD};
  EXPECT_EQ(rtu_response_size(read_ten, false), 25U);
  EXPECT_EQ(rtu_response_size(read_ten, true), 5U);
  const std::array<std::uint8_t, 8> coils{0x01, 0x01, 0x00, 0x00, 0x00, 0x0A, 0, 0};
  EXPECT_EQ(rtu_response_size(coils, false), 7U);
  modbus_rtu_line line;
  line.baud = 19200;  // 8N1: 10 bits a character
  EXPECT_EQ(rtu_character_time(line), std::chrono::nanoseconds{520'833});
  EXPECT_EQ(rtu_frame_gap(line), std::chrono::nanoseconds{520'833 * 7 / 2});
  line.parity = 'E';  // 8E1: 11 bits
  line.baud = 9600;
  EXPECT_EQ(rtu_character_time(line), std::chrono::nanoseconds{1'145'833});
  line.baud = 115200;
  EXPECT_EQ(rtu_frame_gap(line), std::chrono::microseconds{1750});
}

TEST(SimulatorProfiles, EvaluateOverTimeAndReads) {
  std::mt19937_64 random(1);
  profile counter;
  counter.kind = profile_kind::counter;
  counter.start = 10;
  counter.step = 2;
  EXPECT_EQ(std::get<double>(profile_value(counter, 0s, 0, random)), 10.0);
  EXPECT_EQ(std::get<double>(profile_value(counter, 5s, 3, random)), 16.0);
  counter.tick = counter_tick::per_second;
  EXPECT_EQ(std::get<double>(profile_value(counter, 2500ms, 0, random)), 14.0);

  profile ramp;
  ramp.kind = profile_kind::ramp;
  ramp.min = 0;
  ramp.max = 100;
  ramp.period = 10s;
  EXPECT_DOUBLE_EQ(std::get<double>(profile_value(ramp, 2500ms, 0, random)), 25.0);
  EXPECT_DOUBLE_EQ(std::get<double>(profile_value(ramp, 12500ms, 0, random)), 25.0);

  profile sine;
  sine.kind = profile_kind::sine;
  sine.amplitude = 10;
  sine.offset = 50;
  sine.period = 4s;
  EXPECT_NEAR(std::get<double>(profile_value(sine, 1s, 0, random)), 60.0, 1e-9);
  EXPECT_NEAR(std::get<double>(profile_value(sine, 3s, 0, random)), 40.0, 1e-9);

  profile noise;
  noise.kind = profile_kind::random;
  noise.min = 5;
  noise.max = 6;
  for (int i = 0; i < 100; ++i) {
    const auto v = std::get<double>(profile_value(noise, 0s, 0, random));
    EXPECT_GE(v, 5.0);
    EXPECT_LT(v, 6.0);
  }
}

TEST(SimulatorProfiles, WordsWrapIntegersAndToggleBits) {
  register_format int16;
  int16.type = value_type::int16;
  EXPECT_EQ(profile_words(32768.0, int16), std::vector<std::uint16_t>{0x8000});  // rolls over to -32768
  EXPECT_EQ(profile_words(-1.4, int16), std::vector<std::uint16_t>{0xFFFF});
  register_format uint32;
  uint32.type = value_type::uint32;
  EXPECT_EQ(profile_words(4294967296.0 + 5, uint32), (std::vector<std::uint16_t>{0x0000, 0x0005}));
  register_format flag;
  flag.type = value_type::boolean;
  EXPECT_EQ(profile_words(3.0, flag), std::vector<std::uint16_t>{1});
  EXPECT_EQ(profile_words(4.0, flag), std::vector<std::uint16_t>{0});
  register_format float32;
  float32.type = value_type::float32;
  float32.order = word_order::cdab;
  EXPECT_EQ(profile_words(230.4, float32), (std::vector<std::uint16_t>{0x6666, 0x4366}));
  register_format small;
  small.type = value_type::uint16;
  EXPECT_THROW(profile_words(std::int64_t{70000}, small), std::invalid_argument);
}

}  // namespace
}  // namespace fieldbridge::simulator
