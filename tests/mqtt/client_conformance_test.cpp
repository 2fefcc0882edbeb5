// Component tests of the Asio client against the scripted fake broker for
// issue 10's defects and the client side of issue 9: the token split,
// broker details on refusal, handlers that destroy the client, the write
// deadline, downgrades, order across a lost session, and stop() in every
// state of the client. No sleeps: conditions with deadlines.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "client_recorder.hpp"
#include "fake_broker.hpp"

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
namespace mq = fieldbridge::mqtt;

void acknowledge(fake_connection& c, const mq::packet& p) {
  if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
    if (publish->qos == mq::qos::at_least_once) c.send(mq::puback_packet{publish->packet_id, {}, {}});
    if (publish->qos == mq::qos::exactly_once) c.send(mq::pubrec_packet{publish->packet_id, {}, {}});
  } else if (const auto* pubrel = std::get_if<mq::pubrel_packet>(&p)) {
    c.send(mq::pubcomp_packet{pubrel->packet_id, {}, {}});
  } else if (std::holds_alternative<mq::pingreq_packet>(p)) {
    c.send(mq::pingresp_packet{});
  }
}

logger_ptr capture(std::ostringstream& log) {
  auto logger = std::make_shared<spdlog::logger>("mqtt", std::make_shared<spdlog::sinks::ostream_sink_st>(log));
  logger->set_level(spdlog::level::debug);
  return logger;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Runs `io` until it has no work left (every client and broker operation
// ended) or `deadline` passes; true when it ran out of work in time.
bool runs_out_of_work(boost::asio::io_context& io, std::chrono::milliseconds deadline = 2000ms) {
  io.restart();
  const auto started = std::chrono::steady_clock::now();
  io.run_for(deadline);
  return io.stopped() && std::chrono::steady_clock::now() - started < deadline;
}

class client_conformance : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
};

// Defect 1: the status/stats publishes of the gateway (no handler, token 0)
// completed into the restore handler with a client token.
TEST_F(client_conformance, CompletionsOfTheClientsOwnPublishesNeverReachTheRestoreHandlerOrTheHooks) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
    else acknowledge(c, p);
  });
  mq::client client(io_, loopback_options(broker.port(), mq::protocol_version::v5), nullptr);
  std::vector<mq::message_token> restored_tokens, hooked_tokens;
  ASSERT_FALSE(client.restore({}, [&](mq::message_token t, const mq::publish_result&) { restored_tokens.push_back(t); }));
  mq::durable_hooks hooks;
  hooks.packet_id_assigned = [&](mq::message_token t, std::uint16_t, mq::qos) { hooked_tokens.push_back(t); };
  hooks.pubrec_received = [&](mq::message_token t, std::uint16_t) { hooked_tokens.push_back(t); };
  client.set_durable_hooks(hooks);
  for (const auto q : {mq::qos::at_most_once, mq::qos::at_least_once, mq::qos::exactly_once}) {
    client.publish("status", "own", q, false);  // no handler, token 0
  }
  mq::publish_packet mine;
  mine.topic = "store";
  mine.qos = mq::qos::exactly_once;
  client.publish(mine, {}, 42);  // the owner's token, no handler: the restore handler gets it
  client.start();
  ASSERT_TRUE(run_until(io_, [&] { return !restored_tokens.empty(); }));
  ASSERT_TRUE(run_until(io_, [&] { return broker.received<mq::pubrel_packet>(0).size() == 2; }));
  ASSERT_TRUE(run_until(io_, [&] { return client.protocol_session().inflight_count() == 0; }));
  EXPECT_EQ(restored_tokens, (std::vector<mq::message_token>{42}));
  EXPECT_EQ(hooked_tokens, (std::vector<mq::message_token>{42, 42}));
  client.stop();
}

// Defect 9: the reason code and Server Reference reach connection_event and the log.
TEST_F(client_conformance, RefusalsAndServerDisconnectCarryTheReasonCodeAndServerReference) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (!std::holds_alternative<mq::connect_packet>(p)) return;
    if (c.index() == 0) {
      auto refused = connack(false, mq::reason_code::use_another_server);
      refused.props.add(mq::property_id::server_reference, std::string("other:1883"));
      c.send(refused);
      return;
    }
    c.send(connack());
    mq::disconnect_packet bye{mq::reason_code::server_moved, {}};
    bye.props.add(mq::property_id::server_reference, std::string("moved:1883"));
    c.send(bye, 5ms);
  });
  std::ostringstream log;
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5), capture(log));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.disconnects() == 2; }));
  rc.client->stop();
  std::vector<mq::connection_event> down;
  for (const auto& e : rc.events) {
    if (!e.connected) down.push_back(e);
  }
  EXPECT_EQ(down[0].error, mq::make_error_code(mq::reason_code::use_another_server));
  EXPECT_EQ(down[0].code, mq::reason_code::use_another_server);
  EXPECT_EQ(down[0].server_reference, "other:1883");
  EXPECT_EQ(down[1].error, mq::make_error_code(mq::errc::disconnected_by_broker));
  EXPECT_EQ(down[1].code, mq::reason_code::server_moved);
  EXPECT_EQ(down[1].server_reference, "moved:1883");
  EXPECT_NE(log.str().find("refers us to 'other:1883'"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("refers us to 'moved:1883'"), std::string::npos) << log.str();
}

// Replaces the test of the same name in client_fake_broker_test: no fixed
// wait, the io_context must run out of work (no retry left behind).
TEST_F(client_conformance, RefusedConnackIsReportedWithTheBrokersReason) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack(false, mq::reason_code::bad_user_name_or_password));
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.reconnect = false;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.disconnects() == 1; }));
  EXPECT_EQ(rc.events[0].error, mq::make_error_code(mq::reason_code::bad_user_name_or_password));
  EXPECT_EQ(rc.events[0].code, mq::reason_code::bad_user_name_or_password);
  EXPECT_NE(rc.events[0].detail.find("bad user name or password"), std::string::npos) << rc.events[0].detail;
  broker.shutdown();
  EXPECT_TRUE(runs_out_of_work(io_)) << "reconnect = false leaves no timer behind";
  EXPECT_EQ(broker.connection_count(), 1u) << "no retry when reconnect = false";
}

// Defect 10: destroying the client, or replacing its handler, from inside
// on_message / on_connection (run under ASan in build-san).
TEST_F(client_conformance, DestroyingTheClientInsideItsHandlersIsSafe) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack());
      c.send(mq::publish_packet{"cmd", {1, 2}, mq::qos::at_least_once, false, false, 1, {}});
      c.send(mq::publish_packet{"cmd", {3}, mq::qos::at_most_once, false, false, 0, {}});
    }
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  {
    auto client = std::make_unique<mq::client>(io_, options, nullptr);
    int replaced = 0;
    std::string big(1000, 'x');  // captured state that a use-after-free would read
    client->on_connection([&, big](const mq::connection_event&) {
      client->on_connection([&](const mq::connection_event&) { ++replaced; });
      EXPECT_EQ(big.size(), 1000u);
    });
    bool destroyed = false;
    client->on_message([&, big](const mq::publish_packet&) {
      client.reset();
      destroyed = true;
      EXPECT_EQ(big.size(), 1000u);
    });
    client->start();
    ASSERT_TRUE(run_until(io_, [&] { return destroyed; }));
    EXPECT_EQ(replaced, 0);
  }
  {
    auto client = std::make_unique<mq::client>(io_, options, nullptr);
    bool destroyed = false;
    client->on_connection([&](const mq::connection_event& e) {
      if (!e.connected) return;
      client.reset();
      destroyed = true;
    });
    client->start();
    ASSERT_TRUE(run_until(io_, [&] { return destroyed; }));
  }
  broker.shutdown();
  EXPECT_TRUE(runs_out_of_work(io_));
}

// Defect 4: a broker that accepts, answers CONNACK and never reads again.
// QoS 0 publishes wait in the client's queue once the output is above the
// high-water mark, and the stalled write ends the connection at the write
// deadline; the client reconnects.
TEST_F(client_conformance, AStalledWriteIsBoundedAndClosedAtTheWriteDeadline) {
  namespace ip = boost::asio::ip;
  ip::tcp::acceptor acceptor(io_, ip::tcp::endpoint(ip::make_address("127.0.0.1"), 0));
  std::vector<std::shared_ptr<ip::tcp::socket>> accepted;
  std::vector<std::uint8_t> connack_bytes;
  ASSERT_FALSE(mq::encode(mq::packet{connack()}, mq::protocol_version::v5, connack_bytes));
  std::function<void()> accept_next = [&] {
    auto socket = std::make_shared<ip::tcp::socket>(io_);
    acceptor.async_accept(*socket, [&, socket](boost::system::error_code ec) {
      if (ec) return;
      socket->set_option(ip::tcp::socket::receive_buffer_size(4096));
      accepted.push_back(socket);
      boost::asio::async_write(*socket, boost::asio::buffer(connack_bytes), [](boost::system::error_code, std::size_t) {});
      accept_next();
    });
  };
  accept_next();
  auto options = loopback_options(acceptor.local_endpoint().port(), mq::protocol_version::v5);
  options.write_timeout = 300ms;
  options.output_high_water = 64 * 1024;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 1; }));
  const std::string payload(64 * 1024, 'p');
  std::size_t max_queued = 0;
  for (int i = 0; i < 400; ++i) {  // 25 MiB: far beyond what the socket buffers take
    rc.client->publish("t", payload, mq::qos::at_most_once, false);
    io_.poll();
    max_queued = std::max(max_queued, rc.client->protocol_session().queued_count());
  }
  EXPECT_GT(max_queued, 0u) << "back-pressure: QoS 0 waited in the queue";
  ASSERT_TRUE(run_until(io_, [&] { return rc.disconnects() >= 1; }, 5000ms));
  bool timed_out = false;
  for (const auto& e : rc.events) timed_out |= !e.connected && e.error == mq::make_error_code(mq::errc::write_timeout);
  EXPECT_TRUE(timed_out);
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() >= 2; }, 5000ms)) << "reconnects";
  rc.client->stop();
  acceptor.close();
  for (auto& s : accepted) s->close();
  EXPECT_TRUE(runs_out_of_work(io_));
}

// Issue 9 item 4: Maximum QoS 1 and Retain Available 0 downgrade, warned once per connection.
TEST_F(client_conformance, BrokerLimitsDowngradeQoS2AndRetainWithOneWarningPerConnection) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      auto ack = connack();
      ack.props.add(mq::property_id::maximum_qos, std::uint32_t{1});
      ack.props.add(mq::property_id::retain_available, std::uint32_t{0});
      c.send(ack);
    } else {
      acknowledge(c, p);
    }
  });
  std::ostringstream log;
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5), capture(log));
  for (int i = 0; i < 5; ++i) rc.publish("t", "m" + std::to_string(i), mq::qos::exactly_once, true);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 5; }));
  for (const auto& [payload, results] : rc.outcomes) {
    EXPECT_EQ(results.at(0).outcome, mq::publish_outcome::delivered) << payload;
    EXPECT_EQ(results.at(0).qos, mq::qos::at_least_once) << payload;
  }
  for (const auto& p : broker.received<mq::publish_packet>(0)) {
    EXPECT_EQ(p.qos, mq::qos::at_least_once);
    EXPECT_FALSE(p.retain);
  }
  // One warning on this connection, naming both downgrades.
  EXPECT_EQ(count_of(log.str(), "downgraded"), 1u) << log.str();
  EXPECT_NE(log.str().find("QoS 2 sent as QoS 1"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("retain cleared"), std::string::npos) << log.str();
  rc.client->stop();
}

TEST_F(client_conformance, APublishWhileConnectedIsDowngradedAndReportsTheQosItWasDeliveredAt) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      auto ack = connack();
      ack.props.add(mq::property_id::maximum_qos, std::uint32_t{1});
      c.send(ack);
    } else {
      acknowledge(c, p);
    }
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 1; }));
  rc.publish("t", "late", mq::qos::exactly_once);
  ASSERT_TRUE(run_until(io_, [&] { return rc.done("late"); }));
  EXPECT_EQ(rc.outcomes["late"].at(0).qos, mq::qos::at_least_once);
  EXPECT_EQ(broker.received<mq::publish_packet>(0).at(0).qos, mq::qos::at_least_once);
  rc.client->stop();
}

// Issue 9 item 4: a 3.1.1 broker answering QoS 2 with PUBACK (RabbitMQ) never stalls the stream.
TEST_F(client_conformance, V311PubackForQoS2IsDeliveredAtQoS1AndWarnedOnce) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack());
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p); publish && publish->qos != mq::qos::at_most_once) {
      c.send(mq::puback_packet{publish->packet_id, {}, {}});
    }
  });
  std::ostringstream log;
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v311), capture(log));
  for (int i = 0; i < 30; ++i) rc.publish("t", "m" + std::to_string(i), mq::qos::exactly_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 30; }));
  for (const auto& [payload, results] : rc.outcomes) {
    EXPECT_EQ(results.at(0).outcome, mq::publish_outcome::delivered) << payload;
    EXPECT_EQ(results.at(0).qos, mq::qos::at_least_once) << payload;
  }
  EXPECT_EQ(rc.disconnects(), 0u);
  EXPECT_EQ(count_of(log.str(), "downgrades QoS 2 to QoS 1"), 1u) << log.str();
  rc.client->stop();
}

// Issue 9 item 5: ids 1-20 in flight, 21-40 queued while down, session
// lost: the broker sees 1..40 in order, each once on the new connection.
TEST_F(client_conformance, OrderHoldsAcrossAReconnectWithoutSession) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack(false));
    } else if (c.index() > 0) {
      acknowledge(c, p);
    } else if (std::holds_alternative<mq::publish_packet>(p) && c.received().size() == 21) {
      c.close();  // all 20 arrived, none acknowledged
    }
  });
  auto options = loopback_options(broker.port(), mq::protocol_version::v5);
  options.max_inflight = 20;
  recorded_client rc(io_, options);
  rc.client->on_connection([&](const mq::connection_event& e) {
    rc.events.push_back(e);
    if (!e.connected && rc.disconnects() == 1) {
      for (int i = 21; i <= 40; ++i) rc.publish("t", std::to_string(i), mq::qos::at_least_once);
    }
  });
  for (int i = 1; i <= 20; ++i) rc.publish("t", std::to_string(i), mq::qos::at_least_once);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.finished() == 40; }));
  std::vector<std::string> order;
  for (const auto& p : broker.received<mq::publish_packet>(1)) order.push_back(text_of(p.payload));
  ASSERT_EQ(order.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(order[i], std::to_string(i + 1));
  for (const auto& [payload, results] : rc.outcomes) {
    ASSERT_EQ(results.size(), 1u) << payload;
    EXPECT_EQ(results[0].outcome, mq::publish_outcome::delivered) << payload;
  }
  rc.client->stop();
}

// --- stop() ends every state: io_context::run() returns ---------------------------------

TEST_F(client_conformance, StopWhileResolvingReturns) {
  auto options = loopback_options(1, mq::protocol_version::v5);
  options.host = "localhost";
  recorded_client rc(io_, options);
  rc.client->start();  // the resolve is under way
  rc.client->stop();
  EXPECT_TRUE(runs_out_of_work(io_));
}

TEST_F(client_conformance, StopWhileWaitingForConnackOnAListenerThatNeverAcceptsReturns) {
  namespace ip = boost::asio::ip;
  ip::tcp::acceptor acceptor(io_, ip::tcp::endpoint(ip::make_address("127.0.0.1"), 0));  // listens, never accepts
  recorded_client rc(io_, loopback_options(acceptor.local_endpoint().port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.client->protocol_session().current_state() == mq::session::state::connecting; }));
  rc.client->stop();
  acceptor.close();
  EXPECT_TRUE(runs_out_of_work(io_));
}

TEST_F(client_conformance, StopDuringATlsHandshakeWithAServerThatNeverAnswersReturns) {
  namespace ip = boost::asio::ip;
  ip::tcp::acceptor acceptor(io_, ip::tcp::endpoint(ip::make_address("127.0.0.1"), 0));
  ip::tcp::socket silent(io_);
  bool accepted = false;
  acceptor.async_accept(silent, [&](boost::system::error_code ec) { accepted = !ec; });
  auto options = loopback_options(acceptor.local_endpoint().port(), mq::protocol_version::v5);
  mq::tls_options tls;
  tls.insecure_skip_verify = true;
  options.tls = tls;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return accepted; }));  // the ClientHello is on its way, never answered
  rc.client->stop();
  silent.close();
  acceptor.close();
  EXPECT_TRUE(runs_out_of_work(io_));
  EXPECT_EQ(rc.connects(), 0u);
}

TEST_F(client_conformance, StopDuringTheBackOffWaitReturns) {
  namespace ip = boost::asio::ip;
  std::uint16_t port = 0;
  {
    ip::tcp::acceptor probe(io_, ip::tcp::endpoint(ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }  // closed: connections to it are refused
  auto options = loopback_options(port, mq::protocol_version::v5);
  options.reconnect_min = 60s;
  options.reconnect_max = 60s;
  recorded_client rc(io_, options);
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.disconnects() == 1; }));  // refused: now in back-off
  rc.client->stop();
  EXPECT_TRUE(runs_out_of_work(io_));
}

TEST_F(client_conformance, StopWhenConnectedReturns) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
    else acknowledge(c, p);
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 1; }));
  rc.client->stop();
  ASSERT_TRUE(run_until(io_, [&] { return broker.connection(0).closed_by_peer(); }));
  EXPECT_EQ(broker.received<mq::disconnect_packet>(0).size(), 1u);
  broker.shutdown();
  EXPECT_TRUE(runs_out_of_work(io_));
}

// Replaces Qos0CompletesWhenWrittenAndStopSendsDisconnect's fixed wait:
// draining with an unacknowledged QoS 1 ends, the message is aborted.
TEST_F(client_conformance, StopWhileDrainingUnacknowledgedQoS1Returns) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) c.send(connack());
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.publish("t/0", "zero", mq::qos::at_most_once);
  rc.publish("t/1", "one", mq::qos::at_least_once);  // never acknowledged
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.done("zero") && broker.received<mq::publish_packet>(0).size() == 2; }));
  EXPECT_EQ(rc.outcomes["zero"].at(0).outcome, mq::publish_outcome::delivered);
  rc.client->stop();
  EXPECT_EQ(rc.outcomes["one"].at(0).outcome, mq::publish_outcome::aborted);
  ASSERT_TRUE(run_until(io_, [&] { return broker.connection(0).closed_by_peer(); }));
  EXPECT_EQ(broker.received<mq::disconnect_packet>(0).size(), 1u);
  EXPECT_FALSE(rc.client->connected());
  broker.shutdown();
  EXPECT_TRUE(runs_out_of_work(io_));
}

// Fuzz finding auth-close-without-reason: an AUTH the client did not ask
// for (no enhanced authentication in CONNECT) ends the connection with
// DISCONNECT 0x82, and the connection_event says why instead of "Success".
TEST_F(client_conformance, AnUnexpectedAuthClosesWithAProtocolError) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (!std::holds_alternative<mq::connect_packet>(p)) return;
    c.send(connack());
    if (c.index() == 0) c.send(mq::auth_packet{mq::reason_code::continue_authentication, {}}, 5ms);
  });
  recorded_client rc(io_, loopback_options(broker.port(), mq::protocol_version::v5));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] {
    return rc.disconnects() >= 1 && !broker.received<mq::disconnect_packet>(0).empty();
  }));
  rc.client->stop();
  const auto down = std::find_if(rc.events.begin(), rc.events.end(), [](const auto& e) { return !e.connected; });
  ASSERT_NE(down, rc.events.end());
  EXPECT_EQ(down->error, mq::make_error_code(mq::errc::protocol_error)) << down->error.message();
  EXPECT_NE(down->detail.find("AUTH"), std::string::npos) << down->detail;
  const auto bye = broker.received<mq::disconnect_packet>(0);
  ASSERT_EQ(bye.size(), 1u);
  EXPECT_EQ(bye[0].code, mq::reason_code::protocol_error);
}

}  // namespace
}  // namespace fieldbridge::test
