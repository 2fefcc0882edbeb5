// A blocking Modbus connection: RTU or TCP over libmodbus, or RTU over TCP
// (a serial device server) over a socket of its own. The transports differ;
// the request checks, pacing and counting here are shared. Not thread-safe:
// one owner thread (a bus worker, or a command-line tool) uses it. Movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <boost/system/error_code.hpp>
#include <modbus.h>

#include "fieldbridge/core/model.hpp"
#include "fieldbridge/drivers/codec.hpp"
#include "fieldbridge/drivers/modbus_error.hpp"

namespace fieldbridge::drivers {

struct modbus_closer {
  void operator()(modbus_t* ctx) const noexcept;  // modbus_close + modbus_free
};
// RAII owner of a libmodbus context.
using modbus_ptr = std::unique_ptr<modbus_t, modbus_closer>;

struct link_timeouts {
  milliseconds response{500};
  milliseconds byte{0};             // 0: libmodbus's default
  milliseconds inter_request_delay{0};  // extra silence before each request
};

// The time-outs a bus declares.
link_timeouts timeouts_of(const bus_spec& bus);

// How one kind of link carries a request. Blocking; requests arrive checked
// (counts, addresses, the function suits the table) and one at a time.
class modbus_transport {
 public:
  virtual ~modbus_transport() = default;
  virtual boost::system::error_code open() = 0;
  virtual void close() noexcept = 0;
  // Reads `out.size()` registers or bits (as 0/1 words) into `out`.
  virtual boost::system::error_code read(std::uint8_t unit, register_table table, std::uint16_t address,
                                         std::span<std::uint16_t> out) = 0;
  virtual boost::system::error_code write(std::uint8_t unit, write_function function, std::uint16_t address,
                                          std::span<const std::uint16_t> words) = 0;
  // After a time-out or a garbled answer: whatever is still on its way must
  // not be taken for the next answer.
  virtual void discard_pending() noexcept = 0;
};

class modbus_link {
 public:
  // Creates the transport for an RTU line, a TCP endpoint or an RTU-over-TCP
  // endpoint without opening it. Throws std::invalid_argument for a
  // serial_line link or parameters libmodbus rejects (start-up failure).
  modbus_link(const bus_link& link, link_timeouts timeouts);
  modbus_link(modbus_link&&) noexcept;
  modbus_link& operator=(modbus_link&&) noexcept;
  ~modbus_link();

  // Opens the serial port or TCP connection (and RS-485 mode when the line
  // asks for it: modbus_errc::rs485_unsupported when the port refuses).
  boost::system::error_code open();
  void close() noexcept;
  bool is_open() const noexcept;
  bool is_rtu() const noexcept;

  // Reads `count` registers or bits from `table` of device `unit`; bits come
  // back as 0/1 words. Opens the link first when it is closed (for the
  // tools; a bus opens it itself, with back-off). On RTU it keeps the
  // 3.5-character inter-frame silence (plus inter_request_delay) before
  // sending; on TCP and RTU over TCP, inter_request_delay. Counts above 125 registers / 2000 bits are invalid_request.
  boost::system::error_code read(std::uint8_t unit, register_table table, std::uint16_t address,
                                 std::uint16_t count, std::vector<std::uint16_t>& out);

  // Writes registers (FC06/FC16) or coils (FC05/FC15, words 0/1) as
  // choose_write_function decides; inputs are invalid_request.
  boost::system::error_code write(std::uint8_t unit, register_table table, std::uint16_t address,
                                  std::span<const std::uint16_t> words, bool force_multiple);

  // Requests sent since construction (each read or write counts once).
  std::uint64_t requests() const noexcept { return requests_; }
  // Request to answer (data or exception) of the last answered request; 0
  // before the first. Time-outs and link failures leave it unchanged.
  std::chrono::microseconds last_round_trip() const noexcept { return last_round_trip_; }

 private:
  void before_request();
  void after_request(const boost::system::error_code& ec);

  std::unique_ptr<modbus_transport> transport_;
  bool rtu_ = false;
  bool open_ = false;
  link_timeouts timeouts_;
  std::chrono::nanoseconds gap_{0};  // silence to keep before each request
  std::chrono::steady_clock::time_point last_activity_{};
  std::uint64_t requests_ = 0;
  std::chrono::steady_clock::time_point request_sent_{};
  std::chrono::microseconds last_round_trip_{0};
};

}  // namespace fieldbridge::drivers
