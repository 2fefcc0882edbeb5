// Helpers for the bus tests: spec builders, a collector of what a bus posts,
// and running the test's own io_context until a condition holds.
#pragma once

#include <chrono>
#include <filesystem>
#include <iterator>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "fieldbridge/drivers/bus.hpp"

namespace fieldbridge::test {

using namespace std::chrono_literals;

inline point_spec make_point(std::string name, register_table table, std::uint16_t address,
                             value_type type, word_order order = word_order::abcd) {
  point_spec p;
  p.name = std::move(name);
  p.table = table;
  p.address = address;
  p.format.type = type;
  p.format.order = order;
  return p;
}

inline device_spec make_device(std::string name, std::uint8_t unit, milliseconds interval,
                               std::vector<point_spec> points) {
  device_spec d;
  d.name = std::move(name);
  d.unit = unit;
  d.poll_interval = interval;
  d.points = std::move(points);
  return d;
}

inline bus_spec make_bus_spec(std::string name, bus_link link, milliseconds timeout,
                              std::vector<device_spec> devices) {
  bus_spec b;
  b.name = std::move(name);
  b.link = std::move(link);
  b.response_timeout = timeout;
  b.devices = std::move(devices);
  return b;
}

// Descriptors this process holds open, to catch leaks across reconnects.
inline std::size_t open_fds() {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                std::filesystem::directory_iterator{}));
}

// Everything a bus posted; touched only on the test thread (the executor's).
struct collector {
  std::vector<reading> readings;
  std::vector<drivers::device_status_event> statuses;

  drivers::bus_handlers handlers() {
    return {[this](std::vector<reading> batch) {
              for (auto& r : batch) readings.push_back(std::move(r));
            },
            [this](drivers::device_status_event e) { statuses.push_back(std::move(e)); }};
  }

  std::optional<reading> latest(const std::string& device, const std::string& point) const {
    for (auto it = readings.rbegin(); it != readings.rend(); ++it) {
      if (it->device == device && it->point == point) return *it;
    }
    return std::nullopt;
  }

  std::size_t count(const std::string& device, const std::string& point, quality q) const {
    std::size_t n = 0;
    for (const auto& r : readings) n += (r.device == device && r.point == point && r.q == q) ? 1 : 0;
    return n;
  }

  std::optional<bool> status(const std::string& device) const {
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      if (it->device == device) return it->online;
    }
    return std::nullopt;
  }
};

// The test's own event loop: runs until `condition` holds or the deadline.
struct event_loop {
  boost::asio::io_context context;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{context.get_executor()};

  bool run_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      context.run_for(5ms);
    }
    return true;
  }
  void run_for(std::chrono::milliseconds span) { context.run_for(span); }
};

}  // namespace fieldbridge::test
