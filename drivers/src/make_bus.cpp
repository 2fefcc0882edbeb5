// The one place that knows which bus class serves which kind of link.
#include "fieldbridge/drivers/bus.hpp"
#include "fieldbridge/drivers/modbus_bus.hpp"
#include "fieldbridge/drivers/serial_line.hpp"

namespace fieldbridge::drivers {

std::unique_ptr<field_bus> make_bus(bus_spec spec, boost::asio::any_io_executor executor,
                                    bus_handlers handlers, logger_ptr logger, backoff_policy policy) {
  if (std::holds_alternative<serial_line_port>(spec.link)) {
    return std::make_unique<serial_line_bus>(std::move(spec), std::move(executor), std::move(handlers),
                                             std::move(logger), policy);
  }
  return std::make_unique<modbus_bus>(std::move(spec), std::move(executor), std::move(handlers),
                                      std::move(logger), policy);
}

}  // namespace fieldbridge::drivers
