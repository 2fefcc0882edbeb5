// The commissioning tools with --rtu-tcp against `fieldbridge simulate` in
// its own RTU-over-TCP mode (a serial device server with three units).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/core.h>

#include "network.hpp"
#include "tools_fixture.hpp"

namespace fieldbridge::test {
namespace {

using ::testing::HasSubstr;

class ToolsRtuTcp : public ::testing::Test {
 protected:
  std::string simfile() const {
    return fmt::format("rtu_tcp: {{ host: 127.0.0.1, port: {} }}\n", port_) +
           "units:\n"
           "  - ids: [1, 2, 3]\n"
           "    registers:\n"
           "      - { table: input, address: 0, type: float32, order: CDAB, value: 230.4 }\n"
           "      - { table: holding, address: 10, type: uint16, value: 500 }\n"
           "      - { table: coil, address: 3, value: false }\n"
           "faults:\n"
           "  - { unit: 3, table: holding, exception: illegal_data_value }\n";
  }
  command_result tool(const std::string& name, std::vector<std::string> args) const {
    args.insert(args.begin(), {name, "--rtu-tcp", fmt::format("127.0.0.1:{}", port_)});
    return fieldbridge(args);
  }

  std::uint16_t port_ = free_tcp_port();
};

TEST_F(ToolsRtuTcp, ReadWriteProbeAndScanThroughTheBox) {
  simulator_process sim(simfile());
  EXPECT_THAT(sim.log(), HasSubstr("(RTU over TCP) as units 1,2,3"));
  const auto voltage = tool("read", {"--unit", "2", "--table", "input", "--address", "0", "--type", "float32",
                                     "--order", "CDAB", "--raw"});
  EXPECT_EQ(voltage.exit_code, 0) << voltage.output << sim.log();
  EXPECT_THAT(voltage.output, HasSubstr("input 0 float32 CDAB: 230.4 [0x6666 0x4366]"));

  const auto setpoint = tool("write", {"--unit", "1", "--table", "holding", "--address", "10", "--value", "750"});
  EXPECT_EQ(setpoint.exit_code, 0) << setpoint.output;
  EXPECT_THAT(setpoint.output, HasSubstr("holding 10 uint16: wrote 750, read back 750"));
  const auto coil = tool("write", {"--unit", "1", "--table", "coil", "--address", "3", "--value", "true"});
  EXPECT_EQ(coil.exit_code, 0) << coil.output;
  EXPECT_THAT(coil.output, HasSubstr("wrote true, read back true"));

  const auto probe = tool("probe", {"--unit", "1", "--table", "input", "--address", "0", "--count", "2"});
  EXPECT_EQ(probe.exit_code, 0) << probe.output;
  EXPECT_THAT(probe.output, HasSubstr("float32"));

  const auto refused = tool("read", {"--unit", "3", "--table", "holding", "--address", "10"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("answered with Modbus exception 3 (illegal data value)"));

  const auto scan = tool("scan", {"--units", "1-5", "--timeout", "100ms"});
  EXPECT_EQ(scan.exit_code, 0) << scan.output;
  EXPECT_THAT(scan.output,
              HasSubstr(fmt::format("scan: 3 of 5 units answer at 127.0.0.1:{} (RTU over TCP): 1,2,3", port_)));
}

TEST_F(ToolsRtuTcp, NoBoxIsOneLineAndExitOne) {
  const auto result = tool("read", {"--unit", "1", "--table", "holding", "--address", "0", "--timeout", "200ms"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.output, HasSubstr(fmt::format("cannot talk to unit 1 at 127.0.0.1:{} (RTU over TCP)", port_)));
}

}  // namespace
}  // namespace fieldbridge::test
