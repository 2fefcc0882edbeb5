// Text-line serial sensors: lines read with Asio's serial_port on the main
// io_context (asynchronous, so no worker thread), values pulled out with one
// regular-expression capture per point.
#pragma once

#include <memory>
#include <optional>
#include <regex>
#include <string_view>
#include <vector>

#include "fieldbridge/drivers/bus.hpp"
#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::drivers {

// Pure: one line in, the values of the points whose pattern matched out.
class line_parser {
 public:
  struct match {
    std::size_t point = 0;  // index into the points given at construction
    decoded value;
  };

  // Throws std::invalid_argument for a pattern that does not compile or has
  // no capture group (a start-up failure).
  explicit line_parser(std::vector<point_spec> points);

  // Each matching point's first capture, parsed and converted to the point's
  // type (integers range-checked), then scale/offset applied.
  std::vector<match> parse(std::string_view line) const;

  const std::vector<point_spec>& points() const noexcept { return points_; }

 private:
  std::vector<point_spec> points_;
  std::vector<std::regex> patterns_;
};

// A serial_line bus. Everything runs on the executor's thread (the main
// loop); start(), stop() and write() must be called there too. Reopens the
// port with back-off when it vanishes.
class serial_line_bus final : public field_bus {
 public:
  serial_line_bus(bus_spec spec, boost::asio::any_io_executor executor, bus_handlers handlers,
                  logger_ptr logger, backoff_policy policy = {});
  ~serial_line_bus() override;

  void start() override;
  void stop() override;
  // Text sensors are read-only: always an error result.
  void write(std::string_view device, std::string_view point, point_value value,
             write_handler handler) override;
  std::vector<std::pair<std::string, device_counters>> counters() const override;
  const bus_spec& spec() const noexcept override;
  std::chrono::steady_clock::time_point last_progress() const noexcept override;

 private:
  struct state;  // shared with pending handlers, so they outlive nothing
  std::shared_ptr<state> state_;
};

}  // namespace fieldbridge::drivers
