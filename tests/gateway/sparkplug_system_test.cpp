// `fieldbridge run` with mqtt.format: sparkplug_b as a process, against a real
// mosquitto and `fieldbridge simulate` on free loopback ports, with a test
// client acting as the primary host application: it subscribes to
// spBv1.0/plant1/#, decodes what arrives with the birth's datatypes, sends
// STATE, NCMD and DCMD. The simulator's counter register (one step per read)
// numbers the readings, so a lost one shows as a gap.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "../drivers/tools_fixture.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "fieldbridge/sparkplug/payload.hpp"
#include "mosquitto.hpp"
#include "network.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {
namespace {

namespace mq = fieldbridge::mqtt;
namespace sp = fieldbridge::sparkplug;
using namespace std::chrono_literals;

std::string sim_yaml(std::uint16_t port) {
  return fmt::format(R"(tcp: {{ host: 127.0.0.1, port: {} }}
units:
  - id: 1
    registers:
      - {{ table: input, address: 0, type: float32, value: 230.5 }}
      - {{ table: input, address: 8, type: uint16, profile: counter, per: read }}
      - {{ table: holding, address: 10, type: int16, value: 215 }}
)",
                     port);
}

struct received {
  std::string topic;
  std::vector<std::uint8_t> payload;
  bool retain = false;
  std::chrono::steady_clock::time_point at;
};

// The primary host: an MQTT client on its own thread. A persistent session
// (clean_start false) keeps QoS 1 messages for it while it is away.
class host {
 public:
  explicit host(std::uint16_t port, bool persistent = false) : guard_(io_.get_executor()) {
    mq::client_options o;
    o.host = "127.0.0.1";
    o.port = port;
    o.client_id = "scada-host";
    o.clean_start = !persistent;
    o.session_expiry = persistent ? std::chrono::seconds{3600} : std::chrono::seconds{0};
    o.keepalive = std::chrono::seconds{5};
    o.reconnect_min = 50ms;
    o.reconnect_max = 200ms;
    client_ = std::make_unique<mq::client>(io_, o, make_null_logger("host"));
    client_->on_message([this](const mq::publish_packet& m) {
      std::lock_guard lock(mutex_);
      messages_.push_back({m.topic, m.payload, m.retain, std::chrono::steady_clock::now()});
    });
    client_->on_connection([this](const mq::connection_event& e) {
      // Once granted, the client subscribes again by itself when a
      // connection finds no session.
      if (!e.connected || asked_) return;
      asked_ = true;
      mq::subscribe_options so;
      so.max_qos = mq::qos::at_least_once;
      client_->subscribe({{"spBv1.0/plant1/#", so}}, [this](const mq::subscribe_result& r) {
        std::lock_guard lock(mutex_);
        subscribed_ = !r.error;
        if (r.error) asked_ = false;
      });
    });
    thread_ = std::thread([this] { io_.run(); });
    post([this] { client_->start(); });
    if (!wait_until([&] { std::lock_guard lock(mutex_); return subscribed_; }, 10s)) ADD_FAILURE() << "host not subscribed";
  }
  ~host() {
    post([this] { client_->stop(); });
    guard_.reset();
    thread_.join();
  }

  void publish(const std::string& topic, std::string payload, bool retain) {
    std::mutex m;
    bool done = false;
    post([&] {
      client_->publish(topic, payload, mq::qos::at_least_once, retain, {}, [&](const mq::publish_result&) {
        std::lock_guard lock(m);
        done = true;
      });
    });
    if (!wait_until([&] { std::lock_guard lock(m); return done; }, 10s)) ADD_FAILURE() << "publish on " << topic;
  }
  void state(bool online) {
    const auto ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    publish("spBv1.0/STATE/scada", fmt::format(R"({{"online":{},"timestamp":{}}})", online, ts), true);
  }
  void command(const std::string& topic, const sp::payload& p) {
    const auto b = sp::encode(p);
    publish(topic, std::string(b.begin(), b.end()), false);
  }

  std::vector<received> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  template <typename F>
  void post(F f) { boost::asio::post(io_, std::move(f)); }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::unique_ptr<mq::client> client_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<received> messages_;
  bool subscribed_ = false;
  bool asked_ = false;  // the io thread's
};

const std::string edge = "spBv1.0/plant1/";

// What the host makes of the edge node's messages, decoded in arrival order
// with the datatypes of the births, as a host application does.
struct decoded {
  std::string type;  // NBIRTH, DDATA, ...
  std::string device;
  sp::payload p;
};

std::vector<decoded> decode_all(const std::vector<received>& messages) {
  std::vector<decoded> out;
  sp::birth_types types;
  std::set<std::pair<std::string, std::vector<std::uint8_t>>> seen;
  for (const auto& m : messages) {
    if (m.topic.rfind(edge, 0) != 0) continue;
    // The broker's QoS 1 redelivery of a packet it had in flight to the
    // host when it stopped is one message: the edge node never repeats one
    // (each has its own seq and timestamp).
    if (!seen.emplace(m.topic, m.payload).second) continue;
    const auto rest = m.topic.substr(edge.size());  // TYPE/edge1[/device]
    const auto slash = rest.find('/');
    decoded d;
    d.type = rest.substr(0, slash);
    if (d.type == "NCMD" || d.type == "DCMD") continue;  // the host's own
    const auto second = rest.find('/', slash + 1);
    if (second != std::string::npos) d.device = rest.substr(second + 1);
    d.p = sp::decode(m.payload, &types);
    if (d.type == "NBIRTH") types.clear();
    if (d.type == "NBIRTH" || d.type == "DBIRTH") {
      types.learn(d.p);
      d.p = sp::decode(m.payload, &types);
    }
    out.push_back(std::move(d));
  }
  return out;
}

// The value of metric `name` in a DDATA or DBIRTH, by the births' aliases.
std::optional<sp::value> value_of(const decoded& d, std::uint64_t alias) {
  for (const auto& m : d.p.metrics)
    if (m.alias == alias && !m.is_null) return m.val;
  return std::nullopt;
}

// A Double metric near `x` (scaled registers: 505 * 0.1 is not exactly 50.5).
bool near(const std::optional<sp::value>& v, double x) {
  if (!v) return false;
  const auto* d = std::get_if<double>(&*v);
  return d != nullptr && *d > x - 1e-9 && *d < x + 1e-9;
}

std::uint64_t as_u64(const sp::value& v) {
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return *u;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<std::uint64_t>(*i);
  return ~0ull;
}

class SparkplugRun : public ::testing::Test {
 protected:
  SparkplugRun() : sim_port_(free_tcp_port()), sim_(sim_yaml(sim_port_)) { broker_.start(); }

  void write_config(const std::string& sparkplug_extra = "", const std::string& poll = "50ms",
                    const std::string& reconnect = "{ min: 50ms, max: 200ms }") {
    const auto yaml = fmt::format(R"(gateway: {{ name: edge1, stats_interval: 0 }}
mqtt:
  host: 127.0.0.1
  port: {}
  format: sparkplug_b
  keepalive: 5s
  reconnect: {}
sparkplug: {{ group_id: plant1{} }}
store: {{ path: {}, hot_path: {}, flush_interval: 200ms }}
buses:
  - name: tcp1
    modbus_tcp: {{ host: 127.0.0.1, port: {} }}
    timeout: 500ms
    devices:
      - name: meter1
        unit: 1
        poll_interval: {}
        points:
          - {{ name: seq, table: input, address: 8, type: uint16 }}
          - {{ name: voltage, table: input, address: 0, type: float32, unit: V }}
          - {{ name: setpoint, table: holding, address: 10, type: int16, scale: 0.1, writable: true, min: 0, max: 80 }}
)",
                                  broker_.port(), reconnect, sparkplug_extra, (dir_ / "queue.db").string(), dir_.path().string(),
                                  sim_port_, poll);
    config_ = dir_.write_file("gateway.yaml", yaml);
  }

  child_process start_gateway(const std::string& log_name = "gateway.log") {
    child_process gw({fieldbridge_binary(), "run", "-c", config_.string()}, dir_ / log_name);
    if (!wait_until([&] { return gw.log().find("running:") != std::string::npos || !gw.running(); }, 10s) ||
        !gw.running())
      ADD_FAILURE() << "the gateway did not start:\n" << gw.log();
    return gw;
  }

  static std::size_t count(const std::vector<decoded>& all, const std::string& type) {
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const decoded& d) { return d.type == type; }));
  }

  // Every edge message but NDEATH carries seq: 0 at each NBIRTH, then +1
  // (mod 256) per message. Returns the first break, or "".
  static std::string seq_break(const std::vector<decoded>& all) {
    std::optional<std::uint64_t> last;
    for (std::size_t i = 0; i < all.size(); ++i) {
      const auto& d = all[i];
      if (d.type == "NDEATH") {
        if (d.p.seq) return fmt::format("message {}: NDEATH with seq {}", i, *d.p.seq);
        continue;
      }
      if (!d.p.seq) return fmt::format("message {} ({}): no seq", i, d.type);
      if (d.type == "NBIRTH") {
        if (*d.p.seq != 0) return fmt::format("message {}: NBIRTH seq {}", i, *d.p.seq);
      } else if (!last || *d.p.seq != (*last + 1) % 256) {
        return fmt::format("message {} ({}): seq {} after {}", i, d.type, *d.p.seq, last ? std::to_string(*last) : "none");
      }
      last = *d.p.seq;
    }
    return {};
  }

  // The counter readings in the DDATA (alias 1 = seq, the first point).
  static std::vector<std::uint64_t> counters(const std::vector<decoded>& all, bool* any_historical = nullptr) {
    std::vector<std::uint64_t> out;
    for (const auto& d : all) {
      if (d.type != "DDATA") continue;
      for (const auto& m : d.p.metrics)
        if (m.alias == 1u) {
          out.push_back(as_u64(m.val));
          if (any_historical && m.is_historical) *any_historical = true;
        }
    }
    return out;
  }

  // Counter values missing between the first and the last one seen.
  static std::uint64_t gaps(std::vector<std::uint64_t> values) {
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    if (values.empty()) return 0;
    return values.back() - values.front() + 1 - values.size();
  }

  std::uint64_t bdseq_of(const decoded& d) const {
    for (const auto& m : d.p.metrics)
      if (m.name == "bdSeq") return as_u64(m.val);
    return ~0ull;
  }

  temp_dir dir_{"fieldbridge-sparkplug"};
  mosquitto_broker broker_;
  std::uint16_t sim_port_;
  simulator_process sim_;
  std::filesystem::path config_;
};

TEST_F(SparkplugRun, BirthsComeBeforeDataAndSeqRunsWithoutGapsThroughItsWrap) {
  host h(broker_.port());
  write_config("", "20ms");
  auto gw = start_gateway();
  // More than 256 node messages: seq wraps at least once.
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= 300; }, 60s)) << gw.log();
  EXPECT_EQ(gw.stop(5s), 0) << gw.log();  // a clean exit (under ASan: no leak either)
  const auto all = decode_all(h.messages());
  ASSERT_GE(all.size(), 3u);
  EXPECT_EQ(all[0].type, "NBIRTH");
  EXPECT_EQ(all[1].type, "DBIRTH");
  EXPECT_EQ(all[1].device, "meter1");
  EXPECT_EQ(seq_break(all), "");
  // The birth: names, aliases, datatypes, the unit, a current value.
  const auto& nbirth = all[0].p;
  ASSERT_EQ(nbirth.metrics.size(), 2u);
  EXPECT_EQ(nbirth.metrics[0].name, "bdSeq");
  EXPECT_EQ(nbirth.metrics[1].name, "Node Control/Rebirth");
  const auto& dbirth = all[1].p;
  ASSERT_EQ(dbirth.metrics.size(), 3u);
  EXPECT_EQ(dbirth.metrics[0].name, "seq");
  EXPECT_EQ(dbirth.metrics[0].alias, 1u);
  EXPECT_EQ(dbirth.metrics[0].type, sp::data_type::uint16);
  EXPECT_EQ(dbirth.metrics[1].name, "voltage");
  EXPECT_EQ(dbirth.metrics[1].type, sp::data_type::float_);
  ASSERT_EQ(dbirth.metrics[1].properties.size(), 1u);
  EXPECT_EQ(dbirth.metrics[1].properties[0].val, sp::value{std::string("V")});
  EXPECT_EQ(dbirth.metrics[2].type, sp::data_type::double_);
  // Data: aliases only, no datatypes on the wire, values by the birth's datatypes.
  const auto& ddata = all[2];
  EXPECT_EQ(ddata.type, "DDATA");
  for (const auto& m : ddata.p.metrics) {
    EXPECT_FALSE(m.name.has_value());
    EXPECT_FALSE(m.datatype_on_wire);
  }
  EXPECT_EQ(value_of(ddata, 2), sp::value{230.5f});
  EXPECT_TRUE(near(value_of(ddata, 3), 21.5));
  const auto c = counters(all);
  EXPECT_EQ(gaps(c), 0u);
  // Shutdown: an NDEATH with this session's bdSeq.
  ASSERT_EQ(all.back().type, "NDEATH") << gw.log();
  EXPECT_EQ(bdseq_of(all.back()), bdseq_of(all[0]));
}

// The gateway's own NBIRTH, DBIRTH and DDATA as the host received them, for
// Eclipse Tahu's decoder: with FIELDBRIDGE_SPARKPLUG_CAPTURE=<dir> (the ctest
// fixture sparkplug_gateway_capture) they are written there, and
// sparkplug_tahu_decodes_the_gateways_messages reads them with node.
TEST_F(SparkplugRun, TheGatewaysBirthsAndDataAsAHostReceivesThem) {
  host h(broker_.port());
  write_config();
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= 2; }, 20s)) << gw.log();
  EXPECT_EQ(gw.stop(5s), 0) << gw.log();
  std::map<std::string, std::vector<std::uint8_t>> first;
  for (const auto& m : h.messages()) {
    for (const auto* type : {"NBIRTH", "DBIRTH", "DDATA"}) {
      if (m.topic.find(std::string("/") + type + "/") != std::string::npos && !first.contains(type))
        first.emplace(type, m.payload);
    }
  }
  ASSERT_EQ(first.size(), 3u);
  const char* dir = std::getenv("FIELDBRIDGE_SPARKPLUG_CAPTURE");
  if (dir == nullptr) return;
  std::filesystem::create_directories(dir);
  for (const auto& [type, payload] : first) {
    std::ofstream out(std::filesystem::path(dir) / (type + ".bin"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
    ASSERT_TRUE(out.good()) << dir;
  }
}

TEST_F(SparkplugRun, SigkillLeavesTheWillsNdeathWithTheBirthsBdSeqAndARestartTakesTheNext) {
  host h(broker_.port());
  write_config();
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= 3; }, 20s)) << gw.log();
  gw.signal(SIGKILL);
  gw.wait(5s);
  // The broker sees the connection die and publishes the will.
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "NDEATH") == 1; }, 20s)) << broker_.log();
  auto all = decode_all(h.messages());
  const auto first_bdseq = bdseq_of(all[0]);
  const auto death = std::find_if(all.begin(), all.end(), [](const decoded& d) { return d.type == "NDEATH"; });
  EXPECT_EQ(bdseq_of(*death), first_bdseq);
  EXPECT_FALSE(death->p.seq.has_value());

  auto again = start_gateway("gateway-2.log");
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "NBIRTH") == 2; }, 20s)) << again.log();
  all = decode_all(h.messages());
  const auto second = std::find_if(all.rbegin(), all.rend(), [](const decoded& d) { return d.type == "NBIRTH"; });
  EXPECT_EQ(bdseq_of(*second), (first_bdseq + 1) % 256);
}

TEST_F(SparkplugRun, NcmdRebirthSendsNewBirthsWithTheSameBdSeqAndSeqFromZero) {
  host h(broker_.port());
  write_config();
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= 3; }, 20s)) << gw.log();
  sp::payload ncmd;
  ncmd.timestamp = 1;
  sp::metric rebirth;
  rebirth.name = "Node Control/Rebirth";
  rebirth.type = sp::data_type::boolean;
  rebirth.val = true;
  ncmd.metrics.push_back(rebirth);
  h.command(edge + "NCMD/edge1", ncmd);
  ASSERT_TRUE(wait_until([&] {
    const auto all = decode_all(h.messages());
    return count(all, "NBIRTH") == 2 && count(all, "DBIRTH") == 2 && !all.empty() && all.back().type == "DDATA";
  }, 20s)) << gw.log();
  const auto all = decode_all(h.messages());
  EXPECT_EQ(seq_break(all), "");
  std::vector<std::uint64_t> bdseqs;
  for (const auto& d : all)
    if (d.type == "NBIRTH") bdseqs.push_back(bdseq_of(d));
  ASSERT_EQ(bdseqs.size(), 2u);
  EXPECT_EQ(bdseqs[0], bdseqs[1]);  // the same MQTT session
  EXPECT_EQ(gaps(counters(all)), 0u);
}

TEST_F(SparkplugRun, ADcmdWriteIsReadBackInDdataAndRefusedOnesAreNotWritten) {
  host h(broker_.port());
  write_config();
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= 2; }, 20s)) << gw.log();
  auto dcmd = [&](std::uint64_t alias, sp::data_type type, sp::value v) {
    sp::payload p;
    p.timestamp = 1;
    sp::metric m;
    m.alias = alias;
    m.type = type;
    m.datatype_on_wire = false;  // as a host sends it: the alias, the value
    m.val = std::move(v);
    p.metrics.push_back(std::move(m));
    h.command(edge + "DCMD/edge1/meter1", p);
  };
  // Refused: above max, a read-only metric, a string for a number.
  dcmd(3, sp::data_type::double_, 99.0);
  dcmd(2, sp::data_type::float_, 1.5f);
  dcmd(3, sp::data_type::string, std::string("high"));
  ASSERT_TRUE(wait_until([&] {
    const auto log = gw.log();
    std::size_t n = 0;
    for (auto at = log.find("refused"); at != std::string::npos; at = log.find("refused", at + 1)) ++n;
    return n >= 3;
  }, 10s)) << gw.log();
  // Accepted: 50.5 -> register 505, read back and published.
  dcmd(3, sp::data_type::double_, 50.5);
  ASSERT_TRUE(wait_until([&] {
    const auto all = decode_all(h.messages());
    return std::count_if(all.begin(), all.end(), [](const decoded& d) {
             return d.type == "DDATA" && near(value_of(d, 3), 50.5);
           }) >= 3;  // the read-back, then the polls that read the register
  }, 20s)) << gw.log();
  const auto all = decode_all(h.messages());
  for (const auto& d : all) {
    if (d.type != "DDATA") continue;
    const auto v = value_of(d, 3);
    ASSERT_TRUE(v);
    EXPECT_TRUE(near(v, 21.5) || near(v, 50.5)) << "setpoint " << std::get<double>(*v);
  }
  EXPECT_EQ(seq_break(all), "");
}

// SIGHUP with changed points is refused: the births stay what the hosts know.
TEST_F(SparkplugRun, AReloadThatChangesThePointsIsRefusedAndTheEdgeNodeGoesOn) {
  host h(broker_.port());
  write_config();
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= 2; }, 20s)) << gw.log();
  auto yaml = read_file(config_);
  const auto at = yaml.find("unit: V");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 7, "unit: kV");
  dir_.write_file("gateway.yaml", yaml);
  gw.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return gw.log().find("reload refused") != std::string::npos; }, 10s)) << gw.log();
  EXPECT_NE(gw.log().find("the devices and their points cannot change at run time"), std::string::npos) << gw.log();
  const auto before = count(decode_all(h.messages()), "DDATA");
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= before + 3; }, 10s)) << gw.log();
  const auto all = decode_all(h.messages());
  EXPECT_EQ(count(all, "NBIRTH"), 1u);
  EXPECT_EQ(seq_break(all), "");
}

// The primary host goes offline: NDEATH, nothing while it is away, the
// readings wait in the store; back online: births, then what waited as
// historical data in order, then live data. Nothing lost.
TEST_F(SparkplugRun, PrimaryHostOfflinePeriodIsReplayedAsHistoricalWithNothingLost) {
  host h(broker_.port());
  h.state(true);
  write_config(", primary_host_id: scada");
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= 3; }, 20s)) << gw.log();
  h.state(false);
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "NDEATH") == 1; }, 10s)) << gw.log();
  const auto during = count(decode_all(h.messages()), "DDATA");
  // Readings keep coming from the bus meanwhile (20 polls at 50 ms), into the store.
  ASSERT_TRUE(wait_until([&] { return gw.log().find("primary host 'scada' is offline") != std::string::npos; }, 5s));
  const auto polls_before = count(decode_all(h.messages()), "DDATA");
  std::this_thread::sleep_for(1s);  // the length of the host's absence, not a synchronisation
  EXPECT_EQ(count(decode_all(h.messages()), "DDATA"), polls_before);  // nothing published while it is away
  h.state(true);
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "NBIRTH") == 2; }, 10s)) << gw.log();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h.messages()), "DDATA") >= during + 30; }, 20s)) << gw.log();
  EXPECT_EQ(gw.stop(5s), 0) << gw.log();  // a clean exit (under ASan: no leak either)
  const auto all = decode_all(h.messages());
  EXPECT_EQ(seq_break(all), "");
  bool historical = false;
  EXPECT_EQ(gaps(counters(all, &historical)), 0u);
  EXPECT_TRUE(historical);
  // After the second NBIRTH: the historical ones first, in order.
  const auto second = std::find_if(all.begin() + 1, all.end(), [](const decoded& d) { return d.type == "NBIRTH"; });
  bool live_seen = false;
  std::uint64_t last = 0;
  for (auto it = second; it != all.end(); ++it) {
    if (it->type != "DDATA") continue;
    for (const auto& m : it->p.metrics) {
      if (m.alias != 1u) continue;
      if (!m.is_historical) live_seen = true;
      EXPECT_FALSE(live_seen && m.is_historical) << "historical data after live data";
      EXPECT_GT(as_u64(m.val), last);
      last = as_u64(m.val);
    }
  }
  EXPECT_TRUE(live_seen);
}

// The broker goes away: the edge node's readings wait in the store; after
// the broker is back, births, then the backlog as historical data with new
// seq numbers. data_qos 1, so the broker keeps the host's messages while the
// host reconnects too (Sparkplug's QoS 0 would lose what arrives before the
// host is subscribed again: the primary host's STATE is what covers that).
TEST_F(SparkplugRun, BrokerOutageIsReplayedAfterNewBirthsAsHistoricalWithNothingLost) {
  auto h = std::make_unique<host>(broker_.port(), true);
  // The edge node retries after 2 to 4 s, the host after 50 ms: the host is
  // subscribed again when the births come (they are QoS 0, as Sparkplug
  // says, so the broker keeps none for an absent host).
  write_config(", data_qos: 1", "50ms", "{ min: 2s, max: 4s }");
  auto gw = start_gateway();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h->messages()), "DDATA") >= 3; }, 20s)) << gw.log();
  broker_.stop();
  std::this_thread::sleep_for(1s);  // the outage's length, not a synchronisation
  broker_.start();
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h->messages()), "NBIRTH") == 2; }, 20s)) << gw.log();
  const auto before = count(decode_all(h->messages()), "DDATA");
  ASSERT_TRUE(wait_until([&] { return count(decode_all(h->messages()), "DDATA") >= before + 30; }, 20s)) << gw.log();
  EXPECT_EQ(gw.stop(5s), 0) << gw.log();  // a clean exit (under ASan: no leak either)
  const auto all = decode_all(h->messages());
  EXPECT_EQ(seq_break(all), "") << [&] {
    std::string t;
    for (const auto& d : all) t += d.type + ":" + (d.p.seq ? std::to_string(*d.p.seq) : "-") + " ";
    return t;
  }() << gw.log();
  bool historical = false;
  EXPECT_EQ(gaps(counters(all, &historical)), 0u);
  EXPECT_TRUE(historical);
}

}  // namespace
}  // namespace fieldbridge::test
