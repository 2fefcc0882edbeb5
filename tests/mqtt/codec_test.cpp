// Codec tests: hand-written wire vectors (from the MQTT 3.1.1 and 5.0 specs'
// packet layouts) for every packet type in both versions, remaining-length
// boundaries, and malformed input.
#include "protocol_test_util.hpp"

#include <fieldbridge/mqtt/codec.hpp>

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace fieldbridge::mqtt {
namespace {

using test::bytes;
using test::decode_error;
using test::decode_or_fail;
using test::encode_or_fail;
using test::hex;
using test::to_bytes;
using test::to_hex;

constexpr auto v311 = protocol_version::v311;
constexpr auto v5 = protocol_version::v5;

// Both directions: the packet encodes to exactly `wire`, `wire` decodes to the packet.
void expect_vector(const packet& p, protocol_version v, const bytes& wire) {
  EXPECT_EQ(to_hex(encode_or_fail(p, v)), to_hex(wire)) << packet_name(type_of(p));
  EXPECT_EQ(decode_or_fail(wire, v), p) << packet_name(type_of(p)) << " " << to_hex(wire);
  const auto size = encoded_size(p, v);
  EXPECT_FALSE(size.error);
  EXPECT_EQ(size.size, wire.size());
}

bool is(const boost::system::error_code& ec, errc e) { return ec == make_error_code(e); }

// --- CONNECT -------------------------------------------------------------

TEST(CodecConnect, V311Minimal) {
  connect_packet c;
  c.version = v311;
  c.client_id = "c1";
  c.clean_start = true;
  c.keep_alive = 60;
  expect_vector(c, v311, hex("10 0E 00 04 4D 51 54 54 04 02 00 3C 00 02 63 31"));
}

TEST(CodecConnect, V311WillUserPassword) {
  connect_packet c;
  c.version = v311;
  c.client_id = "c";
  c.clean_start = false;
  c.keep_alive = 10;
  c.username = "u";
  c.password = to_bytes("p");
  c.will = will_message{"w", to_bytes("x"), qos::at_least_once, true, {}};
  expect_vector(c, v311,
                hex("10 19 00 04 4D 51 54 54 04 EC 00 0A 00 01 63 00 01 77 00 01 78 00 01 75 00 01 70"));
}

TEST(CodecConnect, V5WithPropertiesAndWillProperties) {
  connect_packet c;
  c.version = v5;
  c.client_id = "c";
  c.clean_start = true;
  c.keep_alive = 30;
  c.props.add(property_id::session_expiry_interval, std::uint32_t{3600});
  c.props.add(property_id::receive_maximum, std::uint32_t{20});
  c.will = will_message{"w", to_bytes("x"), qos::at_most_once, false, {}};
  c.will->props.add(property_id::will_delay_interval, std::uint32_t{5});
  c.username = "u";
  c.password = to_bytes("p");
  expect_vector(c, v5,
                hex("10 28 00 04 4D 51 54 54 05 C6 00 1E 08 11 00 00 0E 10 21 00 14"
                    " 00 01 63 05 18 00 00 00 05 00 01 77 00 01 78 00 01 75 00 01 70"));
}

TEST(CodecConnect, VersionComesFromThePacket) {
  // A CONNECT decoded by a v5 decoder is still recognised as 3.1.1.
  const auto p = decode_or_fail(hex("10 0E 00 04 4D 51 54 54 04 02 00 3C 00 02 63 31"), v5);
  EXPECT_EQ(std::get<connect_packet>(p).version, v311);
}

TEST(CodecConnect, Rejects) {
  // Protocol level 3 (MQTT 3.1 "MQIsdp") and 6.
  EXPECT_TRUE(is(decode_error(hex("10 10 00 06 4D 51 49 73 64 70 03 02 00 3C 00 02 63 31"), v5),
                 errc::unsupported_in_version));
  EXPECT_TRUE(is(decode_error(hex("10 0E 00 04 4D 51 54 54 06 02 00 3C 00 02 63 31"), v5),
                 errc::unsupported_in_version));
  // Wrong protocol name.
  EXPECT_TRUE(is(decode_error(hex("10 0E 00 04 4D 51 54 58 04 02 00 3C 00 02 63 31"), v5), errc::malformed_packet));
  // Reserved flag bit 0 set.
  EXPECT_TRUE(is(decode_error(hex("10 0E 00 04 4D 51 54 54 04 03 00 3C 00 02 63 31"), v5), errc::malformed_packet));
  // Will QoS 3.
  EXPECT_TRUE(is(decode_error(hex("10 13 00 04 4D 51 54 54 04 1E 00 3C 00 01 63 00 01 77 00 01 78"), v5),
                 errc::malformed_packet));
  // Will QoS set without the will flag.
  EXPECT_TRUE(is(decode_error(hex("10 0E 00 04 4D 51 54 54 04 0A 00 3C 00 02 63 31"), v5), errc::malformed_packet));
  // 3.1.1: password without user name.
  EXPECT_TRUE(is(decode_error(hex("10 10 00 04 4D 51 54 54 04 42 00 3C 00 01 63 00 01 70"), v5),
                 errc::malformed_packet));
  // Trailing garbage.
  EXPECT_TRUE(is(decode_error(hex("10 0F 00 04 4D 51 54 54 04 02 00 3C 00 02 63 31 FF"), v5), errc::malformed_packet));
  // Encoder refuses a 3.1.1 empty client id without clean session.
  connect_packet anonymous;
  anonymous.version = v311;
  anonymous.clean_start = false;
  bytes none;
  EXPECT_TRUE(encode(packet{anonymous}, v311, none));
  anonymous.clean_start = true;
  EXPECT_FALSE(encode(packet{anonymous}, v311, none));
  // Encoder refuses a 3.1.1 password without user name.
  connect_packet c;
  c.version = v311;
  c.password = to_bytes("p");
  bytes out;
  EXPECT_TRUE(encode(packet{c}, v311, out));
  EXPECT_TRUE(out.empty());
}

// --- CONNACK -----------------------------------------------------------------

TEST(CodecConnack, V311ReturnCodes) {
  expect_vector(connack_packet{true, reason_code::success, {}}, v311, hex("20 02 01 00"));
  expect_vector(connack_packet{false, reason_code::unsupported_protocol_version, {}}, v311, hex("20 02 00 01"));
  expect_vector(connack_packet{false, reason_code::client_identifier_not_valid, {}}, v311, hex("20 02 00 02"));
  expect_vector(connack_packet{false, reason_code::server_unavailable, {}}, v311, hex("20 02 00 03"));
  expect_vector(connack_packet{false, reason_code::bad_user_name_or_password, {}}, v311, hex("20 02 00 04"));
  expect_vector(connack_packet{false, reason_code::not_authorized, {}}, v311, hex("20 02 00 05"));
  EXPECT_TRUE(is(decode_error(hex("20 02 00 06"), v311), errc::malformed_packet));
  EXPECT_TRUE(is(decode_error(hex("20 02 02 00"), v311), errc::malformed_packet));  // reserved ack flag
  EXPECT_TRUE(is(decode_error(hex("20 03 00 00 00"), v311), errc::malformed_packet));
}

TEST(CodecConnack, V5WithManyProperties) {
  connack_packet a{false, reason_code::success, {}};
  auto& p = a.props;
  p.add(property_id::assigned_client_identifier, std::string("ab"));
  p.add(property_id::server_keep_alive, std::uint32_t{60});
  p.add(property_id::receive_maximum, std::uint32_t{10});
  p.add(property_id::maximum_packet_size, std::uint32_t{4096});
  p.add(property_id::maximum_qos, std::uint32_t{1});
  p.add(property_id::retain_available, std::uint32_t{0});
  p.add(property_id::topic_alias_maximum, std::uint32_t{5});
  p.add(property_id::wildcard_subscription_available, std::uint32_t{1});
  p.add(property_id::subscription_identifier_available, std::uint32_t{0});
  p.add(property_id::shared_subscription_available, std::uint32_t{1});
  p.add(property_id::response_information, std::string("r"));
  p.add(property_id::server_reference, std::string("s"));
  p.add(property_id::reason_string, std::string("ok"));
  p.add(property_id::authentication_method, std::string("m"));
  p.add(property_id::authentication_data, bytes{1, 2});
  p.add_user_property("k", "v");
  p.add(property_id::session_expiry_interval, std::uint32_t{60});
  expect_vector(a, v5,
                hex("20 42 00 00 3F"
                    " 12 00 02 61 62  13 00 3C  21 00 0A  27 00 00 10 00  24 01  25 00  22 00 05"
                    " 28 01  29 00  2A 01  1A 00 01 72  1C 00 01 73  1F 00 02 6F 6B  15 00 01 6D"
                    " 16 00 02 01 02  26 00 01 6B 00 01 76  11 00 00 00 3C"));
}

TEST(CodecConnack, V5Refused) {
  expect_vector(connack_packet{false, reason_code::not_authorized, {}}, v5, hex("20 03 00 87 00"));
  expect_vector(connack_packet{false, reason_code::bad_user_name_or_password, {}}, v5, hex("20 03 00 86 00"));
  // 0x10 is not a CONNACK reason code.
  EXPECT_TRUE(is(decode_error(hex("20 03 00 10 00"), v5), errc::malformed_packet));
}

// --- PUBLISH -------------------------------------------------------------------

TEST(CodecPublish, V311) {
  publish_packet p{"t", to_bytes("hi"), qos::at_most_once, false, false, 0, {}};
  expect_vector(p, v311, hex("30 05 00 01 74 68 69"));
  publish_packet q{"a/b", to_bytes("hi"), qos::at_least_once, true, true, 10, {}};
  expect_vector(q, v311, hex("3B 09 00 03 61 2F 62 00 0A 68 69"));
  publish_packet empty{"t", {}, qos::exactly_once, false, false, 1, {}};
  expect_vector(empty, v311, hex("34 05 00 01 74 00 01"));
}

TEST(CodecPublish, V5WithProperties) {
  publish_packet p{"t", bytes{1, 2}, qos::exactly_once, false, false, 5, {}};
  p.props.add(property_id::message_expiry_interval, std::uint32_t{60});
  expect_vector(p, v5, hex("34 0D 00 01 74 00 05 05 02 00 00 00 3C 01 02"));
  publish_packet q0{"t", {}, qos::at_most_once, true, false, 0, {}};
  expect_vector(q0, v5, hex("31 04 00 01 74 00"));
}

TEST(CodecPublish, HeaderOnlyForScatterWrite) {
  publish_packet p{"a/b", to_bytes("hi"), qos::at_least_once, true, true, 10, {}};
  bytes header;
  ASSERT_FALSE(encode_publish_header(p, v311, header));
  EXPECT_EQ(to_hex(header), "3B 09 00 03 61 2F 62 00 0A");
  header.insert(header.end(), p.payload.begin(), p.payload.end());
  EXPECT_EQ(header, encode_or_fail(p, v311));
}

TEST(CodecPublish, Rejects) {
  EXPECT_TRUE(is(decode_error(hex("36 05 00 01 74 00 01"), v311), errc::malformed_packet));  // QoS 3
  EXPECT_TRUE(is(decode_error(hex("32 05 00 01 74 00 00"), v311), errc::malformed_packet));  // id 0
  EXPECT_TRUE(is(decode_error(hex("38 03 00 01 74"), v311), errc::malformed_packet));        // DUP with QoS 0
  EXPECT_TRUE(is(decode_error(hex("30 03 00 01 23"), v311), errc::malformed_packet));        // '#' in a name
  EXPECT_TRUE(is(decode_error(hex("30 03 00 01 2B"), v311), errc::malformed_packet));        // '+' in a name
  EXPECT_TRUE(is(decode_error(hex("30 04 00 02 61 00"), v311), errc::malformed_packet));     // U+0000
  EXPECT_TRUE(is(decode_error(hex("30 05 00 03 61 C0 80"), v311), errc::malformed_packet));  // overlong NUL
  EXPECT_TRUE(is(decode_error(hex("30 05 00 03 ED A0 80"), v311), errc::malformed_packet));  // surrogate
  EXPECT_TRUE(is(decode_error(hex("30 04 00 03 61 62"), v311), errc::malformed_packet));     // string past end
  EXPECT_TRUE(is(decode_error(hex("30 02 00 00"), v311), errc::malformed_packet));           // empty topic
  EXPECT_TRUE(is(decode_error(hex("30 03 00 00 00"), v5), errc::protocol_error));            // empty, no alias
  // Empty topic with a Topic Alias is well-formed MQTT 5.
  EXPECT_FALSE(decode_error(hex("30 06 00 00 03 23 00 01"), v5));
  // Property not allowed in PUBLISH (session expiry) and a duplicated one.
  EXPECT_TRUE(is(decode_error(hex("30 09 00 01 74 05 11 00 00 00 01"), v5), errc::malformed_packet));
  EXPECT_TRUE(is(decode_error(hex("30 0E 00 01 74 0A 02 00 00 00 01 02 00 00 00 02"), v5), errc::protocol_error));
  // Unknown property identifier 0x7F.
  EXPECT_TRUE(is(decode_error(hex("30 06 00 01 74 02 7F 00"), v5), errc::malformed_packet));
  // Property length running past the packet.
  EXPECT_TRUE(is(decode_error(hex("30 06 00 01 74 09 02 00"), v5), errc::malformed_packet));
  // Encoder side: invalid topic, missing id, DUP on QoS 0.
  bytes out;
  EXPECT_TRUE(is(encode(packet{publish_packet{"a/+", {}, qos::at_most_once, false, false, 0, {}}}, v5, out),
                 errc::invalid_topic));
  EXPECT_TRUE(encode(packet{publish_packet{"a", {}, qos::at_least_once, false, false, 0, {}}}, v5, out));
  EXPECT_TRUE(encode(packet{publish_packet{"a", {}, qos::at_most_once, false, true, 0, {}}}, v5, out));
  EXPECT_TRUE(out.empty());
}

// --- acknowledgements ------------------------------------------------------------

TEST(CodecAcks, V311) {
  expect_vector(puback_packet{7, reason_code::success, {}}, v311, hex("40 02 00 07"));
  expect_vector(pubrec_packet{1, reason_code::success, {}}, v311, hex("50 02 00 01"));
  expect_vector(pubrel_packet{1, reason_code::success, {}}, v311, hex("62 02 00 01"));
  expect_vector(pubcomp_packet{0xFFFF, reason_code::success, {}}, v311, hex("70 02 FF FF"));
  // 3.1.1 has no reason code: a longer ack is malformed.
  EXPECT_TRUE(is(decode_error(hex("40 03 00 07 00"), v311), errc::malformed_packet));
}

TEST(CodecAcks, V5ShortAndLongForms) {
  expect_vector(puback_packet{7, reason_code::success, {}}, v5, hex("40 02 00 07"));
  expect_vector(puback_packet{7, reason_code::no_matching_subscribers, {}}, v5, hex("40 03 00 07 10"));
  puback_packet with_reason{7, reason_code::not_authorized, {}};
  with_reason.props.add(property_id::reason_string, std::string("x"));
  expect_vector(with_reason, v5, hex("40 08 00 07 87 04 1F 00 01 78"));
  expect_vector(pubrec_packet{1, reason_code::unspecified_error, {}}, v5, hex("50 03 00 01 80"));
  expect_vector(pubrel_packet{1, reason_code::packet_identifier_not_found, {}}, v5, hex("62 03 00 01 92"));
  expect_vector(pubcomp_packet{1, reason_code::success, {}}, v5, hex("70 02 00 01"));
  // The long form with success and no properties decodes too.
  EXPECT_EQ(decode_or_fail(hex("40 04 00 07 00 00"), v5), packet(puback_packet{7, reason_code::success, {}}));
}

TEST(CodecAcks, Rejects) {
  EXPECT_TRUE(is(decode_error(hex("40 02 00 00"), v5), errc::malformed_packet));     // id 0
  EXPECT_TRUE(is(decode_error(hex("41 02 00 01"), v5), errc::malformed_packet));     // flags on PUBACK
  EXPECT_TRUE(is(decode_error(hex("60 02 00 01"), v5), errc::malformed_packet));     // PUBREL needs 0010
  EXPECT_TRUE(is(decode_error(hex("40 01 00"), v5), errc::malformed_packet));        // truncated
  EXPECT_TRUE(is(decode_error(hex("40 03 00 01 92"), v5), errc::malformed_packet));  // 0x92 not for PUBACK
  EXPECT_TRUE(is(decode_error(hex("62 03 00 01 10"), v5), errc::malformed_packet));  // 0x10 not for PUBREL
}

// --- SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK ------------------------------------

TEST(CodecSubscribe, V311) {
  subscribe_packet s{5, {{"a/#", {qos::at_least_once}}, {"+", {qos::exactly_once}}}, {}};
  expect_vector(s, v311, hex("82 0C 00 05 00 03 61 2F 23 01 00 01 2B 02"));
  // Options bits above QoS are reserved in 3.1.1.
  EXPECT_TRUE(is(decode_error(hex("82 06 00 05 00 01 74 04"), v311), errc::malformed_packet));
}

TEST(CodecSubscribe, V5OptionsAndSubscriptionIdentifier) {
  subscribe_packet s{5, {{"t", {qos::at_least_once, true, true, retain_handling::dont_send}}}, {}};
  s.props.add(property_id::subscription_identifier, std::uint32_t{7});
  expect_vector(s, v5, hex("82 09 00 05 02 0B 07 00 01 74 2D"));
  EXPECT_TRUE(is(decode_error(hex("82 07 00 05 00 00 01 74 30"), v5), errc::protocol_error));   // retain handling 3
  EXPECT_TRUE(is(decode_error(hex("82 07 00 05 00 00 01 74 40"), v5), errc::malformed_packet));  // reserved bits
  EXPECT_TRUE(is(decode_error(hex("82 07 00 05 00 00 01 74 03"), v5), errc::malformed_packet));  // QoS 3
  EXPECT_TRUE(is(decode_error(hex("82 03 00 05 00"), v5), errc::protocol_error));                 // no filter
  EXPECT_TRUE(is(decode_error(hex("82 08 00 05 00 00 02 61 23 00"), v5), errc::malformed_packet));  // "a#"
  EXPECT_TRUE(is(decode_error(hex("80 06 00 05 00 01 74 00"), v311), errc::malformed_packet));    // flags 0000
  // Subscription identifier 0 and twice in SUBSCRIBE.
  EXPECT_TRUE(is(decode_error(hex("82 09 00 05 02 0B 00 00 01 74 00"), v5), errc::protocol_error));
  EXPECT_TRUE(is(decode_error(hex("82 0B 00 05 04 0B 01 0B 02 00 01 74 00"), v5), errc::protocol_error));
}

TEST(CodecSuback, BothVersions) {
  expect_vector(suback_packet{5, {reason_code::granted_qos_1, reason_code::unspecified_error}, {}}, v311,
                hex("90 04 00 05 01 80"));
  expect_vector(suback_packet{5, {reason_code::granted_qos_0, reason_code::wildcard_subscriptions_not_supported}, {}},
                v5, hex("90 05 00 05 00 00 A2"));
  EXPECT_TRUE(is(decode_error(hex("90 03 00 05 87"), v311), errc::malformed_packet));  // 0x87 is 5.0 only
  EXPECT_TRUE(is(decode_error(hex("90 02 00 05"), v311), errc::malformed_packet));     // no codes
}

TEST(CodecUnsubscribe, BothVersions) {
  expect_vector(unsubscribe_packet{6, {"t"}, {}}, v311, hex("A2 05 00 06 00 01 74"));
  expect_vector(unsubscribe_packet{6, {"t"}, {}}, v5, hex("A2 06 00 06 00 00 01 74"));
  unsubscribe_packet with_user{6, {"t"}, {}};
  with_user.props.add_user_property("k", "v");
  expect_vector(with_user, v5, hex("A2 0D 00 06 07 26 00 01 6B 00 01 76 00 01 74"));
  EXPECT_TRUE(is(decode_error(hex("A2 02 00 06"), v311), errc::malformed_packet));
}

TEST(CodecUnsuback, BothVersions) {
  expect_vector(unsuback_packet{6, {}, {}}, v311, hex("B0 02 00 06"));
  expect_vector(unsuback_packet{6, {reason_code::no_subscription_existed}, {}}, v5, hex("B0 04 00 06 00 11"));
  EXPECT_TRUE(is(decode_error(hex("B0 03 00 06 00"), v5), errc::malformed_packet));  // no codes in 5.0
}

// --- PINGREQ / PINGRESP / DISCONNECT / AUTH ------------------------------------

TEST(CodecPing, BothVersions) {
  for (auto v : {v311, v5}) {
    expect_vector(pingreq_packet{}, v, hex("C0 00"));
    expect_vector(pingresp_packet{}, v, hex("D0 00"));
    EXPECT_TRUE(is(decode_error(hex("C0 01 00"), v), errc::malformed_packet));
    EXPECT_TRUE(is(decode_error(hex("C1 00"), v), errc::malformed_packet));
  }
}

TEST(CodecDisconnect, BothVersions) {
  expect_vector(disconnect_packet{}, v311, hex("E0 00"));
  expect_vector(disconnect_packet{}, v5, hex("E0 00"));
  expect_vector(disconnect_packet{reason_code::session_taken_over, {}}, v5, hex("E0 01 8E"));
  disconnect_packet d{reason_code::server_moved, {}};
  d.props.add(property_id::server_reference, std::string("s"));
  expect_vector(d, v5, hex("E0 06 9D 04 1C 00 01 73"));
  EXPECT_TRUE(is(decode_error(hex("E0 01 00"), v311), errc::malformed_packet));
  EXPECT_TRUE(is(decode_error(hex("E0 01 18"), v5), errc::malformed_packet));  // 0x18 is for AUTH
}

TEST(CodecAuth, V5Only) {
  expect_vector(auth_packet{}, v5, hex("F0 00"));
  auth_packet a{reason_code::continue_authentication, {}};
  a.props.add(property_id::authentication_method, std::string("m"));
  expect_vector(a, v5, hex("F0 06 18 04 15 00 01 6D"));
  EXPECT_TRUE(is(decode_error(hex("F0 00"), v311), errc::malformed_packet));
  bytes out;
  EXPECT_TRUE(is(encode(packet{auth_packet{}}, v311, out), errc::unsupported_in_version));
}

TEST(CodecFixedHeader, ReservedTypeZero) {
  EXPECT_TRUE(is(decode_error(hex("00 00"), v5), errc::malformed_packet));
  EXPECT_TRUE(is(decode_error(bytes{}, v5), errc::malformed_packet));
}

// --- every property, one vector each ---------------------------------------------

struct property_vector {
  property_id id;
  property_value value;
  packet_type where;  // connect with will = property_context::will
  bool will = false;
  const char* wire;
};

// Wraps property bytes in the smallest packet that may carry them (v5).
bytes wrap(const property_vector& v, const bytes& prop) {
  const auto n = static_cast<std::uint8_t>(prop.size());
  bytes out;
  auto add = [&out](const bytes& b) { out.insert(out.end(), b.begin(), b.end()); };
  if (v.will) {
    add({0x10, static_cast<std::uint8_t>(19 + n)});
    add(hex("00 04 4D 51 54 54 05 06 00 00 00 00 00"));
    add({n});
    add(prop);
    add(hex("00 01 77 00 00"));
    return out;
  }
  switch (v.where) {
    case packet_type::publish: add({0x30, static_cast<std::uint8_t>(4 + n)}); add(hex("00 01 74")); break;
    case packet_type::connack: add({0x20, static_cast<std::uint8_t>(3 + n)}); add(hex("00 00")); break;
    case packet_type::disconnect: add({0xE0, static_cast<std::uint8_t>(2 + n)}); add(hex("00")); break;
    case packet_type::auth: add({0xF0, static_cast<std::uint8_t>(2 + n)}); add(hex("18")); break;
    case packet_type::puback: add({0x40, static_cast<std::uint8_t>(4 + n)}); add(hex("00 01 80")); break;
    case packet_type::subscribe: add({0x82, static_cast<std::uint8_t>(7 + n)}); add(hex("00 01")); break;
    case packet_type::connect:
      add({0x10, static_cast<std::uint8_t>(13 + n)});
      add(hex("00 04 4D 51 54 54 05 02 00 00"));
      break;
    default: ADD_FAILURE(); break;
  }
  add({n});
  add(prop);
  if (v.where == packet_type::subscribe) add(hex("00 01 74 00"));
  if (v.where == packet_type::connect) add(hex("00 00"));
  return out;
}

properties& props_of(packet& p, bool will) {
  return std::visit(
      [&](auto& x) -> properties& {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, connect_packet>) {
          return will ? x.will->props : x.props;
        } else if constexpr (requires { x.props; }) {
          return x.props;
        } else {
          throw std::logic_error("no properties");
        }
      },
      p);
}

TEST(CodecProperties, EveryPropertyHasAVector) {
  using pt = packet_type;
  const std::vector<property_vector> vectors = {
      {property_id::payload_format_indicator, std::uint32_t{1}, pt::publish, false, "01 01"},
      {property_id::message_expiry_interval, std::uint32_t{0x01020304}, pt::publish, false, "02 01 02 03 04"},
      {property_id::content_type, std::string("j"), pt::publish, false, "03 00 01 6A"},
      {property_id::response_topic, std::string("r/t"), pt::publish, false, "08 00 03 72 2F 74"},
      {property_id::correlation_data, bytes{0xDE, 0xAD}, pt::publish, false, "09 00 02 DE AD"},
      {property_id::subscription_identifier, std::uint32_t{268435455}, pt::publish, false, "0B FF FF FF 7F"},
      {property_id::subscription_identifier, std::uint32_t{128}, pt::subscribe, false, "0B 80 01"},
      {property_id::session_expiry_interval, std::uint32_t{0xFFFFFFFF}, pt::connect, false, "11 FF FF FF FF"},
      {property_id::session_expiry_interval, std::uint32_t{0}, pt::disconnect, false, "11 00 00 00 00"},
      {property_id::assigned_client_identifier, std::string("id"), pt::connack, false, "12 00 02 69 64"},
      {property_id::server_keep_alive, std::uint32_t{0x1234}, pt::connack, false, "13 12 34"},
      {property_id::authentication_method, std::string("m"), pt::auth, false, "15 00 01 6D"},
      {property_id::authentication_data, bytes{0x00}, pt::auth, false, "16 00 01 00"},
      {property_id::request_problem_information, std::uint32_t{0}, pt::connect, false, "17 00"},
      {property_id::will_delay_interval, std::uint32_t{30}, pt::connect, true, "18 00 00 00 1E"},
      {property_id::request_response_information, std::uint32_t{1}, pt::connect, false, "19 01"},
      {property_id::response_information, std::string("ri"), pt::connack, false, "1A 00 02 72 69"},
      {property_id::server_reference, std::string("h"), pt::disconnect, false, "1C 00 01 68"},
      {property_id::reason_string, std::string("why"), pt::puback, false, "1F 00 03 77 68 79"},
      {property_id::receive_maximum, std::uint32_t{65535}, pt::connect, false, "21 FF FF"},
      {property_id::topic_alias_maximum, std::uint32_t{0}, pt::connect, false, "22 00 00"},
      {property_id::topic_alias, std::uint32_t{1}, pt::publish, false, "23 00 01"},
      {property_id::maximum_qos, std::uint32_t{0}, pt::connack, false, "24 00"},
      {property_id::retain_available, std::uint32_t{1}, pt::connack, false, "25 01"},
      {property_id::user_property, string_pair{"a", ""}, pt::auth, false, "26 00 01 61 00 00"},
      {property_id::maximum_packet_size, std::uint32_t{0x10000}, pt::connack, false, "27 00 01 00 00"},
      {property_id::wildcard_subscription_available, std::uint32_t{0}, pt::connack, false, "28 00"},
      {property_id::subscription_identifier_available, std::uint32_t{1}, pt::connack, false, "29 01"},
      {property_id::shared_subscription_available, std::uint32_t{0}, pt::connack, false, "2A 00"},
      {property_id::content_type, std::string("x"), pt::connect, true, "03 00 01 78"},
  };
  std::set<property_id> covered;
  for (const auto& v : vectors) {
    SCOPED_TRACE(std::string(property_name(v.id)));
    const auto wire = wrap(v, hex(v.wire));
    auto p = decode_or_fail(wire, v5);
    auto& props = props_of(p, v.will);
    ASSERT_EQ(props.size(), 1U);
    EXPECT_EQ(props.items()[0], (property{v.id, v.value}));
    EXPECT_EQ(to_hex(encode_or_fail(p, v5)), to_hex(wire));
    covered.insert(v.id);
  }
  for (unsigned id = 0; id < 0x80; ++id) {
    if (is_known_property(static_cast<std::uint8_t>(id))) {
      EXPECT_TRUE(covered.count(static_cast<property_id>(id))) << "no vector for property " << id;
    }
  }
  EXPECT_EQ(covered.size(), 27U);
}

TEST(CodecProperties, RepeatableUserPropertyAndSubscriptionIdentifier) {
  publish_packet p{"t", {}, qos::at_most_once, false, false, 0, {}};
  p.props.add_user_property("a", "1");
  p.props.add_user_property("a", "2");
  p.props.add(property_id::subscription_identifier, std::uint32_t{1});
  p.props.add(property_id::subscription_identifier, std::uint32_t{2});
  expect_vector(p, v5, hex("30 16 00 01 74 12 26 00 01 61 00 01 31 26 00 01 61 00 01 32 0B 01 0B 02"));
}

TEST(CodecProperties, ValuesOutOfRangeAreProtocolErrors) {
  // Receive Maximum 0, Maximum QoS 2, Maximum Packet Size 0, Topic Alias 0, Retain Available 2.
  EXPECT_TRUE(is(decode_error(hex("20 06 00 00 03 21 00 00"), v5), errc::protocol_error));
  EXPECT_TRUE(is(decode_error(hex("20 05 00 00 02 24 02"), v5), errc::protocol_error));
  EXPECT_TRUE(is(decode_error(hex("20 08 00 00 05 27 00 00 00 00"), v5), errc::protocol_error));
  EXPECT_TRUE(is(decode_error(hex("30 07 00 01 74 03 23 00 00"), v5), errc::protocol_error));
  EXPECT_TRUE(is(decode_error(hex("20 05 00 00 02 25 02"), v5), errc::protocol_error));
  // Non-minimal variable byte integer inside a property.
  EXPECT_TRUE(is(decode_error(hex("30 07 00 01 74 03 0B 81 00"), v5), errc::malformed_packet));
  // Bad UTF-8 in a user property value.
  EXPECT_TRUE(is(decode_error(hex("30 0C 00 01 74 08 26 00 01 61 00 02 C3 28"), v5), errc::malformed_packet));
}

// --- remaining length ------------------------------------------------------------

TEST(CodecRemainingLength, VariableByteIntegerBoundaries) {
  const std::vector<std::pair<std::uint32_t, const char*>> cases = {
      {0, "00"},           {127, "7F"},          {128, "80 01"},          {16383, "FF 7F"},
      {16384, "80 80 01"}, {2097151, "FF FF 7F"}, {2097152, "80 80 80 01"}, {268435455, "FF FF FF 7F"},
  };
  for (const auto& [value, wire] : cases) {
    bytes out;
    append_variable_byte_integer(out, value);
    EXPECT_EQ(to_hex(out), to_hex(hex(wire))) << value;
    EXPECT_EQ(variable_byte_integer_size(value), out.size());
    const auto r = read_variable_byte_integer(out);
    EXPECT_EQ(r.state, varint_result::status::ok);
    EXPECT_EQ(r.value, value);
    EXPECT_EQ(r.length, out.size());
  }
  EXPECT_EQ(variable_byte_integer_size(268435456), 0U);
}

TEST(CodecRemainingLength, FiveByteAndNonMinimalRejected) {
  for (const char* wire : {"FF FF FF FF 7F", "80 80 80 80 01", "80 00", "FF 00", "80 80 00", "FF FF 80 00"}) {
    EXPECT_EQ(read_variable_byte_integer(hex(wire)).state, varint_result::status::malformed) << wire;
  }
  EXPECT_EQ(read_variable_byte_integer(hex("80 80")).state, varint_result::status::need_more);
  EXPECT_TRUE(is(decode_error(hex("C0 80 00"), v5), errc::malformed_packet));
  EXPECT_TRUE(is(decode_error(hex("30 FF FF FF FF 7F"), v5), errc::malformed_packet));
  decoder d(v5);
  packet p;
  d.feed(hex("30 FF FF FF FF 7F"));
  EXPECT_EQ(d.next(p), decoder::status::failed);
  EXPECT_TRUE(is(d.error(), errc::malformed_packet));
  decoder d2(v5);
  d2.feed(hex("D0 80 00"));
  EXPECT_EQ(d2.next(p), decoder::status::failed);
}

// PUBLISH packets whose remaining length sits on each boundary (topic "t", QoS 0, v311: 3 header bytes).
TEST(CodecRemainingLength, PacketsOnTheBoundaries) {
  const std::vector<std::pair<std::uint32_t, const char*>> cases = {
      {127, "30 7F"}, {128, "30 80 01"}, {16383, "30 FF 7F"}, {16384, "30 80 80 01"},
      {2097151, "30 FF FF 7F"}, {2097152, "30 80 80 80 01"}};
  for (const auto& [rl, prefix] : cases) {
    publish_packet p{"t", bytes(rl - 3, 0xAB), qos::at_most_once, false, false, 0, {}};
    const auto wire = encode_or_fail(p, v311);
    const auto head = hex(prefix);
    ASSERT_EQ(wire.size(), head.size() + rl);
    EXPECT_TRUE(std::equal(head.begin(), head.end(), wire.begin())) << rl;
    EXPECT_EQ(decode_or_fail(wire, v311), packet(p));
  }
  // The largest remaining length: the decoder accepts the header and waits for the body.
  decoder d(v311);
  packet out;
  d.feed(hex("30 FF FF FF 7F 00 01 74"));
  EXPECT_EQ(d.next(out), decoder::status::need_more);
  // A zero remaining length packet.
  EXPECT_EQ(decode_or_fail(hex("D0 00"), v311), packet(pingresp_packet{}));
}

// --- incremental decoder -------------------------------------------------------------

TEST(CodecDecoder, ByteByByteStream) {
  const auto stream = hex("20 02 01 00  3B 09 00 03 61 2F 62 00 0A 68 69  D0 00  40 02 00 07");
  decoder d(v311);
  std::vector<packet> got;
  packet p;
  for (auto b : stream) {
    d.feed(std::span(&b, 1));
    while (true) {
      const auto st = d.next(p);
      ASSERT_NE(st, decoder::status::failed) << d.error().message();
      if (st == decoder::status::need_more) break;
      got.push_back(p);
    }
  }
  ASSERT_EQ(got.size(), 4U);
  EXPECT_EQ(type_of(got[0]), packet_type::connack);
  EXPECT_EQ(std::get<publish_packet>(got[1]).payload, to_bytes("hi"));
  EXPECT_EQ(type_of(got[2]), packet_type::pingresp);
  EXPECT_EQ(std::get<puback_packet>(got[3]).packet_id, 7);
  EXPECT_EQ(d.buffered(), 0U);
}

TEST(CodecDecoder, ManyPacketsInOneRead) {
  bytes stream;
  for (int i = 1; i <= 100; ++i) {
    const auto one = hex("40 02 00 00");
    stream.insert(stream.end(), one.begin(), one.end());
    stream[stream.size() - 1] = static_cast<std::uint8_t>(i);
  }
  decoder d(v5);
  d.feed(stream);
  packet p;
  int n = 0;
  while (d.next(p) == decoder::status::ready) {
    ++n;
    EXPECT_EQ(std::get<puback_packet>(p).packet_id, n);
  }
  EXPECT_EQ(n, 100);
}

TEST(CodecDecoder, MaximumPacketSizeEnforcedFromTheHeader) {
  decoder d(v5, 16);
  packet p;
  d.feed(hex("30 0F 00 01 74"));  // 17 bytes in total; only the start has arrived
  EXPECT_EQ(d.next(p), decoder::status::failed);
  EXPECT_TRUE(is(d.error(), errc::packet_too_large));
  EXPECT_EQ(disconnect_reason(d.error()), reason_code::packet_too_large);
  // Exactly the maximum is fine.
  decoder ok(v5, 16);
  auto exact = hex("30 0E 00 01 74 00");
  exact.resize(16, 0x41);
  ok.feed(exact);
  EXPECT_EQ(ok.next(p), decoder::status::ready);
}

TEST(CodecDecoder, StaysFailedAndResets) {
  decoder d(v5);
  packet p;
  d.feed(hex("41 02 00 01"));
  EXPECT_EQ(d.next(p), decoder::status::failed);
  d.feed(hex("D0 00"));
  EXPECT_EQ(d.next(p), decoder::status::failed);
  EXPECT_EQ(disconnect_reason(d.error()), reason_code::malformed_packet);
  d.reset();
  d.feed(hex("D0 00"));
  EXPECT_EQ(d.next(p), decoder::status::ready);
}

// --- UTF-8 --------------------------------------------------------------------

TEST(CodecUtf8, WellFormedOnly) {
  EXPECT_TRUE(valid_mqtt_utf8(""));
  EXPECT_TRUE(valid_mqtt_utf8("plain/ascii"));
  EXPECT_TRUE(valid_mqtt_utf8("\xC3\xA9"));          // é
  EXPECT_TRUE(valid_mqtt_utf8("\xE2\x82\xAC"));      // €
  EXPECT_TRUE(valid_mqtt_utf8("\xF0\x9F\x98\x80"));  // 😀
  EXPECT_TRUE(valid_mqtt_utf8("\xEF\xBF\xBF"));      // U+FFFF is well-formed
  EXPECT_TRUE(valid_mqtt_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_FALSE(valid_mqtt_utf8(std::string_view("a\0b", 3)));
  EXPECT_FALSE(valid_mqtt_utf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(valid_mqtt_utf8("\xC1\xBF"));          // overlong
  EXPECT_FALSE(valid_mqtt_utf8("\xE0\x9F\xBF"));      // overlong 3-byte
  EXPECT_FALSE(valid_mqtt_utf8("\xF0\x8F\xBF\xBF"));  // overlong 4-byte
  EXPECT_FALSE(valid_mqtt_utf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(valid_mqtt_utf8("\xED\xBF\xBF"));      // U+DFFF
  EXPECT_FALSE(valid_mqtt_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_mqtt_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(valid_mqtt_utf8("\x80"));              // lone continuation
  EXPECT_FALSE(valid_mqtt_utf8("\xC3"));              // truncated
  EXPECT_FALSE(valid_mqtt_utf8("\xE2\x82"));
  EXPECT_FALSE(valid_mqtt_utf8("\xFF"));
}

TEST(CodecEncode, StringTooLongIsRefused) {
  publish_packet p{std::string(65536, 'a'), {}, qos::at_most_once, false, false, 0, {}};
  bytes out;
  EXPECT_TRUE(encode(packet{p}, v5, out));
  EXPECT_TRUE(encoded_size(packet{p}, v5).error);
  p.topic.resize(65535);
  EXPECT_FALSE(encode(packet{p}, v5, out));
  EXPECT_EQ(out.size(), 1 + 3 + 2 + 65535 + 1U);
}

}  // namespace
}  // namespace fieldbridge::mqtt
