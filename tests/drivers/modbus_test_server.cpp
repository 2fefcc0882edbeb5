#include "modbus_test_server.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace fieldbridge::test {
namespace {

constexpr int table_size = 10000;
constexpr int poll_ms = 10;  // how soon the serving thread notices stop()

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

}  // namespace

std::unique_ptr<modbus_test_server> modbus_test_server::tcp(std::uint16_t port) {
  std::unique_ptr<modbus_test_server> server(new modbus_test_server());
  server->ctx_ = modbus_new_tcp("127.0.0.1", port);
  server->mapping_ = modbus_mapping_new(table_size, table_size, table_size, table_size);
  if (server->ctx_ == nullptr || server->mapping_ == nullptr) throw std::runtime_error("libmodbus server");
  server->listen_fd_ = modbus_tcp_listen(server->ctx_, 4);
  if (server->listen_fd_ == -1) throw std::runtime_error(std::string("listen: ") + modbus_strerror(errno));
  server->running_ = true;
  server->thread_ = std::thread([s = server.get()] { s->serve_tcp(); });
  return server;
}

std::unique_ptr<modbus_test_server> modbus_test_server::rtu(std::string device, std::uint32_t baud,
                                                            std::uint8_t unit) {
  std::unique_ptr<modbus_test_server> server(new modbus_test_server());
  server->device_ = device;
  server->ctx_ = modbus_new_rtu(device.c_str(), static_cast<int>(baud), 'N', 8, 1);
  server->mapping_ = modbus_mapping_new(table_size, table_size, table_size, table_size);
  if (server->ctx_ == nullptr || server->mapping_ == nullptr) throw std::runtime_error("libmodbus server");
  modbus_set_slave(server->ctx_, unit);
  modbus_set_response_timeout(server->ctx_, 0, 5000);
  if (modbus_connect(server->ctx_) == -1) throw std::runtime_error(std::string("rtu open: ") + modbus_strerror(errno));
  server->running_ = true;
  server->thread_ = std::thread([s = server.get()] { s->serve_rtu(); });
  return server;
}

modbus_test_server::~modbus_test_server() {
  stop();
  if (mapping_ != nullptr) modbus_mapping_free(mapping_);
  if (ctx_ != nullptr) modbus_free(ctx_);
}

void modbus_test_server::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  if (client_fd_ != -1) ::close(client_fd_);
  if (listen_fd_ != -1) ::close(listen_fd_);
  client_fd_ = listen_fd_ = -1;
  if (ctx_ != nullptr) modbus_close(ctx_);
}

void modbus_test_server::set(register_table table, std::uint16_t address,
                             const std::vector<std::uint16_t>& words) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::size_t a = address + i;
    switch (table) {
      case register_table::coil: mapping_->tab_bits[a] = words[i] != 0; break;
      case register_table::discrete_input: mapping_->tab_input_bits[a] = words[i] != 0; break;
      case register_table::input_register: mapping_->tab_input_registers[a] = words[i]; break;
      case register_table::holding_register: mapping_->tab_registers[a] = words[i]; break;
    }
  }
}

std::vector<std::uint16_t> modbus_test_server::get(register_table table, std::uint16_t address,
                                                   std::uint16_t count) {
  std::lock_guard lock(mutex_);
  std::vector<std::uint16_t> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t a = address + i;
    switch (table) {
      case register_table::coil: out[i] = mapping_->tab_bits[a]; break;
      case register_table::discrete_input: out[i] = mapping_->tab_input_bits[a]; break;
      case register_table::input_register: out[i] = mapping_->tab_input_registers[a]; break;
      case register_table::holding_register: out[i] = mapping_->tab_registers[a]; break;
    }
  }
  return out;
}

void modbus_test_server::set_dead_units(std::set<std::uint8_t> units) {
  std::lock_guard lock(mutex_);
  dead_units_ = std::move(units);
}

void modbus_test_server::set_exception(std::uint8_t unit, int code) {
  std::lock_guard lock(mutex_);
  exceptions_.emplace_back(unit, code);
}

void modbus_test_server::set_rejected_addresses(std::set<std::uint16_t> addresses) {
  std::lock_guard lock(mutex_);
  rejected_ = std::move(addresses);
}

void modbus_test_server::drop_clients() { drop_ = true; }

void modbus_test_server::set_corrupt_answers(bool on) { corrupt_ = on; }

std::vector<int> modbus_test_server::functions_seen() {
  std::lock_guard lock(mutex_);
  return functions_;
}

std::vector<std::pair<std::uint8_t, int>> modbus_test_server::request_log() {
  std::lock_guard lock(mutex_);
  return log_;
}

void modbus_test_server::answer(const std::uint8_t* query, int length) {
  const int header = modbus_get_header_length(ctx_);
  const std::uint8_t unit = query[header - 1];
  const int function = query[header];
  const std::uint16_t address = be16(query + header + 1);
  const std::uint16_t count = function <= 4 ? be16(query + header + 3) : 1;
  std::lock_guard lock(mutex_);
  ++requests_;
  log_.emplace_back(unit, function);
  if (dead_units_.contains(unit)) return;
  functions_.push_back(function);
  for (const auto& [u, code] : exceptions_) {
    if (u == unit) {
      modbus_reply_exception(ctx_, query, static_cast<unsigned>(code));
      return;
    }
  }
  if (corrupt_ && function >= 3 && function <= 4 && !device_.empty()) {
    // A well-formed read answer whose CRC is wrong, as line noise makes one.
    std::vector<std::uint8_t> frame = {unit, static_cast<std::uint8_t>(function),
                                       static_cast<std::uint8_t>(count * 2)};
    frame.resize(frame.size() + count * 2U, 0);
    frame.push_back(0xDE);
    frame.push_back(0xAD);
    const auto written = ::write(modbus_get_socket(ctx_), frame.data(), frame.size());
    (void)written;
    return;
  }
  if (function <= 4) {
    const auto hit = rejected_.lower_bound(address);
    if (hit != rejected_.end() && *hit < address + count) {
      modbus_reply_exception(ctx_, query, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS);
      return;
    }
  }
  modbus_reply(ctx_, query, length, mapping_);
}

void modbus_test_server::serve_tcp() {
  std::uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
  while (running_) {
    if (drop_.exchange(false) && client_fd_ != -1) {
      ::close(client_fd_);
      client_fd_ = -1;
    }
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {client_fd_, POLLIN, 0}};
    if (::poll(fds, client_fd_ == -1 ? 1 : 2, poll_ms) <= 0) continue;
    if ((fds[0].revents & POLLIN) != 0) {
      if (client_fd_ != -1) ::close(client_fd_);  // one client at a time: the newest
      int fd = listen_fd_;
      client_fd_ = modbus_tcp_accept(ctx_, &fd);
      continue;
    }
    if (client_fd_ != -1 && fds[1].revents != 0) {
      modbus_set_socket(ctx_, client_fd_);
      const int rc = modbus_receive(ctx_, query);
      if (rc > 0) {
        answer(query, rc);
      } else if (rc == -1) {
        ::close(client_fd_);
        client_fd_ = -1;
      }
    }
  }
}

void modbus_test_server::serve_rtu() {
  std::uint8_t query[MODBUS_RTU_MAX_ADU_LENGTH];
  bool open = true;
  while (running_) {
    if (!open) {
      // The pty vanished; wait for it to come back, as a device stays powered.
      if (::access(device_.c_str(), F_OK) == 0 && modbus_connect(ctx_) == 0) {
        open = true;
      } else {
        ::poll(nullptr, 0, poll_ms);
      }
      continue;
    }
    pollfd fd{modbus_get_socket(ctx_), POLLIN, 0};
    if (::poll(&fd, 1, poll_ms) <= 0) continue;
    if ((fd.revents & (POLLHUP | POLLERR)) != 0 && (fd.revents & POLLIN) == 0) {
      modbus_close(ctx_);
      open = false;
      continue;
    }
    const int rc = modbus_receive(ctx_, query);
    if (rc > 0) {
      answer(query, rc);
    } else if (rc == 0) {
      // A request for another unit: libmodbus now expects that unit's answer
      // and would swallow the next request as it. A dead unit never answers,
      // so let that wait time out (5 ms, well inside the master's time-out).
      modbus_receive(ctx_, query);
    } else if (rc == -1 && errno != EMBBADCRC) {
      modbus_close(ctx_);
      open = false;
    }
  }
}

}  // namespace fieldbridge::test
