// The forwarder: pumps the store's messages into the MQTT client and maps each
// publish outcome back onto the store (complete, undelivered, reject), keeps
// the QoS 2 state durable through the client's hooks, and resumes the QoS 2
// exchanges of the last run (see docs/gateway.md).
//
// Threading: lives on the io_context thread of the client and the store,
// like both of them; no locks. Lifetime: must outlive neither; destroy it
// after the client stopped (its handlers capture `this`).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_set>

#include <boost/asio/io_context.hpp>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "fieldbridge/store/queue.hpp"

namespace fieldbridge::gateway {

// A stored message as the client publishes it.
mqtt::publish_packet to_packet(store::message&& m);

struct forwarder_options {
  // Messages handed to the client at once: twice its in-flight window, so a
  // completion finds the next message already queued.
  std::size_t window = 40;
};

struct forwarder_counters {
  std::uint64_t published = 0;  // completed as delivered
  std::uint64_t rejected = 0;   // refused by the broker or the client and removed
};

class forwarder {
 public:
  forwarder(boost::asio::io_context& io, mqtt::client& client, store::queue& store, logger_ptr log,
            forwarder_options options = {});
  forwarder(const forwarder&) = delete;
  forwarder& operator=(const forwarder&) = delete;

  // Before client.start(): installs the durable hooks and hands the client
  // the QoS 2 exchanges the store resumed from the last run.
  void attach();
  // Coalesces the many triggers of one loop turn into one pump (new
  // messages, a connection up, a completion).
  void schedule_pump();
  // Shutdown: no more pumps.
  void stop();

  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  const forwarder_counters& counters() const noexcept { return counters_; }

 private:
  void restore();
  void pump();
  void on_published(store::message_id id, const mqtt::publish_result& r);
  bool ours(mqtt::message_token token) const { return in_flight_.contains(token); }

  boost::asio::io_context& io_;
  mqtt::client& client_;
  store::queue& store_;
  logger_ptr log_;
  forwarder_options options_;
  // Store ids now with the client. The durable hooks act only on these, so
  // the client's own messages (status, stats, replies) never reach the store
  // whatever tokens the client gives them.
  std::unordered_set<mqtt::message_token> in_flight_;
  forwarder_counters counters_;
  bool pump_scheduled_ = false;
  bool stopping_ = false;
};

}  // namespace fieldbridge::gateway
