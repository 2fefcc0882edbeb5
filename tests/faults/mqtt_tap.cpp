#include "mqtt_tap.hpp"

#include "network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace fieldbridge::test::faults {

struct mqtt_tap::direction {
  std::string bytes;  // not yet parsed
  int version = 4;    // the connection's protocol level (from CONNECT)
};

namespace {

bool read_varint(const std::string& b, std::size_t& i, std::size_t& value) {
  value = 0;
  for (std::size_t mult = 1, n = 0; n < 4; ++n, mult *= 128) {
    if (i >= b.size()) return false;
    const auto c = static_cast<unsigned char>(b[i++]);
    value += (c & 127u) * mult;
    if ((c & 128u) == 0) return true;
  }
  return false;
}

std::uint16_t u16(const std::string& b, std::size_t i) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[i]) << 8) | static_cast<unsigned char>(b[i + 1]));
}

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const auto w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

std::optional<std::uint64_t> sequence_in(std::string_view payload) {
  if (!payload.empty() && payload.front() == '{') {
    constexpr std::string_view key = "\"seq\":";
    const auto values = payload.find("\"values\":{");
    const auto at = values == std::string_view::npos ? values : payload.find(key, values);
    if (at == std::string_view::npos) return std::nullopt;
    payload.remove_prefix(at + key.size());
    payload = payload.substr(0, payload.find_first_of(",}"));
  }
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(payload.data(), payload.data() + payload.size(), value);
  if (error != std::errc{} || end != payload.data() + payload.size()) return std::nullopt;
  return value;
}

mqtt_tap::mqtt_tap(std::uint16_t broker_port, std::string topic) : broker_port_(broker_port), topic_(std::move(topic)) {
  listen_fd_ = listen_on_loopback(0, port_, "mqtt tap");
  acceptor_ = std::thread([this] { accept_loop(); });
}

mqtt_tap::~mqtt_tap() {
  stop_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> relays;
  {
    std::lock_guard lock(mutex_);
    relays.swap(relays_);
  }
  for (auto& t : relays) t.join();
}

void mqtt_tap::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int gateway = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (gateway < 0) continue;
    const int broker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(broker_port_);
    if (broker < 0 || ::connect(broker, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      // The broker is down: the gateway sees its connection closed at once.
      if (broker >= 0) ::close(broker);
      ::close(gateway);
      continue;
    }
    std::lock_guard lock(mutex_);
    relays_.emplace_back([this, gateway, broker] { relay(gateway, broker); });
  }
}

void mqtt_tap::relay(int gateway_fd, int broker_fd) {
  direction up, down;  // gateway → broker, broker → gateway
  char buffer[16384];
  while (!stop_) {
    pollfd p[2] = {{gateway_fd, POLLIN, 0}, {broker_fd, POLLIN, 0}};
    if (::poll(p, 2, 50) < 0 && errno != EINTR) break;
    bool closed = false;
    for (int k = 0; k < 2 && !closed; ++k) {
      if (p[k].revents == 0) continue;
      const auto n = ::recv(p[k].fd, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      auto& d = k == 0 ? up : down;
      d.bytes.append(buffer, static_cast<std::size_t>(n));
      parse(d, k == 0);
      if (!write_all(k == 0 ? broker_fd : gateway_fd, buffer, static_cast<std::size_t>(n))) closed = true;
    }
    if (closed) break;
  }
  ::close(gateway_fd);
  ::close(broker_fd);
}

// Reads the complete packets of one direction (the bytes were also relayed).
void mqtt_tap::parse(direction& d, bool to_broker) {
  std::size_t start = 0;
  auto& b = d.bytes;
  while (b.size() - start >= 2) {
    std::size_t i = start + 1, length = 0;
    if (!read_varint(b, i, length) || b.size() - i < length) break;
    const auto type = static_cast<unsigned char>(b[start]) >> 4;
    const auto flags = static_cast<unsigned char>(b[start]) & 15u;
    const auto body = b.substr(i, length);
    start = i + length;
    std::lock_guard lock(mutex_);
    if (to_broker && type == 1 && body.size() > 2) {  // CONNECT: protocol level
      const auto name = u16(body, 0);
      if (body.size() > 2u + name) d.version = static_cast<unsigned char>(body[2 + name]);
    } else if (to_broker && type == 3 && body.size() >= 2) {  // PUBLISH
      const int qos = static_cast<int>((flags >> 1) & 3u);
      const auto topic_length = u16(body, 0);
      std::size_t k = 2u + topic_length;
      if (body.compare(2, topic_length, topic_) != 0) continue;
      std::uint16_t id = 0;
      if (qos > 0) {
        id = u16(body, k);
        k += 2;
      }
      std::size_t properties = 0;
      if (d.version == 5 && !read_varint(body, k, properties)) continue;
      k += properties;
      if (k >= body.size()) continue;
      const auto found = sequence_in(std::string_view(body).substr(k));
      if (!found) continue;
      const auto reading = *found;
      if (qos == 2) {
        reading_of_id_[id] = reading;
        qos_of_id_[id] = qos;
        pubrec_ok_.erase(id);
      } else {
        if (qos == 1) {
          reading_of_id_[id] = reading;
          qos_of_id_[id] = qos;
        }
        if (released_.insert(reading).second) releases_.push_back(reading);
      }
    } else if (to_broker && type == 6 && body.size() >= 2) {  // PUBREL
      const auto id = u16(body, 0);
      const auto known = reading_of_id_.find(id);
      if (known == reading_of_id_.end()) continue;
      if (released_.insert(known->second).second) releases_.push_back(known->second);
      if (pubrec_ok_.count(id)) acknowledged_.insert(known->second);
    } else if (!to_broker && (type == 4 || type == 5) && body.size() >= 2) {  // PUBACK, PUBREC
      const auto id = u16(body, 0);
      const bool success = body.size() < 3 || static_cast<unsigned char>(body[2]) < 0x80;
      const auto known = reading_of_id_.find(id);
      if (!success || known == reading_of_id_.end()) continue;
      if (type == 4 && qos_of_id_[id] == 1) acknowledged_.insert(known->second);
      if (type == 5 && qos_of_id_[id] == 2) pubrec_ok_.insert(id);
    }
  }
  b.erase(0, start);
}

std::vector<std::uint64_t> mqtt_tap::releases() {
  std::lock_guard lock(mutex_);
  return releases_;
}

std::set<std::uint64_t> mqtt_tap::acknowledged() {
  std::lock_guard lock(mutex_);
  return acknowledged_;
}

}  // namespace fieldbridge::test::faults
