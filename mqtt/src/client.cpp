// The public client API and the dispatch of the session's events to the
// owner's handlers. The protocol decisions are the session's; this file only
// routes them (see client_impl.hpp for how the work is split).
#include "fieldbridge/mqtt/client.hpp"

#include <algorithm>
#include <limits>
#include <random>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "client_impl.hpp"

namespace fieldbridge::mqtt {

namespace {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

std::string reason_text(reason_code code, const properties& props) {
  std::string text(reason_message(code));
  if (auto reason = props.string(property_id::reason_string)) text += " (" + std::string(*reason) + ")";
  return text;
}

// A seed for the back-off jitter that differs between gateways started together.
std::uint64_t random_seed() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

// How long a DISCONNECT may take to leave before the socket is closed anyway.
constexpr std::chrono::milliseconds close_grace{1000};

}  // namespace

std::string client::impl::broker_position() const {
  if (brokers_.size() < 2) return {};
  return fmt::format(" (broker {} of {})", broker_index_ + 1, brokers_.size());
}

static will_message make_will(const will_options& options, protocol_version protocol) {
  will_message will;
  will.topic = options.topic;
  will.payload = bytes_of(options.payload);
  will.qos = options.qos;
  will.retain = options.retain;
  if (protocol == protocol_version::v5 && options.delay.count() > 0) {
    will.props.set(property_id::will_delay_interval, property_value{static_cast<std::uint32_t>(options.delay.count())});
  }
  return will;
}

session_config make_session_config(const client_options& options) {
  session_config config;
  config.version = options.protocol;
  config.client_id = options.client_id;
  config.clean_start = options.clean_start;
  config.keep_alive_s = static_cast<std::uint16_t>(
      std::clamp<long long>(options.keepalive.count(), 0, std::numeric_limits<std::uint16_t>::max()));
  config.session_expiry_s = static_cast<std::uint32_t>(
      std::clamp<long long>(options.session_expiry.count(), 0, std::numeric_limits<std::uint32_t>::max()));
  config.username = options.username;
  if (options.password) config.password = bytes_of(*options.password);
  if (options.will) config.will = make_will(*options.will, options.protocol);
  config.max_inflight = std::max<std::uint16_t>(options.max_inflight, 1);
  config.refill_batch = options.refill_batch;
  config.max_hold = options.max_hold;
  config.receive_maximum = std::max<std::uint16_t>(options.receive_maximum, 1);
  config.maximum_packet_size = options.maximum_packet_size;
  config.output_high_water = options.output_high_water;
  config.connect_timeout = options.connect_timeout;
  config.restore_subscriptions = options.restore_subscriptions;
  config.resend_after_reconnect = options.resend_after_reconnect;
  return config;
}

client::impl::impl(boost::asio::io_context& io, client_options options, logger_ptr logger)
    : io_(io),
      options_(std::move(options)),
      logger_(logger ? std::move(logger) : make_null_logger("mqtt")),
      brokers_(options_.brokers.empty() ? std::vector<endpoint>{{options_.host, options_.port}} : options_.brokers),
      session_(make_session_config(options_)),
      session_timer_(io),
      backoff_timer_(io),
      open_timer_(io),
      close_timer_(io),
      write_timer_(io),
      backoff_(options_.reconnect_min, options_.reconnect_max, random_seed()),
      read_buffer_(64 * 1024) {}

void client::impl::post_pump() {
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(io_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->pump();
  });
}

void client::impl::pump() {
  if (pumping_) return;  // the outer pump picks up what this call added
  // A handler may destroy the client: the impl lives until this returns.
  const auto self = shared_from_this();
  pumping_ = true;
  while (!destroyed_) {
    if (!session_.has_events()) {
      // The handlers have seen every refusal (and may have withdrawn what
      // they queued behind it): the queue moves on.
      session_.resume_after_refusal(now());
      if (!session_.has_events()) break;
    }
    session_.take_events(events_);
    for (auto& event : events_) {
      if (destroyed_) break;
      dispatch(event);
    }
  }
  pumping_ = false;
  if (destroyed_) return;
  flush();
  arm_session_timer();
}

void client::impl::dispatch(session_event& event) {
  std::visit(
      overloaded{
          [&](connected_event& e) {
            backoff_.reset();
            ++connections_;
            session_broker_ = broker_index_;
            logger_->info("mqtt: connected to {}{} as '{}' (session present {})", broker_text(), broker_position(),
                          session_.client_id(), e.session_present ? 1 : 0);
            if (const auto handler = connection_handler_) {
              connection_event up;
              up.broker = current_broker();
              up.connected = true;
              up.session_present = e.session_present;
              up.connack = std::move(e.connack);
              (*handler)(up);
            }
          },
          [&](connect_refused_event& e) {
            if (!close_reason_) {
              close_reason_ = make_error_code(e.code);
              close_code_ = e.code;
              close_server_reference_ = e.server_reference;
              close_detail_ = "connection refused: " + std::string(reason_message(e.code));
              if (!e.reason_string.empty()) close_detail_ += " (" + e.reason_string + ")";
              note_server_reference(e.server_reference);
            }
          },
          [&](disconnect_received_event& e) {
            if (!close_reason_) {
              close_reason_ = make_error_code(errc::disconnected_by_broker);
              close_code_ = e.code;
              close_server_reference_ = e.server_reference;
              close_detail_ = "the broker sent DISCONNECT: " + std::string(reason_message(e.code));
              if (!e.reason_string.empty()) close_detail_ += " (" + e.reason_string + ")";
              note_server_reference(e.server_reference);
            }
          },
          [&](close_requested_event& e) {
            if (!close_reason_) {
              close_reason_ = e.reason;
              close_detail_ = e.reason.message();
            }
            closing_ = true;
            close_timer_.expires_after(close_grace);
            close_timer_.async_wait([self = shared_from_this(), generation = generation_](boost::system::error_code ec) {
              if (!ec && generation == self->generation_) {
                self->connection_lost(self->close_reason_, self->close_detail_);
              }
            });
          },
          [&](packet_id_assigned_event& e) {
            if (owners_token(e.token)) call_hook(&durable_hooks::packet_id_assigned, e.token, e.packet_id, e.qos);
          },
          [&](pubrec_received_event& e) {
            if (owners_token(e.token)) call_hook(&durable_hooks::pubrec_received, e.token, e.packet_id);
          },
          [&](publish_completed_event& e) {
            if (e.qos == qos::at_most_once) {
              qos0_unwritten_.push_back(e.token);  // done once its write completes
            } else {
              publish_result result{publish_outcome::delivered, {}, e.code, e.past_pubrec, e.qos};
              complete_publish(e.token, result);
            }
          },
          [&](publish_downgraded_event& e) {
            if (e.answered_with_puback) {
              logger_->warn("mqtt: {} answered a QoS 2 PUBLISH with PUBACK: this broker downgrades QoS 2 to "
                            "QoS 1; taken as delivered at QoS 1 (duplicates become possible)",
                            broker_text());
              return;
            }
            std::string what;
            if (e.sent != e.requested) {
              what = fmt::format("QoS {} sent as QoS {} (the broker's Maximum QoS)", static_cast<int>(e.requested),
                                 static_cast<int>(e.sent));
            }
            if (e.retain_cleared) what += std::string(what.empty() ? "" : ", ") + "retain cleared (Retain Available 0)";
            logger_->warn("mqtt: messages are downgraded to the limits of {} on this connection: {}", broker_text(),
                          what);
          },
          [&](message_dropped_event& e) {
            logger_->warn("mqtt: dropped a {} byte message (QoS {}) above our maximum packet size {}: MQTT 3.1.1 "
                          "cannot tell the broker the limit",
                          e.size, static_cast<int>(e.qos), options_.maximum_packet_size);
          },
          [&](publish_failed_event& e) {
            publish_result result;
            result.outcome = e.error == make_error_code(errc::session_lost) ? publish_outcome::session_lost
                                                                             : publish_outcome::failed;
            result.error = e.error;
            result.code = e.error.category() == reason_category() ? static_cast<reason_code>(e.error.value())
                                                                  : disconnect_reason(e.error);
            result.past_pubrec = e.past_pubrec;
            complete_publish(e.token, result);
          },
          [&](message_received_event& e) {
            if (const auto handler = message_handler_) (*handler)(e.message);
          },
          [&](incoming_qos2_received_event& e) {
            call_hook(&durable_hooks::incoming_qos2_received, e.packet_id);
          },
          [&](incoming_qos2_released_event& e) {
            call_hook(&durable_hooks::incoming_qos2_released, e.packet_id);
          },
          [&](subscriptions_restored_event& e) { log_restored_subscriptions(e); },
          [&](subscribe_completed_event& e) { complete_request(e.token, {}, std::move(e.codes), e.props); },
          [&](unsubscribe_completed_event& e) { complete_request(e.token, {}, std::move(e.codes), e.props); },
          [&](request_failed_event& e) { complete_request(e.token, e.error, {}, {}); },
          [&](auth_received_event& e) {
            // Enhanced authentication is not offered in CONNECT, so an AUTH is
            // unexpected: end the session with a protocol error.
            logger_->warn("mqtt: unexpected AUTH from the broker ({})", reason_text(e.auth.code, e.auth.props));
            // disconnect() is the owner's graceful end and requests close
            // without a reason: this one is a protocol error, say so.
            if (!close_reason_) {
              close_reason_ = make_error_code(errc::protocol_error);
              close_detail_ = "unexpected AUTH from the broker";
            }
            session_.disconnect(reason_code::protocol_error, {}, now());
          },
      },
      event);
}

void client::impl::log_restored_subscriptions(const subscriptions_restored_event& e) {
  if (e.error) {
    const bool retried = e.error == make_error_code(errc::connection_lost);
    logger_->log(retried ? spdlog::level::info : spdlog::level::warn,
                 "mqtt: restoring {} subscription(s) after the broker lost the session failed: {}{}",
                 e.filters.size(), e.error.message(), retried ? " (tried again on the next connection)" : "");
    return;
  }
  std::string refused;
  for (std::size_t i = 0; i < e.filters.size() && i < e.codes.size(); ++i) {
    if (!is_failure(e.codes[i])) continue;
    refused += fmt::format("{}'{}': {} (0x{:02X})", refused.empty() ? "" : ", ", e.filters[i],
                           reason_message(e.codes[i]), static_cast<unsigned>(e.codes[i]));
  }
  if (refused.empty()) {
    logger_->info("mqtt: the broker had lost the session: restored {} subscription(s)", e.filters.size());
  } else {
    logger_->warn("mqtt: the broker refused restored subscription(s) {}{}", refused,
                  e.reason_string.empty() ? "" : " (" + e.reason_string + ")");
  }
}

void client::impl::complete_request(message_token token, boost::system::error_code error,
                                    std::vector<reason_code> codes, const properties& props) {
  auto found = request_handlers_.find(token);
  if (found == request_handlers_.end()) return;
  auto handler = std::move(found->second);
  request_handlers_.erase(found);
  subscribe_result result;
  result.error = error;
  result.codes = std::move(codes);
  if (auto reason = props.string(property_id::reason_string)) result.reason_string = *reason;
  if (handler) handler(result);
}

void client::impl::complete_publish(message_token token, const publish_result& result) {
  auto found = publish_handlers_.find(token);
  if (found != publish_handlers_.end()) {
    auto handler = std::move(found->second);
    publish_handlers_.erase(found);
    handler(result);
  } else if (owners_token(token)) {  // the client's own messages never reach the owner's handler
    if (const auto handler = restored_handler_) (*handler)(token, result);
  }
}

void client::impl::note_server_reference(const std::string& reference) {
  if (reference.empty()) return;
  logger_->warn("mqtt: {} refers us to '{}' (Server Reference); not followed: the client connects only to the "
                "configured broker(s)",
                broker_text(), reference);
}

void client::impl::report_down(boost::system::error_code ec, std::string detail) {
  const auto handler = connection_handler_;
  if (!handler) return;
  connection_event down;
  down.broker = current_broker();
  down.error = ec;
  down.detail = std::move(detail);
  down.code = close_code_;
  down.server_reference = close_server_reference_;
  (*handler)(down);
}

void client::impl::abort_all_publishes() {
  auto handlers = std::move(publish_handlers_);
  publish_handlers_.clear();
  for (auto& [token, handler] : handlers) {
    handler({publish_outcome::aborted, boost::asio::error::operation_aborted, reason_code::unspecified_error, false});
  }
}

void client::impl::stop() {
  if (!running_) return;
  const auto self = shared_from_this();  // a handler called from here may destroy the client
  running_ = false;
  backoff_timer_.cancel();
  open_timer_.cancel();
  if (opening_) {
    opening_ = false;
    ++generation_;
    close_transport();
  } else if (open_ && session_.current_state() == session::state::connected) {
    session_.disconnect(reason_code::normal_disconnection, {}, now());
    pump();
  } else if (open_) {
    connection_lost(boost::asio::error::operation_aborted, "stopped");
  }
  if (!open_) cancel_timers();
  if (!destroyed_) abort_all_publishes();
}

void client::impl::reconfigure(client_options options) {
  // Loaded first: a TLS file that cannot be read changes nothing.
  pending_tls_context_ = options.tls ? detail::make_tls_context(*options.tls) : nullptr;
  pending_options_ = std::move(options);
  if (!running_) {
    apply_pending_options();
    return;
  }
  const auto self = shared_from_this();
  if (open_ && session_.current_state() == session::state::connected) {
    // connection_lost() applies the options and connects once the
    // DISCONNECT is written and the transport closed.
    logger_->info("mqtt: new settings: disconnecting from {} to reconnect with them", broker_text());
    session_.disconnect(reason_code::normal_disconnection, {}, now());
    pump();
    return;
  }
  if (open_) {  // CONNECT sent, no CONNACK yet
    connection_lost(boost::asio::error::operation_aborted, "reconnecting with new settings");
    return;
  }
  if (opening_) {
    opening_ = false;
    ++generation_;
    close_transport();
  }
  backoff_timer_.cancel();
  open_timer_.cancel();
  apply_pending_options();
  connect_attempt();
}

void client::impl::apply_pending_options() {
  if (!pending_options_) return;
  auto options = std::move(*pending_options_);
  pending_options_.reset();
  const bool same_identity = options.client_id == options_.client_id && options.protocol == options_.protocol;
  const std::optional<endpoint> session_from =
      session_broker_ < brokers_.size() ? std::optional<endpoint>(brokers_[session_broker_]) : std::nullopt;
  options_ = std::move(options);
  tls_context_ = std::move(pending_tls_context_);
  brokers_ = options_.brokers.empty() ? std::vector<endpoint>{{options_.host, options_.port}} : options_.brokers;
  broker_index_ = 0;
  session_broker_ = no_session_broker;
  if (same_identity && session_from) {
    const auto found = std::find(brokers_.begin(), brokers_.end(), *session_from);
    if (found != brokers_.end()) session_broker_ = static_cast<std::size_t>(found - brokers_.begin());
  }
  auto config = make_session_config(options_);
  // An id the broker assigned (MQTT 5, empty client_id) stays ours.
  if (same_identity && config.client_id.empty()) config.client_id = session_.client_id();
  session_.reconfigure(std::move(config));
  backoff_ = reconnect_backoff(options_.reconnect_min, options_.reconnect_max, random_seed());
}

// --- the public face -------------------------------------------------------

client::client(boost::asio::io_context& io, client_options options, logger_ptr logger)
    : impl_(std::make_shared<impl>(io, std::move(options), std::move(logger))) {}

client::~client() {
  if (!impl_) return;
  impl_->destroyed_ = true;
  impl_->running_ = false;
  impl_->message_handler_ = nullptr;
  impl_->connection_handler_ = nullptr;
  impl_->restored_handler_ = nullptr;
  impl_->hooks_ = nullptr;
  impl_->publish_handlers_.clear();
  impl_->request_handlers_.clear();
  ++impl_->generation_;
  impl_->open_ = false;
  impl_->opening_ = false;
  impl_->close_transport();
  impl_->cancel_timers();
}

namespace {

template <class F>
std::shared_ptr<const F> shared_handler(F handler) {
  if (!handler) return nullptr;
  return std::make_shared<const F>(std::move(handler));
}

}  // namespace

void client::on_message(message_handler handler) { impl_->message_handler_ = shared_handler(std::move(handler)); }
void client::on_connection(connection_handler handler) {
  impl_->connection_handler_ = shared_handler(std::move(handler));
}
void client::set_durable_hooks(durable_hooks hooks) { impl_->hooks_ = std::make_shared<const durable_hooks>(std::move(hooks)); }

boost::system::error_code client::restore(std::vector<restored_message> messages,
                                          std::function<void(message_token, const publish_result&)> handler) {
  impl_->restored_handler_ = shared_handler(std::move(handler));
  return impl_->session_.restore(std::move(messages));
}

boost::system::error_code client::restore_incoming(std::vector<std::uint16_t> packet_ids) {
  return impl_->session_.restore_incoming(packet_ids);
}

void client::set_will(std::optional<will_options> will) {
  impl_->session_.set_will(will ? std::optional<will_message>(make_will(*will, impl_->options_.protocol)) : std::nullopt);
}

void client::start() { impl_->start(); }
void client::stop() {
  const auto keep = impl_;  // a handler called from stop() may destroy this client
  keep->stop();
}

void client::reconfigure(client_options options) {
  const auto keep = impl_;  // a handler called from here may destroy this client
  keep->reconfigure(std::move(options));
}

std::vector<message_token> client::withdraw_unsent() {
  auto tokens = impl_->session_.withdraw_queued(&impl::owners_token);
  for (const auto token : tokens) impl_->publish_handlers_.erase(token);
  return tokens;
}

message_token client::publish(publish_packet message, publish_handler handler, message_token token) {
  if (token == 0) token = impl_->next_token_++;
  if (handler) impl_->publish_handlers_.insert_or_assign(token, std::move(handler));
  impl_->session_.publish(std::move(message), token, impl_->now());
  impl_->post_pump();
  return token;
}

message_token client::publish(std::string topic, std::string_view payload, mqtt::qos qos, bool retain,
                              properties props, publish_handler handler) {
  publish_packet message;
  message.topic = std::move(topic);
  message.payload = bytes_of(payload);
  message.qos = qos;
  message.retain = retain;
  message.props = std::move(props);
  return publish(std::move(message), std::move(handler));
}

void client::subscribe(std::vector<subscription> subscriptions, subscribe_handler handler, properties props) {
  const message_token token = impl_->next_token_++;
  impl_->request_handlers_.insert_or_assign(token, std::move(handler));
  impl_->session_.subscribe(std::move(subscriptions), std::move(props), token, impl_->now());
  impl_->post_pump();
}

void client::unsubscribe(std::vector<std::string> filters, subscribe_handler handler, properties props) {
  const message_token token = impl_->next_token_++;
  impl_->request_handlers_.insert_or_assign(token, std::move(handler));
  impl_->session_.unsubscribe(std::move(filters), std::move(props), token, impl_->now());
  impl_->post_pump();
}

const endpoint& client::current_broker() const noexcept { return impl_->current_broker(); }

bool client::connected() const noexcept {
  return impl_->open_ && impl_->session_.current_state() == session::state::connected;
}

std::uint64_t client::connections() const noexcept { return impl_->connections_; }

const session& client::protocol_session() const noexcept { return impl_->session_; }
const broker_limits& client::broker_capabilities() const noexcept { return impl_->session_.limits(); }

}  // namespace fieldbridge::mqtt
