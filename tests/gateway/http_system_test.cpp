// The status page of `fieldbridge run` (http:) against mosquitto and
// `fieldbridge simulate` on free loopback ports, checked by parts nobody
// here wrote: /metrics through Python's prometheus_client parser
// (python3-prometheus-client), the page in headless Chromium (its DOM after
// the script fetched /status.json; a screenshot is kept in the build tree),
// and raw sockets for what a broken or hostile client sends.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "../drivers/tools_fixture.hpp"
#include "mosquitto.hpp"
#include "network.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {
namespace {

const std::string token = "4f1c0b7e9a2d4e6f8a0b1c2d3e4f5a6b";

std::string sim_yaml(std::uint16_t port) {
  return fmt::format(R"(tcp: {{ host: 127.0.0.1, port: {} }}
units:
  - id: 1
    registers:
      - {{ table: input, address: 0, type: float32, value: 230.4 }}
      - {{ table: input, address: 8, type: uint16, profile: counter, per: read }}
)",
                     port);
}

// --- a blocking HTTP client on raw sockets, with deadlines ---

class connection {
 public:
  explicit connection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~connection() { ::close(fd_); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  bool connected() const { return connected_; }
  // False once the peer closed or reset (what was sent may be partly lost then).
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Reads until the peer closes (true) or the deadline passes (false).
  bool read_to_end(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[4096];
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return true;  // closed, or reset
      received_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  const std::string& received() const { return received_; }
  int status() const {
    std::smatch m;
    static const std::regex line(R"(^HTTP/1\.1 (\d{3}) )");
    return std::regex_search(received_, m, line) ? std::stoi(m[1]) : 0;
  }
  std::string body() const {
    const auto end = received_.find("\r\n\r\n");
    return end == std::string::npos ? "" : received_.substr(end + 4);
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string received_;
};

struct reply {
  int status = 0;
  std::string text;  // the whole response
  std::string body;
};

reply http_get(std::uint16_t port, const std::string& target, const std::string& extra = {},
               const std::string& method = "GET") {
  connection c(port);
  if (!c.connected()) return {};
  c.send(fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n{}\r\n", method, target, port,
                     extra));
  c.read_to_end();
  return {c.status(), c.received(), c.body()};
}

// A number in the JSON text after "key": (the first one from `from`).
std::optional<double> json_number(const std::string& json, const std::string& key, std::size_t from = 0) {
  const auto at = json.find("\"" + key + "\":", from);
  if (at == std::string::npos) return std::nullopt;
  try {
    return std::stod(json.substr(at + key.size() + 3));
  } catch (...) {
    return std::nullopt;
  }
}

class StatusPage : public ::testing::Test {
 protected:
  StatusPage() : sim_port_(free_tcp_port()), sim_(sim_yaml(sim_port_)), http_port_(free_tcp_port()) {
    broker_.start();
  }

  // `listen` empty: 127.0.0.1 on the fixture's port, no token.
  void write_config(const std::string& http_section = {}) {
    const auto http = http_section.empty() ? fmt::format("{{ listen: 127.0.0.1:{} }}", http_port_) : http_section;
    config_ = dir_.write_file("gateway.yaml", fmt::format(R"(gateway: {{ name: gw, stats_interval: 1s }}
mqtt: {{ host: 127.0.0.1, port: {}, topic_prefix: test/gw, reconnect: {{ min: 50ms, max: 200ms }} }}
store: {{ path: {}, hot_path: {}, flush_interval: 200ms }}
http: {}
buses:
  - name: tcp1
    modbus_tcp: {{ host: 127.0.0.1, port: {} }}
    timeout: 500ms
    devices:
      - name: meter1
        unit: 1
        poll_interval: 100ms
        points:
          - {{ name: voltage, table: input, address: 0, type: float32, unit: V }}
          - {{ name: seq, table: input, address: 8, type: uint16 }}
          - {{ name: missing, table: input, address: 900, type: uint16 }}
)",
                                                          broker_.port(), (dir_ / "queue.db").string(),
                                                          dir_.path().string(), http, sim_port_));
  }

  child_process start_gateway() {
    child_process gw({fieldbridge_binary(), "run", "-c", config_.string()}, dir_ / "gateway.log");
    if (!wait_until([&] { return gw.log().find("running:") != std::string::npos || !gw.running(); }, 10s) ||
        !gw.running())
      ADD_FAILURE() << "the gateway did not start:\n" << gw.log();
    return gw;
  }

  // /status.json once the simulator's counter has been read `at_least` times.
  std::string status_after(std::uint16_t port, double at_least, const std::string& extra = {}) {
    std::string json;
    const bool seen = wait_until(
        [&] {
          json = http_get(port, "/status.json", extra).body;
          const auto seq = json.find("\"name\":\"seq\"");
          const auto value = seq == std::string::npos ? std::nullopt : json_number(json, "value", seq);
          return value && *value >= at_least;
        },
        15s, 50ms);
    if (!seen) ADD_FAILURE() << "no seq >= " << at_least << " in /status.json: " << json;
    return json;
  }

  // Runs headless Chromium on `url`; returns its output (--dump-dom: the DOM).
  command_result chromium(const std::vector<std::string>& args, const std::string& url) {
    std::vector<std::string> argv{"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                  "--no-first-run", "--user-data-dir=" + (dir_ / "chromium").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(url);
    return run_command(argv, 90s);
  }

  temp_dir dir_{"fieldbridge-http"};
  mosquitto_broker broker_;
  std::uint16_t sim_port_;
  simulator_process sim_;
  std::uint16_t http_port_;
  std::filesystem::path config_;
};

// Issue 15: "the metrics parse with a Prometheus text-format parser that no
// one here wrote". Every family once, with its type, and values that agree
// with what the gateway is doing.
TEST_F(StatusPage, MetricsParseWithPrometheusClientAndSayWhatTheGatewayDoes) {
  write_config();
  auto gw = start_gateway();
  status_after(http_port_, 10);
  const auto parsed = run_command({"/usr/bin/python3", std::string(FIELDBRIDGE_SOURCE_DIR) + "/tests/gateway/prometheus_parse.py",
                                   fmt::format("http://127.0.0.1:{}/metrics", http_port_)},
                                  30s);
  ASSERT_EQ(parsed.exit_code, 0) << parsed.output;

  std::map<std::string, std::string> families;          // name -> type
  std::map<std::string, double> samples;                // "name labels" -> value
  std::istringstream lines(parsed.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string kind, name, rest, value;
    words >> kind >> name;
    if (kind == "family") {
      words >> rest;
      EXPECT_TRUE(families.emplace(name, rest).second) << "family " << name << " twice";
    } else if (kind == "sample") {
      words >> rest >> value;
      samples[name + " " + rest] = std::stod(value);
    }
  }
  EXPECT_NE(parsed.output.find("content-type text/plain; version=0.0.4; charset=utf-8"), std::string::npos)
      << parsed.output;
  const std::map<std::string, std::string> expected_families{
      {"fieldbridge_build_info", "gauge"},
      {"fieldbridge_readings_polled", "counter"},
      {"fieldbridge_messages_published", "counter"},
      {"fieldbridge_messages_queued", "gauge"},
      {"fieldbridge_messages_dropped", "counter"},
      {"fieldbridge_errors", "counter"},
      {"fieldbridge_device_polls", "counter"},
      {"fieldbridge_device_timeouts", "counter"},
      {"fieldbridge_device_exceptions", "counter"},
      {"fieldbridge_device_round_trip_seconds", "gauge"},
      {"fieldbridge_device_online", "gauge"},
      {"fieldbridge_mqtt_connected", "gauge"},
      {"fieldbridge_mqtt_reconnects", "counter"},
      {"fieldbridge_mqtt_in_flight", "gauge"},
      {"fieldbridge_mqtt_broker_info", "gauge"},
      {"fieldbridge_store_bytes", "gauge"},
      {"fieldbridge_store_oldest_age_seconds", "gauge"},
      {"fieldbridge_http_responses", "counter"},
  };
  for (const auto& [name, type] : expected_families) {
    ASSERT_TRUE(families.count(name)) << name << " missing:\n" << parsed.output;
    EXPECT_EQ(families[name], type) << name;
  }
  for (const auto& [name, type] : families) EXPECT_NE(type, "unknown") << name << " has no TYPE";

  const auto value = [&](const std::string& key) {
    const auto it = samples.find(key);
    EXPECT_NE(it, samples.end()) << key << " missing:\n" << parsed.output;
    return it == samples.end() ? -1.0 : it->second;
  };
  const std::string meter = R"({"bus":"tcp1","device":"meter1"})";
  EXPECT_EQ(value(R"(fieldbridge_build_info {"version":")" FIELDBRIDGE_VERSION R"("})"), 1);
  EXPECT_EQ(value("fieldbridge_device_online " + meter), 1);
  EXPECT_EQ(value("fieldbridge_mqtt_connected {}"), 1);
  EXPECT_EQ(value("fieldbridge_mqtt_reconnects_total {}"), 0);
  EXPECT_EQ(value(fmt::format(R"(fieldbridge_mqtt_broker_info {{"broker":"127.0.0.1:{}"}})", broker_.port())), 1);
  EXPECT_GE(value("fieldbridge_device_polls_total " + meter), 10);
  // Three points a poll: voltage and seq good, 'missing' an exception
  // (illegal data address) every poll.
  const auto polls = value("fieldbridge_device_polls_total " + meter);
  const auto good = value(R"(fieldbridge_device_readings_total {"bus":"tcp1","device":"meter1","quality":"good"})");
  const auto bad = value(R"(fieldbridge_device_readings_total {"bus":"tcp1","device":"meter1","quality":"bad"})");
  EXPECT_GE(good, 2 * polls - 2);
  EXPECT_GE(bad, polls - 1);
  EXPECT_GE(value("fieldbridge_device_exceptions_total " + meter), polls - 1);
  EXPECT_EQ(value("fieldbridge_device_timeouts_total " + meter), 0);
  EXPECT_EQ(value("fieldbridge_readings_polled_total {}"), good + bad);
  EXPECT_GT(value("fieldbridge_device_round_trip_seconds " + meter), 0);
  EXPECT_LT(value("fieldbridge_device_round_trip_seconds " + meter), 0.5);
  // Good readings are published (bad ones are not); those of the last poll
  // may still be on their way into the store, the rest are published or
  // queued.
  EXPECT_GE(value("fieldbridge_messages_published_total {}") + value("fieldbridge_messages_queued {}"), good - 2);
  EXPECT_GT(value("fieldbridge_messages_published_total {}"), 0);
  EXPECT_EQ(value("fieldbridge_messages_dropped_total {}"), 0);
  EXPECT_GE(value(R"(fieldbridge_http_responses_total {"code":"200"})"), 1);

  // The broker goes away: the metrics follow (disconnected, readings
  // waiting in the store, the oldest one ageing), and come back with it.
  const auto metric = [&](const std::string& name) -> std::optional<double> {
    const auto text = http_get(http_port_, "/metrics").body;
    std::smatch m;
    if (!std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return std::nullopt;
    return std::stod(m[1]);
  };
  broker_.stop();
  ASSERT_TRUE(wait_until([&] { return metric("fieldbridge_mqtt_connected") == 0.0; }, 10s, 50ms));
  ASSERT_TRUE(wait_until([&] { return metric("fieldbridge_store_oldest_age_seconds") >= 1.0; }, 10s, 50ms));
  EXPECT_GT(metric("fieldbridge_messages_queued").value_or(0), 10);
  EXPECT_GT(metric("fieldbridge_store_bytes").value_or(0), 500);
  broker_.start();
  ASSERT_TRUE(wait_until([&] { return metric("fieldbridge_mqtt_connected") == 1.0; }, 10s, 50ms));
  EXPECT_EQ(metric("fieldbridge_mqtt_reconnects_total"), 1.0);
  EXPECT_TRUE(wait_until([&] { return metric("fieldbridge_store_oldest_age_seconds") < 1.0; }, 10s, 50ms));
  gw.stop();
}

// Issue 15: "the page is loaded in headless Chromium against a running
// gateway and shows a point's live value (assert on the DOM, keep a
// screenshot as a test artifact)". With a token, as beyond loopback: the
// page takes it from its URL and sends it with every fetch.
TEST_F(StatusPage, ChromiumShowsThePointsLiveValues) {
  dir_.write_file("token", token + "\n");
  write_config(fmt::format("{{ listen: 0.0.0.0:{}, token_file: {} }}", http_port_, (dir_ / "token").string()));
  auto gw = start_gateway();
  const auto before = status_after(http_port_, 5, "Authorization: Bearer " + token + "\r\n");
  const auto seq_before = json_number(before, "value", before.find("\"name\":\"seq\""));
  ASSERT_TRUE(seq_before);

  const auto url = fmt::format("http://127.0.0.1:{}/?token={}", http_port_, token);
  const auto dom = chromium({"--virtual-time-budget=5000", "--dump-dom"}, url);
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  const auto seq_after = json_number(http_get(http_port_, "/status.json", "Authorization: Bearer " + token + "\r\n").body,
                                     "value", 0);
  // The row of each point: name, value, quality, age.
  const auto row = [&](const std::string& point) {
    std::smatch m;
    const std::regex tr("<tr data-point=\"meter1/" + point +
                        "\"><td>[^<]*</td><td class=\"value\">([^<]*)</td><td class=\"[a-z]+\">([^<]*)</td>"
                        "<td class=\"age\">([^<]*)</td>");
    return std::regex_search(dom.output, m, tr) ? std::vector<std::string>{m[1], m[2], m[3]} : std::vector<std::string>{};
  };
  const auto voltage = row("voltage");
  ASSERT_EQ(voltage.size(), 3u) << dom.output;
  EXPECT_EQ(voltage[0], "230.4 V");
  EXPECT_EQ(voltage[1], "good");
  EXPECT_TRUE(std::regex_match(voltage[2], std::regex(R"(\d+\.\d s)"))) << voltage[2];
  const auto seq = row("seq");
  ASSERT_EQ(seq.size(), 3u) << dom.output;
  // Live: read by the gateway after the test's own look before Chromium,
  // and no later than the look after it.
  const auto shown = std::stod(seq[0]);
  EXPECT_GE(shown, *seq_before) << dom.output;
  ASSERT_TRUE(seq_after);
  EXPECT_LE(shown, *seq_after);
  const auto missing = row("missing");
  ASSERT_EQ(missing.size(), 3u) << dom.output;
  EXPECT_EQ(missing[0], "—");
  EXPECT_EQ(missing[1], "bad");
  EXPECT_NE(dom.output.find("<h1 id=\"title\">fieldbridge gw</h1>"), std::string::npos) << dom.output;
  EXPECT_NE(dom.output.find("<dt>connected</dt><dd><span class=\"yes\">yes</span></dd>"), std::string::npos);
  EXPECT_NE(dom.output.find(fmt::format("<dt>broker</dt><dd>127.0.0.1:{}</dd>", broker_.port())), std::string::npos);
  EXPECT_NE(dom.output.find("<h3 data-device=\"meter1\">meter1 <span class=\"online\">online</span>"),
            std::string::npos);
  EXPECT_NE(dom.output.find("<div class=\"banner\" id=\"banner\"></div>"), std::string::npos)
      << "the page reported an error:\n" << dom.output;

  // The screenshot, kept for a person to look at (tests/gateway/artifacts/).
  const std::filesystem::path artifacts{FIELDBRIDGE_TEST_ARTIFACTS};
  std::filesystem::create_directories(artifacts);
  const auto png = artifacts / "status-page.png";
  std::filesystem::remove(png);
  const auto shot = chromium({"--virtual-time-budget=5000", "--window-size=1280,900", "--screenshot=" + png.string()}, url);
  ASSERT_EQ(shot.exit_code, 0) << shot.output;
  ASSERT_TRUE(std::filesystem::exists(png)) << shot.output;
  EXPECT_GT(std::filesystem::file_size(png), 10'000u);
  EXPECT_EQ(read_file(png).substr(1, 3), "PNG");

  // Without the token the page shows why it has nothing.
  const auto refused = chromium({"--virtual-time-budget=3000", "--dump-dom"},
                                fmt::format("http://127.0.0.1:{}/?token=wrong", http_port_));
  EXPECT_NE(refused.output.find("401"), std::string::npos) << refused.output;
  gw.stop();
}

// A listener beyond loopback answers nothing without the token.
TEST_F(StatusPage, BeyondLoopbackEveryRouteNeedsTheToken) {
  dir_.write_file("token", token + "\n");
  write_config(fmt::format("{{ listen: 0.0.0.0:{}, token_file: token }}", http_port_));
  auto gw = start_gateway();
  for (const auto* target : {"/", "/status.json", "/metrics", "/nothing"}) {
    const auto missing = http_get(http_port_, target);
    EXPECT_EQ(missing.status, 401) << target << ": " << missing.text;
    EXPECT_EQ(missing.body.find("fieldbridge_"), std::string::npos);
    EXPECT_EQ(http_get(http_port_, target, "Authorization: Bearer " + token.substr(0, 31) + "0\r\n").status, 401);
    EXPECT_EQ(http_get(http_port_, target, "Authorization: Bearer " + token + token + "\r\n").status, 401);
  }
  EXPECT_EQ(http_get(http_port_, "/metrics", "Authorization: Bearer " + token + "\r\n").status, 200);
  EXPECT_EQ(http_get(http_port_, "/status.json?token=" + token).status, 200);
  EXPECT_EQ(http_get(http_port_, "/nothing?token=" + token).status, 404);
  EXPECT_NE(gw.log().find(fmt::format("http: the status page is on http://0.0.0.0:{}/ (token required)", http_port_)),
            std::string::npos)
      << gw.log();
  gw.stop();
}

// Bad input to the running binary: each refused with a 4xx (or 503), and
// the gateway serves the next request as before. (The slowloris deadline is
// tested on the listener itself, with a short deadline: gateway_http_tests.)
TEST_F(StatusPage, BadRequestsAreRefusedAndTheGatewayGoesOn) {
  write_config();
  auto gw = start_gateway();
  status_after(http_port_, 1);
  const auto raw = [&](const std::string& bytes) {
    connection c(http_port_);
    c.send(bytes);
    c.read_to_end();
    return c.status();
  };
  EXPECT_EQ(raw("GET\r\n\r\n"), 400);
  EXPECT_EQ(raw("GET / HTTP/1.1 extra\r\n\r\n"), 400);
  EXPECT_EQ(raw(std::string("\0\0\0\0\r\n\r\n", 8)), 400);
  EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + std::string(20'000, 'x') + "\r\n\r\n"), 431);
  EXPECT_EQ(http_get(http_port_, "/metrics", "Content-Length: 5\r\n", "POST").status, 405);
  EXPECT_EQ(http_get(http_port_, "/status.json", {}, "DELETE").status, 405);
  EXPECT_EQ(http_get(http_port_, "/admin").status, 404);
  EXPECT_EQ(raw("GET /metrics HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n"), 403);  // DNS rebinding
  EXPECT_EQ(raw("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\n\r\n"), 400);
  EXPECT_EQ(raw("GET /metrics HTTP/1.1\r\n\r\n"), 400);
  // 16 open connections are the most; the 17th is told so.
  std::vector<std::unique_ptr<connection>> open;
  for (int i = 0; i < 16; ++i) open.push_back(std::make_unique<connection>(http_port_));
  ASSERT_TRUE(wait_until([&] {
    return http_get(http_port_, "/metrics").status == 503;
  }, 5s));
  open.clear();
  ASSERT_TRUE(wait_until([&] { return http_get(http_port_, "/metrics").status == 200; }, 5s));
  const auto metrics = http_get(http_port_, "/metrics").body;
  EXPECT_TRUE(std::regex_search(metrics, std::regex(R"(fieldbridge_http_connections_refused_total [1-9])"))) << metrics;
  EXPECT_TRUE(std::regex_search(metrics, std::regex(R"(fieldbridge_http_responses_total\{code="400"\} 5)"))) << metrics;
  EXPECT_TRUE(std::regex_search(metrics, std::regex(R"(fieldbridge_http_responses_total\{code="431"\} 1)"))) << metrics;
  EXPECT_TRUE(gw.running());
  EXPECT_EQ(gw.stop(), 0) << gw.log();
}

// Issue 15's slowloris against the binary's own deadline: a request sent a
// byte every 400 ms (its header would take 20 s) is closed once 10 s have
// passed since the connect, unanswered, and counted; meanwhile others are
// served.
TEST_F(StatusPage, ASlowlorisIsClosedAtTheTenSecondDeadline) {
  write_config();
  auto gw = start_gateway();
  status_after(http_port_, 1);
  const std::string request = fmt::format("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Pad: {}\r\n\r\n",
                                          http_port_, std::string(20, 'p'));
  connection slow(http_port_);
  const auto began = std::chrono::steady_clock::now();
  std::size_t sent = 0;
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - began < 15s) {
    if (sent < request.size()) slow.send(request.substr(sent++, 1));
    // Waits for the next byte's time, or sees the server close first.
    closed = slow.read_to_end(400ms);
    if (sent == 5) {
      EXPECT_EQ(http_get(http_port_, "/status.json").status, 200);
    }
  }
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_TRUE(closed) << "still open after 15 s";
  EXPECT_EQ(slow.received(), "");
  EXPECT_LT(sent, request.size());
  EXPECT_GE(took, 9500ms);
  EXPECT_LT(took, 12s);
  EXPECT_NE(http_get(http_port_, "/metrics").body.find("fieldbridge_http_request_timeouts_total 1\n"),
            std::string::npos);
  RecordProperty("slowloris_closed_after_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  gw.stop();
}

// SIGTERM with connections open (idle, half a request, kept alive after a
// response): they are closed at once, and the shutdown takes as long as
// without them.
TEST_F(StatusPage, SigtermWithOpenConnectionsExitsAtOnce) {
  write_config();
  auto gw = start_gateway();
  status_after(http_port_, 1);
  connection idle(http_port_);
  connection partial(http_port_);
  partial.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
  connection kept(http_port_);
  kept.send(fmt::format("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", http_port_));
  ASSERT_TRUE(wait_until([&] {
    return http_get(http_port_, "/metrics").body.find("fieldbridge_http_open_connections 4\n") != std::string::npos;
  }, 5s));
  const auto began = std::chrono::steady_clock::now();
  gw.signal(SIGTERM);
  const auto status = gw.wait(3s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
  ASSERT_TRUE(status) << "no exit within 3 s of SIGTERM with HTTP connections open:\n" << gw.log();
  EXPECT_EQ(*status, 0);
  EXPECT_LT(took, 2s) << gw.log();
  for (auto* c : {&idle, &partial, &kept}) EXPECT_TRUE(c->read_to_end(1s)) << "still open after the exit";
  RecordProperty("sigterm_ms", static_cast<int>(took.count()));
}

}  // namespace
}  // namespace fieldbridge::test
