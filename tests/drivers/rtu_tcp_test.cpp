// Modbus RTU over TCP (serial device servers). Component tests of the link
// against a scripted box (bad CRC, late answers, split and noisy frames, a
// closed connection), and system tests of the bus against `fieldbridge
// simulate` on an RTU pty pair with `socat TCP-LISTEN` as the device server,
// as in the field: every type and order, writes read back, three units on
// one socket beside a unit that never answers, the box restarting.
#include <gtest/gtest.h>

#include <fmt/core.h>

#include "bus_fixture.hpp"
#include "fieldbridge/drivers/modbus_bus.hpp"
#include "fieldbridge/drivers/modbus_link.hpp"
#include "network.hpp"
#include "process.hpp"
#include "pty_pair.hpp"
#include "rtu_box_fake.hpp"
#include "tools_fixture.hpp"

namespace fieldbridge::test {
namespace {

using drivers::modbus_errc;
using H = register_table;
using T = value_type;
using O = word_order;
using bytes = std::vector<std::uint8_t>;

drivers::modbus_link box_link(std::uint16_t port, milliseconds timeout) {
  return drivers::modbus_link(modbus_rtu_tcp_endpoint{"127.0.0.1", port}, {timeout, 0ms, 0ms});
}

TEST(rtu_tcp_link, reads_and_writes_through_the_box) {
  rtu_box_fake box([](const bytes& request, std::size_t) {
    if (request[1] == 6) return box_step{{request}};  // FC06 echoes the request
    return box_step{{rtu_box_fake::answer(request, {0x0102, 0x0304})}};
  });
  auto link = box_link(box.port(), 500ms);
  std::vector<std::uint16_t> words;
  ASSERT_FALSE(link.read(1, H::holding_register, 0, 2, words));
  EXPECT_EQ(words, (std::vector<std::uint16_t>{0x0102, 0x0304}));
  EXPECT_FALSE(link.write(1, H::holding_register, 5, std::vector<std::uint16_t>{7}, false));
  EXPECT_EQ(link.requests(), 2U);
}

TEST(rtu_tcp_link, the_round_trip_of_the_last_answer_is_kept_across_a_time_out) {
  // The first answer comes after 40 ms, the second never (a time-out).
  rtu_box_fake box([](const bytes& request, std::size_t index) {
    if (index == 1) return box_step{{}, 0ms};
    return box_step{{rtu_box_fake::answer(request, {1})}, 40ms};
  });
  auto link = box_link(box.port(), 150ms);
  EXPECT_EQ(link.last_round_trip(), 0us);
  std::vector<std::uint16_t> words;
  ASSERT_FALSE(link.read(1, H::holding_register, 0, 1, words));
  const auto first = link.last_round_trip();
  EXPECT_GE(first, 40ms);
  EXPECT_EQ(link.read(1, H::holding_register, 0, 1, words), modbus_errc::timeout);
  EXPECT_EQ(link.last_round_trip(), first);
}

TEST(rtu_tcp_link, a_split_answer_after_noise_is_assembled) {
  rtu_box_fake box([](const bytes& request, std::size_t) {
    const auto answer = rtu_box_fake::answer(request, {42});
    return box_step{{bytes{0x00, 0xFF}, bytes(answer.begin(), answer.begin() + 3), bytes(answer.begin() + 3, answer.end())},
                    0ms, 20ms};
  });
  auto link = box_link(box.port(), 1s);
  std::vector<std::uint16_t> words;
  ASSERT_FALSE(link.read(9, H::input_register, 3, 1, words));
  EXPECT_EQ(words, (std::vector<std::uint16_t>{42}));
}

TEST(rtu_tcp_link, a_bad_crc_is_a_crc_error_and_the_next_request_works) {
  rtu_box_fake box([](const bytes& request, std::size_t index) {
    auto answer = rtu_box_fake::answer(request, {static_cast<std::uint16_t>(index)});
    if (index == 0) answer.back() ^= 0x5A;
    return box_step{{answer}};
  });
  auto link = box_link(box.port(), 300ms);
  std::vector<std::uint16_t> words;
  EXPECT_EQ(link.read(1, H::holding_register, 0, 1, words), modbus_errc::crc_error);
  ASSERT_FALSE(link.read(1, H::holding_register, 0, 1, words));
  EXPECT_EQ(words, (std::vector<std::uint16_t>{1}));
  EXPECT_TRUE(link.is_open()) << "a garbled frame is not a link failure";
}

TEST(rtu_tcp_link, a_late_answer_is_never_taken_for_the_next_request) {
  // The first answer comes 300 ms late, past the 200 ms time-out, and lands
  // while the next request (another unit) waits, just before that request's
  // own answer (the box answers in order). Then a read of another length from
  // the same unit. Each gets its own answer.
  rtu_box_fake box([](const bytes& request, std::size_t index) {
    if (index == 0) return box_step{{rtu_box_fake::answer(request, {0xDEAD})}, 300ms};
    const std::uint16_t count = static_cast<std::uint16_t>((request[4] << 8) | request[5]);
    std::vector<std::uint16_t> words(count, static_cast<std::uint16_t>(request[0] * 100 + index));
    return box_step{{rtu_box_fake::answer(request, words)}, 0ms};
  });
  auto link = box_link(box.port(), 200ms);
  std::vector<std::uint16_t> words;
  EXPECT_EQ(link.read(1, H::holding_register, 0, 1, words), modbus_errc::timeout);
  ASSERT_FALSE(link.read(2, H::holding_register, 0, 1, words));
  EXPECT_EQ(words, (std::vector<std::uint16_t>{201}));
  ASSERT_FALSE(link.read(1, H::holding_register, 0, 2, words));
  EXPECT_EQ(words, (std::vector<std::uint16_t>{102, 102}));
  // By now the late answer has come and gone: the same request again gets its own.
  ASSERT_TRUE(wait_until([&] { return box.requests() >= 3; }));
  ASSERT_FALSE(link.read(1, H::holding_register, 0, 1, words));
  EXPECT_EQ(words, (std::vector<std::uint16_t>{103}));
}

TEST(rtu_tcp_link, exceptions_are_named_and_a_closed_box_is_a_link_failure) {
  rtu_box_fake box([](const bytes& request, std::size_t index) {
    if (index == 1) return box_step{{}, 0ms, 0ms, true};
    bytes exception{request[0], static_cast<std::uint8_t>(request[1] | 0x80), 0x02};
    const auto crc = drivers::crc16(exception);
    exception.push_back(static_cast<std::uint8_t>(crc & 0xFF));
    exception.push_back(static_cast<std::uint8_t>(crc >> 8));
    return box_step{{exception}};
  });
  auto link = box_link(box.port(), 300ms);
  std::vector<std::uint16_t> words;
  EXPECT_EQ(link.read(1, H::holding_register, 0, 1, words), modbus_errc::illegal_data_address);
  const auto closed = link.read(1, H::holding_register, 0, 1, words);
  EXPECT_TRUE(drivers::is_link_failure(closed)) << closed.message();
  EXPECT_FALSE(link.is_open());
  // The next request reconnects.
  EXPECT_EQ(link.read(1, H::holding_register, 0, 1, words), modbus_errc::illegal_data_address);
  EXPECT_EQ(box.connections(), 2U);
}

TEST(rtu_tcp_link, nothing_listening_is_a_link_failure) {
  auto link = box_link(free_tcp_port(), 200ms);
  std::vector<std::uint16_t> words;
  const auto ec = link.read(1, H::holding_register, 0, 1, words);
  EXPECT_TRUE(drivers::is_link_failure(ec)) << ec.message();
}

// The field's topology: the simulator on one end of an RTU pty pair, socat
// listening on TCP and forwarding raw bytes to the other end, as a serial
// device server does. Without `fork`, socat serves one connection, as most
// boxes do, and stopping it by pid is the box restarting.
class rtu_tcp_box : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = free_tcp_port();
    start_box();
  }
  void start_box() {
    box_ = child_process({"socat", "-d", "-d", "TCP-LISTEN:" + std::to_string(port_) + ",bind=127.0.0.1,reuseaddr",
                          "FILE:" + line_.gateway_end() + ",raw,echo=0"},
                         dir_.path() / "socat.log");
    // Not a probe connection: socat without fork would serve the probe and exit.
    ASSERT_TRUE(wait_until([&] { return box_.log().find("listening on") != std::string::npos; }, 10s))
        << box_.log();
  }
  std::string simfile() const {
    return fmt::format("rtu: {{ device: {}, baud: 115200 }}\n", line_.device_end()) +
           "units:\n"
           "  - ids: [1, 2, 3]\n"
           "    registers:\n"
           "      - { table: holding, address: 0, type: float32, order: ABCD, value: 230.4 }\n"
           "      - { table: holding, address: 2, type: float32, order: CDAB, value: 230.4 }\n"
           "      - { table: holding, address: 4, type: float32, order: BADC, value: 230.4 }\n"
           "      - { table: holding, address: 6, type: float32, order: DCBA, value: 230.4 }\n"
           "      - { table: holding, address: 8, type: int32, order: CDAB, value: -5 }\n"
           "      - { table: holding, address: 10, type: uint64, order: DCBA, value: 9007199254740992 }\n"
           "      - { table: holding, address: 14, type: float64, order: BADC, value: 1.5 }\n"
           "      - { table: holding, address: 18, type: int16, value: -2 }\n"
           "      - { table: holding, address: 19, type: uint16, value: 500 }\n"
           "      - { table: holding, address: 20, type: int64, order: ABCD, value: -7 }\n"
           "      - { table: input, address: 0, type: uint32, order: CDAB, value: 70000 }\n"
           "      - { table: coil, address: 0, value: true }\n"
           "      - { table: discrete, address: 5, value: true }\n";
  }
  bus_spec spec(std::vector<device_spec> devices, milliseconds timeout = 150ms) {
    return make_bus_spec("box", modbus_rtu_tcp_endpoint{"127.0.0.1", port_}, timeout, std::move(devices));
  }
  std::unique_ptr<drivers::modbus_bus> make(bus_spec s) {
    return std::make_unique<drivers::modbus_bus>(std::move(s), loop_.context.get_executor(), collected_.handlers(),
                                                 make_null_logger(), drivers::backoff_policy{100ms, 400ms});
  }

  temp_dir dir_{"fieldbridge-box"};
  pty_pair line_;
  std::uint16_t port_ = 0;
  child_process box_;
  event_loop loop_;
  collector collected_;
};

TEST_F(rtu_tcp_box, decodes_every_type_and_order_and_reads_writes_back) {
  simulator_process sim(simfile());
  std::vector<point_spec> points = {
      make_point("f_abcd", H::holding_register, 0, T::float32, O::abcd),
      make_point("f_cdab", H::holding_register, 2, T::float32, O::cdab),
      make_point("f_badc", H::holding_register, 4, T::float32, O::badc),
      make_point("f_dcba", H::holding_register, 6, T::float32, O::dcba),
      make_point("i32", H::holding_register, 8, T::int32, O::cdab),
      make_point("u64", H::holding_register, 10, T::uint64, O::dcba),
      make_point("d_badc", H::holding_register, 14, T::float64, O::badc),
      make_point("i16", H::holding_register, 18, T::int16),
      make_point("u16", H::holding_register, 19, T::uint16),
      make_point("i64", H::holding_register, 20, T::int64),
      make_point("u32", H::input_register, 0, T::uint32, O::cdab),
      make_point("coil", H::coil, 0, T::boolean),
      make_point("discrete", H::discrete_input, 5, T::boolean),
  };
  points[8].writable = true;
  points[11].writable = true;
  auto bus = make(spec({make_device("meter", 2, 50ms, points)}));
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.readings.size() >= points.size(); })) << sim.log();
  const auto value = [&](const std::string& name) {
    const auto r = collected_.latest("meter", name);
    EXPECT_TRUE(r && r->q == quality::good) << name << (r ? " " + r->error : "");
    return r ? r->value : point_value{};
  };
  for (const char* name : {"f_abcd", "f_cdab", "f_badc", "f_dcba"}) {
    EXPECT_EQ(static_cast<float>(std::get<double>(value(name))), 230.4F) << name;
  }
  EXPECT_EQ(value("i32"), point_value{std::int64_t{-5}});
  EXPECT_EQ(value("u64"), point_value{std::uint64_t{1} << 53});
  EXPECT_EQ(value("d_badc"), point_value{1.5});
  EXPECT_EQ(value("i16"), point_value{std::int64_t{-2}});
  EXPECT_EQ(value("u16"), point_value{std::uint64_t{500}});
  EXPECT_EQ(value("i64"), point_value{std::int64_t{-7}});
  EXPECT_EQ(value("u32"), point_value{std::uint64_t{70000}});
  EXPECT_EQ(value("coil"), point_value{true});
  EXPECT_EQ(value("discrete"), point_value{true});

  std::vector<drivers::write_result> results;
  bus->write("meter", "u16", point_value{std::uint64_t{750}}, [&](drivers::write_result r) { results.push_back(r); });
  bus->write("meter", "coil", point_value{false}, [&](drivers::write_result r) { results.push_back(r); });
  ASSERT_TRUE(loop_.run_until([&] { return results.size() == 2; })) << sim.log();
  EXPECT_TRUE(results[0].ok) << results[0].error;
  EXPECT_EQ(results[0].value, point_value{std::uint64_t{750}});
  EXPECT_TRUE(results[1].ok) << results[1].error;
  EXPECT_EQ(results[1].value, point_value{false});
  bus->stop();
}

TEST_F(rtu_tcp_box, three_units_share_the_socket_beside_one_that_never_answers) {
  simulator_process sim(simfile());
  const auto interval = 250ms;
  std::vector<device_spec> devices;
  for (std::uint8_t unit : {1, 2, 3, 4}) {
    devices.push_back(make_device(fmt::format("u{}", unit), unit, interval,
                                  {make_point("v", H::holding_register, 19, T::uint16)}));
  }
  auto bus = make(spec(devices, 80ms));
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.status("u4") == false; })) << sim.log();
  // Measure the live units' period once the dead one is offline.
  const auto polls = [&](std::size_t i) { return bus->counters().at(i).second.polls; };
  const std::uint64_t before[3] = {polls(0), polls(1), polls(2)};
  const auto window = 2500ms;
  loop_.run_for(window);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto done = polls(i) - before[i];
    const auto expected = static_cast<double>(window / interval);
    EXPECT_GE(static_cast<double>(done), expected * 0.9) << "unit " << i + 1 << " kept its period";
    EXPECT_LE(static_cast<double>(done), expected * 1.1 + 1) << "unit " << i + 1;
    EXPECT_EQ(collected_.status(fmt::format("u{}", i + 1)), true);
    const auto r = collected_.latest(fmt::format("u{}", i + 1), "v");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->value, point_value{std::uint64_t{500}});
  }
  EXPECT_EQ(collected_.count("u4", "v", quality::good), 0U) << "no other unit's answer was taken for u4's";
  bus->stop();
}

TEST_F(rtu_tcp_box, the_box_restarting_takes_the_devices_offline_and_back) {
  simulator_process sim(simfile());
  auto bus = make(spec({make_device("meter", 1, 50ms, {make_point("v", H::holding_register, 19, T::uint16)})}));
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.status("meter") == true; })) << sim.log();
  box_.stop(2s);
  ASSERT_TRUE(loop_.run_until([&] { return collected_.status("meter") == false; }));
  const auto good_before = collected_.count("meter", "v", quality::good);
  start_box();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.status("meter") == true; })) << box_.log();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.count("meter", "v", quality::good) > good_before; }));
  bus->stop();
}

}  // namespace
}  // namespace fieldbridge::test
