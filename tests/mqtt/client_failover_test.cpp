// Component tests of broker failover (client_options::brokers) against
// scripted fake brokers on the test's own io_context: the order of the list
// and its wrap, every kind of failed attempt moving on, the back-off across
// the list, and the delivery guarantees across a switch (QoS 1 resent in
// order, QoS 2 past PUBREC never released on a broker that never saw it).
#include <gtest/gtest.h>

#include <unistd.h>

#include <regex>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "client_recorder.hpp"
#include "fake_broker.hpp"
#include "network.hpp"

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
namespace mq = fieldbridge::mqtt;

mq::endpoint loopback(std::uint16_t port) { return {"127.0.0.1", port}; }

std::vector<mq::endpoint> brokers_of(const std::vector<mq::connection_event>& events) {
  std::vector<mq::endpoint> out;
  for (const auto& e : events) out.push_back(e.broker);
  return out;
}

std::vector<bool> ups_of(const std::vector<mq::connection_event>& events) {
  std::vector<bool> out;
  for (const auto& e : events) out.push_back(e.connected);
  return out;
}

std::vector<std::string> payloads_of(const std::vector<mq::packet>& packets) {
  std::vector<std::string> out;
  for (const auto& p : packets) {
    if (const auto* publish = std::get_if<mq::publish_packet>(&p)) out.push_back(text_of(publish->payload));
  }
  return out;
}

const mq::connect_packet& connect_of(fake_broker& broker, std::size_t connection) {
  return std::get<mq::connect_packet>(broker.connection(connection).received().at(0));
}

// The second broker of these tests keeps a session of our client id from
// an earlier switch (it was never told to discard it): session present 1,
// unless the CONNECT asks for Clean Start.
bool holds_a_stale_session(const mq::connect_packet& connect) { return !connect.clean_start; }

// Options with the brokers list; host/port (the one-broker form) point at
// nothing, so a test that connects there fails.
mq::client_options failover_options(std::vector<mq::endpoint> brokers,
                                    mq::protocol_version version = mq::protocol_version::v5) {
  auto options = loopback_options(free_tcp_port(), version);
  options.brokers = std::move(brokers);
  options.session_expiry = 600s;
  return options;
}

class client_failover : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
};

// A: refused TCP (nothing listens); B: refuses the first CONNECT (server
// unavailable), accepts the second and closes it right after CONNACK,
// accepts the third. The list is walked in order, wraps after the last, and
// the back-off grows across the list and resets only after a connection.
TEST_F(client_failover, EveryFailureMovesToTheNextBrokerInOrderAndWrapsWithTheBackOffAcrossTheList) {
  const auto closed = free_tcp_port();
  fake_broker b(io_, [&](fake_connection& c, const mq::packet& p) {
    if (!std::holds_alternative<mq::connect_packet>(p)) return;
    if (c.index() == 0) {
      c.send(connack(false, mq::reason_code::server_unavailable));
      c.close();
    } else {
      c.send(connack());
      if (c.index() == 1) c.close(5ms);
    }
  });
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>("mqtt", std::make_shared<spdlog::sinks::ostream_sink_st>(log));
  logger->set_level(spdlog::level::debug);
  auto options = failover_options({loopback(closed), loopback(b.port())});
  options.reconnect_min = 10ms;
  options.reconnect_max = 10s;  // far above what the test reaches: the growth stays visible
  recorded_client rc(io_, options, logger);
  EXPECT_EQ(rc.client->current_broker(), loopback(closed));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 2; }));

  const auto a = loopback(closed);
  const auto bb = loopback(b.port());
  EXPECT_EQ(brokers_of(rc.events), (std::vector<mq::endpoint>{a, bb, a, bb, bb, a, bb}));
  EXPECT_EQ(ups_of(rc.events), (std::vector<bool>{false, false, false, true, false, false, true}));
  EXPECT_EQ(rc.events[1].code, mq::reason_code::server_unavailable);
  EXPECT_EQ(rc.client->current_broker(), bb);

  // The delays the client chose, from its debug log, against backoff_delay's
  // bounds for retry n: [min·2^n, min·2^(n+1)]. Retries 0, 1, 2 across A, B,
  // A (no reset when moving on), then 0 again after B's CONNACK, then 1.
  std::vector<long> delays;
  const std::string text = log.str();
  const std::regex line("reconnecting to (\\S+) in (\\d+) ms");
  std::vector<std::string> targets;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator(); ++it) {
    targets.push_back((*it)[1]);
    delays.push_back(std::stol((*it)[2]));
  }
  ASSERT_EQ(delays.size(), 5u) << text;
  EXPECT_EQ(targets, (std::vector<std::string>{to_string(bb), to_string(a), to_string(bb), to_string(a),
                                               to_string(bb)}));
  const std::pair<long, long> bounds[] = {{10, 20}, {20, 40}, {40, 80}, {10, 20}, {20, 40}};
  for (std::size_t i = 0; i < delays.size(); ++i) {
    EXPECT_GE(delays[i], bounds[i].first) << "retry " << i;
    EXPECT_LE(delays[i], bounds[i].second) << "retry " << i;
  }
  EXPECT_NE(text.find("failing over to the next broker, " + to_string(bb) + " (broker 2 of 2)"), std::string::npos);
}

// No CONNACK within the connect timeout (a listener that never answers)
// is a failed attempt like the others: the next broker is tried.
TEST_F(client_failover, ConnectTimeoutMovesToTheNextBroker) {
  std::uint16_t silent_port = 0;
  const int silent = listen_on_loopback(0, silent_port, "silent broker");
  fake_broker b(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
  });
  auto options = failover_options({loopback(silent_port), loopback(b.port())});
  options.connect_timeout = 200ms;
  recorded_client rc(io_, options);
  rc.client->start();
  const bool up = run_until(io_, [&] { return rc.connects() == 1; });
  ::close(silent);
  ASSERT_TRUE(up);
  ASSERT_EQ(rc.events.size(), 2u);
  EXPECT_EQ(rc.events[0].broker, loopback(silent_port));
  EXPECT_EQ(rc.events[0].error, mq::make_error_code(mq::errc::connect_timeout));
  EXPECT_EQ(rc.events[1].broker, loopback(b.port()));
}

// QoS 1 across a switch: A acknowledges only m1 and drops the connection;
// B (a different broker, holding a stale session of ours: the client
// starts clean there) receives m2..m4 again as new messages, in order,
// before m5 that was published while down. Every message
// is delivered once as far as the owner is concerned.
TEST_F(client_failover, UnacknowledgedQos1GoesToTheNextBrokerInOrderWithCleanStart) {
  fake_broker a(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack());
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
      if (text_of(publish->payload) == "m1") c.send(mq::puback_packet{publish->packet_id, {}, {}});
      if (text_of(publish->payload) == "m4") c.close(5ms);
    }
  });
  fake_broker b(io_, [&](fake_connection& c, const mq::packet& p) {
    if (const auto* connect = std::get_if<mq::connect_packet>(&p)) {
      c.send(connack(holds_a_stale_session(*connect)));
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
      c.send(mq::puback_packet{publish->packet_id, {}, {}});
    }
  });
  recorded_client rc(io_, failover_options({loopback(a.port()), loopback(b.port())}));
  rc.client->on_connection([&](const mq::connection_event& e) {
    rc.events.push_back(e);
    if (!e.connected && rc.disconnects() == 1) rc.publish("t/q", "m5", mq::qos::at_least_once);
  });
  for (int i = 1; i <= 4; ++i) rc.publish("t/q", "m" + std::to_string(i), mq::qos::at_least_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 5; }));
  EXPECT_FALSE(connect_of(a, 0).clean_start);  // the session is configured to persist
  ASSERT_EQ(b.connection_count(), 1u);
  EXPECT_TRUE(connect_of(b, 0).clean_start) << "a stale session on the new broker must not be taken for ours";
  EXPECT_EQ(payloads_of(b.connection(0).received()), (std::vector<std::string>{"m2", "m3", "m4", "m5"}));
  for (const auto& p : b.received<mq::publish_packet>(0)) EXPECT_FALSE(p.dup);
  for (const auto& [payload, results] : rc.outcomes) {
    ASSERT_EQ(results.size(), 1u) << payload;
    EXPECT_EQ(results[0].outcome, mq::publish_outcome::delivered) << payload;
  }
  EXPECT_EQ(rc.client->current_broker(), loopback(b.port()));
}

// QoS 2 across a switch. A answers C with PUBREC and drops the line on our
// PUBREL; D gets no answer. B never saw C, and holds a stale session of
// ours: no PUBREL for C goes there (its answer could only be "packet
// identifier not found", or it would release another message of that
// session), and D is not resent as a DUP of a flow B never had. C is
// complete (A had it), D goes to B as a new message.
TEST_F(client_failover, Qos2PastPubrecIsNotReleasedOnABrokerThatNeverSawIt) {
  fake_broker a(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack());
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && text_of(publish->payload) == "C") {
      c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
    } else if (std::holds_alternative<mq::pubrel_packet>(p)) {
      c.close();
    }
  });
  fake_broker b(io_, [&](fake_connection& c, const mq::packet& p) {
    if (const auto* connect = std::get_if<mq::connect_packet>(&p)) {
      c.send(connack(holds_a_stale_session(*connect)));
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
      c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
    } else if (const auto* pubrel = std::get_if<mq::pubrel_packet>(&p)) {
      c.send(mq::pubcomp_packet{pubrel->packet_id, {}, {}});
    }
  });
  recorded_client rc(io_, failover_options({loopback(a.port()), loopback(b.port())}));
  rc.publish("t/c", "C", mq::qos::exactly_once);
  rc.publish("t/d", "D", mq::qos::exactly_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 2; }));
  ASSERT_EQ(b.connection_count(), 1u);
  EXPECT_TRUE(connect_of(b, 0).clean_start);
  using t = mq::packet_type;
  const auto& received = b.connection(0).received();
  std::vector<t> types;
  for (const auto& p : received) types.push_back(mq::type_of(p));
  // CONNECT, D, and the PUBREL of D's own flow on B: nothing of C.
  EXPECT_EQ(types, (std::vector<t>{t::connect, t::publish, t::pubrel}));
  EXPECT_EQ(payloads_of(received), (std::vector<std::string>{"D"}));
  EXPECT_FALSE(std::get<mq::publish_packet>(received[1]).dup);
  EXPECT_EQ(std::get<mq::pubrel_packet>(received[2]).packet_id, std::get<mq::publish_packet>(received[1]).packet_id);
  EXPECT_EQ(rc.outcomes["C"].at(0).outcome, mq::publish_outcome::delivered);
  EXPECT_TRUE(rc.outcomes["C"].at(0).past_pubrec);
  EXPECT_EQ(rc.outcomes["D"].at(0).outcome, mq::publish_outcome::delivered);
  EXPECT_FALSE(rc.outcomes["D"].at(0).past_pubrec);
}

// The session state stays the first broker's until another one completes a
// CONNACK: B refusing the connection (session present 1 to a clean start,
// a protocol error) changes nothing, and back on A the session resumes
// there with the PUBREL of C, which A did see, and without Clean Start.
TEST_F(client_failover, AFailedSwitchKeepsTheSessionWithTheFirstBroker) {
  fake_broker a(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack(c.index() > 0));
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && text_of(publish->payload) == "C") {
      c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
    } else if (const auto* pubrel = std::get_if<mq::pubrel_packet>(&p)) {
      if (c.index() == 0) c.close();
      else c.send(mq::pubcomp_packet{pubrel->packet_id, {}, {}});
    }
  });
  fake_broker b(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack(true));  // wrong after Clean Start 1
  });
  recorded_client rc(io_, failover_options({loopback(a.port()), loopback(b.port())}));
  rc.publish("t/c", "C", mq::qos::exactly_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 1; }));
  ASSERT_EQ(b.connection_count(), 1u);
  EXPECT_TRUE(connect_of(b, 0).clean_start);
  EXPECT_TRUE(b.received<mq::pubrel_packet>(0).empty());
  ASSERT_EQ(a.connection_count(), 2u);
  EXPECT_FALSE(connect_of(a, 1).clean_start);
  ASSERT_EQ(a.received<mq::pubrel_packet>(1).size(), 1u);
  EXPECT_EQ(rc.outcomes["C"].at(0).outcome, mq::publish_outcome::delivered);
  EXPECT_EQ(brokers_of(rc.events), (std::vector<mq::endpoint>{loopback(a.port()), loopback(a.port()),
                                                              loopback(b.port()), loopback(a.port())}));
}

// Back on the first broker after the second: the session state is the
// second's now, so the first (which may hold a stale session of ours from
// before the switch) is asked to start clean too; a single-broker client
// never forces Clean Start.
TEST_F(client_failover, ReturningToTheFirstBrokerStartsCleanThere) {
  auto script = [](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack(false));
      if (c.index() == 0) c.close(5ms);
    }
  };
  fake_broker a(io_, script);
  fake_broker b(io_, script);
  recorded_client rc(io_, failover_options({loopback(a.port()), loopback(b.port())}));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return a.connection_count() == 2 && rc.connects() == 3; }));
  EXPECT_FALSE(connect_of(a, 0).clean_start);
  EXPECT_TRUE(connect_of(b, 0).clean_start);
  EXPECT_TRUE(connect_of(a, 1).clean_start);
  EXPECT_EQ(rc.client->current_broker(), loopback(a.port()));
}

}  // namespace
}  // namespace fieldbridge::test
