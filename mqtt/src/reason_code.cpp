#include <fieldbridge/mqtt/reason_code.hpp>

#include <string>

namespace fieldbridge::mqtt {
namespace {

struct reason_entry {
  std::uint8_t value;
  std::string_view name;
  std::string_view message;
};

// One row per distinct value; 0x00 serves success / normal disconnection / granted QoS 0.
constexpr reason_entry reason_table[] = {
    {0x00, "success", "success"},
    {0x01, "granted_qos_1", "granted QoS 1"},
    {0x02, "granted_qos_2", "granted QoS 2"},
    {0x04, "disconnect_with_will_message", "disconnect with will message"},
    {0x10, "no_matching_subscribers", "no matching subscribers"},
    {0x11, "no_subscription_existed", "no subscription existed"},
    {0x18, "continue_authentication", "continue authentication"},
    {0x19, "re_authenticate", "re-authenticate"},
    {0x80, "unspecified_error", "unspecified error"},
    {0x81, "malformed_packet", "malformed packet"},
    {0x82, "protocol_error", "protocol error"},
    {0x83, "implementation_specific_error", "implementation specific error"},
    {0x84, "unsupported_protocol_version", "unsupported protocol version"},
    {0x85, "client_identifier_not_valid", "client identifier not valid"},
    {0x86, "bad_user_name_or_password", "bad user name or password"},
    {0x87, "not_authorized", "not authorized"},
    {0x88, "server_unavailable", "server unavailable"},
    {0x89, "server_busy", "server busy"},
    {0x8A, "banned", "banned"},
    {0x8B, "server_shutting_down", "server shutting down"},
    {0x8C, "bad_authentication_method", "bad authentication method"},
    {0x8D, "keep_alive_timeout", "keep alive timeout"},
    {0x8E, "session_taken_over", "session taken over"},
    {0x8F, "topic_filter_invalid", "topic filter invalid"},
    {0x90, "topic_name_invalid", "topic name invalid"},
    {0x91, "packet_identifier_in_use", "packet identifier in use"},
    {0x92, "packet_identifier_not_found", "packet identifier not found"},
    {0x93, "receive_maximum_exceeded", "receive maximum exceeded"},
    {0x94, "topic_alias_invalid", "topic alias invalid"},
    {0x95, "packet_too_large", "packet too large"},
    {0x96, "message_rate_too_high", "message rate too high"},
    {0x97, "quota_exceeded", "quota exceeded"},
    {0x98, "administrative_action", "administrative action"},
    {0x99, "payload_format_invalid", "payload format invalid"},
    {0x9A, "retain_not_supported", "retain not supported"},
    {0x9B, "qos_not_supported", "QoS not supported"},
    {0x9C, "use_another_server", "use another server"},
    {0x9D, "server_moved", "server moved"},
    {0x9E, "shared_subscriptions_not_supported", "shared subscriptions not supported"},
    {0x9F, "connection_rate_exceeded", "connection rate exceeded"},
    {0xA0, "maximum_connect_time", "maximum connect time"},
    {0xA1, "subscription_identifiers_not_supported", "subscription identifiers not supported"},
    {0xA2, "wildcard_subscriptions_not_supported", "wildcard subscriptions not supported"},
};

const reason_entry* find_reason(std::uint8_t value) noexcept {
  for (const auto& e : reason_table) {
    if (e.value == value) return &e;
  }
  return nullptr;
}

struct errc_entry {
  errc code;
  std::string_view message;
  reason_code disconnect;
};

constexpr errc_entry errc_table[] = {
    {errc::malformed_packet, "malformed packet", reason_code::malformed_packet},
    {errc::protocol_error, "protocol error", reason_code::protocol_error},
    {errc::packet_too_large, "received packet exceeds our maximum packet size", reason_code::packet_too_large},
    {errc::receive_maximum_exceeded, "broker exceeded our receive maximum", reason_code::receive_maximum_exceeded},
    {errc::topic_alias_invalid, "broker used a topic alias we did not allow", reason_code::topic_alias_invalid},
    {errc::unsupported_in_version, "not supported in this MQTT protocol version",
     reason_code::unsupported_protocol_version},
    {errc::invalid_topic, "invalid topic name or filter", reason_code::topic_name_invalid},
    {errc::message_too_large, "message exceeds the broker's maximum packet size", reason_code::packet_too_large},
    {errc::qos_not_supported, "QoS above the broker's maximum QoS", reason_code::qos_not_supported},
    {errc::retain_not_supported, "broker does not support retained messages", reason_code::retain_not_supported},
    {errc::session_lost, "broker lost the session; message not delivered", reason_code::unspecified_error},
    {errc::connection_lost, "connection lost before the broker answered", reason_code::unspecified_error},
    {errc::keep_alive_timeout, "nothing received from the broker within 1.5x keep-alive",
     reason_code::keep_alive_timeout},
    {errc::connect_timeout, "no CONNACK within the connect timeout", reason_code::unspecified_error},
    {errc::connection_refused, "broker refused the connection", reason_code::unspecified_error},
    {errc::disconnected_by_broker, "broker sent DISCONNECT", reason_code::normal_disconnection},
    {errc::not_connected, "not connected", reason_code::unspecified_error},
    {errc::invalid_argument, "invalid argument", reason_code::unspecified_error},
    {errc::packet_identifier_in_use, "packet identifier in use", reason_code::packet_identifier_in_use},
    {errc::feature_not_available, "not available on this broker", reason_code::unspecified_error},
    {errc::write_timeout, "write timed out (the broker stopped reading)", reason_code::unspecified_error},
    {errc::unexpected_session_present, "session present although the client holds no session state",
     reason_code::protocol_error},
};

const errc_entry* find_errc(int value) noexcept {
  for (const auto& e : errc_table) {
    if (static_cast<int>(e.code) == value) return &e;
  }
  return nullptr;
}

// Boost 1.74's error_category has a public non-virtual destructor; the
// categories are function-local statics never deleted through a base pointer.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class mqtt_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "fieldbridge.mqtt"; }
  std::string message(int value) const override {
    const auto* e = find_errc(value);
    return e ? std::string(e->message) : "unknown mqtt error";
  }
};

class reason_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "fieldbridge.mqtt.reason"; }
  std::string message(int value) const override {
    if (value < 0 || value > 0xFF) return "unknown reason code";
    return std::string(reason_message(static_cast<reason_code>(value)));
  }
};
#pragma GCC diagnostic pop

}  // namespace

bool is_known_reason_code(std::uint8_t value) noexcept { return find_reason(value) != nullptr; }

std::string_view reason_name(reason_code c) noexcept {
  const auto* e = find_reason(static_cast<std::uint8_t>(c));
  return e ? e->name : "unknown";
}

std::string_view reason_message(reason_code c) noexcept {
  const auto* e = find_reason(static_cast<std::uint8_t>(c));
  return e ? e->message : "unknown reason code";
}

reason_code from_v311_connack(std::uint8_t return_code) noexcept {
  switch (return_code) {
    case 0: return reason_code::success;
    case 1: return reason_code::unsupported_protocol_version;
    case 2: return reason_code::client_identifier_not_valid;
    case 3: return reason_code::server_unavailable;
    case 4: return reason_code::bad_user_name_or_password;
    case 5: return reason_code::not_authorized;
    default: return reason_code::unspecified_error;
  }
}

std::uint8_t to_v311_connack(reason_code c) noexcept {
  switch (c) {
    case reason_code::success: return 0;
    case reason_code::unsupported_protocol_version: return 1;
    case reason_code::client_identifier_not_valid: return 2;
    case reason_code::bad_user_name_or_password: return 4;
    case reason_code::not_authorized: return 5;
    default: return 3;
  }
}

const boost::system::error_category& mqtt_category() noexcept {
  static const mqtt_category_impl category;
  return category;
}

boost::system::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), mqtt_category()}; }

const boost::system::error_category& reason_category() noexcept {
  static const reason_category_impl category;
  return category;
}

boost::system::error_code make_error_code(reason_code c) noexcept {
  return {static_cast<int>(c), reason_category()};
}

reason_code disconnect_reason(const boost::system::error_code& ec) noexcept {
  if (ec.category() == mqtt_category()) {
    const auto* e = find_errc(ec.value());
    return e ? e->disconnect : reason_code::unspecified_error;
  }
  if (ec.category() == reason_category() && ec.value() >= 0x80 && ec.value() <= 0xFF) {
    return static_cast<reason_code>(ec.value());
  }
  return reason_code::unspecified_error;
}

}  // namespace fieldbridge::mqtt
