// Properties (placement rules, accessors, validation) and reason codes
// (names, messages, 3.1.1 mapping, error categories).
#include <fieldbridge/mqtt/packet.hpp>
#include <fieldbridge/mqtt/properties.hpp>
#include <fieldbridge/mqtt/reason_code.hpp>

#include <gtest/gtest.h>

namespace fieldbridge::mqtt {
namespace {

bool is(const boost::system::error_code& ec, errc e) { return ec == make_error_code(e); }

TEST(Properties, TypesFromTheSpecTable) {
  EXPECT_EQ(type_of(property_id::payload_format_indicator), property_type::byte);
  EXPECT_EQ(type_of(property_id::message_expiry_interval), property_type::four_byte_integer);
  EXPECT_EQ(type_of(property_id::subscription_identifier), property_type::variable_byte_integer);
  EXPECT_EQ(type_of(property_id::server_keep_alive), property_type::two_byte_integer);
  EXPECT_EQ(type_of(property_id::correlation_data), property_type::binary_data);
  EXPECT_EQ(type_of(property_id::user_property), property_type::utf8_string_pair);
  EXPECT_EQ(type_of(property_id::reason_string), property_type::utf8_string);
  int known = 0;
  for (unsigned v = 0; v < 256; ++v) known += is_known_property(static_cast<std::uint8_t>(v)) ? 1 : 0;
  EXPECT_EQ(known, 27);
  EXPECT_FALSE(is_known_property(0x00));
  EXPECT_FALSE(is_known_property(0x04));
  EXPECT_FALSE(is_known_property(0x2B));
}

TEST(Properties, PlacementRules) {
  EXPECT_TRUE(allowed_in(property_id::session_expiry_interval, packet_type::connect));
  EXPECT_TRUE(allowed_in(property_id::session_expiry_interval, packet_type::disconnect));
  EXPECT_FALSE(allowed_in(property_id::session_expiry_interval, packet_type::publish));
  EXPECT_TRUE(allowed_in(property_id::will_delay_interval, packet_type::connect, property_context::will));
  EXPECT_FALSE(allowed_in(property_id::will_delay_interval, packet_type::connect));
  EXPECT_TRUE(allowed_in(property_id::message_expiry_interval, packet_type::connect, property_context::will));
  EXPECT_FALSE(allowed_in(property_id::session_expiry_interval, packet_type::connect, property_context::will));
  EXPECT_TRUE(allowed_in(property_id::reason_string, packet_type::puback));
  EXPECT_FALSE(allowed_in(property_id::reason_string, packet_type::publish));
  EXPECT_FALSE(allowed_in(property_id::reason_string, packet_type::connect));
  EXPECT_TRUE(allowed_in(property_id::user_property, packet_type::auth));
  EXPECT_FALSE(allowed_in(property_id::user_property, packet_type::pingreq));
  EXPECT_TRUE(allowed_in(property_id::subscription_identifier, packet_type::subscribe));
  EXPECT_FALSE(allowed_in(property_id::subscription_identifier, packet_type::unsubscribe));
  EXPECT_TRUE(allowed_in(property_id::authentication_data, packet_type::auth));
  EXPECT_TRUE(is_repeatable(property_id::user_property));
  EXPECT_FALSE(is_repeatable(property_id::reason_string));
}

TEST(Properties, AccessorsAndSet) {
  properties p;
  EXPECT_TRUE(p.empty());
  p.add(property_id::message_expiry_interval, std::uint32_t{30});
  p.add(property_id::response_topic, std::string("r"));
  p.add(property_id::correlation_data, std::vector<std::uint8_t>{1, 2});
  p.add_user_property("a", "1");
  p.add_user_property("a", "2");
  EXPECT_EQ(p.integer(property_id::message_expiry_interval), 30U);
  EXPECT_EQ(p.string(property_id::response_topic), "r");
  ASSERT_TRUE(p.binary(property_id::correlation_data));
  EXPECT_EQ(p.binary(property_id::correlation_data)->size(), 2U);
  EXPECT_FALSE(p.integer(property_id::content_type));
  EXPECT_FALSE(p.string(property_id::message_expiry_interval));  // wrong type gives nothing
  const auto users = p.user_properties();
  ASSERT_EQ(users.size(), 2U);
  EXPECT_EQ(users[1].value, "2");
  p.set(property_id::message_expiry_interval, std::uint32_t{60});
  EXPECT_EQ(p.integer(property_id::message_expiry_interval), 60U);
  EXPECT_EQ(p.size(), 5U);
  p.erase(property_id::user_property);
  EXPECT_EQ(p.size(), 3U);
  EXPECT_FALSE(validate(p, packet_type::publish));
}

TEST(Properties, Validate) {
  properties dup;
  dup.add(property_id::reason_string, std::string("a"));
  dup.add(property_id::reason_string, std::string("b"));
  EXPECT_TRUE(is(validate(dup, packet_type::puback), errc::protocol_error));

  properties misplaced;
  misplaced.add(property_id::topic_alias, std::uint32_t{1});
  EXPECT_TRUE(is(validate(misplaced, packet_type::connect), errc::malformed_packet));

  properties wrong_type;
  wrong_type.add(property_id::message_expiry_interval, std::string("soon"));
  EXPECT_TRUE(is(validate(wrong_type, packet_type::publish), errc::malformed_packet));

  properties too_big;
  too_big.add(property_id::server_keep_alive, std::uint32_t{70000});
  EXPECT_TRUE(is(validate(too_big, packet_type::connack), errc::malformed_packet));

  properties zero_receive_max;
  zero_receive_max.add(property_id::receive_maximum, std::uint32_t{0});
  EXPECT_TRUE(is(validate(zero_receive_max, packet_type::connect), errc::protocol_error));

  properties sub_ids;
  sub_ids.add(property_id::subscription_identifier, std::uint32_t{1});
  sub_ids.add(property_id::subscription_identifier, std::uint32_t{2});
  EXPECT_FALSE(validate(sub_ids, packet_type::publish));  // repeatable in PUBLISH only
  EXPECT_TRUE(is(validate(sub_ids, packet_type::subscribe), errc::protocol_error));

  properties bad_utf8;
  bad_utf8.add(property_id::content_type, std::string("\xC0\x80"));
  EXPECT_TRUE(is(validate(bad_utf8, packet_type::publish), errc::malformed_packet));
}

TEST(ReasonCodes, NamesAndMessages) {
  EXPECT_EQ(reason_message(reason_code::not_authorized), "not authorized");
  EXPECT_EQ(reason_message(reason_code::bad_user_name_or_password), "bad user name or password");
  EXPECT_EQ(reason_message(reason_code::server_unavailable), "server unavailable");
  EXPECT_EQ(reason_name(reason_code::quota_exceeded), "quota_exceeded");
  EXPECT_EQ(reason_message(static_cast<reason_code>(0x03)), "unknown reason code");
  EXPECT_TRUE(is_failure(reason_code::unspecified_error));
  EXPECT_FALSE(is_failure(reason_code::no_matching_subscribers));
  EXPECT_TRUE(is_known_reason_code(0xA2));
  EXPECT_FALSE(is_known_reason_code(0xA3));
}

TEST(ReasonCodes, V311ConnackMapping) {
  EXPECT_EQ(from_v311_connack(0), reason_code::success);
  EXPECT_EQ(from_v311_connack(1), reason_code::unsupported_protocol_version);
  EXPECT_EQ(from_v311_connack(2), reason_code::client_identifier_not_valid);
  EXPECT_EQ(from_v311_connack(3), reason_code::server_unavailable);
  EXPECT_EQ(from_v311_connack(4), reason_code::bad_user_name_or_password);
  EXPECT_EQ(from_v311_connack(5), reason_code::not_authorized);
  EXPECT_EQ(from_v311_connack(9), reason_code::unspecified_error);
  for (std::uint8_t rc = 0; rc <= 5; ++rc) EXPECT_EQ(to_v311_connack(from_v311_connack(rc)), rc);
  EXPECT_EQ(to_v311_connack(reason_code::banned), 3);
}

TEST(ReasonCodes, ErrorCategoriesStayDistinct) {
  const auto ours = make_error_code(errc::malformed_packet);
  const auto broker = make_error_code(reason_code::malformed_packet);
  EXPECT_NE(ours, broker);
  EXPECT_STREQ(ours.category().name(), "fieldbridge.mqtt");
  EXPECT_STREQ(broker.category().name(), "fieldbridge.mqtt.reason");
  EXPECT_EQ(broker.message(), "malformed packet");
  EXPECT_EQ(make_error_code(errc::keep_alive_timeout).message(),
            "nothing received from the broker within 1.5x keep-alive");
  boost::system::error_code implicit = errc::session_lost;  // is_error_code_enum
  EXPECT_EQ(implicit, make_error_code(errc::session_lost));
}

TEST(ReasonCodes, DisconnectReasonForOurErrors) {
  EXPECT_EQ(disconnect_reason(make_error_code(errc::malformed_packet)), reason_code::malformed_packet);
  EXPECT_EQ(disconnect_reason(make_error_code(errc::protocol_error)), reason_code::protocol_error);
  EXPECT_EQ(disconnect_reason(make_error_code(errc::packet_too_large)), reason_code::packet_too_large);
  EXPECT_EQ(disconnect_reason(make_error_code(errc::receive_maximum_exceeded)), reason_code::receive_maximum_exceeded);
  EXPECT_EQ(disconnect_reason(make_error_code(errc::topic_alias_invalid)), reason_code::topic_alias_invalid);
  EXPECT_EQ(disconnect_reason(make_error_code(reason_code::quota_exceeded)), reason_code::quota_exceeded);
  // A transport error is never mapped to a protocol reason.
  EXPECT_EQ(disconnect_reason(boost::system::error_code(104, boost::system::system_category())),
            reason_code::unspecified_error);
}

TEST(Packets, TypeOfMatchesTheVariantOrder) {
  EXPECT_EQ(type_of(packet{connect_packet{}}), packet_type::connect);
  EXPECT_EQ(type_of(packet{pubcomp_packet{}}), packet_type::pubcomp);
  EXPECT_EQ(type_of(packet{auth_packet{}}), packet_type::auth);
  EXPECT_EQ(packet_name(packet_type::unsuback), "UNSUBACK");
}

}  // namespace
}  // namespace fieldbridge::mqtt
