// An in-process libmodbus server for the driver tests: TCP on loopback or RTU
// on a pty end, served by its own thread, with faults on request (silent
// units, exceptions, addresses that reject reads, dropped connections).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <modbus.h>

#include "fieldbridge/core/model.hpp"

namespace fieldbridge::test {

class modbus_test_server {
 public:
  // Listens on 127.0.0.1:port; answers every unit id except the dead ones.
  static std::unique_ptr<modbus_test_server> tcp(std::uint16_t port);
  // Opens the pty end `device` as RTU unit `unit`; reopens it when the pty
  // vanishes and comes back, as a powered device on a re-plugged line would.
  static std::unique_ptr<modbus_test_server> rtu(std::string device, std::uint32_t baud, std::uint8_t unit);

  ~modbus_test_server();
  modbus_test_server(const modbus_test_server&) = delete;
  modbus_test_server& operator=(const modbus_test_server&) = delete;

  void stop();

  void set(register_table table, std::uint16_t address, const std::vector<std::uint16_t>& words);
  std::vector<std::uint16_t> get(register_table table, std::uint16_t address, std::uint16_t count);

  void set_dead_units(std::set<std::uint8_t> units);              // never answer these
  void set_exception(std::uint8_t unit, int code);                 // answer this unit with an exception
  void set_rejected_addresses(std::set<std::uint16_t> addresses);  // reads spanning them: illegal data address
  void drop_clients();                                             // close the TCP connection(s)
  void set_corrupt_answers(bool on);                               // RTU: answer reads with a bad CRC

  std::uint64_t requests() const { return requests_.load(); }
  std::vector<int> functions_seen();  // function codes of the requests answered, in order
  // Every request received, answered or not: (unit, function code), in order.
  std::vector<std::pair<std::uint8_t, int>> request_log();

 private:
  modbus_test_server() = default;
  void serve_tcp();
  void serve_rtu();
  void answer(const std::uint8_t* query, int length);

  modbus_t* ctx_ = nullptr;
  modbus_mapping_t* mapping_ = nullptr;
  int listen_fd_ = -1;
  int client_fd_ = -1;
  std::string device_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> drop_{false};
  std::atomic<bool> corrupt_{false};
  std::atomic<std::uint64_t> requests_{0};

  std::mutex mutex_;  // guards the mapping and the fault settings
  std::set<std::uint8_t> dead_units_;
  std::vector<std::pair<std::uint8_t, int>> exceptions_;
  std::set<std::uint16_t> rejected_;
  std::vector<int> functions_;
  std::vector<std::pair<std::uint8_t, int>> log_;
};

}  // namespace fieldbridge::test
