// The commissioning tools (read, write, probe, scan) against `fieldbridge
// simulate` over Modbus TCP on loopback, and the simulator's own behaviour.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/core.h>

#include <sstream>

#include "network.hpp"
#include "tools_fixture.hpp"

namespace fieldbridge::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One value of each type, laid out in every order it has, four registers apart.
struct typed_value {
  std::string type;
  std::string yaml_value;  // as the SIMFILE says it
  std::string printed;     // as `fieldbridge read` prints it
  std::vector<std::string> orders;
  std::string extra;       // more keys (length for strings)
};

const std::vector<typed_value> typed_values = {
    {"int16", "-2", "-2", {"ABCD", "BADC"}, ""},
    {"uint16", "65534", "65534", {"ABCD", "BADC"}, ""},
    {"int32", "-123456", "-123456", {"ABCD", "CDAB", "BADC", "DCBA"}, ""},
    {"uint32", "3000000000", "3000000000", {"ABCD", "CDAB", "BADC", "DCBA"}, ""},
    {"int64", "-5000000000", "-5000000000", {"ABCD", "CDAB", "BADC", "DCBA"}, ""},
    {"uint64", "9007199254740993", "9007199254740993", {"ABCD", "CDAB", "BADC", "DCBA"}, ""},
    {"float32", "230.4", "230.4", {"ABCD", "CDAB", "BADC", "DCBA"}, ""},
    {"float64", "-1234.5678", "-1234.5678", {"ABCD", "CDAB", "BADC", "DCBA"}, ""},
    {"string", "FB-1000", "FB-1000", {"ABCD", "BADC"}, ", length: 4"},
};

std::string typed_registers(std::uint16_t base) {
  std::string yaml;
  std::uint16_t address = base;
  for (const auto& v : typed_values) {
    for (const auto& order : v.orders) {
      yaml += fmt::format("      - {{ table: holding, address: {}, type: {}, order: {}, value: \"{}\"{} }}\n", address,
                          v.type, order, v.yaml_value, v.extra);
      address += 4;
    }
  }
  return yaml;
}

class ToolsTcp : public ::testing::Test {
 protected:
  ToolsTcp() : port_(free_tcp_port()), endpoint_(fmt::format("127.0.0.1:{}", port_)) {}

  std::string simfile(const std::string& faults = "") const {
    return fmt::format("tcp: {{ host: 127.0.0.1, port: {} }}\n", port_) +
           "units:\n"
           "  - ids: [1, 2]\n"
           "    registers:\n" +
           typed_registers(100) +
           "      - { table: input, address: 0, profile: counter, per: read }\n"
           "      - { table: input, address: 1, value: 42 }\n"
           "      - { table: input, address: 2, type: float32, order: CDAB, value: 230.4 }\n"
           "      - { table: holding, address: 10, type: int16, value: 215 }\n"
           "      - { table: holding, address: 11, value: 4 }\n"
           "      - { table: holding, address: 20, type: float32, order: CDAB, value: 0 }\n"
           "      - { table: coil, address: 0, value: false }\n"
           "      - { table: coil, address: 1, value: true }\n"
           "      - { table: discrete, address: 5, value: true }\n"
           "  - id: 7\n"
           "    registers:\n"
           "      - { table: holding, address: 0, value: 7 }\n" +
           faults;
  }

  command_result read(std::vector<std::string> args) const { return tool("read", std::move(args)); }
  command_result tool(const std::string& name, std::vector<std::string> args) const {
    args.insert(args.begin(), {name, "--tcp", endpoint_});
    return fieldbridge(args);
  }

  std::uint16_t port_;
  std::string endpoint_;
};

TEST_F(ToolsTcp, ReadsEveryTypeInEveryOrder) {
  simulator_process sim(simfile());
  std::uint16_t address = 100;
  for (const auto& v : typed_values) {
    for (const auto& order : v.orders) {
      std::vector<std::string> args{"--unit", "1", "--table", "holding", "--address", std::to_string(address),
                                    "--type", v.type, "--order", order};
      if (v.type == "string") args.insert(args.end(), {"--length", "4"});
      const auto result = read(args);
      const bool one_register = v.type == "int16" || v.type == "uint16";
      const auto expected = fmt::format("holding {} {}{}: {}", address, v.type, one_register ? "" : " " + order,
                                        v.printed);
      EXPECT_EQ(result.exit_code, 0) << result.output;
      EXPECT_THAT(result.output, HasSubstr(expected)) << v.type << " " << order;
      address += 4;
    }
  }
}

TEST_F(ToolsTcp, RawShowsTheRegistersAsOnTheWire) {
  simulator_process sim(simfile());
  // 230.4 as an IEEE 754 float is 0x43666666; CDAB sends the low word first.
  const auto cdab = read({"--unit", "1", "--table", "input", "--address", "2", "--type", "float32", "--order", "CDAB", "--raw"});
  EXPECT_EQ(cdab.exit_code, 0) << cdab.output;
  EXPECT_THAT(cdab.output, HasSubstr("input 2 float32 CDAB: 230.4 [0x6666 0x4366]"));
  const auto abcd = read({"--unit", "1", "--table", "input", "--address", "2", "--type", "float32", "--raw"});
  EXPECT_THAT(abcd.output, HasSubstr("input 2 float32 ABCD: 2.7184") );
  EXPECT_THAT(abcd.output, HasSubstr("[0x6666 0x4366]"));
}

TEST_F(ToolsTcp, ReadsCoilsDiscreteInputsBitsScaleAndCounts) {
  simulator_process sim(simfile());
  auto coils = read({"--unit", "1", "--table", "coil", "--address", "0", "--count", "2"});
  EXPECT_EQ(coils.exit_code, 0) << coils.output;
  EXPECT_THAT(coils.output, HasSubstr("coil 0 bool: false\ncoil 1 bool: true"));
  auto discrete = read({"--unit", "1", "--table", "discrete", "--address", "5"});
  EXPECT_THAT(discrete.output, HasSubstr("discrete 5 bool: true"));
  auto bit = read({"--unit", "1", "--table", "holding", "--address", "11", "--bit", "2"});
  EXPECT_THAT(bit.output, HasSubstr("holding 11 bool bit 2: true"));
  auto other_bit = read({"--unit", "1", "--table", "holding", "--address", "11", "--bit", "1"});
  EXPECT_THAT(other_bit.output, HasSubstr("holding 11 bool bit 1: false"));
  auto scaled = read({"--unit", "1", "--table", "holding", "--address", "10", "--type", "int16", "--scale", "0.1"});
  EXPECT_THAT(scaled.output, HasSubstr("holding 10 int16: 21.5"));
}

TEST_F(ToolsTcp, WriteIsReadBackAndLoggedBySimulator) {
  simulator_process sim(simfile());
  const auto setpoint = tool("write", {"--unit", "1", "--table", "holding", "--address", "10", "--type", "int16",
                                       "--scale", "0.1", "--value", "22.5", "--max", "80"});
  EXPECT_EQ(setpoint.exit_code, 0) << setpoint.output;
  EXPECT_THAT(setpoint.output, HasSubstr("holding 10 int16: wrote 22.5, read back 22.5 [0x00E1]"));
  EXPECT_TRUE(wait_until([&] { return sim.count("simulate: write unit=1 fc=6 table=holding address=10 values=[225]") == 1; }))
      << sim.log();

  const auto pump = tool("write", {"--unit", "1", "--table", "coil", "--address", "0", "--value", "on"});
  EXPECT_EQ(pump.exit_code, 0) << pump.output;
  EXPECT_THAT(pump.output, HasSubstr("wrote true, read back true"));
  EXPECT_TRUE(wait_until([&] { return sim.count("fc=5 table=coil address=0 values=[1]") == 1; })) << sim.log();

  const auto wide = tool("write", {"--unit", "1", "--table", "holding", "--address", "20", "--type", "float32",
                                   "--order", "CDAB", "--value", "-12.25"});
  EXPECT_EQ(wide.exit_code, 0) << wide.output;
  EXPECT_THAT(wide.output, HasSubstr("read back -12.25 [0x0000 0xC144]"));
  EXPECT_TRUE(wait_until([&] { return sim.count("fc=16 table=holding address=20 values=[0, 49476]") == 1; })) << sim.log();

  // The write sticks: a later read sees it.
  const auto again = read({"--unit", "1", "--table", "holding", "--address", "10", "--type", "int16"});
  EXPECT_THAT(again.output, HasSubstr("holding 10 int16: 225"));
}

TEST_F(ToolsTcp, WriteRefusesValuesOutOfRangeWithoutTraffic) {
  simulator_process sim(simfile());
  const auto above = tool("write", {"--unit", "1", "--table", "holding", "--address", "10", "--type", "int16",
                                    "--value", "40000"});
  EXPECT_EQ(above.exit_code, 1);
  EXPECT_THAT(above.output, HasSubstr("fieldbridge write: 40000 refused: "));
  const auto over_max = tool("write", {"--unit", "1", "--table", "holding", "--address", "10", "--type", "int16",
                                       "--value", "81", "--max", "80"});
  EXPECT_EQ(over_max.exit_code, 1);
  EXPECT_THAT(over_max.output, HasSubstr("refused: above max 80"));
  const auto input = tool("write", {"--unit", "1", "--table", "input", "--address", "1", "--value", "1"});
  EXPECT_EQ(input.exit_code, 1);
  EXPECT_THAT(input.output, HasSubstr("read-only"));
  EXPECT_EQ(sim.count("simulate: write"), 0U) << sim.log();
}

TEST_F(ToolsTcp, ProbeShowsTheInterpretationToSpot) {
  simulator_process sim(simfile());
  const auto result = tool("probe", {"--unit", "1", "--table", "input", "--address", "0", "--count", "4"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("unit 1 input 0..3 (4 registers):"));
  // The row for address 2, float32: 230.4 stands in the CDAB column.
  std::istringstream lines(result.output);
  std::string line;
  bool found = false;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> columns;
    for (std::string w; words >> w;) columns.push_back(w);
    if (columns.size() == 6 && columns[0] == "2" && columns[1] == "float32") {
      found = true;
      EXPECT_EQ(columns[3], "230.4") << line;
      EXPECT_NE(columns[2], "230.4") << line;
    }
  }
  EXPECT_TRUE(found) << result.output;
  EXPECT_THAT(result.output, HasSubstr("uint16"));
  EXPECT_THAT(result.output, HasSubstr("float64"));
}

TEST_F(ToolsTcp, ScanFindsExactlyTheConfiguredUnits) {
  simulator_process sim(simfile());
  const auto result = tool("scan", {"--units", "1-9", "--timeout", "100ms"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr(fmt::format("scan: 3 of 9 units answer at {}: 1,2,7", endpoint_)));
  const auto none = tool("scan", {"--units", "3-4", "--timeout", "50ms"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.output, HasSubstr("no unit of 3-4 answers"));
}

TEST_F(ToolsTcp, ExceptionsAreNamedAndExitOne) {
  simulator_process sim(simfile("faults:\n  - { unit: 2, table: holding, address: 10, exception: server_device_busy }\n"));
  const auto outside = read({"--unit", "1", "--table", "holding", "--address", "9000"});
  EXPECT_EQ(outside.exit_code, 1);
  EXPECT_THAT(outside.output, HasSubstr("answered with Modbus exception 2 (illegal data address)"));
  const auto busy = read({"--unit", "2", "--table", "holding", "--address", "10"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.output, HasSubstr("unit 2 at " + endpoint_ + " answered with Modbus exception 6 (server device busy)"));
  const auto other_unit = read({"--unit", "1", "--table", "holding", "--address", "10"});
  EXPECT_EQ(other_unit.exit_code, 0) << other_unit.output;
}

TEST_F(ToolsTcp, SilenceAndDelaysAreTimeOuts) {
  simulator_process sim(simfile("faults:\n  - { unit: 2, delay: 400ms }\n  - { unit: 7, no_answer: true }\n"));
  const auto absent = read({"--unit", "3", "--table", "holding", "--address", "0", "--timeout", "100ms"});
  EXPECT_EQ(absent.exit_code, 1);
  EXPECT_THAT(absent.output, HasSubstr("no answer from unit 3 at " + endpoint_ + " within 100ms (time-out)"));
  const auto mute = read({"--unit", "7", "--table", "holding", "--address", "0", "--timeout", "100ms"});
  EXPECT_EQ(mute.exit_code, 1);
  EXPECT_THAT(mute.output, HasSubstr("(time-out)"));
  const auto late = read({"--unit", "2", "--table", "holding", "--address", "10", "--timeout", "100ms"});
  EXPECT_EQ(late.exit_code, 1);
  EXPECT_THAT(late.output, HasSubstr("(time-out)"));
  const auto patient = read({"--unit", "2", "--table", "holding", "--address", "10", "--timeout", "3s"});
  EXPECT_EQ(patient.exit_code, 0) << patient.output;
  EXPECT_THAT(patient.output, HasSubstr("holding 10 uint16: 215"));
}

TEST_F(ToolsTcp, UnreachableEndpointIsOneLine) {
  const auto result = read({"--unit", "1", "--table", "holding", "--address", "0", "--timeout", "200ms"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.output, HasSubstr("fieldbridge read: cannot talk to unit 1 at " + endpoint_));
}

TEST_F(ToolsTcp, CounterIncrementsPerReadAndConstantsStay) {
  simulator_process sim(simfile());
  for (int i = 0; i < 3; ++i) {
    const auto counter = read({"--unit", "1", "--table", "input", "--address", "0"});
    EXPECT_THAT(counter.output, HasSubstr(fmt::format("input 0 uint16: {}\n", i)));
    const auto constant = read({"--unit", "1", "--table", "input", "--address", "1"});
    EXPECT_THAT(constant.output, HasSubstr("input 1 uint16: 42\n"));
  }
}

TEST_F(ToolsTcp, SighupReloadsTheFaults) {
  simulator_process sim(simfile());
  EXPECT_EQ(read({"--unit", "1", "--table", "holding", "--address", "10"}).exit_code, 0);
  sim.reload(simfile("faults:\n  - { unit: 1, exception: illegal_function }\n"));
  const auto faulted = read({"--unit", "1", "--table", "holding", "--address", "10"});
  EXPECT_EQ(faulted.exit_code, 1);
  EXPECT_THAT(faulted.output, HasSubstr("Modbus exception 1 (illegal function)"));
  sim.reload(simfile());
  EXPECT_EQ(read({"--unit", "1", "--table", "holding", "--address", "10"}).exit_code, 0);
}

TEST_F(ToolsTcp, AnIdleConnectionDoesNotBlockOthers) {
  simulator_process sim(simfile());
  // A client that connects and sends half a frame must not hold up the next one.
  const int idle = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(idle, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(idle, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  const unsigned char half_frame[] = {0x00, 0x01, 0x00};
  ASSERT_EQ(::send(idle, half_frame, sizeof half_frame, 0), 3);
  const auto result = read({"--unit", "1", "--table", "input", "--address", "1", "--timeout", "1s"});
  ::close(idle);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("input 1 uint16: 42"));
}

TEST_F(ToolsTcp, SimulatorStopsCleanlyOnSigterm) {
  simulator_process sim(simfile());
  EXPECT_EQ(sim.process().stop(5s), 0);
  EXPECT_THAT(sim.log(), HasSubstr("simulate: stopped"));
}

TEST(ToolsSimulateConfig, ErrorsGiveFileLineColumn) {
  temp_dir dir("fieldbridge-sim");
  const auto file = dir.write_file("bad.yaml", "tcp: { port: 1502 }\nunits:\n  - id: 1\n    colour: red\n");
  const auto result = fieldbridge({"simulate", "-c", file.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.output, HasSubstr(file.string() + ":4:5: unknown key 'colour'"));
  const auto missing = fieldbridge({"simulate", "-c", (dir / "none.yaml").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("none.yaml:1:1: cannot open the file"));
}

TEST(ToolsHelp, EverySubcommandExplainsItself) {
  for (const std::string command : {"read", "write", "probe", "scan", "simulate"}) {
    const auto result = fieldbridge({command, "--help"});
    EXPECT_EQ(result.exit_code, 0) << command;
    EXPECT_THAT(result.output, HasSubstr("Example")) << command;
  }
  const auto usage = fieldbridge({"read", "--unit", "1", "--table", "holding", "--address", "0"});
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  const auto both = fieldbridge({"read", "--tcp", "127.0.0.1", "--rtu", "/dev/null", "--baud", "9600", "--unit", "1",
                                 "--table", "holding", "--address", "0"});
  EXPECT_EQ(both.exit_code, 2) << both.output;
}

}  // namespace
}  // namespace fieldbridge::test
