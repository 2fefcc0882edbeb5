// The commissioning tools against `fieldbridge simulate` on Modbus RTU over a
// socat pty pair, paced like a 19200 baud line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/core.h>

#include "pty_pair.hpp"
#include "tools_fixture.hpp"

namespace fieldbridge::test {
namespace {

using ::testing::HasSubstr;

class ToolsRtu : public ::testing::Test {
 protected:
  std::string simfile() const {
    return fmt::format("rtu: {{ device: {}, baud: 19200, parity: E }}\n", line_.device_end()) +
           "units:\n"
           "  - ids: [1, 3]\n"
           "    registers:\n"
           "      - { table: input, address: 0, type: float32, order: DCBA, value: 230.4 }\n"
           "      - { table: input, address: 2, type: int32, order: CDAB, value: -1 }\n"
           "      - { table: holding, address: 10, type: uint16, value: 500 }\n"
           "      - { table: coil, address: 3, value: false }\n"
           "faults:\n"
           "  - { unit: 3, table: holding, exception: illegal_data_value }\n";
  }

  command_result tool(const std::string& name, std::vector<std::string> args) const {
    args.insert(args.begin(), {name, "--rtu", line_.gateway_end(), "--baud", "19200", "--parity", "E"});
    return fieldbridge(args);
  }

  pty_pair line_;
};

TEST_F(ToolsRtu, ReadsTypesInTheirOrders) {
  simulator_process sim(simfile());
  const auto voltage = tool("read", {"--unit", "1", "--table", "input", "--address", "0", "--type", "float32",
                                     "--order", "DCBA", "--raw"});
  EXPECT_EQ(voltage.exit_code, 0) << voltage.output << sim.log();
  // DCBA: the bytes of 0x43666666 in reverse.
  EXPECT_THAT(voltage.output, HasSubstr("input 0 float32 DCBA: 230.4 [0x6666 0x6643]"));
  const auto minus_one = tool("read", {"--unit", "3", "--table", "input", "--address", "2", "--type", "int32",
                                       "--order", "CDAB"});
  EXPECT_EQ(minus_one.exit_code, 0) << minus_one.output;
  EXPECT_THAT(minus_one.output, HasSubstr("input 2 int32 CDAB: -1"));
}

TEST_F(ToolsRtu, WritesAreReadBack) {
  simulator_process sim(simfile());
  const auto setpoint = tool("write", {"--unit", "1", "--table", "holding", "--address", "10", "--value", "750"});
  EXPECT_EQ(setpoint.exit_code, 0) << setpoint.output << sim.log();
  EXPECT_THAT(setpoint.output, HasSubstr("holding 10 uint16: wrote 750, read back 750"));
  const auto coil = tool("write", {"--unit", "1", "--table", "coil", "--address", "3", "--value", "true",
                                   "--force-multiple"});
  EXPECT_EQ(coil.exit_code, 0) << coil.output;
  EXPECT_TRUE(wait_until([&] { return sim.count("fc=15 table=coil address=3 values=[1]") == 1; })) << sim.log();
}

TEST_F(ToolsRtu, ScanFindsTheUnitsOnTheLine) {
  simulator_process sim(simfile());
  const auto result = tool("scan", {"--units", "1-4", "--timeout", "100ms"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("scan: 2 of 4 units answer at " + line_.gateway_end() + " at 19200 8E1: 1,3"));
}

TEST_F(ToolsRtu, ExceptionsAndSilenceExitOne) {
  simulator_process sim(simfile());
  const auto refused = tool("read", {"--unit", "3", "--table", "holding", "--address", "10"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("answered with Modbus exception 3 (illegal data value)"));
  const auto silent = tool("read", {"--unit", "2", "--table", "holding", "--address", "10", "--timeout", "100ms"});
  EXPECT_EQ(silent.exit_code, 1);
  EXPECT_THAT(silent.output, HasSubstr("no answer from unit 2 at " + line_.gateway_end()));
  EXPECT_THAT(silent.output, HasSubstr("(time-out)"));
  // The line still serves after the silence.
  EXPECT_EQ(tool("read", {"--unit", "1", "--table", "holding", "--address", "10"}).exit_code, 0);
}

TEST_F(ToolsRtu, SimulatorReopensALineThatCameBack) {
  simulator_process sim(simfile());
  EXPECT_EQ(tool("read", {"--unit", "1", "--table", "holding", "--address", "10"}).exit_code, 0);
  line_.stop();  // the adapter is unplugged...
  EXPECT_TRUE(wait_until([&] { return sim.count("reopening") == 1; })) << sim.log();
  line_.start();  // ...and plugged in again
  EXPECT_TRUE(wait_until([&] { return sim.count("simulate: reopened") == 1; })) << sim.log();
  const auto result = tool("read", {"--unit", "1", "--table", "holding", "--address", "10"});
  EXPECT_EQ(result.exit_code, 0) << result.output << sim.log();
  EXPECT_THAT(result.output, HasSubstr("holding 10 uint16: 500"));
}

}  // namespace
}  // namespace fieldbridge::test
