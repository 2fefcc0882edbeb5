// The MQTT 3.1.1 / 5.0 client connection on Boost.Asio: TCP or TLS, automatic
// reconnect with back-off, publish with an honest completion, subscriptions,
// and the durable-session hooks the store uses to survive restarts.
//
// Threading: one client lives on ONE io_context run by ONE thread. Every
// member function must be called on that thread (or before run()); every
// handler is called on it. There are no locks.
// Lifetime: the client may be destroyed at any time; pending handlers are then
// dropped without being called, and the socket is closed without DISCONNECT.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/core/text.hpp"
#include "fieldbridge/mqtt/packet.hpp"
#include "fieldbridge/mqtt/reason_code.hpp"
#include "fieldbridge/mqtt/session.hpp"

namespace fieldbridge::mqtt {

// TLS settings: verification of chain and host name is on unless
// insecure_skip_verify is set (which logs a warning at every connect).
struct tls_options {
  std::string ca_file;    // empty: the system trust store
  std::string cert_file;  // client certificate (chain) for mutual TLS
  std::string key_file;   // its private key (default: cert_file)
  bool verify_hostname = true;
  bool insecure_skip_verify = false;
};

// The Last Will, published by the broker when our connection dies without DISCONNECT.
struct will_options {
  std::string topic;
  std::string payload;
  mqtt::qos qos = qos::at_most_once;
  bool retain = false;
  std::chrono::seconds delay{0};  // MQTT 5 Will Delay Interval
};

// One broker address: a host name or a literal IPv4/IPv6 address, and a
// port; to_string() (core/text.hpp) gives "host:port", "[::1]:1883".
using endpoint = fieldbridge::network_endpoint;

// Everything a connection needs; read once by the constructor.
struct client_options {
  // The one-broker form; used when `brokers` is empty.
  std::string host = "localhost";
  std::uint16_t port = 1883;
  // Failover: the brokers in the order they are tried. Every failed connect
  // attempt (refused TCP, TLS failure, CONNACK refusal, timeout) and every
  // lost connection moves to the next one, wrapping after the last, with
  // the reconnect back-off between attempts (it keeps growing across the
  // list and resets only when a connection is up). The first connection to
  // a broker other than the one the session state was built with starts
  // clean (Clean Start 1), so a stale session there cannot be taken for
  // ours: everything unacknowledged goes out again, in order.
  std::vector<endpoint> brokers;
  protocol_version protocol = protocol_version::v5;
  std::string client_id;  // empty: MQTT 5 takes the broker's assigned id
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::chrono::seconds keepalive{30};
  bool clean_start = false;
  std::chrono::seconds session_expiry{0};  // MQTT 5
  std::optional<will_options> will;
  std::uint16_t max_inflight = 20;          // effective window: min(this, broker Receive Maximum)
  std::uint16_t refill_batch = 0;           // free slots that refill a full window (session_config)
  std::chrono::milliseconds max_hold{20};   // longest a batch waits for owed acks (session_config)
  std::uint16_t receive_maximum = 65535;    // what we let the broker have in flight to us
  // What we accept (0 = protocol maximum): announced in MQTT 5; in 3.1.1 a
  // bigger PUBLISH is dropped (acknowledged, logged), never looped on.
  std::uint32_t maximum_packet_size = 1024 * 1024;
  // Back-pressure: QoS 0 publishes wait in the client's queue instead of
  // being encoded while this many bytes wait for a write (0 = no mark).
  std::size_t output_high_water = 256 * 1024;
  // A write that does not complete within this closes the connection and
  // reconnects (a broker that stopped reading, while it keeps sending).
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30000};
  std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS + CONNACK, each phase
  std::optional<tls_options> tls;
  // Subscribe again, by itself, to what subscribe() was granted (and
  // unsubscribe() did not remove) when a connection comes up with session
  // present = 0; see client::subscribe.
  bool restore_subscriptions = true;
  // false: a lost connection hands back every unfinished publish with
  // publish_outcome::session_lost instead of sending it again on the next
  // connection (session_config::resend_after_reconnect; Sparkplug).
  bool resend_after_reconnect = true;
  // Stop after the first failed connect attempt instead of retrying
  // (for `fieldbridge check --connect`, which wants the broker's first answer).
  bool reconnect = true;
};

// How a publish ended.
enum class publish_outcome : std::uint8_t {
  delivered,     // QoS 0 written to the socket, QoS 1 PUBACK, QoS 2 PUBCOMP (success codes)
  failed,        // refused before sending or by the broker: `error` says why; do not retry as is
  // Only with client_options::resend_after_reconnect false (the connection
  // went down before it completed). Otherwise, after a reconnect with
  // session present 0, the client publishes the message again by itself (in
  // its original order). Treat it as not delivered.
  session_lost,
  aborted,       // the client stopped before the message was done; its state is unknown
  not_written,   // QoS 0 whose connection died before its write completed: publish again if a copy beats a gap
};

struct publish_result {
  publish_outcome outcome = publish_outcome::delivered;
  boost::system::error_code error;  // errc, reason_category (broker's code) or transport error
  reason_code code = reason_code::success;  // the broker's reason code when it gave one
  bool past_pubrec = false;                 // QoS 2: the broker had acknowledged receipt
  // The QoS it was delivered at: below the one asked for when the broker's
  // limits downgraded it (Maximum QoS, or a 3.1.1 broker answering PUBACK).
  mqtt::qos qos = qos::at_most_once;
};
using publish_handler = std::function<void(const publish_result&)>;

// SUBACK / UNSUBACK: one reason code per filter (granted QoS or failure).
struct subscribe_result {
  boost::system::error_code error;  // transport / errc (connection_lost, not_connected, ...)
  std::vector<reason_code> codes;
  std::string reason_string;        // MQTT 5
};
using subscribe_handler = std::function<void(const subscribe_result&)>;

// An application message: topic, payload, qos, retain and (MQTT 5) properties
// with response topic, correlation data, user properties, message expiry.
using message_handler = std::function<void(const publish_packet&)>;

// The connection came up (connected) or went down / a connect attempt failed.
struct connection_event {
  endpoint broker;                   // the broker this event is about (connected to, lost, or refused by)
  bool connected = false;
  bool session_present = false;
  connack_packet connack;            // when connected, or when refused by CONNACK
  boost::system::error_code error;   // why it is down; CONNACK refusals are reason_category codes
  std::string detail;                // in words: "TLS: certificate verify failed: ...", reason string
  // The broker's reason code when it gave one: the CONNACK refusal, or the
  // code of its DISCONNECT (error is then errc::disconnected_by_broker).
  std::optional<reason_code> code;
  // MQTT 5 Server Reference (with 0x9C use another server / 0x9D server
  // moved): logged, not followed (the client only connects where configured).
  std::string server_reference;
};
using connection_handler = std::function<void(const connection_event&)>;

// Durable-session hooks, called synchronously while the session changes state,
// so the owner can persist packet ids and QoS 2 progress (and restore() them).
// The outgoing ones are called only for publishes the owner made with its
// own non-zero token; the client's own messages never reach them.
struct durable_hooks {
  // Outgoing QoS 1/2 (give them back with restore()).
  std::function<void(message_token, std::uint16_t packet_id, mqtt::qos)> packet_id_assigned;
  std::function<void(message_token, std::uint16_t packet_id)> pubrec_received;
  // Incoming QoS 2 (give the held ids back with restore_incoming()). Received:
  // the message handler has just returned for this PUBLISH, and its PUBREC
  // is not written yet; until released, a PUBLISH with this id is a duplicate.
  // Released: PUBREL came and PUBCOMP is queued, or the broker lost the
  // session (once per held id). Persist the id in the first, delete it in the second.
  std::function<void(std::uint16_t packet_id)> incoming_qos2_received;
  std::function<void(std::uint16_t packet_id)> incoming_qos2_released;
};

class client {
 public:
  client(boost::asio::io_context& io, client_options options, logger_ptr logger);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  void on_message(message_handler handler);
  void on_connection(connection_handler handler);
  void set_durable_hooks(durable_hooks hooks);

  // Before start(): gives back messages persisted in an earlier run (see
  // session::restore; call it also with none when the owner persists the
  // session, so a CONNACK with session present = 1 is taken as consistent).
  // `handler` receives the outcome of each, by token, and of any other
  // publish the owner made with its own token and no handler; never of the
  // client's own (token 0) messages.
  boost::system::error_code restore(std::vector<restored_message> messages,
                                    std::function<void(message_token, const publish_result&)> handler);
  // Before start(): gives back the incoming QoS 2 ids that were received but
  // not released in an earlier run (durable_hooks::incoming_qos2_*). The
  // broker's resent PUBLISH (DUP) for one of them is acknowledged with PUBREC
  // but not delivered to the message handler again; its PUBREL is completed.
  // See session::restore_incoming.
  boost::system::error_code restore_incoming(std::vector<std::uint16_t> packet_ids);

  // The will of the next CONNECT and every one after (client_options::will
  // until then); nullopt: none. The current connection keeps its will.
  void set_will(std::optional<will_options> will);

  // Connects (and keeps reconnecting). Throws std::runtime_error when the
  // TLS files cannot be loaded (a configuration failure).
  void start();
  // Sends DISCONNECT when connected, closes, cancels every timer: run() returns
  // once the last handler ran. Unfinished publishes complete as `aborted`.
  void stop();
  // New options for a running (or stopped) client, such as a reload whose
  // mqtt: changed. Connected or on the way: a clean reconnect at once
  // (DISCONNECT, so the broker drops the will; then the first broker of
  // the new options, with no back-off wait). The session state stays:
  // messages in flight and queued, QoS 2 progress, remembered
  // subscriptions, the handlers. The next connection starts clean (and
  // everything unacknowledged goes out again, in order, as at a failover)
  // when the client id or protocol changed or the broker the session
  // state is from is not among the new brokers. Throws std::runtime_error,
  // with nothing changed, when new TLS files cannot be loaded.
  void reconfigure(client_options options);

  // Queues a message. `token` is the owner's handle passed to the durable
  // hooks (the store's row id), 1 .. 2^63-1; 0 lets the client pick one of
  // its own (from 2^63 up), which the durable hooks and the restore handler
  // never see. Returns the token. Messages wait while disconnected.
  message_token publish(publish_packet message, publish_handler handler, message_token token = 0);
  // Takes back every publish made with an owner's token that has not gone
  // out yet (waiting for the window or a connection) and returns the tokens
  // in publish order; their handlers are dropped, never called. After a
  // refusal the queue waits until the owner's handler has returned, so a
  // handler that withdraws keeps what it queued from overtaking the refused
  // message (the gateway then hands them back to its store, in order).
  std::vector<message_token> withdraw_unsent();
  message_token publish(std::string topic, std::string_view payload, mqtt::qos qos, bool retain,
                        properties props = {}, publish_handler handler = {});

  // SUBSCRIBE / UNSUBSCRIBE; `handler` gets the SUBACK / UNSUBACK (or the
  // error when there is no connection or it is lost before the answer).
  // With restore_subscriptions (the default) the client remembers every
  // filter the broker granted, with its options and `props` (the latest
  // granted request per filter wins; unsubscribe() forgets a filter at
  // once). When a connection comes up with session present = 0 (broker
  // restarted without persistence, session expired, clean start) it sends
  // them again in a SUBSCRIBE of its own, before any new publish; not when
  // the session is present. That restore does not call `handler` again; a
  // refusal is logged as a warning with the broker's reason codes, and a
  // restore lost with its connection is sent again on the next one.
  void subscribe(std::vector<subscription> subscriptions, subscribe_handler handler, properties props = {});
  void unsubscribe(std::vector<std::string> filters, subscribe_handler handler, properties props = {});

  bool connected() const noexcept;
  // The broker of the current connection, or the one being tried (or about
  // to be) while there is none: client_options::brokers, or {host, port}.
  const endpoint& current_broker() const noexcept;
  // Connections the broker accepted since start(): reconnects are this less one.
  std::uint64_t connections() const noexcept;
  const session& protocol_session() const noexcept;  // window, limits, counts
  // What the broker of the current (or last) connection said in CONNACK:
  // wildcard / shared / subscription identifier availability, maximum QoS...
  const broker_limits& broker_capabilities() const noexcept;

 private:
  class impl;
  std::shared_ptr<impl> impl_;  // shared with in-flight handlers so a late completion is harmless
};

}  // namespace fieldbridge::mqtt
