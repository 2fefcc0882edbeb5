// A Modbus RTU line or TCP endpoint polled by one worker thread: the only
// thread that makes blocking libmodbus calls for this bus.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "fieldbridge/drivers/bus.hpp"
#include "fieldbridge/drivers/planner.hpp"
#include "fieldbridge/drivers/worker_thread.hpp"

namespace fieldbridge::drivers {

// Thread-safety: write() and counters() from any thread; start()/stop() from
// the owner. Results are posted to the executor given at construction.
class modbus_bus final : public field_bus {
 public:
  // Throws std::invalid_argument when the link is not Modbus. Destroy it
  // before the executor's io_context: stop() posts pending write results.
  modbus_bus(bus_spec spec, boost::asio::any_io_executor executor, bus_handlers handlers,
             logger_ptr logger, backoff_policy policy = {}, planning mode = planning::merged);
  ~modbus_bus() override;

  void start() override;
  void stop() override;
  void request_stop() noexcept override;
  void write(std::string_view device, std::string_view point, point_value value,
             write_handler handler) override;
  std::vector<std::pair<std::string, device_counters>> counters() const override;
  const bus_spec& spec() const noexcept override { return spec_; }
  std::chrono::steady_clock::time_point last_progress() const noexcept override;

  // Readings the bus may have posted to the executor and not yet handled
  // before its worker waits to poll again. Without a bound, an event loop
  // slower than the polls (a rate it cannot keep up with, a long commit)
  // let the posted vectors pile up without limit: heaptrack at 100k
  // readings/s found 69 MB in 20,000 of them. 2,048 readings (about 300 KiB)
  // cover 40 ms of a bus at 50k readings/s, more than a loop's usual stall;
  // a device with more points than that still posts its poll whole.
  static constexpr std::size_t max_unhandled_readings = 2048;

 private:
  struct write_job {
    std::size_t device = 0;
    std::size_t point = 0;
    point_value value;
    write_handler handler;
  };
  struct worker;  // the worker thread's loop and the state only it touches
  // Readings posted to the executor and not handled yet: the worker waits
  // before its next poll while there are too many (modbus_bus.cpp). Shared
  // with the posted handlers, which may run after the bus is gone.
  struct unhandled;

  void post_result(write_handler handler, write_result result);

  const bus_spec spec_;
  boost::asio::any_io_executor executor_;
  bus_handlers handlers_;
  logger_ptr logger_;
  backoff_policy policy_;

  std::unique_ptr<worker> worker_;
  std::shared_ptr<unhandled> unhandled_;
  worker_thread thread_;  // with a sized stack (worker_thread.hpp)
  // Read by the worker between requests, so stop() need not wait for a
  // whole poll cycle; set under mutex_ too, for the condition variable.
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::chrono::steady_clock::rep> progress_{0};  // last_progress(), as ticks

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  bool stopping_ = false;
  bool running_ = false;
  std::deque<write_job> writes_;
  std::vector<device_counters> counters_;
};

}  // namespace fieldbridge::drivers
