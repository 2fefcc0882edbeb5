// MQTT reason codes (one vocabulary for 3.1.1 and 5.0) and the two error
// categories of the MQTT layer: the project's own protocol errors (errc) and
// a broker's reason codes carried in a boost::system::error_code. Transport
// errors (asio, ssl) keep their own categories and are never mapped here.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace fieldbridge::mqtt {

// MQTT 5 reason codes (spec 2.4). Several codes share 0x00 (success, normal
// disconnection, granted QoS 0); the packet gives the meaning.
enum class reason_code : std::uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

// True for codes >= 0x80 (failure).
constexpr bool is_failure(reason_code c) noexcept { return static_cast<std::uint8_t>(c) >= 0x80; }

// True when `value` is a reason code defined by MQTT 5 (any packet).
bool is_known_reason_code(std::uint8_t value) noexcept;

// Identifier-like name, e.g. "bad_user_name_or_password"; "unknown" if undefined.
std::string_view reason_name(reason_code c) noexcept;

// Human message for logs and `fieldbridge check`, e.g. "bad user name or password".
std::string_view reason_message(reason_code c) noexcept;

// 3.1.1 CONNACK return code (0..5) in the common vocabulary: 1 -> unsupported
// protocol version, 2 -> client identifier not valid, 3 -> server
// unavailable, 4 -> bad user name or password, 5 -> not authorized.
// Values above 5 map to unspecified_error.
reason_code from_v311_connack(std::uint8_t return_code) noexcept;

// The reverse, for encoding a CONNACK as a 3.1.1 broker (used by test fakes);
// codes without a 3.1.1 equivalent become 3 (server unavailable).
std::uint8_t to_v311_connack(reason_code c) noexcept;

// The project's own MQTT errors, in category "fieldbridge.mqtt".
enum class errc {
  malformed_packet = 1,       // reason 0x81
  protocol_error,             // reason 0x82
  packet_too_large,           // reason 0x95: a received packet exceeds our Maximum Packet Size
  receive_maximum_exceeded,   // reason 0x93: the broker sent more QoS 2 than we allow
  topic_alias_invalid,        // reason 0x94: we advertise Topic Alias Maximum 0
  unsupported_in_version,     // the packet or feature does not exist in this protocol version
  invalid_topic,              // a topic name or filter we were asked to send is not valid
  message_too_large,          // an outgoing message exceeds the broker's Maximum Packet Size
  qos_not_supported,          // above the broker's Maximum QoS
  retain_not_supported,       // the broker said Retain Available = 0
  session_lost,               // reconnected with session present = 0: message not delivered
  connection_lost,            // a SUBSCRIBE/UNSUBSCRIBE was pending when the connection dropped
  keep_alive_timeout,         // nothing received from the broker for 1.5x keep-alive
  connect_timeout,            // no CONNACK within the connect timeout
  connection_refused,         // CONNACK with a failure reason (see the event for the code)
  disconnected_by_broker,     // the broker sent DISCONNECT
  not_connected,              // request needs a live connection
  invalid_argument,           // e.g. packet id 0, empty subscription list
  packet_identifier_in_use,   // restore() got an id twice
  feature_not_available,      // the broker said wildcards / shared subscriptions are not available
  write_timeout,              // a write did not complete within the write timeout (a broker that stopped reading)
  unexpected_session_present, // CONNACK session present = 1 while we hold no session state (MQTT-3.2.2-4)
};

const boost::system::error_category& mqtt_category() noexcept;
boost::system::error_code make_error_code(errc e) noexcept;

// Reason codes sent by a broker (PUBACK 0x87, CONNACK 0x86, ...), in category
// "fieldbridge.mqtt.reason"; message() is reason_message().
const boost::system::error_category& reason_category() noexcept;
boost::system::error_code make_error_code(reason_code c) noexcept;

// The reason code to put in our DISCONNECT for one of our errors (0x81 for
// malformed, 0x82 protocol error, 0x95 too large, ...). For an error_code of
// another category, unspecified_error.
reason_code disconnect_reason(const boost::system::error_code& ec) noexcept;

}  // namespace fieldbridge::mqtt

template <>
struct boost::system::is_error_code_enum<fieldbridge::mqtt::errc> : std::true_type {};
