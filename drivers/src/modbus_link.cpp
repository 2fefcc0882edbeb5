#include "fieldbridge/drivers/modbus_link.hpp"

#include <cerrno>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include "fieldbridge/drivers/codec.hpp"
#include "fieldbridge/drivers/rtu_timing.hpp"
#include "rtu_tcp_transport.hpp"

namespace fieldbridge::drivers {
namespace {

boost::system::error_code last_error() { return from_libmodbus_errno(errno); }

void set_timeout(modbus_t* ctx, milliseconds timeout,
                 int (*setter)(modbus_t*, std::uint32_t, std::uint32_t)) {
  const auto ms = static_cast<std::uint32_t>(timeout.count());
  setter(ctx, ms / 1000, (ms % 1000) * 1000);
}

// libmodbus's RTU and TCP backends.
class libmodbus_transport final : public modbus_transport {
 public:
  libmodbus_transport(modbus_ptr ctx, bool rs485) : ctx_(std::move(ctx)), rs485_(rs485) {}

  boost::system::error_code open() override {
    if (modbus_connect(ctx_.get()) == -1) {
      const auto ec = last_error();
      modbus_close(ctx_.get());
      return ec ? ec : make_error_code(modbus_errc::not_connected);
    }
    if (rs485_ && modbus_rtu_set_serial_mode(ctx_.get(), MODBUS_RTU_RS485) == -1) {
      modbus_close(ctx_.get());
      return modbus_errc::rs485_unsupported;
    }
    return {};
  }

  void close() noexcept override { modbus_close(ctx_.get()); }

  boost::system::error_code read(std::uint8_t unit, register_table table, std::uint16_t address,
                                 std::span<std::uint16_t> out) override {
    if (modbus_set_slave(ctx_.get(), unit) == -1) return modbus_errc::invalid_request;
    const int count = static_cast<int>(out.size());
    int rc = -1;
    if (table == register_table::coil || table == register_table::discrete_input) {
      std::vector<std::uint8_t> buffer(out.size());
      rc = table == register_table::coil ? modbus_read_bits(ctx_.get(), address, count, buffer.data())
                                         : modbus_read_input_bits(ctx_.get(), address, count, buffer.data());
      if (rc != -1) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = buffer[i] != 0 ? 1 : 0;
      }
    } else {
      rc = table == register_table::holding_register
               ? modbus_read_registers(ctx_.get(), address, count, out.data())
               : modbus_read_input_registers(ctx_.get(), address, count, out.data());
    }
    return rc == -1 ? last_error() : boost::system::error_code{};
  }

  boost::system::error_code write(std::uint8_t unit, write_function function, std::uint16_t address,
                                  std::span<const std::uint16_t> words) override {
    if (modbus_set_slave(ctx_.get(), unit) == -1) return modbus_errc::invalid_request;
    const int count = static_cast<int>(words.size());
    int rc = -1;
    switch (function) {
      case write_function::write_single_coil:
        rc = modbus_write_bit(ctx_.get(), address, words[0] != 0 ? 1 : 0);
        break;
      case write_function::write_single_register:
        rc = modbus_write_register(ctx_.get(), address, words[0]);
        break;
      case write_function::write_multiple_coils: {
        std::vector<std::uint8_t> buffer(words.size());
        for (std::size_t i = 0; i < words.size(); ++i) buffer[i] = words[i] != 0 ? 1 : 0;
        rc = modbus_write_bits(ctx_.get(), address, count, buffer.data());
        break;
      }
      case write_function::write_multiple_registers:
        rc = modbus_write_registers(ctx_.get(), address, count, words.data());
        break;
    }
    return rc == -1 ? last_error() : boost::system::error_code{};
  }

  void discard_pending() noexcept override { modbus_flush(ctx_.get()); }

 private:
  modbus_ptr ctx_;
  bool rs485_ = false;
};

}  // namespace

void modbus_closer::operator()(modbus_t* ctx) const noexcept {
  modbus_close(ctx);
  modbus_free(ctx);
}

link_timeouts timeouts_of(const bus_spec& bus) {
  return link_timeouts{bus.response_timeout, bus.byte_timeout, bus.inter_request_delay};
}

modbus_link::modbus_link(const bus_link& link, link_timeouts timeouts) : timeouts_(timeouts) {
  const auto with_timeouts = [&](modbus_ptr ctx) {
    set_timeout(ctx.get(), timeouts_.response, &modbus_set_response_timeout);
    if (timeouts_.byte.count() > 0) set_timeout(ctx.get(), timeouts_.byte, &modbus_set_byte_timeout);
    return ctx;
  };
  std::visit(
      [&](const auto& l) {
        using T = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<T, modbus_rtu_line>) {
          rtu_ = true;
          modbus_ptr ctx(modbus_new_rtu(l.device.c_str(), static_cast<int>(l.baud), l.parity, l.data_bits,
                                        l.stop_bits));
          if (!ctx) throw std::invalid_argument("bad Modbus RTU line settings for " + l.device);
          transport_ = std::make_unique<libmodbus_transport>(with_timeouts(std::move(ctx)), l.rs485);
          gap_ = request_gap(l, timeouts_.inter_request_delay);
        } else if constexpr (std::is_same_v<T, modbus_tcp_endpoint>) {
          modbus_ptr ctx(modbus_new_tcp_pi(l.host.c_str(), std::to_string(l.port).c_str()));
          if (!ctx) throw std::invalid_argument("bad Modbus TCP endpoint " + l.host);
          transport_ = std::make_unique<libmodbus_transport>(with_timeouts(std::move(ctx)), false);
          gap_ = timeouts_.inter_request_delay;
        } else if constexpr (std::is_same_v<T, modbus_rtu_tcp_endpoint>) {
          rtu_ = true;
          transport_ = make_rtu_tcp_transport(l, timeouts_);
          gap_ = timeouts_.inter_request_delay;
        } else {
          throw std::invalid_argument("a serial_line bus is not a Modbus link");
        }
      },
      link);
}

modbus_link::modbus_link(modbus_link&&) noexcept = default;
modbus_link& modbus_link::operator=(modbus_link&&) noexcept = default;
modbus_link::~modbus_link() = default;

boost::system::error_code modbus_link::open() {
  if (open_) return {};
  if (const auto ec = transport_->open()) return ec;
  open_ = true;
  last_activity_ = std::chrono::steady_clock::now();
  return {};
}

void modbus_link::close() noexcept {
  if (transport_) transport_->close();
  open_ = false;
}

bool modbus_link::is_open() const noexcept { return open_; }
bool modbus_link::is_rtu() const noexcept { return rtu_; }

void modbus_link::before_request() {
  // RTU frames end with silence; a request sent too soon would merge with
  // the previous answer on the line.
  if (gap_.count() > 0) std::this_thread::sleep_until(last_activity_ + gap_);
  ++requests_;
  request_sent_ = std::chrono::steady_clock::now();
}

void modbus_link::after_request(const boost::system::error_code& ec) {
  last_activity_ = std::chrono::steady_clock::now();
  // An exception is an answer too: the device was there to give it.
  if (!ec || is_exception(ec))
    last_round_trip_ = std::chrono::duration_cast<std::chrono::microseconds>(last_activity_ - request_sent_);
  if (!ec) return;
  if (is_link_failure(ec)) {
    close();
  } else if (!is_exception(ec)) {
    // A late or garbled answer must not be taken for the next one.
    transport_->discard_pending();
  }
}

boost::system::error_code modbus_link::read(std::uint8_t unit, register_table table,
                                            std::uint16_t address, std::uint16_t count,
                                            std::vector<std::uint16_t>& out) {
  const bool bits = table == register_table::coil || table == register_table::discrete_input;
  if (count == 0 || count > (bits ? MODBUS_MAX_READ_BITS : MODBUS_MAX_READ_REGISTERS) ||
      std::uint32_t{address} + count > 65536U) {
    return modbus_errc::invalid_request;
  }
  if (const auto ec = open()) return ec;
  out.assign(count, 0);
  before_request();
  const auto ec = transport_->read(unit, table, address, out);
  after_request(ec);
  return ec;
}

boost::system::error_code modbus_link::write(std::uint8_t unit, register_table table,
                                             std::uint16_t address,
                                             std::span<const std::uint16_t> words,
                                             bool force_multiple) {
  const auto function = choose_write_function(table, words.size(), force_multiple);
  const std::size_t limit =
      table == register_table::coil ? MODBUS_MAX_WRITE_BITS : MODBUS_MAX_WRITE_REGISTERS;
  if (!function || words.empty() || words.size() > limit ||
      std::size_t{address} + words.size() > 65536U) {
    return modbus_errc::invalid_request;
  }
  if (const auto ec = open()) return ec;
  before_request();
  const auto ec = transport_->write(unit, *function, address, words);
  after_request(ec);
  return ec;
}

}  // namespace fieldbridge::drivers
