#include "process.hpp"

#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "temp_dir.hpp"

extern char** environ;

namespace fieldbridge::test {

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// The ELF machine this test binary was built for.
#if defined(__aarch64__)
constexpr std::uint16_t own_machine = EM_AARCH64;
#elif defined(__arm__)
constexpr std::uint16_t own_machine = EM_ARM;
#elif defined(__x86_64__)
constexpr std::uint16_t own_machine = EM_X86_64;
#elif defined(__i386__)
constexpr std::uint16_t own_machine = EM_386;
#else
constexpr std::uint16_t own_machine = EM_NONE;
#endif

// Whether `path` is a little-endian ELF file for this test binary's machine,
// i.e. one of the build tree's programs rather than the host's mosquitto,
// socat or sh.
bool built_for_own_machine(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  unsigned char header[EI_NIDENT + 4] = {};
  if (!file.read(reinterpret_cast<char*>(header), sizeof header)) return false;
  if (std::memcmp(header, ELFMAG, SELFMAG) != 0 || header[EI_DATA] != ELFDATA2LSB) return false;
  const auto machine = static_cast<std::uint16_t>(header[EI_NIDENT + 2] | (header[EI_NIDENT + 3] << 8));
  return machine == own_machine;
}

// In a cross-built tree ctest runs the test binaries under qemu-user
// (CMAKE_CROSSCOMPILING_EMULATOR), and the kernel may have no binfmt_misc
// entry to run the target's programs that a test starts (`fieldbridge`, the
// store's crash children). Those are started through the same emulator,
// which tests/CMakeLists.txt compiles in as FIELDBRIDGE_TEST_EMULATOR (words
// separated by spaces; empty in a native tree). Host programs run as they are.
std::vector<std::string> with_emulator(std::vector<std::string> argv) {
  static const std::vector<std::string> emulator = [] {
    std::vector<std::string> words;
    std::istringstream in(FIELDBRIDGE_TEST_EMULATOR);
    for (std::string word; in >> word;) words.push_back(word);
    return words;
  }();
  if (emulator.empty() || argv[0].find('/') == std::string::npos || !built_for_own_machine(argv[0]))
    return argv;
  argv.insert(argv.begin(), emulator.begin(), emulator.end());
  return argv;
}

}  // namespace

child_process::child_process(std::vector<std::string> argv, std::filesystem::path log_file,
                             std::vector<std::string> extra_env)
    : log_file_(std::move(log_file)) {
  if (argv.empty()) throw std::invalid_argument("child_process: empty argv");
  argv = with_emulator(std::move(argv));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_file_.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_file_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

  // A test's setting replaces one of the same name that the test runner
  // inherited: glibc's getenv() would see the first of two equal names, but
  // qemu-user (the emulator above) passes the last one on to the program.
  std::vector<std::string> env = std::move(extra_env);
  const std::size_t own = env.size();
  const auto overridden = [&env, own](std::string_view entry) {
    const auto name = entry.substr(0, entry.find('=') + 1);
    for (std::size_t i = 0; i < own; ++i)
      if (!name.empty() && env[i].starts_with(name)) return true;
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e)
    if (!overridden(*e)) env.emplace_back(*e);
  auto argv_c = c_strings(argv);
  auto env_c = c_strings(env);

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // The child starts with default signal dispositions and an empty mask,
  // whatever the test runner set.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  const int rc = posix_spawnp(&pid_, argv_c[0], &actions, &attributes, argv_c.data(), env_c.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
}

child_process::~child_process() {
  if (pid_ > 0 && !status_) kill_hard();
}

child_process::child_process(child_process&& other) noexcept
    : pid_(other.pid_), status_(other.status_), log_file_(std::move(other.log_file_)) {
  other.pid_ = -1;
}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !status_) kill_hard();
    pid_ = other.pid_;
    status_ = other.status_;
    log_file_ = std::move(other.log_file_);
    other.pid_ = -1;
  }
  return *this;
}

bool child_process::running() {
  if (pid_ <= 0 || status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = decode_status(status);
    return false;
  }
  return true;
}

void child_process::signal(int signo) const {
  if (pid_ > 0 && !status_) ::kill(pid_, signo);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return status_;
  wait_until([this] { return !running(); }, timeout, std::chrono::milliseconds{2});
  return status_;
}

int child_process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  signal(SIGTERM);
  if (auto status = wait(grace)) return *status;
  return kill_hard();
}

int child_process::kill_hard() {
  if (pid_ <= 0) return -1;
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = decode_status(status);
  }
  return *status_;
}

std::string child_process::log() const {
  return log_file_.empty() ? std::string{} : read_file(log_file_);
}

command_result run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                           std::vector<std::string> extra_env) {
  temp_dir dir("fieldbridge-cmd");
  auto log = dir / "output.txt";
  child_process child(argv, log, std::move(extra_env));
  command_result result;
  auto status = child.wait(timeout);
  result.exit_code = status ? *status : child.kill_hard();
  result.output = read_file(log);
  return result;
}

std::string fieldbridge_binary() { return FIELDBRIDGE_BINARY; }

}  // namespace fieldbridge::test
