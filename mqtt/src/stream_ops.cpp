// The stream operations of an open connection: the read loop that feeds the
// session (which decodes partial packets), the write queue with one write in
// flight carrying everything the session queued meanwhile (its output is one
// buffer of whole packets, swapped out so it lives until the write
// completes), and the timer at the session's next deadline (keep-alive
// PINGREQ, 1.5x keep-alive and CONNACK time-outs).
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include "client_impl.hpp"

namespace fieldbridge::mqtt {

namespace {

std::string describe_stream_error(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated) {
    return "connection closed by the broker";
  }
  return ec.message();
}

}  // namespace

void client::impl::read_some(std::uint64_t generation) {
  transport_->async_read_some(
      boost::asio::buffer(read_buffer_),
      [self = shared_from_this(), transport = transport_, generation](boost::system::error_code ec,
                                                                      std::size_t size) {
        if (generation != self->generation_ || !self->open_) return;
        if (ec) {
          self->connection_lost(ec, "read failed: " + describe_stream_error(ec));
          return;
        }
        const auto writes_before = self->writes_started_;
        self->session_.on_bytes({self->read_buffer_.data(), size}, self->now());
        self->pump();
        if (generation != self->generation_ || !self->open_) return;
        // Packets are waiting for a batch of acks while this read wrote
        // nothing to carry the TCP ACK: send it now, or a broker with Nagle
        // on holds its next acks until our delayed ACK (~40 ms).
        if (self->writes_started_ == writes_before && self->session_.holding()) {
          self->transport_->acknowledge_now();
        }
        self->read_some(generation);
      });
}

void client::impl::flush() {
  if (writing_ || !open_) return;
  if (!session_.has_output()) {
    if (closing_) connection_lost(close_reason_, close_detail_);
    return;
  }
  session_.take_output(write_buffer_);
  qos0_writing_.swap(qos0_unwritten_);
  writing_ = true;
  ++writes_started_;
  write_started_ = now();
  arm_write_timer();
  transport_->async_write(boost::asio::buffer(write_buffer_),
                          [self = shared_from_this(), transport = transport_, generation = generation_](
                              boost::system::error_code ec, std::size_t) { self->on_written(generation, ec); });
}

// The deadline of the write in flight. Armed once and re-armed from its own
// expiry for the write then in flight, not for every write: a busy stream
// costs no timer operation per write.
void client::impl::arm_write_timer() {
  if (write_timer_armed_ || options_.write_timeout.count() <= 0) return;
  write_timer_armed_ = true;
  write_timer_.expires_at(write_started_ + options_.write_timeout);
  write_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->write_timer_armed_ = false;
    if (ec || !self->open_ || !self->writing_) return;
    if (self->now() >= self->write_started_ + self->options_.write_timeout) {
      self->connection_lost(make_error_code(errc::write_timeout),
                            "a write did not complete within the write timeout: the broker stopped reading");
      return;
    }
    self->arm_write_timer();
  });
}

void client::impl::on_written(std::uint64_t generation, boost::system::error_code ec) {
  if (generation != generation_ || !open_) return;
  if (ec) {
    writing_ = false;
    connection_lost(ec, "write failed: " + describe_stream_error(ec));
    return;
  }
  // writing_ stays set while the QoS 0 completions run, so whatever their
  // handlers publish is gathered into the next write instead of going alone.
  std::vector<message_token> written;
  written.swap(qos0_writing_);
  for (const message_token token : written) {
    complete_publish(token, {publish_outcome::delivered, {}, reason_code::success, false});
  }
  if (generation != generation_) return;
  written.clear();
  if (qos0_writing_.empty()) qos0_writing_.swap(written);  // keep the capacity
  writing_ = false;
  session_.on_output_drained(now());  // QoS 0 held back by the high-water mark may go
  pump();
}

void client::impl::arm_session_timer() {
  if (!running_ && !open_) return;
  const auto deadline = session_.next_deadline();
  if (deadline == session_clock::time_point::max()) return;
  // Deadlines move later with every packet; an earlier wake-up is cheap
  // (on_time just re-arms), re-arming on every packet is not.
  if (session_timer_armed_ && session_timer_expiry_ <= deadline) return;
  session_timer_armed_ = true;
  session_timer_expiry_ = deadline;
  session_timer_.expires_at(deadline);
  session_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec == boost::asio::error::operation_aborted) return;
    self->session_timer_armed_ = false;
    self->session_.on_time(self->now());
    self->pump();
  });
}

void client::impl::cancel_timers() {
  session_timer_.cancel();
  session_timer_armed_ = false;
  backoff_timer_.cancel();
  open_timer_.cancel();
  close_timer_.cancel();
  write_timer_.cancel();
}

void client::impl::close_transport() {
  if (transport_) transport_->close();
}

void client::impl::connection_lost(boost::system::error_code ec, std::string detail) {
  if (!open_) return;
  if (close_reason_) {  // the first recorded reason wins (e.g. the broker's DISCONNECT)
    ec = close_reason_;
    detail = close_detail_;
  }
  open_ = false;
  closing_ = false;
  writing_ = false;
  ++generation_;  // completions of this connection are ignored from now on
  close_transport();
  session_.on_transport_closed();
  // QoS 0 messages whose write did not complete: the owner decides whether
  // to publish them again.
  std::vector<message_token> lost;
  lost.swap(qos0_writing_);
  lost.insert(lost.end(), qos0_unwritten_.begin(), qos0_unwritten_.end());
  qos0_unwritten_.clear();
  for (const message_token token : lost) {
    complete_publish(token, {publish_outcome::not_written, make_error_code(errc::connection_lost),
                             reason_code::unspecified_error, false});
  }
  if (running_ && pending_options_) {
    logger_->info("mqtt: disconnected from {} to connect with the new settings", broker_text());
  } else if (running_) {
    logger_->warn("mqtt: disconnected from {}: {}", broker_text(), detail);
  }
  report_down(ec, detail);
  pump();
  if (running_ && pending_options_) {
    apply_pending_options();
    connect_attempt();
  } else if (running_) {
    schedule_reconnect();
  } else {
    cancel_timers();
  }
}

}  // namespace fieldbridge::mqtt
