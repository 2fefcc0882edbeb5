// Test helpers around one mqtt::client: options for loopback tests (short
// back-off and time-outs) and a recorder of its connection events, received
// messages and publish outcomes.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fieldbridge/mqtt/client.hpp"

namespace fieldbridge::test {

inline mqtt::client_options loopback_options(std::uint16_t port, mqtt::protocol_version version,
                                             std::string client_id = "fieldbridge-test") {
  using namespace std::chrono_literals;
  mqtt::client_options options;
  options.host = "127.0.0.1";
  options.port = port;
  options.protocol = version;
  options.client_id = std::move(client_id);
  options.keepalive = 30s;
  options.reconnect_min = 10ms;
  options.reconnect_max = 40ms;
  options.connect_timeout = 2s;
  return options;
}

inline std::string text_of(const std::vector<std::uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

// Owns a client and records what it reports.
struct recorded_client {
  recorded_client(boost::asio::io_context& io, mqtt::client_options options, logger_ptr logger = nullptr)
      : client(std::make_unique<mqtt::client>(io, std::move(options), std::move(logger))) {
    client->on_connection([this](const mqtt::connection_event& event) { events.push_back(event); });
    client->on_message([this](const mqtt::publish_packet& message) { messages.push_back(message); });
  }

  // Publishes and records the outcome under `payload`.
  void publish(const std::string& topic, const std::string& payload, mqtt::qos qos, bool retain = false) {
    ++published[payload];
    client->publish(topic, payload, qos, retain, {}, [this, payload](const mqtt::publish_result& result) {
      outcomes[payload].push_back(result);
    });
  }

  std::size_t connects() const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.connected ? 1 : 0;
    return n;
  }
  std::size_t disconnects() const { return events.size() - connects(); }
  bool done(const std::string& payload) const { return outcomes.count(payload) != 0; }
  std::size_t finished() const { return outcomes.size(); }

  std::unique_ptr<mqtt::client> client;
  std::vector<mqtt::connection_event> events;
  std::vector<mqtt::publish_packet> messages;
  std::map<std::string, std::vector<mqtt::publish_result>> outcomes;  // every completion, by payload
  std::map<std::string, int> published;                           // publishes, by payload
};

}  // namespace fieldbridge::test
