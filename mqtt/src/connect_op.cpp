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
    logger_->warn("mqtt: TLS certificate verification is OFF (insecure_skip_verify) for {}:{}",
                  options_.host, options_.port);
  }
  logger_->debug("mqtt: connecting to {}:{}{}", options_.host, options_.port, options_.tls ? " (TLS)" : "");
  open_timer_.expires_after(options_.connect_timeout);
  open_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (ec || generation != self->generation_ || !self->opening_) return;
    self->on_open(generation, make_error_code(errc::connect_timeout),
                  "no connection to " + self->options_.host + ":" + std::to_string(self->options_.port) +
                      " within the connect timeout");
  });
  transport_->async_open(options_.host, options_.port,
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
    logger_->warn("mqtt: {}", detail);
    report_down(ec, detail);
    schedule_reconnect();
    return;
  }
  open_ = true;
  session_.on_transport_connected(now());
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
  const auto delay = backoff_.next();
  logger_->debug("mqtt: reconnecting in {} ms", delay.count());
  const std::uint64_t generation = generation_;
  backoff_timer_.expires_after(delay);
  backoff_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (ec || !self->running_ || generation != self->generation_ || self->open_ || self->opening_) return;
    self->connect_attempt();
  });
}

}  // namespace fieldbridge::mqtt
