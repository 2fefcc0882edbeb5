// SIGHUP reload of a running `fieldbridge run` during two counted streams
// (issue 15): bus `a` reads the counter of one simulator (every read hands
// out the next number), bus `b` that of another. Each case edits the file,
// sends SIGHUP and checks, once both devices are frozen, that every number
// either device handed out arrived (0 lost), and that bus `b`, which the
// edit does not touch, kept polling: its readings' timestamps show no pause
// longer than one poll period around the reload, and its poll counter in
// <prefix>/stats did not start again from zero (a bus that was stopped and
// started would). Real processes on free loopback ports, stopped by pid.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "fault_harness.hpp"
#include "network.hpp"
#include "pty_pair.hpp"

namespace fieldbridge::test::faults {
namespace {

constexpr const char* prefix = "test/reload";
constexpr std::chrono::milliseconds b_poll{100};

// "2026-12-03T11:52:00.123Z" as milliseconds since the epoch.
std::optional<std::int64_t> parse_ts(const std::string& text) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &millis) != 7)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000 + millis;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// mosquitto_sub on <prefix>/#: every device message (layout: device) as
// device, seq, reading time; and every stats message.
class stream_subscriber {
 public:
  struct sample {
    std::uint64_t seq;
    std::int64_t ts;  // ms since the epoch
  };

  stream_subscriber(std::uint16_t port, const std::filesystem::path& log)
      : process_({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(port), "-q", "1", "-c", "-i", "reload-sub",
                  "-v", "-t", std::string(prefix) + "/#"},
                 log),
        tail_(log) {
    const auto marker = std::string(prefix) + "/_subscriber";
    const auto r = run_command(
        {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port), "-r", "-q", "1", "-t", marker, "-m", "ready"},
        10s);
    if (r.exit_code != 0) ADD_FAILURE() << "mosquitto_pub: " << r.output;
    if (!wait_until([&] { return process_.log().find(marker + " ready") != std::string::npos; }, 10s))
      ADD_FAILURE() << "mosquitto_sub did not subscribe:\n" << process_.log();
  }
  ~stream_subscriber() { process_.stop(2s); }

  // The samples of `device` so far, in arrival order.
  const std::vector<sample>& samples(const std::string& device) {
    poll();
    return samples_[device];
  }
  // Other values of the device message: {"extra":"7"}.
  std::map<std::string, std::string> last_values(const std::string& device) {
    poll();
    return last_values_[device];
  }
  const std::vector<std::string>& stats() {
    poll();
    return stats_;
  }
  std::string log() const { return process_.log(); }

 private:
  void poll() {
    static const std::regex device_message(R"re(^\{"ts":"([^"]+)","values":\{(.*)\}\}$)re");
    static const std::regex value(R"re("([a-z_0-9]+)":([^,]+))re");
    const std::string device_prefix = std::string(prefix) + "/";
    for (const auto& line : tail_.new_lines()) {
      const auto space = line.find(' ');
      if (space == std::string::npos || line.rfind(device_prefix, 0) != 0) continue;
      const auto topic = line.substr(device_prefix.size(), space - device_prefix.size());
      const auto payload = line.substr(space + 1);
      if (topic == "stats") {
        stats_.push_back(payload);
        continue;
      }
      std::smatch m;
      if (topic.find('/') != std::string::npos || !std::regex_match(payload, m, device_message)) continue;
      const auto ts = parse_ts(m[1]);
      const std::string values = m[2];
      std::map<std::string, std::string> fields;
      for (auto it = std::sregex_iterator(values.begin(), values.end(), value); it != std::sregex_iterator(); ++it)
        fields[(*it)[1]] = (*it)[2];
      if (!ts || !fields.contains("seq")) continue;
      samples_[topic].push_back({std::stoull(fields["seq"]), *ts});
      last_values_[topic] = fields;
    }
  }

  child_process process_;
  log_tail tail_;
  std::map<std::string, std::vector<sample>> samples_;
  std::map<std::string, std::map<std::string, std::string>> last_values_;
  std::vector<std::string> stats_;
};

struct layout {
  std::uint16_t broker_port = 0;
  std::string a_poll = "50ms";
  bool a_extra_point = false;  // a point `extra` on meter_a
  bool a_second_device = false;  // meter_a2 on bus a: unit 2 of the same simulator
  std::string store;             // store.path
  std::string hot;               // store.hot_path
  std::string line_device;       // a serial_line bus `line` on this pty, when set
  std::string line_silence = "0";  // its silence_timeout
  std::string rtu_device;        // a Modbus RTU bus `rtu` (device meter_r) on this pty, when set
  std::string rtu_poll = "50ms";
};

class Reload : public ::testing::Test {
 protected:
  Reload() : broker_(options()) { broker_.start(); }

  mosquitto_options options() {
    auto o = fault_broker_options();
    second_port_ = free_tcp_port();
    o.extra_config.push_back(fmt::format("listener {} 127.0.0.1", second_port_));
    return o;
  }

  std::string yaml(const layout& l) const {
    std::string a_devices = fmt::format(R"(
      - name: meter_a
        unit: 1
        poll_interval: {}
        points:
          - {{ name: seq, table: input, address: 8, type: uint32 }}{})",
                                        l.a_poll, l.a_extra_point ? R"(
          - { name: extra, table: input, address: 20, type: uint16 })"
                                                                  : "");
    if (l.a_second_device)
      a_devices += fmt::format(R"(
      - name: meter_a2
        unit: 2
        poll_interval: {}
        points:
          - {{ name: seq, table: input, address: 8, type: uint32 }})",
                               l.a_poll);
    return fmt::format(R"(gateway: {{ name: gw, stats_interval: 1s }}
mqtt:
  host: 127.0.0.1
  port: {}
  topic_prefix: {}
  qos: 1
  layout: device
  keepalive: 5s
  reconnect: {{ min: 50ms, max: 200ms }}
store: {{ path: {}, hot_path: {} }}
buses:
  - name: a
    modbus_tcp: {{ host: 127.0.0.1, port: {} }}
    timeout: 1s
    devices:{}
  - name: b
    modbus_tcp: {{ host: 127.0.0.1, port: {} }}
    timeout: 1s
    devices:
      - name: meter_b
        unit: 1
        poll_interval: {}ms
        points:
          - {{ name: seq, table: input, address: 8, type: uint32 }}{}
)",
                       l.broker_port != 0 ? l.broker_port : broker_.port(), prefix, (dir_ / "queue.db").string(),
                       dir_.path().string(), dev_a_.port(), a_devices, dev_b_.port(), b_poll.count(),
                       (l.line_device.empty() ? std::string{} : fmt::format(R"(
  - name: line
    serial_line: {{ device: {}, baud: 9600 }}
    silence_timeout: {}
    points:
      - {{ name: seq, pattern: 'N=([0-9]+)', type: uint32 }})",
                                                                l.line_device, l.line_silence)) +
                           (l.rtu_device.empty() ? "" : fmt::format(R"(
  - name: rtu
    modbus_rtu: {{ device: {}, baud: 115200 }}
    timeout: 1s
    devices:
      - name: meter_r
        unit: 1
        poll_interval: {}
        points:
          - {{ name: seq, table: input, address: 8, type: uint32 }})",
                                                                    l.rtu_device, l.rtu_poll)));
  }

  // Replaces the file in one step (rename), as an editor that saves safely does.
  void write(const std::string& text) {
    dir_.write_file("gateway.yaml.new", text);
    std::filesystem::rename(dir_ / "gateway.yaml.new", dir_ / "gateway.yaml");
  }

  void start(const layout& l) {
    write(yaml(l));
    config_ = dir_ / "gateway.yaml";
    gateway_ = start_gateway(config_, dir_ / "gateway.log");
    sub_.emplace(broker_.port(), dir_ / "sub.log");
    // Both streams flowing, and b long enough for its poll counter to be
    // well above what a restarted bus reaches in one stats interval.
    ASSERT_TRUE(wait_until(
        [&] {
          return (sub_->samples("meter_a").size() >= 10 && sub_->samples("meter_b").size() >= 30) ||
                 !gateway_.running();
        },
        30s, 20ms));
    ASSERT_TRUE(gateway_.running()) << logs();
  }

  std::size_t count_in_log(const std::string& what) const {
    const auto log = gateway_.log();
    std::size_t n = 0;
    for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  }

  // Edits the file, sends SIGHUP, waits for the outcome `expect` ("reload:
  // applied" or "reload refused") and for both streams to go on. Records
  // the moments around it for the gap check.
  void reload(const std::string& text, const std::string& expect = "reload: applied") {
    const auto before = count_in_log(expect);
    b_polls_before_ = last_b_polls();
    write(text);
    sighup_at_ = wall_ms();
    gateway_.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_in_log(expect) > before; }, 20s, 10ms)) << logs();
    done_at_ = wall_ms();
    // The next stats message may have left before the reload was applied:
    // check_b_kept() reads the one after it.
    stats_after_reload_ = sub_->stats().size() + 1;
  }

  // b's "polls" in the latest stats message (0 before the first).
  std::uint64_t last_b_polls() {
    static const std::regex polls(R"re("b":\{"polls":(\d+))re");
    const auto& stats = sub_->stats();
    for (auto it = stats.rbegin(); it != stats.rend(); ++it) {
      std::smatch m;
      if (std::regex_search(*it, m, polls)) return std::stoull(m[1]);
    }
    return 0;
  }

  // The first stats message sent after the reload completed that matches.
  std::optional<std::string> stats_after(std::size_t from, const std::string& pattern) {
    const auto& stats = sub_->stats();
    for (std::size_t i = from; i < stats.size(); ++i)
      if (std::regex_search(stats[i], std::regex(pattern))) return stats[i];
    return std::nullopt;
  }

  // Both streams moved on by `n` more readings each (of the devices given).
  ::testing::AssertionResult progress(const std::vector<std::string>& devices, std::size_t n = 10) {
    std::map<std::string, std::size_t> start;
    for (const auto& d : devices) start[d] = sub_->samples(d).size();
    if (wait_until([&] {
          return std::all_of(devices.begin(), devices.end(),
                             [&](const std::string& d) { return sub_->samples(d).size() >= start[d] + n; });
        },
                   30s, 20ms))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the streams did not go on after the reload\n" << logs();
  }

  // Freezes both simulators and checks that every number each unit handed
  // out arrived (meter_a2 is unit 2 of a's simulator), and that b never paused.
  void check_nothing_lost(bool with_a2 = false) {
    std::vector<std::pair<std::string, std::uint64_t>> streams;
    streams.emplace_back("meter_a", dev_a_.freeze());
    if (with_a2) streams.emplace_back("meter_a2", dev_a_.answered(2));
    streams.emplace_back("meter_b", dev_b_.freeze());
    const auto missing = [&](const std::string& device, std::uint64_t expected) {
      std::set<std::uint64_t> seen;
      for (const auto& s : sub_->samples(device)) seen.insert(s.seq);
      std::vector<std::uint64_t> out;
      for (std::uint64_t v = 0; v < expected; ++v)
        if (!seen.contains(v)) out.push_back(v);
      return out;
    };
    wait_until([&] {
      return std::all_of(streams.begin(), streams.end(), [&](const auto& s) { return missing(s.first, s.second).empty(); });
    }, 30s, 50ms);
    for (const auto& [device, expected] : streams) {
      const auto lost = missing(device, expected);
      std::cout << fmt::format("RELOAD {} {}: {} numbers handed out, {} lost\n",
                               ::testing::UnitTest::GetInstance()->current_test_info()->name(), device, expected,
                               lost.size());
      EXPECT_GT(expected, 0u) << device;
      EXPECT_TRUE(lost.empty()) << device << ": " << lost.size() << " of " << expected << " lost, first "
                                << lost.front() << "\n"
                                << logs();
    }
    check_b_never_paused();
  }

  // Over the readings of b from 1 s before the SIGHUP to 1 s after the
  // reload was applied: no two consecutive ones further apart than two
  // poll periods (one poll period of pause at most).
  void check_b_never_paused() {
    std::vector<stream_subscriber::sample> b = sub_->samples("meter_b");
    std::sort(b.begin(), b.end(), [](const auto& x, const auto& y) { return x.seq < y.seq; });
    b.erase(std::unique(b.begin(), b.end(), [](const auto& x, const auto& y) { return x.seq == y.seq; }), b.end());
    std::int64_t widest = 0;
    std::size_t counted = 0;
    for (std::size_t i = 1; i < b.size(); ++i) {
      if (b[i].ts < sighup_at_ - 1000 || b[i - 1].ts > done_at_ + 1000) continue;
      widest = std::max(widest, b[i].ts - b[i - 1].ts);
      ++counted;
    }
    std::cout << fmt::format("RELOAD {} bus b: widest gap {} ms over {} readings around the reload (poll {} ms), "
                             "reload took {} ms\n",
                             ::testing::UnitTest::GetInstance()->current_test_info()->name(), widest, counted,
                             b_poll.count(), done_at_ - sighup_at_);
    EXPECT_GE(counted, 10u);
    EXPECT_LE(widest, 2 * b_poll.count()) << "the untouched bus paused";
  }

  // b's poll counter went on from where it was before the last reload: the
  // bus was not restarted.
  void check_b_kept() {
    ASSERT_GT(b_polls_before_, 10u);
    ASSERT_TRUE(wait_until([&] { return stats_after(stats_after_reload_, R"("b":\{"polls")").has_value(); }, 10s, 20ms));
    static const std::regex polls(R"re("b":\{"polls":(\d+))re");
    std::smatch m;
    const auto stats = *stats_after(stats_after_reload_, R"("b":\{"polls")");
    ASSERT_TRUE(std::regex_search(stats, m, polls));
    EXPECT_GE(std::stoull(m[1]), b_polls_before_) << "bus b was restarted: " << stats;
  }

  std::string logs() const {
    auto tail = [](const std::string& text) { return text.size() <= 4000 ? text : "..." + text.substr(text.size() - 4000); };
    return fmt::format("--- gateway:\n{}\n--- broker:\n{}\n", tail(gateway_.log()), tail(broker_.log()));
  }

  temp_dir dir_{"fieldbridge-reload"};
  std::uint16_t second_port_ = 0;
  mosquitto_broker broker_;
  counter_device dev_a_{{1, 2}};
  counter_device dev_b_;
  std::filesystem::path config_;
  child_process gateway_;
  std::optional<stream_subscriber> sub_;
  std::int64_t sighup_at_ = 0, done_at_ = 0;
  std::uint64_t b_polls_before_ = 0;
  std::size_t stats_after_reload_ = 0;
};

TEST_F(Reload, AddAPoint) {
  layout l;
  start(l);
  l.a_extra_point = true;
  reload(yaml(l));
  ASSERT_TRUE(wait_until([&] { return sub_->last_values("meter_a").contains("extra"); }, 10s, 20ms)) << logs();
  EXPECT_EQ(sub_->last_values("meter_a")["extra"], "7");
  ASSERT_TRUE(progress({"meter_a", "meter_b"}));
  check_b_kept();
  check_nothing_lost();
  EXPECT_NE(gateway_.log().find("reload: applied: bus a restarted; 1 bus untouched"), std::string::npos) << logs();
}

TEST_F(Reload, RemoveADevice) {
  layout l;
  l.a_second_device = true;
  start(l);
  ASSERT_TRUE(wait_until([&] { return sub_->samples("meter_a2").size() >= 5; }, 10s, 20ms)) << logs();
  const auto retained_status = [&] {
    const auto r = run_command({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(broker_.port()), "-C", "1",
                                "-W", "1", "--retained-only", "-t", std::string(prefix) + "/meter_a2/status"},
                               5s);
    return r.exit_code == 0 ? r.output : "";
  };
  ASSERT_EQ(retained_status(), "online\n");
  l.a_second_device = false;
  reload(yaml(l));
  ASSERT_TRUE(progress({"meter_a", "meter_b"}));
  // meter_a2 reads no more; its retained status is cleared.
  const auto a2 = sub_->samples("meter_a2").size();
  ASSERT_TRUE(progress({"meter_a"}));
  EXPECT_EQ(sub_->samples("meter_a2").size(), a2);
  EXPECT_EQ(retained_status(), "") << "the removed device's status is still retained";
  check_b_kept();
  check_nothing_lost(true);
}

TEST_F(Reload, ChangeAPollInterval) {
  layout l;
  start(l);
  l.a_poll = "20ms";
  reload(yaml(l));
  // The mean spacing of 50 readings after the change: 20 ms, not 50.
  const auto from = sub_->samples("meter_a").size();
  ASSERT_TRUE(wait_until([&] { return sub_->samples("meter_a").size() >= from + 60; }, 20s, 20ms)) << logs();
  const auto& a = sub_->samples("meter_a");
  std::vector<std::int64_t> ts;
  for (std::size_t i = from + 10; i < a.size(); ++i) ts.push_back(a[i].ts);
  std::sort(ts.begin(), ts.end());
  const double mean = static_cast<double>(ts.back() - ts.front()) / static_cast<double>(ts.size() - 1);
  EXPECT_LT(mean, 35.0) << "bus a does not poll at the new interval";
  check_b_kept();
  check_nothing_lost();
}

TEST_F(Reload, ChangeTheBrokerPort) {
  layout l;
  start(l);
  const auto stats_from = sub_->stats().size();
  l.broker_port = second_port_;
  reload(yaml(l));
  const auto on_second = fmt::format(R"("broker":"127.0.0.1:{}")", second_port_);
  ASSERT_TRUE(wait_until([&] { return stats_after(stats_from, on_second).has_value(); }, 20s, 20ms)) << logs();
  ASSERT_TRUE(progress({"meter_a", "meter_b"}));
  EXPECT_NE(gateway_.log().find(fmt::format("mqtt: connected to 127.0.0.1:{}", second_port_)), std::string::npos)
      << logs();
  EXPECT_NE(gateway_.log().find("reload: applied: MQTT reconnect; 2 buses untouched"), std::string::npos) << logs();
  check_b_kept();
  check_nothing_lost();
}

TEST_F(Reload, AnInvalidEditIsRefusedAndNothingChanges) {
  layout l;
  start(l);
  const auto stats_from = sub_->stats().size();
  auto broken = yaml(l);
  broken.replace(broken.find("poll_interval: 50ms"), 19, "poll_interval: fast");
  reload(broken, "reload refused");
  // The message of `fieldbridge check`, in the log and in <prefix>/stats.
  const auto check = run_command({fieldbridge_binary(), "check", "-c", config_.string()}, 20s);
  EXPECT_EQ(check.exit_code, 1);
  auto message = check.output;
  while (!message.empty() && message.back() == '\n') message.pop_back();
  ASSERT_EQ(message.rfind(config_.string() + ":", 0), 0u) << message;
  EXPECT_NE(gateway_.log().find("reload refused: " + message), std::string::npos) << message << "\n" << logs();
  ASSERT_TRUE(wait_until([&] { return stats_after(stats_from, R"("reload":\{"ok":false)").has_value(); }, 10s, 20ms));
  EXPECT_NE(stats_after(stats_from, R"("reload":\{"ok":false)")->find(message), std::string::npos);
  ASSERT_TRUE(progress({"meter_a", "meter_b"}));

  // A valid file that changes the store is refused whole: bus a keeps its
  // 50 ms although the same file gives it 20 ms.
  auto store_change = yaml(l);
  store_change.replace(store_change.find("poll_interval: 50ms"), 19, "poll_interval: 20ms");
  store_change.replace(store_change.find("queue.db"), 8, "other.db");
  reload(store_change, "reload refused: store.path cannot change at run time");
  EXPECT_EQ(count_in_log("reload: applied"), 0u) << logs();
  check_b_kept();
  check_nothing_lost();
}

// A serial_line bus runs on the event loop itself (an Asio serial port, no
// worker): a reload that changes it closes and reopens its port on the loop,
// while the Modbus buses go on. A sensor prints N=0, N=1, ... every 20 ms.
TEST_F(Reload, ASerialLineBusIsReopenedAndTheOthersGoOn) {
  pty_pair line;
  int sensor = ::open(line.device_end().c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(sensor, 0) << line.device_end();
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> printed{0};
  // The sensor's own period, not a wait for anything.
  std::thread printer([&] {
    while (!done) {
      const auto text = fmt::format("N={}\n", printed.load());
      if (::write(sensor, text.data(), text.size()) == static_cast<ssize_t>(text.size())) ++printed;
      std::this_thread::sleep_for(20ms);
    }
  });
  layout l;
  l.line_device = line.gateway_end();
  start(l);
  ASSERT_TRUE(wait_until([&] { return sub_->samples("line").size() >= 10; }, 10s, 20ms)) << logs();
  l.line_silence = "1m";
  reload(yaml(l));
  EXPECT_NE(gateway_.log().find("reload: applied: bus line restarted; 2 buses untouched"), std::string::npos)
      << logs();
  const auto after = sub_->samples("line").size();
  ASSERT_TRUE(wait_until([&] { return sub_->samples("line").size() >= after + 20; }, 10s, 20ms)) << logs();
  done = true;
  printer.join();
  ::close(sensor);
  std::set<std::uint64_t> seen;
  for (const auto& x : sub_->samples("line")) seen.insert(x.seq);
  // Lines printed while the port was closed (a few ms) are the sensor's to
  // lose, as after an unplug: counted, not promised.
  std::uint64_t missed = 0;
  for (auto v = *seen.begin(); v < *seen.rbegin(); ++v) missed += seen.contains(v) ? 0 : 1;
  std::cout << fmt::format("RELOAD {} line: {} lines between the first and the last received, {} missed\n",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                           *seen.rbegin() - *seen.begin() + 1, missed);
  EXPECT_LE(missed, 2u);
  check_b_kept();
  check_nothing_lost();
}

// A Modbus RTU bus on a serial line (a socat pty, the simulator at its
// other end) whose poll interval changes: its worker is joined before the
// new one opens the same line, so no request of the old one meets the
// new one's on the wire, and every number read on either arrives. The
// device answers 150 ms late, so the old worker is in the middle of a
// request when the reload comes: a new worker started alongside it would
// read (part of) its answer, or have its own answer read.
TEST_F(Reload, AModbusRtuBusIsReplacedWithoutSharingItsLine) {
  pty_pair line;
  counter_device rtu({1}, line.device_end(), 150ms);
  layout l;
  l.rtu_device = line.gateway_end();
  start(l);
  ASSERT_TRUE(wait_until([&] { return sub_->samples("meter_r").size() >= 5; }, 10s, 20ms)) << logs();
  l.rtu_poll = "30ms";
  reload(yaml(l));
  EXPECT_NE(gateway_.log().find("reload: applied: bus rtu restarted; 2 buses untouched"), std::string::npos)
      << logs();
  ASSERT_TRUE(progress({"meter_r", "meter_b"}, 10));
  const auto expected = rtu.freeze();
  const auto all_arrived = [&] {
    std::set<std::uint64_t> seen;
    for (const auto& x : sub_->samples("meter_r")) seen.insert(x.seq);
    std::uint64_t lost = 0;
    for (std::uint64_t v = 0; v < expected; ++v) lost += seen.contains(v) ? 0 : 1;
    return lost;
  };
  wait_until([&] { return all_arrived() == 0; }, 30s, 50ms);
  std::cout << fmt::format("RELOAD {} meter_r: {} numbers handed out, {} lost\n",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name(), expected, all_arrived());
  EXPECT_GT(expected, 10u);
  EXPECT_EQ(all_arrived(), 0u) << logs();
  // The old worker's and the new one's requests never crossed: no CRC
  // error, time-out or stray frame on the line.
  EXPECT_EQ(gateway_.log().find("bus rtu: device meter_r offline"), std::string::npos) << logs();
  EXPECT_EQ(gateway_.log().find("warning fieldbridge: bus rtu"), std::string::npos) << logs();
  ASSERT_TRUE(wait_until([&] { return stats_after(stats_after_reload_, R"("rtu":\{"polls":[1-9])").has_value(); }, 10s,
                         20ms));
  const auto stats = *stats_after(stats_after_reload_, R"("rtu":\{"polls":[1-9])");
  EXPECT_TRUE(std::regex_search(stats, std::regex(R"("rtu":\{[^}]*"timeouts":0,"exceptions":0,"errors":0)"))) << stats;
  check_b_kept();
  check_nothing_lost();
}

}  // namespace
}  // namespace fieldbridge::test::faults
