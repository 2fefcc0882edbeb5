#include "fieldbridge/drivers/modbus_error.hpp"

#include <cerrno>

#include <modbus.h>

namespace fieldbridge::drivers {
namespace {

// Boost 1.74's error_category has a non-virtual destructor; the category is
// a function-local static never deleted through the base.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class modbus_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "modbus"; }

  std::string message(int value) const override {
    switch (static_cast<modbus_errc>(value)) {
      case modbus_errc::illegal_function: return "illegal function";
      case modbus_errc::illegal_data_address: return "illegal data address";
      case modbus_errc::illegal_data_value: return "illegal data value";
      case modbus_errc::server_device_failure: return "server device failure";
      case modbus_errc::acknowledge: return "acknowledge";
      case modbus_errc::server_device_busy: return "server device busy";
      case modbus_errc::negative_acknowledge: return "negative acknowledge";
      case modbus_errc::memory_parity_error: return "memory parity error";
      case modbus_errc::gateway_path_unavailable: return "gateway path unavailable";
      case modbus_errc::gateway_target_failed: return "gateway target device failed to respond";
      case modbus_errc::timeout: return "time-out";
      case modbus_errc::crc_error: return "CRC error";
      case modbus_errc::bad_response: return "bad response";
      case modbus_errc::unknown_exception: return "unknown exception";
      case modbus_errc::not_connected: return "not connected";
      case modbus_errc::rs485_unsupported: return "the serial port does not support RS-485 mode";
      case modbus_errc::invalid_request: return "invalid request";
    }
    return "unknown modbus error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& modbus_category() noexcept {
  static const modbus_category_impl category;
  return category;
}

bool is_exception(const boost::system::error_code& ec) noexcept {
  return ec.category() == modbus_category() &&
         (ec.value() < static_cast<int>(modbus_errc::timeout) ||
          ec.value() == static_cast<int>(modbus_errc::unknown_exception));
}

bool is_timeout(const boost::system::error_code& ec) noexcept {
  return ec == modbus_errc::timeout;
}

bool is_link_failure(const boost::system::error_code& ec) noexcept {
  if (!ec) return false;
  if (ec.category() == modbus_category()) return ec == modbus_errc::not_connected;
  return true;  // any system error: the socket or serial port went bad
}

boost::system::error_code from_libmodbus_errno(int err) noexcept {
  if (err > MODBUS_ENOBASE && err <= EMBXGTAR) {
    return {err - MODBUS_ENOBASE, modbus_category()};
  }
  switch (err) {
    case ETIMEDOUT: return modbus_errc::timeout;
    case EMBBADCRC: return modbus_errc::crc_error;
    case EMBUNKEXC: return modbus_errc::unknown_exception;
    case EMBBADDATA:
    case EMBBADEXC:
    case EMBMDATA:
    case EMBBADSLAVE: return modbus_errc::bad_response;
    case EINVAL: return modbus_errc::invalid_request;
    default: break;
  }
  return {err, boost::system::system_category()};
}

}  // namespace fieldbridge::drivers
