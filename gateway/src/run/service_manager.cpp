#include "run/service_manager.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace fieldbridge::gateway {

namespace {

// The unsigned decimal number that is all of `text`, if it is one.
bool parse_number(std::string_view text, std::uint64_t& out) {
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return !text.empty() && ec == std::errc{} && ptr == end;
}

// $NOTIFY_SOCKET as an AF_UNIX address: "/path" or "@abstract" (a leading
// NUL byte in the kernel's terms). Returns the address length, 0 if unusable.
socklen_t unix_address(std::string_view name, sockaddr_un& address) {
  if (name.size() < 2 || (name[0] != '/' && name[0] != '@') || name.size() >= sizeof(address.sun_path)) return 0;
  address = {};
  address.sun_family = AF_UNIX;
  name.copy(address.sun_path, name.size());
  if (name[0] == '@') address.sun_path[0] = '\0';
  // A path is NUL-terminated (counted by the kernel either way); an abstract
  // name is exactly its bytes.
  const std::size_t length = name.size() + (name[0] == '/' ? 1 : 0);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
}

}  // namespace

bool notify_service_manager(std::string_view state) {
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (socket_name == nullptr) return false;
  sockaddr_un address;
  const socklen_t length = unix_address(socket_name, address);
  if (length == 0) return false;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address),
                             length);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

std::string reloading_state(std::chrono::microseconds monotonic_now) {
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_now.count());
}

std::string reloading_state() {
  // CLOCK_MONOTONIC itself: steady_clock is not promised to be that clock.
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return reloading_state(std::chrono::seconds(now.tv_sec) +
                         std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::nanoseconds(now.tv_nsec)));
}

std::chrono::microseconds service_watchdog_period() {
  const char* usec_text = std::getenv("WATCHDOG_USEC");
  std::uint64_t usec = 0;
  if (usec_text == nullptr || !parse_number(usec_text, usec) || usec == 0) return {};
  // Set by the manager for its main process; a child that inherited the
  // environment must not feed the watchdog.
  if (const char* pid_text = std::getenv("WATCHDOG_PID")) {
    std::uint64_t pid = 0;
    if (!parse_number(pid_text, pid) || pid != static_cast<std::uint64_t>(::getpid())) return {};
  }
  return std::chrono::microseconds(usec);
}

}  // namespace fieldbridge::gateway
