// The forwarder: pumps the store's messages into the MQTT client and maps each
// publish outcome back onto the store (complete, undelivered, reject), keeps
// the QoS 2 state durable through the client's hooks, resumes the QoS 2
// exchanges of the last run, and pauses the drain with back-off while the
// broker refuses messages for a reason that may pass (see docs/gateway.md).
//
// Threading: lives on the io_context thread of the client and the store,
// like both of them; no locks. Lifetime: must outlive neither; destroy it
// after the client stopped (its handlers capture `this`).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "fieldbridge/store/queue.hpp"

namespace fieldbridge::gateway {

// What a failed publish tells about the message. `message`: the broker (or
// the client) can never take this message as it is (topic name invalid,
// packet too large, payload format invalid): it is rejected. `connection`:
// the refusal is about the connection, the client or the time (not
// authorized, quota exceeded, server busy, unspecified, anything unknown):
// the message is kept and the drain pauses. Pure.
enum class refusal_class : std::uint8_t { message, connection };
refusal_class classify_refusal(const mqtt::publish_result& r) noexcept;

// A stored message as the client publishes it.
mqtt::publish_packet to_packet(store::message&& m);

struct forwarder_options {
  // Messages handed to the client at once: twice its in-flight window, so a
  // completion finds the next message already queued.
  std::size_t window = 40;
  // The drain pause after a refusal of the `connection` class: `pause_min`,
  // doubling for each refusal in a row up to `pause_max`.
  std::chrono::milliseconds pause_min{1000};
  std::chrono::milliseconds pause_max{60000};
};

// sparkplug: how an owner that publishes another dialect steers the drain
// (gateway/src/sparkplug/edge_node.hpp). Both optional.
struct forwarder_hooks {
  // Asked at every pump: false hands out nothing now (the owner calls
  // schedule_pump() once it may publish again).
  std::function<bool()> may_publish;
  // Rewrites a message as it goes to the client (Sparkplug: its seq and
  // is_historical). false: it cannot be sent as it is, and is rejected.
  std::function<bool(mqtt::publish_packet& packet, wall_clock::time_point reading_time)> prepare;
};

struct forwarder_counters {
  std::uint64_t published = 0;  // completed as delivered
  std::uint64_t rejected = 0;   // refused for good (message class) and removed
  std::uint64_t refused = 0;    // refused for a reason that may pass (kept, drain paused)
  std::uint64_t pauses = 0;     // drain pauses started
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
  // sparkplug: before the first pump.
  void set_hooks(forwarder_hooks hooks) { hooks_ = std::move(hooks); }
  // Coalesces the many triggers of one loop turn into one pump (new
  // messages, a connection up, a completion).
  void schedule_pump();
  // Shutdown: no more pumps; cancels the pause timer so run() can return.
  void stop();
  // A reload changed mqtt.max_inflight: messages handed over at once from
  // the next pump on.
  void set_window(std::size_t window) noexcept { options_.window = window; }

  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  const forwarder_counters& counters() const noexcept { return counters_; }
  // The broker's refusal that paused the drain, in words, while paused.
  const std::optional<std::string>& paused() const noexcept { return paused_; }

 private:
  void restore();
  void pump();
  void on_published(store::message_id id, const mqtt::publish_result& r);
  void pause(const mqtt::publish_result& r);
  bool ours(mqtt::message_token token) const { return in_flight_.contains(token); }

  boost::asio::io_context& io_;
  mqtt::client& client_;
  store::queue& store_;
  logger_ptr log_;
  forwarder_options options_;
  boost::asio::steady_timer pause_timer_;
  // Store ids now with the client. The durable hooks act only on these, so
  // the client's own messages (status, stats, replies) never reach the store
  // whatever tokens the client gives them.
  std::unordered_set<mqtt::message_token> in_flight_;
  forwarder_counters counters_;
  forwarder_hooks hooks_;  // sparkplug
  std::optional<std::string> paused_;
  // The completions of one loop turn (the client dispatches every ack it
  // read before the pump runs) go to the store's hot tier in one write,
  // when the pump runs (or at stop()).
  std::optional<store::queue::batch> completions_;
  std::chrono::milliseconds next_pause_{0};
  bool probing_ = false;  // after a pause: one message at a time until one is delivered
  bool pump_scheduled_ = false;
  bool stopping_ = false;
};

}  // namespace fieldbridge::gateway
