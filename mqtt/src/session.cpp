// The session state machine: the ack handlers, flow control (window,
// refill batches, held-back PUBRELs), keep-alive and the connection's
// state. Its bookkeeping lives apart: the outgoing table (packet ids, QoS
// 1/2 messages in flight, outgoing_table.hpp) and the subscription memory
// (subscription_memory.hpp). The QoS 1 hot path (publish -> PUBLISH bytes,
// PUBACK -> completion) does no search and no allocation in steady state:
// the table is flat, and the output and event vectors are swapped with the
// owner's, not reallocated.
#include <fieldbridge/mqtt/session.hpp>

#include "outgoing_table.hpp"
#include "subscription_memory.hpp"

#include <algorithm>
#include <bitset>
#include <type_traits>

namespace fieldbridge::mqtt {

using boost::system::error_code;
using time_point = session_clock::time_point;

struct session::impl {
  struct queued {
    publish_packet message;
    message_token token = 0;
    bool counted_qos0 = false;  // counted in queued_qos0
  };
  struct request {
    std::uint16_t packet_id = 0;
    message_token token = 0;
    bool is_subscribe = true;
    bool restore = false;   // sent by the session itself to restore remembered subscriptions
    std::size_t count = 0;  // filters, to check the ack's code count
    // A SUBSCRIBE's filters, when they are remembered: the SUBACK's codes
    // say, filter by filter, what the broker granted.
    std::vector<std::string> filters;
  };
  // SUBSCRIBE/UNSUBSCRIBE asked for before CONNACK: sent once connected.
  struct held_request {
    message_token token = 0;
    bool is_subscribe = true;
    std::vector<subscription> subscriptions;
    std::vector<std::string> filters;
    properties props;
  };

  decoder dec;
  packet scratch;  // decoded packet, reused
  outgoing_table out;  // packet ids and the QoS 1/2 messages holding one
  std::deque<queued> queue;
  std::vector<request> requests;
  std::vector<held_request> held;
  std::bitset<65536> incoming_qos2;  // ids of received QoS 2 PUBLISH awaiting PUBREL
  std::size_t incoming_qos2_count = 0;
  subscription_memory subscriptions;  // restore_subscriptions

  time_point connect_started{};
  time_point last_sent{};
  time_point last_received{};
  bool ping_outstanding = false;
  bool window_full = false;  // reached the window; refills wait for refill_batch free slots
  bool refused_unseen = false;  // a publish was refused: the queue waits for resume_after_refusal()
  // PUBRELs answering PUBRECs, not written yet: they wait to share a write
  // with the next refill or with each other while the broker owes us acks.
  std::vector<std::uint16_t> delayed_pubrels;
  // When the current holding back began (see session::holding); a broker
  // that keeps its acks must not keep our packets longer than max_hold.
  bool hold_active = false;
  time_point hold_started{};
  // Incoming QoS 2 ids received on this connection, counted against our
  // Receive Maximum (the broker's send quota starts afresh on each connection).
  std::bitset<65536> incoming_counted;
  std::size_t incoming_counted_count = 0;
  // QoS 0 messages waiting in the queue (back-pressure or disconnected).
  std::size_t queued_qos0 = 0;
  // The owner gave us session state (restore / restore_incoming) or we had
  // a session with the broker: a CONNACK with session present = 1 is then
  // consistent ([MQTT-3.2.2-4]).
  bool has_state = false;
  bool force_clean_start = false;  // the next CONNECT starts clean (after an unexpected session present)
  bool clean_start_sent = false;   // the CONNECT of this connection had Clean Start 1
  // Downgrades reported on this connection (one event per kind).
  bool reported_qos_downgrade = false;
  bool reported_retain_downgrade = false;
  bool reported_puback_downgrade = false;

  impl(protocol_version v, std::uint32_t max_packet) : dec(v, max_packet) {}

  // A SUBSCRIBE/UNSUBSCRIBE that will get no ack: tell its owner (or, for a
  // restoring SUBSCRIBE, the client, and restore again on the next connection).
  void fail_request(request r, const error_code& ec, std::vector<session_event>& events) {
    if (r.restore) {
      subscriptions.on_restore_lost();
      events.emplace_back(subscriptions_restored_event{std::move(r.filters), {}, {}, ec});
      return;
    }
    if (r.is_subscribe) subscriptions.drop_pending(r.token);
    events.emplace_back(request_failed_event{r.token, ec});
  }
};

session::session(session_config config)
    : impl_(std::make_unique<impl>(config.version, config.maximum_packet_size)), config_(std::move(config)) {}

session::~session() = default;

std::uint16_t session::keep_alive() const noexcept {
  return limits_.server_keep_alive ? *limits_.server_keep_alive : config_.keep_alive_s;
}

std::size_t session::inflight_count() const noexcept { return impl_->out.size(); }
std::size_t session::queued_count() const noexcept { return impl_->queue.size(); }

std::uint16_t session::refill_batch() const noexcept {
  const auto win = window();
  const auto wanted = config_.refill_batch != 0 ? config_.refill_batch : std::clamp<std::uint16_t>(win / 4, 1, 16);
  return std::min(wanted, win);
}

std::uint16_t session::window() const noexcept {
  const auto configured = std::max<std::uint16_t>(config_.max_inflight, 1);
  return std::min(configured, limits_.receive_maximum);
}

void session::take_output(std::vector<std::uint8_t>& into) noexcept {
  into.clear();
  std::swap(into, output_);
}

void session::take_events(std::vector<session_event>& into) noexcept {
  into.clear();
  std::swap(into, events_);
}

// --- internal helpers ------------------------------------------------------

// Appends a packet and stamps the send time: the one place where every
// packet we send is checked against the broker's Maximum Packet Size
// ([MQTT-3.2.2-15]: PUBLISH, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT, AUTH, acks).
// On failure the output is as it was.
template <class P>
error_code session::send_checked(const P& p, time_point now) {
  const auto before = output_.size();
  if (auto ec = encode(p, config_.version, output_)) return ec;
  if (limits_.maximum_packet_size != 0 && output_.size() - before > limits_.maximum_packet_size) {
    output_.resize(before);
    return make_error_code(errc::message_too_large);
  }
  impl_->last_sent = now;
  return {};
}

// For packets we build ourselves, which cannot fail but for the broker's size.
template <class P>
bool session::send(const P& p, time_point now) {
  return !send_checked(p, now);
}

boost::system::error_code session::restore(std::vector<restored_message> messages) {
  if (state_ != state::disconnected) return make_error_code(errc::not_connected);
  for (const auto& m : messages) {
    const bool qos_ok = m.message.qos == qos::at_least_once || m.message.qos == qos::exactly_once;
    if (m.packet_id == 0 || !qos_ok ||
        (m.state == outgoing_state::pubrel_sent && m.message.qos != qos::exactly_once)) {
      return make_error_code(errc::invalid_argument);
    }
  }
  std::bitset<65536> seen;
  for (const auto& m : messages) {
    if (seen.test(m.packet_id) || impl_->out.id_in_use(m.packet_id)) {
      return make_error_code(errc::packet_identifier_in_use);
    }
    seen.set(m.packet_id);
  }
  impl_->has_state = true;
  for (auto& m : messages) impl_->out.add(m.token, std::move(m.message), m.packet_id, m.state);
  return {};
}

error_code session::restore_incoming(std::span<const std::uint16_t> packet_ids) {
  if (state_ != state::disconnected) return make_error_code(errc::not_connected);
  if (std::find(packet_ids.begin(), packet_ids.end(), std::uint16_t{0}) != packet_ids.end()) {
    return make_error_code(errc::invalid_argument);
  }
  auto& d = *impl_;
  d.has_state = true;
  for (const auto id : packet_ids) {
    if (d.incoming_qos2.test(id)) continue;
    d.incoming_qos2.set(id);
    ++d.incoming_qos2_count;
  }
  return {};
}

error_code session::reconfigure(session_config config) {
  if (state_ != state::disconnected) return make_error_code(errc::not_connected);
  config_ = std::move(config);
  return {};
}

std::vector<subscription> session::remembered_subscriptions() const { return impl_->subscriptions.granted(); }

void session::on_transport_connected(time_point now, bool start_clean) {
  auto& d = *impl_;
  d.dec.reset();
  d.dec.set_version(config_.version);
  d.dec.set_maximum_packet_size(config_.maximum_packet_size);
  // 3.1.1 cannot announce the limit: skip what exceeds it instead of
  // closing, or a compliant broker sends it again after every reconnect.
  d.dec.set_skip_oversized(config_.version == protocol_version::v311);
  output_.clear();
  d.incoming_counted.reset();
  d.incoming_counted_count = 0;
  d.reported_qos_downgrade = false;
  d.reported_retain_downgrade = false;
  d.reported_puback_downgrade = false;
  state_ = state::connecting;
  d.connect_started = now;
  d.last_received = now;
  d.ping_outstanding = false;
  limits_ = broker_limits{};

  connect_packet c;
  c.version = config_.version;
  c.client_id = config_.client_id;
  c.clean_start = config_.clean_start || d.force_clean_start || start_clean;
  d.clean_start_sent = c.clean_start;
  c.keep_alive = config_.keep_alive_s;
  c.username = config_.username;
  c.password = config_.password;
  c.will = config_.will;
  if (config_.version == protocol_version::v5) {
    c.props = config_.connect_properties;
    // We resolve no topic aliases, so we never allow the broker to use them.
    c.props.erase(property_id::topic_alias_maximum);
    if (config_.session_expiry_s != 0) c.props.set(property_id::session_expiry_interval, config_.session_expiry_s);
    if (config_.receive_maximum != 65535 && config_.receive_maximum != 0) {
      c.props.set(property_id::receive_maximum, std::uint32_t{config_.receive_maximum});
    }
    if (config_.maximum_packet_size != 0) {
      c.props.set(property_id::maximum_packet_size, config_.maximum_packet_size);
    }
  }
  if (!send(c, now)) {
    state_ = state::closing;
    events_.emplace_back(close_requested_event{make_error_code(errc::invalid_argument)});
  }
}

void session::on_transport_closed() {
  auto& d = *impl_;
  state_ = state::disconnected;
  output_.clear();
  d.dec.reset();
  d.out.on_connection_lost();
  d.delayed_pubrels.clear();  // their slots resend PUBREL on the next connection
  if (!config_.resend_after_reconnect) {
    // The owner sends them again itself: hand back every unfinished publish.
    for (const auto slot : d.out.ordered_slots()) {
      auto& o = d.out.at(slot);
      const auto token = o.token;
      const bool past_pubrec = o.state == outgoing_state::pubrel_sent;
      const auto q = o.message.qos;
      d.out.release(o.message.packet_id);
      if (past_pubrec) {
        events_.emplace_back(publish_completed_event{token, q, reason_code::success, true});
      } else {
        events_.emplace_back(publish_failed_event{token, make_error_code(errc::session_lost), false});
      }
    }
    for (auto& q : d.queue) events_.emplace_back(publish_failed_event{q.token, make_error_code(errc::session_lost), false});
    d.queue.clear();
    d.queued_qos0 = 0;
  }
  d.hold_active = false;
  for (auto& r : d.requests) {
    d.out.free_request_id(r.packet_id);
    d.fail_request(std::move(r), make_error_code(errc::connection_lost), events_);
  }
  d.requests.clear();
  for (const auto& h : d.held) {
    if (h.is_subscribe) d.subscriptions.drop_pending(h.token);
    events_.emplace_back(request_failed_event{h.token, make_error_code(errc::connection_lost)});
  }
  d.held.clear();
}

void session::fail_connection(const error_code& ec, time_point now) {
  if (state_ == state::closing || state_ == state::disconnected) return;
  if (config_.version == protocol_version::v5) {
    disconnect_packet d;
    d.code = disconnect_reason(ec);
    if (!send(d, now)) {
      d.code = reason_code::unspecified_error;
      send(d, now);
    }
  }
  state_ = state::closing;
  events_.emplace_back(close_requested_event{ec});
}

// Encodes one outgoing QoS 1/2 message (first send or resend) into the output.
bool session::send_outgoing(std::uint32_t slot, bool resend, time_point now) {
  auto& d = *impl_;
  auto& o = d.out.at(slot);
  if (o.state == outgoing_state::pubrel_sent) {
    send(pubrel_packet{o.message.packet_id, reason_code::success, {}}, now);
  } else {
    // A resumed session is resent under this connection's limits too: the
    // broker may have lowered them since the first send.
    downgrade(o.message, o.token);
    if (o.message.qos == qos::at_most_once) {
      // Maximum QoS 0: the message leaves without an id, done once written.
      auto m = std::move(o.message);
      const auto token = o.token;
      d.out.release(m.packet_id);
      send_qos0(m, token, now);
      return false;
    }
    o.message.dup = resend;
    if (auto ec = send_checked(o.message, now)) {
      const auto token = o.token;
      d.out.release(o.message.packet_id);
      events_.emplace_back(publish_failed_event{token, ec, false});
      return false;
    }
  }
  d.out.mark_sent(slot);
  return true;
}

// The broker forbids sending above its Maximum QoS and retained messages
// when Retain Available is 0, not downgrading: send at its maximum, without
// retain, and say so once per connection.
void session::downgrade(publish_packet& m, message_token token) {
  auto& d = *impl_;
  const auto asked = m.qos;
  bool lowered = false;
  if (static_cast<unsigned>(m.qos) > static_cast<unsigned>(limits_.maximum_qos)) {
    m.qos = limits_.maximum_qos;
    lowered = !d.reported_qos_downgrade;
    d.reported_qos_downgrade = true;
  }
  bool cleared = false;
  if (m.retain && !limits_.retain_available) {
    m.retain = false;
    cleared = !d.reported_retain_downgrade;
    d.reported_retain_downgrade = true;
  }
  if (lowered || cleared) {
    events_.emplace_back(publish_downgraded_event{token, asked, m.qos, cleared, false});
  }
}

// Sends what may go now: unsent in-flight messages first (resends, in
// order), then the queue while the window has room, once a batch of slots is
// free (refill_batch). QoS 0 at the queue's head needs no window.
void session::pump(time_point now) {
  if (state_ != state::connected) return;
  auto& d = *impl_;
  const std::size_t win = window();
  // Once the window was full, it refills only when a batch of slots is free.
  if (d.window_full && d.out.active() + refill_batch() <= win) d.window_full = false;
  send_delayed_pubrels(!d.window_full && !d.queue.empty(), now);
  if (d.out.active() < d.out.size() && d.out.active() < win) {
    for (const auto slot : d.out.ordered_slots()) {
      if (d.out.active() >= win) break;
      if (!d.out.at(slot).sent_on_connection) send_outgoing(slot, true, now);
    }
  }
  while (!d.queue.empty() && !d.refused_unseen) {
    auto& q = d.queue.front();
    if (q.message.qos != qos::at_most_once) {
      if (d.window_full || d.out.active() >= win || d.out.size() > d.out.active()) break;
      downgrade(q.message, q.token);
    }
    if (q.message.qos == qos::at_most_once) {
      if (above_high_water()) break;  // back-pressure: waits, in order, for on_output_drained()
      if (q.counted_qos0) --d.queued_qos0;
      send_qos0(q.message, q.token, now);
      d.queue.pop_front();
      continue;
    }
    const auto id = d.out.allocate_id();
    if (id == 0) break;  // every id busy (requests included): wait for an ack
    const auto slot = d.out.add(q.token, std::move(q.message), id, outgoing_state::publish_sent);
    auto& o = d.out.at(slot);
    d.queue.pop_front();
    const auto token = o.token;
    const auto q_level = o.message.qos;
    if (send_outgoing(slot, false, now)) {
      events_.emplace_back(packet_id_assigned_event{token, id, q_level});
    }
    d.hold_active = false;  // what was held back is leaving
  }
  if (d.out.active() >= win) d.window_full = true;
  note_hold(now);
}

// Starts the hold clock when packets begin to be held back.
void session::note_hold(time_point now) {
  auto& d = *impl_;
  if (!holding()) {
    d.hold_active = false;
  } else if (!d.hold_active) {
    d.hold_active = true;
    d.hold_started = now;
  }
}

void session::send_qos0(publish_packet& m, message_token token, time_point now) {
  m.packet_id = 0;
  m.dup = false;
  downgrade(m, token);
  if (auto ec = send_checked(m, now)) {
    events_.emplace_back(publish_failed_event{token, ec, false});
    return;
  }
  events_.emplace_back(publish_completed_event{token, qos::at_most_once, reason_code::success});
}

void session::publish(publish_packet message, message_token token, time_point now) {
  auto& d = *impl_;
  // Refuse at once what can never be sent; the broker's limits are checked
  // again at send time since they may change on reconnect.
  // A client never sends a Subscription Identifier (3.3.4), and we negotiate no Topic Alias.
  if (static_cast<unsigned>(message.qos) > 2 || message.props.contains(property_id::topic_alias) ||
      message.props.contains(property_id::subscription_identifier)) {
    events_.emplace_back(publish_failed_event{token, make_error_code(errc::invalid_argument), false});
    return;
  }
  if (message.qos == qos::at_most_once && state_ == state::connected && d.queued_qos0 == 0 && !above_high_water()) {
    send_qos0(message, token, now);  // QoS 0 overtakes the queue
    return;
  }
  message.packet_id = message.qos == qos::at_most_once ? 0 : 1;
  message.dup = false;
  const auto size = encoded_size(message, config_.version);
  auto ec = size.error;
  if (!ec && state_ == state::connected && limits_.maximum_packet_size != 0 &&
      size.size > limits_.maximum_packet_size) {
    ec = make_error_code(errc::message_too_large);
  }
  if (ec) {
    events_.emplace_back(publish_failed_event{token, ec, false});
    return;
  }
  const bool qos0 = message.qos == qos::at_most_once;
  if (qos0) ++d.queued_qos0;
  d.queue.push_back({std::move(message), token, qos0});
  pump(now);
}

bool session::above_high_water() const noexcept {
  return config_.output_high_water != 0 && output_.size() >= config_.output_high_water;
}

void session::on_output_drained(time_point now) { pump(now); }

void session::resume_after_refusal(time_point now) {
  auto& d = *impl_;
  if (!d.refused_unseen) return;
  d.refused_unseen = false;
  pump(now);
}

std::vector<message_token> session::withdraw_queued(const std::function<bool(message_token)>& which) {
  auto& d = *impl_;
  std::vector<message_token> taken;
  std::erase_if(d.queue, [&](const impl::queued& q) {
    if (!which(q.token)) return false;
    if (q.counted_qos0) --d.queued_qos0;
    taken.push_back(q.token);
    return true;
  });
  return taken;
}

void session::subscribe(std::vector<subscription> subscriptions, properties props, message_token token,
                        time_point now) {
  if (config_.restore_subscriptions) impl_->subscriptions.remember_pending(subscriptions, props, token);
  if (state_ == state::connecting) {
    impl_->held.push_back({token, true, std::move(subscriptions), {}, std::move(props)});
    return;
  }
  const auto count = subscriptions.size();
  send_request(subscribe_packet{0, std::move(subscriptions), std::move(props)}, count, token, now);
}

void session::unsubscribe(std::vector<std::string> filters, properties props, message_token token,
                          time_point now) {
  // Forgotten at once, whatever the UNSUBACK: a lost session must not get
  // back what the owner asked to remove.
  if (config_.restore_subscriptions) impl_->subscriptions.forget(filters);
  if (state_ == state::connecting) {
    impl_->held.push_back({token, false, {}, std::move(filters), std::move(props)});
    return;
  }
  const auto count = filters.size();
  send_request(unsubscribe_packet{0, std::move(filters), std::move(props)}, count, token, now);
}

// SUBSCRIBE and UNSUBSCRIBE share one path: a packet id, the encode (which
// checks the caller's filters and properties) and a request awaiting its ack.
template <class P>
void session::send_request(P p, std::size_t count, message_token token, time_point now, bool restore) {
  auto& d = *impl_;
  constexpr bool is_subscribe = std::is_same_v<P, subscribe_packet>;
  impl::request r{0, token, is_subscribe, restore, count, {}};
  if constexpr (is_subscribe) {
    if (restore || config_.restore_subscriptions) {
      r.filters.reserve(p.subscriptions.size());
      for (const auto& sub : p.subscriptions) r.filters.push_back(sub.filter);
    }
  }
  if (state_ != state::connected) {
    d.fail_request(std::move(r), make_error_code(errc::not_connected), events_);
    return;
  }
  const auto id = d.out.allocate_id();
  if (id == 0) {
    d.fail_request(std::move(r), make_error_code(errc::packet_identifier_in_use), events_);
    return;
  }
  p.packet_id = id;
  if constexpr (is_subscribe) {
    if (auto ec = fit_subscribe(p)) {
      d.fail_request(std::move(r), ec, events_);
      return;
    }
  }
  if (auto ec = send_checked(p, now)) {
    d.fail_request(std::move(r), ec, events_);
    return;
  }
  d.out.hold_request_id(id);
  r.packet_id = id;
  d.requests.push_back(std::move(r));
}

// One SUBSCRIBE per distinct set of SUBSCRIBE properties (subscription
// identifier, user properties) among the granted filters; usually one.
void session::send_restore_subscriptions(time_point now) {
  for (auto& p : impl_->subscriptions.take_restore()) {
    const auto count = p.subscriptions.size();
    send_request(std::move(p), count, 0, now, true);
  }
}

void session::disconnect(reason_code code, properties props, time_point now) {
  if (state_ != state::connected && state_ != state::connecting) return;
  disconnect_packet p{code, std::move(props)};
  if (!send(p, now)) {
    // Bad user properties or code: still say goodbye, plainly.
    send(disconnect_packet{reason_code::normal_disconnection, {}}, now);
  }
  state_ = state::closing;
  events_.emplace_back(close_requested_event{});
}

void session::send_auth(auth_packet auth, time_point now) {
  if (state_ != state::connected && state_ != state::connecting) return;
  if (auto ec = send_checked(auth, now)) fail_connection(ec, now);
}

// A SUBSCRIBE within what the broker said it supports (CONNACK) and what a
// client may send: No Local on a shared subscription is a protocol error
// ([MQTT-3.8.3-4]); wildcards and shared subscriptions only when available;
// the Subscription Identifier is left out when the broker has none.
error_code session::fit_subscribe(subscribe_packet& p) const {
  for (const auto& sub : p.subscriptions) {
    const bool shared = sub.filter.starts_with("$share/");
    if (shared && sub.options.no_local) return make_error_code(errc::invalid_argument);
    if (shared && !limits_.shared_subscription_available) return make_error_code(errc::feature_not_available);
    if (!limits_.wildcard_subscription_available && sub.filter.find_first_of("+#") != std::string::npos) {
      return make_error_code(errc::feature_not_available);
    }
  }
  if (!limits_.subscription_identifiers_available) p.props.erase(property_id::subscription_identifier);
  return {};
}

// --- time ------------------------------------------------------------------

namespace {

std::chrono::milliseconds seconds_ms(std::uint32_t s) { return std::chrono::milliseconds(std::int64_t{s} * 1000); }

}  // namespace

time_point session::next_deadline() const noexcept {
  const auto& d = *impl_;
  if (state_ == state::connecting) return d.connect_started + config_.connect_timeout;
  if (state_ != state::connected) return time_point::max();
  auto deadline = d.hold_active ? d.hold_started + config_.max_hold : time_point::max();
  if (keep_alive() == 0) return deadline;
  const auto ka = seconds_ms(keep_alive());
  deadline = std::min({deadline, d.last_sent + ka, d.last_received + ka * 3 / 2});
  if (!d.ping_outstanding) deadline = std::min(deadline, d.last_received + ka);
  return deadline;
}

void session::on_time(time_point now) {
  auto& d = *impl_;
  if (state_ == state::connecting) {
    if (now >= d.connect_started + config_.connect_timeout) {
      state_ = state::closing;
      events_.emplace_back(close_requested_event{make_error_code(errc::connect_timeout)});
    }
    return;
  }
  if (state_ != state::connected) return;
  if (d.hold_active && now >= d.hold_started + config_.max_hold) {
    // The acks we waited for did not come: send what was held back now.
    d.window_full = false;
    send_delayed_pubrels(true, now);
    pump(now);
  }
  if (keep_alive() == 0) return;
  const auto ka = seconds_ms(keep_alive());
  if (now >= d.last_received + ka * 3 / 2) {
    // The broker is gone; a DISCONNECT would not reach it.
    state_ = state::closing;
    events_.emplace_back(close_requested_event{make_error_code(errc::keep_alive_timeout)});
    return;
  }
  // Ping when we were silent for keep-alive, and also when the broker was:
  // a QoS 0 stream keeps us talking but never makes the broker answer.
  if (now >= d.last_sent + ka || (!d.ping_outstanding && now >= d.last_received + ka)) {
    send(pingreq_packet{}, now);
    d.ping_outstanding = true;
  }
}

// --- received packets -------------------------------------------------------

void session::on_bytes(std::span<const std::uint8_t> bytes, time_point now) {
  auto& d = *impl_;
  if (state_ != state::connecting && state_ != state::connected) return;
  d.dec.feed(bytes);
  while (state_ == state::connecting || state_ == state::connected) {
    const auto st = d.dec.next(d.scratch);
    if (st == decoder::status::need_more) break;
    if (st == decoder::status::failed) {
      fail_connection(d.dec.error(), now);
      break;
    }
    d.last_received = now;
    d.ping_outstanding = false;
    if (st == decoder::status::skipped) {
      handle_skipped(d.dec.skipped(), now);
      continue;
    }
    handle_packet(now);
  }
}

// A PUBLISH above our limit from a 3.1.1 broker (which could not be told
// the limit): not delivered; acknowledged, so it is not sent again forever.
void session::handle_skipped(const decoder::skipped_packet& skipped, time_point now) {
  auto& d = *impl_;
  if (state_ != state::connected) {
    fail_connection(make_error_code(errc::packet_too_large), now);
    return;
  }
  events_.emplace_back(message_dropped_event{skipped.type, skipped.qos, skipped.packet_id, skipped.size});
  if (skipped.qos == qos::at_least_once) {
    send(puback_packet{skipped.packet_id, reason_code::success, {}}, now);
  } else if (skipped.qos == qos::exactly_once) {
    if (!d.incoming_qos2.test(skipped.packet_id)) {
      d.incoming_qos2.set(skipped.packet_id);
      ++d.incoming_qos2_count;
    }
    send(pubrec_packet{skipped.packet_id, reason_code::success, {}}, now);
  }
}

void session::handle_packet(time_point now) {
  auto& d = *impl_;
  auto& p = d.scratch;
  if (state_ == state::connecting) {
    if (auto* ack = std::get_if<connack_packet>(&p)) {
      handle_connack(*ack, now);
    } else if (auto* a = std::get_if<auth_packet>(&p)) {
      events_.emplace_back(auth_received_event{std::move(*a)});
    } else {
      fail_connection(make_error_code(errc::protocol_error), now);
    }
    return;
  }
  switch (type_of(p)) {
    case packet_type::publish: handle_publish(std::get<publish_packet>(p), now); break;
    case packet_type::puback: handle_puback(std::get<puback_packet>(p), now); break;
    case packet_type::pubrec: handle_pubrec(std::get<pubrec_packet>(p), now); break;
    case packet_type::pubrel: handle_pubrel(std::get<pubrel_packet>(p), now); break;
    case packet_type::pubcomp: handle_pubcomp(std::get<pubcomp_packet>(p), now); break;
    case packet_type::suback: handle_suback(std::get<suback_packet>(p), now); break;
    case packet_type::unsuback: handle_unsuback(std::get<unsuback_packet>(p), now); break;
    case packet_type::pingresp: break;
    case packet_type::disconnect: {
      auto& dis = std::get<disconnect_packet>(p);
      disconnect_received_event ev{dis.code, {}, {}};
      if (auto s = dis.props.string(property_id::reason_string)) ev.reason_string = *s;
      if (auto s = dis.props.string(property_id::server_reference)) ev.server_reference = *s;
      events_.emplace_back(std::move(ev));
      state_ = state::closing;
      events_.emplace_back(close_requested_event{make_error_code(errc::disconnected_by_broker)});
      break;
    }
    case packet_type::auth: events_.emplace_back(auth_received_event{std::move(std::get<auth_packet>(p))}); break;
    default:
      // CONNECT, CONNACK twice, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: a broker never sends these.
      fail_connection(make_error_code(errc::protocol_error), now);
      break;
  }
}

void session::handle_connack(connack_packet& ack, time_point now) {
  auto& d = *impl_;
  if (is_failure(ack.code)) {
    connect_refused_event ev{ack.code, {}, {}};
    if (auto s = ack.props.string(property_id::reason_string)) ev.reason_string = *s;
    if (auto s = ack.props.string(property_id::server_reference)) ev.server_reference = *s;
    events_.emplace_back(std::move(ev));
    state_ = state::closing;
    events_.emplace_back(close_requested_event{make_error_code(ack.code)});
    return;
  }
  // A session we asked to discard cannot be present (3.2.2-4 / 3.2.2.1.1).
  if (ack.session_present && d.clean_start_sent) {
    fail_connection(make_error_code(errc::protocol_error), now);
    return;
  }
  // Session present while we hold no state (never restored, never
  // connected): the client must close ([MQTT-3.2.2-4]); the next attempt
  // starts clean, so this does not repeat.
  if (ack.session_present && !d.has_state) {
    d.force_clean_start = true;
    fail_connection(make_error_code(errc::unexpected_session_present), now);
    return;
  }
  d.has_state = true;
  d.force_clean_start = false;
  const auto& props = ack.props;
  broker_limits l;
  if (auto v = props.integer(property_id::receive_maximum)) l.receive_maximum = static_cast<std::uint16_t>(*v);
  if (auto v = props.integer(property_id::maximum_packet_size)) l.maximum_packet_size = *v;
  if (auto v = props.integer(property_id::maximum_qos)) l.maximum_qos = static_cast<qos>(*v);
  if (auto v = props.integer(property_id::retain_available)) l.retain_available = *v != 0;
  if (auto v = props.integer(property_id::wildcard_subscription_available)) {
    l.wildcard_subscription_available = *v != 0;
  }
  if (auto v = props.integer(property_id::subscription_identifier_available)) {
    l.subscription_identifiers_available = *v != 0;
  }
  if (auto v = props.integer(property_id::shared_subscription_available)) l.shared_subscription_available = *v != 0;
  if (auto v = props.integer(property_id::topic_alias_maximum)) l.topic_alias_maximum = static_cast<std::uint16_t>(*v);
  if (auto v = props.integer(property_id::server_keep_alive)) l.server_keep_alive = static_cast<std::uint16_t>(*v);
  limits_ = l;
  if (auto id = props.string(property_id::assigned_client_identifier)) config_.client_id = std::string(*id);

  state_ = state::connected;
  d.last_received = now;
  const bool present = ack.session_present;
  events_.emplace_back(connected_event{present, std::move(ack)});

  if (!present) {
    // The broker has no session. What it had acknowledged with PUBREC it
    // has delivered: done. The rest goes out again as new messages, in
    // their original order, before anything queued later, so the order
    // holds across the reconnect.
    std::vector<impl::queued> again;
    for (const auto slot : d.out.ordered_slots()) {
      auto& o = d.out.at(slot);
      const auto token = o.token;
      if (o.state == outgoing_state::pubrel_sent) {
        d.out.release(o.message.packet_id);
        events_.emplace_back(publish_completed_event{token, qos::exactly_once, reason_code::success, true});
        continue;
      }
      auto m = std::move(o.message);
      d.out.release(m.packet_id);
      m.packet_id = 0;
      m.dup = false;
      again.push_back({std::move(m), token, false});
    }
    d.queue.insert(d.queue.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
    // The broker forgot its side of incoming QoS 2 flows too: their ids are
    // free (and the store forgets them).
    d.incoming_counted.reset();
    d.incoming_counted_count = 0;
    for (std::uint32_t id = 1; d.incoming_qos2_count != 0 && id < 65536; ++id) {
      if (!d.incoming_qos2.test(id)) continue;
      d.incoming_qos2.reset(id);
      --d.incoming_qos2_count;
      events_.emplace_back(incoming_qos2_released_event{static_cast<std::uint16_t>(id)});
    }
    // ... and every subscription.
    d.subscriptions.on_session_lost();
  }
  // Subscriptions first, so replies to what we publish next find them; then
  // the resends (session present), then the queue.
  if (d.subscriptions.restore_needed()) send_restore_subscriptions(now);
  pump(now);
  // Requests held while connecting go out as they are: subscribe() and
  // unsubscribe() already updated the remembered subscriptions.
  auto held = std::move(d.held);
  d.held.clear();
  for (auto& h : held) {
    if (h.is_subscribe) {
      const auto count = h.subscriptions.size();
      send_request(subscribe_packet{0, std::move(h.subscriptions), std::move(h.props)}, count, h.token, now);
    } else {
      const auto count = h.filters.size();
      send_request(unsubscribe_packet{0, std::move(h.filters), std::move(h.props)}, count, h.token, now);
    }
  }
}

void session::handle_publish(publish_packet& m, time_point now) {
  auto& d = *impl_;
  // We announce Topic Alias Maximum 0 (absent), so any alias is invalid.
  if (m.props.contains(property_id::topic_alias)) {
    fail_connection(make_error_code(errc::topic_alias_invalid), now);
    return;
  }
  switch (m.qos) {
    case qos::at_most_once: events_.emplace_back(message_received_event{std::move(m)}); break;
    case qos::at_least_once: {
      const auto id = m.packet_id;
      events_.emplace_back(message_received_event{std::move(m)});
      send(puback_packet{id, reason_code::success, {}}, now);
      break;
    }
    case qos::exactly_once: {
      const auto id = m.packet_id;
      if (!d.incoming_qos2.test(id)) {
        // Only MQTT 5 announces our Receive Maximum, and only what this
        // connection received counts against it; 3.1.1 cannot be told.
        if (config_.version == protocol_version::v5 &&
            d.incoming_counted_count >= std::max<std::uint16_t>(config_.receive_maximum, 1)) {
          fail_connection(make_error_code(errc::receive_maximum_exceeded), now);
          return;
        }
        d.incoming_qos2.set(id);
        ++d.incoming_qos2_count;
        d.incoming_counted.set(id);
        ++d.incoming_counted_count;
        events_.emplace_back(message_received_event{std::move(m)});
        events_.emplace_back(incoming_qos2_received_event{id});
      }
      // A duplicate (same id before PUBREL) is acknowledged again but not delivered.
      send(pubrec_packet{id, reason_code::success, {}}, now);
      break;
    }
  }
}

void session::handle_puback(const puback_packet& ack, time_point now) {
  auto& d = *impl_;
  auto* o = d.out.find(ack.packet_id);
  // Some 3.1.1 brokers (RabbitMQ) take QoS 2 as QoS 1 and answer PUBACK:
  // the message is delivered at QoS 1; waiting for a PUBREC would stall.
  const bool qos2_as_qos1 = o && config_.version == protocol_version::v311 && o->message.qos == qos::exactly_once &&
                            o->state == outgoing_state::publish_sent;
  if (!o || (o->message.qos != qos::at_least_once && !qos2_as_qos1)) {
    fail_connection(make_error_code(errc::protocol_error), now);
    return;
  }
  const auto token = o->token;
  if (qos2_as_qos1 && !d.reported_puback_downgrade) {
    d.reported_puback_downgrade = true;
    events_.emplace_back(publish_downgraded_event{token, qos::exactly_once, qos::at_least_once, false, true});
  }
  d.out.release(ack.packet_id);
  if (is_failure(ack.code)) {
    events_.emplace_back(publish_failed_event{token, make_error_code(ack.code), false});
    d.refused_unseen = true;
  } else {
    events_.emplace_back(publish_completed_event{token, qos::at_least_once, ack.code});
  }
  pump(now);
}

void session::handle_pubrec(const pubrec_packet& rec, time_point now) {
  auto& d = *impl_;
  auto* o = d.out.find(rec.packet_id);
  if (!o || o->message.qos != qos::exactly_once) {
    if (config_.version == protocol_version::v5 && !is_failure(rec.code)) {
      // Spec 4.3.3: answer an unknown id with PUBREL "packet identifier
      // not found"; the broker then owes us a PUBCOMP for it.
      send(pubrel_packet{rec.packet_id, reason_code::packet_identifier_not_found, {}}, now);
      owe_pubcomp(rec.packet_id);
      return;
    }
    fail_connection(make_error_code(errc::protocol_error), now);
    return;
  }
  if (is_failure(rec.code)) {
    // The flow ends here: no PUBREL, the id is free again.
    const auto token = o->token;
    d.out.release(rec.packet_id);
    events_.emplace_back(publish_failed_event{token, make_error_code(rec.code), false});
    d.refused_unseen = true;
    pump(now);
    return;
  }
  const bool first = o->state == outgoing_state::publish_sent;
  if (!first) {
    // A duplicate PUBREC: answer it with PUBREL again (unless ours has not
    // left yet), which the broker answers with one more PUBCOMP.
    const bool waiting = std::find(d.delayed_pubrels.begin(), d.delayed_pubrels.end(), rec.packet_id) !=
                         d.delayed_pubrels.end();
    if (!waiting && o->sent_on_connection) {
      send(pubrel_packet{rec.packet_id, reason_code::success, {}}, now);
      owe_pubcomp(rec.packet_id);
    }
    return;
  }
  o->state = outgoing_state::pubrel_sent;
  // The message body is never needed again: only PUBREL can be resent.
  o->message.topic.clear();
  o->message.topic.shrink_to_fit();
  o->message.payload = {};
  o->message.props = {};
  d.delayed_pubrels.push_back(rec.packet_id);
  if (first) events_.emplace_back(pubrec_received_event{o->token, rec.packet_id});
  send_delayed_pubrels(false, now);
  note_hold(now);
}

// Writes the delayed PUBRELs when a write is due anyway (`now_anyway`), when
// a batch of them is ready, or when the broker owes us nothing else: then no
// ack is coming that could carry them, and waiting would stall the flow.
void session::send_delayed_pubrels(bool now_anyway, time_point now) {
  auto& d = *impl_;
  if (d.delayed_pubrels.empty()) return;
  const std::size_t owed = d.out.active() - std::min(d.out.active(), d.delayed_pubrels.size());
  if (!now_anyway && owed > 0 && d.delayed_pubrels.size() < refill_batch()) return;
  for (const auto id : d.delayed_pubrels) send(pubrel_packet{id, reason_code::success, {}}, now);
  d.delayed_pubrels.clear();
  d.hold_active = false;
}

bool session::holding() const noexcept {
  const auto& d = *impl_;
  if (state_ != state::connected) return false;
  // Free slots left unused for a batch, or PUBRELs kept for company; a
  // window with no free slot is flow control, not holding back.
  return !d.delayed_pubrels.empty() || (d.window_full && !d.queue.empty() && d.out.active() < window());
}

void session::handle_pubrel(const pubrel_packet& rel, time_point now) {
  auto& d = *impl_;
  const bool held = d.incoming_qos2.test(rel.packet_id);
  if (held) {
    d.incoming_qos2.reset(rel.packet_id);
    --d.incoming_qos2_count;
  }
  if (d.incoming_counted.test(rel.packet_id)) {
    d.incoming_counted.reset(rel.packet_id);
    --d.incoming_counted_count;
  }
  // An id already released (e.g. PUBREL resent after reconnect) is completed again.
  send(pubcomp_packet{rel.packet_id, held ? reason_code::success : reason_code::packet_identifier_not_found, {}},
       now);
  if (held) events_.emplace_back(incoming_qos2_released_event{rel.packet_id});
}

void session::handle_pubcomp(const pubcomp_packet& comp, time_point now) {
  auto& d = *impl_;
  auto* o = d.out.find(comp.packet_id);
  // A PUBCOMP for a PUBREL still held back answers something never sent.
  const bool unsent = std::find(d.delayed_pubrels.begin(), d.delayed_pubrels.end(), comp.packet_id) !=
                      d.delayed_pubrels.end();
  if (!o || o->state != outgoing_state::pubrel_sent || unsent) {
    if (d.out.take_owed_pubcomp(comp.packet_id)) return;  // one we asked for beyond the normal flow
    fail_connection(make_error_code(errc::protocol_error), now);
    return;
  }
  const auto token = o->token;
  d.out.release(comp.packet_id);
  if (comp.code == reason_code::packet_identifier_not_found) {
    // After a resent PUBREL: the broker had already completed the flow
    // (spec 0x92 "not an error during recovery"), so it had the message.
    events_.emplace_back(publish_completed_event{token, qos::exactly_once, comp.code, true});
  } else if (is_failure(comp.code)) {
    events_.emplace_back(publish_failed_event{token, make_error_code(comp.code), true});
  } else {
    events_.emplace_back(publish_completed_event{token, qos::exactly_once, comp.code});
  }
  pump(now);
}

void session::owe_pubcomp(std::uint16_t id) { impl_->out.owe_pubcomp(id); }

namespace {

template <class Requests>
auto find_request(Requests& requests, std::uint16_t id, bool is_subscribe) {
  return std::find_if(requests.begin(), requests.end(),
                      [&](const auto& r) { return r.packet_id == id && r.is_subscribe == is_subscribe; });
}

}  // namespace

void session::handle_suback(suback_packet& ack, time_point now) {
  complete_request<subscribe_completed_event>(ack, true, now);
}

void session::handle_unsuback(unsuback_packet& ack, time_point now) {
  // MQTT 3.1.1's UNSUBACK carries no codes; 5's has one per filter.
  complete_request<unsubscribe_completed_event>(ack, false, now);
}

// The ack of a SUBSCRIBE or UNSUBSCRIBE: one code per filter asked for (none
// in a 3.1.1 UNSUBACK), then its packet id is free again.
template <class Event, class Ack>
void session::complete_request(Ack& ack, bool is_subscribe, time_point now) {
  auto& d = *impl_;
  auto it = find_request(d.requests, ack.packet_id, is_subscribe);
  const bool codes_expected = is_subscribe || config_.version == protocol_version::v5;
  if (it == d.requests.end() || (codes_expected && ack.codes.size() != it->count)) {
    fail_connection(make_error_code(errc::protocol_error), now);
    return;
  }
  auto r = std::move(*it);
  d.out.free_request_id(ack.packet_id);
  d.requests.erase(it);
  if (r.restore) {
    subscriptions_restored_event ev{std::move(r.filters), std::move(ack.codes), {}, {}};
    if (auto s = ack.props.string(property_id::reason_string)) ev.reason_string = *s;
    events_.emplace_back(std::move(ev));
  } else {
    if (is_subscribe && config_.restore_subscriptions) {
      for (std::size_t i = 0; i < r.filters.size(); ++i) {
        d.subscriptions.settle(r.filters[i], r.token, !is_failure(ack.codes[i]));
      }
      d.subscriptions.forget_if_empty();
    }
    events_.emplace_back(Event{r.token, std::move(ack.codes), std::move(ack.props)});
  }
  pump(now);
}

}  // namespace fieldbridge::mqtt
