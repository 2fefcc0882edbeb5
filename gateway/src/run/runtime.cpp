// The composition root of `fieldbridge run`. Everything here runs on one
// io_context thread (the caller's): the MQTT client, the store, the timers
// and the handlers the buses post back. Only the buses' Modbus workers run
// elsewhere, and they reach this code only through posted handlers.
#include "run/runtime.hpp"

#include <malloc.h>

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
#include "http/server.hpp"  // http: the status page
#include "run/forwarder.hpp"
#include "run/homeassistant_announcer.hpp"  // ha: Home Assistant discovery
#include "run/mqtt_options.hpp"
#include "run/payload.hpp"
#include "run/reading_router.hpp"
#include "run/service_manager.hpp"
#include "run/status.hpp"  // http: the status board
#include "run/watchdog.hpp"

namespace fieldbridge::gateway {

namespace {

namespace mq = fieldbridge::mqtt;

store::settings store_settings_from(const config::store_settings& s) {
  store::settings out;
  out.path = s.path;
  out.max_size = s.max_size;
  out.on_full = s.on_full == config::overflow_policy::drop_oldest ? store::overflow_policy::drop_oldest
                                                                  : store::overflow_policy::drop_newest;
  out.flush_interval = s.flush_interval;
  out.drain = s.drain == config::drain_order::fifo ? store::drain_order::fifo : store::drain_order::live_first;
  out.hot_path = s.hot_path;
  return out;
}

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
        signals_(io_, SIGINT, SIGTERM),
        router_(configuration_, log_),
        forwarder_(io_, client_, store_, log_, forwarder_settings()),
        homeassistant_(client_, configuration_, log_),  // ha: Home Assistant discovery
        status_(configuration_, {buses_, store_, forwarder_, client_}) {
    signals_.add(SIGHUP);
  }

  int run() {
    client_.on_connection([this](const mq::connection_event& e) { on_connection(e); });
    client_.on_message([this](const mq::publish_packet& m) {
      if (commands_) commands_->on_message(m);
      homeassistant_.on_message(m);  // ha: Home Assistant's <discovery_prefix>/status
    });
    for (const auto& warning : config::warnings(configuration_)) log_->warn("configuration: {}", warning);
    forwarder_.attach();

    if (options_.commands) {
      commands_ = options_.commands(command_context{configuration_, make_write_function(), make_publish_function(), log_});
    }
    start_buses();
    start_http();  // http: the status page, when configured
    client_.start();
    arm_flush();
    arm_stats();
    arm_watchdog();
    wait_signal();
    // The start-up's temporary memory (the YAML tree, the plans built per
    // bus) is free by now, but glibc keeps freed pages inside the heap
    // unless asked: 1.3 MB of RSS at 1,000 points (docs/performance.md).
    ::malloc_trim(0);
    notify_service_manager("READY=1");
    log_->info("running: {} bus{}, publishing under '{}' to {}", buses_.size(), buses_.size() == 1 ? "" : "es",
               prefix_, broker_list());  // failover: every broker of mqtt.hosts
    io_.run();
    // run() returns after the client stopped and every timer was cancelled:
    // nothing else touches the store now. The store was synced when the
    // shutdown began; this writes what the buses delivered since.
    if (store_.sync() == store::flush_result::failed) log_->error("could not write the store at shutdown");
    log_->info("stopped; {} message{} wait in the store", store_.depth(), store_.depth() == 1 ? "" : "s");
    return 0;
  }

 private:
  mq::client_options client_options() const {
    auto options = client_options_from(configuration_);
    mq::will_options will;
    will.topic = status_topic(prefix_);
    will.payload = "offline";
    will.qos = mq::qos::at_least_once;
    will.retain = true;
    options.will = will;
    return options;
  }

  // failover: "a:1883" or "a:1883, then b:1883 (failover in this order)".
  std::string broker_list() const {
    const auto all = config::brokers(configuration_.mqtt);
    std::string text;
    for (const auto& broker : all) text += (text.empty() ? "" : ", then ") + to_string(broker);
    return all.size() > 1 ? text + " (failover in this order)" : text;
  }

  forwarder_options forwarder_settings() const {
    forwarder_options o;
    o.window = static_cast<std::size_t>(configuration_.mqtt.max_inflight) * 2;
    return o;
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

  // http: the status page and /metrics, rendered by the status board on request.
  void start_http() {
    if (!configuration_.http) return;
    http::site_content content{[this] { return status_.status_json(); },
                               [this] { return status_.metrics() + http_->metrics(); }};
    http_ = std::make_unique<http::server>(io_.get_executor(), configuration_.http->listen,
                                           http::site(std::move(content), configuration_.http->token), log_);
    http_->start();
    log_->info("http: the status page is on http://{}/ ({})", to_string(configuration_.http->listen),
               configuration_.http->token.empty() ? "no token" : "token required");
  }

  // --- readings → store → client ---

  void on_readings(std::vector<reading> readings) {
    status_.on_readings(readings);
    store::queue::batch batch(store_);  // cost: one hot-tier write per poll, not one per reading
    router_.route(readings, [this](store::message m) { return store_.append(std::move(m)).has_value(); });
    forwarder_.schedule_pump();
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
    publish_direct(status_topic(prefix_), "online", mq::qos::at_least_once, true);
    // Every device status known so far: those that changed while we were
    // away, and all of them for a broker that lost its retained messages.
    for (const auto& [device, online] : device_online_)
      publish_direct(device_status_topic(prefix_, device), online ? "online" : "offline", mq::qos::at_least_once, true);
    // Once granted, the client itself restores the subscription after a
    // reconnect that finds no session; only a first attempt that failed is
    // tried again here.
    subscribe_commands();
    homeassistant_.on_connected();  // ha: announce the discovery configs
    forwarder_.schedule_pump();
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
    status_.on_status(e.device, e.online);
    log_->debug("{}: {} {}", e.device, e.online ? "online" : "offline", e.reason);
    if (!e.online) router_.forget_device(e.device);
    // While disconnected the change waits: the next connect sends every status.
    if (!stopping_ && client_.connected())
      publish_direct(device_status_topic(prefix_, e.device), e.online ? "online" : "offline", mq::qos::at_least_once, true);
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
      store_progress_ = std::chrono::steady_clock::now();
      arm_flush();
    });
  }

  void arm_stats() {
    if (configuration_.gateway.stats_interval.count() <= 0) return;
    stats_timer_.expires_after(configuration_.gateway.stats_interval);
    stats_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      if (client_.connected()) publish_direct(prefix_ + "/stats", status_.stats_json(), mq::qos::at_most_once, false);
      arm_stats();
    });
  }

  // systemd's watchdog: fed from the event loop, and only while every bus
  // worker and the store's flush timer made progress recently, so a stuck
  // worker leads to a restart too (docs/gateway.md).
  void arm_watchdog() {
    const auto watchdog = service_watchdog_period();
    if (watchdog.count() == 0) return;
    watchdog_period_ = watchdog / 2;
    store_progress_ = std::chrono::steady_clock::now();
    store_limit_ = stall_limit(store_.flush_period(), watchdog);
    for (const auto& bus : buses_) {
      const auto& spec = bus->spec();
      bus_limits_.push_back(stall_limit(spec.response_timeout + spec.inter_request_delay, watchdog));
    }
    feed_watchdog();
  }

  void feed_watchdog() {
    std::vector<progress_source> sources;
    sources.push_back({"the store", store_progress_, store_limit_});
    for (std::size_t i = 0; i < buses_.size(); ++i)
      sources.push_back({"bus " + buses_[i]->spec().name, buses_[i]->last_progress(), bus_limits_[i]});
    const auto stuck = find_stall(std::chrono::steady_clock::now(), sources);
    if (!stuck) {
      notify_service_manager("WATCHDOG=1");
      watchdog_starved_ = false;
    } else if (!watchdog_starved_) {
      watchdog_starved_ = true;
      log_->error("{} made no progress for {} ms: the watchdog is no longer fed, so systemd restarts the service",
                  stuck->name, stuck->since.count());
    }
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
      } else {
        log_->info("{}: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        shutdown();
      }
      // Waiting again only while the shutdown is still under way (for a
      // second signal): a wait left armed after finish() would keep run()
      // from ever returning.
      if (!finished_) wait_signal();
    });
  }

  // In this order: write the store (what it accepted is safe whatever comes
  // next), stop every bus (in parallel: each worker stops after the request
  // under way), then say offline (retained, so it replaces "online") and
  // DISCONNECT so the broker drops the will, bounded by shutdown_grace.
  void shutdown() {
    stopping_ = true;
    notify_service_manager("STOPPING=1");
    if (http_) http_->stop();  // http: every connection closed, so run() can return
    flush_timer_.cancel();
    stats_timer_.cancel();
    watchdog_timer_.cancel();
    forwarder_.stop();
    if (store_.sync() == store::flush_result::failed) log_->error("could not write the store at shutdown");
    for (auto& bus : buses_) bus->request_stop();
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
    publish_direct(status_topic(prefix_), "offline", mq::qos::at_least_once, true,
                   [this](const mq::publish_result&) { finish(); });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    grace_timer_.cancel();
    signals_.cancel();
    forwarder_.stop();
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
  std::chrono::steady_clock::time_point store_progress_{};
  std::chrono::milliseconds store_limit_{0};
  std::vector<std::chrono::milliseconds> bus_limits_;  // one per buses_ entry
  bool watchdog_starved_ = false;

  reading_router router_;
  forwarder forwarder_;
  homeassistant_announcer homeassistant_;  // ha: reload calls homeassistant_.reconfigure(new configuration)
  status_board status_;  // http: reload calls status_.configure(new configuration) and status_.set_reload()
  std::unique_ptr<http::server> http_;  // http: the status page; none without http:
  std::map<std::string, drivers::field_bus*> device_bus_;
  std::map<std::string, bool> device_online_;
  std::unique_ptr<command_handler> commands_;
  std::vector<std::unique_ptr<drivers::field_bus>> buses_;  // last: stopped and destroyed first

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
