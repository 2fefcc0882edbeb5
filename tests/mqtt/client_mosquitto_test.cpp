// System tests of the client against a real mosquitto started by the test on
// a free loopback port: both protocol versions, QoS 0/1/2, retained messages,
// subscriptions restored after a restart without persistence, the will,
// passwords, and a broker killed in the middle of a stream (TLS is in
// client_tls_test.cpp).
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <set>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "client_recorder.hpp"
#include "fake_broker.hpp"
#include "mosquitto.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
namespace mq = fieldbridge::mqtt;

class mosquitto_test : public ::testing::TestWithParam<mq::protocol_version> {
 protected:
  mq::client_options options(const mosquitto_broker& broker, const std::string& id) {
    return loopback_options(broker.port(), GetParam(), id);
  }
  // Starts the client and runs until it is connected (or reported a failure).
  bool connect(recorded_client& rc) {
    rc.client->start();
    return run_until(io_, [&] { return !rc.events.empty(); }) && rc.events.back().connected;
  }
  std::vector<mq::reason_code> subscribe(recorded_client& rc, const std::string& filter, mq::qos max_qos) {
    std::optional<mq::subscribe_result> result;
    mq::subscription s;
    s.filter = filter;
    s.options.max_qos = max_qos;
    rc.client->subscribe({s}, [&](const mq::subscribe_result& r) { result = r; });
    if (!run_until(io_, [&] { return result.has_value(); })) return {};
    EXPECT_FALSE(result->error) << result->error.message();
    return result->codes;
  }

  boost::asio::io_context io_;
};

TEST_P(mosquitto_test, Qos012RoundTrip) {
  mosquitto_broker broker;
  recorded_client subscriber(io_, options(broker, "sub"));
  recorded_client publisher(io_, options(broker, "pub"));
  ASSERT_TRUE(connect(subscriber));
  ASSERT_TRUE(connect(publisher));
  EXPECT_EQ(subscribe(subscriber, "rt/#", mq::qos::exactly_once),
            std::vector<mq::reason_code>{mq::reason_code::granted_qos_2});
  for (int q = 0; q <= 2; ++q) publisher.publish("rt/" + std::to_string(q), "m" + std::to_string(q), mq::qos(q));
  ASSERT_TRUE(run_until(io_, [&] { return publisher.finished() == 3 && subscriber.messages.size() == 3; }))
      << broker.log();
  for (int q = 0; q <= 2; ++q) {
    const auto payload = "m" + std::to_string(q);
    EXPECT_EQ(publisher.outcomes[payload].at(0).outcome, mq::publish_outcome::delivered);
  }
  std::map<std::string, mq::publish_packet> got;
  for (const auto& m : subscriber.messages) got[m.topic] = m;
  for (int q = 0; q <= 2; ++q) {
    const auto& m = got.at("rt/" + std::to_string(q));
    EXPECT_EQ(text_of(m.payload), "m" + std::to_string(q));
    EXPECT_EQ(m.qos, mq::qos(q));
    EXPECT_FALSE(m.retain);
  }
  std::optional<mq::subscribe_result> unsuback;
  subscriber.client->unsubscribe({"rt/#"}, [&](const mq::subscribe_result& r) { unsuback = r; });
  ASSERT_TRUE(run_until(io_, [&] { return unsuback.has_value(); }));
  EXPECT_FALSE(unsuback->error);
  if (GetParam() == mq::protocol_version::v5) {
    EXPECT_EQ(unsuback->codes, std::vector<mq::reason_code>{mq::reason_code::success});
  } else {
    EXPECT_TRUE(unsuback->codes.empty());  // 3.1.1 UNSUBACK has no reason codes
  }
}

TEST_P(mosquitto_test, RetainedMessageReachesALaterSubscriber) {
  mosquitto_broker broker;
  recorded_client publisher(io_, options(broker, "pub"));
  ASSERT_TRUE(connect(publisher));
  publisher.publish("keep/it", "kept", mq::qos::at_least_once, true);
  ASSERT_TRUE(run_until(io_, [&] { return publisher.done("kept"); }));
  recorded_client subscriber(io_, options(broker, "sub"));
  ASSERT_TRUE(connect(subscriber));
  subscribe(subscriber, "keep/#", mq::qos::at_least_once);
  ASSERT_TRUE(run_until(io_, [&] { return subscriber.messages.size() == 1; }));
  EXPECT_TRUE(subscriber.messages[0].retain);
  EXPECT_EQ(text_of(subscriber.messages[0].payload), "kept");
}

// A broker restarted without persistence has forgotten the session and its
// subscriptions: the client subscribes again by itself, and a message
// published after the reconnect arrives.
TEST_P(mosquitto_test, SubscriptionsAreRestoredAfterABrokerRestartWithoutPersistence) {
  mosquitto_options broker_options;
  broker_options.persistence = false;
  mosquitto_broker broker(broker_options);
  auto sub_options = options(broker, "restore-sub");
  sub_options.session_expiry = 600s;
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>("mqtt", std::make_shared<spdlog::sinks::ostream_sink_st>(log));
  recorded_client subscriber(io_, sub_options, logger);
  ASSERT_TRUE(connect(subscriber));
  EXPECT_EQ(subscribe(subscriber, "restore/#", mq::qos::at_least_once),
            std::vector<mq::reason_code>{mq::reason_code::granted_qos_1});
  broker.stop();
  broker.start();
  ASSERT_TRUE(run_until(io_, [&] { return subscriber.connects() == 2; }, 10s)) << broker.log();
  EXPECT_FALSE(subscriber.events.back().session_present);
  // The restoring SUBACK is logged; only then is the subscription sure to be in place.
  ASSERT_TRUE(run_until(io_, [&] { return log.str().find("restored 1 subscription(s)") != std::string::npos; }))
      << log.str();
  recorded_client publisher(io_, options(broker, "restore-pub"));
  ASSERT_TRUE(connect(publisher));
  publisher.publish("restore/x", "after the restart", mq::qos::at_least_once);
  ASSERT_TRUE(run_until(io_, [&] { return !subscriber.messages.empty(); })) << broker.log();
  EXPECT_EQ(text_of(subscriber.messages.at(0).payload), "after the restart");
  EXPECT_EQ(subscriber.messages.at(0).topic, "restore/x");
}

TEST_P(mosquitto_test, WillIsPublishedWhenTheSocketDiesButNotOnStop) {
  mosquitto_broker broker;
  recorded_client watcher(io_, options(broker, "watcher"));
  ASSERT_TRUE(connect(watcher));
  subscribe(watcher, "will/#", mq::qos::at_least_once);
  auto with_will = [&](const std::string& id) {
    auto o = options(broker, id);
    o.will = mq::will_options{"will/" + id, "gone", mq::qos::at_least_once, false, 0s};
    return o;
  };
  recorded_client polite(io_, with_will("polite"));
  recorded_client dying(io_, with_will("dying"));
  ASSERT_TRUE(connect(polite));
  ASSERT_TRUE(connect(dying));
  polite.client->stop();  // DISCONNECT: no will
  ASSERT_TRUE(run_until(io_, [&] { return polite.disconnects() == 1; }));
  dying.client.reset();  // the socket is closed without DISCONNECT
  ASSERT_TRUE(run_until(io_, [&] { return !watcher.messages.empty(); })) << broker.log();
  ASSERT_EQ(watcher.messages.size(), 1u);
  EXPECT_EQ(watcher.messages[0].topic, "will/dying");
  EXPECT_EQ(text_of(watcher.messages[0].payload), "gone");
}

TEST_P(mosquitto_test, UsernameAndPassword) {
  mosquitto_options broker_options;
  broker_options.users = {{"gw", "s3cret"}};
  mosquitto_broker broker(broker_options);
  auto right = options(broker, "right");
  right.username = "gw";
  right.password = "s3cret";
  recorded_client good(io_, right);
  EXPECT_TRUE(connect(good)) << (good.events.empty() ? "" : good.events.back().detail);

  auto wrong = options(broker, "wrong");
  wrong.username = "gw";
  wrong.password = "nope";
  wrong.reconnect = false;
  recorded_client bad(io_, wrong);
  EXPECT_FALSE(connect(bad));
  ASSERT_EQ(bad.events.size(), 1u);
  const auto& refused = bad.events[0];
  EXPECT_EQ(refused.error.category(), mq::reason_category());
  // mosquitto answers "not authorized" in 5 and return code 5 in 3.1.1 (also not authorized)
  const auto code = static_cast<mq::reason_code>(refused.error.value());
  EXPECT_TRUE(code == mq::reason_code::not_authorized || code == mq::reason_code::bad_user_name_or_password)
      << refused.detail;
  EXPECT_NE(refused.detail.find("connection refused"), std::string::npos) << refused.detail;
}

INSTANTIATE_TEST_SUITE_P(versions, mosquitto_test,
                         ::testing::Values(mq::protocol_version::v311, mq::protocol_version::v5),
                         [](const auto& param_info) { return param_info.param == mq::protocol_version::v5 ? "v5" : "v311"; });

// --- the broker killed and restarted in the middle of a stream ----------------

class broker_restart_test : public ::testing::TestWithParam<mq::qos> {};

// Every message whose publish completed as delivered reaches the subscriber
// (a persistent session of our own client). A message reported session_lost
// is published again as new, as the store does.
TEST_P(broker_restart_test, EveryAcknowledgedMessageIsReceived) {
  boost::asio::io_context io;
  mosquitto_options broker_options;
  // Save the broker's state after every change, so SIGKILL loses nothing it acknowledged.
  broker_options.extra_config = {"autosave_on_changes true", "max_inflight_messages 0", "max_queued_messages 0"};
  mosquitto_broker broker(broker_options);
  const auto qos = GetParam();

  auto sub_options = loopback_options(broker.port(), mq::protocol_version::v5, "restart-sub");
  sub_options.session_expiry = 600s;
  recorded_client subscriber(io, sub_options);
  std::set<std::string> received;
  std::size_t duplicates = 0;
  std::string duplicated;
  subscriber.client->on_message([&](const mq::publish_packet& m) {
    if (!received.insert(text_of(m.payload)).second) {
      ++duplicates;
      duplicated += text_of(m.payload) + (m.dup ? "(dup) " : " ");
    }
  });
  std::size_t released = 0;  // incoming QoS 2 flows the subscriber finished (PUBCOMP queued)
  mq::durable_hooks hooks;
  hooks.incoming_qos2_released = [&](std::uint16_t) { ++released; };
  subscriber.client->set_durable_hooks(hooks);
  subscriber.client->start();
  ASSERT_TRUE(run_until(io, [&] { return subscriber.connects() == 1; }));
  std::optional<mq::subscribe_result> suback;
  mq::subscription s;
  s.filter = "stream/#";
  s.options.max_qos = qos;
  subscriber.client->subscribe({s}, [&](const mq::subscribe_result& r) { suback = r; });
  ASSERT_TRUE(run_until(io, [&] { return suback.has_value(); }));
  ASSERT_FALSE(suback->error) << suback->error.message();

  auto pub_options = loopback_options(broker.port(), mq::protocol_version::v5, "restart-pub");
  pub_options.session_expiry = 600s;
  recorded_client publisher(io, pub_options);
  std::set<std::string> delivered;
  constexpr int total = 300;
  std::function<void(const std::string&)> send = [&](const std::string& payload) {
    publisher.client->publish("stream/x", payload, qos, false, {}, [&, payload](const mq::publish_result& r) {
      if (r.outcome == mq::publish_outcome::delivered) delivered.insert(payload);
      else send(payload);  // session_lost: publish again as a new message
    });
  };
  constexpr int first_part = total / 3;
  for (int i = 0; i < first_part; ++i) send("m" + std::to_string(i));
  publisher.client->start();
  ASSERT_TRUE(run_until(io, [&] { return delivered.size() == first_part && received.size() == first_part; }));
  // Every QoS 2 flow to the subscriber finished on its side, then a barrier
  // on its connection: once its PUBACK is back, the broker has read every
  // PUBREC/PUBCOMP the subscriber sent before it, so
  // the save below holds no flow to the subscriber that the subscriber
  // already finished (mosquitto would resend those as new PUBLISHes after
  // the restart, a duplicate no client can tell from a new message).
  if (qos == mq::qos::exactly_once) {
    ASSERT_TRUE(run_until(io, [&] { return released == first_part; }));
  }
  bool barrier = false;
  subscriber.client->publish("barrier/x", "b", mq::qos::at_least_once, false, {},
                             [&](const mq::publish_result& r) { barrier = r.outcome == mq::publish_outcome::delivered; });
  ASSERT_TRUE(run_until(io, [&] { return barrier; }));
  // mosquitto saves its state some time after it acknowledged (autosave), so
  // a SIGKILL right after an acknowledgement can lose what it confirmed (seen
  // with QoS 2: PUBREC sent, not saved, and after the restart the resent
  // PUBREL is answered with PUBCOMP success for a message it no longer has).
  // That window is the broker's, not the client's. So: with our io paused
  // and the rest of the stream queued in the client, make the broker save,
  // freeze it, let the client fill its window into the frozen broker's
  // socket, and kill it then: every message in flight at the kill is one the
  // broker never saw, and the client's to resend.
  for (int i = first_part; i < total; ++i) send("m" + std::to_string(i));
  const auto database = broker.directory() / "mosquitto.db";
  const auto before = std::filesystem::file_time_type::clock::now();
  ASSERT_EQ(run_command({"mosquitto_pub", "-p", std::to_string(broker.port()), "-h", "127.0.0.1", "-q", "1",
                         "-r", "-t", "unrelated/change", "-m", std::to_string(::getpid())})
                .exit_code,
            0);
  ASSERT_TRUE(wait_until([&] {
    std::error_code ec;
    return std::filesystem::last_write_time(database, ec) > before;
  }));
  ::kill(broker.pid(), SIGSTOP);
  ASSERT_TRUE(run_until(io, [&] { return publisher.client->protocol_session().inflight_count() >= 10; }));
  broker.kill_hard();
  const auto delivered_before_kill = delivered.size();
  broker.start();
  ASSERT_TRUE(run_until(io, [&] { return delivered.size() == total; }, 20s))
      << delivered.size() << " delivered\n" << broker.log();
  ASSERT_TRUE(run_until(io, [&] {
    return std::includes(received.begin(), received.end(), delivered.begin(), delivered.end());
  }, 10s)) << received.size() << " of " << delivered.size() << " received, missing: " << [&] {
    std::string missing;
    for (const auto& p : delivered) missing += received.count(p) ? "" : p + " ";
    return missing;
  }() << ", killed after " << delivered_before_kill;
  EXPECT_LT(delivered_before_kill, static_cast<std::size_t>(total)) << "the kill came after the stream";
  EXPECT_GE(publisher.disconnects(), 1u);
  // The broker kept the session, so the window in flight was resent (DUP, same ids).
  ASSERT_GE(publisher.events.size(), 3u);
  EXPECT_TRUE(publisher.events.back().connected);
  EXPECT_TRUE(publisher.events.back().session_present);
  // Exactly once at QoS 2 across the broker's restart; QoS 1 may repeat.
  RecordProperty("duplicates", static_cast<int>(duplicates));
  if (qos == mq::qos::exactly_once) {
    EXPECT_EQ(duplicates, 0u) << duplicated << " killed after " << delivered_before_kill;
  }
}

INSTANTIATE_TEST_SUITE_P(qos, broker_restart_test, ::testing::Values(mq::qos::at_least_once, mq::qos::exactly_once),
                         [](const auto& param_info) { return param_info.param == mq::qos::at_least_once ? "qos1" : "qos2"; });

}  // namespace
}  // namespace fieldbridge::test
