#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/packet.hpp>
#include <fieldbridge/mqtt/properties.hpp>

#include <algorithm>
#include <array>

namespace fieldbridge::mqtt {
namespace {

constexpr std::uint16_t bit(packet_type t) { return static_cast<std::uint16_t>(1U << static_cast<unsigned>(t)); }

constexpr std::uint16_t acks =
    bit(packet_type::puback) | bit(packet_type::pubrec) | bit(packet_type::pubrel) | bit(packet_type::pubcomp);
constexpr std::uint16_t every_packet_with_properties =
    bit(packet_type::connect) | bit(packet_type::connack) | bit(packet_type::publish) | acks |
    bit(packet_type::subscribe) | bit(packet_type::suback) | bit(packet_type::unsubscribe) |
    bit(packet_type::unsuback) | bit(packet_type::disconnect) | bit(packet_type::auth);

struct property_info {
  bool known = false;
  property_type type = property_type::byte;
  std::uint16_t packets = 0;  // bit per packet_type
  bool will = false;          // allowed in Will Properties
  std::string_view name;
};

// Spec 2.2.2.2, table 2-4.
constexpr std::array<property_info, 0x2B> make_table() {
  std::array<property_info, 0x2B> t{};
  auto row = [&t](property_id id, property_type type, std::uint16_t packets, bool will, std::string_view name) {
    t[static_cast<std::size_t>(id)] = {true, type, packets, will, name};
  };
  using pt = property_type;
  using p = packet_type;
  const auto publish = bit(p::publish);
  row(property_id::payload_format_indicator, pt::byte, publish, true, "Payload Format Indicator");
  row(property_id::message_expiry_interval, pt::four_byte_integer, publish, true, "Message Expiry Interval");
  row(property_id::content_type, pt::utf8_string, publish, true, "Content Type");
  row(property_id::response_topic, pt::utf8_string, publish, true, "Response Topic");
  row(property_id::correlation_data, pt::binary_data, publish, true, "Correlation Data");
  row(property_id::subscription_identifier, pt::variable_byte_integer, publish | bit(p::subscribe), false,
      "Subscription Identifier");
  row(property_id::session_expiry_interval, pt::four_byte_integer,
      bit(p::connect) | bit(p::connack) | bit(p::disconnect), false, "Session Expiry Interval");
  row(property_id::assigned_client_identifier, pt::utf8_string, bit(p::connack), false,
      "Assigned Client Identifier");
  row(property_id::server_keep_alive, pt::two_byte_integer, bit(p::connack), false, "Server Keep Alive");
  row(property_id::authentication_method, pt::utf8_string, bit(p::connect) | bit(p::connack) | bit(p::auth), false,
      "Authentication Method");
  row(property_id::authentication_data, pt::binary_data, bit(p::connect) | bit(p::connack) | bit(p::auth), false,
      "Authentication Data");
  row(property_id::request_problem_information, pt::byte, bit(p::connect), false, "Request Problem Information");
  row(property_id::will_delay_interval, pt::four_byte_integer, 0, true, "Will Delay Interval");
  row(property_id::request_response_information, pt::byte, bit(p::connect), false,
      "Request Response Information");
  row(property_id::response_information, pt::utf8_string, bit(p::connack), false, "Response Information");
  row(property_id::server_reference, pt::utf8_string, bit(p::connack) | bit(p::disconnect), false,
      "Server Reference");
  row(property_id::reason_string, pt::utf8_string,
      bit(p::connack) | acks | bit(p::suback) | bit(p::unsuback) | bit(p::disconnect) | bit(p::auth), false,
      "Reason String");
  row(property_id::receive_maximum, pt::two_byte_integer, bit(p::connect) | bit(p::connack), false,
      "Receive Maximum");
  row(property_id::topic_alias_maximum, pt::two_byte_integer, bit(p::connect) | bit(p::connack), false,
      "Topic Alias Maximum");
  row(property_id::topic_alias, pt::two_byte_integer, publish, false, "Topic Alias");
  row(property_id::maximum_qos, pt::byte, bit(p::connack), false, "Maximum QoS");
  row(property_id::retain_available, pt::byte, bit(p::connack), false, "Retain Available");
  row(property_id::user_property, pt::utf8_string_pair, every_packet_with_properties, true, "User Property");
  row(property_id::maximum_packet_size, pt::four_byte_integer, bit(p::connect) | bit(p::connack), false,
      "Maximum Packet Size");
  row(property_id::wildcard_subscription_available, pt::byte, bit(p::connack), false,
      "Wildcard Subscription Available");
  row(property_id::subscription_identifier_available, pt::byte, bit(p::connack), false,
      "Subscription Identifier Available");
  row(property_id::shared_subscription_available, pt::byte, bit(p::connack), false,
      "Shared Subscription Available");
  return t;
}

constexpr auto property_table = make_table();

const property_info* info(property_id id) noexcept {
  const auto i = static_cast<std::size_t>(id);
  if (i >= property_table.size() || !property_table[i].known) return nullptr;
  return &property_table[i];
}

// Does the C++ value fit the wire type (range included)?
bool value_fits(const property_value& v, property_type type) noexcept {
  switch (type) {
    case property_type::byte:
      return std::holds_alternative<std::uint32_t>(v) && std::get<std::uint32_t>(v) <= 0xFF;
    case property_type::two_byte_integer:
      return std::holds_alternative<std::uint32_t>(v) && std::get<std::uint32_t>(v) <= 0xFFFF;
    case property_type::four_byte_integer:
      return std::holds_alternative<std::uint32_t>(v);
    case property_type::variable_byte_integer:
      return std::holds_alternative<std::uint32_t>(v) && std::get<std::uint32_t>(v) <= max_variable_byte_integer;
    case property_type::utf8_string:
      return std::holds_alternative<std::string>(v) && std::get<std::string>(v).size() <= 0xFFFF &&
             valid_mqtt_utf8(std::get<std::string>(v));
    case property_type::binary_data:
      return std::holds_alternative<std::vector<std::uint8_t>>(v) &&
             std::get<std::vector<std::uint8_t>>(v).size() <= 0xFFFF;
    case property_type::utf8_string_pair: {
      const auto* pair = std::get_if<string_pair>(&v);
      return pair && pair->name.size() <= 0xFFFF && pair->value.size() <= 0xFFFF && valid_mqtt_utf8(pair->name) &&
             valid_mqtt_utf8(pair->value);
    }
  }
  return false;
}

// Values the spec calls a Protocol Error even though they fit the type.
bool value_allowed(property_id id, std::uint32_t v) noexcept {
  switch (id) {
    case property_id::payload_format_indicator:
    case property_id::request_problem_information:
    case property_id::request_response_information:
    case property_id::maximum_qos:
    case property_id::retain_available:
    case property_id::wildcard_subscription_available:
    case property_id::subscription_identifier_available:
    case property_id::shared_subscription_available:
      return v <= 1;
    case property_id::receive_maximum:
    case property_id::maximum_packet_size:
    case property_id::subscription_identifier:
    case property_id::topic_alias:
      return v != 0;
    default:
      return true;
  }
}

}  // namespace

bool is_known_property(std::uint8_t value) noexcept { return info(static_cast<property_id>(value)) != nullptr; }

property_type type_of(property_id id) noexcept {
  const auto* i = info(id);
  return i ? i->type : property_type::byte;
}

std::string_view property_name(property_id id) noexcept {
  const auto* i = info(id);
  return i ? i->name : "unknown property";
}

bool allowed_in(property_id id, packet_type type, property_context where) noexcept {
  const auto* i = info(id);
  if (!i) return false;
  if (where == property_context::will) return i->will;
  return (i->packets & bit(type)) != 0;
}

bool is_repeatable(property_id id) noexcept {
  return id == property_id::user_property || id == property_id::subscription_identifier;
}

// Constructed in place: building a temporary `property` and moving it makes
// GCC 12 warn (maybe-uninitialized, a false positive on the variant's move).
void properties::add(property_id id, std::uint32_t value) {
  items_.emplace_back(id, property_value(std::in_place_index<0>, value));
}

void properties::add(property_id id, std::string value) {
  items_.emplace_back(id, property_value(std::in_place_index<1>, std::move(value)));
}

void properties::add(property_id id, std::vector<std::uint8_t> value) {
  items_.emplace_back(id, property_value(std::in_place_index<2>, std::move(value)));
}

void properties::add_user_property(std::string name, std::string value) {
  items_.emplace_back(property_id::user_property,
                      property_value(std::in_place_index<3>, string_pair{std::move(name), std::move(value)}));
}

void properties::set(property_id id, property_value value) {
  for (auto& p : items_) {
    if (p.id == id) {
      p.value = std::move(value);
      return;
    }
  }
  items_.emplace_back(id, std::move(value));
}

void properties::erase(property_id id) {
  std::erase_if(items_, [id](const property& p) { return p.id == id; });
}

bool properties::contains(property_id id) const noexcept {
  return std::any_of(items_.begin(), items_.end(), [id](const property& p) { return p.id == id; });
}

std::optional<std::uint32_t> properties::integer(property_id id) const noexcept {
  for (const auto& p : items_) {
    if (p.id == id) {
      if (const auto* v = std::get_if<std::uint32_t>(&p.value)) return *v;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> properties::string(property_id id) const noexcept {
  for (const auto& p : items_) {
    if (p.id == id) {
      if (const auto* v = std::get_if<std::string>(&p.value)) return std::string_view(*v);
    }
  }
  return std::nullopt;
}

std::optional<std::span<const std::uint8_t>> properties::binary(property_id id) const noexcept {
  for (const auto& p : items_) {
    if (p.id == id) {
      if (const auto* v = std::get_if<std::vector<std::uint8_t>>(&p.value)) return std::span<const std::uint8_t>(*v);
    }
  }
  return std::nullopt;
}

std::vector<string_pair> properties::user_properties() const {
  std::vector<string_pair> out;
  for (const auto& p : items_) {
    if (const auto* v = std::get_if<string_pair>(&p.value); v && p.id == property_id::user_property) {
      out.push_back(*v);
    }
  }
  return out;
}

boost::system::error_code validate(const properties& props, packet_type type, property_context where) {
  // Seen-set over the 0x00..0x2A identifiers, as bits.
  std::uint64_t seen = 0;
  for (const auto& p : props) {
    const auto* i = info(p.id);
    if (!i || !allowed_in(p.id, type, where) || !value_fits(p.value, i->type)) {
      return make_error_code(errc::malformed_packet);
    }
    const auto mask = std::uint64_t{1} << static_cast<unsigned>(p.id);
    const bool repeatable = p.id == property_id::user_property ||
                            (p.id == property_id::subscription_identifier && type == packet_type::publish);
    if ((seen & mask) != 0 && !repeatable) return make_error_code(errc::protocol_error);
    seen |= mask;
    if (const auto* v = std::get_if<std::uint32_t>(&p.value); v && !value_allowed(p.id, *v)) {
      return make_error_code(errc::protocol_error);
    }
  }
  return {};
}

}  // namespace fieldbridge::mqtt
