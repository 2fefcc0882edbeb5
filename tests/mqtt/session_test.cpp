// Session state machine tests: fed with broker packets and time, checked
// by decoding what it writes and the events it reports. No socket, no clock.
#include "protocol_test_util.hpp"

#include <fieldbridge/mqtt/session.hpp>

#include <gtest/gtest.h>

namespace fieldbridge::mqtt {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::to_bytes;

session_config make_config(protocol_version v = protocol_version::v5) {
  session_config c;
  c.version = v;
  c.client_id = "client";
  c.clean_start = false;
  c.keep_alive_s = 10;
  c.session_expiry_s = 3600;
  c.max_inflight = 20;
  return c;
}

// A session plus a broker's view of its output.
class harness {
 public:
  explicit harness(session_config config = make_config()) : s(std::move(config)), view_(s.config().version) {}

  static session_config default_config(protocol_version v = protocol_version::v5) { return make_config(v); }

  // Output since the last call, decoded as the broker would.
  std::vector<packet> sent() {
    collect();
    return std::exchange(sent_, {});
  }
  std::vector<session_event> events() {
    collect();
    return std::exchange(events_, {});
  }

  void from_broker(const packet& p) {
    bytes b;
    ASSERT_FALSE(encode(p, s.config().version, b));
    s.on_bytes(b, now);
  }
  void raw_from_broker(const bytes& b) { s.on_bytes(b, now); }

  // Transport up, CONNECT out, CONNACK in; returns what was sent after CONNACK.
  std::vector<packet> connect(bool session_present = false, properties connack_props = {}) {
    s.on_transport_connected(now);
    auto out = sent();
    EXPECT_EQ(out.size(), 1U);
    if (!out.empty()) {
      EXPECT_EQ(type_of(out[0]), packet_type::connect);
    }
    from_broker(connack_packet{session_present, reason_code::success, std::move(connack_props)});
    return sent();
  }

  void publish(std::string topic, qos q, message_token token, std::size_t payload_size = 2) {
    s.publish(publish_packet{std::move(topic), bytes(payload_size, 0x61), q, false, false, 0, {}}, token, now);
  }

  session s;
  session_clock::time_point now = session_clock::time_point{} + 1000h;

 private:
  void collect() {
    bytes out;
    s.take_output(out);
    view_.feed(out);
    packet p;
    while (true) {
      const auto st = view_.next(p);
      if (st == decoder::status::need_more) break;
      ASSERT_EQ(st, decoder::status::ready) << view_.error().message();
      sent_.push_back(p);
    }
    std::vector<session_event> ev;
    s.take_events(ev);
    events_.insert(events_.end(), std::make_move_iterator(ev.begin()), std::make_move_iterator(ev.end()));
  }

  decoder view_;
  std::vector<packet> sent_;
  std::vector<session_event> events_;
};

template <class E>
std::vector<E> only(const std::vector<session_event>& events) {
  std::vector<E> out;
  for (const auto& e : events) {
    if (const auto* x = std::get_if<E>(&e)) out.push_back(*x);
  }
  return out;
}

template <class P>
std::vector<P> only_packets(const std::vector<packet>& packets) {
  std::vector<P> out;
  for (const auto& p : packets) {
    if (const auto* x = std::get_if<P>(&p)) out.push_back(*x);
  }
  return out;
}

std::vector<std::uint16_t> publish_ids(const std::vector<packet>& packets) {
  std::vector<std::uint16_t> ids;
  for (const auto& p : only_packets<publish_packet>(packets)) ids.push_back(p.packet_id);
  return ids;
}

std::vector<packet_type> types_of(const std::vector<packet>& packets) {
  std::vector<packet_type> types;
  for (const auto& p : packets) types.push_back(type_of(p));
  return types;
}

std::vector<message_token> completed_tokens(const std::vector<session_event>& events) {
  std::vector<message_token> out;
  for (const auto& e : only<publish_completed_event>(events)) out.push_back(e.token);
  return out;
}

properties receive_maximum(std::uint32_t n) {
  properties p;
  p.add(property_id::receive_maximum, n);
  return p;
}

bool is(const boost::system::error_code& ec, errc e) { return ec == make_error_code(e); }

// The session asked to close with `e`, after writing a DISCONNECT with `code` (MQTT 5).
void expect_closed_with(harness& h, errc e, std::optional<reason_code> code) {
  const auto out = h.sent();
  const auto events = h.events();
  const auto closes = only<close_requested_event>(events);
  ASSERT_EQ(closes.size(), 1U);
  EXPECT_TRUE(is(closes[0].reason, e)) << closes[0].reason.message();
  const auto disconnects = only_packets<disconnect_packet>(out);
  if (code) {
    ASSERT_EQ(disconnects.size(), 1U);
    EXPECT_EQ(disconnects[0].code, *code);
  } else {
    EXPECT_TRUE(disconnects.empty());
  }
  EXPECT_EQ(h.s.current_state(), session::state::closing);
}

// --- connect ----------------------------------------------------------------------

TEST(SessionConnect, ConnectCarriesTheConfiguration) {
  auto config = harness::default_config();
  config.receive_maximum = 100;
  config.maximum_packet_size = 1 << 20;
  config.username = "user";
  config.password = to_bytes("pw");
  config.will = will_message{"plant/status", to_bytes("offline"), qos::at_least_once, true, {}};
  config.connect_properties.add(property_id::topic_alias_maximum, std::uint32_t{10});
  config.connect_properties.add_user_property("site", "plant1");
  harness h(config);
  h.s.on_transport_connected(h.now);
  const auto out = h.sent();
  ASSERT_EQ(out.size(), 1U);
  const auto& c = std::get<connect_packet>(out[0]);
  EXPECT_EQ(c.version, protocol_version::v5);
  EXPECT_EQ(c.client_id, "client");
  EXPECT_FALSE(c.clean_start);
  EXPECT_EQ(c.keep_alive, 10);
  EXPECT_EQ(c.props.integer(property_id::session_expiry_interval), 3600U);
  EXPECT_EQ(c.props.integer(property_id::receive_maximum), 100U);
  EXPECT_EQ(c.props.integer(property_id::maximum_packet_size), 1U << 20);
  EXPECT_FALSE(c.props.contains(property_id::topic_alias_maximum));  // absent = 0: we use no aliases
  ASSERT_EQ(c.props.user_properties().size(), 1U);
  EXPECT_EQ(c.props.user_properties()[0].value, "plant1");
  EXPECT_EQ(c.username, "user");
  ASSERT_TRUE(c.will);
  EXPECT_EQ(c.will->topic, "plant/status");
  EXPECT_TRUE(c.will->retain);
  EXPECT_EQ(h.s.current_state(), session::state::connecting);
}

// Sparkplug's bdSeq: each CONNECT carries the will set before it, the
// connection under way keeps its own.
TEST(SessionConnect, SetWillChangesTheWillOfTheNextConnect) {
  auto config = harness::default_config();
  config.will = will_message{"spBv1.0/g/NDEATH/e", to_bytes("0"), qos::at_least_once, false, {}};
  harness h(config);
  h.s.on_transport_connected(h.now);
  auto out = h.sent();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(std::get<connect_packet>(out[0]).will);
  EXPECT_EQ(std::get<connect_packet>(out[0]).will->payload, to_bytes("0"));
  h.s.set_will(will_message{"spBv1.0/g/NDEATH/e", to_bytes("1"), qos::at_least_once, false, {}});
  h.s.on_transport_closed();
  h.s.on_transport_connected(h.now);
  out = h.sent();
  ASSERT_EQ(out.size(), 1U);
  ASSERT_TRUE(std::get<connect_packet>(out[0]).will);
  EXPECT_EQ(std::get<connect_packet>(out[0]).will->payload, to_bytes("1"));
  h.s.set_will(std::nullopt);
  h.s.on_transport_closed();
  h.s.on_transport_connected(h.now);
  out = h.sent();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_FALSE(std::get<connect_packet>(out[0]).will);
}

TEST(SessionConnect, V311ConnectHasNoProperties) {
  harness h(harness::default_config(protocol_version::v311));
  h.s.on_transport_connected(h.now);
  const auto out = h.sent();
  ASSERT_EQ(out.size(), 1U);
  const auto& c = std::get<connect_packet>(out[0]);
  EXPECT_EQ(c.version, protocol_version::v311);
  EXPECT_TRUE(c.props.empty());
}

TEST(SessionConnect, AssignedClientIdentifierAndLimits) {
  auto config = harness::default_config();
  config.client_id.clear();
  harness h(config);
  properties p;
  p.add(property_id::assigned_client_identifier, std::string("auto-42"));
  p.add(property_id::server_keep_alive, std::uint32_t{5});
  p.add(property_id::maximum_qos, std::uint32_t{1});
  p.add(property_id::topic_alias_maximum, std::uint32_t{10});
  h.connect(false, p);
  const auto events = h.events();
  const auto connected = only<connected_event>(events);
  ASSERT_EQ(connected.size(), 1U);
  EXPECT_FALSE(connected[0].session_present);
  EXPECT_EQ(h.s.client_id(), "auto-42");
  EXPECT_EQ(h.s.keep_alive(), 5);
  EXPECT_EQ(h.s.limits().maximum_qos, qos::at_least_once);
  EXPECT_EQ(h.s.limits().topic_alias_maximum, 10);
  EXPECT_EQ(h.s.current_state(), session::state::connected);
}

TEST(SessionConnect, RefusedV5WithReasonString) {
  harness h;
  h.s.on_transport_connected(h.now);
  h.sent();
  connack_packet refused{false, reason_code::not_authorized, {}};
  refused.props.add(property_id::reason_string, std::string("acl says no"));
  h.from_broker(refused);
  const auto events = h.events();
  const auto r = only<connect_refused_event>(events);
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0].code, reason_code::not_authorized);
  EXPECT_EQ(r[0].reason_string, "acl says no");
  const auto closes = only<close_requested_event>(events);
  ASSERT_EQ(closes.size(), 1U);
  EXPECT_EQ(closes[0].reason.message(), "not authorized");
  EXPECT_TRUE(h.sent().empty());  // no DISCONNECT after a refused CONNACK
}

TEST(SessionConnect, RefusedV311BadUserNameOrPassword) {
  harness h(harness::default_config(protocol_version::v311));
  h.s.on_transport_connected(h.now);
  h.sent();
  h.raw_from_broker(test::hex("20 02 00 04"));
  const auto r = only<connect_refused_event>(h.events());
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0].code, reason_code::bad_user_name_or_password);
  EXPECT_EQ(reason_message(r[0].code), "bad user name or password");
}

TEST(SessionConnect, SessionPresentAfterCleanStartIsAProtocolError) {
  auto config = harness::default_config();
  config.clean_start = true;
  harness h(config);
  h.s.on_transport_connected(h.now);
  h.sent();
  h.from_broker(connack_packet{true, reason_code::success, {}});
  expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
}

// Failover: a connection to another broker asks for Clean Start once,
// whatever the configuration; a session present 1 to it is then a protocol
// error (the broker kept what it was told to discard), and the next
// connection without start_clean follows the configuration again.
TEST(SessionConnect, StartCleanAsksForCleanStartForOneConnection) {
  harness h;
  ASSERT_FALSE(h.s.restore({}));
  h.s.on_transport_connected(h.now, /*start_clean=*/true);
  EXPECT_TRUE(std::get<connect_packet>(h.sent().at(0)).clean_start);
  h.from_broker(connack_packet{true, reason_code::success, {}});
  expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
  h.s.on_transport_closed();
  h.s.on_transport_connected(h.now);
  EXPECT_FALSE(std::get<connect_packet>(h.sent().at(0)).clean_start);
  h.from_broker(connack_packet{true, reason_code::success, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
}

TEST(SessionConnect, PacketBeforeConnackIsAProtocolError) {
  harness h;
  h.s.on_transport_connected(h.now);
  h.sent();
  h.from_broker(publish_packet{"t", {}, qos::at_most_once, false, false, 0, {}});
  expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
}

TEST(SessionConnect, ConnectTimeout) {
  harness h;
  h.s.on_transport_connected(h.now);
  h.sent();
  EXPECT_EQ(h.s.next_deadline(), h.now + 10s);
  h.s.on_time(h.now + 9s);
  EXPECT_TRUE(h.events().empty());
  h.s.on_time(h.now + 10s);
  expect_closed_with(h, errc::connect_timeout, std::nullopt);
}

// --- packet ids and the window -----------------------------------------------------

TEST(SessionIds, AllocatedInOrderAndFreedOnlyOnTheFinalAck) {
  harness h;
  h.connect();
  h.publish("t", qos::at_least_once, 1);
  h.publish("t", qos::exactly_once, 2);
  h.publish("t", qos::at_least_once, 3);
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{1, 2, 3}));
  const auto assigned = only<packet_id_assigned_event>(h.events());
  ASSERT_EQ(assigned.size(), 3U);
  EXPECT_EQ(assigned[1].token, 2U);
  EXPECT_EQ(assigned[1].packet_id, 2);
  EXPECT_EQ(assigned[1].qos, qos::exactly_once);
  EXPECT_EQ(h.s.inflight_count(), 3U);
  h.from_broker(pubrec_packet{2, reason_code::success, {}});  // id 2 still held until PUBCOMP
  h.from_broker(puback_packet{3, reason_code::success, {}});
  EXPECT_EQ(h.s.inflight_count(), 2U);
  h.publish("t", qos::at_least_once, 4);
  const auto ids = publish_ids(h.sent());
  ASSERT_EQ(ids.size(), 1U);
  EXPECT_NE(ids[0], 1);
  EXPECT_NE(ids[0], 2);
}

TEST(SessionIds, NeverReusedWhileInFlightAcrossWrapAround) {
  auto config = harness::default_config();
  config.max_inflight = 65535;
  config.refill_batch = 1;  // one free id is enough to send again
  harness h(config);
  h.connect();
  for (message_token t = 1; t <= 65535; ++t) h.publish("t", qos::at_least_once, t, 0);
  auto ids = publish_ids(h.sent());
  ASSERT_EQ(ids.size(), 65535U);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
  EXPECT_EQ(ids.front(), 1);
  h.events();
  // Every id is busy: the next message waits instead of reusing one.
  h.publish("t", qos::at_least_once, 70000, 0);
  EXPECT_TRUE(h.sent().empty());
  EXPECT_EQ(h.s.queued_count(), 1U);
  h.from_broker(puback_packet{500, reason_code::success, {}});
  const auto next = publish_ids(h.sent());
  ASSERT_EQ(next.size(), 1U);
  EXPECT_EQ(next[0], 500);
}

TEST(SessionWindow, ReceiveMaximumOneAndQoS0Overtakes) {
  harness h;
  h.connect(false, receive_maximum(1));
  EXPECT_EQ(h.s.window(), 1);
  h.publish("t", qos::at_least_once, 1);
  h.publish("t", qos::at_least_once, 2);
  h.publish("t", qos::exactly_once, 3);
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{1}));
  EXPECT_EQ(h.s.queued_count(), 2U);
  h.publish("t", qos::at_most_once, 4);  // QoS 0 does not wait for the window
  auto out = only_packets<publish_packet>(h.sent());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].qos, qos::at_most_once);
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{4}));
  h.from_broker(puback_packet{1, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{2}));
  h.from_broker(puback_packet{2, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{3}));
  // QoS 2 holds its slot through PUBREC until PUBCOMP.
  h.publish("t", qos::at_least_once, 5);
  h.from_broker(pubrec_packet{3, reason_code::success, {}});
  EXPECT_TRUE(publish_ids(h.sent()).empty());
  h.from_broker(pubcomp_packet{3, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{4}));
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{1, 2, 3}));
}

TEST(SessionWindow, ReceiveMaximumTwoBelowConfiguredWindow) {
  harness h;  // configured 20
  h.connect(false, receive_maximum(2));
  EXPECT_EQ(h.s.window(), 2);
  for (message_token t = 1; t <= 5; ++t) h.publish("t", qos::at_least_once, t);
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{1, 2}));
  h.from_broker(puback_packet{2, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{3}));
  h.from_broker(puback_packet{1, reason_code::success, {}});
  h.from_broker(puback_packet{3, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{4, 5}));
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{2, 1, 3}));
}

TEST(SessionWindow, AFullWindowRefillsInBatches) {
  harness h;  // window 20: the automatic batch is a quarter of it, 5
  h.connect();
  EXPECT_EQ(h.s.refill_batch(), 5);
  for (message_token t = 1; t <= 30; ++t) h.publish("t", qos::at_least_once, t);
  EXPECT_EQ(publish_ids(h.sent()).size(), 20U);
  for (std::uint16_t id = 1; id <= 4; ++id) {
    h.from_broker(puback_packet{id, reason_code::success, {}});
    EXPECT_TRUE(publish_ids(h.sent()).empty()) << "sent after ack " << id;
  }
  EXPECT_EQ(h.s.queued_count(), 10U);
  h.from_broker(puback_packet{5, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{21, 22, 23, 24, 25}));
  EXPECT_EQ(h.s.inflight_count(), 20U);
  // QoS 0 never waits for the window, even while a batch is being collected.
  h.from_broker(puback_packet{6, reason_code::success, {}});
  h.publish("t", qos::at_most_once, 31);
  EXPECT_EQ(only_packets<publish_packet>(h.sent()).size(), 1U);
}

TEST(SessionWindow, ABatchLargerThanTheWindowWaitsForTheWholeWindow) {
  auto config = harness::default_config();
  config.max_inflight = 2;
  config.refill_batch = 100;  // capped at the window
  harness h(config);
  h.connect();
  EXPECT_EQ(h.s.refill_batch(), 2);
  for (message_token t = 1; t <= 3; ++t) h.publish("t", qos::at_least_once, t);
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{1, 2}));
  h.from_broker(puback_packet{1, reason_code::success, {}});
  EXPECT_TRUE(publish_ids(h.sent()).empty());
  h.from_broker(puback_packet{2, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{3}));
}

TEST(SessionWindow, MessagesArrivingOneByOneFillTheWholeWindow) {
  harness h;
  h.connect();
  for (message_token t = 1; t <= 20; ++t) {
    h.publish("t", qos::at_least_once, t);
    EXPECT_EQ(publish_ids(h.sent()).size(), 1U) << "message " << t;
  }
  h.publish("t", qos::at_least_once, 21);
  EXPECT_TRUE(publish_ids(h.sent()).empty());
}

TEST(SessionWindow, ABatchOfOneRefillsEachFreedSlot) {
  auto config = harness::default_config();
  config.max_inflight = 4;
  config.refill_batch = 1;
  harness h(config);
  h.connect();
  for (message_token t = 1; t <= 6; ++t) h.publish("t", qos::at_least_once, t);
  EXPECT_EQ(publish_ids(h.sent()).size(), 4U);
  h.from_broker(puback_packet{1, reason_code::success, {}});
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{5}));
}

TEST(SessionWindow, AWindowWithoutAFreeSlotIsFlowControlNotHolding) {
  harness h;
  h.connect();
  for (message_token t = 1; t <= 21; ++t) h.publish("t", qos::at_least_once, t);
  EXPECT_EQ(h.s.queued_count(), 1U);
  EXPECT_FALSE(h.s.holding());
  h.from_broker(puback_packet{1, reason_code::success, {}});
  EXPECT_TRUE(h.s.holding());  // one free slot kept for the batch
}

TEST(SessionWindow, HeldMessagesLeaveAfterMaxHoldWhenNoAckComes) {
  harness h;  // max_hold 20 ms by default
  h.connect();
  for (message_token t = 1; t <= 22; ++t) h.publish("t", qos::at_least_once, t);
  h.sent();
  h.from_broker(puback_packet{1, reason_code::success, {}});
  EXPECT_TRUE(publish_ids(h.sent()).empty());
  EXPECT_EQ(h.s.next_deadline(), h.now + 20ms);
  h.s.on_time(h.now + 19ms);
  EXPECT_TRUE(publish_ids(h.sent()).empty());
  h.s.on_time(h.now + 20ms);
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{21}));
  EXPECT_FALSE(h.s.holding());  // the window is full again
  EXPECT_GT(h.s.next_deadline(), h.now + 1s);  // back to the keep-alive deadline
}

// --- PUBREL batching ------------------------------------------------------------------

TEST(SessionPubrel, WaitsForCompanyWhileTheBrokerOwesAcks) {
  harness h;  // batch 5
  h.connect();
  for (message_token t = 1; t <= 3; ++t) h.publish("t", qos::exactly_once, t);
  h.sent();
  h.from_broker(pubrec_packet{1, reason_code::success, {}});
  EXPECT_TRUE(only_packets<pubrel_packet>(h.sent()).empty());
  EXPECT_TRUE(h.s.holding());
  // The pubrec_received hook fires at once: the store records the state
  // before the PUBREL can leave.
  EXPECT_EQ(only<pubrec_received_event>(h.events()).size(), 1U);
  h.from_broker(pubrec_packet{2, reason_code::success, {}});
  EXPECT_TRUE(only_packets<pubrel_packet>(h.sent()).empty());
  h.from_broker(pubrec_packet{3, reason_code::success, {}});  // nothing else owed now
  const auto rels = only_packets<pubrel_packet>(h.sent());
  ASSERT_EQ(rels.size(), 3U);
  EXPECT_EQ(rels[0].packet_id, 1);
  EXPECT_EQ(rels[2].packet_id, 3);
  EXPECT_FALSE(h.s.holding());
}

TEST(SessionPubrel, ABatchOfPubrelsLeavesTogether) {
  harness h;
  h.connect();
  for (message_token t = 1; t <= 8; ++t) h.publish("t", qos::exactly_once, t);
  h.sent();
  for (std::uint16_t id = 1; id <= 4; ++id) h.from_broker(pubrec_packet{id, reason_code::success, {}});
  EXPECT_TRUE(only_packets<pubrel_packet>(h.sent()).empty());
  h.from_broker(pubrec_packet{5, reason_code::success, {}});
  EXPECT_EQ(only_packets<pubrel_packet>(h.sent()).size(), 5U);
}

TEST(SessionPubrel, LeavesAfterMaxHoldWhenTheOtherAcksDoNotCome) {
  harness h;
  h.connect();
  h.publish("t", qos::at_least_once, 1);
  h.publish("t", qos::exactly_once, 2);
  h.sent();
  h.from_broker(pubrec_packet{2, reason_code::success, {}});
  EXPECT_TRUE(only_packets<pubrel_packet>(h.sent()).empty());
  h.s.on_time(h.now + 20ms);
  const auto rels = only_packets<pubrel_packet>(h.sent());
  ASSERT_EQ(rels.size(), 1U);
  EXPECT_EQ(rels[0].packet_id, 2);
}

TEST(SessionPubrel, ARefillCarriesTheDelayedPubrelsFirst) {
  harness h;
  h.connect();
  for (message_token t = 1; t <= 19; ++t) h.publish("t", qos::at_least_once, t);
  h.publish("t", qos::exactly_once, 20);
  for (message_token t = 21; t <= 25; ++t) h.publish("t", qos::at_least_once, t);
  h.sent();
  h.from_broker(pubrec_packet{20, reason_code::success, {}});
  for (std::uint16_t id = 1; id <= 4; ++id) h.from_broker(puback_packet{id, reason_code::success, {}});
  EXPECT_TRUE(h.sent().empty());
  h.from_broker(puback_packet{5, reason_code::success, {}});
  const auto out = h.sent();
  ASSERT_EQ(out.size(), 6U);
  ASSERT_EQ(type_of(out[0]), packet_type::pubrel);
  EXPECT_EQ(std::get<pubrel_packet>(out[0]).packet_id, 20);
  EXPECT_EQ(publish_ids(out), (std::vector<std::uint16_t>{21, 22, 23, 24, 25}));
}

TEST(SessionPubrel, APubcompForAPubrelNotYetSentIsAProtocolError) {
  harness h;
  h.connect();
  h.publish("t", qos::exactly_once, 1);
  h.publish("t", qos::at_least_once, 2);
  h.sent();
  h.from_broker(pubrec_packet{1, reason_code::success, {}});
  h.from_broker(pubcomp_packet{1, reason_code::success, {}});
  EXPECT_EQ(only<close_requested_event>(h.events()).size(), 1U);
  EXPECT_EQ(h.s.current_state(), session::state::closing);
}

TEST(SessionWindow, ConfiguredWindowBelowReceiveMaximum) {
  auto config = harness::default_config();
  config.max_inflight = 1;
  harness h(config);
  h.connect(false, receive_maximum(100));
  EXPECT_EQ(h.s.window(), 1);
  h.publish("t", qos::at_least_once, 1);
  h.publish("t", qos::at_least_once, 2);
  EXPECT_EQ(publish_ids(h.sent()).size(), 1U);
}

TEST(SessionWindow, PublishWhileDisconnectedWaitsForConnack) {
  harness h;
  h.publish("t", qos::at_least_once, 1);
  h.publish("t", qos::at_most_once, 2);
  EXPECT_EQ(h.s.queued_count(), 2U);
  h.s.on_transport_connected(h.now);
  const auto before = h.sent();
  ASSERT_EQ(before.size(), 1U);  // CONNECT only
  h.from_broker(connack_packet{false, reason_code::success, {}});
  const auto out = only_packets<publish_packet>(h.sent());
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].qos, qos::at_least_once);
  EXPECT_EQ(out[1].qos, qos::at_most_once);
}

// --- QoS flows ---------------------------------------------------------------------

TEST(SessionQoS1, PubackCompletesAndFailureCodeFails) {
  harness h;
  h.connect();
  h.publish("t", qos::at_least_once, 1);
  h.publish("t", qos::at_least_once, 2);
  h.sent();
  h.events();
  h.from_broker(puback_packet{1, reason_code::no_matching_subscribers, {}});
  h.from_broker(puback_packet{2, reason_code::not_authorized, {}});
  const auto events = h.events();
  const auto done = only<publish_completed_event>(events);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].token, 1U);
  EXPECT_EQ(done[0].code, reason_code::no_matching_subscribers);
  const auto failed = only<publish_failed_event>(events);
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_EQ(failed[0].token, 2U);
  EXPECT_EQ(failed[0].error, make_error_code(reason_code::not_authorized));
  EXPECT_EQ(failed[0].error.message(), "not authorized");
  EXPECT_EQ(h.s.inflight_count(), 0U);
}

TEST(SessionQoS1, IncomingIsDeliveredAndAcknowledged) {
  harness h;
  h.connect();
  publish_packet m{"cmd/set", to_bytes("42"), qos::at_least_once, false, false, 9, {}};
  m.props.add(property_id::response_topic, std::string("cmd/result"));
  m.props.add(property_id::correlation_data, bytes{1, 2, 3});
  h.from_broker(m);
  const auto got = only<message_received_event>(h.events());
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].message.topic, "cmd/set");
  EXPECT_EQ(got[0].message.props.string(property_id::response_topic), "cmd/result");
  const auto acks = only_packets<puback_packet>(h.sent());
  ASSERT_EQ(acks.size(), 1U);
  EXPECT_EQ(acks[0].packet_id, 9);
}

TEST(SessionQoS2, OutgoingFlowWithDurableEvents) {
  harness h;
  h.connect();
  h.publish("t", qos::exactly_once, 77);
  EXPECT_EQ(publish_ids(h.sent()), (std::vector<std::uint16_t>{1}));
  h.from_broker(pubrec_packet{1, reason_code::success, {}});
  auto rel = only_packets<pubrel_packet>(h.sent());
  ASSERT_EQ(rel.size(), 1U);
  EXPECT_EQ(rel[0].packet_id, 1);
  h.from_broker(pubcomp_packet{1, reason_code::success, {}});
  EXPECT_TRUE(h.sent().empty());
  const auto events = h.events();
  // The store sees: id assigned, PUBREC received, completed, in that order.
  ASSERT_EQ(events.size(), 4U);  // connected first
  EXPECT_TRUE(std::holds_alternative<connected_event>(events[0]));
  EXPECT_EQ(std::get<packet_id_assigned_event>(events[1]).token, 77U);
  EXPECT_EQ(std::get<pubrec_received_event>(events[2]).packet_id, 1);
  EXPECT_EQ(std::get<publish_completed_event>(events[3]).qos, qos::exactly_once);
  EXPECT_EQ(h.s.inflight_count(), 0U);
}

TEST(SessionQoS2, PubrecFailureEndsTheFlowWithoutPubrel) {
  harness h;
  h.connect();
  h.publish("t", qos::exactly_once, 1);
  h.sent();
  h.from_broker(pubrec_packet{1, reason_code::quota_exceeded, {}});
  EXPECT_TRUE(only_packets<pubrel_packet>(h.sent()).empty());
  const auto failed = only<publish_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_EQ(failed[0].error, make_error_code(reason_code::quota_exceeded));
  EXPECT_EQ(h.s.inflight_count(), 0U);
}

// A refusal frees its slot, but the queue behind it waits until the owner
// has seen the refusal (resume_after_refusal), so the owner can withdraw
// what it queued and keep it from overtaking the refused message; what it
// leaves goes on then. QoS 1 and QoS 2 refusals alike.
TEST(SessionRefusal, TheQueueWaitsForTheOwnerWhoMayWithdrawFromIt) {
  for (const bool qos2 : {false, true}) {
    SCOPED_TRACE(qos2 ? "QoS 2" : "QoS 1");
    harness h;
    properties one_in_flight;
    one_in_flight.set(property_id::receive_maximum, 1u);
    h.connect(false, one_in_flight);
    const auto q = qos2 ? qos::exactly_once : qos::at_least_once;
    for (message_token token = 1; token <= 4; ++token) h.publish("t", q, token);
    EXPECT_EQ(publish_ids(h.sent()).size(), 1U);  // the window is one: 2, 3, 4 wait
    EXPECT_EQ(h.s.queued_count(), 3U);
    h.events();
    if (qos2) {
      h.from_broker(pubrec_packet{1, reason_code::quota_exceeded, {}});
    } else {
      h.from_broker(puback_packet{1, reason_code::quota_exceeded, {}});
    }
    EXPECT_TRUE(publish_ids(h.sent()).empty());  // nothing leaves before the owner has seen it
    ASSERT_EQ(only<publish_failed_event>(h.events()).size(), 1U);
    EXPECT_EQ(h.s.withdraw_queued([](message_token t) { return t >= 3; }), (std::vector<message_token>{3, 4}));
    EXPECT_EQ(h.s.queued_count(), 1U);
    h.s.resume_after_refusal(h.now);
    EXPECT_EQ(publish_ids(h.sent()).size(), 1U);  // token 2, the one left
    EXPECT_EQ(h.s.queued_count(), 0U);
    EXPECT_TRUE(only<publish_failed_event>(h.events()).empty());  // the withdrawn ones raise nothing
  }
}

// Defect 3: the PUBREL 0x92 obliges the broker to answer with PUBCOMP
// ([MQTT-4.3.3-11]); that PUBCOMP is accepted, a second one is not.
TEST(SessionQoS2, UnknownPubrecIsAnsweredWithPacketIdentifierNotFound) {
  harness h;
  h.connect();
  h.from_broker(pubrec_packet{33, reason_code::success, {}});
  const auto rel = only_packets<pubrel_packet>(h.sent());
  ASSERT_EQ(rel.size(), 1U);
  EXPECT_EQ(rel[0].code, reason_code::packet_identifier_not_found);
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  h.from_broker(pubcomp_packet{33, reason_code::packet_identifier_not_found, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  EXPECT_TRUE(h.sent().empty());
  h.from_broker(pubcomp_packet{33, reason_code::packet_identifier_not_found, {}});
  EXPECT_EQ(h.s.current_state(), session::state::closing);
}

TEST(SessionQoS2, DuplicatePubrecIsAnsweredAndItsExtraPubcompAccepted) {
  harness h;
  h.connect();
  h.publish("t", qos::exactly_once, 5);
  h.sent();
  h.from_broker(pubrec_packet{1, reason_code::success, {}});
  ASSERT_EQ(only_packets<pubrel_packet>(h.sent()).size(), 1U);
  h.from_broker(pubrec_packet{1, reason_code::success, {}});
  ASSERT_EQ(only_packets<pubrel_packet>(h.sent()).size(), 1U);
  h.from_broker(pubcomp_packet{1, reason_code::success, {}});
  h.from_broker(pubcomp_packet{1, reason_code::packet_identifier_not_found, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{5}));
  // The id with a PUBCOMP still owed is not reused before it comes... it came: reusable.
  h.publish("t", qos::at_least_once, 6);
  EXPECT_EQ(publish_ids(h.sent()).size(), 1U);
}

// Defect 2: PUBCOMP 0x92 after a PUBREL resent on a resumed session: the
// broker had completed the flow, so the message was delivered.
TEST(SessionQoS2, PubcompNotFoundAfterAResentPubrelIsDelivered) {
  harness h;
  h.connect();
  h.publish("t", qos::exactly_once, 9);
  h.sent();
  h.from_broker(pubrec_packet{1, reason_code::success, {}});
  h.sent();
  h.s.on_transport_closed();
  const auto out = h.connect(true);
  ASSERT_EQ(only_packets<pubrel_packet>(out).size(), 1U);
  h.events();
  h.from_broker(pubcomp_packet{1, reason_code::packet_identifier_not_found, {}});
  const auto events = h.events();
  EXPECT_TRUE(only<publish_failed_event>(events).empty());
  const auto done = only<publish_completed_event>(events);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].token, 9U);
  EXPECT_TRUE(done[0].past_pubrec);
}

TEST(SessionQoS2, IncomingDeliveredExactlyOnce) {
  harness h;
  h.connect();
  publish_packet m{"cmd", to_bytes("x"), qos::exactly_once, false, false, 7, {}};
  h.from_broker(m);
  m.dup = true;
  h.from_broker(m);  // the broker resends before our PUBREC reached it
  auto out = h.sent();
  EXPECT_EQ(only_packets<pubrec_packet>(out).size(), 2U);
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 1U);
  h.from_broker(pubrel_packet{7, reason_code::success, {}});
  auto comp = only_packets<pubcomp_packet>(h.sent());
  ASSERT_EQ(comp.size(), 1U);
  EXPECT_EQ(comp[0].code, reason_code::success);
  // After release the id is new again: a new message with id 7 is delivered.
  m.dup = false;
  h.from_broker(m);
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 1U);
  // A PUBREL for an id we do not hold gets PUBCOMP "not found", nothing delivered.
  h.from_broker(pubrel_packet{8, reason_code::success, {}});
  comp = only_packets<pubcomp_packet>(h.sent());
  ASSERT_EQ(comp.size(), 1U);
  EXPECT_EQ(comp[0].code, reason_code::packet_identifier_not_found);
}

TEST(SessionQoS2, IncomingStateSurvivesReconnectWithSessionPresent) {
  harness h;
  h.connect();
  publish_packet m{"cmd", to_bytes("x"), qos::exactly_once, false, false, 7, {}};
  h.from_broker(m);
  h.s.on_transport_closed();
  h.connect(true);
  m.dup = true;
  h.from_broker(m);  // resent by the broker after reconnect: not delivered again
  h.from_broker(pubrel_packet{7, reason_code::success, {}});
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 1U);
  const auto comp = only_packets<pubcomp_packet>(h.sent());
  ASSERT_EQ(comp.size(), 1U);
  EXPECT_EQ(comp[0].code, reason_code::success);
}

TEST(SessionQoS2, IncomingBeyondOurReceiveMaximum) {
  auto config = harness::default_config();
  config.receive_maximum = 1;
  harness h(config);
  h.connect();
  h.from_broker(publish_packet{"a", {}, qos::exactly_once, false, false, 1, {}});
  h.from_broker(publish_packet{"a", {}, qos::exactly_once, false, false, 2, {}});
  expect_closed_with(h, errc::receive_maximum_exceeded, reason_code::receive_maximum_exceeded);
}

TEST(SessionQoS2, IncomingDurableEventsMarkReceiptAndRelease) {
  harness h;
  h.connect();
  h.events();
  publish_packet m{"cmd", to_bytes("x"), qos::exactly_once, false, false, 7, {}};
  h.from_broker(m);
  m.dup = true;
  h.from_broker(m);
  auto events = h.events();
  ASSERT_EQ(events.size(), 2U) << "one delivery, one durable event; nothing for the duplicate";
  EXPECT_TRUE(std::holds_alternative<message_received_event>(events[0]));
  ASSERT_TRUE(std::holds_alternative<incoming_qos2_received_event>(events[1]));
  EXPECT_EQ(std::get<incoming_qos2_received_event>(events[1]).packet_id, 7);
  h.from_broker(pubrel_packet{7, reason_code::success, {}});
  EXPECT_EQ(only_packets<pubcomp_packet>(h.sent()).size(), 1U);
  const auto released = only<incoming_qos2_released_event>(h.events());
  ASSERT_EQ(released.size(), 1U);
  EXPECT_EQ(released[0].packet_id, 7);
  h.from_broker(pubrel_packet{7, reason_code::success, {}});  // resent PUBREL: nothing held, no event
  EXPECT_TRUE(only<incoming_qos2_released_event>(h.events()).empty());
}

// A process restart between our PUBREC and the broker's PUBREL: the new
// session gets the held id back and does not deliver the resent PUBLISH.
TEST(SessionQoS2, RestoredIncomingIdIsAcknowledgedNotDeliveredAgain) {
  harness h;
  const std::vector<std::uint16_t> held{7, 300};
  ASSERT_FALSE(h.s.restore_incoming(held));
  h.connect(true);
  h.from_broker(publish_packet{"cmd", to_bytes("x"), qos::exactly_once, false, true, 7, {}});
  auto recs = only_packets<pubrec_packet>(h.sent());
  ASSERT_EQ(recs.size(), 1U);
  EXPECT_EQ(recs[0].packet_id, 7);
  auto events = h.events();
  EXPECT_TRUE(only<message_received_event>(events).empty());
  EXPECT_TRUE(only<incoming_qos2_received_event>(events).empty());
  h.from_broker(pubrel_packet{7, reason_code::success, {}});
  const auto comp = only_packets<pubcomp_packet>(h.sent());
  ASSERT_EQ(comp.size(), 1U);
  EXPECT_EQ(comp[0].code, reason_code::success);
  EXPECT_EQ(only<incoming_qos2_released_event>(h.events()).at(0).packet_id, 7);
  // Another id is a new message.
  h.from_broker(publish_packet{"cmd", to_bytes("y"), qos::exactly_once, false, false, 8, {}});
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 1U);
}

TEST(SessionQoS2, RestoredIncomingIdsAreReleasedWhenTheSessionIsLost) {
  harness h;
  const std::vector<std::uint16_t> held{7, 300};
  ASSERT_FALSE(h.s.restore_incoming(held));
  h.connect(false);
  std::vector<std::uint16_t> released;
  for (const auto& e : only<incoming_qos2_released_event>(h.events())) released.push_back(e.packet_id);
  EXPECT_EQ(released, held);
  // The new session's message with id 7 is delivered.
  h.from_broker(publish_packet{"cmd", to_bytes("x"), qos::exactly_once, false, false, 7, {}});
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 1U);
}

TEST(SessionQoS2, RestoreIncomingRejectsIdZeroAndALiveTransport) {
  harness h;
  const std::vector<std::uint16_t> zero{3, 0};
  EXPECT_TRUE(is(h.s.restore_incoming(zero), errc::invalid_argument));
  h.connect();
  const std::vector<std::uint16_t> one{3};
  EXPECT_TRUE(is(h.s.restore_incoming(one), errc::not_connected));
  // Nothing of the refused calls was kept: id 3 is a new message.
  h.from_broker(publish_packet{"cmd", to_bytes("x"), qos::exactly_once, false, false, 3, {}});
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 1U);
}

// --- reconnect ----------------------------------------------------------------------

// A (QoS 1, id 1), B (QoS 2, id 2), C (QoS 2, id 3, past PUBREC) in flight; E queued while down.
void in_flight_then_drop(harness& h) {
  h.connect();
  h.publish("a", qos::at_least_once, 100);
  h.publish("b", qos::exactly_once, 101);
  h.publish("c", qos::exactly_once, 102);
  h.from_broker(pubrec_packet{3, reason_code::success, {}});
  h.sent();
  h.events();
  h.s.on_transport_closed();
  h.publish("e", qos::at_least_once, 103);
}

TEST(SessionReconnect, SessionPresentResendsInOrderBeforeNewMessages) {
  harness h;
  in_flight_then_drop(h);
  const auto out = h.connect(true);
  ASSERT_EQ(out.size(), 4U);
  const auto& a = std::get<publish_packet>(out[0]);
  EXPECT_EQ(a.packet_id, 1);
  EXPECT_TRUE(a.dup);
  EXPECT_EQ(a.topic, "a");
  const auto& b = std::get<publish_packet>(out[1]);
  EXPECT_EQ(b.packet_id, 2);
  EXPECT_TRUE(b.dup);
  EXPECT_EQ(b.qos, qos::exactly_once);
  EXPECT_EQ(std::get<pubrel_packet>(out[2]).packet_id, 3);  // PUBREL, never the PUBLISH again
  const auto& e = std::get<publish_packet>(out[3]);
  EXPECT_FALSE(e.dup);
  EXPECT_EQ(e.topic, "e");
  EXPECT_NE(e.packet_id, 1);
  EXPECT_NE(e.packet_id, 2);
  EXPECT_NE(e.packet_id, 3);
  const auto events = h.events();
  EXPECT_TRUE(only<publish_failed_event>(events).empty());
  h.from_broker(puback_packet{1, reason_code::success, {}});
  h.from_broker(pubcomp_packet{3, reason_code::success, {}});
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{100, 102}));
}

// Issue 9 item 5: what the lost session had not past PUBREC goes out again
// as new messages, in its original order, before what was queued later;
// what was past PUBREC is done (the broker had it).
TEST(SessionReconnect, SessionNotPresentRepublishesUnfinishedMessagesFirstInOrder) {
  harness h;
  in_flight_then_drop(h);
  const auto out = h.connect(false);
  const auto publishes = only_packets<publish_packet>(out);
  ASSERT_EQ(publishes.size(), 3U);
  EXPECT_EQ(publishes[0].topic, "a");
  EXPECT_EQ(publishes[1].topic, "b");
  EXPECT_EQ(publishes[2].topic, "e");
  for (const auto& p : publishes) EXPECT_FALSE(p.dup);
  const auto events = h.events();
  EXPECT_TRUE(only<publish_failed_event>(events).empty());
  const auto done = only<publish_completed_event>(events);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].token, 102U);
  EXPECT_TRUE(done[0].past_pubrec);
  const auto assigned = only<packet_id_assigned_event>(events);
  ASSERT_EQ(assigned.size(), 3U);
  EXPECT_EQ(assigned[0].token, 100U);
  EXPECT_EQ(assigned[1].token, 101U);
  EXPECT_EQ(assigned[2].token, 103U);
  EXPECT_EQ(h.s.inflight_count(), 3U);
}

// resend_after_reconnect false (Sparkplug): the lost connection hands every
// unfinished publish back to its owner, queued ones too, and the next
// connection sends none of them.
TEST(SessionReconnect, WithoutResendALostConnectionHandsBackEveryUnfinishedPublish) {
  auto config = harness::default_config();
  config.max_inflight = 2;
  config.resend_after_reconnect = false;
  harness h(config);
  h.connect();
  h.publish("a", qos::at_least_once, 100);
  h.publish("b", qos::exactly_once, 101);
  h.publish("c", qos::at_least_once, 102);  // waits for the window
  h.from_broker(pubrec_packet{2, reason_code::success, {}});
  h.sent();
  h.events();
  h.s.on_transport_closed();
  const auto events = h.events();
  const auto failed = only<publish_failed_event>(events);
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_EQ(failed[0].token, 100U);
  EXPECT_EQ(failed[1].token, 102U);
  for (const auto& f : failed) EXPECT_EQ(f.error, make_error_code(errc::session_lost));
  const auto done = only<publish_completed_event>(events);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].token, 101U);
  EXPECT_TRUE(done[0].past_pubrec);
  EXPECT_EQ(h.s.inflight_count(), 0U);
  h.publish("d", qos::at_least_once, 103);  // published after the loss: sent on the next connection
  const auto publishes = only_packets<publish_packet>(h.connect(false));
  ASSERT_EQ(publishes.size(), 1U);
  EXPECT_EQ(publishes[0].topic, "d");
}

TEST(SessionReconnect, TwentyInFlightAndTwentyQueuedKeepTheirOrderAcrossALostSession) {
  harness h;
  h.connect();
  for (message_token t = 1; t <= 20; ++t) h.publish("t/" + std::to_string(t), qos::at_least_once, t);
  ASSERT_EQ(publish_ids(h.sent()).size(), 20U);
  h.s.on_transport_closed();
  for (message_token t = 21; t <= 40; ++t) h.publish("t/" + std::to_string(t), qos::at_least_once, t);
  h.events();
  std::vector<std::string> topics;
  std::deque<std::uint16_t> pending;
  auto take = [&](const std::vector<packet>& out) {
    for (const auto& p : only_packets<publish_packet>(out)) {
      topics.push_back(p.topic);
      pending.push_back(p.packet_id);
    }
  };
  take(h.connect(false));
  while (!pending.empty()) {  // the broker acknowledges in order, the window refills
    h.from_broker(puback_packet{pending.front(), reason_code::success, {}});
    pending.pop_front();
    take(h.sent());
  }
  ASSERT_EQ(topics.size(), 40U);
  for (std::size_t i = 0; i < 40; ++i) EXPECT_EQ(topics[i], "t/" + std::to_string(i + 1));
  EXPECT_TRUE(only<publish_failed_event>(h.events()).empty());
}

TEST(SessionReconnect, ResendRespectsTheNewReceiveMaximum) {
  harness h;
  in_flight_then_drop(h);
  const auto out = h.connect(true, receive_maximum(1));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(std::get<publish_packet>(out[0]).packet_id, 1);
  h.from_broker(puback_packet{1, reason_code::success, {}});
  auto next = h.sent();
  ASSERT_EQ(next.size(), 1U);
  EXPECT_EQ(std::get<publish_packet>(next[0]).packet_id, 2);
  EXPECT_TRUE(std::get<publish_packet>(next[0]).dup);
  h.from_broker(pubrec_packet{2, reason_code::success, {}});
  h.from_broker(pubcomp_packet{2, reason_code::success, {}});
  next = h.sent();
  ASSERT_EQ(next.size(), 2U);  // PUBREL for 2 answered the PUBREC, then the resend of 3's PUBREL
  EXPECT_EQ(std::get<pubrel_packet>(next[0]).packet_id, 2);
  EXPECT_EQ(std::get<pubrel_packet>(next[1]).packet_id, 3);
  h.from_broker(pubcomp_packet{3, reason_code::success, {}});
  next = h.sent();
  ASSERT_EQ(next.size(), 1U);
  EXPECT_EQ(std::get<publish_packet>(next[0]).topic, "e");
}

TEST(SessionReconnect, NeverRetransmitsOnALiveConnection) {
  harness h;
  h.connect();
  h.publish("t", qos::at_least_once, 1);
  h.publish("t", qos::exactly_once, 2);
  h.sent();
  for (int i = 0; i < 20; ++i) {
    h.now += 8s;
    h.s.on_time(h.now);
    h.from_broker(pingresp_packet{});
  }
  const auto out = h.sent();
  EXPECT_FALSE(out.empty());
  for (const auto& p : out) EXPECT_EQ(type_of(p), packet_type::pingreq);
  EXPECT_EQ(h.s.current_state(), session::state::connected);
}

TEST(SessionReconnect, PacketSplitAcrossReadsAndConnectionDroppedMidPacket) {
  harness h;
  h.connect();
  h.events();
  const auto wire = test::hex("32 09 00 03 61 2F 62 00 05 00 7A");  // QoS 1 PUBLISH "a/b" id 5 (v5)
  h.raw_from_broker(bytes(wire.begin(), wire.begin() + 4));
  EXPECT_TRUE(h.events().empty());
  h.raw_from_broker(bytes(wire.begin() + 4, wire.end()));
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 1U);
  EXPECT_EQ(only_packets<puback_packet>(h.sent()).size(), 1U);
  // Half a packet, then the broker goes away: nothing of it survives into the next connection.
  h.raw_from_broker(bytes(wire.begin(), wire.begin() + 6));
  h.s.on_transport_closed();
  h.connect(true);
  h.events();
  h.raw_from_broker(test::hex("D0 00"));
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  EXPECT_TRUE(only<close_requested_event>(h.events()).empty());
}

TEST(SessionReconnect, PendingSubscribeFailsWhenTheConnectionDrops) {
  harness h;
  h.connect();
  h.s.subscribe({{"a/#", {qos::at_least_once}}}, {}, 5, h.now);
  h.sent();
  h.s.on_transport_closed();
  const auto failed = only<request_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_EQ(failed[0].token, 5U);
  EXPECT_TRUE(is(failed[0].error, errc::connection_lost));
}

// --- restore --------------------------------------------------------------------------

std::vector<restored_message> persisted() {
  std::vector<restored_message> r;
  r.push_back({10, 7, outgoing_state::publish_sent, {"t/one", to_bytes("1"), qos::at_least_once, false, false, 0, {}}});
  r.push_back({11, 9, outgoing_state::pubrel_sent, {"", {}, qos::exactly_once, false, false, 0, {}}});
  r.push_back({12, 3, outgoing_state::publish_sent, {"t/three", to_bytes("3"), qos::exactly_once, false, false, 0, {}}});
  return r;
}

TEST(SessionRestore, ResumedSessionSendsPubrelNotPublish) {
  harness h;
  ASSERT_FALSE(h.s.restore(persisted()));
  EXPECT_EQ(h.s.inflight_count(), 3U);
  const auto out = h.connect(true);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(std::get<publish_packet>(out[0]).packet_id, 7);
  EXPECT_TRUE(std::get<publish_packet>(out[0]).dup);
  EXPECT_EQ(std::get<pubrel_packet>(out[1]).packet_id, 9);
  EXPECT_EQ(std::get<publish_packet>(out[2]).packet_id, 3);
  EXPECT_EQ(std::get<publish_packet>(out[2]).topic, "t/three");
  h.from_broker(pubcomp_packet{9, reason_code::success, {}});
  h.from_broker(puback_packet{7, reason_code::success, {}});
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{11, 10}));
  // Restored ids stay reserved: new messages get other ids.
  h.publish("n", qos::at_least_once, 20);
  const auto ids = publish_ids(h.sent());
  ASSERT_EQ(ids.size(), 1U);
  EXPECT_NE(ids[0], 3);
}

TEST(SessionRestore, LostSessionRepublishesRestoredMessages) {
  harness h;
  ASSERT_FALSE(h.s.restore(persisted()));
  const auto out = only_packets<publish_packet>(h.connect(false));
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].topic, "t/one");
  EXPECT_EQ(out[1].topic, "t/three");
  const auto events = h.events();
  EXPECT_TRUE(only<publish_failed_event>(events).empty());
  const auto done = only<publish_completed_event>(events);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].token, 11U);
  EXPECT_TRUE(done[0].past_pubrec);
}

TEST(SessionRestore, RejectsInconsistentState) {
  harness h;
  auto twice = persisted();
  twice[1].packet_id = 7;
  EXPECT_TRUE(is(h.s.restore(twice), errc::packet_identifier_in_use));
  auto zero = persisted();
  zero[0].packet_id = 0;
  EXPECT_TRUE(is(h.s.restore(zero), errc::invalid_argument));
  auto qos1_pubrel = persisted();
  qos1_pubrel[1].message.qos = qos::at_least_once;
  EXPECT_TRUE(is(h.s.restore(qos1_pubrel), errc::invalid_argument));
  EXPECT_EQ(h.s.inflight_count(), 0U);  // all or nothing
  h.connect();
  EXPECT_TRUE(is(h.s.restore(persisted()), errc::not_connected));
}

// --- keep-alive ---------------------------------------------------------------------------

TEST(SessionKeepAlive, PingWhenIdleAndTimeoutAfterOneAndAHalf) {
  harness h;  // keep-alive 10 s
  h.connect();
  h.events();
  const auto t0 = h.now;
  EXPECT_EQ(h.s.next_deadline(), t0 + 10s);
  h.s.on_time(t0 + 9s);
  EXPECT_TRUE(h.sent().empty());
  h.s.on_time(t0 + 10s);
  EXPECT_EQ(only_packets<pingreq_packet>(h.sent()).size(), 1U);
  EXPECT_EQ(h.s.next_deadline(), t0 + 15s);  // 1.5x after the last packet received
  h.s.on_time(t0 + 14s);
  EXPECT_TRUE(h.events().empty());
  h.s.on_time(t0 + 15s);
  expect_closed_with(h, errc::keep_alive_timeout, std::nullopt);
}

TEST(SessionKeepAlive, PingrespKeepsTheConnectionAlive) {
  harness h;
  h.connect();
  const auto t0 = h.now;
  h.s.on_time(t0 + 10s);
  h.now = t0 + 11s;
  h.from_broker(pingresp_packet{});
  h.s.on_time(t0 + 20s);
  EXPECT_TRUE(only<close_requested_event>(h.events()).empty());
  EXPECT_EQ(only_packets<pingreq_packet>(h.sent()).size(), 2U);
}

TEST(SessionKeepAlive, TrafficWeSendDoesNotHideASilentBroker) {
  harness h;
  h.connect();
  const auto t0 = h.now;
  for (int i = 1; i <= 9; ++i) {
    h.now = t0 + std::chrono::seconds(i);
    h.publish("t", qos::at_most_once, static_cast<message_token>(i));
    h.s.on_time(h.now);
  }
  h.now = t0 + 10s;
  h.s.on_time(h.now);  // we sent 1 s ago, but the broker was silent for 10 s
  EXPECT_EQ(only_packets<pingreq_packet>(h.sent()).size(), 1U);
  h.s.on_time(t0 + 15s);
  EXPECT_EQ(only<close_requested_event>(h.events()).size(), 1U);
}

TEST(SessionKeepAlive, ServerKeepAliveWins) {
  harness h;
  properties p;
  p.add(property_id::server_keep_alive, std::uint32_t{4});
  h.connect(false, p);
  EXPECT_EQ(h.s.next_deadline(), h.now + 4s);
  h.s.on_time(h.now + 4s);
  EXPECT_EQ(only_packets<pingreq_packet>(h.sent()).size(), 1U);
}

TEST(SessionKeepAlive, ZeroDisablesIt) {
  auto config = harness::default_config();
  config.keep_alive_s = 0;
  harness h(config);
  h.connect();
  EXPECT_EQ(h.s.next_deadline(), session_clock::time_point::max());
  h.s.on_time(h.now + 1000h);
  EXPECT_TRUE(h.sent().empty());
}

// --- limits and refusals ------------------------------------------------------------------

TEST(SessionLimits, BrokerMaximumPacketSizeRefusesOversizedMessages) {
  harness h;
  properties p;
  p.add(property_id::maximum_packet_size, std::uint32_t{64});
  h.connect(false, p);
  h.events();
  h.publish("t", qos::at_least_once, 1, 100);
  h.publish("t", qos::at_most_once, 2, 100);
  EXPECT_TRUE(h.sent().empty());
  auto failed = only<publish_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_TRUE(is(failed[0].error, errc::message_too_large));
  EXPECT_TRUE(is(failed[1].error, errc::message_too_large));
  EXPECT_EQ(failed[0].error.message(), "message exceeds the broker's maximum packet size");
  // 64 bytes exactly is allowed: 1 + 1 + (2 + 1) + 2 + 1 + payload 56.
  h.publish("t", qos::at_least_once, 3, 56);
  const auto ids = publish_ids(h.sent());
  ASSERT_EQ(ids.size(), 1U);
  EXPECT_EQ(ids[0], 1);  // the refused message did not consume an id
}

TEST(SessionLimits, OversizedMessageQueuedWhileDisconnectedFailsAtSendTime) {
  harness h;
  h.publish("t", qos::at_least_once, 1, 100);
  properties p;
  p.add(property_id::maximum_packet_size, std::uint32_t{64});
  EXPECT_TRUE(h.connect(false, p).empty());
  const auto failed = only<publish_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_TRUE(is(failed[0].error, errc::message_too_large));
  EXPECT_EQ(h.s.inflight_count(), 0U);
}

// Issue 9 item 4: downgraded, not refused; one event per kind and connection.
TEST(SessionLimits, MaximumQoSAndRetainAvailableDowngradeOncePerConnection) {
  harness h;
  properties p;
  p.add(property_id::maximum_qos, std::uint32_t{1});
  p.add(property_id::retain_available, std::uint32_t{0});
  h.connect(false, p);
  h.events();
  h.publish("t", qos::exactly_once, 1);
  h.s.publish(publish_packet{"t", {}, qos::at_least_once, true, false, 0, {}}, 2, h.now);
  h.publish("t", qos::exactly_once, 3);
  const auto out = only_packets<publish_packet>(h.sent());
  ASSERT_EQ(out.size(), 3U);
  for (const auto& m : out) {
    EXPECT_EQ(m.qos, qos::at_least_once);
    EXPECT_FALSE(m.retain);
  }
  const auto events = h.events();
  EXPECT_TRUE(only<publish_failed_event>(events).empty());
  const auto downgrades = only<publish_downgraded_event>(events);
  ASSERT_EQ(downgrades.size(), 2U);
  EXPECT_EQ(downgrades[0].requested, qos::exactly_once);
  EXPECT_EQ(downgrades[0].sent, qos::at_least_once);
  EXPECT_TRUE(downgrades[1].retain_cleared);
  h.from_broker(puback_packet{1, reason_code::success, {}});
  const auto done = only<publish_completed_event>(h.events());
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].qos, qos::at_least_once);
}

TEST(SessionLimits, MaximumQoSZeroSendsQoS2AsQoS0) {
  harness h;
  properties p;
  p.add(property_id::maximum_qos, std::uint32_t{0});
  h.connect(false, p);
  h.events();
  h.publish("t", qos::exactly_once, 1);
  const auto out = only_packets<publish_packet>(h.sent());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].qos, qos::at_most_once);
  const auto done = only<publish_completed_event>(h.events());
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].qos, qos::at_most_once);
  EXPECT_EQ(h.s.inflight_count(), 0U);
}

// The resumed session's resend obeys the new connection's limits too
// (before: the PUBLISH went out at QoS 2 and the broker disconnected 0x9B).
TEST(SessionLimits, ResendOnAResumedSessionIsDowngradedToo) {
  harness h;
  h.connect();
  h.publish("t", qos::exactly_once, 1);
  h.sent();
  h.s.on_transport_closed();
  properties p;
  p.add(property_id::maximum_qos, std::uint32_t{1});
  const auto out = only_packets<publish_packet>(h.connect(true, p));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].qos, qos::at_least_once);
  EXPECT_TRUE(out[0].dup);
  EXPECT_EQ(only<publish_downgraded_event>(h.events()).size(), 1U);
  h.from_broker(puback_packet{out[0].packet_id, reason_code::success, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{1}));
}

// RabbitMQ (3.1.1) answers a QoS 2 PUBLISH with PUBACK: delivered at QoS 1, not a protocol error.
TEST(SessionLimits, V311PubackForQoS2IsDeliveredAtQoS1) {
  harness h(harness::default_config(protocol_version::v311));
  h.connect();
  h.publish("t", qos::exactly_once, 1);
  h.publish("t", qos::exactly_once, 2);
  const auto ids = publish_ids(h.sent());
  ASSERT_EQ(ids.size(), 2U);
  h.from_broker(puback_packet{ids[0], reason_code::success, {}});
  h.from_broker(puback_packet{ids[1], reason_code::success, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  const auto events = h.events();
  EXPECT_EQ(only<publish_downgraded_event>(events).size(), 1U);
  EXPECT_TRUE(only<publish_downgraded_event>(events)[0].answered_with_puback);
  const auto done = only<publish_completed_event>(events);
  ASSERT_EQ(done.size(), 2U);
  EXPECT_EQ(done[0].qos, qos::at_least_once);
}

TEST(SessionLimits, PropertiesAClientMustNotSend) {
  harness h;
  h.connect();
  h.events();
  publish_packet alias{"t", {}, qos::at_most_once, false, false, 0, {}};
  alias.props.add(property_id::topic_alias, std::uint32_t{1});
  h.s.publish(alias, 1, h.now);
  publish_packet sub_id{"t", {}, qos::at_least_once, false, false, 0, {}};
  sub_id.props.add(property_id::subscription_identifier, std::uint32_t{1});
  h.s.publish(sub_id, 2, h.now);
  EXPECT_TRUE(h.sent().empty());
  const auto failed = only<publish_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_TRUE(is(failed[0].error, errc::invalid_argument));
  EXPECT_TRUE(is(failed[1].error, errc::invalid_argument));
}

TEST(SessionLimits, InvalidTopicRefusedAtOnce) {
  harness h;
  h.connect();
  h.events();
  h.publish("a/+/b", qos::at_least_once, 1);
  h.publish("", qos::at_most_once, 2);
  EXPECT_TRUE(h.sent().empty());
  const auto failed = only<publish_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_TRUE(is(failed[0].error, errc::invalid_topic));
}

// --- protocol errors from the broker --------------------------------------------------------

TEST(SessionProtocolErrors, PubackForUnknownId) {
  harness h;
  h.connect();
  h.from_broker(puback_packet{42, reason_code::success, {}});
  expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
}

TEST(SessionProtocolErrors, PubcompForAQoS1Message) {
  harness h;
  h.connect();
  h.publish("t", qos::at_least_once, 1);
  h.from_broker(pubcomp_packet{1, reason_code::success, {}});
  expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
}

TEST(SessionProtocolErrors, PubackForAQoS2Message) {
  harness h;
  h.connect();
  h.publish("t", qos::exactly_once, 1);
  h.from_broker(puback_packet{1, reason_code::success, {}});
  expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
}

TEST(SessionProtocolErrors, PacketsABrokerNeverSends) {
  for (const packet& p : {packet{pingreq_packet{}}, packet{connack_packet{}},
                          packet{subscribe_packet{1, {{"t", {}}}, {}}}, packet{unsubscribe_packet{1, {"t"}, {}}}}) {
    harness h;
    h.connect();
    h.from_broker(p);
    SCOPED_TRACE(std::string(packet_name(type_of(p))));
    expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
  }
}

TEST(SessionProtocolErrors, MalformedBytes) {
  harness h;
  h.connect();
  h.raw_from_broker(test::hex("41 02 00 01"));
  expect_closed_with(h, errc::malformed_packet, reason_code::malformed_packet);
  // Input after the close request is ignored.
  h.raw_from_broker(test::hex("D0 00"));
  EXPECT_TRUE(h.events().empty());
}

TEST(SessionProtocolErrors, MalformedBytesV311ClosesWithoutDisconnect) {
  harness h(harness::default_config(protocol_version::v311));
  h.connect();
  h.raw_from_broker(test::hex("30 03 00 01 23"));
  expect_closed_with(h, errc::malformed_packet, std::nullopt);
}

TEST(SessionProtocolErrors, PacketLargerThanOurMaximum) {
  auto config = harness::default_config();
  config.maximum_packet_size = 32;
  harness h(config);
  h.connect();
  h.from_broker(publish_packet{"t", bytes(64, 1), qos::at_most_once, false, false, 0, {}});
  expect_closed_with(h, errc::packet_too_large, reason_code::packet_too_large);
}

TEST(SessionProtocolErrors, TopicAliasWeDidNotAllow) {
  harness h;
  h.connect();
  publish_packet m{"t", {}, qos::at_most_once, false, false, 0, {}};
  m.props.add(property_id::topic_alias, std::uint32_t{1});
  h.from_broker(m);
  expect_closed_with(h, errc::topic_alias_invalid, reason_code::topic_alias_invalid);
}

TEST(SessionProtocolErrors, BrokerDisconnect) {
  harness h;
  h.connect();
  disconnect_packet d{reason_code::session_taken_over, {}};
  d.props.add(property_id::reason_string, std::string("another client"));
  h.from_broker(d);
  const auto events = h.events();
  const auto got = only<disconnect_received_event>(events);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].code, reason_code::session_taken_over);
  EXPECT_EQ(got[0].reason_string, "another client");
  EXPECT_EQ(only<close_requested_event>(events).size(), 1U);
  EXPECT_TRUE(h.sent().empty());
}

// --- subscribe, unsubscribe, disconnect -------------------------------------------------------

TEST(SessionSubscribe, SubackCompletesWithGrantedQoS) {
  harness h;
  h.connect();
  h.publish("t", qos::at_least_once, 1);
  h.s.subscribe({{"cmd/#", {qos::exactly_once}}, {"$SYS/x", {qos::at_most_once}}}, {}, 50, h.now);
  auto out = h.sent();
  const auto subs = only_packets<subscribe_packet>(out);
  ASSERT_EQ(subs.size(), 1U);
  EXPECT_NE(subs[0].packet_id, publish_ids(out)[0]);  // one id space for PUBLISH and SUBSCRIBE
  h.from_broker(suback_packet{subs[0].packet_id, {reason_code::granted_qos_2, reason_code::not_authorized}, {}});
  const auto done = only<subscribe_completed_event>(h.events());
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].token, 50U);
  EXPECT_EQ(done[0].codes, (std::vector<reason_code>{reason_code::granted_qos_2, reason_code::not_authorized}));
}

TEST(SessionSubscribe, SubackWithWrongCountIsAProtocolError) {
  harness h;
  h.connect();
  h.s.subscribe({{"a", {}}, {"b", {}}}, {}, 1, h.now);
  const auto id = only_packets<subscribe_packet>(h.sent())[0].packet_id;
  h.from_broker(suback_packet{id, {reason_code::granted_qos_0}, {}});
  expect_closed_with(h, errc::protocol_error, reason_code::protocol_error);
}

TEST(SessionSubscribe, UnsubscribeBothVersions) {
  for (auto v : {protocol_version::v311, protocol_version::v5}) {
    harness h(harness::default_config(v));
    h.connect();
    h.s.unsubscribe({"a", "b"}, {}, 9, h.now);
    const auto un = only_packets<unsubscribe_packet>(h.sent());
    ASSERT_EQ(un.size(), 1U);
    unsuback_packet ack{un[0].packet_id, {}, {}};
    if (v == protocol_version::v5) ack.codes = {reason_code::success, reason_code::no_subscription_existed};
    h.from_broker(ack);
    const auto done = only<unsubscribe_completed_event>(h.events());
    ASSERT_EQ(done.size(), 1U);
    EXPECT_EQ(done[0].token, 9U);
  }
}

TEST(SessionSubscribe, NotConnectedAndHeldUntilConnack) {
  harness h;
  h.s.subscribe({{"a", {}}}, {}, 1, h.now);
  const auto failed = only<request_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_TRUE(is(failed[0].error, errc::not_connected));
  h.s.on_transport_connected(h.now);
  h.s.subscribe({{"a", {}}}, {}, 2, h.now);
  EXPECT_TRUE(only_packets<subscribe_packet>(h.sent()).empty());
  h.from_broker(connack_packet{});
  EXPECT_EQ(only_packets<subscribe_packet>(h.sent()).size(), 1U);
}

TEST(SessionSubscribe, InvalidFilterFails) {
  harness h;
  h.connect();
  h.events();
  h.s.subscribe({{"a/#/b", {}}}, {}, 1, h.now);
  const auto failed = only<request_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_TRUE(is(failed[0].error, errc::invalid_topic));
  EXPECT_TRUE(h.sent().empty());
}

// --- subscriptions restored after the broker lost the session ------------------------------

// Subscribes and lets the broker answer with `codes`; returns the SUBSCRIBE sent.
subscribe_packet subscribe_and_ack(harness& h, std::vector<subscription> subs, message_token token,
                                   std::vector<reason_code> codes, properties props = {}) {
  h.s.subscribe(std::move(subs), std::move(props), token, h.now);
  auto sent = only_packets<subscribe_packet>(h.sent());
  EXPECT_EQ(sent.size(), 1U);
  if (sent.empty()) return {};
  h.from_broker(suback_packet{sent[0].packet_id, std::move(codes), {}});
  return sent[0];
}

TEST(SessionRestoreSubscriptions, GrantedFiltersAreSentAgainBeforeQueuedPublishesWhenTheSessionIsLost) {
  harness h;
  h.connect();
  const subscription a{"a/#", {qos::at_least_once, false, false, retain_handling::send_on_subscribe}};
  const subscription b{"b", {qos::exactly_once, true, true, retain_handling::dont_send}};
  subscribe_and_ack(h, {a, b}, 1, {reason_code::granted_qos_1, reason_code::granted_qos_2});
  subscribe_and_ack(h, {{"c", {qos::at_most_once}}}, 2, {reason_code::not_authorized});  // refused: not kept
  EXPECT_EQ(h.s.remembered_subscriptions(), (std::vector<subscription>{a, b}));
  h.events();

  h.s.on_transport_closed();
  h.publish("t", qos::at_least_once, 10);  // waits for the connection
  auto out = h.connect(false);
  using t = packet_type;
  ASSERT_EQ(types_of(out), (std::vector<t>{t::subscribe, t::publish}));
  const auto& restore = std::get<subscribe_packet>(out[0]);
  EXPECT_EQ(restore.subscriptions, (std::vector<subscription>{a, b}));
  EXPECT_NE(restore.packet_id, std::get<publish_packet>(out[1]).packet_id);
  h.from_broker(suback_packet{restore.packet_id, {reason_code::granted_qos_1, reason_code::not_authorized}, {}});
  const auto events = h.events();
  EXPECT_TRUE(only<subscribe_completed_event>(events).empty()) << "the owner's completion is not called again";
  const auto restored = only<subscriptions_restored_event>(events);
  ASSERT_EQ(restored.size(), 1U);
  EXPECT_EQ(restored[0].filters, (std::vector<std::string>{"a/#", "b"}));
  EXPECT_EQ(restored[0].codes, (std::vector<reason_code>{reason_code::granted_qos_1, reason_code::not_authorized}));
  EXPECT_FALSE(restored[0].error);

  // Session present: the broker still has them, nothing is sent.
  h.s.on_transport_closed();
  EXPECT_TRUE(only_packets<subscribe_packet>(h.connect(true)).empty());
}

TEST(SessionRestoreSubscriptions, UnsubscribeForgetsAtOnceAndTheLatestGrantedOptionsWin) {
  for (auto v : {protocol_version::v311, protocol_version::v5}) {
    harness h(harness::default_config(v));
    h.connect();
    subscribe_and_ack(h, {{"a", {qos::at_most_once}}, {"b", {qos::at_most_once}}, {"c", {qos::at_least_once}}}, 1,
                      {reason_code::granted_qos_0, reason_code::granted_qos_0, reason_code::granted_qos_1});
    subscribe_and_ack(h, {{"a", {qos::exactly_once}}}, 2, {reason_code::granted_qos_2});   // replaces a
    subscribe_and_ack(h, {{"c", {qos::exactly_once}}}, 3, {reason_code::unspecified_error});  // refused: c stays QoS 1
    h.s.unsubscribe({"b"}, {}, 4, h.now);  // forgotten before any UNSUBACK
    // A subscribe lost with its connection is not remembered.
    h.s.subscribe({{"d", {qos::at_most_once}}}, {}, 5, h.now);
    h.s.on_transport_closed();
    const auto out = only_packets<subscribe_packet>(h.connect(false));
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].subscriptions,
              (std::vector<subscription>{{"a", {qos::exactly_once}}, {"c", {qos::at_least_once}}}));
    const auto failed = only<request_failed_event>(h.events());
    ASSERT_EQ(failed.size(), 2U) << "the UNSUBSCRIBE and the SUBSCRIBE lost with the connection";
  }
}

TEST(SessionRestoreSubscriptions, ARestoreLostWithItsConnectionIsSentAgainEvenWithSessionPresent) {
  harness h;
  h.connect();
  subscribe_and_ack(h, {{"a", {qos::at_least_once}}}, 1, {reason_code::granted_qos_1});
  h.s.on_transport_closed();
  ASSERT_EQ(only_packets<subscribe_packet>(h.connect(false)).size(), 1U);
  h.events();
  h.s.on_transport_closed();  // before the SUBACK
  const auto lost = only<subscriptions_restored_event>(h.events());
  ASSERT_EQ(lost.size(), 1U);
  EXPECT_TRUE(is(lost[0].error, errc::connection_lost));
  EXPECT_TRUE(only<request_failed_event>(h.events()).empty());
  // The broker kept the session it made on the last connection, maybe without the subscription.
  const auto again = only_packets<subscribe_packet>(h.connect(true));
  ASSERT_EQ(again.size(), 1U);
  h.from_broker(suback_packet{again[0].packet_id, {reason_code::granted_qos_1}, {}});
  h.s.on_transport_closed();
  EXPECT_TRUE(only_packets<subscribe_packet>(h.connect(true)).empty());
}

TEST(SessionRestoreSubscriptions, EachSetOfSubscribePropertiesGetsItsOwnSubscribe) {
  harness h;
  h.connect();
  properties with_id;
  with_id.add(property_id::subscription_identifier, std::uint32_t{7});
  subscribe_and_ack(h, {{"x", {qos::at_least_once}}}, 1, {reason_code::granted_qos_1}, with_id);
  subscribe_and_ack(h, {{"y", {qos::at_least_once}}}, 2, {reason_code::granted_qos_1});
  subscribe_and_ack(h, {{"z", {qos::at_most_once}}}, 3, {reason_code::granted_qos_0});
  h.s.on_transport_closed();
  const auto out = only_packets<subscribe_packet>(h.connect(false));
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].props, with_id);
  EXPECT_EQ(out[0].subscriptions, (std::vector<subscription>{{"x", {qos::at_least_once}}}));
  EXPECT_EQ(out[1].props, properties{});
  EXPECT_EQ(out[1].subscriptions,
            (std::vector<subscription>{{"y", {qos::at_least_once}}, {"z", {qos::at_most_once}}}));
}

TEST(SessionRestoreSubscriptions, OffWhenConfiguredSo) {
  auto config = harness::default_config();
  config.restore_subscriptions = false;
  harness h(config);
  h.connect();
  subscribe_and_ack(h, {{"a", {qos::at_least_once}}}, 1, {reason_code::granted_qos_1});
  EXPECT_TRUE(h.s.remembered_subscriptions().empty());
  h.s.on_transport_closed();
  EXPECT_TRUE(only_packets<subscribe_packet>(h.connect(false)).empty());
}

TEST(SessionDisconnect, GracefulDisconnect) {
  harness h;
  h.connect();
  h.events();
  h.s.disconnect(reason_code::disconnect_with_will_message, {}, h.now);
  const auto d = only_packets<disconnect_packet>(h.sent());
  ASSERT_EQ(d.size(), 1U);
  EXPECT_EQ(d[0].code, reason_code::disconnect_with_will_message);
  const auto closes = only<close_requested_event>(h.events());
  ASSERT_EQ(closes.size(), 1U);
  EXPECT_FALSE(closes[0].reason);
  h.s.on_transport_closed();
  EXPECT_EQ(h.s.current_state(), session::state::disconnected);
}

// --- issue 10 defects -------------------------------------------------------------------

// Defect 5: a limit fitting a gateway by default, announced in MQTT 5.
TEST(SessionLimits, DefaultMaximumPacketSizeIsOneMebibyteAndAnnounced) {
  harness h;
  EXPECT_EQ(h.s.config().maximum_packet_size, 1024U * 1024U);
  h.s.on_transport_connected(h.now);
  const auto out = h.sent();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(std::get<connect_packet>(out[0]).props.integer(property_id::maximum_packet_size), 1024U * 1024U);
}

// Defect 6: 3.1.1 cannot announce the limit, so an oversized PUBLISH is
// skipped (not buffered), acknowledged and reported; the connection stays.
TEST(SessionLimits, V311OversizedPublishIsDroppedAndAcknowledgedNotLoopedOn) {
  auto config = harness::default_config(protocol_version::v311);
  config.maximum_packet_size = 100;
  harness h(config);
  h.connect();
  h.events();
  bytes big;
  ASSERT_FALSE(encode(publish_packet{"cmd/big", bytes(500, 0x61), qos::at_least_once, false, false, 7, {}},
                      protocol_version::v311, big));
  // In pieces, so the skip spans reads.
  h.raw_from_broker(bytes(big.begin(), big.begin() + 20));
  h.raw_from_broker(bytes(big.begin() + 20, big.begin() + 300));
  h.raw_from_broker(bytes(big.begin() + 300, big.end()));
  h.from_broker(publish_packet{"cmd/small", to_bytes("x"), qos::exactly_once, false, false, 8, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  const auto out = h.sent();
  ASSERT_EQ(only_packets<puback_packet>(out).size(), 1U);
  EXPECT_EQ(only_packets<puback_packet>(out)[0].packet_id, 7);
  EXPECT_EQ(only_packets<pubrec_packet>(out).size(), 1U);
  const auto events = h.events();
  const auto dropped = only<message_dropped_event>(events);
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(dropped[0].packet_id, 7);
  EXPECT_EQ(dropped[0].size, big.size());
  const auto received = only<message_received_event>(events);
  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].message.topic, "cmd/small");
}

// Defect 6: nor does 3.1.1 enforce a Receive Maximum it could not announce.
TEST(SessionLimits, V311DoesNotEnforceAReceiveMaximumItCannotAnnounce) {
  auto config = harness::default_config(protocol_version::v311);
  config.receive_maximum = 1;
  harness h(config);
  h.connect();
  h.from_broker(publish_packet{"a", to_bytes("1"), qos::exactly_once, false, false, 1, {}});
  h.from_broker(publish_packet{"a", to_bytes("2"), qos::exactly_once, false, false, 2, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
}

// Defect 7: the broker's Maximum Packet Size holds for SUBSCRIBE and
// UNSUBSCRIBE (refused, not sent) and DISCONNECT (sent without its properties).
TEST(SessionLimits, BrokerMaximumPacketSizeHoldsForEveryPacket) {
  harness h;
  properties p;
  p.add(property_id::maximum_packet_size, std::uint32_t{40});
  h.connect(false, p);
  h.events();
  h.s.subscribe({subscription{std::string(60, 'f'), {}}}, {}, 1, h.now);
  h.s.unsubscribe({std::string(60, 'f')}, {}, 2, h.now);
  EXPECT_TRUE(h.sent().empty());
  const auto failed = only<request_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_TRUE(is(failed[0].error, errc::message_too_large));
  EXPECT_TRUE(is(failed[1].error, errc::message_too_large));
  properties user;
  user.add_user_property("k", std::string(100, 'v'));
  h.s.disconnect(reason_code::normal_disconnection, user, h.now);
  const auto out = h.sent();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_TRUE(std::get<disconnect_packet>(out[0]).props.user_properties().empty());
}

// Defect 8: wildcard, shared and subscription identifier availability.
TEST(SessionSubscribe, BrokerCapabilitiesAreHonoured) {
  harness h;
  properties p;
  p.add(property_id::wildcard_subscription_available, std::uint32_t{0});
  p.add(property_id::shared_subscription_available, std::uint32_t{0});
  p.add(property_id::subscription_identifier_available, std::uint32_t{0});
  h.connect(false, p);
  h.events();
  h.s.subscribe({subscription{"p/+/set", {}}}, {}, 1, h.now);
  h.s.subscribe({subscription{"$share/g/p/a", {}}}, {}, 2, h.now);
  properties with_id;
  with_id.add(property_id::subscription_identifier, std::uint32_t{5});
  h.s.subscribe({subscription{"p/a/set", {}}}, with_id, 3, h.now);
  const auto out = only_packets<subscribe_packet>(h.sent());
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].subscriptions.at(0).filter, "p/a/set");
  EXPECT_FALSE(out[0].props.contains(property_id::subscription_identifier));
  const auto failed = only<request_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 2U);
  EXPECT_TRUE(is(failed[0].error, errc::feature_not_available));
  EXPECT_TRUE(is(failed[1].error, errc::feature_not_available));
}

TEST(SessionSubscribe, NoLocalOnASharedSubscriptionIsRefused) {
  harness h;
  h.connect();
  h.events();
  subscription shared{"$share/g/t", {}};
  shared.options.no_local = true;
  h.s.subscribe({shared}, {}, 1, h.now);
  EXPECT_TRUE(h.sent().empty());
  const auto failed = only<request_failed_event>(h.events());
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_TRUE(is(failed[0].error, errc::invalid_argument));
}

// Defect 11: session present 1 while we hold no state: close
// ([MQTT-3.2.2-4]); the next CONNECT starts clean, so it does not loop.
TEST(SessionConnect, SessionPresentWithoutOurStateClosesAndTheNextConnectStartsClean) {
  harness h;
  h.s.on_transport_connected(h.now);
  EXPECT_FALSE(std::get<connect_packet>(h.sent().at(0)).clean_start);
  h.from_broker(connack_packet{true, reason_code::success, {}});
  expect_closed_with(h, errc::unexpected_session_present, reason_code::protocol_error);
  h.s.on_transport_closed();
  h.s.on_transport_connected(h.now);
  EXPECT_TRUE(std::get<connect_packet>(h.sent().at(0)).clean_start);
  h.from_broker(connack_packet{false, reason_code::success, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  // From now on we hold a session: session present 1 is fine.
  h.s.on_transport_closed();
  h.s.on_transport_connected(h.now);
  EXPECT_FALSE(std::get<connect_packet>(h.sent().at(0)).clean_start);
  h.from_broker(connack_packet{true, reason_code::success, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
}

TEST(SessionConnect, SessionPresentAfterRestoreIsAccepted) {
  harness h;
  ASSERT_FALSE(h.s.restore({}));
  h.connect(true);
  EXPECT_EQ(h.s.current_state(), session::state::connected);
}

// Defect 11: the broker's send quota starts afresh on a new connection, so
// ids still held from the last one do not count against our Receive Maximum.
TEST(SessionQoS2, IncomingIdsOfThePreviousConnectionDoNotCountAgainstReceiveMaximum) {
  auto config = harness::default_config();
  config.receive_maximum = 1;
  harness h(config);
  h.connect();
  h.from_broker(publish_packet{"a", to_bytes("1"), qos::exactly_once, false, false, 1, {}});
  h.s.on_transport_closed();
  h.connect(true);
  h.from_broker(publish_packet{"a", to_bytes("2"), qos::exactly_once, false, false, 2, {}});
  EXPECT_EQ(h.s.current_state(), session::state::connected);
  EXPECT_EQ(only<message_received_event>(h.events()).size(), 2U);
}

// Defect 4: above the output high-water mark QoS 0 waits in the queue, in
// order, until the owner says its write drained the output.
TEST(SessionOutput, QoS0WaitsAboveTheHighWaterMarkUntilTheOutputDrains) {
  auto config = harness::default_config();
  config.output_high_water = 100;
  harness h(config);
  h.connect();
  h.events();
  h.publish("t/1", qos::at_most_once, 1, 150);  // goes: the mark was not reached
  h.publish("t/2", qos::at_most_once, 2, 10);   // waits
  h.publish("t/3", qos::at_most_once, 3, 10);   // waits behind it
  EXPECT_EQ(h.s.queued_count(), 2U);
  std::vector<std::string> topics;
  for (const auto& p : only_packets<publish_packet>(h.sent())) topics.push_back(p.topic);
  EXPECT_EQ(topics, (std::vector<std::string>{"t/1"}));
  h.s.on_output_drained(h.now);
  for (const auto& p : only_packets<publish_packet>(h.sent())) topics.push_back(p.topic);
  EXPECT_EQ(topics, (std::vector<std::string>{"t/1", "t/2", "t/3"}));
  EXPECT_EQ(completed_tokens(h.events()), (std::vector<message_token>{1, 2, 3}));
}

TEST(SessionOutput, TakeOutputSwapsWithoutLosingBytes) {
  harness h;
  h.connect();
  std::vector<std::uint8_t> buffer;
  buffer.reserve(4096);
  h.publish("t", qos::at_most_once, 1);
  h.s.take_output(buffer);
  EXPECT_EQ(test::to_hex(buffer), "30 06 00 01 74 00 61 61");
  EXPECT_FALSE(h.s.has_output());
  h.publish("t", qos::at_most_once, 2);
  h.s.take_output(buffer);  // the previous bytes are cleared, not appended to
  EXPECT_EQ(buffer.size(), 8U);
}

}  // namespace
}  // namespace fieldbridge::mqtt
