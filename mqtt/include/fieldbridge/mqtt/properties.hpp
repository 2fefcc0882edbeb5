// MQTT 5 properties: identifiers, wire types, a small owning container, and
// the rules for which property may appear in which packet (spec 2.2.2.2).
#pragma once

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace fieldbridge::mqtt {

enum class packet_type : std::uint8_t;

enum class property_id : std::uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0B,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1A,
  server_reference = 0x1C,
  reason_string = 0x1F,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2A,
};

// The wire encoding of a property value (spec 1.5).
enum class property_type : std::uint8_t {
  byte,
  two_byte_integer,
  four_byte_integer,
  variable_byte_integer,
  utf8_string,
  binary_data,
  utf8_string_pair,
};

// Where a property list sits: a packet's own list, or the Will Properties of CONNECT.
enum class property_context : std::uint8_t { packet, will };

// True if `value` is one of the identifiers above.
bool is_known_property(std::uint8_t value) noexcept;
property_type type_of(property_id id) noexcept;
std::string_view property_name(property_id id) noexcept;
// May this property appear in a packet of this type (or in the will properties)?
bool allowed_in(property_id id, packet_type type, property_context where = property_context::packet) noexcept;
// User Property and (in PUBLISH) Subscription Identifier may repeat; nothing else.
bool is_repeatable(property_id id) noexcept;

struct string_pair {
  std::string name;
  std::string value;
  friend bool operator==(const string_pair&, const string_pair&) = default;
};

// One value: integers of every width as uint32, UTF-8 string, binary, or pair.
using property_value = std::variant<std::uint32_t, std::string, std::vector<std::uint8_t>, string_pair>;

struct property {
  property(property_id i, property_value v) : id(i), value(std::move(v)) {}
  property_id id;
  property_value value;
  friend bool operator==(const property&, const property&) = default;
};

// An ordered list of properties as on the wire. Empty lists never allocate.
// Typed accessors return the first occurrence; add() appends (use set() for
// non-repeatable ones to replace an existing value).
class properties {
 public:
  properties() = default;

  void add(property_id id, std::uint32_t value);
  void add(property_id id, std::string value);
  void add(property_id id, std::vector<std::uint8_t> value);
  void add_user_property(std::string name, std::string value);
  // Replace the first value of `id` (or append it).
  void set(property_id id, property_value value);
  // Remove every occurrence of `id`.
  void erase(property_id id);

  bool contains(property_id id) const noexcept;
  std::optional<std::uint32_t> integer(property_id id) const noexcept;
  std::optional<std::string_view> string(property_id id) const noexcept;
  std::optional<std::span<const std::uint8_t>> binary(property_id id) const noexcept;
  std::vector<string_pair> user_properties() const;

  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  const std::vector<property>& items() const noexcept { return items_; }
  std::vector<property>& items() noexcept { return items_; }
  auto begin() const noexcept { return items_.begin(); }
  auto end() const noexcept { return items_.end(); }

  friend bool operator==(const properties&, const properties&) = default;

 private:
  std::vector<property> items_;
};

// Checks a list for a packet: every property allowed there, non-repeatable
// ones at most once, the value's C++ type matching the wire type, values in
// range (e.g. Receive Maximum != 0, Maximum QoS 0/1, Subscription Identifier
// 1..268435455, Payload Format 0/1). Per spec 2.2.2.2 and 3.x: a property
// not valid for the packet is errc::malformed_packet, a duplicated one or a
// forbidden value (e.g. Receive Maximum 0) is errc::protocol_error.
boost::system::error_code validate(const properties& props, packet_type type,
                                   property_context where = property_context::packet);

}  // namespace fieldbridge::mqtt
