// The simulated devices: one modbus_mapping_t per unit group, kept up to date
// from the profiles just before each answer. Thread-safe: every connection
// thread calls in, one request at a time under the model's mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <modbus/modbus.h>

#include "fieldbridge/simulator/sim_config.hpp"

namespace fieldbridge::simulator {

struct mapping_closer {
  void operator()(modbus_mapping_t* mapping) const noexcept { modbus_mapping_free(mapping); }
};
using mapping_ptr = std::unique_ptr<modbus_mapping_t, mapping_closer>;

// What one request asks for, read from its frame.
struct request_view {
  std::uint8_t unit = 0;
  std::uint8_t function = 0;
  std::optional<register_table> table;
  std::uint16_t address = 0;       // the read range, or the written one
  std::uint16_t quantity = 0;
  std::uint16_t write_address = 0;  // FC23 writes elsewhere than it reads
  std::uint16_t write_quantity = 0;
};

// `frame` starts at the unit id (RTU) or the MBAP header (TCP, header_length 7).
request_view parse_request(std::span<const std::uint8_t> frame, int header_length);

// How to treat a request: drop it, answer it late, answer with an exception.
struct decision {
  bool answer = false;              // false: the unit is not simulated or a no_answer fault
  std::chrono::milliseconds delay{0};
  std::optional<std::uint8_t> exception;
};

class device_model {
 public:
  // `print` receives one line per write the devices receive.
  device_model(const sim_config& config, std::function<void(const std::string&)> print);

  decision decide(const request_view& request) const;

  // Answers on `ctx` (whose socket is the requester's): refreshes the
  // profiles the request reads, then modbus_reply or the decided exception.
  // Logs the writes it applies.
  void answer(modbus_t* ctx, std::span<const std::uint8_t> frame, const request_view& request,
              const decision& how);

  // Whether the request's range lies inside the unit's map (else libmodbus
  // answers "illegal data address"), for RTU pacing.
  bool in_map(const request_view& request) const;

  void replace_faults(std::vector<fault> faults);

 private:
  struct group_state {
    const unit_group* spec = nullptr;
    mapping_ptr mapping;
    std::vector<std::vector<std::uint64_t>> reads;  // per block, per value
    std::map<register_table, std::vector<bool>> pinned;  // written by a client: profiles stop there
  };

  void refresh(group_state& group, register_table table, std::uint32_t address, std::uint32_t quantity);
  void record_write(group_state& group, const request_view& request);
  const group_state* find(std::uint8_t unit) const;
  group_state* find(std::uint8_t unit);

  sim_config config_;
  std::function<void(const std::string&)> print_;
  mutable std::mutex mutex_;
  std::vector<group_state> groups_;
  std::map<std::uint8_t, std::size_t> group_of_unit_;
  std::vector<fault> faults_;
  std::mt19937_64 random_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace fieldbridge::simulator
