// A field bus as the gateway sees it: started, stopped, written to, and
// producing readings and device-status events on the main executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "fieldbridge/core/backoff.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/core/model.hpp"
#include "fieldbridge/core/reading.hpp"

namespace fieldbridge::drivers {

// A device started or stopped answering.
struct device_status_event {
  std::string bus;
  std::string device;
  bool online = false;
  std::string reason;  // why it went offline; empty when online
};

// Per-device counters for the stats topic. A snapshot; copied out under a lock.
struct device_counters {
  std::uint64_t polls = 0;       // poll cycles (serial_line: lines received)
  std::uint64_t good = 0;        // readings of good quality
  std::uint64_t bad = 0;         // readings of bad quality
  std::uint64_t timeouts = 0;    // requests that timed out
  std::uint64_t exceptions = 0;  // Modbus exception answers
  std::uint64_t errors = 0;      // other failures: CRC, bad frames, link down
  std::uint64_t requests = 0;    // Modbus requests sent
  std::uint64_t unmatched = 0;   // serial_line: lines that matched no point
  // Modbus: request to answer of the last answered request; 0 before the
  // first (serial_line: always 0, its device speaks unasked).
  std::chrono::microseconds round_trip{0};
  bool online = false;
};

// The outcome of a write: the read-back value on success, else why not.
struct write_result {
  bool ok = false;
  point_value value;
  std::string error;
};

using readings_handler = std::function<void(std::vector<reading>)>;
using status_handler = std::function<void(device_status_event)>;
using write_handler = std::function<void(write_result)>;

// Where a bus delivers its results; both are invoked on the bus's executor.
struct bus_handlers {
  readings_handler on_readings;
  status_handler on_status;
};

// How long a failing link or offline device waits before the next attempt:
// the jittered doubling schedule of core's backoff_delay, from `initial` up to
// `max`.
struct backoff_policy {
  milliseconds initial{1000};
  milliseconds max{30000};
};

// backoff_delay() with the attempt counter and its random source kept. Pure
// (no clock); not thread-safe: one owner.
class backoff {
 public:
  explicit backoff(backoff_policy policy, std::uint64_t seed = 0x6669656c64ULL)
      : policy_(policy), random_(seed) {}
  // The delay to wait now; counts one more failed attempt.
  milliseconds next() { return backoff_delay(policy_.initial, policy_.max, attempts_++, random_()); }
  void reset() noexcept { attempts_ = 0; }
  std::uint64_t failed_attempts() const noexcept { return attempts_; }

 private:
  backoff_policy policy_;
  std::uint64_t attempts_ = 0;
  std::mt19937_64 random_;
};

// One bus. start() and stop() are called from the thread that runs the
// executor (a Modbus bus's stop() also from another thread once
// request_stop() was called, never alongside start(): the gateway joins a
// worker it stops at a reload off its event loop); write() and counters()
// from any thread. Handlers are posted to the
// executor, never called on the caller's stack. stop() must be called before
// destruction (the destructor calls it).
class field_bus {
 public:
  virtual ~field_bus() = default;
  field_bus() = default;
  field_bus(const field_bus&) = delete;
  field_bus& operator=(const field_bus&) = delete;

  virtual void start() = 0;
  virtual void stop() = 0;
  // Asks the bus to stop without waiting for it: a worker finishes the
  // request under way and stops before the next one. stop() then waits. So a
  // gateway with several buses stops them in parallel: request_stop() on
  // each, then stop() on each.
  virtual void request_stop() noexcept {}
  // When the bus's worker last went round its loop (a request done, or a
  // wait for the next poll, which is bounded so an idle worker shows it is
  // alive too). The gateway feeds systemd's watchdog only while this is
  // recent. Any thread.
  virtual std::chrono::steady_clock::time_point last_progress() const noexcept = 0;
  // Validates against the point's spec (writable, type, min/max) without
  // touching the bus; valid writes jump ahead of polls. After the write the
  // point is read back and `handler` gets the read-back value.
  virtual void write(std::string_view device, std::string_view point, point_value value,
                     write_handler handler) = 0;
  virtual std::vector<std::pair<std::string, device_counters>> counters() const = 0;
  virtual const bus_spec& spec() const noexcept = 0;
};

// The right bus for the spec's link: a Modbus worker thread for RTU, TCP and
// RTU over TCP, an Asio serial port on `executor` for serial_line. Throws
// std::invalid_argument on a spec it cannot run (e.g. a bad pattern).
std::unique_ptr<field_bus> make_bus(bus_spec spec, boost::asio::any_io_executor executor,
                                    bus_handlers handlers, logger_ptr logger,
                                    backoff_policy policy = {});

}  // namespace fieldbridge::drivers
