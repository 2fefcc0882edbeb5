#include "fault_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mqtt_tap.hpp"
#include "network.hpp"

namespace fieldbridge::test::faults {

std::string sequence_topic(const std::string& layout) {
  return std::string(topic_prefix) + (layout == "device" ? "/meter1" : "/meter1/seq");
}

int env_count(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0) throw std::invalid_argument(fmt::format("{}={}: not a count", name, text));
  return static_cast<int>(value);
}

std::vector<std::string> log_tail::new_lines() {
  std::vector<std::string> lines;
  std::ifstream in(file_, std::ios::binary);
  if (!in) return lines;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  offset_ += chunk.size();
  partial_ += chunk;
  std::size_t start = 0;
  for (auto nl = partial_.find('\n'); nl != std::string::npos; nl = partial_.find('\n', start)) {
    lines.push_back(partial_.substr(start, nl - start));
    start = nl + 1;
  }
  partial_.erase(0, start);
  return lines;
}

// ---------------------------------------------------------------- device

namespace {

std::string device_yaml(const std::string& link, bool frozen, const std::vector<std::uint8_t>& units,
                        std::chrono::milliseconds delay) {
  std::string unit_list, faults, delays;
  for (const auto unit : units) {
    unit_list += fmt::format(R"(
  - id: {}
    registers:
      - {{ table: input, address: 8, type: uint32, profile: counter, per: read }}
      - {{ table: input, address: 20, type: uint16, value: 7 }})",
                             unit);
    faults += fmt::format("\n  - {{ unit: {}, no_answer: true }}", unit);
    if (delay.count() > 0) delays += fmt::format("\n  - {{ unit: {}, delay: {}ms }}", unit, delay.count());
  }
  return fmt::format(R"({}
units:{}
faults:{}
)",
                     link, unit_list, frozen ? faults : delays.empty() ? " []" : delays);
}

// How the simulator logs a read of a unit's counter (see simulator.cpp).
std::string counter_request(std::uint8_t unit) { return fmt::format("unit {} fc 4 address 8 quantity 2", unit); }

}  // namespace

counter_device::counter_device(std::vector<std::uint8_t> units, const std::string& rtu_device,
                               std::chrono::milliseconds delay)
    : dir_("fieldbridge-faults-sim"),
      port_(rtu_device.empty() ? free_tcp_port() : 0),
      link_(rtu_device.empty() ? fmt::format("tcp: {{ host: 127.0.0.1, port: {} }}", port_)
                               : fmt::format("rtu: {{ device: {}, baud: 115200 }}", rtu_device)),
      units_(std::move(units)),
      delay_(delay),
      tail_(dir_ / "sim.log") {
  const auto file = dir_.write_file("sim.yaml", device_yaml(link_, false, units_, delay_));
  process_ = child_process({fieldbridge_binary(), "--log-level", "debug", "simulate", "-c", file.string()},
                           dir_ / "sim.log");
  const bool up = wait_until(
      [this] { return log().find("simulate: listening on") != std::string::npos || !process_.running(); }, 10s);
  if (!up || !process_.running()) throw std::runtime_error("the simulator did not start:\n" + log());
}

counter_device::~counter_device() { process_.stop(2s); }

void counter_device::poll() {
  for (const auto& line : tail_.new_lines()) {
    for (const auto unit : units_) {
      if (line.find(counter_request(unit)) == std::string::npos) continue;
      if (line.find("(no answer)") != std::string::npos) {
        ++unanswered_;
      } else {
        ++answered_[unit];
      }
    }
  }
}

std::uint64_t counter_device::answered(std::uint8_t unit) {
  poll();
  return answered_[unit];
}

std::uint64_t counter_device::freeze() {
  dir_.write_file("sim.yaml", device_yaml(link_, true, units_, delay_));
  process_.signal(SIGHUP);
  if (!wait_until([this] { return log().find("faults reloaded") != std::string::npos; }, 10s))
    throw std::runtime_error("the simulator did not reload its faults:\n" + log());
  // A read decided before the reload may still be logged after it; once a
  // read went unanswered, the gateway's one connection has nothing else in
  // progress (it asks one thing at a time). A gateway that is not running
  // asks nothing: then the count is already final.
  poll();
  const auto before = unanswered_;
  wait_until([&] {
    poll();
    return unanswered_ > before;
  }, 5s, 20ms);
  poll();
  return answered_[units_.front()];
}

// ------------------------------------------------------------ subscriber

sequence_subscriber::sequence_subscriber(std::uint16_t broker_port, int qos, const std::filesystem::path& log,
                                         const std::string& id, const std::string& layout)
    : topic_(sequence_topic(layout)),
      process_({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker_port), "-q", std::to_string(qos),
                "-c", "-i", id, "-F", "%t %m %p", "-t", std::string(topic_prefix) + "/#"},
               log),
      tail_(log) {
  const auto marker = std::string(topic_prefix) + "/_subscriber/" + id;
  const auto r = run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_port), "-r", "-q", "1",
                              "-t", marker, "-m", "ready"},
                             10s);
  if (r.exit_code != 0) throw std::runtime_error("mosquitto_pub: " + r.output);
  if (!wait_until([&] { return process_.log().find(marker + " 1 ready") != std::string::npos; }, 10s))
    throw std::runtime_error("mosquitto_sub did not subscribe:\n" + process_.log());
}

sequence_subscriber::~sequence_subscriber() { process_.stop(2s); }

void sequence_subscriber::poll() {
  const auto topic = topic_ + " ";
  for (const auto& line : tail_.new_lines()) {
    if (line.rfind(topic, 0) != 0) continue;
    // "<topic> <message id> <payload>"
    const auto text = line.substr(topic.size());
    char* end = nullptr;
    const auto id = std::strtoull(text.c_str(), &end, 10);
    const auto found = *end == ' ' ? sequence_in(std::string_view(end + 1)) : std::nullopt;
    if (end == text.c_str() || !found) {
      ADD_FAILURE() << "not '<message id> <sequence payload>': " << line;
      continue;
    }
    const auto value = *found;
    values_.push_back(value);
    if (const auto known = last_value_of_id_.find(id); known != last_value_of_id_.end() && known->second == value)
      ++redeliveries_;
    last_value_of_id_[id] = value;
    if (value >= seen_.size()) seen_.resize(value + 1024, false);
    if (!seen_[value]) {
      seen_[value] = true;
      ++distinct_;
    }
  }
}

const std::vector<std::uint64_t>& sequence_subscriber::values() {
  poll();
  return values_;
}

std::uint64_t sequence_subscriber::broker_redeliveries() {
  poll();
  return redeliveries_;
}

std::uint64_t sequence_subscriber::distinct_since(std::uint64_t from) {
  poll();
  std::uint64_t n = 0;
  for (auto v = from; v < seen_.size(); ++v) n += seen_[v] ? 1 : 0;
  return n;
}

bool sequence_subscriber::has_all(std::uint64_t n) {
  poll();
  if (distinct_ < n || seen_.size() < n) return false;
  for (std::uint64_t v = 0; v < n; ++v)
    if (!seen_[v]) return false;
  return true;
}

// ------------------------------------------------------------ counting

sequence_report count_sequence(const std::string& name, const std::vector<std::uint64_t>& received,
                               std::uint64_t expected, const std::set<std::uint64_t>& excused,
                               const std::set<std::uint64_t>& near_stop) {
  sequence_report r;
  r.name = name;
  r.expected = expected;
  r.received = received.size();
  std::set<std::uint64_t> seen;
  std::uint64_t highest = 0;
  bool any = false;
  for (const auto v : received) {
    if (!seen.insert(v).second) {
      ++r.duplicates;
      continue;
    }
    if (any && v < highest) ++r.reordered;
    if (!any || v > highest) highest = v;
    any = true;
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;  // missing: first, length
  for (std::uint64_t v = 0; v < expected; ++v) {
    if (seen.count(v)) continue;
    ++r.missing;
    if (excused.count(v)) {
      ++r.in_flight;
      continue;
    }
    if (near_stop.count(v)) ++r.lost_near_stop;
    if (!runs.empty() && runs.back().first + runs.back().second == v) {
      ++runs.back().second;
    } else {
      runs.emplace_back(v, 1);
    }
  }
  r.lost = r.missing - r.in_flight;
  for (std::size_t i = 0; i < runs.size() && i < 10; ++i) {
    r.detail += runs[i].second == 1 ? fmt::format(" {}", runs[i].first)
                                    : fmt::format(" {}..{}", runs[i].first, runs[i].first + runs[i].second - 1);
  }
  if (runs.size() > 10) r.detail += fmt::format(" (+{} more gaps)", runs.size() - 10);
  std::uint64_t beyond = 0;
  for (const auto v : seen)
    if (v >= expected) ++beyond;
  if (beyond) r.detail += fmt::format("; {} number(s) beyond the {} handed out", beyond, expected);
  return r;
}

void apply_tap(sequence_report& r, const std::vector<std::uint64_t>& received,
               const std::vector<std::uint64_t>& released, const std::set<std::uint64_t>& acknowledged,
               const std::set<std::uint64_t>& excused) {
  r.subscriber_reordered = r.reordered;
  r.reordered = 0;
  std::uint64_t highest = 0;
  for (std::size_t i = 0; i < released.size(); ++i) {
    if (i > 0 && released[i] < highest) ++r.reordered;
    highest = std::max(highest, released[i]);
  }
  const std::set<std::uint64_t> seen(received.begin(), received.end());
  r.broker_lost = 0;
  for (std::uint64_t v = 0; v < r.expected; ++v)
    if (!seen.count(v) && !excused.count(v) && acknowledged.count(v)) ++r.broker_lost;
  r.lost -= std::min(r.lost, r.broker_lost);
}

std::string arrival_runs(const std::vector<std::uint64_t>& received, std::size_t max_runs) {
  std::string out;
  std::size_t runs = 0;
  for (std::size_t i = 0; i < received.size();) {
    std::size_t j = i;
    while (j + 1 < received.size() && received[j + 1] == received[j] + 1) ++j;
    if (runs++ == max_runs) {
      out += " ...";
      break;
    }
    out += i == j ? fmt::format(" {}", received[i]) : fmt::format(" {}-{}", received[i], received[j]);
    i = j + 1;
  }
  return out;
}

std::string sequence_report::line() const {
  return fmt::format(
      "FAULTS {} polled={} received={} lost={} lost_near_stop={} in_flight={} duplicates={} broker_redeliveries={} "
      "reordered={}{} broker_kills={} daemon_kills={} sigterms={} hot_path={}{}",
      name, expected, received, lost, lost_near_stop, in_flight, duplicates, broker_redeliveries, reordered,
      subscriber_reordered ? fmt::format(" subscriber_reordered={} broker_lost={}", *subscriber_reordered,
                                         broker_lost)
                           : std::string(),
      broker_kills, daemon_kills, sigterms,
      hot_path_supported() ? "on" : "off", detail.empty() ? "" : " gaps:" + detail);
}

void publish_report(const sequence_report& report) {
  const auto text = report.line();
  std::cout << text << std::endl;
  if (const char* file = std::getenv("FIELDBRIDGE_FAULTS_REPORT"); file != nullptr && *file != '\0') {
    std::ofstream out(file, std::ios::app);
    out << text << "\n";
  }
}

// ------------------------------------------------------------ gateway

namespace {

bool probe_hot_path() {
  temp_dir dir("fieldbridge-faults-probe");
  const auto config = dir.write_file("probe.yaml", fmt::format(R"(gateway: {{ name: probe }}
store: {{ path: {}, hot_path: {} }}
buses:
  - name: tcp1
    modbus_tcp: {{ host: 127.0.0.1, port: 1 }}
    devices:
      - {{ name: m1, unit: 1, points: [ {{ name: p, table: input, address: 0, type: uint16 }} ] }}
)",
                                                                (dir / "queue.db").string(), dir.path().string()));
  return run_command({fieldbridge_binary(), "check", "-c", config.string()}, 30s).exit_code == 0;
}

}  // namespace

bool hot_path_supported() {
  // Asked once per test binary: the answer is a property of the build.
  static const bool supported = [] {
    const char* mode = std::getenv("FIELDBRIDGE_FAULTS_HOT_PATH");
    const std::string m = mode == nullptr ? "auto" : mode;
    if (m == "on") return true;
    if (m == "off") return false;
    const bool accepted = probe_hot_path();
    if (!accepted)
      std::cout << "note: this build's configuration loader does not accept store.hot_path; "
                   "the gateway runs without a hot tier\n";
    return accepted;
  }();
  return supported;
}

std::string gateway_yaml(const gateway_settings& s) {
  std::string store = fmt::format("path: {}", s.store.string());
  if (s.flush_interval) store += ", flush_interval: " + *s.flush_interval;
  if (hot_path_supported() && !s.hot_dir.empty()) store += ", hot_path: " + s.hot_dir.string();
  std::string brokers = fmt::format("host: 127.0.0.1\n  port: {}", s.broker_port);
  if (!s.broker_ports.empty()) {
    brokers = "hosts:";
    for (const auto port : s.broker_ports) brokers += fmt::format("\n    - \"127.0.0.1:{}\"", port);
  }
  return fmt::format(R"(gateway: {{ name: gw, stats_interval: 0 }}
mqtt:
  {}
  topic_prefix: {}
  qos: {}
  payload: value
  layout: {}
  keepalive: {}
  reconnect: {{ min: {}, max: {} }}{}
store: {{ {} }}
buses:
  - name: tcp1
    modbus_tcp: {{ host: 127.0.0.1, port: {} }}
    timeout: {}
    devices:
      - name: meter1
        unit: 1
        poll_interval: {}
        points:
          - {{ name: seq, table: input, address: 8, type: uint32 }}
)",
                     brokers, topic_prefix, s.qos, s.layout, s.keepalive, s.reconnect_min, s.reconnect_max,
                     s.tls ? "\n  tls: { insecure_skip_verify: true }" : "", store, s.device_port, s.bus_timeout,
                     s.poll_interval);
}

hot_directory::hot_directory() {
  std::filesystem::path base = "/dev/shm";
  std::error_code ec;
  if (!std::filesystem::is_directory(base, ec) || ::access(base.c_str(), W_OK) != 0)
    base = std::filesystem::temp_directory_path();
  std::string pattern = (base / "fieldbridge-faults-hot-XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = buffer.data();
}

hot_directory::~hot_directory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

mosquitto_options fault_broker_options() {
  mosquitto_options o;
  o.persistence = true;
  o.extra_config = {"autosave_on_changes true", "max_queued_messages 0"};
  return o;
}

child_process start_gateway(const std::filesystem::path& config, const std::filesystem::path& log) {
  return child_process({fieldbridge_binary(), "run", "-c", config.string()}, log);
}

// ------------------------------------------------------------ listener

silent_listener::silent_listener() {
  listen_fd_ = listen_on_loopback(SOCK_NONBLOCK, port_, "silent listener");
}

silent_listener::~silent_listener() {
  for (const int fd : peers_) ::close(fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

bool silent_listener::received(std::size_t bytes) {
  for (int fd; (fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;)
    peers_.push_back(fd);
  char buffer[4096];
  for (const int fd : peers_) {
    std::size_t total = 0;
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) total += static_cast<std::size_t>(n);
    most_ = std::max(most_, total);
  }
  return most_ >= bytes;
}

// ------------------------------------------------------------ filesystem

small_filesystem::small_filesystem(const std::string& size) : dir_("fieldbridge-faults-disk") {
  if (::geteuid() != 0) {
    why_ = "mounting a small tmpfs needs root (CI runs as root); not root here";
    return;
  }
  const auto options = "size=" + size + ",mode=0755";
  if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) != 0) {
    why_ = std::string("mount -t tmpfs -o ") + options + " failed: " + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

small_filesystem::~small_filesystem() {
  if (mounted_ && ::umount2(dir_.path().c_str(), MNT_DETACH) != 0)
    std::cerr << "could not unmount " << dir_.path() << ": " << std::strerror(errno) << "\n";
}

std::uint64_t small_filesystem::fill() {
  const auto path = dir_ / "filler";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path.string());
  std::vector<char> block(4096, 'x');
  std::uint64_t total = 0;
  while (true) {
    const auto n = ::write(fd, block.data(), block.size());
    if (n > 0) {
      total += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // ENOSPC (or a short write at the very end)
  }
  ::close(fd);
  return total;
}

void small_filesystem::release() {
  std::error_code ignored;
  std::filesystem::remove(dir_ / "filler", ignored);
}

std::mt19937 seeded_random(const std::string& name) {
  std::uint32_t seed = 0;
  if (const char* text = std::getenv("FIELDBRIDGE_FAULTS_SEED"); text != nullptr && *text != '\0') {
    seed = static_cast<std::uint32_t>(std::strtoul(text, nullptr, 10));
  } else {
    for (const char c : name) seed = seed * 31 + static_cast<unsigned char>(c);
  }
  std::cout << "seed for " << name << ": " << seed << " (FIELDBRIDGE_FAULTS_SEED)\n";
  return std::mt19937(seed);
}

}  // namespace fieldbridge::test::faults
