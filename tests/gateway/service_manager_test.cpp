// The service manager protocol written in place of libsystemd: the state
// datagram reaches a socket bound where $NOTIFY_SOCKET says (a path or an
// abstract name), and $WATCHDOG_USEC/$WATCHDOG_PID read as sd_watchdog_enabled(3) does.
#include "run/service_manager.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fieldbridge::gateway {
namespace {

using namespace std::chrono_literals;

// Sets an environment variable for one test and puts the old value back.
class scoped_env {
 public:
  scoped_env(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~scoped_env() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A datagram socket standing in for systemd's, bound to `name` ("/path" or "@abstract").
class manager_socket {
 public:
  explicit manager_socket(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    name.copy(address.sun_path, name.size());
    if (name[0] == '@') address.sun_path[0] = '\0';
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) == 0;
  }
  ~manager_socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  manager_socket(const manager_socket&) = delete;
  manager_socket& operator=(const manager_socket&) = delete;

  bool bound() const { return bound_; }
  // The next datagram, or nullopt when none arrived (the send is synchronous).
  std::optional<std::string> receive() {
    char buffer[512];
    const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

std::string temp_socket_path(const char* tag) {
  return (std::filesystem::temp_directory_path() / ("fieldbridge-notify-" + std::to_string(::getpid()) + "-" + tag))
      .string();
}

TEST(ServiceManager, TheStateReachesASocketBoundToAPath) {
  const auto path = temp_socket_path("path");
  std::filesystem::remove(path);
  manager_socket manager(path);
  ASSERT_TRUE(manager.bound());
  scoped_env socket("NOTIFY_SOCKET", path);
  EXPECT_TRUE(notify_service_manager("READY=1"));
  EXPECT_EQ(manager.receive(), std::optional<std::string>("READY=1"));
  EXPECT_TRUE(notify_service_manager("STATUS=polling\nWATCHDOG=1"));
  EXPECT_EQ(manager.receive(), std::optional<std::string>("STATUS=polling\nWATCHDOG=1"));
  std::filesystem::remove(path);
}

TEST(ServiceManager, TheStateReachesAnAbstractSocket) {
  const std::string name = "@fieldbridge-notify-test-" + std::to_string(::getpid());
  manager_socket manager(name);
  ASSERT_TRUE(manager.bound());
  scoped_env socket("NOTIFY_SOCKET", name);
  EXPECT_TRUE(notify_service_manager("STOPPING=1"));
  EXPECT_EQ(manager.receive(), std::optional<std::string>("STOPPING=1"));
}

TEST(ServiceManager, WithoutAUsableSocketNothingIsSentAndTheCallerGoesOn) {
  {
    scoped_env socket("NOTIFY_SOCKET", std::nullopt);
    EXPECT_FALSE(notify_service_manager("READY=1"));
  }
  const std::vector<std::string> unusables = {"", "relative/path", "vsock:2:1234", "/" + std::string(200, 'x'),
                                               temp_socket_path("nobody-listens")};
  for (const auto& unusable : unusables) {
    scoped_env socket("NOTIFY_SOCKET", unusable);
    EXPECT_FALSE(notify_service_manager("READY=1")) << unusable;
  }
}

TEST(ServiceManager, TheWatchdogPeriodIsReadForThisProcessOnly) {
  const scoped_env no_pid("WATCHDOG_PID", std::nullopt);
  {
    scoped_env usec("WATCHDOG_USEC", "400000");
    EXPECT_EQ(service_watchdog_period(), 400ms);
    scoped_env pid("WATCHDOG_PID", std::to_string(::getpid()));
    EXPECT_EQ(service_watchdog_period(), 400ms);
  }
  {
    scoped_env usec("WATCHDOG_USEC", "400000");
    scoped_env pid("WATCHDOG_PID", std::to_string(::getpid() + 1));  // meant for another process
    EXPECT_EQ(service_watchdog_period(), 0us);
  }
  for (const char* off : {"0", "", "12x", "-5"}) {
    scoped_env usec("WATCHDOG_USEC", off);
    EXPECT_EQ(service_watchdog_period(), 0us) << off;
  }
  scoped_env unset("WATCHDOG_USEC", std::nullopt);
  EXPECT_EQ(service_watchdog_period(), 0us);
}

}  // namespace
}  // namespace fieldbridge::gateway
