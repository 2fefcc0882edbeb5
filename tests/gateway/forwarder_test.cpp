// The forwarder against a scripted fake broker on the test's own io_context
// and a real SQLite store.
#include "run/forwarder.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "client_recorder.hpp"
#include "fake_broker.hpp"

namespace fieldbridge::test {
namespace {

using namespace std::chrono_literals;
namespace mq = fieldbridge::mqtt;
using gateway::forwarder;
using gateway::forwarder_options;

store::settings memory_store() {
  store::settings s;
  s.path = ":memory:";
  s.flush_interval = 0ms;
  return s;
}

store::message message(const std::string& payload, std::uint8_t qos = 1, const std::string& topic = "t/x") {
  store::message m;
  m.topic = topic;
  m.payload = payload;
  m.qos = qos;
  m.ts = wall_clock::now();
  m.source = "dev/point";
  return m;
}

forwarder_options fast_pause() {
  forwarder_options o;
  o.window = 4;
  return o;
}

class Forwarder : public ::testing::Test {
 protected:
  // The payloads the broker acknowledged with success, in order.
  std::vector<std::string> accepted_;
  boost::asio::io_context io_;
  logger_ptr log_ = make_null_logger();
};

TEST_F(Forwarder, EveryMessageIsPublishedInOrderAndARefusedOneIsRejected) {
  fake_broker broker(io_, [&](fake_connection& c, const mq::packet& p) {
    if (std::holds_alternative<mq::connect_packet>(p)) {
      c.send(connack());
    } else if (const auto* publish = std::get_if<mq::publish_packet>(&p)) {
      const bool bad = publish->topic == "t/bad";
      if (!bad) accepted_.push_back(text_of(publish->payload));
      c.send(mq::puback_packet{publish->packet_id, bad ? mq::reason_code::topic_name_invalid : mq::reason_code::success, {}});
    }
  });
  store::queue store(memory_store(), log_);
  ASSERT_TRUE(store.append(message("a")));
  ASSERT_TRUE(store.append(message("b", 1, "t/bad")));
  ASSERT_TRUE(store.append(message("c")));
  mq::client client(io_, loopback_options(broker.port(), mq::protocol_version::v5), log_);
  forwarder fwd(io_, client, store, log_, fast_pause());
  client.on_connection([&](const mq::connection_event& e) {
    if (e.connected) fwd.schedule_pump();
  });
  fwd.attach();
  client.start();
  ASSERT_TRUE(run_until(io_, [&] { return store.depth() == 0; }, 10s));
  EXPECT_EQ(accepted_, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(store.stats().rejected, 1u);
  EXPECT_EQ(fwd.counters().rejected, 1u);
  client.stop();
  broker.shutdown();
  io_.run();
}

}  // namespace
}  // namespace fieldbridge::test
