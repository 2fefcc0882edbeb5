// The test machinery itself: real mosquitto and socat are found and start,
// and processes are stopped by pid.
#include <gtest/gtest.h>

#include <filesystem>

#include "mosquitto.hpp"
#include "network.hpp"
#include "process.hpp"
#include "pty_pair.hpp"

namespace fieldbridge::test {
namespace {

TEST(ChildProcess, ReportsExitStatusAndSignals) {
  EXPECT_EQ(run_command({"sh", "-c", "echo hello; exit 3"}).exit_code, 3);
  EXPECT_EQ(run_command({"sh", "-c", "echo hello"}).output, "hello\n");
  child_process sleeper({"sleep", "30"});
  EXPECT_TRUE(sleeper.running());
  EXPECT_EQ(sleeper.kill_hard(), 128 + SIGKILL);
  EXPECT_FALSE(sleeper.running());
}

TEST(MosquittoBroker, ListensOnItsOwnPortAndRestarts) {
  mosquitto_broker broker;
  EXPECT_TRUE(wait_for_tcp_port(broker.port(), 1s));
  broker.kill_hard();
  EXPECT_FALSE(wait_for_tcp_port(broker.port(), 100ms));
  broker.start();
  EXPECT_TRUE(wait_for_tcp_port(broker.port(), 1s));
}

TEST(PtyPair, LinksAppearAndVanish) {
  pty_pair line;
  EXPECT_TRUE(std::filesystem::exists(line.device_end()));
  EXPECT_TRUE(std::filesystem::exists(line.gateway_end()));
  line.stop();
  EXPECT_FALSE(std::filesystem::exists(line.gateway_end()));
  line.start();
  EXPECT_TRUE(std::filesystem::exists(line.gateway_end()));
}

TEST(TestPki, MakesCertificatesMosquittoAccepts) {
  temp_dir dir("fieldbridge-pki");
  auto pki = make_test_pki(dir.path());
  mosquitto_options options;
  options.ca_file = pki.ca_cert;
  options.cert_file = pki.server_cert;
  options.key_file = pki.server_key;
  mosquitto_broker broker(options);
  EXPECT_TRUE(wait_for_tcp_port(broker.port(), 1s));
}

}  // namespace
}  // namespace fieldbridge::test
