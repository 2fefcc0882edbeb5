// The Sparkplug B edge node of `fieldbridge run` with mqtt.format:
// sparkplug_b (docs/sparkplug.md). The runtime creates it and hands it the
// connection events, the incoming messages, the readings and the device
// status changes; it publishes births and deaths through the client itself
// and DDATA through the store and the forwarder, whose hooks it sets: the
// drain waits until the births are out (and the primary host is online),
// and each stored DDATA gets its seq and is_historical as it leaves.
//
// Threading: the runtime's io_context thread, like the client, the store and
// the forwarder, which must outlive it. No locks.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fieldbridge/config/config.hpp"
#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "fieldbridge/store/queue.hpp"
#include "run/command_seam.hpp"
#include "run/forwarder.hpp"
#include "sparkplug/model.hpp"

namespace fieldbridge::gateway::sparkplug {

class edge_node {
 public:
  // Sparkplug's session rules on the client options: Clean Start (and
  // Session Expiry 0), the NDEATH will with the bdSeq of the state file,
  // unfinished publishes handed back on a lost connection (they go out
  // again from the store, rebuilt, after the next births).
  static void adjust_client_options(mqtt::client_options& options, const config::configuration& configuration);

  edge_node(mqtt::client& client, store::queue& store, forwarder& drain, const config::configuration& configuration,
            write_function write, logger_ptr log);
  edge_node(const edge_node&) = delete;
  edge_node& operator=(const edge_node&) = delete;

  // Before client.start(): the forwarder's hooks.
  void attach();
  void on_connection(const mqtt::connection_event& e);
  // True when the message was the edge node's (NCMD, DCMD, STATE).
  bool on_message(const mqtt::publish_packet& m);
  // A bus's readings: into the store as DDATA (the caller schedules the pump).
  void on_readings(const std::vector<reading>& readings, const data_router::sink& offer);
  void on_status(const std::string& device, bool online);
  // Shutdown: NDEATH (QoS 0, written before the DISCONNECT that follows),
  // then `done`. Without a connection `done` at once.
  void shutdown(std::function<void()> done);

  // For `fieldbridge check` and tests.
  const metric_table& metrics() const noexcept { return table_; }
  std::uint64_t bdseq() const noexcept { return bdseq_; }

 private:
  bool may_publish();
  bool prepare(mqtt::publish_packet& packet, wall_clock::time_point reading_time);
  void births();
  void publish_now(message_type type, const std::string& device, const sp::payload& p, mqtt::qos q);
  void host_state(const mqtt::publish_packet& m);
  void node_command(const mqtt::publish_packet& m);
  void device_command(const mqtt::publish_packet& m, const std::string& device);
  void subscribe();

  mqtt::client& client_;
  store::queue& store_;
  forwarder& drain_;
  // Its own copy: a reload replaces the runtime's (and reload_refusal()
  // keeps what this one describes from changing).
  const config::configuration configuration_;
  const config::sparkplug_settings& settings_;
  write_function write_;
  logger_ptr log_;
  metric_table table_;
  data_router router_;
  sequence seq_;
  std::string state_path_;
  std::uint64_t bdseq_ = 0;            // in the will of the current connection's CONNECT
  std::uint64_t next_bdseq_ = 0;       // in the will of the next CONNECT (and the state file)
  bool connected_ = false;
  bool born_ = false;                  // births out on this connection; DDATA may flow
  bool rebirth_ = false;               // births wanted (NCMD Rebirth, host back) as soon as the drain is idle
  std::uint64_t births_ms_ = 0;        // when the last NBIRTH went out
  bool host_online_ = false;           // primary host: STATE online seen on this connection
  bool host_seen_ = false;             // a STATE seen at all (its timestamp is in host_timestamp_)
  std::uint64_t host_timestamp_ = 0;
  std::map<std::string, bool, std::less<>> device_online_;  // as the buses said
  std::set<std::string, std::less<>> device_born_;          // DBIRTH sent in this birth sequence
  bool subscribed_ = false;
  bool subscribing_ = false;
  bool stopping_ = false;
};

}  // namespace fieldbridge::gateway::sparkplug
