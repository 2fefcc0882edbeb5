// The Modbus bus against an in-process libmodbus TCP server on loopback:
// decoding end to end, writes read back, exceptions, time-outs, a dead unit
// beside live ones, a server restart, and no descriptor leaks on reconnects.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <thread>

#include "bus_fixture.hpp"
#include "fieldbridge/drivers/modbus_bus.hpp"
#include "fieldbridge/drivers/modbus_link.hpp"
#include "modbus_test_server.hpp"
#include "network.hpp"
#include "process.hpp"

namespace fieldbridge::test {
namespace {

using drivers::modbus_bus;
using drivers::write_result;
using H = register_table;
using T = value_type;
using O = word_order;

class tcp_bus : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = free_tcp_port();
    server_ = modbus_test_server::tcp(port_);
  }
  bus_spec spec(std::vector<device_spec> devices, milliseconds timeout = 200ms) {
    return make_bus_spec("plc", modbus_tcp_endpoint{"127.0.0.1", port_}, timeout, std::move(devices));
  }
  std::unique_ptr<modbus_bus> make(bus_spec s, drivers::backoff_policy policy = {100ms, 400ms}) {
    return std::make_unique<modbus_bus>(std::move(s), loop_.context.get_executor(), collected_.handlers(),
                                        make_null_logger(), policy);
  }

  std::uint16_t port_ = 0;
  std::unique_ptr<modbus_test_server> server_;
  event_loop loop_;
  collector collected_;
};

TEST_F(tcp_bus, decodes_every_type_and_order) {
  const std::vector<std::pair<std::uint16_t, std::vector<std::uint16_t>>> regs = {
      {0, {0x4366, 0x6666}}, {2, {0x6666, 0x4366}}, {4, {0x6643, 0x6666}}, {6, {0x6666, 0x6643}},
      {8, {0xFFFF, 0xFFFF}}, {10, {0x0020, 0, 0, 0}},
      {14, {0x3FF8, 0, 0, 0}}, {18, {0, 0, 0, 0x3FF8}}, {22, {0xF83F, 0, 0, 0}}, {26, {0, 0, 0, 0xF83F}},
      {30, {0xFFFE, 0xFFFF, 0x0001, 0x0000}}, {34, {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}},
      {40, {0x4142, 0x4344, 0x2000}}, {50, {0x0008}}, {52, {0x7FC0, 0}}, {54, {2304}}};
  for (const auto& [address, words] : regs) server_->set(H::holding_register, address, words);
  server_->set(H::input_register, 0, {1234});
  server_->set(H::coil, 0, {1});
  server_->set(H::discrete_input, 5, {1});

  std::vector<point_spec> points = {
      make_point("f_abcd", H::holding_register, 0, T::float32, O::abcd),
      make_point("f_cdab", H::holding_register, 2, T::float32, O::cdab),
      make_point("f_badc", H::holding_register, 4, T::float32, O::badc),
      make_point("f_dcba", H::holding_register, 6, T::float32, O::dcba),
      make_point("i32", H::holding_register, 8, T::int32),
      make_point("u64", H::holding_register, 10, T::uint64),
      make_point("d_abcd", H::holding_register, 14, T::float64, O::abcd),
      make_point("d_cdab", H::holding_register, 18, T::float64, O::cdab),
      make_point("d_badc", H::holding_register, 22, T::float64, O::badc),
      make_point("d_dcba", H::holding_register, 26, T::float64, O::dcba),
      make_point("i16", H::holding_register, 30, T::int16),
      make_point("u16", H::holding_register, 31, T::uint16),
      make_point("u32", H::holding_register, 32, T::uint32),
      make_point("i64", H::holding_register, 34, T::int64),
      make_point("text", H::holding_register, 40, T::string),
      make_point("flag", H::holding_register, 50, T::boolean),
      make_point("nan", H::holding_register, 52, T::float32),
      make_point("scaled", H::holding_register, 54, T::int16),
      make_point("input", H::input_register, 0, T::uint16),
      make_point("coil", H::coil, 0, T::boolean),
      make_point("discrete", H::discrete_input, 5, T::boolean),
  };
  points[14].format.length = 3;
  points[15].format.bit = 3;
  points[17].format.scale = 0.1;
  auto device = make_device("meter", 1, 50ms, points);
  device.max_gap = 10;
  auto bus = make(spec({device}));
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.readings.size() >= points.size(); }));
  bus->stop();

  const auto value = [&](const std::string& name) {
    const auto r = collected_.latest("meter", name);
    EXPECT_TRUE(r.has_value()) << name;
    return r ? r->value : point_value{};
  };
  for (const char* name : {"f_abcd", "f_cdab", "f_badc", "f_dcba"}) {
    EXPECT_EQ(static_cast<float>(std::get<double>(value(name))), 230.4F) << name;
  }
  for (const char* name : {"d_abcd", "d_cdab", "d_badc", "d_dcba"}) EXPECT_EQ(value(name), point_value{1.5}) << name;
  EXPECT_EQ(value("i32"), point_value{std::int64_t{-1}});
  EXPECT_EQ(value("u64"), point_value{std::uint64_t{1} << 53});
  EXPECT_EQ(value("i16"), point_value{std::int64_t{-2}});
  EXPECT_EQ(value("u16"), point_value{std::uint64_t{65535}});
  EXPECT_EQ(value("u32"), point_value{std::uint64_t{65536}});
  EXPECT_EQ(value("i64"), point_value{std::int64_t{-1}});
  EXPECT_EQ(value("text"), point_value{std::string("ABCD")});
  EXPECT_EQ(value("flag"), point_value{true});
  EXPECT_DOUBLE_EQ(std::get<double>(value("scaled")), 230.4);
  EXPECT_EQ(value("input"), point_value{std::uint64_t{1234}});
  EXPECT_EQ(value("coil"), point_value{true});
  EXPECT_EQ(value("discrete"), point_value{true});
  const auto nan = collected_.latest("meter", "nan");
  ASSERT_TRUE(nan);
  EXPECT_EQ(nan->q, quality::bad);
  EXPECT_EQ(nan->error, "NaN");
  // The planner merged 21 points into one read per table (holding 0..55 with gaps <= 10).
  const auto counters = bus->counters().at(0).second;
  EXPECT_EQ(counters.requests, 4 * counters.polls);
  EXPECT_EQ(collected_.status("meter"), true);
}

TEST_F(tcp_bus, a_write_is_read_back_and_invalid_writes_never_reach_the_bus) {
  auto setpoint = make_point("setpoint", H::holding_register, 100, T::int16);
  setpoint.format.scale = 0.1;
  setpoint.writable = true;
  setpoint.min = 0;
  setpoint.max = 80;
  auto pump = make_point("pump", H::coil, 10, T::boolean);
  pump.writable = true;
  auto bit = make_point("bit2", H::holding_register, 101, T::boolean);
  bit.format.bit = 2;
  bit.writable = true;
  auto readonly = make_point("ro", H::holding_register, 102, T::uint16);
  auto forced = make_device("forced", 2, 10s, {setpoint, pump});
  forced.force_multiple_write = true;
  server_->set(H::holding_register, 101, {0x0001});
  auto bus = make(spec({make_device("plc1", 1, 10s, {setpoint, pump, bit, readonly}), forced}));
  bus->start();

  std::vector<write_result> results;
  const auto write = [&](const std::string& device, const std::string& point, point_value v) {
    const std::size_t before = results.size();
    bus->write(device, point, std::move(v), [&](write_result r) { results.push_back(std::move(r)); });
    EXPECT_TRUE(loop_.run_until([&] { return results.size() > before; }));
    return results.back();
  };

  // Let the first polls pass so the request counts below see only writes.
  ASSERT_TRUE(loop_.run_until([&] { return collected_.readings.size() >= 4; }));
  auto r = write("plc1", "setpoint", 42.5);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_DOUBLE_EQ(std::get<double>(r.value), 42.5);
  EXPECT_EQ(server_->get(H::holding_register, 100, 1), std::vector<std::uint16_t>{425});
  r = write("plc1", "pump", true);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.value, point_value{true});
  EXPECT_EQ(server_->get(H::coil, 10, 1), std::vector<std::uint16_t>{1});
  r = write("plc1", "bit2", true);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(server_->get(H::holding_register, 101, 1), std::vector<std::uint16_t>{0x0005});
  auto functions = server_->functions_seen();
  EXPECT_NE(std::find(functions.begin(), functions.end(), 6), functions.end());
  EXPECT_NE(std::find(functions.begin(), functions.end(), 5), functions.end());
  EXPECT_EQ(std::find(functions.begin(), functions.end(), 16), functions.end());

  const auto requests = server_->requests();
  EXPECT_EQ(write("plc1", "setpoint", 80.5).error, "above max 80");
  EXPECT_EQ(write("plc1", "setpoint", std::string("x")).error, "expected a number");
  EXPECT_EQ(write("plc1", "ro", std::int64_t{1}).error, "point 'ro' is not writable");
  EXPECT_FALSE(write("nobody", "setpoint", 1.0).ok);
  EXPECT_EQ(server_->requests(), requests);

  r = write("forced", "setpoint", 7.0);
  EXPECT_TRUE(r.ok) << r.error;
  r = write("forced", "pump", false);
  EXPECT_TRUE(r.ok) << r.error;
  functions = server_->functions_seen();
  EXPECT_NE(std::find(functions.begin(), functions.end(), 16), functions.end());
  EXPECT_NE(std::find(functions.begin(), functions.end(), 15), functions.end());
  bus->stop();
  // The read-back also went out as a reading.
  EXPECT_TRUE(collected_.latest("plc1", "setpoint").has_value());
}

TEST_F(tcp_bus, exceptions_are_named_counted_and_split_merged_reads) {
  server_->set_exception(7, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY);
  server_->set_exception(8, MODBUS_EXCEPTION_GATEWAY_TARGET);
  server_->set_rejected_addresses({1});
  server_->set(H::holding_register, 0, {10, 11, 12});
  auto busy = make_device("busy", 7, 30ms, {make_point("a", H::holding_register, 0, T::uint16)});
  auto behind_gateway = make_device("gone", 8, 30ms, {make_point("a", H::holding_register, 0, T::uint16)});
  behind_gateway.offline_after_failures = 2;
  auto holes = make_device("holes", 1, 30ms,
                           {make_point("p0", H::holding_register, 0, T::uint16),
                            make_point("p1", H::holding_register, 1, T::uint16),
                            make_point("p2", H::holding_register, 2, T::uint16)});
  auto bus = make(spec({busy, behind_gateway, holes}));
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] {
    return collected_.count("holes", "p2", quality::good) >= 3 && collected_.status("gone") == false &&
           collected_.count("busy", "a", quality::bad) >= 2;
  }));
  bus->stop();
  EXPECT_EQ(collected_.latest("busy", "a")->error, "server device busy");
  EXPECT_EQ(collected_.latest("gone", "a")->error, "gateway target device failed to respond");
  EXPECT_EQ(collected_.status("busy"), true);  // it answered, if only with "busy"
  EXPECT_EQ(collected_.latest("holes", "p0")->value, point_value{std::uint64_t{10}});
  EXPECT_EQ(collected_.latest("holes", "p1")->error, "illegal data address");
  EXPECT_EQ(collected_.latest("holes", "p2")->value, point_value{std::uint64_t{12}});
  EXPECT_EQ(collected_.count("holes", "p0", quality::bad), 0U);
  const auto counters = bus->counters();
  EXPECT_GE(counters[0].second.exceptions, 2U);
  EXPECT_EQ(counters[0].second.good, 0U);
  // The split is remembered: one rejected merged read, then three per poll.
  const auto& holes_counters = counters[2].second;
  EXPECT_EQ(holes_counters.requests, 1 + 3 * holes_counters.polls);
}

TEST_F(tcp_bus, a_dead_unit_does_not_slow_the_live_ones) {
  server_->set_dead_units({3});
  constexpr auto interval = 100ms;
  std::vector<device_spec> devices;
  for (std::uint8_t unit = 1; unit <= 3; ++unit) {
    devices.push_back(make_device("unit" + std::to_string(unit), unit, interval,
                                  {make_point("v", H::holding_register, 0, T::uint16)}));
  }
  const drivers::backoff_policy policy{400ms, 800ms};
  auto bus = make(spec(devices, 50ms), policy);
  const auto started = std::chrono::steady_clock::now();
  bus->start();
  constexpr std::size_t polls = 21;
  ASSERT_TRUE(loop_.run_until([&] {
    return collected_.count("unit1", "v", quality::good) >= polls &&
           collected_.count("unit2", "v", quality::good) >= polls;
  }));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  bus->stop();

  for (const char* name : {"unit1", "unit2"}) {
    std::vector<wall_clock::time_point> stamps;
    for (const auto& r : collected_.readings) {
      if (r.device == name) stamps.push_back(r.ts);
    }
    ASSERT_GE(stamps.size(), polls);
    stamps.resize(polls);
    const wall_clock::duration mean = (stamps.back() - stamps.front()) / static_cast<int>(polls - 1);
    std::vector<wall_clock::duration> periods;
    for (std::size_t i = 1; i < stamps.size(); ++i) periods.push_back(stamps[i] - stamps[i - 1]);
    std::nth_element(periods.begin(), periods.begin() + periods.size() / 2, periods.end());
    const wall_clock::duration median = periods[periods.size() / 2];
    std::printf("%s: mean period %.2f ms, median %.2f ms over %zu polls\n", name,
                std::chrono::duration<double, std::milli>(mean).count(),
                std::chrono::duration<double, std::milli>(median).count(), polls);
    for (const wall_clock::duration period : {mean, median}) {
      const auto ms = std::chrono::duration<double, std::milli>(period).count();
      EXPECT_NEAR(ms, 100.0, 10.0) << name << (period == mean ? " mean" : " median");
    }
  }
  EXPECT_EQ(collected_.status("unit3"), false);
  EXPECT_EQ(collected_.status("unit1"), true);
  // Three time-outs to go offline, then at most one per back-off period.
  const auto dead = bus->counters().at(2).second;
  const auto allowed = 3 + static_cast<std::uint64_t>(elapsed / policy.initial) + 1;
  EXPECT_LE(dead.timeouts, allowed);
  EXPECT_GE(dead.timeouts, 3U);
  EXPECT_EQ(dead.good, 0U);
}

TEST_F(tcp_bus, the_worker_waits_while_the_loop_has_not_handled_its_readings) {
  // 100 points every 10 ms, and an event loop that does not run: the
  // worker posts polls until max_unhandled_readings are waiting, then waits
  // instead of piling up more, and polls again once the loop catches up.
  constexpr std::size_t points = 100;
  std::vector<point_spec> list;
  for (std::uint16_t a = 0; a < points; ++a) {
    list.push_back(make_point("r" + std::to_string(a), H::holding_register, a, T::uint16));
  }
  constexpr auto interval = 10ms;
  auto bus = make(spec({make_device("fast", 1, interval, list)}));
  const auto polls = [&] { return bus->counters().at(0).second.polls; };
  // Polls until the bound is reached or passed: the first poll that puts it
  // at or above the bound still goes out.
  const std::uint64_t bound = (modbus_bus::max_unhandled_readings + points - 1) / points;
  bus->start();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (polls() < bound && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(interval);  // the loop must not run: polling a counter
  }
  ASSERT_EQ(polls(), bound);
  // 30 more poll intervals with the loop still not running: no poll.
  const auto window_end = std::chrono::steady_clock::now() + 30 * interval;
  while (std::chrono::steady_clock::now() < window_end) {
    ASSERT_EQ(polls(), bound);
    std::this_thread::sleep_for(interval);
  }
  ASSERT_TRUE(loop_.run_until([&] { return polls() >= bound + 10; }));
  bus->stop();
  EXPECT_GE(collected_.readings.size(), bound * points);
}

TEST_F(tcp_bus, writes_jump_ahead_of_due_polls) {
  // Three silent units whose polls are always overdue keep the worker busy
  // with time-outs; a write must go out right after the request in flight.
  server_->set_dead_units({2, 3, 4});
  auto setpoint = make_point("sp", H::holding_register, 0, T::uint16);
  setpoint.writable = true;
  std::vector<device_spec> devices = {make_device("live", 1, 10s, {setpoint})};
  for (std::uint8_t unit = 2; unit <= 4; ++unit) {
    auto dead = make_device("dead" + std::to_string(unit), unit, 20ms,
                            {make_point("v", H::holding_register, 0, T::uint16)});
    dead.offline_after_failures = 1000;  // stay on the fast schedule
    devices.push_back(dead);
  }
  auto bus = make(spec(devices, 60ms));
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.count("dead4", "v", quality::bad) >= 2; }));
  const std::size_t before = server_->request_log().size();
  std::optional<write_result> result;
  bus->write("live", "sp", std::uint64_t{77}, [&](write_result r) { result = std::move(r); });
  ASSERT_TRUE(loop_.run_until([&] { return result.has_value(); }));
  bus->stop();
  EXPECT_TRUE(result->ok) << result->error;
  const auto log = server_->request_log();
  const auto write = std::find(log.begin() + static_cast<std::ptrdiff_t>(before), log.end(),
                               std::pair<std::uint8_t, int>{1, 6});
  ASSERT_NE(write, log.end());
  // At most the one request already in flight came between; then the write
  // and its read-back, back to back.
  EXPECT_LE(write - (log.begin() + static_cast<std::ptrdiff_t>(before)), 1);
  ASSERT_NE(write + 1, log.end());
  EXPECT_EQ(*(write + 1), (std::pair<std::uint8_t, int>{1, 3}));
}

TEST_F(tcp_bus, reconnects_after_the_server_restarts) {
  server_->set(H::holding_register, 0, {1});
  auto device = make_device("d", 1, 30ms, {make_point("v", H::holding_register, 0, T::uint16)});
  device.offline_after_failures = 2;
  const auto fds_before = open_fds();
  auto bus = make(spec({device}, 50ms), {50ms, 200ms});
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.count("d", "v", quality::good) >= 2; }));
  server_.reset();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.status("d") == false; }));
  server_ = modbus_test_server::tcp(port_);
  server_->set(H::holding_register, 0, {2});
  ASSERT_TRUE(loop_.run_until([&] {
    const auto r = collected_.latest("d", "v");
    return r && r->q == quality::good && r->value == point_value{std::uint64_t{2}} &&
           collected_.status("d") == true;
  }));
  bus->stop();
  bus.reset();
  // The server closes its end when it sees ours go; then the count is back.
  EXPECT_TRUE(wait_until([&] { return open_fds() == fds_before; }, 2s)) << open_fds() << " vs " << fds_before;
}

TEST_F(tcp_bus, a_dropped_connection_is_reopened_at_once) {
  // Many Modbus TCP devices close idle or surplus connections. That costs one
  // poll, not a back-off period and not the device's online status.
  server_->set(H::holding_register, 0, {5});
  auto device = make_device("d", 1, 20ms, {make_point("v", H::holding_register, 0, T::uint16)});
  device.offline_after_failures = 2;
  auto bus = make(spec({device}, 200ms), {5s, 10s});
  bus->start();
  ASSERT_TRUE(loop_.run_until([&] { return collected_.count("d", "v", quality::good) >= 3; }));
  for (int drop = 0; drop < 3; ++drop) {
    const auto good = collected_.count("d", "v", quality::good);
    server_->drop_clients();
    ASSERT_TRUE(loop_.run_until([&] { return collected_.count("d", "v", quality::good) >= good + 3; }, 2s));
  }
  bus->stop();
  EXPECT_LE(collected_.count("d", "v", quality::bad), 3U);
  for (const auto& e : collected_.statuses) EXPECT_TRUE(e.online);
}

TEST_F(tcp_bus, link_leaks_no_descriptor_across_many_reconnects) {
  server_->set(H::holding_register, 0, {9});
  const auto before = open_fds();
  drivers::modbus_link link(modbus_tcp_endpoint{"127.0.0.1", port_}, {200ms, 0ms, 0ms});
  std::vector<std::uint16_t> words;
  int failures = 0;
  for (int i = 0; i < 40; ++i) {
    server_->drop_clients();
    // The dropped connection fails once (or the server raced us); then the
    // link reopens.
    ASSERT_TRUE(wait_until([&] {
      const auto ec = link.read(1, H::holding_register, 0, 1, words);
      failures += ec ? 1 : 0;
      return !ec && words == std::vector<std::uint16_t>{9};
    }));
  }
  EXPECT_GT(failures, 0);
  link.close();
  EXPECT_TRUE(wait_until([&] { return open_fds() == before; }, 2s)) << open_fds() << " vs " << before;
}

TEST_F(tcp_bus, link_reports_named_exceptions_and_time_outs) {
  server_->set_exception(4, MODBUS_EXCEPTION_ILLEGAL_FUNCTION);
  server_->set_dead_units({5});
  drivers::modbus_link link(modbus_tcp_endpoint{"127.0.0.1", port_}, {50ms, 0ms, 0ms});
  std::vector<std::uint16_t> words;
  auto ec = link.read(4, H::holding_register, 0, 1, words);
  EXPECT_EQ(ec, drivers::modbus_errc::illegal_function);
  EXPECT_TRUE(drivers::is_exception(ec));
  EXPECT_EQ(ec.message(), "illegal function");
  ec = link.read(5, H::holding_register, 0, 1, words);
  EXPECT_TRUE(drivers::is_timeout(ec)) << ec.message();
  EXPECT_FALSE(link.read(1, H::holding_register, 0, 1, words));  // the link still works
  EXPECT_EQ(link.read(1, H::holding_register, 0, 126, words), drivers::modbus_errc::invalid_request);
  EXPECT_EQ(link.write(1, H::input_register, 0, std::vector<std::uint16_t>{1}, false),
            drivers::modbus_errc::invalid_request);
}

}  // namespace
}  // namespace fieldbridge::test
