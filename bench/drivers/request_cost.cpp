// CPU per Modbus TCP request in the gateway's polling pattern (5 units of
// 100 holding registers, every 100 ms, one connection), three ways against
// `fieldbridge simulate`:
//   libmodbus: modbus_read_registers() in a loop (what a bus worker calls);
//   raw:       the same request by hand, one send() and one recv() of the
//              whole answer (what a Modbus TCP client of our own would do);
//   bus:       drivers::modbus_bus itself (worker thread, planner, decoding,
//              readings posted to an io_context run on this thread).
// So the transport's share of a request can be told from the rest of the
// bus's, and both from what the machine's wake-ups cost. Prints CPU
// (user + system, whole process) per request; request_cost.sh runs it.
#include <arpa/inet.h>
#include <modbus/modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/core.h>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/drivers/modbus_bus.hpp"

namespace fb = fieldbridge;
using namespace std::chrono_literals;

namespace {

constexpr int units = 5;
constexpr int registers = 100;
constexpr auto interval = 100ms;

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// One request per unit every interval, for `duration`; returns requests made.
template <typename Request>
long poll_like_a_bus(std::chrono::seconds duration, Request&& request) {
  long requests = 0;
  auto next = std::chrono::steady_clock::now();
  const auto end = next + duration;
  while (next < end) {
    for (int unit = 1; unit <= units; ++unit) {
      if (!request(unit)) return -1;
      ++requests;
    }
    next += interval;
    std::this_thread::sleep_until(next);
  }
  return requests;
}

long with_libmodbus(std::uint16_t port, std::chrono::seconds duration) {
  modbus_t* ctx = modbus_new_tcp("127.0.0.1", port);
  if (ctx == nullptr || modbus_connect(ctx) != 0) return -1;
  std::uint16_t values[registers];
  const long n = poll_like_a_bus(duration, [&](int unit) {
    modbus_set_slave(ctx, unit);
    return modbus_read_registers(ctx, 0, registers, values) == registers;
  });
  modbus_close(ctx);
  modbus_free(ctx);
  return n;
}

long by_hand(std::uint16_t port, std::chrono::seconds duration) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const timeval timeout{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::uint16_t transaction = 0;
  std::uint16_t values[registers];
  const long n = poll_like_a_bus(duration, [&](int unit) {
    ++transaction;
    const unsigned char request[12] = {static_cast<unsigned char>(transaction >> 8),
                                       static_cast<unsigned char>(transaction & 0xFF),
                                       0, 0, 0, 6, static_cast<unsigned char>(unit), 3, 0, 0, 0, registers};
    if (::send(fd, request, sizeof request, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof request)) return false;
    unsigned char answer[9 + 2 * registers];
    std::size_t got = 0;
    while (got < sizeof answer) {
      const auto r = ::recv(fd, answer + got, sizeof answer - got, 0);
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    if (answer[0] != request[0] || answer[1] != request[1] || answer[7] != 3) return false;
    for (int i = 0; i < registers; ++i) values[i] = static_cast<std::uint16_t>(answer[9 + 2 * i] << 8 | answer[10 + 2 * i]);
    return true;
  });
  ::close(fd);
  return n;
}

long with_the_bus(std::uint16_t port, std::chrono::seconds duration) {
  fb::bus_spec spec;
  spec.name = "cost";
  spec.link = fb::modbus_tcp_endpoint{"127.0.0.1", port};
  for (int unit = 1; unit <= units; ++unit) {
    fb::device_spec device;
    device.name = fmt::format("u{}", unit);
    device.unit = static_cast<std::uint8_t>(unit);
    device.poll_interval = interval;
    for (std::uint16_t a = 0; a < registers; ++a) {
      fb::point_spec p;
      p.name = fmt::format("r{}", a);
      p.table = fb::register_table::holding_register;
      p.address = a;
      device.points.push_back(p);
    }
    spec.devices.push_back(std::move(device));
  }
  boost::asio::io_context io;
  std::uint64_t readings = 0;
  fb::drivers::bus_handlers handlers;
  handlers.on_readings = [&](std::vector<fb::reading> batch) { readings += batch.size(); };
  handlers.on_status = [](fb::drivers::device_status_event) {};
  fb::drivers::modbus_bus bus(spec, io.get_executor(), handlers, fb::make_null_logger());
  auto busy = boost::asio::make_work_guard(io);
  bus.start();
  io.run_for(duration);
  bus.stop();
  io.poll();
  long requests = 0;
  for (const auto& [name, c] : bus.counters()) requests += static_cast<long>(c.requests);
  return readings > 0 ? requests : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: drivers_request_cost libmodbus|raw|bus PORT SECONDS\n");
    return 2;
  }
  const std::string mode = argv[1];
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const std::chrono::seconds duration{std::atoi(argv[3])};
  const double before = cpu_seconds();
  long requests = -1;
  if (mode == "libmodbus") requests = with_libmodbus(port, duration);
  else if (mode == "raw") requests = by_hand(port, duration);
  else if (mode == "bus") requests = with_the_bus(port, duration);
  if (requests <= 0) {
    std::fprintf(stderr, "%s: failed\n", mode.c_str());
    return 1;
  }
  const double cpu = cpu_seconds() - before;
  fmt::print("{:<10} {:>6} requests  {:>7.1f} µs CPU per request  {:>5.2f} µs per register\n", mode, requests,
             cpu * 1e6 / static_cast<double>(requests), cpu * 1e6 / static_cast<double>(requests) / registers);
  return 0;
}
