// The MQTT client session as a pure state machine: no sockets, no timers.
// Fed with transport events, received bytes, requests and the time; it
// produces bytes to write and events for the application. It owns the
// delivery guarantees: packet ids, the in-flight window, the QoS 1/2 flows,
// resend after reconnect, keep-alive deadlines and limits from CONNACK.
//
// Typical use by the Asio layer (one connection at a time):
//   on TCP/TLS connected:   s.on_transport_connected(now)      -> CONNECT in output
//   on bytes read:          s.on_bytes(bytes, now)
//   on timer:               s.on_time(now); re-arm at s.next_deadline()
//   on requests:            s.publish(...), s.subscribe(...), s.disconnect(...)
//   after each call:        s.take_output(buf) and write it; s.take_events(evs) and dispatch
//   after dispatching:      s.resume_after_refusal(now) (the queue waits after a refusal)
//   on close_requested:     write what is in the output, then close the transport
//   on transport closed:    s.on_transport_closed()
//
// Not thread-safe: owned by the one io_context thread of the client.
#pragma once

#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/packet.hpp>
#include <fieldbridge/mqtt/properties.hpp>
#include <fieldbridge/mqtt/reason_code.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace fieldbridge::mqtt {

using session_clock = std::chrono::steady_clock;

// The caller's handle for a message or request (the gateway uses store row ids).
using message_token = std::uint64_t;

// What the client asks for when it connects.
struct session_config {
  protocol_version version = protocol_version::v5;
  std::string client_id;  // empty: MQTT 5 takes the broker's assigned id; 3.1.1 requires clean_start
  bool clean_start = false;
  std::uint16_t keep_alive_s = 60;  // 0 disables keep-alive
  std::uint32_t session_expiry_s = 0;  // MQTT 5; 0xFFFFFFFF = never expires
  std::optional<std::string> username;
  std::optional<std::vector<std::uint8_t>> password;
  std::optional<will_message> will;
  // Our in-flight window for QoS 1/2; the effective one is min(this, the broker's Receive Maximum).
  std::uint16_t max_inflight = 20;
  // Once the window is full, queued messages wait until this many slots are
  // free again, then go out together: a busy stream costs one write (and one
  // broker wake-up) per batch instead of one per message. Acks for the
  // messages in flight are what frees the slots, so nothing waits longer than
  // those acks take. 0 picks a quarter of the window, at most 16; 1 sends each
  // message the moment a slot frees.
  std::uint16_t refill_batch = 0;
  // The longest anything is held back for a batch (a refill, or a PUBREL
  // waiting to share a write) when the acks that would release it do not
  // come; a broker that sits on its acks must not stall the stream.
  std::chrono::milliseconds max_hold{20};
  // Receive Maximum we announce (MQTT 5): how many QoS 1/2 publishes the broker may have in flight to us.
  std::uint16_t receive_maximum = 65535;
  // Maximum Packet Size we enforce on decode (0 = protocol maximum). MQTT 5
  // announces it in CONNECT, so a compliant broker never sends more. MQTT
  // 3.1.1 cannot announce it: a bigger packet is then skipped without being
  // buffered (a QoS 1/2 PUBLISH is acknowledged, so the broker does not send
  // it again after every reconnect) and reported as message_dropped_event;
  // the connection stays up.
  std::uint32_t maximum_packet_size = 1024 * 1024;
  // Back-pressure: while this many bytes of output wait for the owner to
  // write them, QoS 0 publishes wait in the queue (in order) instead of
  // being encoded; on_output_drained() lets them go. 0 = no mark.
  std::size_t output_high_water = 256 * 1024;
  std::chrono::milliseconds connect_timeout{10'000};
  // Remember the subscriptions the broker granted to subscribe() (until
  // unsubscribe() of the same filter; the latest options per filter win) and
  // subscribe to them again, before new publishes, when a CONNACK says the
  // session is not present. See subscriptions_restored_event.
  bool restore_subscriptions = true;
  // false (Sparkplug, whose messages carry a per-connection seq): when the
  // connection goes down, every publish that is not complete fails with
  // errc::session_lost (publish_failed_event), queued ones included, QoS 2
  // past PUBREC completes (past_pubrec); none is sent again by the session.
  // The owner publishes them again, rebuilt, once the new connection is set up.
  bool resend_after_reconnect = true;
  properties connect_properties;  // extra CONNECT properties (user properties, ...)
};

// State of an outgoing QoS 1/2 message, as the durable store records it.
enum class outgoing_state : std::uint8_t {
  publish_sent,  // PUBLISH sent (or to be resent), waiting for PUBACK / PUBREC
  pubrel_sent,   // QoS 2 past PUBREC: PUBREL sent (or to be resent), waiting for PUBCOMP
};

// A message the owner persisted before a restart, given back with restore().
// In pubrel_sent state the message body may be empty (only the id matters).
struct restored_message {
  message_token token = 0;
  std::uint16_t packet_id = 0;
  outgoing_state state = outgoing_state::publish_sent;
  publish_packet message;  // qos must be 1 or 2 (2 for pubrel_sent)
};

// Limits and facts the broker gave in CONNACK (defaults where absent).
struct broker_limits {
  std::uint16_t receive_maximum = 65535;
  std::uint32_t maximum_packet_size = 0;  // 0 = no limit announced
  mqtt::qos maximum_qos = qos::exactly_once;
  bool retain_available = true;
  bool wildcard_subscription_available = true;
  bool subscription_identifiers_available = true;
  bool shared_subscription_available = true;
  std::uint16_t topic_alias_maximum = 0;  // ignored: we never send aliases
  std::optional<std::uint16_t> server_keep_alive;
};

// --- events for the owner -------------------------------------------------

// CONNACK accepted. The output already holds resent packets when session_present.
struct connected_event {
  bool session_present = false;
  connack_packet connack;  // reason string, assigned client id, user properties ...
};

// CONNACK refused; close_requested follows.
struct connect_refused_event {
  reason_code code = reason_code::unspecified_error;
  std::string reason_string;  // MQTT 5, may be empty
  std::string server_reference;  // MQTT 5 (0x9C use another server, 0x9D server moved), may be empty
};

// The owner must close the transport after writing the pending output (a
// DISCONNECT with the right reason code is in it when MQTT 5 allows one),
// then call on_transport_closed(). `reason` is an errc or reason_category code.
struct close_requested_event {
  boost::system::error_code reason;
};

// The broker sent DISCONNECT; close_requested follows.
struct disconnect_received_event {
  reason_code code = reason_code::normal_disconnection;
  std::string reason_string;
  std::string server_reference;
};

// Durable hook: a QoS 1/2 message got its packet id; its PUBLISH is in the
// output. The store records "row token has id N, publish_sent".
struct packet_id_assigned_event {
  message_token token = 0;
  std::uint16_t packet_id = 0;
  mqtt::qos qos = qos::at_least_once;
};

// Durable hook: QoS 2 got PUBREC, PUBREL is in the output; from now on only
// PUBREL is ever resent. The store records "id N, pubrel_sent".
struct pubrec_received_event {
  message_token token = 0;
  std::uint16_t packet_id = 0;
};

// The message is done: QoS 0 handed to the output, QoS 1 PUBACK, QoS 2
// PUBCOMP, each with a success code (0x00 or 0x10 no matching subscribers).
// A QoS 2 message whose session was lost after PUBREC also completes here
// (`past_pubrec`: the broker had it), and so does one answered with PUBCOMP
// 0x92 after a resent PUBREL (the broker had finished it already).
struct publish_completed_event {
  message_token token = 0;
  mqtt::qos qos = qos::at_most_once;
  reason_code code = reason_code::success;
  bool past_pubrec = false;
};

// The message is not delivered and will not be retried by the session:
// refused before sending (errc::message_too_large, invalid_topic, ...) or
// refused by the broker (reason_category code from PUBACK/PUBREC >= 0x80).
// A lost session is not a failure: the session publishes what was not past
// PUBREC again by itself, in its original order, before anything queued
// later (packet_id_assigned_event again, with a new id).
struct publish_failed_event {
  message_token token = 0;
  boost::system::error_code error;
  bool past_pubrec = false;
};

// An application message from the broker (QoS 2: delivered exactly once).
struct message_received_event {
  publish_packet message;
};

// Durable hook: an incoming QoS 2 PUBLISH with this id was delivered (the
// message_received_event before this one) and its PUBREC is in the output.
// Until incoming_qos2_released, a PUBLISH with this id is a duplicate:
// acknowledged again, not delivered. The store records the id, and gives it
// back with restore_incoming() after a restart.
struct incoming_qos2_received_event {
  std::uint16_t packet_id = 0;
};

// Durable hook: the id is free again: PUBREL came and PUBCOMP is in the
// output, or a CONNACK said the session is not present (one event per id).
// The store forgets the id.
struct incoming_qos2_released_event {
  std::uint16_t packet_id = 0;
};

struct subscribe_completed_event {
  message_token token = 0;
  std::vector<reason_code> codes;  // one per filter: granted QoS or failure
  properties props;
};

struct unsubscribe_completed_event {
  message_token token = 0;
  std::vector<reason_code> codes;  // empty for 3.1.1
  properties props;
};

// A SUBSCRIBE/UNSUBSCRIBE could not complete (errc::connection_lost,
// errc::invalid_topic, errc::not_connected, ...).
struct request_failed_event {
  message_token token = 0;
  boost::system::error_code error;
};

// The answer to a SUBSCRIBE the session sent by itself to restore the
// remembered subscriptions (session_config::restore_subscriptions): the
// SUBACK's codes, one per filter, or `error` when it was not answered
// (errc::connection_lost: tried again on the next connection).
struct subscriptions_restored_event {
  std::vector<std::string> filters;
  std::vector<reason_code> codes;
  std::string reason_string;  // MQTT 5
  boost::system::error_code error;
};

// Sent below what was asked, because of the broker's limits (Maximum QoS,
// Retain Available in CONNACK, or a 3.1.1 broker answering QoS 2 with
// PUBACK): reported once per connection and kind, for the first message.
struct publish_downgraded_event {
  message_token token = 0;
  mqtt::qos requested = qos::exactly_once;
  mqtt::qos sent = qos::at_least_once;
  bool retain_cleared = false;
  bool answered_with_puback = false;  // 3.1.1: QoS 2 PUBLISH answered by PUBACK, taken as delivered at QoS 1
};

// A packet above our maximum_packet_size from a 3.1.1 broker (which could
// not be told the limit) was skipped: not delivered, acknowledged when it
// was a QoS 1/2 PUBLISH.
struct message_dropped_event {
  packet_type type = packet_type::publish;
  mqtt::qos qos = qos::at_most_once;
  std::uint16_t packet_id = 0;
  std::size_t size = 0;
};

// AUTH from the broker (enhanced authentication); the owner answers with send_auth().
struct auth_received_event {
  auth_packet auth;
};

using session_event =
    std::variant<connected_event, connect_refused_event, close_requested_event, disconnect_received_event,
                 packet_id_assigned_event, pubrec_received_event, publish_completed_event, publish_failed_event,
                 message_received_event, incoming_qos2_received_event, incoming_qos2_released_event,
                 subscribe_completed_event, unsubscribe_completed_event, request_failed_event,
                 subscriptions_restored_event, auth_received_event, publish_downgraded_event,
                 message_dropped_event>;

// The session. State survives transport reconnects (that is its purpose);
// destroy it only when the application's session ends.
class session {
 public:
  enum class state : std::uint8_t {
    disconnected,  // no transport
    connecting,    // CONNECT written, waiting for CONNACK
    connected,     // CONNACK success
    closing,       // close_requested emitted, waiting for on_transport_closed()
  };

  explicit session(session_config config);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // Restores messages persisted by the owner, in their original order, before
  // the first connect. Their ids are reserved; on the first CONNACK with
  // session present = 1 they are resent (PUBLISH with DUP=1 or PUBREL), with
  // session present = 0 those past PUBREC complete (publish_completed,
  // past_pubrec) and the others are published again as new messages, first.
  // Calling it, even with no message, says the owner keeps the session
  // state: without it (and before a first CONNACK) a CONNACK with session
  // present = 1 closes the connection ([MQTT-3.2.2-4]) and the next
  // attempt starts clean.
  // Errors: errc::invalid_argument (id 0, QoS 0, pubrel_sent with QoS 1),
  // errc::packet_identifier_in_use (an id twice), errc::not_connected when
  // called while a transport is up.
  boost::system::error_code restore(std::vector<restored_message> messages);

  // The Last Will of the next CONNECT (and every one after), replacing the
  // configured one; nullopt: none. The connection under way keeps the will
  // its CONNECT carried (Sparkplug's bdSeq changes per connect this way).
  void set_will(std::optional<will_message> will) { config_.will = std::move(will); }

  // Restores the ids of incoming QoS 2 messages that were delivered but not
  // yet released (incoming_qos2_received without incoming_qos2_released)
  // before a restart, before the first connect: a PUBLISH (DUP) with one of
  // them is answered with PUBREC but not delivered again, and its PUBREL
  // completes it. With session present = 0 they are released.
  // Errors: errc::invalid_argument (id 0), errc::not_connected when called
  // while a transport is up.
  boost::system::error_code restore_incoming(std::span<const std::uint16_t> packet_ids);

  // New CONNECT settings for the connections from now on (the client's
  // reconfigure), keeping every message, id and subscription. Only while
  // disconnected (else errc::not_connected, and nothing changes).
  boost::system::error_code reconfigure(session_config config);

  // --- transport ---
  // The byte stream is open: writes CONNECT to the output, starts the connect timeout.
  // `start_clean`: this connection asks for Clean Start 1 whatever the
  // configuration says (the client's failover to a broker whose session, if
  // any, is not the one our state belongs to); with session present 0 the
  // unfinished messages go out again as new ones, as after any session loss.
  void on_transport_connected(session_clock::time_point now, bool start_clean = false);
  // Bytes from the broker; decodes and handles every complete packet.
  void on_bytes(std::span<const std::uint8_t> bytes, session_clock::time_point now);
  // The transport is gone (closed, failed or closed by us). Unsent output is
  // dropped; in-flight messages wait for the next connection; pending
  // SUBSCRIBE/UNSUBSCRIBE fail with errc::connection_lost.
  void on_transport_closed();
  // Time passes: sends PINGREQ when nothing was sent for keep-alive, requests
  // close on keep-alive timeout (1.5x) or connect timeout.
  void on_time(session_clock::time_point now);
  // When on_time() must be called next (time_point::max() when nothing is due).
  session_clock::time_point next_deadline() const noexcept;

  // --- requests ---
  // Queues a message; `message.packet_id` and `dup` are ignored. QoS 0 goes
  // out at once when connected (overtaking queued QoS 1/2); QoS 1/2 go out
  // when the window has room, else wait in order. While disconnected every
  // message waits. A message that can never be sent fails at once
  // (publish_failed_event).
  void publish(publish_packet message, message_token token, session_clock::time_point now);
  // SUBSCRIBE / UNSUBSCRIBE need a connection (else request_failed not_connected).
  // With restore_subscriptions, subscribe() remembers each filter once the
  // SUBACK grants it, and unsubscribe() forgets the filters at once.
  void subscribe(std::vector<subscription> subscriptions, properties props, message_token token,
                 session_clock::time_point now);
  void unsubscribe(std::vector<std::string> filters, properties props, message_token token,
                   session_clock::time_point now);
  // Graceful end: writes DISCONNECT (with `code` in MQTT 5) and requests close.
  void disconnect(reason_code code, properties props, session_clock::time_point now);
  // AUTH for enhanced authentication (MQTT 5).
  void send_auth(auth_packet auth, session_clock::time_point now);

  // The owner wrote what it took with take_output(): QoS 0 messages held
  // back by output_high_water may go now.
  void on_output_drained(session_clock::time_point now);

  // A publish the broker refused (PUBACK or PUBREC with a failure code)
  // frees its slot, but nothing more leaves the queue until the owner has
  // seen the refusal and calls this: the owner may first withdraw what it
  // queued behind the refused message (withdraw_queued), so that nothing of
  // it overtakes the refused one, which the owner may publish again.
  void resume_after_refusal(session_clock::time_point now);
  // Takes the queued messages (not sent yet: waiting for the window, the
  // connection or back-pressure) whose token `which` accepts out of the
  // queue and returns their tokens in queue order; no event is raised for them.
  std::vector<message_token> withdraw_queued(const std::function<bool(message_token)>& which);

  // --- output ---
  bool has_output() const noexcept { return !output_.empty(); }
  // Swaps the pending bytes into `into` (which is cleared first and whose
  // capacity the session reuses): no allocation in steady state.
  void take_output(std::vector<std::uint8_t>& into) noexcept;
  bool has_events() const noexcept { return !events_.empty(); }
  // Same swap for the events, in the order they happened.
  void take_events(std::vector<session_event>& into) noexcept;

  // --- observers ---
  state current_state() const noexcept { return state_; }
  const session_config& config() const noexcept { return config_; }
  // The client id in use (the assigned one once the broker gave it).
  const std::string& client_id() const noexcept { return config_.client_id; }
  const broker_limits& limits() const noexcept { return limits_; }
  // The keep-alive in force: the Server Keep Alive if given, else ours (seconds).
  std::uint16_t keep_alive() const noexcept;
  // QoS 1/2 messages holding a packet id (sent or waiting to be resent).
  std::size_t inflight_count() const noexcept;
  // Messages waiting for the window or a connection.
  std::size_t queued_count() const noexcept;
  // Connected and keeping packets back to send them together (a refill
  // batch, delayed PUBRELs) until the acks the broker owes us arrive.
  bool holding() const noexcept;
  // The effective window: min(max_inflight, broker receive maximum).
  std::uint16_t window() const noexcept;
  // How many slots must be free before queued messages refill the window.
  std::uint16_t refill_batch() const noexcept;
  // The subscriptions restore_subscriptions would send again, in the order
  // they were first granted (the SUBSCRIBE properties are not included).
  std::vector<subscription> remembered_subscriptions() const;

 private:
  template <class P>
  boost::system::error_code send_checked(const P& p, session_clock::time_point now);
  template <class P>
  bool send(const P& p, session_clock::time_point now);
  template <class P>
  void send_request(P p, std::size_t count, message_token token, session_clock::time_point now,
                    bool restore = false);
  void fail_connection(const boost::system::error_code& ec, session_clock::time_point now);
  void downgrade(publish_packet& m, message_token token);
  bool above_high_water() const noexcept;
  boost::system::error_code fit_subscribe(subscribe_packet& p) const;
  void owe_pubcomp(std::uint16_t id);
  void handle_skipped(const decoder::skipped_packet& skipped, session_clock::time_point now);
  bool send_outgoing(std::uint32_t slot, bool resend, session_clock::time_point now);
  void send_delayed_pubrels(bool now_anyway, session_clock::time_point now);
  void note_hold(session_clock::time_point now);
  void send_qos0(publish_packet& m, message_token token, session_clock::time_point now);
  void pump(session_clock::time_point now);
  void handle_packet(session_clock::time_point now);
  void handle_connack(connack_packet& ack, session_clock::time_point now);
  void handle_publish(publish_packet& m, session_clock::time_point now);
  void handle_puback(const puback_packet& ack, session_clock::time_point now);
  void handle_pubrec(const pubrec_packet& rec, session_clock::time_point now);
  void handle_pubrel(const pubrel_packet& rel, session_clock::time_point now);
  void handle_pubcomp(const pubcomp_packet& comp, session_clock::time_point now);
  void handle_suback(suback_packet& ack, session_clock::time_point now);
  void handle_unsuback(unsuback_packet& ack, session_clock::time_point now);
  template <class Event, class Ack>
  void complete_request(Ack& ack, bool is_subscribe, session_clock::time_point now);
  void send_restore_subscriptions(session_clock::time_point now);

  struct impl;
  // Grouped so the hot path stays in one allocation; defined in session.cpp.
  std::unique_ptr<impl> impl_;
  session_config config_;
  broker_limits limits_;
  state state_ = state::disconnected;
  std::vector<std::uint8_t> output_;
  std::vector<session_event> events_;
};

}  // namespace fieldbridge::mqtt
