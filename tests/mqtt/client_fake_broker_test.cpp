// Component tests of the Asio client against a scripted fake broker on the
// test's own io_context: resend after reconnect, session loss, the in-flight
// window, keep-alive, broken and malformed input, packet size limits,
// subscriptions restored after a lost session, durable incoming QoS 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <spdlog/sinks/ostream_sink.h>

#include "client_recorder.hpp"
#include "fake_broker.hpp"

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
namespace mq = fieldbridge::mqtt;

// Answers every QoS 1/2 flow step at once.
void acknowledge(fake_connection& c, const mq::packet& p) {
  if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
    if (publish->qos == mq::qos::at_least_once) c.send(mq::puback_packet{publish->packet_id, {}, {}});
    if (publish->qos == mq::qos::exactly_once) c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
  } else if (const auto* pubrel = std::get_if<mq::pubrel_packet>(&p)) {
    c.send(mq::pubcomp_packet{pubrel->packet_id, {}, {}});
  } else if (const auto* subscribe = std::get_if<mq::subscribe_packet>(&p)) {
    mq::suback_packet suback;
    suback.packet_id = subscribe->packet_id;
    for (const auto& s : subscribe->subscriptions) suback.codes.push_back(static_cast<mq::reason_code>(s.options.max_qos));
    c.send(suback);
  } else if (std::holds_alternative<mq::pingreq_packet>(p)) {
    c.send(mq::pingresp_packet{});
  }
}

std::vector<mq::packet_type> types_of(const std::vector<mq::packet>& packets) {
  std::vector<mq::packet_type> types;
  for (const auto& p : packets) types.push_back(mq::type_of(p));
  return types;
}

const mq::publish_packet* find_publish(const std::vector<mq::packet>& packets, const std::string& payload) {
  for (const auto& p : packets) {
    if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && text_of(publish->payload) == payload) {
      return publish;
    }
  }
  return nullptr;
}

// First connection: A (QoS 1) unanswered, C (QoS 2) gets PUBREC, D (QoS 2)
// unanswered; the broker drops the line on C's PUBREL. The second connection
// answers CONNACK with `session_present` and acknowledges everything.
class resend_test : public ::testing::TestWithParam<mq::protocol_version> {
 protected:
  void run_scenario(bool session_present) {
    fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
      if (std::holds_alternative<mq::connect_packet>(p)) {
        c.send(connack(c.index() > 0 && session_present));
        return;
      }
      if (c.index() > 0) {
        acknowledge(c, p);
        return;
      }
      if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && text_of(publish->payload) == "C") {
        c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
      } else if (std::holds_alternative<mq::pubrel_packet>(p)) {
        c.close();
      }
    });
    auto options = loopback_options(broker.port(), GetParam());
    options.session_expiry = 600s;
    recorded_client rc(io_, options);
    rc.client->on_connection([&](const mq::connection_event& e) {
      rc.events.push_back(e);
      if (!e.connected && rc.disconnects() == 1) rc.publish("t/e", "E", mq::qos::at_least_once);  // queued while down
    });
    rc.publish("t/a", "A", mq::qos::at_least_once);
    rc.publish("t/c", "C", mq::qos::exactly_once);
    rc.publish("t/d", "D", mq::qos::exactly_once);
    rc.client->start();
    ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 4; }));
    ASSERT_EQ(broker.connection_count(), 2u);
    first_ = broker.connection(0).received();
    second_ = broker.connection(1).received();
    outcomes_ = rc.outcomes;
    for (const auto& [payload, results] : outcomes_) EXPECT_EQ(results.size(), 1u) << payload;
  }

  boost::asio::io_context io_;
  std::vector<mq::packet> first_, second_;
  std::map<std::string, std::vector<mq::publish_result>> outcomes_;
};

TEST_P(resend_test, SessionPresentResendsDupPublishAndPubrelInOrderBeforeNewMessages) {
  run_scenario(true);
  const auto* a0 = find_publish(first_, "A");
  const auto* c0 = find_publish(first_, "C");
  const auto* d0 = find_publish(first_, "D");
  ASSERT_TRUE(a0 && c0 && d0);
  EXPECT_FALSE(a0->dup);
  using t = mq::packet_type;
  ASSERT_EQ(types_of(second_),
            (std::vector<t>{t::connect, t::publish, t::pubrel, t::publish, t::publish, t::pubrel}));
  const auto& a1 = std::get<mq::publish_packet>(second_[1]);
  const auto& c1 = std::get<mq::pubrel_packet>(second_[2]);
  const auto& d1 = std::get<mq::publish_packet>(second_[3]);
  const auto& e1 = std::get<mq::publish_packet>(second_[4]);
  EXPECT_EQ(text_of(a1.payload), "A");
  EXPECT_TRUE(a1.dup);
  EXPECT_EQ(a1.packet_id, a0->packet_id);
  EXPECT_EQ(c1.packet_id, c0->packet_id);
  EXPECT_EQ(find_publish(second_, "C"), nullptr) << "PUBLISH resent after PUBREC";
  EXPECT_EQ(text_of(d1.payload), "D");
  EXPECT_TRUE(d1.dup);
  EXPECT_EQ(d1.packet_id, d0->packet_id);
  EXPECT_EQ(text_of(e1.payload), "E");
  EXPECT_FALSE(e1.dup);
  for (const auto& payload : {"A", "C", "D", "E"}) {
    EXPECT_EQ(outcomes_[payload].at(0).outcome, mq::publish_outcome::delivered) << payload;
  }
}

// Issue 9 item 5: with the session lost the client publishes again, by
// itself, what was not past PUBREC, in its original order and before E
// (queued later); C, past PUBREC, was delivered (the broker had it).
TEST_P(resend_test, SessionNotPresentRepublishesUnfinishedMessagesInOrderBeforeNewerOnes) {
  run_scenario(false);
  std::vector<std::string> payloads;
  for (const auto& p : second_) {
    if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
      payloads.push_back(text_of(publish->payload));
      EXPECT_FALSE(publish->dup);
    }
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"A", "D", "E"}));
  for (const auto& payload : {"A", "C", "D", "E"}) {
    EXPECT_EQ(outcomes_[payload].at(0).outcome, mq::publish_outcome::delivered) << payload;
  }
  EXPECT_TRUE(outcomes_["C"].at(0).past_pubrec);
  EXPECT_FALSE(outcomes_["D"].at(0).past_pubrec);
}

INSTANTIATE_TEST_SUITE_P(versions, resend_test,
                         ::testing::Values(mq::protocol_version::v311, mq::protocol_version::v5));

struct window_case {
  std::optional<std::uint16_t> receive_maximum;  // in CONNACK
  std::uint16_t max_inflight;                    // ours
  std::size_t expected_window;
};

class window_test : public ::testing::TestWithParam<window_case> {};

// The broker acknowledges each PUBLISH 2 ms after it arrived and records
// how many were unacknowledged at once.
TEST_P(window_test, NeverMoreInFlightThanTheWindow) {
  boost::asio::io_context io;
  std::size_t outstanding = 0, most = 0;
  fake_broker broker(io, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      auto ack = connack();
      if (GetParam().receive_maximum) ack.props.add(mq::property_id::receive_maximum, *GetParam().receive_maximum);
      c.send(ack);
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
      most = std::max(most, ++outstanding);
      c.later(2ms, [&c, &outstanding, id = publish->packet_id] {
        --outstanding;
        c.send(mq::puback_packet{id, {}, {}});
      });
    }
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.max_inflight = GetParam().max_inflight;
  recorded_client rc(io, options);
  for (int i = 0; i < 8; ++i) rc.publish("t/w", "m" + std::to_string(i), mq::qos::at_least_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io, [&] { return rc.finished() == 8; }));
  EXPECT_EQ(most, GetParam().expected_window);
  for (const auto& [payload, results] : rc.outcomes) {
    EXPECT_EQ(results.at(0).outcome, mq::publish_outcome::delivered) << payload;
  }
  // Sent in the order published.
  std::vector<std::string> order;
  for (const auto& p : broker.received<mq::publish_packet>(0)) order.push_back(text_of(p.payload));
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

INSTANTIATE_TEST_SUITE_P(receive_maximum, window_test,
                         ::testing::Values(window_case{1, 20, 1}, window_case{2, 20, 2},
                                           window_case{std::nullopt, 3, 3}, window_case{5, 3, 3}));

class client_fake_broker : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
};

// A broker that answers only the first PUBLISH of a full window: the freed
// slot is less than a refill batch, so the queued message is held back, and
// only the max_hold deadline (the client's session timer) can send it.
TEST_F(client_fake_broker, HeldBackMessagesLeaveWhenTheBrokerSitsOnItsAcks) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack());
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && publish->packet_id == 1) {
      c.send(mq::puback_packet{publish->packet_id, {}, {}});
    }
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.max_inflight = 8;  // refill batch 2
  options.max_hold = 20ms;
  recorded_client rc(io_, options);
  for (int i = 1; i <= 9; ++i) rc.publish("t/h", "m" + std::to_string(i), mq::qos::at_least_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return broker.received<mq::publish_packet>(0).size() == 9; }));
  EXPECT_TRUE(rc.done("m1"));
  EXPECT_EQ(rc.finished(), 1U);
  EXPECT_EQ(rc.disconnects(), 0U);
}

TEST_F(client_fake_broker, KeepAliveTimeoutClosesAndReconnects) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
    // PINGREQ is never answered.
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.keepalive = 1s;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return broker.connection_count() == 2; }, 4s));
  const auto types = types_of(broker.connection(0).received());
  EXPECT_NE(std::find(types.begin(), types.end(), mq::packet_type::pingreq), types.end());
  ASSERT_GE(rc.events.size(), 2u);
  EXPECT_TRUE(rc.events[0].connected);
  EXPECT_FALSE(rc.events[1].connected);
  EXPECT_EQ(rc.events[1].error, mq::make_error_code(mq::errc::keep_alive_timeout));
  // The session does not send DISCONNECT to a broker that stopped answering
  // (it would not arrive); it closes the socket.
  EXPECT_TRUE(broker.connection(0).closed_by_peer());
  // The second CONNACK makes it two connections (one reconnect, for /metrics).
  EXPECT_TRUE(run_until(io_, [&] { return rc.client->connections() == 2; }, 4s));
}

TEST_F(client_fake_broker, NoConnackWithinTheConnectTimeoutRetries) {
  fake_broker broker(io_, [&](fake_connection&, const mq::packet&) {});  // never answers CONNECT
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.connect_timeout = 200ms;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return broker.connection_count() == 2; }));
  ASSERT_GE(rc.events.size(), 1u);
  EXPECT_FALSE(rc.events[0].connected);
  EXPECT_EQ(rc.events[0].error, mq::make_error_code(mq::errc::connect_timeout));
  EXPECT_TRUE(broker.connection(0).closed_by_peer());
  EXPECT_EQ(rc.client->connections(), 0u);  // attempts without a CONNACK do not count
}

TEST_F(client_fake_broker, AnsweredPingsKeepTheConnection) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
    acknowledge(c, p);
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v311);
  options.keepalive = 1s;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return broker.received<mq::pingreq_packet>(0).size() == 2; }, 4s));
  EXPECT_EQ(broker.connection_count(), 1u);
  EXPECT_EQ(rc.disconnects(), 0u);
}

TEST_F(client_fake_broker, BrokerClosingMidPacketLosesNothingAfterReconnect) {
  mq::publish_packet message;
  message.topic = "t/mid";
  message.payload = {'h', 'e', 'l', 'l', 'o'};
  message.qos = mq::qos::at_least_once;
  message.packet_id = 9;
  std::vector<std::uint8_t> bytes;
  ASSERT_FALSE(mq::encode(message, mq::protocol_version::v5, bytes));
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (!std::holds_alternative<mq::connect_packet>(p)) return;
    c.send(connack(c.index() > 0));
    if (c.index() == 0) {
      c.send_raw({bytes.begin(), bytes.begin() + 6});
      c.close(5ms);
    } else {
      auto resent = message;
      resent.dup = true;
      c.send(resent);
    }
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return !broker.received<mq::puback_packet>(1).empty(); }));
  ASSERT_EQ(rc.messages.size(), 1u);
  EXPECT_EQ(text_of(rc.messages[0].payload), "hello");
  EXPECT_EQ(rc.messages[0].topic, "t/mid");
  EXPECT_EQ(broker.received<mq::puback_packet>(1)[0].packet_id, 9);
  ASSERT_GE(rc.events.size(), 3u);
  EXPECT_FALSE(rc.events[1].connected);
}

class malformed_test : public ::testing::TestWithParam<mq::protocol_version> {};

TEST_P(malformed_test, MalformedPacketDisconnectsWithReasonAndReconnects) {
  boost::asio::io_context io;
  fake_broker broker(io, [&](fake_connection& c, const mq::packet& p) {
    if (!std::holds_alternative<mq::connect_packet>(p)) return;
    c.send(connack());
    // PUBACK whose remaining length 2 is encoded in two bytes: not minimal.
    if (c.index() == 0) c.send_raw({0x40, 0x82, 0x00, 0x00, 0x01});
  });
  recorded_client rc(io, loopback_options(broker.port(), GetParam()));
  rc.client->start();
  ASSERT_TRUE(run_until(io, [&] { return rc.connects() == 2; }));
  ASSERT_GE(rc.events.size(), 2u);
  EXPECT_EQ(rc.events[1].error, mq::make_error_code(mq::errc::malformed_packet));
  EXPECT_TRUE(run_until(io, [&] { return broker.connection(0).closed_by_peer(); }));
  const auto disconnects = broker.received<mq::disconnect_packet>(0);
  if (GetParam() == mq::protocol_version::v5) {
    ASSERT_EQ(disconnects.size(), 1u);
    EXPECT_EQ(disconnects[0].code, mq::reason_code::malformed_packet);
  } else {
    EXPECT_TRUE(disconnects.empty()) << "3.1.1 has no DISCONNECT from client with a reason";
  }
}

INSTANTIATE_TEST_SUITE_P(versions, malformed_test,
                         ::testing::Values(mq::protocol_version::v311, mq::protocol_version::v5));

TEST_F(client_fake_broker, UnexpectedPacketIsAProtocolError) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (!std::holds_alternative<mq::connect_packet>(p)) return;
    c.send(connack());
    if (c.index() == 0) c.send(connack());  // a second CONNACK
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 2; }));
  const auto disconnects = broker.received<mq::disconnect_packet>(0);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].code, mq::reason_code::protocol_error);
}

TEST_F(client_fake_broker, BrokerMaximumPacketSizeRefusesOversizedMessage) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      auto ack = connack();
      ack.props.add(mq::property_id::maximum_packet_size, std::uint32_t{64});
      c.send(ack);
    }
    acknowledge(c, p);
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 1; }));
  rc.publish("t/big", std::string(100, 'x'), mq::qos::at_least_once);
  rc.publish("t/small", "small", mq::qos::at_least_once);
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 2; }));
  const auto& big = rc.outcomes[std::string(100, 'x')].at(0);
  EXPECT_EQ(big.outcome, mq::publish_outcome::failed);
  EXPECT_EQ(big.error, mq::make_error_code(mq::errc::message_too_large));
  EXPECT_EQ(rc.outcomes["small"].at(0).outcome, mq::publish_outcome::delivered);
  const auto publishes = broker.received<mq::publish_packet>(0);
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_EQ(text_of(publishes[0].payload), "small");
  EXPECT_EQ(rc.disconnects(), 0u);
}

TEST_F(client_fake_broker, IncomingPacketAboveOurMaximumIsRefused) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (!std::holds_alternative<mq::connect_packet>(p)) return;
    c.send(connack());
    if (c.index() == 0) {
      mq::publish_packet message;
      message.topic = "t/huge";
      message.payload.assign(300, 'y');
      c.send(message);
    }
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.maximum_packet_size = 128;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 2; }));
  EXPECT_TRUE(rc.messages.empty());
  const auto disconnects = broker.received<mq::disconnect_packet>(0);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].code, mq::reason_code::packet_too_large);
  const auto& connect = std::get<mq::connect_packet>(broker.connection(0).received().at(0));
  EXPECT_EQ(connect.props.integer(mq::property_id::maximum_packet_size), 128u);
}

TEST_F(client_fake_broker, IncomingQos2IsDeliveredExactlyOnce) {
  mq::publish_packet message;
  message.topic = "t/q2";
  message.payload = {'o', 'n', 'c', 'e'};
  message.qos = mq::qos::exactly_once;
  message.packet_id = 42;
  message.props.add(mq::property_id::response_topic, std::string("reply/here"));
  message.props.add(mq::property_id::correlation_data, std::vector<std::uint8_t>{1, 2, 3});
  message.props.add_user_property("k", "v");
  message.props.add(mq::property_id::message_expiry_interval, std::uint32_t{60});
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack());
      c.send(message);
      auto again = message;
      again.dup = true;
      c.send(again);  // the same id again before PUBREL: not a new message
    } else if (const auto* pubrec = std::get_if<mq::pubrec_packet>(&p)) {
      if (c.received().size() == 3) c.send(mq::pubrel_packet{pubrec->packet_id, {}, {}});
    }
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return !broker.received<mq::pubcomp_packet>(0).empty(); }));
  ASSERT_EQ(rc.messages.size(), 1u);
  const auto& got = rc.messages[0];
  EXPECT_EQ(got.qos, mq::qos::exactly_once);
  EXPECT_EQ(got.props.string(mq::property_id::response_topic), "reply/here");
  ASSERT_TRUE(got.props.binary(mq::property_id::correlation_data));
  EXPECT_EQ(got.props.binary(mq::property_id::correlation_data)->size(), 3u);
  EXPECT_EQ(got.props.user_properties().at(0).value, "v");
  EXPECT_EQ(got.props.integer(mq::property_id::message_expiry_interval), 60u);
  EXPECT_EQ(broker.received<mq::pubrec_packet>(0).size(), 2u);
  EXPECT_EQ(broker.received<mq::pubcomp_packet>(0).at(0).packet_id, 42);
}

// RefusedConnackIsReportedWithTheBrokersReason and the stop() part of
// Qos0CompletesWhenWrittenAndStopSendsDisconnect live in
// client_conformance_test.cpp, waiting on conditions instead of fixed times.

// The store's round trip: record ids and QoS 2 progress through the durable
// hooks, lose the process (the client is destroyed without DISCONNECT), and
// hand the records to a new client with restore().
TEST_F(client_fake_broker, DurableHooksAndRestoreResumeAfterARestart) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack(c.index() > 0));
    } else if (c.index() > 0) {
      acknowledge(c, p);
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && publish->qos == mq::qos::exactly_once) {
      c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
    }
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.session_expiry = 600s;
  std::map<mq::message_token, mq::restored_message> stored;  // what the store would keep
  auto first = std::make_unique<mq::client>(io_, options, nullptr);
  mq::durable_hooks hooks;
  hooks.packet_id_assigned = [&](mq::message_token token, std::uint16_t id, mq::qos) {
    stored.at(token).packet_id = id;
  };
  hooks.pubrec_received = [&](mq::message_token token, std::uint16_t id) {
    EXPECT_EQ(stored.at(token).packet_id, id);
    stored.at(token).state = mq::outgoing_state::pubrel_sent;
  };
  first->set_durable_hooks(hooks);
  for (const auto& [token, payload, qos] : {std::tuple{101, "A", mq::qos::at_least_once},
                                            std::tuple{102, "C", mq::qos::exactly_once}}) {
    mq::publish_packet message;
    message.topic = "t/durable";
    message.payload.assign(payload, payload + 1);
    message.qos = qos;
    stored[token] = mq::restored_message{static_cast<mq::message_token>(token), 0, mq::outgoing_state::publish_sent, message};
    first->publish(message, [](const mq::publish_result&) { ADD_FAILURE() << "not done in the first life"; }, token);
  }
  first->start();
  ASSERT_TRUE(run_until(io_, [&] { return stored.at(102).state == mq::outgoing_state::pubrel_sent; }));
  ASSERT_NE(stored.at(101).packet_id, 0);
  first.reset();  // the daemon dies

  mq::client second(io_, options, nullptr);
  std::map<mq::message_token, mq::publish_outcome> outcomes;
  std::vector<mq::restored_message> records;
  for (const auto& [token, record] : stored) records.push_back(record);
  ASSERT_FALSE(second.restore(records, [&](mq::message_token token, const mq::publish_result& r) {
    outcomes[token] = r.outcome;
  }));
  second.start();
  ASSERT_TRUE(run_until(io_, [&] { return outcomes.size() == 2; }));
  EXPECT_EQ(outcomes[101], mq::publish_outcome::delivered);
  EXPECT_EQ(outcomes[102], mq::publish_outcome::delivered);
  const auto& resent = broker.connection(1).received();
  using t = mq::packet_type;
  ASSERT_EQ(types_of(resent), (std::vector<t>{t::connect, t::publish, t::pubrel}));
  EXPECT_TRUE(std::get<mq::publish_packet>(resent[1]).dup);
  EXPECT_EQ(std::get<mq::publish_packet>(resent[1]).packet_id, stored.at(101).packet_id);
  EXPECT_EQ(std::get<mq::pubrel_packet>(resent[2]).packet_id, stored.at(102).packet_id);
}

// The broker loses the session (connection 1: session present 0): the client
// subscribes again, by itself, to what it was granted and not unsubscribed,
// before the message queued while it was down; the owner's subscribe
// completions are not called again, and a refused filter is logged as a
// warning. With the session present (connection 2) nothing is restored.
TEST_F(client_fake_broker, SubscriptionsAreRestoredWhenTheBrokerLostTheSession) {
  const mq::subscription a{"a/#", {mq::qos::at_least_once}};
  const mq::subscription b{"b", {mq::qos::exactly_once, true, false, mq::retain_handling::dont_send}};
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack(c.index() == 2));
    } else if (const auto* unsubscribe = std::get_if<mq::unsubscribe_packet>(&p)) {
      c.send(mq::unsuback_packet{unsubscribe->packet_id, {mq::reason_code::success}, {}});
      c.close(5ms);  // the broker restarts without persistence
    } else if (const auto* subscribe = std::get_if<mq::subscribe_packet>(&p); subscribe && c.index() == 1) {
      c.send(mq::suback_packet{subscribe->packet_id, {mq::reason_code::granted_qos_1, mq::reason_code::not_authorized}, {}});
    } else {
      acknowledge(c, p);
      if (std::holds_alternative<mq::publish_packet>(p) && c.index() == 1) c.close(5ms);
    }
  });
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>("mqtt", std::make_shared<spdlog::sinks::ostream_sink_st>(log));
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5), logger);
  rc.client->on_connection([&](const mq::connection_event& e) {
    rc.events.push_back(e);
    if (!e.connected && rc.disconnects() == 1) rc.publish("t/e", "E", mq::qos::at_least_once);  // queued while down
  });
  std::map<std::string, int> completions;
  auto count = [&](std::string name) { return [&, name](const mq::subscribe_result&) { ++completions[name]; }; };
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 1; }));
  rc.client->subscribe({a, b}, count("ab"));
  rc.client->subscribe({{"c", {mq::qos::at_most_once}}}, count("c"));
  ASSERT_TRUE(run_until(io_, [&] { return completions.size() == 2; }));
  rc.client->unsubscribe({"c"}, count("unsubscribe c"));
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 3 && rc.done("E"); }));

  using t = mq::packet_type;
  const auto& second = broker.connection(1).received();
  ASSERT_EQ(types_of(second), (std::vector<t>{t::connect, t::subscribe, t::publish}));
  const auto& restore = std::get<mq::subscribe_packet>(second[1]);
  EXPECT_EQ(restore.subscriptions, (std::vector<mq::subscription>{a, b})) << "same filters and options, no c";
  EXPECT_EQ(text_of(std::get<mq::publish_packet>(second[2]).payload), "E");
  EXPECT_EQ(completions, (std::map<std::string, int>{{"ab", 1}, {"c", 1}, {"unsubscribe c", 1}}));
  EXPECT_NE(log.str().find("[warning] mqtt: the broker refused restored subscription(s) 'b': not authorized (0x87)"),
            std::string::npos)
      << log.str();
  // Session present: the broker still has them. Publish once more so that
  // anything the client sent after CONNACK has arrived.
  rc.publish("t/f", "F", mq::qos::at_least_once);
  ASSERT_TRUE(run_until(io_, [&] { return rc.done("F"); }));
  EXPECT_EQ(types_of(broker.connection(2).received()), (std::vector<t>{t::connect, t::publish}));
}

// A process restart between our PUBREC and the broker's PUBREL: the owner
// persisted the id through the hook and gives it back with restore_incoming();
// the broker's resent PUBLISH (DUP) is acknowledged but not delivered again,
// and its PUBREL completes it and fires the release hook.
TEST_F(client_fake_broker, RestoredIncomingQos2IdIsNotDeliveredTwiceAfterARestart) {
  mq::publish_packet command;
  command.topic = "cmd/set";
  command.payload = {'4', '2'};
  command.qos = mq::qos::exactly_once;
  command.packet_id = 17;
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack(c.index() > 0));
      auto resent = command;
      resent.dup = c.index() > 0;
      c.send(resent);  // the first life never gets the PUBREL
    } else if (std::holds_alternative<mq::pubrec_packet>(p) && c.index() > 0) {
      c.send(mq::pubrel_packet{17, {}, {}});
    }
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.session_expiry = 600s;
  std::set<std::uint16_t> stored;  // what the store would keep
  std::vector<std::string> hook_calls;
  auto hooks_for = [&](std::string life) {
    mq::durable_hooks hooks;
    hooks.incoming_qos2_received = [&, life](std::uint16_t id) {
      stored.insert(id);
      hook_calls.push_back(life + " received " + std::to_string(id));
    };
    hooks.incoming_qos2_released = [&, life](std::uint16_t id) {
      stored.erase(id);
      hook_calls.push_back(life + " released " + std::to_string(id));
    };
    return hooks;
  };
  std::vector<std::string> delivered;
  {
    recorded_client first(io_, options);
    first.client->set_durable_hooks(hooks_for("first"));
    first.client->on_message([&](const mq::publish_packet& m) {
      EXPECT_TRUE(hook_calls.empty()) << "the message is delivered before the hook records it";
      delivered.push_back(text_of(m.payload));
    });
    first.client->start();
    ASSERT_TRUE(run_until(io_, [&] { return !broker.received<mq::pubrec_packet>(0).empty(); }));
  }  // the daemon dies after PUBREC, before PUBREL
  EXPECT_EQ(stored, (std::set<std::uint16_t>{17}));

  recorded_client second(io_, options);
  second.client->set_durable_hooks(hooks_for("second"));
  second.client->on_message([&](const mq::publish_packet& m) { delivered.push_back(text_of(m.payload)); });
  ASSERT_FALSE(second.client->restore_incoming({stored.begin(), stored.end()}));
  second.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return !broker.received<mq::pubcomp_packet>(1).empty(); }));
  EXPECT_EQ(delivered, (std::vector<std::string>{"42"})) << "delivered once, in the first life";
  ASSERT_EQ(broker.received<mq::pubrec_packet>(1).size(), 1u);
  EXPECT_EQ(broker.received<mq::pubrec_packet>(1)[0].packet_id, 17);
  EXPECT_EQ(broker.received<mq::pubcomp_packet>(1)[0].packet_id, 17);
  EXPECT_EQ(broker.received<mq::pubcomp_packet>(1)[0].code, mq::reason_code::success);
  EXPECT_EQ(hook_calls, (std::vector<std::string>{"first received 17", "second released 17"}));
  EXPECT_TRUE(stored.empty());
}

TEST_F(client_fake_broker, StartAfterStopConnectsAgainAndKeepsPinging) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
    acknowledge(c, p);
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.keepalive = 1s;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 1; }));
  rc.client->stop();
  ASSERT_TRUE(run_until(io_, [&] { return rc.disconnects() == 1; }));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 2; }));
  ASSERT_TRUE(run_until(io_, [&] { return !broker.received<mq::pingreq_packet>(1).empty(); }, 3s));
}

}  // namespace
}  // namespace fieldbridge::test
