#include "fieldbridge/simulator/simulator.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <modbus/modbus.h>

#include "device_model.hpp"
#include "fieldbridge/drivers/modbus_link.hpp"
#include "fieldbridge/simulator/frames.hpp"

namespace fieldbridge::simulator {

namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

using drivers::modbus_ptr;

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Every server thread polls the read end; one byte written makes it readable
// for good, so all of them wake and leave.
class stop_signal {
 public:
  stop_signal() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("simulate: pipe failed");
    read_ = unique_fd(fds[0]);
    write_ = unique_fd(fds[1]);
  }
  void raise() const noexcept {
    const char byte = 1;
    [[maybe_unused]] const auto written = ::write(write_.get(), &byte, 1);
  }
  int fd() const noexcept { return read_.get(); }

 private:
  unique_fd read_, write_;
};

// Why wait_readable returned: data on `fd`, the deadline, stop raised, or
// the descriptor failed (hang-up, error).
enum class wake { readable, timeout, stopped, hangup };

// Waits for `fd` (none when -1) or the stop signal, until `deadline` if any.
wake wait_readable(int fd, const stop_signal& stop, std::optional<steady::time_point> deadline) {
  pollfd fds[2] = {{stop.fd(), POLLIN, 0}, {fd, POLLIN, 0}};
  const nfds_t count = fd >= 0 ? 2 : 1;
  while (true) {
    timespec remaining{};
    timespec* timeout = nullptr;
    if (deadline) {
      const auto left = std::max(steady::duration::zero(), *deadline - steady::now());
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      remaining.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      remaining.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      timeout = &remaining;
    }
    const int ready = ::ppoll(fds, count, timeout, nullptr);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return wake::hangup;
    if ((fds[0].revents & POLLIN) != 0) return wake::stopped;
    if (ready == 0) return wake::timeout;
    if ((fds[1].revents & POLLIN) != 0) return wake::readable;
    return wake::hangup;  // POLLHUP / POLLERR without data
  }
}

// Sleeps until `deadline` unless stop is raised first; false when stopped.
bool sleep_until(const stop_signal& stop, steady::time_point deadline) {
  return wait_readable(-1, stop, deadline) != wake::stopped;
}

std::string unit_list(const sim_config& config) { return fmt::format("{}", fmt::join(config.unit_ids(), ",")); }

unique_fd listen_tcp(const modbus_tcp_endpoint& endpoint) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const auto port = std::to_string(endpoint.port);
  if (const int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error(fmt::format("simulate: cannot resolve {}: {}", endpoint.host, ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  std::string error = "no address";
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    unique_fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) continue;
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd.get(), 32) == 0) return fd;
    error = std::strerror(errno);
  }
  throw std::runtime_error(fmt::format("simulate: cannot listen on {}:{}: {}", endpoint.host, endpoint.port, error));
}

// The length of the complete RTU request at the front of `buffer`, once it
// has arrived whole with a good CRC; nullopt while it is incomplete, or when
// it was dropped (an unknown function code, a bad CRC: the buffer is
// cleared, as a device discards a garbled frame). Shared by the serial and
// the RTU-over-TCP servers.
std::optional<std::size_t> next_rtu_frame(std::vector<std::uint8_t>& buffer, const logger_ptr& log) {
  if (buffer.size() < 2) return std::nullopt;
  auto need = rtu_request_size(buffer);
  if (need == 0) {
    log->debug("dropped a frame with function code {}", buffer[1]);
    buffer.clear();
    return std::nullopt;
  }
  if (buffer.size() < need) return std::nullopt;
  need = rtu_request_size(std::span(buffer.data(), need));
  if (buffer.size() < need) return std::nullopt;
  const std::span<const std::uint8_t> frame(buffer.data(), need);
  const auto crc = crc16(frame.first(need - 2));
  if (frame[need - 2] != (crc & 0xFF) || frame[need - 1] != (crc >> 8)) {
    log->debug("dropped a frame with a bad CRC");
    buffer.clear();
    return std::nullopt;
  }
  return need;
}

}  // namespace

struct simulator::impl {
  impl(sim_config c, logger_ptr l, std::FILE* o)
      : config(std::move(c)), log(std::move(l)), out(o),
        model(config, [this](const std::string& line) { print(line); }) {}

  struct connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  sim_config config;
  logger_ptr log;
  std::FILE* out;
  std::mutex out_mutex;
  device_model model;
  stop_signal stop_requested;
  std::thread server;
  std::mutex connections_mutex;
  std::list<connection> connections;
  bool started = false;

  void print(const std::string& line) {
    std::lock_guard lock(out_mutex);
    fmt::print(out, "{}\n", line);
    std::fflush(out);
  }

  void serve_tcp(unique_fd listener, bool rtu_frames);
  void serve_connection(unique_fd socket, connection& self);
  void serve_rtu_connection(unique_fd socket, connection& self);
  void serve_rtu(modbus_ptr line);
  modbus_ptr open_rtu() const;
};

void simulator::impl::serve_tcp(unique_fd listener, bool rtu_frames) {
  while (wait_readable(listener.get(), stop_requested, std::nullopt) == wake::readable) {
    unique_fd socket(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (socket.get() < 0) continue;
    const int on = 1;
    ::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    std::lock_guard lock(connections_mutex);
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->done) {
        it->thread.join();
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
    auto& slot = connections.emplace_back();
    slot.thread = std::thread([this, fd = std::move(socket), &slot, rtu_frames]() mutable {
      if (rtu_frames) {
        serve_rtu_connection(std::move(fd), slot);
      } else {
        serve_connection(std::move(fd), slot);
      }
    });
  }
}

void simulator::impl::serve_connection(unique_fd socket, connection& self) {
  // A context of its own per connection: modbus_reply answers on its socket.
  modbus_ptr ctx(modbus_new_tcp("127.0.0.1", 502));
  if (!ctx) {
    self.done = true;
    return;
  }
  modbus_set_socket(ctx.get(), socket.release());
  const int fd = modbus_get_socket(ctx.get());
  std::vector<std::uint8_t> buffer;
  std::uint8_t chunk[512];
  while (wait_readable(fd, stop_requested, std::nullopt) == wake::readable) {
    const auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    buffer.insert(buffer.end(), chunk, chunk + n);
    bool broken = false;
    while (!buffer.empty()) {
      const auto need = tcp_frame_size(buffer);
      if (need == 0) {
        broken = true;  // not Modbus TCP: drop the connection as a device would
        break;
      }
      if (buffer.size() < need) break;
      const std::span<const std::uint8_t> frame(buffer.data(), need);
      const auto request = parse_request(frame, 7);
      const auto how = model.decide(request);
      log->debug("unit {} fc {} address {} quantity {}{}", request.unit, request.function, request.address,
                 request.quantity, how.answer ? "" : " (no answer)");
      if (how.answer) {
        if (how.delay > 0ms && !sleep_until(stop_requested, steady::now() + how.delay)) break;
        model.answer(ctx.get(), frame, request, how);
      }
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(need));
    }
    if (broken) break;
  }
  self.done = true;
}

// RTU frames on a TCP socket, as a serial device server passes them on: the
// same framing as serve_rtu (a frame with a bad CRC or an unknown function
// is dropped with what follows it in that read), without the line's pacing.
void simulator::impl::serve_rtu_connection(unique_fd socket, connection& self) {
  // An RTU context that is never connected: modbus_reply frames the answer
  // (CRC included) and writes it to the socket given here.
  modbus_ptr ctx(modbus_new_rtu("/dev/null", 9600, 'N', 8, 1));
  if (!ctx) {
    self.done = true;
    return;
  }
  modbus_set_socket(ctx.get(), socket.release());
  const int fd = modbus_get_socket(ctx.get());
  std::vector<std::uint8_t> buffer;
  std::uint8_t chunk[512];
  steady::time_point first_byte{};
  while (true) {
    const auto woke = wait_readable(fd, stop_requested,
                                    buffer.empty() ? std::nullopt : std::optional{first_byte + 500ms});
    if (woke == wake::stopped || woke == wake::hangup) break;
    if (woke == wake::timeout) {
      log->debug("dropped {} bytes of an incomplete frame", buffer.size());
      buffer.clear();
      continue;
    }
    const auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    if (buffer.empty()) first_byte = steady::now();
    buffer.insert(buffer.end(), chunk, chunk + n);
    bool stopped = false;
    while (const auto length = next_rtu_frame(buffer, log)) {
      const auto need = *length;
      const std::span<const std::uint8_t> frame(buffer.data(), need);
      const auto request = parse_request(frame, 1);
      const auto how = model.decide(request);
      log->debug("unit {} fc {} address {} quantity {}{}", request.unit, request.function, request.address,
                 request.quantity, how.answer ? "" : " (no answer)");
      if (how.answer) {
        if (how.delay > 0ms && !sleep_until(stop_requested, steady::now() + how.delay)) {
          stopped = true;
          break;
        }
        model.answer(ctx.get(), frame, request, how);
      }
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(need));
      first_byte = steady::now();
    }
    if (stopped) break;
  }
  self.done = true;
}

modbus_ptr simulator::impl::open_rtu() const {
  const auto& line = std::get<modbus_rtu_line>(config.link);
  modbus_ptr ctx(modbus_new_rtu(line.device.c_str(), static_cast<int>(line.baud), line.parity, line.data_bits,
                                line.stop_bits));
  if (!ctx || modbus_connect(ctx.get()) != 0) return nullptr;
  return ctx;
}

void simulator::impl::serve_rtu(modbus_ptr line) {
  const auto& settings = std::get<modbus_rtu_line>(config.link);
  const auto character = rtu_character_time(settings);
  const auto gap = rtu_frame_gap(settings);
  std::vector<std::uint8_t> buffer;
  std::uint8_t chunk[512];
  steady::time_point first_byte{};
  while (true) {
    if (!line) {
      // The line went away (the adapter was unplugged, socat stopped): reopen when it returns.
      if (!sleep_until(stop_requested, steady::now() + 100ms)) return;
      line = open_rtu();
      if (line) print(fmt::format("simulate: reopened {}", settings.device));
      continue;
    }
    const int fd = modbus_get_socket(line.get());
    // A partial frame that stops arriving is noise; drop it.
    auto woke = wake::timeout;
    if (buffer.empty()) {
      woke = wait_readable(fd, stop_requested, std::nullopt);
    } else {
      woke = wait_readable(fd, stop_requested, first_byte + 20 * gap + 50ms);
    }
    if (woke == wake::stopped) return;
    if (woke == wake::timeout) {
      log->debug("dropped {} bytes of an incomplete frame", buffer.size());
      buffer.clear();
      continue;
    }
    const auto n = woke == wake::readable ? ::read(fd, chunk, sizeof chunk) : -1;
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      log->warn("lost {}; reopening", settings.device);
      line.reset();
      buffer.clear();
      continue;
    }
    if (buffer.empty()) first_byte = steady::now();
    buffer.insert(buffer.end(), chunk, chunk + n);
    while (const auto length = next_rtu_frame(buffer, log)) {
      const auto need = *length;
      const std::span<const std::uint8_t> frame(buffer.data(), need);
      const auto request = parse_request(frame, 1);
      const auto how = model.decide(request);
      log->debug("unit {} fc {} address {} quantity {}{}", request.unit, request.function, request.address,
                 request.quantity, how.answer ? "" : " (no answer)");
      if (how.answer) {
        // Model the wire: the request's bytes, the silence that ends it, the
        // answer's bytes; the pty itself delivers instantly.
        const bool exception = how.exception.has_value() || !model.in_map(request);
        const auto bytes = static_cast<std::int64_t>(need + rtu_response_size(frame, exception));
        const auto ready = first_byte + how.delay + character * bytes + gap;
        if (!sleep_until(stop_requested, ready)) return;
        model.answer(line.get(), frame, request, how);
      }
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(need));
      first_byte = steady::now();
    }
  }
}

simulator::simulator(sim_config config, logger_ptr log, std::FILE* out)
    : impl_(std::make_unique<impl>(std::move(config), std::move(log), out)) {}

simulator::~simulator() { stop(); }

void simulator::start() {
  if (impl_->started) return;
  auto& self = *impl_;
  if (const auto* tcp = std::get_if<modbus_tcp_endpoint>(&self.config.link)) {
    auto listener = listen_tcp(*tcp);
    self.server = std::thread([&self, fd = std::move(listener)]() mutable { self.serve_tcp(std::move(fd), false); });
    self.print(fmt::format("simulate: listening on {}:{} as units {}", tcp->host, tcp->port, unit_list(self.config)));
  } else if (const auto* box = std::get_if<modbus_rtu_tcp_endpoint>(&self.config.link)) {
    auto listener = listen_tcp(modbus_tcp_endpoint{box->host, box->port});
    self.server = std::thread([&self, fd = std::move(listener)]() mutable { self.serve_tcp(std::move(fd), true); });
    self.print(fmt::format("simulate: listening on {}:{} (RTU over TCP) as units {}", box->host, box->port,
                           unit_list(self.config)));
  } else {
    const auto& rtu = std::get<modbus_rtu_line>(self.config.link);
    auto line = self.open_rtu();
    if (!line) {
      throw std::runtime_error(fmt::format("simulate: cannot open {}: {}", rtu.device, modbus_strerror(errno)));
    }
    self.server = std::thread([&self, l = std::move(line)]() mutable { self.serve_rtu(std::move(l)); });
    self.print(fmt::format("simulate: listening on {} (RTU {} {}{}{}) as units {}", rtu.device, rtu.baud,
                           rtu.data_bits, rtu.parity, rtu.stop_bits, unit_list(self.config)));
  }
  self.started = true;
}

void simulator::stop() {
  if (!impl_ || !impl_->started) return;
  auto& self = *impl_;
  self.stop_requested.raise();
  if (self.server.joinable()) self.server.join();
  std::lock_guard lock(self.connections_mutex);
  for (auto& c : self.connections) {
    if (c.thread.joinable()) c.thread.join();
  }
  self.connections.clear();
  self.started = false;
}

void simulator::replace_faults(std::vector<fault> faults) { impl_->model.replace_faults(std::move(faults)); }

}  // namespace fieldbridge::simulator
