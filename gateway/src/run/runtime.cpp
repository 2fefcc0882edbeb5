// The composition root of `fieldbridge run`. Everything here runs on one
// io_context thread (the caller's): the MQTT client, the store, the timers
// and the handlers the buses post back. Only the buses' Modbus workers run
// elsewhere, and they reach this code only through posted handlers; so does
// the thread that joins the workers of buses a reload stops.
#include "run/runtime.hpp"

#include <algorithm>
#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
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
#include "run/reload.hpp"
#include "run/resident_memory.hpp"
#include "run/service_manager.hpp"
#include "run/status.hpp"  // http: the status board
#include "run/watchdog.hpp"
#include "sparkplug/edge_node.hpp"  // sparkplug: mqtt.format: sparkplug_b

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
  runtime(config::configuration configuration, logger_ptr logger, run_options options)
      : configuration_(std::make_unique<const config::configuration>(std::move(configuration))),
        log_(std::move(logger)),
        options_(std::move(options)),
        prefix_(topic_prefix(*configuration_)),
        store_(store_settings_from(configuration_->store), log_),
        client_(io_, client_options(*configuration_), log_),
        flush_timer_(io_),
        stats_timer_(io_),
        watchdog_timer_(io_),
        grace_timer_(io_),
        settle_timer_(io_),
        signals_(io_, SIGINT, SIGTERM),
        router_(*configuration_, log_),
        forwarder_(io_, client_, store_, log_, forwarder_settings()),
        homeassistant_(client_, *configuration_, log_),  // ha: Home Assistant discovery
        status_(*configuration_, {buses_, store_, forwarder_, client_}) {
    signals_.add(SIGHUP);
    if (config().mqtt.format == config::message_format::sparkplug_b)  // sparkplug
      sparkplug_ = std::make_unique<sparkplug::edge_node>(client_, store_, forwarder_, config(),
                                                          make_write_function(), log_);
  }

  ~runtime() {
    if (retirer_.joinable()) retirer_.join();
  }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  int run() {
    client_.on_connection([this](const mq::connection_event& e) { on_connection(e); });
    client_.on_message([this](const mq::publish_packet& m) {
      if (sparkplug_ && sparkplug_->on_message(m)) return;  // sparkplug: NCMD, DCMD, STATE
      if (commands_) commands_->on_message(m);
      homeassistant_.on_message(m);  // ha: Home Assistant's <discovery_prefix>/status
    });
    for (const auto& warning : config::warnings(config())) log_->warn("configuration: {}", warning);
    forwarder_.attach();
    if (sparkplug_) sparkplug_->attach();  // sparkplug: births before data, seq at send time

    if (options_.commands) commands_ = make_commands(config());
    start_buses();
    start_http();  // http: the status page, when configured
    client_.start();
    arm_flush();
    arm_stats();
    arm_watchdog();
    wait_signal();
    // What only the start-up used (the heap's freed YAML tree and plans,
    // the file pages the loader, the configuration and SQLite's open
    // touched) goes back now: 6 to 9 MB of RSS (docs/performance.md).
    release_startup_memory_and_log();
    notify_service_manager("READY=1");
    log_->info("running: {} bus{}, publishing under '{}' to {}", buses_.size(), buses_.size() == 1 ? "" : "es",
               prefix_, broker_list());  // failover: every broker of mqtt.hosts
    io_.run();
    if (retirer_.joinable()) retirer_.join();
    // run() returns after the client stopped and every timer was cancelled:
    // nothing else touches the store now. The store was synced when the
    // shutdown began; this writes what the buses delivered since.
    if (store_.sync() == store::flush_result::failed) log_->error("could not write the store at shutdown");
    log_->info("stopped; {} message{} wait in the store", store_.depth(), store_.depth() == 1 ? "" : "s");
    return 0;
  }

 private:
  const config::configuration& config() const noexcept { return *configuration_; }

  // The first connection, its subscriptions and the first rounds of polls
  // and publishes touch code that runs once; a second release drops it too,
  // leaving the gateway's steady working set (docs/performance.md).
  void settle_after_first_connection() {
    if (settled_) return;
    settled_ = true;
    settle_timer_.expires_after(std::chrono::seconds(2));
    settle_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopping_) release_startup_memory_and_log();
    });
  }

  void release_startup_memory_and_log() {
    const auto released = release_startup_memory();
    log_->debug("released {} KiB of start-up pages ({} clean file mappings)", released.bytes / 1024,
                released.mappings);
  }

  mq::client_options client_options(const config::configuration& configuration) const {
    auto options = client_options_from(configuration);
    mq::will_options will;
    will.topic = status_topic(prefix_);
    will.payload = "offline";
    will.qos = mq::qos::at_least_once;
    will.retain = true;
    options.will = will;
    if (configuration.mqtt.format == config::message_format::sparkplug_b)  // sparkplug: NDEATH will, clean session
      sparkplug::edge_node::adjust_client_options(options, configuration);
    return options;
  }

  // failover: "a:1883" or "a:1883, then b:1883 (failover in this order)".
  std::string broker_list() const {
    const auto all = config::brokers(config().mqtt);
    std::string text;
    for (const auto& broker : all) text += (text.empty() ? "" : ", then ") + to_string(broker);
    return all.size() > 1 ? text + " (failover in this order)" : text;
  }

  forwarder_options forwarder_settings() const {
    forwarder_options o;
    o.window = static_cast<std::size_t>(config().mqtt.max_inflight) * 2;
    return o;
  }

  std::unique_ptr<drivers::field_bus> make_bus(const bus_spec& spec) {
    drivers::bus_handlers handlers;
    handlers.on_readings = [this](std::vector<reading> readings) { on_readings(std::move(readings)); };
    handlers.on_status = [this](drivers::device_status_event e) { on_status(std::move(e)); };
    return drivers::make_bus(spec, io_.get_executor(), std::move(handlers), log_, drivers::backoff_policy{});
  }

  void start_buses() {
    for (const auto& spec : config().buses) buses_.push_back(make_bus(spec));
    index_devices();
    for (auto& bus : buses_) bus->start();
  }

  // The bus of every device, for writes.
  void index_devices() {
    device_bus_.clear();
    for (const auto& bus : buses_)
      for (const auto& device : bus->spec().devices) device_bus_.emplace(device.name, bus.get());
  }

  std::unique_ptr<command_handler> make_commands(const config::configuration& configuration) {
    return options_.commands(command_context{configuration, make_write_function(), make_publish_function(), log_});
  }

  // http: the status page and /metrics, rendered by the status board on
  // request, at most every 250 ms (docs/operations.md).
  void start_http() {
    if (!config().http) return;
    http::site_content content{[this] { return status_.status_json(); },
                               [this] { return status_.metrics() + http_->metrics(); }};
    http::site site(std::move(content), config().http->token, std::chrono::milliseconds{250});
    http_ = std::make_unique<http::server>(io_.get_executor(), config().http->listen, std::move(site), log_);
    http_->start();
    log_->info("http: the status page is on http://{}/ ({})", to_string(config().http->listen),
               config().http->token.empty() ? "no token" : "token required");
  }

  // --- readings → store → client ---

  void on_readings(std::vector<reading> readings) {
    status_.on_readings(readings);
    store::queue::batch batch(store_);  // cost: one hot-tier write per poll, not one per reading
    const auto offer = [this](store::message m) { return store_.append(std::move(m)).has_value(); };
    if (sparkplug_) sparkplug_->on_readings(readings, offer);  // sparkplug: DDATA
    else router_.route(readings, offer);
    forwarder_.schedule_pump();
  }

  // --- status ---

  void publish_direct(const std::string& topic, const std::string& payload, mq::qos q, bool retain,
                      mq::publish_handler done = {}) {
    client_.publish(topic, payload, q, retain, {}, std::move(done));
  }

  void on_connection(const mq::connection_event& e) {
    if (stopping_) return;
    if (e.connected) settle_after_first_connection();
    // The client logs connects and disconnects itself, the buses their
    // devices' status changes; these lines add nothing at info level.
    if (!e.connected) {
      log_->debug("broker connection down: {}", e.detail.empty() ? e.error.message() : e.detail);
      if (sparkplug_) sparkplug_->on_connection(e);
      return;
    }
    if (sparkplug_) {  // sparkplug: births instead of the status topics
      sparkplug_->on_connection(e);
      subscribe_commands();
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
    if (sparkplug_) {  // sparkplug: DDEATH / DBIRTH
      sparkplug_->on_status(e.device, e.online);
      return;
    }
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
      if (config().mqtt.protocol != config::mqtt_protocol::v5) message.props = {};
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
    if (config().gateway.stats_interval.count() <= 0) return;
    stats_timer_.expires_after(config().gateway.stats_interval);
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
    update_watchdog_limits();
    feed_watchdog();
  }

  // One limit per buses_ entry, again after a reload changed them.
  void update_watchdog_limits() {
    bus_limits_.clear();
    const auto watchdog = service_watchdog_period();
    if (watchdog.count() == 0) return;
    for (const auto& bus : buses_) {
      const auto& spec = bus->spec();
      bus_limits_.push_back(stall_limit(spec.response_timeout + spec.inter_request_delay, watchdog));
    }
  }

  void feed_watchdog() {
    std::vector<progress_source> sources;
    sources.push_back({"the store", store_progress_, store_limit_});
    for (std::size_t i = 0; i < buses_.size() && i < bus_limits_.size(); ++i)
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

  // --- reload (SIGHUP) ---
  //
  // In two steps, so that nothing is lost and no two workers share a link:
  // begin_reload() reads and plans, builds what can fail (the new buses'
  // objects, the client's new TLS context) before anything changes, then
  // stops the buses that go or change; a thread joins their workers, off
  // the event loop, and posts complete_reload(), which therefore runs after
  // every reading those workers posted was routed with the old
  // configuration (messages of removed points are delivered). Buses whose
  // spec is equal keep polling throughout.

  void on_sighup() {
    if (stopping_) return;
    if (reloading_) {
      reload_again_ = true;  // after the one under way, so the latest file wins
      return;
    }
    begin_reload();
  }

  void begin_reload() {
    reloading_ = true;
    notify_service_manager(reloading_state());
    const auto& path = config().source_path;
    log_->info("SIGHUP: reading {}", path);
    std::unique_ptr<config::configuration> next;
    try {
      next = std::make_unique<config::configuration>(config::load_file(path));
    } catch (const config::config_error& e) {
      refuse_reload(e.what());
      return;
    } catch (const std::exception& e) {
      refuse_reload(fmt::format("{}: {}", path, e.what()));
      return;
    }
    auto decision = plan_reload(config(), *next);
    if (const auto* refusal = std::get_if<reload_refusal>(&decision)) {
      refuse_reload(refusal->reason);
      return;
    }
    if (const auto why = sparkplug::reload_refusal(config(), *next)) {  // sparkplug: its births stay as they are
      refuse_reload(*why);
      return;
    }
    auto plan = std::get<reload_plan>(std::move(decision));
    if (plan.empty()) {
      log_->info("reload: {} is what runs; nothing to do", path);
      end_reload({true, {}, wall_clock::now()});
      return;
    }
    // Everything that can fail, before anything changes.
    std::vector<std::unique_ptr<drivers::field_bus>> fresh;
    try {
      for (const auto& spec : next->buses)
        if (std::find(plan.kept.begin(), plan.kept.end(), spec.name) == plan.kept.end()) fresh.push_back(make_bus(spec));
      if (plan.reconnect) client_.reconfigure(client_options(*next));
    } catch (const std::exception& e) {
      refuse_reload(fmt::format("{}: {}", path, e.what()));
      return;
    }
    // From here on it is applied.
    for (const auto& warning : config::warnings(*next)) log_->warn("configuration: {}", warning);
    std::vector<std::unique_ptr<drivers::field_bus>> leaving;
    for (auto it = buses_.begin(); it != buses_.end();) {
      const auto& name = (*it)->spec().name;
      if (std::find(plan.kept.begin(), plan.kept.end(), name) != plan.kept.end()) {
        ++it;
        continue;
      }
      leaving.push_back(std::move(*it));
      it = buses_.erase(it);
    }
    index_devices();
    update_watchdog_limits();
    pending_ = std::make_unique<pending_reload>(pending_reload{std::move(plan), std::move(next), std::move(fresh)});
    retire(std::move(leaving));
  }

  // Stops `buses`: at once a serial_line bus (it lives on this loop), on a
  // thread of its own the Modbus workers (each finishes the request under
  // way and posts its readings); then complete_reload() on the loop.
  void retire(std::vector<std::unique_ptr<drivers::field_bus>> buses) {
    for (auto& bus : buses) bus->request_stop();
    std::vector<std::unique_ptr<drivers::field_bus>> workers;
    for (auto& bus : buses) {
      if (config::is_serial_line(bus->spec())) {
        bus->stop();
      } else {
        workers.push_back(std::move(bus));
      }
    }
    buses.clear();
    if (retirer_.joinable()) retirer_.join();
    // Keeps run() from returning before the completion ran, even when a
    // SIGTERM comes meanwhile.
    auto work = boost::asio::make_work_guard(io_);
    retirer_ = std::thread([this, workers = std::move(workers), work = std::move(work)]() mutable {
      for (auto& bus : workers) bus->stop();
      workers.clear();
      boost::asio::post(io_, [this, work = std::move(work)]() mutable {
        complete_reload();
        work.reset();
      });
    });
  }

  void complete_reload() {
    if (retirer_.joinable()) retirer_.join();  // it has posted this: its last act
    auto pending = std::move(pending_);
    if (!pending) return;
    if (stopping_) {
      // A SIGTERM came while the workers stopped: the new buses never run.
      reloading_ = false;
      return;
    }
    const auto& plan = pending->plan;
    auto previous = std::move(configuration_);
    configuration_ = std::move(pending->next);
    const auto& now = config();

    router_.reconfigure(now);
    forwarder_.set_window(forwarder_settings().window);
    status_.configure(now);
    if (plan.routing) homeassistant_.reconfigure(now);
    if (plan.routing && options_.commands) replace_commands(now);
    // A device that left the configuration has no status any more: its
    // retained one is cleared (an empty retained message), not left
    // saying online or offline about something that no longer exists.
    for (const auto& device : plan.removed_devices) {
      device_online_.erase(device);
      router_.forget_device(device);
      publish_direct(device_status_topic(prefix_, device), "", mq::qos::at_least_once, true);
    }
    // The buses in the order of the new configuration: those kept as they
    // are, the new and changed ones started.
    std::vector<std::unique_ptr<drivers::field_bus>> ordered;
    for (const auto& spec : now.buses) {
      const auto take = [&](std::vector<std::unique_ptr<drivers::field_bus>>& from) {
        const auto it = std::find_if(from.begin(), from.end(), [&](const auto& b) { return b && b->spec().name == spec.name; });
        if (it == from.end()) return false;
        ordered.push_back(std::move(*it));
        return true;
      };
      if (!take(buses_)) take(pending->fresh);
    }
    buses_ = std::move(ordered);
    index_devices();
    update_watchdog_limits();
    for (auto& bus : buses_)
      if (std::find(plan.kept.begin(), plan.kept.end(), bus->spec().name) == plan.kept.end()) bus->start();

    if (plan.log_level && !options_.log_level_fixed)
      if (const auto level = parse_log_level(now.gateway.log_level)) log_->set_level(*level);
    if (plan.stats_interval) {
      stats_timer_.cancel();
      arm_stats();
    }
    log_->info("reload: applied: {}", plan.summary());
    previous.reset();
    // The YAML tree and the old plans. Not the file pages: reading the
    // mappings holds the loop 1 to 2 ms (15 under ASan) while every bus
    // polls on, for the little code a reload touches.
    release_freed_heap();
    end_reload({true, {}, wall_clock::now()});
  }

  // The command handler of the new configuration takes the messages from
  // now on; the old one stays until its writes are answered. Without
  // wildcards (one filter per writable point) the subscriptions follow.
  void replace_commands(const config::configuration& now) {
    auto next = make_commands(now);
    if (commands_ && subscribed_ && client_.connected()) {
      const auto limits = client_.broker_capabilities();
      const auto old_filters = commands_->subscriptions(limits);
      auto new_filters = next->subscriptions(limits);
      const auto has = [](const std::vector<mq::subscription>& in, const std::string& filter) {
        return std::any_of(in.begin(), in.end(), [&](const mq::subscription& s) { return s.filter == filter; });
      };
      std::vector<std::string> gone;
      for (const auto& s : old_filters)
        if (!has(new_filters, s.filter)) gone.push_back(s.filter);
      std::vector<mq::subscription> added;
      for (const auto& s : new_filters)
        if (!has(old_filters, s.filter)) added.push_back(s);
      if (!gone.empty()) client_.unsubscribe(std::move(gone), [](const mq::subscribe_result&) {});
      if (!added.empty())
        client_.subscribe(std::move(added), [this](const mq::subscribe_result& r) {
          if (r.error) log_->warn("command subscription after the reload failed: {}", r.error.message());
        });
    }
    std::erase_if(retired_commands_, [](const auto& handler) { return handler->pending() == 0; });
    if (commands_ && commands_->pending() > 0) retired_commands_.push_back(std::move(commands_));
    commands_ = std::move(next);
  }

  void refuse_reload(const std::string& reason) {
    log_->error("reload refused: {}", reason);
    end_reload({false, reason, wall_clock::now()});
  }

  void end_reload(reload_outcome outcome) {
    status_.set_reload(std::move(outcome));
    reloading_ = false;
    notify_service_manager("READY=1");
    if (reload_again_ && !stopping_) {
      reload_again_ = false;
      begin_reload();
    }
  }

  // --- shutdown ---

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        on_sighup();
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
    settle_timer_.cancel();
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
    if (sparkplug_) {  // sparkplug: NDEATH instead of "offline"
      sparkplug_->shutdown([this] { finish(); });
      return;
    }
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

  // The configuration in use; a reload replaces it once applied.
  std::unique_ptr<const config::configuration> configuration_;
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
  boost::asio::steady_timer settle_timer_;  // the release once the first connection settled
  bool settled_ = false;
  boost::asio::signal_set signals_;
  std::chrono::microseconds watchdog_period_{0};
  std::chrono::steady_clock::time_point store_progress_{};
  std::chrono::milliseconds store_limit_{0};
  std::vector<std::chrono::milliseconds> bus_limits_;  // one per buses_ entry
  bool watchdog_starved_ = false;

  reading_router router_;
  forwarder forwarder_;
  homeassistant_announcer homeassistant_;  // ha: Home Assistant discovery
  status_board status_;  // http: the status board
  std::unique_ptr<http::server> http_;  // http: the status page; none without http:
  std::map<std::string, drivers::field_bus*> device_bus_;
  std::map<std::string, bool> device_online_;
  std::unique_ptr<command_handler> commands_;
  std::vector<std::unique_ptr<command_handler>> retired_commands_;  // replaced at a reload, writes pending

  // A reload between its two steps: what complete_reload() applies.
  struct pending_reload {
    reload_plan plan;
    std::unique_ptr<config::configuration> next;
    std::vector<std::unique_ptr<drivers::field_bus>> fresh;  // built, not started
  };
  std::unique_ptr<pending_reload> pending_;
  std::thread retirer_;  // joins the workers of the buses a reload stops
  bool reloading_ = false;
  bool reload_again_ = false;  // a SIGHUP came during a reload
  std::unique_ptr<sparkplug::edge_node> sparkplug_;  // sparkplug: with mqtt.format: sparkplug_b
  std::vector<std::unique_ptr<drivers::field_bus>> buses_;  // last: stopped and destroyed first

  bool subscribed_ = false;
  bool subscribing_ = false;
  bool stopping_ = false;
  bool finished_ = false;
};

}  // namespace

int run(config::configuration configuration, const logger_ptr& logger, run_options options) {
  runtime r(std::move(configuration), logger, std::move(options));
  return r.run();
}

}  // namespace fieldbridge::gateway
