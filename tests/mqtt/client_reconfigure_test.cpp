// client::reconfigure, the clean reconnect of a reload whose mqtt: changed,
// against scripted fake brokers on the test's own io_context: DISCONNECT to
// the old broker, the new options at once, and the session state kept
// (resumed on the same broker, started clean and resent in order on
// another one); TLS files that cannot be read change nothing.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "client_recorder.hpp"
#include "fake_broker.hpp"
#include "network.hpp"

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
namespace mq = fieldbridge::mqtt;

std::vector<std::string> payloads_of(const std::vector<mq::packet>& packets) {
  std::vector<std::string> out;
  for (const auto& p : packets)
    if (const auto* publish = std::get_if<mq::publish_packet>(&p)) out.push_back(text_of(publish->payload));
  return out;
}

mq::client_options options_for(std::uint16_t port) {
  auto options = loopback_options(port, mq::protocol_version::v5);
  options.session_expiry = 600s;
  options.reconnect_min = 1s;  // a reconnect after reconfigure() must not wait for it
  options.reconnect_max = 2s;
  return options;
}

class client_reconfigure : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
};

// A acknowledges m1 only. reconfigure() to B: A gets DISCONNECT (normal, so
// it drops the will), B a CONNECT with Clean Start (its session, if any, is
// not ours) and then m2, m3 (unacknowledged on A) and m4 (published after
// the call), in that order; no back-off wait before B.
TEST_F(client_reconfigure, AnotherBrokerGetsTheUnacknowledgedInOrderWithCleanStart) {
  fake_broker a(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
    if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && text_of(publish->payload) == "m1")
      c.send(mq::puback_packet{publish->packet_id, {}, {}});
  });
  fake_broker b(io_, [&](fake_connection& c, const mq::packet& p) {
    if (const auto* connect = std::get_if<mq::connect_packet>(&p)) c.send(connack(!connect->clean_start));
    if (const auto* publish = std::get_if<mq::publish_packet>(&p)) c.send(mq::puback_packet{publish->packet_id, {}, {}});
  });
  recorded_client rc(io_, options_for(a.port()));
  for (int i = 1; i <= 3; ++i) rc.publish("t/q", "m" + std::to_string(i), mq::qos::at_least_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.done("m1") && a.connection_count() == 1 && a.received<mq::publish_packet>(0).size() == 3; }));
  const auto switched = std::chrono::steady_clock::now();
  rc.client->reconfigure(options_for(b.port()));
  rc.publish("t/q", "m4", mq::qos::at_least_once);
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 4; }));
  EXPECT_LT(std::chrono::steady_clock::now() - switched, 900ms) << "waited for the back-off";
  const auto disconnects = a.received<mq::disconnect_packet>(0);
  ASSERT_EQ(disconnects.size(), 1u);
  EXPECT_EQ(disconnects[0].code, mq::reason_code::normal_disconnection);
  ASSERT_EQ(b.connection_count(), 1u);
  EXPECT_TRUE(std::get<mq::connect_packet>(b.connection(0).received().at(0)).clean_start);
  EXPECT_EQ(payloads_of(b.connection(0).received()), (std::vector<std::string>{"m2", "m3", "m4"}));
  for (const auto& [payload, results] : rc.outcomes) {
    ASSERT_EQ(results.size(), 1u) << payload;
    EXPECT_EQ(results[0].outcome, mq::publish_outcome::delivered) << payload;
  }
  EXPECT_EQ(rc.client->current_broker(), (mq::endpoint{"127.0.0.1", b.port()}));
}

// Same broker, another keep-alive: the session resumes (no Clean Start,
// session present 1) and the QoS 2 flow past PUBREC is completed with its
// PUBREL, not published again.
TEST_F(client_reconfigure, TheSameBrokerResumesTheSessionAndItsQos2Flow) {
  fake_broker a(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack(c.index() > 0));
    if (const auto* publish = std::get_if<mq::publish_packet>(&p)) c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
    if (const auto* pubrel = std::get_if<mq::pubrel_packet>(&p); pubrel && c.index() > 0)
      c.send(mq::pubcomp_packet{pubrel->packet_id, {}, {}});
  });
  recorded_client rc(io_, options_for(a.port()));
  rc.publish("t/c", "C", mq::qos::exactly_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return a.connection_count() == 1 && !a.received<mq::pubrel_packet>(0).empty(); }));
  auto changed = options_for(a.port());
  changed.keepalive = 10s;
  rc.client->reconfigure(changed);
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 1; }));
  ASSERT_EQ(a.connection_count(), 2u);
  const auto& connect = std::get<mq::connect_packet>(a.connection(1).received().at(0));
  EXPECT_FALSE(connect.clean_start);
  EXPECT_EQ(connect.keep_alive, 10);
  EXPECT_TRUE(a.received<mq::publish_packet>(1).empty()) << "C was published again";
  EXPECT_EQ(a.received<mq::pubrel_packet>(1).size(), 1u);
  EXPECT_EQ(rc.outcomes["C"].at(0).outcome, mq::publish_outcome::delivered);
}

// A TLS file that cannot be read: reconfigure() throws and the connection
// stays as it was.
TEST_F(client_reconfigure, UnreadableTlsFilesThrowAndChangeNothing) {
  fake_broker a(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
    if (const auto* publish = std::get_if<mq::publish_packet>(&p)) c.send(mq::puback_packet{publish->packet_id, {}, {}});
  });
  recorded_client rc(io_, options_for(a.port()));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.client->connected(); }));
  auto bad = options_for(a.port() + 1);
  bad.tls = mq::tls_options{};
  bad.tls->ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(rc.client->reconfigure(bad), std::runtime_error);
  rc.publish("t/q", "after", mq::qos::at_least_once);
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 1; }));
  EXPECT_EQ(a.connection_count(), 1u);
  EXPECT_EQ(rc.disconnects(), 0u);
  EXPECT_EQ(rc.client->current_broker(), (mq::endpoint{"127.0.0.1", a.port()}));
}

}  // namespace
}  // namespace fieldbridge::test
