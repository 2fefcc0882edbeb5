#include "run/forwarder.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace fieldbridge::gateway {

namespace mq = fieldbridge::mqtt;

refusal_class classify_refusal(const mq::publish_result& r) noexcept {
  if (r.error.category() == mq::mqtt_category()) {
    // Refused by the client before it left: the message itself is wrong.
    switch (static_cast<mq::errc>(r.error.value())) {
      case mq::errc::invalid_topic:
      case mq::errc::message_too_large:
      case mq::errc::invalid_argument:
        return refusal_class::message;
      default:
        return refusal_class::connection;
    }
  }
  switch (r.code) {
    case mq::reason_code::topic_name_invalid:      // 0x90
    case mq::reason_code::packet_too_large:        // 0x95
    case mq::reason_code::payload_format_invalid:  // 0x99
      return refusal_class::message;
    default:
      // 0x80, 0x83, 0x87, 0x89, 0x97 and anything unknown: it may pass
      // (an ACL being fixed, a quota refilled), so nothing is thrown away.
      return refusal_class::connection;
  }
}

mq::publish_packet to_packet(store::message&& m) {
  mq::publish_packet p;
  p.topic = std::move(m.topic);
  p.payload.assign(m.payload.begin(), m.payload.end());
  p.qos = static_cast<mq::qos>(m.qos > 2 ? 2 : m.qos);
  p.retain = m.retain;
  return p;
}

namespace {

std::string describe(const mq::publish_result& r) {
  if (r.error.category() == mq::reason_category() || r.code != mq::reason_code::success)
    return fmt::format("{} (reason 0x{:02x})", mq::reason_message(r.code), static_cast<unsigned>(r.code));
  return r.error.message();
}

}  // namespace

forwarder::forwarder(boost::asio::io_context& io, mq::client& client, store::queue& store, logger_ptr log,
                     forwarder_options options)
    : io_(io), client_(client), store_(store), log_(std::move(log)), options_(options), pause_timer_(io) {}

void forwarder::attach() {
  mq::durable_hooks hooks;
  hooks.packet_id_assigned = [this](mq::message_token token, std::uint16_t packet_id, mq::qos q) {
    // QoS 1 needs no state (at least once); for QoS 2 the id must be on
    // disk before the PUBLISH leaves, so a restart resends it, not a copy.
    if (q == mq::qos::exactly_once && ours(token) &&
        !store_.record_publish_sent(static_cast<store::message_id>(token), packet_id))
      log_->error("message {}: its QoS 2 state is not on disk; a crash now could send it twice", token);
  };
  hooks.pubrec_received = [this](mq::message_token token, std::uint16_t) {
    if (ours(token) && !store_.record_pubrel_sent(static_cast<store::message_id>(token)))
      log_->error("message {}: its QoS 2 state is not on disk; a crash now could send it twice", token);
  };
  client_.set_durable_hooks(std::move(hooks));
  restore();
}

// QoS 2 exchanges that a previous run left under way go back to the client
// with their packet ids and states, before the first connect.
void forwarder::restore() {
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
  for (const auto& m : restored) in_flight_.insert(m.token);
  // Called even with nothing to resume: the store keeps the session, so a
  // CONNACK with session present 1 is ours ([MQTT-3.2.2-4]); without a
  // restore() the client would have to close such a connection.
  const auto ec = client_.restore(std::move(restored), [this](mq::message_token token, const mq::publish_result& r) {
    on_published(static_cast<store::message_id>(token), r);
  });
  if (count == 0 && !ec) return;
  if (!ec) {
    log_->info("resuming {} QoS 2 message(s) from the last run", count);
    return;
  }
  // The client refused them. Past PUBREC the broker has the message: a new
  // PUBLISH could deliver it twice, so it counts as delivered. The others
  // go out again as new messages, in order, rather than be lost.
  std::size_t completed = 0;
  for (const auto& e : store_.resumed()) {
    in_flight_.erase(static_cast<mq::message_token>(e.id));
    if (e.state == store::qos2_state::pubrel_sent) {
      store_.complete(e.id);
      ++counters_.published;
      ++completed;
    } else {
      store_.undelivered(e.id);
    }
  }
  log_->error("could not resume {} QoS 2 message(s): {}; {} past PUBREC count as delivered, {} are sent again",
              count, ec.message(), completed, count - completed);
}

void forwarder::schedule_pump() {
  if (pump_scheduled_ || stopping_) return;
  pump_scheduled_ = true;
  boost::asio::post(io_, [this] {
    pump_scheduled_ = false;
    pump();
  });
}

void forwarder::stop() {
  stopping_ = true;
  completions_.reset();
  pause_timer_.cancel();
}

// Hands the client what the store has, while connected and not paused. While
// disconnected the store is the queue.
void forwarder::pump() {
  completions_.reset();  // the removals of the acks since the last pump, in one write
  if (stopping_ || paused_ || !client_.connected()) return;
  if (hooks_.may_publish && !hooks_.may_publish()) return;  // sparkplug: births first
  // After a pause one message probes alone: were the broker still refusing
  // some and taking others, a full window would reorder them.
  const std::size_t window = probing_ ? 1 : options_.window;
  while (in_flight_.size() < window) {
    auto batch = store_.take(window - in_flight_.size());
    if (batch.empty()) break;
    for (auto& e : batch) {
      const auto id = e.id;
      const auto reading_time = e.msg.ts;
      auto packet = to_packet(std::move(e.msg));
      if (hooks_.prepare && !hooks_.prepare(packet, reading_time)) {  // sparkplug: seq at send time
        store_.reject(id);
        ++counters_.rejected;
        log_->warn("message {} dropped: it could not be prepared for publishing", id);
        continue;
      }
      in_flight_.insert(static_cast<mq::message_token>(id));
      client_.publish(std::move(packet), [this, id](const mq::publish_result& r) { on_published(id, r); },
                      static_cast<mq::message_token>(id));
    }
  }
}

void forwarder::on_published(store::message_id id, const mq::publish_result& r) {
  in_flight_.erase(static_cast<mq::message_token>(id));
  // Ended by the pump this schedules: a kill -9 before it costs a copy of
  // these (at least once), never a loss.
  if (!completions_ && !stopping_) completions_.emplace(store_);
  switch (r.outcome) {
    case mq::publish_outcome::delivered:
      store_.complete(id);
      ++counters_.published;
      if (!paused_ && probing_) {
        probing_ = false;  // the broker takes messages again: full window
        next_pause_ = std::chrono::milliseconds{0};
      }
      break;
    case mq::publish_outcome::session_lost:
      if (r.past_pubrec) {
        // The broker had it (PUBREC) before it forgot the session: a resend
        // could duplicate a QoS 2 message, so it counts as delivered.
        store_.complete(id);
        ++counters_.published;
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
      if (r.past_pubrec) {
        // A failing PUBCOMP: the broker acknowledged receipt already.
        store_.complete(id);
        ++counters_.published;
      } else if (classify_refusal(r) == refusal_class::message) {
        store_.reject(id);
        ++counters_.rejected;
        log_->warn("message {} dropped: the broker cannot take it: {}", id, describe(r));
      } else {
        store_.undelivered(id);  // back in order, before anything newer
        ++counters_.refused;
        pause(r);
      }
      break;
    case mq::publish_outcome::aborted:
      // Stopping: it stays in the store and goes out again after a restart.
      return;
  }
  schedule_pump();
}

// A refusal that may pass: stop handing out messages for a while (doubling
// for each refusal in a row), then try again from the oldest kept.
void forwarder::pause(const mq::publish_result& r) {
  if (paused_ || stopping_) return;  // the rest of the window comes back refused too
  next_pause_ = next_pause_.count() == 0 ? options_.pause_min : std::min(next_pause_ * 2, options_.pause_max);
  paused_ = r.code != mq::reason_code::success ? std::string(mq::reason_message(r.code)) : r.error.message();
  ++counters_.pauses;
  // What the client still holds unsent was handed over after the refused
  // message: it goes back to the store, to leave behind the refused one
  // once the pause ends, instead of overtaking it now (the client sends
  // nothing more from its queue until this handler has returned).
  for (const auto token : client_.withdraw_unsent()) {
    in_flight_.erase(token);
    store_.undelivered(static_cast<store::message_id>(token));
  }
  log_->warn("the broker refused a message: {}; every message is kept, publishing pauses for {} ms", describe(r),
             next_pause_.count());
  pause_timer_.expires_after(next_pause_);
  probing_ = true;
  pause_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    paused_.reset();
    log_->info("publishing again after the broker's refusal");
    pump();
  });
}

}  // namespace fieldbridge::gateway
