// A scripted MQTT broker for component tests of the client: an acceptor on
// 127.0.0.1:0 on the test's own io_context. Every packet a client sends is
// decoded with the codec, recorded per connection, and handed to the test's
// script, which answers with packets or raw bytes (now or after a delay on a
// timer) or closes the connection. No threads, no sleeps.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fieldbridge/mqtt/codec.hpp"
#include "fieldbridge/mqtt/packet.hpp"

namespace fieldbridge::test {

// One accepted client connection. Lives as long as the broker.
class fake_connection {
 public:
  fake_connection(boost::asio::io_context& io, boost::asio::ip::tcp::socket socket, int index);

  int index() const noexcept { return index_; }  // 0 for the first connection, 1 for the next, ...
  mqtt::protocol_version version() const noexcept { return version_; }
  const std::vector<mqtt::packet>& received() const noexcept { return received_; }
  bool open() const noexcept { return socket_.is_open(); }
  bool closed_by_peer() const noexcept { return closed_by_peer_; }

  // Sends a packet (encoded for this connection's version), raw bytes, or
  // closes the socket; `delay` > 0 runs it on a timer.
  void send(const mqtt::packet& packet, std::chrono::milliseconds delay = std::chrono::milliseconds{0});
  void send_raw(std::vector<std::uint8_t> bytes, std::chrono::milliseconds delay = std::chrono::milliseconds{0});
  void close(std::chrono::milliseconds delay = std::chrono::milliseconds{0});

  // Runs `action` after `delay` on a timer of the test's io_context.
  void later(std::chrono::milliseconds delay, std::function<void()> action);

  // Called by the broker.
  void shutdown();
  void start(std::function<void(fake_connection&, const mqtt::packet&)> script);

 private:
  void read();
  void write_next();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::socket socket_;
  int index_;
  mqtt::protocol_version version_ = mqtt::protocol_version::v5;
  mqtt::decoder decoder_;
  std::vector<mqtt::packet> received_;
  std::vector<std::uint8_t> read_buffer_;
  std::vector<std::vector<std::uint8_t>> write_queue_;
  bool writing_ = false;
  bool close_after_write_ = false;
  bool closed_by_peer_ = false;
  std::function<void(fake_connection&, const mqtt::packet&)> script_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> timers_;
};

class fake_broker {
 public:
  // The script sees every packet every connection receives, in order.
  using script = std::function<void(fake_connection&, const mqtt::packet&)>;

  fake_broker(boost::asio::io_context& io, script on_packet);
  std::uint16_t port() const noexcept { return port_; }
  std::size_t connection_count() const noexcept { return connections_.size(); }
  fake_connection& connection(std::size_t index) { return *connections_.at(index); }
  // Closes the acceptor, every connection and timer, so run() can return.
  void shutdown();
  // Packets of one type that connection `index` received (none while it does not exist).
  template <class Packet>
  std::vector<Packet> received(std::size_t index) {
    std::vector<Packet> out;
    if (index >= connections_.size()) return out;
    for (const auto& p : connection(index).received()) {
      if (const auto* typed = std::get_if<Packet>(&p)) out.push_back(*typed);
    }
    return out;
  }

 private:
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_;
  script script_;
  std::vector<std::unique_ptr<fake_connection>> connections_;
};

// Runs `io` until `condition` holds or `timeout` passes; returns whether it held.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});

// Small builders for the scripts.
mqtt::connack_packet connack(bool session_present = false, mqtt::reason_code code = mqtt::reason_code::success);

}  // namespace fieldbridge::test
