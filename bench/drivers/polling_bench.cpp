// Polling throughput against `fieldbridge simulate`: 1,000 points over 10
// units, the request planner on versus one request per point, side by side;
// Modbus TCP beside RTU over TCP with the same plan; and, on an RTU line,
// the share of the line's capacity that polling uses.
// run.sh starts the simulator (and the pty pair) and passes the link here.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/core.h>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/drivers/modbus_bus.hpp"
#include "fieldbridge/drivers/planner.hpp"

namespace fb = fieldbridge;
namespace drivers = fieldbridge::drivers;
using namespace std::chrono_literals;

namespace {

constexpr int units = 10;

// 100 points per unit, in the layout run.sh gives the simulator: 50
// uint16 at holding 0..49, 25 float32 at 100..149, 25 int32 at 200..249.
std::vector<fb::point_spec> unit_points() {
  std::vector<fb::point_spec> points;
  const auto add = [&](std::uint16_t address, fb::value_type type) {
    fb::point_spec p;
    p.name = fmt::format("p{}", address);
    p.table = fb::register_table::holding_register;
    p.address = address;
    p.format.type = type;
    points.push_back(p);
  };
  for (std::uint16_t a = 0; a < 50; ++a) add(a, fb::value_type::uint16);
  for (std::uint16_t a = 100; a < 150; a += 2) add(a, fb::value_type::float32);
  for (std::uint16_t a = 200; a < 250; a += 2) add(a, fb::value_type::int32);
  return points;
}

fb::bus_spec make_spec(fb::bus_link link) {
  fb::bus_spec spec;
  spec.name = "bench";
  spec.link = std::move(link);
  spec.response_timeout = 2000ms;
  for (int u = 1; u <= units; ++u) {
    fb::device_spec device;
    device.name = fmt::format("unit{}", u);
    device.unit = static_cast<std::uint8_t>(u);
    device.poll_interval = 1ms;  // always due: the bus polls back to back
    device.points = unit_points();
    spec.devices.push_back(std::move(device));
  }
  return spec;
}

struct run_result {
  double seconds = 0;
  std::uint64_t readings = 0, good = 0, requests = 0, cycles = 0;
};

run_result poll_for(const fb::bus_spec& spec, drivers::planning mode, std::chrono::milliseconds duration) {
  boost::asio::io_context io;
  run_result result;
  drivers::bus_handlers handlers;
  handlers.on_readings = [&](std::vector<fb::reading> readings) {
    result.readings += readings.size();
    for (const auto& r : readings) result.good += r.q == fb::quality::good ? 1 : 0;
  };
  handlers.on_status = [](drivers::device_status_event) {};
  drivers::modbus_bus bus(spec, io.get_executor(), handlers, fb::make_null_logger(), {}, mode);
  const auto start = std::chrono::steady_clock::now();
  // The bus posts readings from its worker; keep run_for() running between them.
  auto busy = boost::asio::make_work_guard(io);
  bus.start();
  io.run_for(duration);
  bus.stop();
  io.poll();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& [name, c] : bus.counters()) {
    result.requests += c.requests;
    result.cycles += c.polls;
  }
  return result;
}

void print_row(const char* label, const run_result& r) {
  const double device_cycles = static_cast<double>(r.cycles) / units;
  fmt::print("{:<16}{:>10.1f}{:>14.0f}{:>18.1f}{:>12.1f}%\n", label, r.seconds,
             static_cast<double>(r.readings) / r.seconds,
             device_cycles > 0 ? static_cast<double>(r.requests) / device_cycles : 0.0,
             r.readings > 0 ? 100.0 * static_cast<double>(r.good) / static_cast<double>(r.readings) : 0.0);
}

// Bytes one poll cycle of the bus puts on an RTU line: per read of n
// registers, an 8-byte request and a (5 + 2n)-byte answer.
std::uint64_t wire_bytes_per_cycle(const fb::bus_spec& spec) {
  std::uint64_t bytes = 0;
  for (const auto& device : spec.devices) {
    drivers::request_planner planner(device);
    for (const auto& block : planner.blocks()) bytes += 8 + 5 + 2 * std::uint64_t{block.count};
  }
  return bytes;
}

int usage() {
  std::fprintf(stderr,
               "usage: drivers_polling_bench tcp HOST PORT SECONDS\n"
               "       drivers_polling_bench rtu DEVICE BAUD SECONDS\n"
               "       drivers_polling_bench tcp-vs-rtu-tcp HOST TCP_PORT RTU_TCP_PORT SECONDS\n");
  return 2;
}

run_result median_of(std::vector<run_result> runs) {
  std::sort(runs.begin(), runs.end(), [](const run_result& a, const run_result& b) {
    return a.readings / a.seconds < b.readings / b.seconds;
  });
  return runs[runs.size() / 2];
}

// The same 1,000-point plan over Modbus TCP and over RTU over TCP (an
// unpaced simulator: the transport and framing, not a serial line), in
// alternating rounds so that the machine's load hits both alike.
int tcp_vs_rtu_tcp(const std::string& host, std::uint16_t tcp_port, std::uint16_t rtu_tcp_port,
                   std::chrono::milliseconds duration) {
  const auto tcp = make_spec(fb::modbus_tcp_endpoint{host, tcp_port});
  const auto box = make_spec(fb::modbus_rtu_tcp_endpoint{host, rtu_tcp_port});
  constexpr int rounds = 3;
  std::vector<run_result> tcp_runs, box_runs;
  for (int round = 0; round < rounds; ++round) {
    tcp_runs.push_back(poll_for(tcp, drivers::planning::merged, duration / (2 * rounds)));
    print_row("tcp", tcp_runs.back());
    box_runs.push_back(poll_for(box, drivers::planning::merged, duration / (2 * rounds)));
    print_row("rtu_tcp", box_runs.back());
  }
  fmt::print("median of {} rounds (planner on):\n", rounds);
  print_row("tcp", median_of(tcp_runs));
  print_row("rtu_tcp", median_of(box_runs));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) return usage();
  const std::string kind = argv[1];
  const auto duration = std::chrono::milliseconds{std::atoi(argv[argc - 1]) * 1000};
  fmt::print("{} points on {} units; columns: seconds run, points per second, Modbus requests per poll\n"
             "cycle of the whole bus, share of readings with good quality\n",
             unit_points().size() * units, units);
  fmt::print("{:<16}{:>10}{:>14}{:>18}{:>13}\n", "planning", "seconds", "points/s", "requests/cycle", "good");
  if (kind == "tcp-vs-rtu-tcp" && argc == 6) {
    return tcp_vs_rtu_tcp(argv[2], static_cast<std::uint16_t>(std::atoi(argv[3])),
                          static_cast<std::uint16_t>(std::atoi(argv[4])), duration);
  }
  if (argc != 5) return usage();
  if (kind == "tcp") {
    fb::modbus_tcp_endpoint endpoint;
    endpoint.host = argv[2];
    endpoint.port = static_cast<std::uint16_t>(std::atoi(argv[3]));
    const auto spec = make_spec(endpoint);
    // Alternating rounds, so that load from elsewhere on the machine hits both
    // modes alike; the medians are the figures to quote.
    constexpr int rounds = 3;
    std::vector<run_result> merged, single;
    for (int round = 0; round < rounds; ++round) {
      merged.push_back(poll_for(spec, drivers::planning::merged, duration / rounds));
      print_row("merged", merged.back());
      single.push_back(poll_for(spec, drivers::planning::one_per_point, duration / rounds));
      print_row("one_per_point", single.back());
    }
    const auto median = [](std::vector<run_result> runs) {
      std::sort(runs.begin(), runs.end(), [](const run_result& a, const run_result& b) {
        return a.readings / a.seconds < b.readings / b.seconds;
      });
      return runs[runs.size() / 2];
    };
    fmt::print("median of {} rounds:\n", rounds);
    print_row("merged", median(merged));
    print_row("one_per_point", median(single));
    return 0;
  }
  if (kind == "rtu") {
    fb::modbus_rtu_line line;
    line.device = argv[2];
    line.baud = static_cast<std::uint32_t>(std::atoi(argv[3]));
    const auto spec = make_spec(line);
    const auto merged = poll_for(spec, drivers::planning::merged, duration);
    print_row("merged", merged);
    // Line capacity: baud / 10 bits per 8N1 character, in bytes per second.
    const double capacity = line.baud / 10.0;
    const double bus_cycles = static_cast<double>(merged.cycles) / units;
    const double used = bus_cycles * static_cast<double>(wire_bytes_per_cycle(spec)) / merged.seconds;
    fmt::print("RTU {} baud 8N1: {:.0f} bytes/s on the wire of {:.0f} possible: {:.1f}% of the line's capacity "
               "(target >= 80%)\n",
               line.baud, used, capacity, 100.0 * used / capacity);
    return 0;
  }
  return usage();
}
