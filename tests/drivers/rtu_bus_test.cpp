// Modbus RTU through a socat pty pair (started and stopped by the test by
// pid) with an in-process libmodbus RTU server on the device end; and the
// text-line sensor bus on a pty.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "bus_fixture.hpp"
#include "fieldbridge/drivers/modbus_bus.hpp"
#include "fieldbridge/drivers/modbus_link.hpp"
#include "fieldbridge/drivers/serial_line.hpp"
#include "modbus_test_server.hpp"
#include "process.hpp"
#include "pty_pair.hpp"

namespace fieldbridge::test {
namespace {

using H = register_table;
using T = value_type;

modbus_rtu_line rtu_line(const std::string& device) {
  modbus_rtu_line line;
  line.device = device;
  line.baud = 115200;
  return line;
}

TEST(rtu_bus, decodes_writes_and_survives_the_line_vanishing) {
  pty_pair pty;
  auto server = modbus_test_server::rtu(pty.device_end(), 115200, 1);
  server->set(H::input_register, 0, {0x6666, 0x4366});
  server->set(H::holding_register, 10, {0});
  auto voltage = make_point("voltage", H::input_register, 0, T::float32, word_order::cdab);
  auto setpoint = make_point("setpoint", H::holding_register, 10, T::int16);
  setpoint.writable = true;
  auto device = make_device("meter", 1, 30ms, {voltage, setpoint});
  device.offline_after_failures = 2;

  event_loop loop;
  collector collected;
  const auto fds_before = open_fds();
  auto bus = std::make_unique<drivers::modbus_bus>(
      make_bus_spec("rs485", rtu_line(pty.gateway_end()), 100ms, {device}), loop.context.get_executor(),
      collected.handlers(), make_null_logger(), drivers::backoff_policy{50ms, 200ms});
  bus->start();
  ASSERT_TRUE(loop.run_until([&] { return collected.count("meter", "voltage", quality::good) >= 2; }));
  EXPECT_EQ(static_cast<float>(std::get<double>(collected.latest("meter", "voltage")->value)), 230.4F);

  std::optional<drivers::write_result> result;
  bus->write("meter", "setpoint", std::int64_t{-5}, [&](drivers::write_result r) { result = std::move(r); });
  ASSERT_TRUE(loop.run_until([&] { return result.has_value(); }));
  EXPECT_TRUE(result->ok) << result->error;
  EXPECT_EQ(result->value, point_value{std::int64_t{-5}});
  EXPECT_EQ(server->get(H::holding_register, 10, 1), std::vector<std::uint16_t>{0xFFFB});

  // Unplug: the pty links vanish; the device goes offline.
  pty.stop();
  ASSERT_TRUE(loop.run_until([&] { return collected.status("meter") == false; }));
  const auto bad = collected.count("meter", "voltage", quality::bad);
  EXPECT_GT(bad, 0U);
  // Plug back in: the link is reopened and readings are good again.
  pty.start();
  server->set(H::input_register, 0, {0, 0x4120});  // 10.0 in CDAB
  ASSERT_TRUE(loop.run_until([&] {
    const auto r = collected.latest("meter", "voltage");
    return r && r->q == quality::good && r->value == point_value{10.0} && collected.status("meter") == true;
  }));
  bus->stop();
  bus.reset();
  EXPECT_EQ(open_fds(), fds_before);
}

TEST(rtu_bus, a_dead_unit_on_the_line_does_not_slow_the_live_one) {
  pty_pair pty;
  auto server = modbus_test_server::rtu(pty.device_end(), 115200, 1);  // unit 2 never answers
  const std::vector<device_spec> devices = {
      make_device("live", 1, 100ms, {make_point("v", H::holding_register, 0, T::uint16)}),
      make_device("dead", 2, 100ms, {make_point("v", H::holding_register, 0, T::uint16)})};
  event_loop loop;
  collector collected;
  drivers::modbus_bus bus(make_bus_spec("rs485", rtu_line(pty.gateway_end()), 50ms, devices),
                          loop.context.get_executor(), collected.handlers(), make_null_logger(),
                          drivers::backoff_policy{400ms, 800ms});
  bus.start();
  constexpr std::size_t polls = 16;
  ASSERT_TRUE(loop.run_until([&] { return collected.count("live", "v", quality::good) >= polls; }));
  bus.stop();
  std::vector<wall_clock::time_point> stamps;
  for (const auto& r : collected.readings) {
    if (r.device == "live") stamps.push_back(r.ts);
  }
  stamps.resize(polls);
  const auto mean = std::chrono::duration<double, std::milli>(stamps.back() - stamps.front()).count() /
                    static_cast<double>(polls - 1);
  std::printf("rtu live unit: mean period %.2f ms over %zu polls\n", mean, polls);
  EXPECT_NEAR(mean, 100.0, 10.0);
  EXPECT_EQ(collected.status("dead"), false);
  EXPECT_GE(bus.counters().at(1).second.timeouts, 3U);
}

TEST(rtu_bus, crc_errors_mark_readings_bad_and_are_counted) {
  pty_pair pty;
  auto server = modbus_test_server::rtu(pty.device_end(), 115200, 1);
  server->set(H::holding_register, 0, {42});
  event_loop loop;
  collector collected;
  drivers::modbus_bus bus(
      make_bus_spec("rs485", rtu_line(pty.gateway_end()), 100ms,
                    {make_device("meter", 1, 20ms, {make_point("v", H::holding_register, 0, T::uint16)})}),
      loop.context.get_executor(), collected.handlers(), make_null_logger(), drivers::backoff_policy{50ms, 100ms});
  server->set_corrupt_answers(true);
  bus.start();
  ASSERT_TRUE(loop.run_until([&] { return collected.count("meter", "v", quality::bad) >= 2; }));
  EXPECT_EQ(collected.latest("meter", "v")->error, "CRC error");
  server->set_corrupt_answers(false);
  ASSERT_TRUE(loop.run_until([&] {
    const auto r = collected.latest("meter", "v");
    return r && r->q == quality::good && r->value == point_value{std::uint64_t{42}};
  }));
  bus.stop();
  const auto counters = bus.counters().at(0).second;
  EXPECT_GE(counters.errors, 2U);
  EXPECT_EQ(counters.timeouts, 0U);
}

TEST(rtu_link, rs485_mode_on_a_line_that_cannot_do_it_is_a_clear_error) {
  pty_pair pty;
  auto line = rtu_line(pty.gateway_end());
  line.rs485 = true;
  drivers::modbus_link link(line, {});
  const auto ec = link.open();
  EXPECT_EQ(ec, drivers::modbus_errc::rs485_unsupported);
  EXPECT_EQ(ec.message(), "the serial port does not support RS-485 mode");
  EXPECT_FALSE(link.is_open());
}

TEST(rtu_link, a_missing_serial_device_is_a_link_failure) {
  drivers::modbus_link link(rtu_line("/nonexistent/ttyUSB9"), {});
  const auto ec = link.open();
  EXPECT_TRUE(ec);
  EXPECT_TRUE(drivers::is_link_failure(ec));
}

// The device end of a pty, written to as a sensor would.
class sensor_end {
 public:
  explicit sensor_end(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_NOCTTY)) {}
  ~sensor_end() {
    if (fd_ != -1) ::close(fd_);
  }
  sensor_end(const sensor_end&) = delete;
  sensor_end& operator=(const sensor_end&) = delete;
  bool ok() const { return fd_ != -1; }
  void send(const std::string& text) const {
    ASSERT_EQ(::write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

 private:
  int fd_;
};

// A serial-line bus "weather" reading the gateway end of the pty; started,
// with the loop run until its port is open (nullptr if it never opened).
std::unique_ptr<drivers::field_bus> start_weather_bus(const pty_pair& pty, const std::string& delimiter,
                                                      std::vector<point_spec> points, event_loop& loop,
                                                      collector& collected, milliseconds silence_timeout = 0ms) {
  serial_line_port port;
  port.device = pty.gateway_end();
  port.delimiter = delimiter;
  auto spec = make_bus_spec("weather", port, 0ms, {make_device("weather", 0, 0ms, std::move(points))});
  spec.silence_timeout = silence_timeout;
  auto bus = drivers::make_bus(spec, loop.context.get_executor(), collected.handlers(), make_null_logger(),
                               drivers::backoff_policy{30ms, 100ms});
  bus->start();
  if (!loop.run_until([&] { return collected.status("weather") == true; })) return nullptr;
  return bus;
}

TEST(serial_line_bus, reads_text_lines_and_reopens_after_unplug) {
  pty_pair pty;
  auto temperature = make_point("temperature", H::holding_register, 0, T::float64);
  temperature.pattern = "T=(-?[0-9.]+)";
  auto humidity = make_point("humidity", H::holding_register, 0, T::uint16);
  humidity.pattern = "H=([0-9]+)";
  event_loop loop;
  collector collected;
  auto bus = start_weather_bus(pty, "\r\n", {temperature, humidity}, loop, collected);
  ASSERT_TRUE(bus);
  {
    sensor_end sensor(pty.device_end());
    ASSERT_TRUE(sensor.ok());
    sensor.send("T=21.5 H=40\r\nhello\r\nH=70000\r\nT=-3.25\r\n");
    ASSERT_TRUE(loop.run_until([&] { return collected.count("weather", "temperature", quality::good) >= 2; }));
  }
  EXPECT_EQ(collected.latest("weather", "temperature")->value, point_value{-3.25});
  const auto h = collected.latest("weather", "humidity");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->q, quality::bad);  // 70000 does not fit a uint16
  EXPECT_EQ(h->error, "out of range for uint16");
  EXPECT_EQ(collected.count("weather", "humidity", quality::good), 1U);
  auto counters = bus->counters().at(0).second;
  EXPECT_EQ(counters.unmatched, 1U);
  EXPECT_EQ(counters.polls, 4U);

  pty.stop();
  ASSERT_TRUE(loop.run_until([&] { return collected.status("weather") == false; }));
  pty.start();
  ASSERT_TRUE(loop.run_until([&] { return collected.status("weather") == true; }));
  sensor_end again(pty.device_end());
  again.send("T=30\r\n");
  ASSERT_TRUE(loop.run_until([&] {
    const auto r = collected.latest("weather", "temperature");
    return r && r->value == point_value{30.0};
  }));
  std::optional<drivers::write_result> refused;
  bus->write("weather", "temperature", 1.0, [&](drivers::write_result r) { refused = std::move(r); });
  ASSERT_TRUE(loop.run_until([&] { return refused.has_value(); }));
  EXPECT_FALSE(refused->ok);
  bus->stop();
}

TEST(serial_line_bus, drops_an_endless_line_and_keeps_reading) {
  pty_pair pty;
  auto temperature = make_point("temperature", H::holding_register, 0, T::float64);
  temperature.pattern = "T=(-?[0-9.]+)";
  event_loop loop;
  collector collected;
  auto bus = start_weather_bus(pty, "\n", {temperature}, loop, collected);
  ASSERT_TRUE(bus);
  sensor_end sensor(pty.device_end());
  ASSERT_TRUE(sensor.ok());
  // Garbage with no delimiter, longer than any line, then a good line. The
  // pty holds only a few KiB, so a thread writes while the loop reads.
  std::thread writer([&] { sensor.send(std::string(10000, 'x') + "\nT=7.5\n"); });
  const bool arrived =
      loop.run_until([&] { return collected.count("weather", "temperature", quality::good) >= 1; });
  if (!arrived) pty.stop();  // unblocks the writer
  writer.join();
  ASSERT_TRUE(arrived);
  EXPECT_EQ(collected.latest("weather", "temperature")->value, point_value{7.5});
  EXPECT_GE(bus->counters().at(0).second.unmatched, 2U);  // the overlong chunks and the tail of the garbage
  bus->stop();
}

TEST(serial_line_bus, a_sensor_that_goes_quiet_is_offline_until_its_next_good_line) {
  pty_pair pty;
  auto temperature = make_point("temperature", H::holding_register, 0, T::float64);
  temperature.pattern = "T=(-?[0-9.]+)";
  event_loop loop;
  collector collected;
  auto bus = start_weather_bus(pty, "\n", {temperature}, loop, collected, 300ms);
  ASSERT_TRUE(bus);
  // The writer keeps its end open throughout: the port never vanishes.
  sensor_end sensor(pty.device_end());
  ASSERT_TRUE(sensor.ok());
  // Taken before the line is sent: the bus re-arms its deadline only once it has the line.
  const auto spoke = std::chrono::steady_clock::now();
  sensor.send("T=1\n");
  ASSERT_TRUE(loop.run_until([&] { return collected.count("weather", "temperature", quality::good) == 1; }));
  // Lines that match no point do not count as speaking.
  sensor.send("noise\n");
  ASSERT_TRUE(loop.run_until([&] { return collected.status("weather") == false; }, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - spoke, 300ms);
  EXPECT_EQ(collected.statuses.back().reason, "no matching line for 300 ms");
  const auto offline_events = collected.statuses.size();
  sensor.send("T=2\n");
  ASSERT_TRUE(loop.run_until([&] { return collected.status("weather") == true; }));
  EXPECT_EQ(collected.statuses.size(), offline_events + 1);
  // The line that brought it back is published too.
  ASSERT_TRUE(loop.run_until([&] { return collected.count("weather", "temperature", quality::good) == 2; }));
  EXPECT_TRUE(bus->counters().at(0).second.online);
  bus->stop();
}

}  // namespace
}  // namespace fieldbridge::test
