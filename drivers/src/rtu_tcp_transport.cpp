#include "rtu_tcp_transport.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "fieldbridge/drivers/modbus_error.hpp"
#include "fieldbridge/drivers/rtu_frame.hpp"

namespace fieldbridge::drivers {
namespace {

using steady = std::chrono::steady_clock;

boost::system::error_code system_error(int err) {
  return {err, boost::system::system_category()};
}

// Waits until `fd` has `events` or `deadline` passes; false on time-out.
bool wait_for(int fd, short events, steady::time_point deadline, boost::system::error_code& ec) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    const int timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, timeout);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      ec = system_error(errno);
      return false;
    }
    if (ready == 0) {
      if (steady::now() < deadline) continue;  // poll's milliseconds rounded down
      return false;
    }
    return true;
  }
}

class rtu_tcp_transport final : public modbus_transport {
 public:
  rtu_tcp_transport(modbus_rtu_tcp_endpoint endpoint, link_timeouts timeouts)
      : endpoint_(std::move(endpoint)), timeouts_(timeouts) {}
  ~rtu_tcp_transport() override { close(); }
  rtu_tcp_transport(const rtu_tcp_transport&) = delete;
  rtu_tcp_transport& operator=(const rtu_tcp_transport&) = delete;

  boost::system::error_code open() override {
    close();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const auto port = std::to_string(endpoint_.port);
    if (::getaddrinfo(endpoint_.host.c_str(), port.c_str(), &hints, &found) != 0) {
      return modbus_errc::not_connected;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
    boost::system::error_code last = modbus_errc::not_connected;
    // Connecting is bounded like a request: a box that is off must not hold
    // the worker for the kernel's minutes-long SYN retries.
    const auto deadline = steady::now() + std::max(timeouts_.response, std::chrono::milliseconds{1000});
    for (auto* a = found; a != nullptr; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (fd < 0) {
        last = system_error(errno);
        continue;
      }
      if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
        last = system_error(errno);
        ::close(fd);
        continue;
      }
      boost::system::error_code ec;
      if (!wait_for(fd, POLLOUT, deadline, ec)) {
        last = ec ? ec : system_error(ETIMEDOUT);
        ::close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = system_error(err);
        ::close(fd);
        continue;
      }
      const int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      fd_ = fd;
      return {};
    }
    return last;
  }

  void close() noexcept override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

  boost::system::error_code read(std::uint8_t unit, register_table table, std::uint16_t address,
                                 std::span<std::uint16_t> out) override {
    const auto count = static_cast<std::uint16_t>(out.size());
    std::span<const std::uint8_t> answer;
    if (const auto ec = exchange(rtu_read_request(unit, table, address, count), answer)) return ec;
    const auto words = answer_words(answer, table, count);
    std::copy(words.begin(), words.end(), out.begin());
    return {};
  }

  boost::system::error_code write(std::uint8_t unit, write_function function, std::uint16_t address,
                                  std::span<const std::uint16_t> words) override {
    std::span<const std::uint8_t> answer;
    return exchange(rtu_write_request(unit, function, address, words), answer);
  }

  void discard_pending() noexcept override {
    buffer_.clear();
    drain();
  }

 private:
  // Sends `request` and waits for its answer; `answer` points into buffer_.
  boost::system::error_code exchange(const std::vector<std::uint8_t>& request,
                                     std::span<const std::uint8_t>& answer) {
    if (fd_ < 0) return modbus_errc::not_connected;
    // Whatever came in since the last exchange is a late answer or noise.
    buffer_.clear();
    if (const auto ec = drain()) return ec;
    if (const auto ec = send_all(request)) return ec;
    const auto expected = expect_answer(request);
    const auto deadline = steady::now() + timeouts_.response;
    std::uint8_t chunk[512];
    while (true) {
      const auto scan = find_answer(buffer_, expected);
      switch (scan.what) {
        case rtu_scan::result::answer:
          answer = std::span<const std::uint8_t>(buffer_).subspan(scan.start, scan.size);
          return {};
        case rtu_scan::result::exception:
          return exception_error(scan.exception_code);
        case rtu_scan::result::bad_crc:
          return modbus_errc::crc_error;
        case rtu_scan::result::incomplete:
          // Bytes before `start` can never begin our answer.
          buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(scan.start));
          break;
      }
      boost::system::error_code ec;
      if (!wait_for(fd_, POLLIN, deadline, ec)) return ec ? ec : make_error_code(modbus_errc::timeout);
      const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return system_error(errno);
      if (n == 0) return system_error(ECONNRESET);  // the box closed the connection
      buffer_.insert(buffer_.end(), chunk, chunk + n);
    }
  }

  boost::system::error_code send_all(const std::vector<std::uint8_t>& bytes) {
    std::size_t sent = 0;
    const auto deadline = steady::now() + timeouts_.response;
    while (sent < bytes.size()) {
      const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        boost::system::error_code ec;
        if (!wait_for(fd_, POLLOUT, deadline, ec)) return ec ? ec : system_error(ETIMEDOUT);
        continue;
      }
      return system_error(n < 0 ? errno : ECONNRESET);
    }
    return {};
  }

  // Reads and drops whatever is already in; a closed socket is an error.
  boost::system::error_code drain() noexcept {
    if (fd_ < 0) return {};
    std::uint8_t chunk[512];
    while (true) {
      const auto n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return {};
      return system_error(n < 0 ? errno : ECONNRESET);
    }
  }

  modbus_rtu_tcp_endpoint endpoint_;
  link_timeouts timeouts_;
  int fd_ = -1;
  std::vector<std::uint8_t> buffer_;
};

}  // namespace

std::unique_ptr<modbus_transport> make_rtu_tcp_transport(const modbus_rtu_tcp_endpoint& endpoint,
                                                         link_timeouts timeouts) {
  return std::make_unique<rtu_tcp_transport>(endpoint, timeouts);
}

}  // namespace fieldbridge::drivers
