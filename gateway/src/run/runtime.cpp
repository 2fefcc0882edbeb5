// The composition root of `fieldbridge run`. Everything here runs on one
// io_context thread (the caller's): the MQTT client, the store, the timers
// and the handlers the buses post back. Only the buses' Modbus workers run
// elsewhere, and they reach this code only through posted handlers.
#include "run/runtime.hpp"

#include <systemd/sd-daemon.h>

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "fieldbridge/drivers/bus.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "fieldbridge/store/queue.hpp"
#include "run/mqtt_options.hpp"
#include "run/payload.hpp"

namespace fieldbridge::gateway {

namespace {

namespace mq = fieldbridge::mqtt;

// The client numbers its own messages (status, stats, replies) from 2^63 up;
// tokens below are store message ids.
constexpr mq::message_token client_tokens = mq::message_token{1} << 63;

store::settings store_settings_from(const config::store_settings& s) {
  store::settings out;
  out.path = s.path;
  out.max_size = s.max_size;
  out.on_full = s.on_full == config::overflow_policy::drop_oldest ? store::overflow_policy::drop_oldest
                                                                  : store::overflow_policy::drop_newest;
  out.flush_interval = s.flush_interval;
  out.drain = s.drain == config::drain_order::fifo ? store::drain_order::fifo : store::drain_order::live_first;
  return out;
}

// A stored message as the client publishes it.
mq::publish_packet to_packet(store::message&& m) {
  mq::publish_packet p;
  p.topic = std::move(m.topic);
  p.payload.assign(m.payload.begin(), m.payload.end());
  p.qos = static_cast<mq::qos>(m.qos > 2 ? 2 : m.qos);
  p.retain = m.retain;
  return p;
}

// What a reading of one point turns into.
struct point_route {
  std::string topic;
  std::string unit;
  std::uint8_t qos = 1;
  bool retain = false;
  bool on_change = false;
  double deadband = 0;
  bool single_precision = false;  // a float32 register
};

class runtime {
 public:
  runtime(const config::configuration& configuration, logger_ptr logger, run_options options)
      : configuration_(configuration),
        log_(std::move(logger)),
        options_(std::move(options)),
        prefix_(topic_prefix(configuration)),
        store_(store_settings_from(configuration.store), log_),
        client_(io_, client_options(), log_),
        flush_timer_(io_),
        stats_timer_(io_),
        watchdog_timer_(io_),
        grace_timer_(io_),
        signals_(io_, SIGINT, SIGTERM) {
    signals_.add(SIGHUP);
    window_ = static_cast<std::size_t>(configuration_.mqtt.max_inflight) * 2;
    for (const auto& bus : configuration_.buses)
      for (const auto& device : bus.devices)
        for (const auto& point : device.points) {
          point_route route;
          route.topic = config::point_topic(configuration_.mqtt, device, point);
          route.unit = point.unit;
          route.qos = point.qos.value_or(configuration_.mqtt.qos);
          route.retain = point.retain.value_or(configuration_.mqtt.retain);
          route.on_change = point.publish == publish_mode::on_change;
          route.deadband = point.deadband;
          route.single_precision = point.format.type == value_type::float32;
          routes_.emplace(device.name + "/" + point.name, std::move(route));
        }
  }

  int run() {
    client_.on_connection([this](const mq::connection_event& e) { on_connection(e); });
    client_.on_message([this](const mq::publish_packet& m) {
      if (commands_) commands_->on_message(m);
    });
    mq::durable_hooks hooks;
    hooks.packet_id_assigned = [this](mq::message_token token, std::uint16_t packet_id, mq::qos q) {
      // QoS 1 needs no state (at least once); for QoS 2 the id must be on
      // disk before the PUBLISH leaves, so a restart resends it, not a copy.
      if (q == mq::qos::exactly_once && token < client_tokens &&
          !store_.record_publish_sent(static_cast<store::message_id>(token), packet_id))
        log_->error("message {}: its QoS 2 state is not on disk; a crash now could send it twice", token);
    };
    hooks.pubrec_received = [this](mq::message_token token, std::uint16_t) {
      if (token < client_tokens && !store_.record_pubrel_sent(static_cast<store::message_id>(token)))
        log_->error("message {}: its QoS 2 state is not on disk; a crash now could send it twice", token);
    };
    client_.set_durable_hooks(std::move(hooks));
    restore_qos2();

    if (options_.commands) {
      commands_ = options_.commands(command_context{configuration_, make_write_function(), make_publish_function(), log_});
    }
    start_buses();
    client_.start();
    arm_flush();
    arm_stats();
    arm_watchdog();
    wait_signal();
    sd_notify(0, "READY=1");
    log_->info("running: {} bus{}, publishing under '{}' to {}:{}", buses_.size(), buses_.size() == 1 ? "" : "es",
               prefix_, configuration_.mqtt.host, configuration_.mqtt.port);
    io_.run();
    // run() returns after the client stopped and every timer was cancelled:
    // nothing else touches the store now.
    if (store_.sync() == store::flush_result::failed) log_->error("could not write the store at shutdown");
    log_->info("stopped; {} message{} wait in the store", store_.depth(), store_.depth() == 1 ? "" : "s");
    return 0;
  }

 private:
  mq::client_options client_options() const {
    auto options = client_options_from(configuration_);
    mq::will_options will;
    will.topic = prefix_ + "/status";
    will.payload = "offline";
    will.qos = mq::qos::at_least_once;
    will.retain = true;
    options.will = will;
    return options;
  }

  // QoS 2 exchanges that a previous run left under way go back to the client
  // with their packet ids and states, before the first connect.
  void restore_qos2() {
    std::vector<mq::restored_message> restored;
    for (const auto& e : store_.resumed()) {
      mq::restored_message m;
      m.token = static_cast<mq::message_token>(e.id);
      m.packet_id = e.packet_id;
      m.state = e.state == store::qos2_state::pubrel_sent ? mq::outgoing_state::pubrel_sent
                                                          : mq::outgoing_state::publish_sent;
      m.message = to_packet(store::message(e.msg));
      restored.push_back(std::move(m));
    }
    const auto count = restored.size();
    if (restored.empty()) {
      // The store keeps the session: a CONNACK with session present 1 is ours ([MQTT-3.2.2-4]).
      client_.restore({}, [this](mq::message_token token, const mq::publish_result& r) {
        on_published(static_cast<store::message_id>(token), r);
      });
      return;
    }
    const auto ec = client_.restore(std::move(restored), [this](mq::message_token token, const mq::publish_result& r) {
      on_published(static_cast<store::message_id>(token), r);
    });
    if (ec) {
      // The client refused them: send them again as new messages rather than lose them.
      log_->error("could not resume {} QoS 2 message(s): {}; they are sent again", count, ec.message());
      for (const auto& e : store_.resumed()) store_.undelivered(e.id);
      return;
    }
    in_flight_ += count;
    log_->info("resuming {} QoS 2 message(s) from the last run", count);
  }

  void start_buses() {
    drivers::backoff_policy backoff;
    for (const auto& spec : configuration_.buses) {
      drivers::bus_handlers handlers;
      handlers.on_readings = [this](std::vector<reading> readings) { on_readings(std::move(readings)); };
      handlers.on_status = [this](drivers::device_status_event e) { on_status(std::move(e)); };
      auto bus = drivers::make_bus(spec, io_.get_executor(), std::move(handlers), log_, backoff);
      for (const auto& device : spec.devices) device_bus_.emplace(device.name, bus.get());
      buses_.push_back(std::move(bus));
    }
    for (auto& bus : buses_) bus->start();
  }

  // --- readings → store → client ---

  void on_readings(std::vector<reading> readings) {
    for (auto& r : readings) {
      const auto key = r.device + "/" + r.point;
      const auto route = routes_.find(key);
      if (route == routes_.end()) continue;
      auto payload = reading_payload(r, route->second.unit, configuration_.mqtt.payload,
                                     route->second.single_precision);
      if (!payload) {
        // Bad quality: no number is better than a wrong one; the device's
        // status topic and the stats say what is wrong.
        log_->debug("{}: not published: {}", key, r.error.empty() ? "no valid value" : r.error);
        continue;
      }
      if (route->second.on_change && !changes_.accept(key, r.value, route->second.deadband)) continue;
      store::message m;
      m.topic = route->second.topic;
      m.payload = std::move(*payload);
      m.qos = route->second.qos;
      m.retain = route->second.retain;
      m.ts = r.ts;
      m.source = key;
      store_.append(std::move(m));  // a drop is counted and logged by the store
    }
    schedule_pump();
  }

  // Coalesces the many triggers of one loop turn into one pump.
  void schedule_pump() {
    if (pump_scheduled_) return;
    pump_scheduled_ = true;
    boost::asio::post(io_, [this] {
      pump_scheduled_ = false;
      pump();
    });
  }

  // Hands the client what the store has, while connected, keeping at most
  // twice the in-flight window with it so a completion finds the next
  // message already queued. While disconnected the store is the queue.
  void pump() {
    if (stopping_ || !client_.connected()) return;
    while (in_flight_ < window_) {
      auto batch = store_.take(window_ - in_flight_);
      if (batch.empty()) break;
      for (auto& e : batch) {
        ++in_flight_;
        const auto id = e.id;
        client_.publish(to_packet(std::move(e.msg)), [this, id](const mq::publish_result& r) { on_published(id, r); },
                        static_cast<mq::message_token>(id));
      }
    }
  }

  void on_published(store::message_id id, const mq::publish_result& r) {
    if (in_flight_ > 0) --in_flight_;
    switch (r.outcome) {
      case mq::publish_outcome::delivered:
        store_.complete(id);
        ++published_;
        break;
      case mq::publish_outcome::session_lost:
        if (r.past_pubrec) {
          // The broker had it (PUBREC) before it forgot the session: a resend
          // could duplicate a QoS 2 message, so it counts as delivered.
          store_.reject(id);
          ++published_;
        } else {
          store_.undelivered(id);
        }
        break;
      case mq::publish_outcome::not_written:
        // QoS 0 whose connection died before its write completed: the store
        // still has it, and what the store accepted is not lost.
        store_.undelivered(id);
        break;
      case mq::publish_outcome::failed:
        store_.reject(id);
        ++rejected_;
        log_->warn("message {} dropped: the broker cannot take it ({}{})", id, r.error.message(),
                   r.code == mq::reason_code::success ? "" : fmt::format(", reason 0x{:02x}", static_cast<unsigned>(r.code)));
        break;
      case mq::publish_outcome::aborted:
        // Stopping: it stays in the store and goes out again after a restart.
        return;
    }
    schedule_pump();
  }

  // --- status ---

  void publish_direct(const std::string& topic, const std::string& payload, mq::qos q, bool retain,
                      mq::publish_handler done = {}) {
    client_.publish(topic, payload, q, retain, {}, std::move(done));
  }

  void on_connection(const mq::connection_event& e) {
    if (stopping_) return;
    // The client logs connects and disconnects itself, the buses their
    // devices' status changes; these lines add nothing at info level.
    if (!e.connected) {
      log_->debug("broker connection down: {}", e.detail.empty() ? e.error.message() : e.detail);
      return;
    }
    publish_direct(prefix_ + "/status", "online", mq::qos::at_least_once, true);
    // Every device status known so far: those that changed while we were
    // away, and all of them for a broker that lost its retained messages.
    for (const auto& [device, online] : device_online_)
      publish_direct(prefix_ + "/" + device + "/status", online ? "online" : "offline", mq::qos::at_least_once, true);
    // Once granted, the client itself restores the subscription after a
    // reconnect that finds no session; only a first attempt that failed is
    // tried again here.
    subscribe_commands();
    schedule_pump();
  }

  void subscribe_commands() {
    if (!commands_ || subscribed_ || subscribing_) return;
    auto filters = commands_->subscriptions(client_.broker_capabilities());
    if (filters.empty()) return;
    subscribing_ = true;
    client_.subscribe(std::move(filters), [this](const mq::subscribe_result& r) {
      subscribing_ = false;
      if (r.error) {
        log_->warn("command subscription failed: {}; retried at the next connect", r.error.message());
        return;
      }
      subscribed_ = true;
      for (const auto code : r.codes)
        if (mq::is_failure(code)) log_->error("the broker refused a command subscription: {}", mq::reason_message(code));
      log_->info("listening for commands on {} topic filter(s)", r.codes.size());
    });
  }

  void on_status(drivers::device_status_event e) {
    const auto known = device_online_.find(e.device);
    if (known != device_online_.end() && known->second == e.online) return;
    device_online_[e.device] = e.online;
    log_->debug("{}: {} {}", e.device, e.online ? "online" : "offline", e.reason);
    if (!e.online) changes_.forget_prefix(e.device + "/");
    // While disconnected the change waits: the next connect sends every status.
    if (!stopping_ && client_.connected())
      publish_direct(prefix_ + "/" + e.device + "/status", e.online ? "online" : "offline", mq::qos::at_least_once, true);
  }

  // --- commands seam ---

  write_function make_write_function() {
    return [this](std::string_view device, std::string_view point, point_value value, drivers::write_handler done) {
      const auto bus = device_bus_.find(std::string(device));
      if (bus == device_bus_.end() || stopping_) {
        drivers::write_result r;
        r.error = stopping_ ? "the gateway is stopping" : fmt::format("unknown device '{}'", device);
        boost::asio::post(io_, [done = std::move(done), r = std::move(r)] { done(r); });
        return;
      }
      bus->second->write(device, point, std::move(value), std::move(done));
    };
  }

  publish_function make_publish_function() {
    return [this](mq::publish_packet message) {
      if (configuration_.mqtt.protocol != config::mqtt_protocol::v5) message.props = {};
      client_.publish(std::move(message), {});
    };
  }

  // --- timers ---

  void arm_flush() {
    flush_timer_.expires_after(store_.flush_period());
    flush_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      store_.flush();
      arm_flush();
    });
  }

  void arm_stats() {
    if (configuration_.gateway.stats_interval.count() <= 0) return;
    stats_timer_.expires_after(configuration_.gateway.stats_interval);
    stats_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      if (client_.connected()) publish_direct(prefix_ + "/stats", stats_json(), mq::qos::at_most_once, false);
      arm_stats();
    });
  }

  std::string stats_json() const {
    std::uint64_t polled = 0, errors = 0;
    std::string buses;
    for (const auto& bus : buses_) {
      std::uint64_t polls = 0, good = 0, bad = 0, timeouts = 0, exceptions = 0, other = 0, online = 0, devices = 0;
      for (const auto& [name, c] : bus->counters()) {
        polls += c.polls;
        good += c.good;
        bad += c.bad;
        timeouts += c.timeouts;
        exceptions += c.exceptions;
        other += c.errors;
        online += c.online ? 1 : 0;
        ++devices;
      }
      polled += good + bad;
      errors += timeouts + exceptions + other;
      if (!buses.empty()) buses += ',';
      buses += fmt::format(
          "{}:{{\"polls\":{},\"polled\":{},\"good\":{},\"bad\":{},\"timeouts\":{},\"exceptions\":{},\"errors\":{},"
          "\"devices\":{},\"online\":{}}}",
          json_string(bus->spec().name), polls, good + bad, good, bad, timeouts, exceptions, other, devices, online);
    }
    const auto& s = store_.stats();
    const auto dropped = s.dropped_oldest + s.dropped_newest + s.dropped_overflow + rejected_;
    errors += s.write_errors;
    return fmt::format(
        "{{\"ts\":\"{}\",\"polled\":{},\"published\":{},\"queued\":{},\"dropped\":{},\"errors\":{},\"buses\":{{{}}}}}",
        utc_timestamp(wall_clock::now()), polled, published_, store_.depth(), dropped, errors, buses);
  }

  // systemd's watchdog, fed from the event loop so a stuck loop is noticed.
  void arm_watchdog() {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
    watchdog_period_ = std::chrono::microseconds(usec / 2);
    feed_watchdog();
  }

  void feed_watchdog() {
    sd_notify(0, "WATCHDOG=1");
    watchdog_timer_.expires_after(watchdog_period_);
    watchdog_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) feed_watchdog();
    });
  }

  // --- shutdown ---

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        log_->info("SIGHUP: the configuration is read at start; restart the service to reload it");
      } else if (stopping_) {
        log_->warn("second signal: stopping now");
        finish();
        return;
      } else {
        log_->info("{}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        shutdown();
      }
      wait_signal();
    });
  }

  // Stop polling, say offline (retained, so it replaces "online"), then
  // DISCONNECT so the broker drops the will; bounded by shutdown_grace.
  void shutdown() {
    stopping_ = true;
    sd_notify(0, "STOPPING=1");
    flush_timer_.cancel();
    stats_timer_.cancel();
    watchdog_timer_.cancel();
    for (auto& bus : buses_) bus->stop();
    if (!client_.connected()) {
      finish();
      return;
    }
    grace_timer_.expires_after(options_.shutdown_grace);
    grace_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      log_->warn("the broker did not acknowledge 'offline' within {} ms", options_.shutdown_grace.count());
      finish();
    });
    publish_direct(prefix_ + "/status", "offline", mq::qos::at_least_once, true,
                   [this](const mq::publish_result&) { finish(); });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    grace_timer_.cancel();
    signals_.cancel();
    client_.stop();
  }

  const config::configuration& configuration_;
  logger_ptr log_;
  run_options options_;
  std::string prefix_;
  boost::asio::io_context io_;
  store::queue store_;
  mq::client client_;
  boost::asio::steady_timer flush_timer_;
  boost::asio::steady_timer stats_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer grace_timer_;
  boost::asio::signal_set signals_;
  std::chrono::microseconds watchdog_period_{0};

  std::map<std::string, point_route> routes_;  // "device/point" → where it goes
  std::map<std::string, drivers::field_bus*> device_bus_;
  std::map<std::string, bool> device_online_;
  change_filter changes_;
  std::unique_ptr<command_handler> commands_;
  std::vector<std::unique_ptr<drivers::field_bus>> buses_;  // last: stopped and destroyed first

  std::size_t window_ = 40;
  std::size_t in_flight_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t rejected_ = 0;
  bool pump_scheduled_ = false;
  bool subscribed_ = false;
  bool subscribing_ = false;
  bool stopping_ = false;
  bool finished_ = false;
};

}  // namespace

int run(const config::configuration& configuration, const logger_ptr& logger, run_options options) {
  runtime r(configuration, logger, std::move(options));
  return r.run();
}

}  // namespace fieldbridge::gateway
