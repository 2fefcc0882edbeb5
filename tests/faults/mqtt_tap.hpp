// A TCP relay between the gateway and the broker that reads the MQTT packets
// going through it: what the gateway released, in which order, and what the
// broker acknowledged. The subscriber sees the broker's order and the
// broker's losses (a SIGKILLed mosquitto restarts from a snapshot older than
// its last PUBREC, and re-sends its own queue in its own order); this tap
// sees what the gateway did, which is what fieldbridge promises.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fieldbridge::test::faults {

// The counter value in a sequence payload: the bare number of the point
// layout (`payload: value`), or the `"seq"` of a device message
// (`{"ts":..,"values":{"seq":N}}`, layout: device). nullopt otherwise.
std::optional<std::uint64_t> sequence_in(std::string_view payload);

class mqtt_tap {
 public:
  // Relays every connection to 127.0.0.1:`broker_port`; readings are the
  // sequence_in() of the payloads on `topic`.
  mqtt_tap(std::uint16_t broker_port, std::string topic);
  ~mqtt_tap();
  mqtt_tap(const mqtt_tap&) = delete;
  mqtt_tap& operator=(const mqtt_tap&) = delete;
  std::uint16_t port() const noexcept { return port_; }

  // Readings in the order the gateway first released them: a PUBLISH at
  // QoS 0/1, a PUBREL at QoS 2 (mosquitto 2.0 hands a QoS 2 message on at
  // PUBREL).
  std::vector<std::uint64_t> releases();
  // Readings the broker took over: PUBACK with success at QoS 1; at QoS 2 a
  // PUBREC with success and then the gateway's PUBREL (until the PUBREL the
  // message is still the gateway's to release).
  std::set<std::uint64_t> acknowledged();

 private:
  struct direction;
  void accept_loop();
  void relay(int gateway_fd, int broker_fd);
  void parse(direction& d, bool to_broker);

  std::uint16_t broker_port_;
  std::string topic_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mutex_;  // everything below, and relays_
  std::vector<std::thread> relays_;
  std::map<std::uint16_t, std::uint64_t> reading_of_id_;  // the gateway's packet ids
  std::map<std::uint16_t, int> qos_of_id_;
  std::set<std::uint16_t> pubrec_ok_;  // ids whose last PUBLISH the broker PUBRECed
  std::vector<std::uint64_t> releases_;
  std::set<std::uint64_t> released_, acknowledged_;
};

}  // namespace fieldbridge::test::faults
