// The 15 MQTT 5 control packets as plain owning structs in one variant.
// MQTT 3.1.1 uses a subset: no AUTH, no properties, no reason codes in
// PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK/DISCONNECT (the codec ignores them
// for 3.1.1 and decodes them as success / empty).
#pragma once

#include <fieldbridge/mqtt/properties.hpp>
#include <fieldbridge/mqtt/reason_code.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fieldbridge::mqtt {

// The protocol level byte of CONNECT.
enum class protocol_version : std::uint8_t { v311 = 4, v5 = 5 };

enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};

std::string_view packet_name(packet_type t) noexcept;  // "CONNECT", "PUBACK", ...

// The Will of CONNECT. Will properties (delay, expiry, content type, ...) are MQTT 5 only.
struct will_message {
  std::string topic;
  std::vector<std::uint8_t> payload;
  mqtt::qos qos = qos::at_most_once;
  bool retain = false;
  properties props;
  friend bool operator==(const will_message&, const will_message&) = default;
};

struct connect_packet {
  protocol_version version = protocol_version::v5;
  std::string client_id;
  bool clean_start = true;  // Clean Session in 3.1.1
  std::uint16_t keep_alive = 60;  // seconds, 0 = off
  std::optional<std::string> username;
  std::optional<std::vector<std::uint8_t>> password;  // binary data in MQTT 5
  std::optional<will_message> will;
  properties props;  // session expiry, receive maximum, maximum packet size, ...
  friend bool operator==(const connect_packet&, const connect_packet&) = default;
};

struct connack_packet {
  bool session_present = false;
  reason_code code = reason_code::success;  // 3.1.1 return codes mapped by from_v311_connack()
  properties props;
  friend bool operator==(const connack_packet&, const connack_packet&) = default;
};

// PUBLISH. `packet_id` is 0 for QoS 0 and non-zero otherwise.
struct publish_packet {
  std::string topic;
  std::vector<std::uint8_t> payload;
  mqtt::qos qos = qos::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
  properties props;
  friend bool operator==(const publish_packet&, const publish_packet&) = default;
};

// The four publish acknowledgements share one shape (spec 3.4 - 3.7).
struct puback_packet {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;
  friend bool operator==(const puback_packet&, const puback_packet&) = default;
};
struct pubrec_packet {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;
  friend bool operator==(const pubrec_packet&, const pubrec_packet&) = default;
};
struct pubrel_packet {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;
  friend bool operator==(const pubrel_packet&, const pubrel_packet&) = default;
};
struct pubcomp_packet {
  std::uint16_t packet_id = 0;
  reason_code code = reason_code::success;
  properties props;
  friend bool operator==(const pubcomp_packet&, const pubcomp_packet&) = default;
};

enum class retain_handling : std::uint8_t { send_on_subscribe = 0, send_if_new = 1, dont_send = 2 };

// Subscription Options byte (spec 3.8.3.1); 3.1.1 encodes only max_qos.
struct subscribe_options {
  mqtt::qos max_qos = qos::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  mqtt::retain_handling retain_handling = retain_handling::send_on_subscribe;
  friend bool operator==(const subscribe_options&, const subscribe_options&) = default;
};

struct subscription {
  std::string filter;
  subscribe_options options;
  friend bool operator==(const subscription&, const subscription&) = default;
};

struct subscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<subscription> subscriptions;
  properties props;
  friend bool operator==(const subscribe_packet&, const subscribe_packet&) = default;
};

// One reason code per subscription: granted QoS 0/1/2 or a failure (0x80 in 3.1.1).
struct suback_packet {
  std::uint16_t packet_id = 0;
  std::vector<reason_code> codes;
  properties props;
  friend bool operator==(const suback_packet&, const suback_packet&) = default;
};

struct unsubscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;
  properties props;
  friend bool operator==(const unsubscribe_packet&, const unsubscribe_packet&) = default;
};

// In 3.1.1 UNSUBACK carries no reason codes: `codes` is empty.
struct unsuback_packet {
  std::uint16_t packet_id = 0;
  std::vector<reason_code> codes;
  properties props;
  friend bool operator==(const unsuback_packet&, const unsuback_packet&) = default;
};

struct pingreq_packet {
  friend bool operator==(const pingreq_packet&, const pingreq_packet&) = default;
};
struct pingresp_packet {
  friend bool operator==(const pingresp_packet&, const pingresp_packet&) = default;
};

struct disconnect_packet {
  reason_code code = reason_code::normal_disconnection;
  properties props;  // session expiry, reason string, server reference, user properties
  friend bool operator==(const disconnect_packet&, const disconnect_packet&) = default;
};

// AUTH (MQTT 5 only): enhanced authentication exchange.
struct auth_packet {
  reason_code code = reason_code::success;
  properties props;
  friend bool operator==(const auth_packet&, const auth_packet&) = default;
};

// Alternatives are in packet type order: index() + 1 == packet_type value.
using packet = std::variant<connect_packet, connack_packet, publish_packet, puback_packet, pubrec_packet,
                            pubrel_packet, pubcomp_packet, subscribe_packet, suback_packet, unsubscribe_packet,
                            unsuback_packet, pingreq_packet, pingresp_packet, disconnect_packet, auth_packet>;

inline packet_type type_of(const packet& p) noexcept { return static_cast<packet_type>(p.index() + 1); }

}  // namespace fieldbridge::mqtt
