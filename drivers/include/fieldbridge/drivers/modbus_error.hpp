// Modbus errors as boost::system::error_code: the protocol's exceptions by
// name, and the link failures libmodbus reports (time-out, CRC, bad frame).
#pragma once

#include <string>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace fieldbridge::drivers {

enum class modbus_errc {
  // Exception codes of the Modbus application protocol (values as on the wire).
  illegal_function = 1,
  illegal_data_address = 2,
  illegal_data_value = 3,
  server_device_failure = 4,
  acknowledge = 5,
  server_device_busy = 6,
  negative_acknowledge = 7,
  memory_parity_error = 8,
  gateway_path_unavailable = 10,
  gateway_target_failed = 11,
  // Failures below the application layer.
  timeout = 100,          // no (complete) answer within the response/byte time-out
  crc_error,              // RTU frame with a bad CRC
  bad_response,           // malformed, unexpected or mismatched answer
  unknown_exception,      // an exception code outside the list above
  not_connected,          // the link is closed and could not be opened
  rs485_unsupported,      // the serial line refused RS-485 mode (not RS-485-capable)
  invalid_request,        // count or address out of range; never sent
};

const boost::system::error_category& modbus_category() noexcept;

inline boost::system::error_code make_error_code(modbus_errc e) noexcept {
  return {static_cast<int>(e), modbus_category()};
}

// A Modbus exception response: the device answered, and said no.
bool is_exception(const boost::system::error_code& ec) noexcept;
// A time-out: the device (or the line) did not answer.
bool is_timeout(const boost::system::error_code& ec) noexcept;
// The link itself failed (socket reset, serial device gone): close and reopen.
bool is_link_failure(const boost::system::error_code& ec) noexcept;

// Turns libmodbus's errno after a failed call into an error_code: EMBX* and
// EMB* into modbus_errc, ETIMEDOUT into modbus_errc::timeout, the rest into
// the system category.
boost::system::error_code from_libmodbus_errno(int err) noexcept;

}  // namespace fieldbridge::drivers

namespace boost::system {
template <>
struct is_error_code_enum<fieldbridge::drivers::modbus_errc> : std::true_type {};
}  // namespace boost::system
