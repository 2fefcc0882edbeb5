// `fieldbridge check --connect`: one connection with the file's MQTT
// settings (under a derived client id and a clean session, so the service's
// own session is left alone), a subscription to a probe topic under the
// prefix, and a probe message at QoS 0, 1 and 2 that must come back through
// it. Every step prints what the broker answered.
#include "connect_probe.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "commands.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "run/mqtt_options.hpp"

namespace fieldbridge::cli {

namespace {

namespace mq = fieldbridge::mqtt;

// The service's own settings under a derived client id and a clean session,
// so the service's session is left alone; one attempt, no reconnect.
mq::client_options probe_options(const config::configuration& configuration, const mq::endpoint& broker) {
  auto options = gateway::client_options_from(configuration);
  options.host = broker.host;
  options.port = broker.port;
  options.brokers = {broker};  // one broker per probe: failover would hide which one failed
  options.client_id += "-check";
  options.clean_start = true;
  options.session_expiry = std::chrono::seconds{0};
  options.connect_timeout = std::chrono::seconds{10};
  options.reconnect = false;
  return options;
}

std::string codes_text(const std::vector<mq::reason_code>& codes) {
  std::string text;
  for (const auto code : codes) {
    if (!text.empty()) text += ", ";
    text += fmt::format("0x{:02x} {}", static_cast<unsigned>(code), mq::reason_message(code));
  }
  return text.empty() ? "(no reason codes)" : text;
}

// The probe as a sequence of steps on one io_context; each step starts the
// next from its completion. Single-threaded.
class probe {
 public:
  probe(boost::asio::io_context& io, const config::configuration& configuration, const mq::endpoint& broker,
        const logger_ptr& logger)
      : probe(io, configuration, probe_options(configuration, broker), logger) {}

  int run() {
    client_.on_connection([this](const mq::connection_event& e) { on_connection(e); });
    client_.on_message([this](const mq::publish_packet& m) { on_message(m); });
    try {
      client_.start();
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    deadline_.expires_after(std::chrono::seconds{20});
    deadline_.async_wait([this](boost::system::error_code ec) {
      if (!ec) fail("timed out waiting for: " + waiting_for_);
    });
    waiting_for_ = "CONNACK";
    io_.run();
    return exit_code_;
  }

 private:
  // Takes the options built once, for the client and for the first line.
  probe(boost::asio::io_context& io, const config::configuration& configuration, mq::client_options options,
        const logger_ptr& logger)
      : io_(io),
        client_(io, options, logger),
        deadline_(io),
        topic_(fmt::format("{}/_check/{}", gateway::topic_prefix(configuration), ::getpid())) {
    const auto& m = configuration.mqtt;
    say("connecting to {} with MQTT {}{} as '{}'", to_string(options.brokers.front()),
        m.protocol == config::mqtt_protocol::v5 ? "5" : "3.1.1", m.tls ? " over TLS" : "",
        options.client_id);
    if (m.tls && !m.tls->verify_certificate) say("WARNING: TLS certificate verification is off");
  }

  template <class... Args>
  void say(fmt::format_string<Args...> format, Args&&... args) {
    std::fputs((fmt::format(format, std::forward<Args>(args)...) + "\n").c_str(), stdout);
    std::fflush(stdout);
  }

  int fail(const std::string& why) {
    if (!finished_) {
      std::fprintf(stderr, "check --connect failed: %s\n", why.c_str());
      exit_code_ = exit_failure;
      finish();
    }
    return exit_code_;
  }

  void finish() {
    finished_ = true;
    deadline_.cancel();
    client_.stop();
  }

  void on_connection(const mq::connection_event& e) {
    if (finished_) return;
    if (!e.connected) {
      fail(e.detail.empty() ? e.error.message() : e.detail);
      return;
    }
    std::string facts;
    const auto& props = e.connack.props;
    if (auto id = props.string(mq::property_id::assigned_client_identifier)) facts += fmt::format(", assigned client id '{}'", *id);
    if (auto v = props.integer(mq::property_id::server_keep_alive)) facts += fmt::format(", server keep alive {} s", *v);
    if (auto v = props.integer(mq::property_id::receive_maximum)) facts += fmt::format(", receive maximum {}", *v);
    if (auto v = props.integer(mq::property_id::maximum_qos)) facts += fmt::format(", maximum QoS {}", *v);
    if (auto v = props.integer(mq::property_id::maximum_packet_size)) facts += fmt::format(", maximum packet size {}", *v);
    say("CONNACK: {} (session present {}){}", mq::reason_message(e.connack.code), e.session_present ? 1 : 0, facts);
    mq::subscription s;
    s.filter = topic_;
    s.options.max_qos = mq::qos::exactly_once;
    say("SUBSCRIBE {} (QoS 2)", topic_);
    waiting_for_ = "SUBACK";
    client_.subscribe({s}, [this](const mq::subscribe_result& r) { on_suback(r); });
  }

  void on_suback(const mq::subscribe_result& r) {
    if (finished_) return;
    if (r.error) {
      fail("SUBSCRIBE failed: " + r.error.message());
      return;
    }
    say("SUBACK: {}", codes_text(r.codes));
    if (r.codes.empty() || mq::is_failure(r.codes[0])) {
      fail("the broker refused the subscription: " + codes_text(r.codes) +
           (r.reason_string.empty() ? "" : " (" + r.reason_string + ")"));
      return;
    }
    publish_next();
  }

  void publish_next() {
    if (qos_ > 2) {
      if (downgraded_) say("OK: the broker accepted and returned the probe at QoS 0, 1 and 2 (QoS 2 downgraded to QoS 1)");
      else say("OK: the broker accepted and returned the probe at QoS 0, 1 and 2");
      finish();
      return;
    }
    const auto q = static_cast<mq::qos>(qos_);
    expected_ = fmt::format("fieldbridge check probe qos {}", qos_);
    acknowledged_ = false;
    received_ = false;
    say("PUBLISH {} (QoS {})", topic_, qos_);
    waiting_for_ = qos_ == 0 ? "the write of the QoS 0 probe" : qos_ == 1 ? "PUBACK" : "PUBREC/PUBCOMP (or PUBACK)";
    client_.publish(topic_, expected_, q, false, {}, [this](const mq::publish_result& r) { on_published(r); });
  }

  void on_published(const mq::publish_result& r) {
    if (finished_) return;
    if (r.outcome != mq::publish_outcome::delivered) {
      fail(fmt::format("PUBLISH at QoS {} failed: {}", qos_, r.error.message()));
      return;
    }
    if (static_cast<int>(r.qos) < qos_) {
      // Maximum QoS in CONNACK, or a 3.1.1 broker answering QoS 2 with
      // PUBACK (RabbitMQ): not a protocol error, the client sends at what
      // the broker takes; say so plainly.
      say("  this broker downgrades QoS {} to QoS {}: delivered at QoS {}", qos_, static_cast<int>(r.qos),
          static_cast<int>(r.qos));
      downgraded_ = true;
    }
    const char* ack = qos_ == 0                       ? "written (QoS 0 has no acknowledgement)"
                      : qos_ == 1 || r.qos == mq::qos::at_least_once ? "PUBACK"
                                                                   : "PUBCOMP";
    if (qos_ == 0) say("  {}", ack);
    else say("  {}: 0x{:02x} {}", ack, static_cast<unsigned>(r.code), mq::reason_message(r.code));
    acknowledged_ = true;
    waiting_for_ = fmt::format("the QoS {} probe to come back through the subscription", qos_);
    advance_if_done();
  }

  void on_message(const mq::publish_packet& m) {
    if (finished_ || m.topic != topic_) return;
    if (std::string(m.payload.begin(), m.payload.end()) != expected_) return;
    say("  received back (QoS {})", static_cast<int>(m.qos));
    received_ = true;
    advance_if_done();
  }

  void advance_if_done() {
    if (!acknowledged_ || !received_) return;
    ++qos_;
    publish_next();
  }

  boost::asio::io_context& io_;
  mq::client client_;
  boost::asio::steady_timer deadline_;
  std::string topic_;
  std::string expected_;
  std::string waiting_for_;
  int qos_ = 0;
  bool acknowledged_ = false;
  bool received_ = false;
  bool finished_ = false;
  bool downgraded_ = false;
  int exit_code_ = exit_ok;
};

}  // namespace

int run_connect_probe(const config::configuration& configuration, const logger_ptr& logger) {
  // failover: every broker of mqtt.hosts in turn, not only the first that
  // answers: a standby that cannot be reached, or refuses the credentials,
  // should show at commissioning, not on the day the first one fails.
  const auto brokers = config::brokers(configuration.mqtt);
  int failed = 0;
  for (std::size_t i = 0; i < brokers.size(); ++i) {
    if (brokers.size() > 1) {
      std::fputs(fmt::format("{}broker {} of {}: {}\n", i == 0 ? "" : "\n", i + 1, brokers.size(),
                             to_string(brokers[i]))
                     .c_str(),
                 stdout);
      std::fflush(stdout);
    }
    boost::asio::io_context io;
    probe p(io, configuration, brokers[i], logger);
    if (p.run() != exit_ok) ++failed;
  }
  if (brokers.size() > 1) {
    std::fputs(fmt::format("\n{} of {} brokers passed\n", brokers.size() - static_cast<std::size_t>(failed),
                           brokers.size())
                   .c_str(),
               stdout);
  }
  return failed == 0 ? exit_ok : exit_failure;
}

}  // namespace fieldbridge::cli
