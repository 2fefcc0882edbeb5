#include "run/forwarder.hpp"

#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace fieldbridge::gateway {

namespace mq = fieldbridge::mqtt;

mq::publish_packet to_packet(store::message&& m) {
  mq::publish_packet p;
  p.topic = std::move(m.topic);
  p.payload.assign(m.payload.begin(), m.payload.end());
  p.qos = static_cast<mq::qos>(m.qos > 2 ? 2 : m.qos);
  p.retain = m.retain;
  return p;
}

forwarder::forwarder(boost::asio::io_context& io, mq::client& client, store::queue& store, logger_ptr log,
                     forwarder_options options)
    : io_(io), client_(client), store_(store), log_(std::move(log)), options_(options) {}

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
  if (restored.empty()) return;
  const auto count = restored.size();
  for (const auto& m : restored) in_flight_.insert(m.token);
  const auto ec = client_.restore(std::move(restored), [this](mq::message_token token, const mq::publish_result& r) {
    on_published(static_cast<store::message_id>(token), r);
  });
  if (!ec) {
    log_->info("resuming {} QoS 2 message(s) from the last run", count);
    return;
  }
  // The client refused them: send them again as new messages rather than lose them.
  log_->error("could not resume {} QoS 2 message(s): {}; they are sent again", count, ec.message());
  for (const auto& e : store_.resumed()) {
    in_flight_.erase(static_cast<mq::message_token>(e.id));
    store_.undelivered(e.id);
  }
}

void forwarder::schedule_pump() {
  if (pump_scheduled_ || stopping_) return;
  pump_scheduled_ = true;
  boost::asio::post(io_, [this] {
    pump_scheduled_ = false;
    pump();
  });
}

void forwarder::stop() { stopping_ = true; }

// Hands the client what the store has, while connected. While disconnected
// the store is the queue.
void forwarder::pump() {
  if (stopping_ || !client_.connected()) return;
  while (in_flight_.size() < options_.window) {
    auto batch = store_.take(options_.window - in_flight_.size());
    if (batch.empty()) break;
    for (auto& e : batch) {
      const auto id = e.id;
      in_flight_.insert(static_cast<mq::message_token>(id));
      client_.publish(to_packet(std::move(e.msg)), [this, id](const mq::publish_result& r) { on_published(id, r); },
                      static_cast<mq::message_token>(id));
    }
  }
}

void forwarder::on_published(store::message_id id, const mq::publish_result& r) {
  in_flight_.erase(static_cast<mq::message_token>(id));
  switch (r.outcome) {
    case mq::publish_outcome::delivered:
      store_.complete(id);
      ++counters_.published;
      break;
    case mq::publish_outcome::session_lost:
      if (r.past_pubrec) {
        // The broker had it (PUBREC) before it forgot the session: a resend
        // could duplicate a QoS 2 message, so it counts as delivered.
        store_.reject(id);
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
      store_.reject(id);
      ++counters_.rejected;
      log_->warn("message {} dropped: the broker cannot take it ({}{})", id, r.error.message(),
                 r.code == mq::reason_code::success ? "" : fmt::format(", reason 0x{:02x}", static_cast<unsigned>(r.code)));
      break;
    case mq::publish_outcome::aborted:
      // Stopping: it stays in the store and goes out again after a restart.
      return;
  }
  schedule_pump();
}

}  // namespace fieldbridge::gateway
