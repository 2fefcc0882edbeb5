// A scripted serial device server for RTU-over-TCP component tests: listens
// on a loopback port, reads 8-byte request frames (reads and single writes)
// and answers each with what the script says: bytes, possibly late, split or
// garbled, or a closed connection. Runs its own thread; stopped by the
// destructor.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "fieldbridge/drivers/rtu_frame.hpp"

namespace fieldbridge::test {

struct box_step {
  std::vector<std::vector<std::uint8_t>> chunks;  // sent one after another
  std::chrono::milliseconds delay{0};             // before the first chunk
  std::chrono::milliseconds between{0};           // between chunks
  bool close = false;                             // close instead of answering
};

class rtu_box_fake {
 public:
  using script = std::function<box_step(const std::vector<std::uint8_t>& request, std::size_t index)>;

  explicit rtu_box_fake(script answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(listener_, 4);
    thread_ = std::thread([this] { serve(); });
  }
  ~rtu_box_fake() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    {
      std::lock_guard lock(mutex_);
      if (connection_ >= 0) ::shutdown(connection_, SHUT_RDWR);
    }
    thread_.join();
    ::close(listener_);
  }
  rtu_box_fake(const rtu_box_fake&) = delete;
  rtu_box_fake& operator=(const rtu_box_fake&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  std::size_t requests() const noexcept { return requests_; }
  std::size_t connections() const noexcept { return connections_; }

  // The normal answer to a read request, registers as given.
  static std::vector<std::uint8_t> answer(const std::vector<std::uint8_t>& request,
                                          const std::vector<std::uint16_t>& words) {
    std::vector<std::uint8_t> frame{request[0], request[1], static_cast<std::uint8_t>(words.size() * 2)};
    for (const auto w : words) {
      frame.push_back(static_cast<std::uint8_t>(w >> 8));
      frame.push_back(static_cast<std::uint8_t>(w & 0xFF));
    }
    const auto crc = drivers::crc16(frame);
    frame.push_back(static_cast<std::uint8_t>(crc & 0xFF));
    frame.push_back(static_cast<std::uint8_t>(crc >> 8));
    return frame;
  }

 private:
  void serve() {
    while (!stopping_) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++connections_;
      {
        std::lock_guard lock(mutex_);
        connection_ = fd;
      }
      std::vector<std::uint8_t> buffer;
      std::uint8_t chunk[256];
      bool open = true;
      while (open && !stopping_) {
        const auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        buffer.insert(buffer.end(), chunk, chunk + n);
        while (open && buffer.size() >= 8) {
          const std::vector<std::uint8_t> request(buffer.begin(), buffer.begin() + 8);
          buffer.erase(buffer.begin(), buffer.begin() + 8);
          const auto step = answer_(request, requests_++);
          if (step.close) {
            open = false;
            break;
          }
          std::this_thread::sleep_for(step.delay);  // the scripted device's own slowness
          for (std::size_t i = 0; i < step.chunks.size(); ++i) {
            if (i > 0) std::this_thread::sleep_for(step.between);
            ::send(fd, step.chunks[i].data(), step.chunks[i].size(), MSG_NOSIGNAL);
          }
        }
      }
      {
        std::lock_guard lock(mutex_);
        connection_ = -1;
      }
      ::close(fd);
    }
  }

  script answer_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> connections_{0};
  std::mutex mutex_;
  int connection_ = -1;
};

}  // namespace fieldbridge::test
