// The fault suite's parts: a device whose counter register numbers every
// read the gateway makes, a subscriber that records every number that
// arrives, the gateway's configuration, and the bookkeeping that turns the
// two into lost / duplicated / reordered counts. Everything runs as real
// processes (`fieldbridge simulate`, mosquitto, mosquitto_sub, `fieldbridge
// run`) on free loopback ports, stopped by pid.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mosquitto.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test::faults {

using namespace std::chrono_literals;

inline constexpr const char* topic_prefix = "test/faults";
// The topic the sequence point arrives on in `layout` (mqtt.layout): its own
// topic, payload the bare counter value ("point"), or the device message
// with the counter as values.seq ("device"); see sequence_in().
std::string sequence_topic(const std::string& layout = "point");

// A count from the environment (FIELDBRIDGE_FAULTS_*), or `fallback`: the CI
// runs the short defaults, scripts/faults.sh the long figures.
int env_count(const char* name, int fallback);

// Reads the lines a child appends to its log file, from where it left off.
class log_tail {
 public:
  explicit log_tail(std::filesystem::path file) : file_(std::move(file)) {}
  // The complete lines written since the last call.
  std::vector<std::string> new_lines();

 private:
  std::filesystem::path file_;
  std::uint64_t offset_ = 0;
  std::string partial_;
};

// `fieldbridge simulate` serving units (1 by default) whose input registers
// 8..9 hold a uint32 counter that counts every read: the n-th read the
// gateway makes of a unit (from 0) returns n. Register 20 holds 7. The
// simulator logs every request (--log-level debug), so answered() is
// exactly how many numbers were handed out. On Modbus TCP on a free
// loopback port, or RTU (115200 8N1) on `rtu_device` when given; every
// answer `delay` late when given.
class counter_device {
 public:
  explicit counter_device(std::vector<std::uint8_t> units = {1}, const std::string& rtu_device = {},
                          std::chrono::milliseconds delay = {});
  ~counter_device();
  std::uint16_t port() const noexcept { return port_; }
  // Reads of a unit's counter answered so far: numbers 0..answered()-1 went out.
  std::uint64_t answered(std::uint8_t unit = 1);
  // Stops answering (a no_answer fault on every unit, through SIGHUP) and
  // returns the final answered() of the first unit once no read can be in
  // progress any more (answered(unit) gives the others').
  std::uint64_t freeze();
  std::string log() const { return process_.log(); }

 private:
  void poll();
  temp_dir dir_;
  std::uint16_t port_;
  std::string link_;  // the simulator's tcp: or rtu: line
  std::vector<std::uint8_t> units_;
  std::chrono::milliseconds delay_;
  child_process process_;
  log_tail tail_;
  std::map<std::uint8_t, std::uint64_t> answered_;
  std::uint64_t unanswered_ = 0;
};

// mosquitto_sub with a persistent session (-c): every counter value that
// arrives on sequence_topic(), in arrival order, with the broker's message
// id. A SIGKILLed mosquitto restarts from its last persistence snapshot and
// sends again what it had already delivered, under the same message id:
// broker_redeliveries() counts those repeats (same id, same value), which
// no gateway can prevent.
class sequence_subscriber {
 public:
  sequence_subscriber(std::uint16_t broker_port, int qos, const std::filesystem::path& log, const std::string& id,
                      const std::string& layout = "point");
  ~sequence_subscriber();
  const std::vector<std::uint64_t>& values();
  std::uint64_t broker_redeliveries();
  // Numbers received so far that are >= `from` (not counting repeats).
  std::uint64_t distinct_since(std::uint64_t from);
  // Whether every number 0..n-1 arrived.
  bool has_all(std::uint64_t n);
  std::string log() const { return process_.log(); }

 private:
  void poll();
  std::string topic_;
  child_process process_;
  log_tail tail_;
  std::vector<std::uint64_t> values_;
  std::vector<bool> seen_;
  std::uint64_t distinct_ = 0;
  std::map<std::uint64_t, std::uint64_t> last_value_of_id_;
  std::uint64_t redeliveries_ = 0;
};

// What a case counts. `expected` numbers 0..expected-1 were handed to the
// gateway. A read in flight when the gateway died or was told to stop never
// reached its store: the numbers in `excused` are exactly those (the last
// one the device answered before the kill or SIGTERM, and any it answered
// until the next start), so a missing one counts as "in flight"; every
// other missing number is lost.
struct sequence_report {
  std::string name;
  std::uint64_t expected = 0;
  std::uint64_t received = 0;   // messages, repeats included
  std::uint64_t missing = 0;    // numbers that never arrived
  std::uint64_t in_flight = 0;  // of those, excused: read in flight at a kill or stop
  std::uint64_t lost = 0;       // missing - in_flight
  // Of the lost, those among the 3 reads answered before the excused one
  // of a kill or stop: a reading still queued for the store then (not yet
  // accepted) looks the same from outside as one the store lost.
  std::uint64_t lost_near_stop = 0;
  std::uint64_t duplicates = 0; // messages that repeated a number already received
  std::uint64_t broker_redeliveries = 0;  // of those, repeated by a restarted broker (same message id)
  std::uint64_t reordered = 0;  // first arrivals of a number after a larger one
  // With a tap on the gateway's connection (mqtt_tap.hpp): `reordered` is
  // then counted on the gateway's releases, and the subscriber's count goes
  // here; `broker_lost` are missing numbers the broker had acknowledged
  // (PUBACK; PUBREC and then the gateway's PUBREL), not in `lost`.
  std::optional<std::uint64_t> subscriber_reordered;
  std::uint64_t broker_lost = 0;
  int broker_kills = 0, daemon_kills = 0, sigterms = 0;
  std::string detail;           // the first gaps, for the failure message
  std::string line() const;     // one summary line ("FAULTS name ...")
};
sequence_report count_sequence(const std::string& name, const std::vector<std::uint64_t>& received,
                               std::uint64_t expected, const std::set<std::uint64_t>& excused,
                               const std::set<std::uint64_t>& near_stop = {});
// Counts `r` again with what the gateway did on the wire: its release
// order, and which missing numbers the broker had acknowledged.
void apply_tap(sequence_report& r, const std::vector<std::uint64_t>& received,
               const std::vector<std::uint64_t>& released, const std::set<std::uint64_t>& acknowledged,
               const std::set<std::uint64_t>& excused);
// The arrival order as runs ("0-69 50-69 70-120"), for a failure message.
std::string arrival_runs(const std::vector<std::uint64_t>& received, std::size_t max_runs = 40);
// Prints the report and appends it to $FIELDBRIDGE_FAULTS_REPORT when set.
void publish_report(const sequence_report& report);

// The one switch for store.hot_path (BRIEF contract 1; the store branch adds
// the key). FIELDBRIDGE_FAULTS_HOT_PATH=on always writes it, off never, and
// auto (the default) writes it when this build's `fieldbridge check`
// accepts it, so the suite runs on a tree without the hot tier and shows
// what that tree loses.
bool hot_path_supported();

struct gateway_settings {
  std::uint16_t broker_port = 0;
  // Failover: when set, mqtt.hosts with these ports on 127.0.0.1, in order,
  // instead of host/port.
  std::vector<std::uint16_t> broker_ports;
  std::uint16_t device_port = 0;
  int qos = 1;
  std::string layout = "point";             // mqtt.layout
  std::filesystem::path store;              // store.path
  std::filesystem::path hot_dir;            // store.hot_path when supported
  std::optional<std::string> flush_interval;  // unset: the default (1 s)
  std::string poll_interval = "20ms";
  std::string bus_timeout = "1s";
  std::string reconnect_min = "50ms", reconnect_max = "200ms";
  std::string keepalive = "5s";
  bool tls = false;                         // TLS with verification off (a silent TLS port)
};
std::string gateway_yaml(const gateway_settings& s);

// A directory for the hot tier: in /dev/shm when there is one (RAM, as the
// product's default), else an ordinary temporary directory.
class hot_directory {
 public:
  hot_directory();
  ~hot_directory();
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

// The broker options of the suite: persistence saved on every change (so a
// SIGKILLed broker loses as little of its own state as mosquitto can), no
// limit on the subscriber's queue (mosquitto drops beyond 1000 by default).
mosquitto_options fault_broker_options();

// `fieldbridge run -c config`, output to `log`. The tests wait on what it
// does (numbers arriving, bytes at a listener), not on its log's wording.
child_process start_gateway(const std::filesystem::path& config, const std::filesystem::path& log);

// A TCP listener on 127.0.0.1 that completes the handshake (the kernel does)
// and then never says a word: a broker that hangs before CONNACK, or a TLS
// port that never answers the ClientHello.
class silent_listener {
 public:
  silent_listener();
  ~silent_listener();
  std::uint16_t port() const noexcept { return port_; }
  // Accepts what is pending; whether a peer has sent at least `bytes` bytes
  // (a CONNECT, a ClientHello) on any accepted connection.
  bool received(std::size_t bytes = 1);

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> peers_;
  std::size_t most_ = 0;
};

// A tmpfs of `size` mounted on a fresh directory (the suite runs as root, as
// CI does); unmounted when it goes. available() is false, with why(), when
// mounting is not possible here.
class small_filesystem {
 public:
  explicit small_filesystem(const std::string& size);
  ~small_filesystem();
  bool available() const noexcept { return mounted_; }
  const std::string& why() const noexcept { return why_; }
  const std::filesystem::path& path() const noexcept { return dir_.path(); }
  // Writes a filler file until the filesystem is full; returns its size.
  std::uint64_t fill();
  void release();  // removes the filler: space is back

 private:
  temp_dir dir_;
  bool mounted_ = false;
  std::string why_;
};

// A random source seeded from FIELDBRIDGE_FAULTS_SEED (default: a fixed
// seed per case, so a CI failure repeats); the seed is printed.
std::mt19937 seeded_random(const std::string& name);

}  // namespace fieldbridge::test::faults
