// The fault suite of issue 9: faults injected from outside into a running
// `fieldbridge run` (broker SIGKILLed, daemon SIGKILLed, both, disk full,
// store file deleted, SIGTERM in every state of the MQTT client), counted
// on a device register that numbers every read. What the subscriber must
// see in the end: every number the gateway read (save the one read in
// flight at each daemon kill or stop), none twice at QoS 2, in order.
//
// The number of kills comes from the environment, so CI runs a few and
// scripts/faults.sh the long version:
//   FIELDBRIDGE_FAULTS_BROKER_KILLS (3), FIELDBRIDGE_FAULTS_DAEMON_KILLS (4),
//   FIELDBRIDGE_FAULTS_INTERLEAVED (4), FIELDBRIDGE_FAULTS_FAILOVERS (2),
//   FIELDBRIDGE_FAULTS_SEED,
//   FIELDBRIDGE_FAULTS_REPORT (a file each case appends its figures to),
//   FIELDBRIDGE_FAULTS_HOT_PATH (auto | on | off, see fault_harness.hpp).
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "fault_harness.hpp"
#include "mqtt_tap.hpp"
#include "network.hpp"

namespace fieldbridge::test::faults {
namespace {

// The last part of a log, for a failure message.
std::string tail(const std::string& text, std::size_t bytes = 3000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

class Faults : public ::testing::Test {
 public:  // also used by the helpers shared between cases
  Faults() : broker_(fault_broker_options()) {}

  gateway_settings settings(int qos) const {
    gateway_settings s;
    s.broker_port = tap_ ? tap_->port() : broker_.port();
    s.device_port = device_.port();
    s.qos = qos;
    s.layout = layout_;
    s.store = dir_ / "store" / "queue.db";
    s.hot_dir = hot_.path();
    return s;
  }

  void write_config(const gateway_settings& s) {
    std::filesystem::create_directories(s.store.parent_path());
    config_ = dir_.write_file("gateway.yaml", gateway_yaml(s));
    // For a packet capture of the run (tcpdump -i lo port N).
    std::cout << "broker port " << broker_.port() << ", gateway's port " << s.broker_port << ", device port "
              << s.device_port << std::endl;
  }

  // (Re)starts the gateway on the configuration and its store. The reads
  // answered since the last one stopped (the one in flight) are excused.
  void start() {
    if (down_since_) {
      // A request the dead gateway had sent may be answered a moment
      // later: the device's count settles first (30 ms without a read).
      auto count = device_.answered();
      auto stable_since = std::chrono::steady_clock::now();
      wait_until([&] {
        if (const auto now = device_.answered(); now != count) {
          count = now;
          stable_since = std::chrono::steady_clock::now();
        }
        return std::chrono::steady_clock::now() - stable_since >= 30ms;
      }, 1s, 5ms);
      for (auto v = *down_since_; v < device_.answered(); ++v) excused_.insert(v);
      down_since_.reset();
    }
    gateway_ = start_gateway(config_, dir_ / fmt::format("gateway-{}.log", ++starts_));
  }
  // The gateway is about to stop: the last read answered may be in flight.
  void stopping() {
    const auto answered = device_.answered();
    if (down_since_) return;
    down_since_ = answered == 0 ? 0 : answered - 1;
    for (auto v = *down_since_ >= 3 ? *down_since_ - 3 : 0; v < *down_since_; ++v) near_stop_.insert(v);
  }

  std::string gateway_log() const { return gateway_.log(); }
  std::string logs() const {
    return fmt::format("--- gateway (start {}):\n{}\n--- broker:\n{}\n", starts_, tail(gateway_log()),
                       tail(broker_.log(), 1500));
  }

  // Waits until `more` numbers not seen before have arrived: the gateway
  // (and the broker) are up and delivering.
  ::testing::AssertionResult progress(sequence_subscriber& sub, std::uint64_t more,
                                      std::chrono::milliseconds timeout = 30s) {
    const auto before = sub.distinct_since(0);
    if (wait_until([&] { return sub.distinct_since(0) >= before + more; }, timeout, 10ms))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "no progress: " << sub.distinct_since(0) - before << " of " << more
                                         << " new numbers within " << timeout.count() << " ms\n"
                                         << logs();
  }

  // Waits until the device has answered `more` further reads (the gateway
  // polls whether or not it can publish).
  ::testing::AssertionResult polled(std::uint64_t more, std::chrono::milliseconds timeout = 20s) {
    const auto before = device_.answered();
    if (wait_until([&] { return device_.answered() >= before + more; }, timeout, 10ms))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "the gateway did not poll " << more << " times\n" << logs();
  }

  // The fault's moment: up to one poll interval later, so kills fall at
  // every phase of a poll (this is the fault injection, not a wait for
  // anything).
  void jitter(std::mt19937& random) {
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(random)));
  }

  // Stops the device, waits until everything it handed out arrived or the
  // deadline, and counts. `excusing` = daemon kills and stops, each of
  // which may cost the one read then in flight.
  sequence_report finish(const std::string& name, sequence_subscriber& sub) {
    const auto expected = device_.freeze();
    const auto recount = [&](const std::set<std::uint64_t>& near_stop) {
      auto r = count_sequence(name, sub.values(), expected, excused_, near_stop);
      if (tap_) apply_tap(r, sub.values(), tap_->releases(), tap_->acknowledged(), excused_);
      return r;
    };
    // Until every number arrived (not only those the gateway still owed):
    // a restarted broker may take a while to deliver what it took over.
    // Counted as the report counts, tap included: what a SIGKILLed broker
    // had acknowledged and then lost never comes, and waiting the whole
    // deadline for it only made the run 30 s longer.
    wait_until([&] { return recount(near_stop_).lost == 0; }, 30s, 50ms);
    // Then until nothing more comes for a second (late repeats count too).
    auto seen = sub.values().size();
    auto quiet_since = std::chrono::steady_clock::now();
    wait_until([&] {
      const auto now_seen = sub.values().size();
      if (now_seen != seen) {
        seen = now_seen;
        quiet_since = std::chrono::steady_clock::now();
      }
      return std::chrono::steady_clock::now() - quiet_since >= 1s;
    }, 10s, 50ms);
    auto report = recount(near_stop_);
    if (std::getenv("FIELDBRIDGE_FAULTS_VERBOSE") != nullptr)
    {
      std::cout << "arrival order:" << arrival_runs(sub.values(), 400) << "\n";
      if (tap_) std::cout << "gateway's release order:" << arrival_runs(tap_->releases(), 400) << "\n";
      const auto log = broker_.log();
      auto count = [&](const std::string& what) {
        std::size_t n = 0;
        for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
        return n;
      };
      std::cout << "broker log: PUBLISH received from the gateway " << count("Received PUBLISH from fieldbridge-gw")
                << " (dup flag " << count("Received PUBLISH from fieldbridge-gw (d1") << "), sent to the subscriber "
                << count("Sending PUBLISH to faults-sub") << " (dup flag " << count("Sending PUBLISH to faults-sub (d1")
                << ")\n";
    }
    report.broker_kills = broker_kills_;
    report.daemon_kills = daemon_kills_;
    report.sigterms = sigterms_;
    report.broker_redeliveries = sub.broker_redeliveries();
    last_arrivals_ = tap_ ? tap_->releases() : sub.values();
    publish_report(report);
    return report;
  }

  void expect_clean(const sequence_report& r, int qos) const {
    EXPECT_GT(r.expected, 0u);
    EXPECT_EQ(r.lost, 0u) << r.line() << "\n" << logs();
    EXPECT_EQ(r.reordered, 0u) << r.line() << (tap_ ? "\nthe gateway's release order:" : "\narrival order:")
                               << arrival_runs(last_arrivals_);
    // Exactly once at QoS 2: no number twice, save what a SIGKILLed broker
    // itself repeats from its stale snapshot (same message id).
    if (qos == 2) {
      EXPECT_EQ(r.duplicates - r.broker_redeliveries, 0u) << r.line();
    }
  }

  void kill_daemon() {
    stopping();
    gateway_.kill_hard();
    ++daemon_kills_;
  }
  void kill_broker() {
    broker_.kill_hard();
    ++broker_kills_;
  }

  // SIGTERM; the exit status and how long it took (the wait goes on past
  // `bound` to measure a late exit, then SIGKILL).
  struct stop_outcome {
    std::optional<int> status;
    std::chrono::milliseconds took{};
  };
  stop_outcome terminate(std::chrono::milliseconds bound) {
    stopping();
    const auto start = std::chrono::steady_clock::now();
    gateway_.signal(SIGTERM);
    ++sigterms_;
    stop_outcome out;
    out.status = gateway_.wait(bound + 4s);
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    if (!out.status) {
      gateway_.kill_hard();
      ++daemon_kills_;
    }
    return out;
  }
  void expect_bounded(const stop_outcome& o, std::chrono::milliseconds bound, const std::string& state) {
    std::cout << "FAULTS-SIGTERM " << state << " exit="
              << (o.status ? std::to_string(*o.status) : std::string("none (SIGKILLed)"))
              << " took_ms=" << o.took.count() << " bound_ms=" << bound.count() << std::endl;
    ASSERT_TRUE(o.status.has_value()) << state << ": no exit within " << (bound + 4s).count() << " ms of SIGTERM\n"
                                      << logs();
    EXPECT_LT(o.took, bound) << state << ": exited " << o.took.count() << " ms after SIGTERM\n" << logs();
    EXPECT_EQ(*o.status, 0) << state << "\n" << logs();
  }

  temp_dir dir_{"fieldbridge-faults"};
  hot_directory hot_;
  mosquitto_broker broker_;
  counter_device device_;
  std::filesystem::path config_;
  child_process gateway_;
  int starts_ = 0;
  std::optional<std::uint64_t> down_since_;
  std::set<std::uint64_t> excused_, near_stop_;
  std::vector<std::uint64_t> last_arrivals_;
  // Between the gateway and the broker when set (the stream cases): order
  // and losses then count what the gateway did, not what mosquitto did.
  std::unique_ptr<mqtt_tap> tap_;
  int broker_kills_ = 0, daemon_kills_ = 0, sigterms_ = 0;
  std::string layout_ = "point";  // mqtt.layout, and where the counter arrives
};

// The counting the stream cases rely on: order comes from the gateway's
// releases, and only a reading the broker had taken over is the broker's.
TEST(FaultCounting, WithATapOrderAndLossCountWhatTheGatewayDid) {
  const std::vector<std::uint64_t> received = {0, 2, 1, 3};  // the broker swapped 1 and 2; 4, 5 never came
  auto r = count_sequence("tap", received, 6, {});
  EXPECT_EQ(r.reordered, 1u);
  EXPECT_EQ(r.lost, 2u);
  apply_tap(r, received, {0, 1, 2, 3, 4, 5}, {0, 1, 2, 3, 4}, {});
  EXPECT_EQ(r.reordered, 0u);
  EXPECT_EQ(r.subscriber_reordered, 1u);
  EXPECT_EQ(r.broker_lost, 1u);  // 4: acknowledged and released
  EXPECT_EQ(r.lost, 1u);         // 5: the broker never took it over

  auto swapped = count_sequence("tap", {0, 1, 2, 3}, 4, {});
  apply_tap(swapped, {0, 1, 2, 3}, {0, 2, 1, 3}, {0, 1, 2, 3}, {});
  EXPECT_EQ(swapped.reordered, 1u) << "a gateway releasing 2 before 1 is reordered, whatever the broker did";
}

// The counter in both layouts' payloads, and nothing else taken for it.
TEST(FaultCounting, TheSequenceIsTheBareValueOrTheDeviceMessagesSeq) {
  EXPECT_EQ(sequence_in("42"), 42u);
  EXPECT_EQ(sequence_in(R"({"ts":"2026-12-02T20:00:00.000Z","values":{"seq":42}})"), 42u);
  EXPECT_EQ(sequence_in(R"({"ts":"2026-12-02T20:00:00.000Z","values":{"other":7,"seq":42,"x":1}})"), 42u);
  EXPECT_FALSE(sequence_in(R"({"ts":"2026-12-02T20:00:00.000Z","values":{"other":7}})"));
  EXPECT_FALSE(sequence_in(R"({"value":42,"ts":"2026-12-02T20:00:00.000Z"})"));  // json payload: not the suite's
  EXPECT_FALSE(sequence_in("4x"));
  EXPECT_FALSE(sequence_in(""));
}

// ------------------------------------------------------------------ kills

// The gateway reaches the broker through a tap (mqtt_tap.hpp): a restarted
// mosquitto re-sends its own queue to the subscriber out of order, and a
// SIGKILLed one forgets messages it had acknowledged with PUBREC (its
// snapshot is written after the PUBREC left; docs/reliability.md shows both
// in a packet capture). The order asserted is the order in which the
// gateway released the readings; a missing reading the broker had taken
// over counts as the broker's (broker_lost), every other one as lost.
//
// Each case runs in both payload layouts: the counter as its own point
// topic, and as values.seq of the device message on <prefix>/meter1 (one
// store message per poll there too, so the same 0 lost must hold).
class FaultsAtQos : public Faults, public ::testing::WithParamInterface<std::tuple<int, std::string>> {
 public:
  FaultsAtQos() {
    layout_ = std::get<1>(GetParam());
    tap_ = std::make_unique<mqtt_tap>(broker_.port(), sequence_topic(layout_));
  }
  int qos() const { return std::get<0>(GetParam()); }
  // The case's name in the report: "<what>-qos<N>", "-device" added in the device layout.
  std::string report_name(const std::string& what) const {
    return fmt::format("{}-qos{}{}", what, qos(), layout_ == "point" ? "" : "-" + layout_);
  }
  sequence_subscriber subscriber() {
    return sequence_subscriber(broker_.port(), qos(), dir_ / "sub.log", "faults-sub", layout_);
  }
};

std::string qos_name(const ::testing::TestParamInfo<std::tuple<int, std::string>>& info) {
  const std::string layout = std::get<1>(info.param);
  return fmt::format("Qos{}{}", std::get<0>(info.param), layout == "point" ? "" : "DeviceLayout");
}

// mosquitto stopped mid-stream and restarted on the same port with its
// persistence: the gateway reconnects and resends what was not acknowledged.
// SIGKILL is the fault of the issue; mosquitto then restarts from its last
// persistence snapshot (it has no per-message sync), so it repeats and can
// even lose what it had acknowledged. The SIGTERM variant (mosquitto saves
// at exit) shows the gateway's part without that.
void broker_restarts(Faults& f, sequence_subscriber& sub, int qos, bool hard, int restarts) {
  auto random = seeded_random(fmt::format("broker-{}-qos{}", hard ? "kill" : "term", qos));
  f.write_config(f.settings(qos));
  f.start();
  ASSERT_TRUE(f.progress(sub, 10));
  for (int i = 0; i < restarts; ++i) {
    ASSERT_TRUE(f.progress(sub, std::uniform_int_distribution<std::uint64_t>(3, 25)(random)));
    f.jitter(random);
    std::cout << "broker " << (hard ? "kill" : "stop") << " " << i << " after read " << f.device_.answered()
              << std::endl;
    if (hard) {
      f.kill_broker();
    } else {
      f.broker_.stop();
      ++f.broker_kills_;
    }
    // Down for 0 to 30 polls.
    ASSERT_TRUE(f.polled(std::uniform_int_distribution<std::uint64_t>(0, 30)(random)));
    f.broker_.start();
  }
  ASSERT_TRUE(f.progress(sub, 10));
}

TEST_P(FaultsAtQos, BrokerSigkilledAndRestarted) {
  const int qos = this->qos();
  auto sub = subscriber();
  broker_restarts(*this, sub, qos, true, env_count("FIELDBRIDGE_FAULTS_BROKER_KILLS", 3));
  if (HasFatalFailure()) return;
  expect_clean(finish(report_name("broker-sigkill"), sub), qos);
}

TEST_P(FaultsAtQos, BrokerStoppedAndRestarted) {
  const int qos = this->qos();
  auto sub = subscriber();
  broker_restarts(*this, sub, qos, false, env_count("FIELDBRIDGE_FAULTS_BROKER_KILLS", 3));
  if (HasFatalFailure()) return;
  expect_clean(finish(report_name("broker-sigterm"), sub), qos);
}

// The daemon SIGKILLed at random moments with the default flush_interval
// (1 s) and restarted on its store: nothing the store accepted is lost.
TEST_P(FaultsAtQos, DaemonSigkilledAndRestartedOnItsStore) {
  const int qos = this->qos();
  const auto kills = env_count("FIELDBRIDGE_FAULTS_DAEMON_KILLS", 4);
  auto random = seeded_random(fmt::format("daemon-kill-qos{}", qos));
  auto sub = subscriber();
  write_config(settings(qos));
  start();
  ASSERT_TRUE(progress(sub, 10));
  for (int i = 0; i < kills; ++i) {
    ASSERT_TRUE(progress(sub, std::uniform_int_distribution<std::uint64_t>(2, 40)(random)));
    jitter(random);
    kill_daemon();
    start();
  }
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish(report_name("daemon-sigkill"), sub), qos);
}

// Broker kills, daemon kills, and the daemon killed while the broker is
// down, in a random order.
TEST_P(FaultsAtQos, BrokerAndDaemonKillsInterleaved) {
  const int qos = this->qos();
  const auto events = env_count("FIELDBRIDGE_FAULTS_INTERLEAVED", 4);
  auto random = seeded_random(fmt::format("interleaved-qos{}", qos));
  auto sub = subscriber();
  write_config(settings(qos));
  start();
  ASSERT_TRUE(progress(sub, 10));
  for (int i = 0; i < events; ++i) {
    ASSERT_TRUE(progress(sub, std::uniform_int_distribution<std::uint64_t>(2, 30)(random)));
    jitter(random);
    const int kind = std::uniform_int_distribution<int>(0, 2)(random);
    std::cout << "event " << i << ": " << (kind == 0 ? "broker kill" : kind == 1 ? "daemon kill" : "both")
              << " after read " << device_.answered() << std::endl;
    switch (kind) {
      case 0:
        kill_broker();
        ASSERT_TRUE(polled(std::uniform_int_distribution<std::uint64_t>(0, 30)(random)));
        broker_.start();
        break;
      case 1:
        kill_daemon();
        start();
        break;
      default:  // the daemon dies while the broker is down, with a backlog
        kill_broker();
        ASSERT_TRUE(polled(std::uniform_int_distribution<std::uint64_t>(1, 60)(random)));
        jitter(random);
        kill_daemon();
        start();
        ASSERT_TRUE(polled(std::uniform_int_distribution<std::uint64_t>(1, 30)(random)));
        broker_.start();
        break;
    }
  }
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish(report_name("interleaved"), sub), qos);
}

INSTANTIATE_TEST_SUITE_P(Stream, FaultsAtQos,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Values(std::string("point"), std::string("device"))), qos_name);

// ------------------------------------------------------------ failover

// Two brokers in mqtt.hosts, each behind its own tap and with its own
// subscriber. The broker in use is SIGKILLed; the gateway moves to the
// other one, the killed one is restarted, and the next kill sends the
// gateway back to it: with FIELDBRIDGE_FAULTS_FAILOVERS = 2 (CI) the first
// broker is killed, then the second, and the gateway returns to the first
// (restarted). Counted over both subscribers: 0 lost; the duplicates (what
// was unacknowledged at a kill goes out again to the other broker, and what
// the killed one had acknowledged it delivers after its restart too) are
// counted and reported, not asserted.
class FaultsFailover : public Faults {
 public:
  FaultsFailover() : second_(fault_broker_options()) {
    taps_[0] = std::make_unique<mqtt_tap>(broker_.port(), sequence_topic());
    taps_[1] = std::make_unique<mqtt_tap>(second_.port(), sequence_topic());
  }

  mosquitto_broker& broker(int i) { return i == 0 ? broker_ : second_; }

  mosquitto_broker second_;
  std::unique_ptr<mqtt_tap> taps_[2];
};

TEST_F(FaultsFailover, BrokerSigkilledTheGatewayMovesToTheOtherAndBack) {
  const int switches = env_count("FIELDBRIDGE_FAULTS_FAILOVERS", 2);
  auto random = seeded_random("failover-qos1");
  sequence_subscriber sub_a(broker_.port(), 1, dir_ / "sub-a.log", "faults-sub-a");
  sequence_subscriber sub_b(second_.port(), 1, dir_ / "sub-b.log", "faults-sub-b");
  sequence_subscriber* subs[2] = {&sub_a, &sub_b};
  auto s = settings(1);
  s.broker_ports = {taps_[0]->port(), taps_[1]->port()};
  write_config(s);
  start();
  ASSERT_TRUE(progress(sub_a, 10));
  int current = 0;
  for (int i = 0; i < switches; ++i) {
    ASSERT_TRUE(progress(*subs[current], std::uniform_int_distribution<std::uint64_t>(3, 25)(random)));
    jitter(random);
    const int other = 1 - current;
    std::cout << "failover " << i << ": broker " << current << " SIGKILLed after read " << device_.answered()
              << std::endl;
    broker(current).kill_hard();
    ++broker_kills_;
    // New numbers at the other broker's subscriber: the gateway moved there.
    ASSERT_TRUE(progress(*subs[other], 10)) << "no failover to broker " << other;
    broker(current).start();
    current = other;
  }
  ASSERT_TRUE(progress(*subs[current], 10));

  const auto expected = device_.freeze();
  const auto merged = [&] {
    auto all = sub_a.values();
    const auto& b = sub_b.values();
    all.insert(all.end(), b.begin(), b.end());
    return all;
  };
  // Until every number arrived (a restarted broker delivers what it took
  // over once its subscriber is back), then until nothing comes for a second.
  wait_until([&] { return count_sequence("failover", merged(), expected, {}).lost == 0; }, 30s, 50ms);
  auto seen = merged().size();
  auto quiet_since = std::chrono::steady_clock::now();
  wait_until([&] {
    if (const auto now = merged().size(); now != seen) {
      seen = now;
      quiet_since = std::chrono::steady_clock::now();
    }
    return std::chrono::steady_clock::now() - quiet_since >= 1s;
  }, 10s, 50ms);

  auto report = count_sequence("failover-qos1", merged(), expected, {});
  auto releases = taps_[0]->releases();
  const auto releases_b = taps_[1]->releases();
  releases.insert(releases.end(), releases_b.begin(), releases_b.end());
  auto acknowledged = taps_[0]->acknowledged();
  acknowledged.merge(taps_[1]->acknowledged());
  apply_tap(report, merged(), releases, acknowledged, {});
  // Order per broker: the gateway's first releases on each tap (what was
  // unacknowledged at a switch goes first, in order), and each subscriber's
  // arrivals; the two brokers have no common order.
  report.reordered = 0;
  report.subscriber_reordered = 0;
  for (int i = 0; i < 2; ++i) {
    report.reordered += count_sequence("tap", taps_[i]->releases(), expected, {}).reordered;
    *report.subscriber_reordered += count_sequence("sub", subs[i]->values(), expected, {}).reordered;
  }
  report.broker_kills = broker_kills_;
  report.broker_redeliveries = sub_a.broker_redeliveries() + sub_b.broker_redeliveries();
  publish_report(report);
  EXPECT_GT(report.expected, 0u);
  EXPECT_EQ(report.reordered, 0u) << report.line();
  EXPECT_EQ(report.lost, 0u) << report.line() << "\n" << logs() << "\n--- second broker:\n" << tail(second_.log(), 1500);
  // The gateway said where it went: to the second broker and back to the first.
  const auto log = gateway_log();
  EXPECT_NE(log.find(fmt::format("connected to 127.0.0.1:{} (broker 2 of 2)", taps_[1]->port())), std::string::npos)
      << tail(log);
  if (switches >= 2) {
    EXPECT_NE(log.rfind(fmt::format("connected to 127.0.0.1:{} (broker 1 of 2)", taps_[0]->port())),
              log.find(fmt::format("connected to 127.0.0.1:{} (broker 1 of 2)", taps_[0]->port())))
        << "the gateway did not return to the first broker\n" << tail(log);
  }
}

// ------------------------------------------------------------ disk faults

// The store's disk fills up while the broker is away (so the store must
// write), then space comes back and so does the broker: every reading
// arrives; none was kept only where an exit would lose it.
TEST_F(Faults, DiskFullThenSpaceBack) {
  small_filesystem disk("2m");
  if (!disk.available()) GTEST_SKIP() << "no small filesystem for the store: " << disk.why();
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  auto s = settings(1);
  s.store = disk.path() / "queue.db";
  write_config(s);
  start();
  ASSERT_TRUE(progress(sub, 10));
  broker_.stop();
  ASSERT_TRUE(polled(60));  // over a second of backlog: the store writes it to its disk
  const auto filler = disk.fill();
  std::cout << "disk full: " << filler << " bytes of filler\n";
  ASSERT_TRUE(polled(150));  // three flush intervals on a full disk
  disk.release();
  ASSERT_TRUE(polled(100));
  broker_.start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("disk-full", sub), 1);
}

// The same, and the daemon is SIGKILLed while the disk is full: what it
// accepted meanwhile must survive that too (restarted once space is back).
TEST_F(Faults, DiskFullThenSigkillThenSpaceBack) {
  small_filesystem disk("2m");
  if (!disk.available()) GTEST_SKIP() << "no small filesystem for the store: " << disk.why();
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  auto s = settings(1);
  s.store = disk.path() / "queue.db";
  write_config(s);
  start();
  ASSERT_TRUE(progress(sub, 10));
  broker_.stop();
  ASSERT_TRUE(polled(60));
  disk.fill();
  ASSERT_TRUE(polled(150));
  kill_daemon();
  disk.release();
  start();
  ASSERT_TRUE(polled(50));
  broker_.start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("disk-full-sigkill", sub), 1);
}

// A cleanup job removes the store file (and its -wal, -shm) while the
// daemon runs with a backlog; then the daemon is restarted: nothing it had
// accepted is gone.
TEST_F(Faults, StoreFileDeletedWhileRunning) {
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  const auto s = settings(1);
  write_config(s);
  start();
  ASSERT_TRUE(progress(sub, 10));
  broker_.stop();
  ASSERT_TRUE(polled(100));  // two seconds of backlog, written at the flushes
  for (const auto* suffix : {"", "-wal", "-shm"}) {
    std::error_code ignored;
    std::filesystem::remove(s.store.string() + suffix, ignored);
  }
  ASSERT_TRUE(polled(100));  // two more flush intervals
  const auto stopped = terminate(6s);
  std::cout << "stop after the delete: " << (stopped.status ? "exit " + std::to_string(*stopped.status) : "SIGKILL")
            << " after " << stopped.took.count() << " ms\n";
  start();
  ASSERT_TRUE(polled(20));
  broker_.start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("store-deleted", sub), 1);
}

// -------------------------------------------------------- SIGTERM bounded
//
// SIGTERM in each state of the MQTT client: exit 0 within the bound, the
// store synced (a restart on it, with a broker, delivers everything).

constexpr auto broker_down_bound = 2s;
constexpr auto broker_silent_bound = 6s;  // 5 s for 'offline' + 1 s

// Back-off after the broker went away (its port closed).
TEST_F(Faults, SigtermInBackoffAfterTheBrokerWentAway) {
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  write_config(settings(1));
  start();
  ASSERT_TRUE(progress(sub, 10));
  broker_.stop();
  ASSERT_TRUE(polled(25));  // reconnect attempts refused, back-off waits between
  expect_bounded(terminate(broker_down_bound), broker_down_bound, "back-off (broker gone)");
  broker_.start();
  start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("sigterm-backoff-gone", sub), 1);
}

// Back-off with a broker never reached since the start (port closed).
TEST_F(Faults, SigtermInBackoffWithTheBrokerNeverReached) {
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  auto s = settings(1);
  s.reconnect_min = "1s";  // mostly waiting, as after a few failed attempts
  s.reconnect_max = "5s";
  write_config(s);
  broker_.stop();
  start();
  ASSERT_TRUE(polled(50));
  expect_bounded(terminate(broker_down_bound), broker_down_bound, "back-off (never connected)");
  broker_.start();
  start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("sigterm-backoff-never", sub), 1);
}

// Connecting: TCP accepted, CONNECT sent, no CONNACK ever.
TEST_F(Faults, SigtermWhileWaitingForConnack) {
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  silent_listener silent;
  auto s = settings(1);
  s.broker_port = silent.port();
  write_config(s);
  start();
  ASSERT_TRUE(wait_until([&] { return silent.received(2); }, 10s)) << "no CONNECT arrived\n" << logs();
  ASSERT_TRUE(polled(10));
  expect_bounded(terminate(broker_silent_bound), broker_silent_bound, "CONNACK wait");
  write_config(settings(1));  // the real broker now, same store
  start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("sigterm-connack-wait", sub), 1);
}

// TLS handshake: the port accepts, the ClientHello goes unanswered.
TEST_F(Faults, SigtermDuringTheTlsHandshake) {
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  silent_listener silent;
  auto s = settings(1);
  s.broker_port = silent.port();
  s.tls = true;
  write_config(s);
  start();
  // A TLS record header (5 bytes) and more: the ClientHello.
  ASSERT_TRUE(wait_until([&] { return silent.received(6); }, 10s)) << "no ClientHello arrived\n" << logs();
  ASSERT_TRUE(polled(10));
  expect_bounded(terminate(broker_silent_bound), broker_silent_bound, "TLS handshake");
  write_config(settings(1));
  start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("sigterm-tls-handshake", sub), 1);
}

// Connected, the broker answering.
TEST_F(Faults, SigtermWhileConnected) {
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  write_config(settings(1));
  start();
  ASSERT_TRUE(progress(sub, 20));
  expect_bounded(terminate(broker_silent_bound), broker_silent_bound, "connected");
  start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("sigterm-connected", sub), 1);
}

// Draining: connected, messages in flight, the broker stops acknowledging
// (mosquitto SIGSTOPped).
TEST_F(Faults, SigtermWhileDrainingToASilentBroker) {
  sequence_subscriber sub(broker_.port(), 1, dir_ / "sub.log", "faults-sub");
  write_config(settings(1));
  start();
  ASSERT_TRUE(progress(sub, 20));
  ASSERT_EQ(::kill(broker_.pid(), SIGSTOP), 0);
  const bool polled_meanwhile = polled(30);  // unacknowledged messages pile up
  const auto outcome = terminate(broker_silent_bound);
  ::kill(broker_.pid(), SIGCONT);
  ASSERT_TRUE(polled_meanwhile);
  expect_bounded(outcome, broker_silent_bound, "draining (broker silent)");
  start();
  ASSERT_TRUE(progress(sub, 10));
  expect_clean(finish("sigterm-draining", sub), 1);
}

}  // namespace
}  // namespace fieldbridge::test::faults
