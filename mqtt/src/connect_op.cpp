// The connect operation: open TCP (and TLS) within the connect timeout, hand
// the open stream to the session (which writes CONNECT and times the
// CONNACK), and on failure wait an exponential back-off with jitter between
// reconnect_min and reconnect_max (backoff.hpp) before the next attempt.
#include "client_impl.hpp"

namespace fieldbridge::mqtt {

void client::impl::start() {
  if (running_) return;
  if (options_.tls && !tls_context_) tls_context_ = detail::make_tls_context(*options_.tls);
  running_ = true;
  backoff_.reset();
  connect_attempt();
}

void client::impl::connect_attempt() {
  const std::uint64_t generation = ++generation_;
  close_reason_.clear();
  close_detail_.clear();
  close_code_.reset();
  close_server_reference_.clear();
  opening_ = true;
  transport_ = std::make_shared<detail::transport>(io_, tls_context_.get(),
                                                   options_.tls ? &*options_.tls : nullptr);
  if (options_.tls && options_.tls->insecure_skip_verify) {
    logger_->warn("mqtt: TLS certificate verification is OFF (insecure_skip_verify) for {}", broker_text());
  }
  logger_->debug("mqtt: connecting to {}{}{}", broker_text(), broker_position(), options_.tls ? " (TLS)" : "");
  open_timer_.expires_after(options_.connect_timeout);
  open_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (ec || generation != self->generation_ || !self->opening_) return;
    self->on_open(generation, make_error_code(errc::connect_timeout),
                  "no connection to " + self->broker_text() + " within the connect timeout");
  });
  const auto& broker = current_broker();
  transport_->async_open(broker.host, broker.port,
                         [self = shared_from_this(), transport = transport_, generation](
                             boost::system::error_code ec, std::string detail) {
                           self->on_open(generation, ec, detail);
                         });
}

void client::impl::on_open(std::uint64_t generation, boost::system::error_code ec, const std::string& detail) {
  if (generation != generation_ || !opening_) return;  // a late completion of an abandoned attempt
  opening_ = false;
  open_timer_.cancel();
  if (ec) {
    close_transport();
    // With a list, say which broker: not every detail names it (TLS verification).
    logger_->warn("mqtt: {}{}", brokers_.size() > 1 ? broker_text() + ": " : "", detail);
    report_down(ec, detail);
    schedule_reconnect();
    return;
  }
  open_ = true;
  const bool other_broker = broker_index_ != session_broker_;
  if (other_broker) {
    logger_->info("mqtt: {} is not the broker our session state is from ({}): connecting with Clean Start, "
                  "unacknowledged messages go out again",
                  broker_text(),
                  session_broker_ < brokers_.size() ? to_string(brokers_[session_broker_]) : "the settings before a reload");
  }
  session_.on_transport_connected(now(), other_broker);
  read_some(generation);
  pump();
}

void client::impl::schedule_reconnect() {
  if (!running_) return;
  if (!options_.reconnect) {
    running_ = false;
    cancel_timers();
    return;
  }
  next_broker();
  const auto delay = backoff_.next();
  logger_->debug("mqtt: reconnecting to {} in {} ms", broker_text(), delay.count());
  const std::uint64_t generation = generation_;
  backoff_timer_.expires_after(delay);
  backoff_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (ec || !self->running_ || generation != self->generation_ || self->open_ || self->opening_) return;
    self->connect_attempt();
  });
}

// In order, wrapping after the last. The back-off is not reset here: it
// counts failed attempts across the whole list (all brokers down must not
// mean an attempt every reconnect_min) and resets on a CONNACK success, so
// the first move after a lost connection waits only about reconnect_min.
void client::impl::next_broker() {
  if (brokers_.size() < 2) return;
  broker_index_ = (broker_index_ + 1) % brokers_.size();
  logger_->info("mqtt: failing over to the next broker, {}{}", broker_text(), broker_position());
}

}  // namespace fieldbridge::mqtt
