// `fieldbridge check -c FILE --connect` against a real mosquitto: the probe
// round trip on a good broker, the broker's reason on a wrong password, the
// TLS error on a host name mismatch and an expired certificate, and the
// system trust store used when no ca_file is given.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mosquitto.hpp"
#include "network.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {
namespace {

std::string config_text(std::uint16_t port, const std::string& protocol, const std::string& mqtt_extra) {
  return "gateway:\n  name: probe-test\n"
         "mqtt:\n  host: 127.0.0.1\n  port: " + std::to_string(port) + "\n  protocol: " + protocol + "\n" +
         "  topic_prefix: plant/probe\n" + mqtt_extra +
         "buses:\n  - name: plc\n    modbus_tcp: { host: 127.0.0.1, port: 1502 }\n    devices:\n"
         "      - name: d1\n        unit: 1\n        points:\n"
         "          - { name: p1, table: holding, address: 0, type: uint16 }\n";
}

command_result check_connect(const temp_dir& dir, const std::string& text, std::vector<std::string> env = {}) {
  const auto file = dir.write_file("fieldbridge.yaml", text);
  return run_command({fieldbridge_binary(), "check", "-c", file.string(), "--connect"}, std::chrono::seconds{30},
                     std::move(env));
}

class connect_probe_test : public ::testing::TestWithParam<std::string> {};

TEST_P(connect_probe_test, RoundTripsTheProbeAtEveryQos) {
  mosquitto_broker broker;
  temp_dir dir;
  const auto result = check_connect(dir, config_text(broker.port(), GetParam(), ""));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* step : {"CONNACK: success (session present 0)", "SUBACK: 0x02", "PUBLISH plant/probe/_check/",
                           "written (QoS 0", "PUBACK: 0x00", "PUBCOMP: 0x00", "received back (QoS 0)",
                           "received back (QoS 1)", "received back (QoS 2)", "OK:"}) {
    EXPECT_NE(result.output.find(step), std::string::npos) << step << " missing in\n" << result.output;
  }
}

// Issue 9 item 4: a broker that takes at most QoS 1 (Maximum QoS 1 in
// MQTT 5's CONNACK) is named as downgrading QoS 2, not a protocol error.
TEST(connect_probe_limits, ABrokerWithMaximumQos1IsSaidToDowngradeQos2) {
  mosquitto_options options;
  options.extra_config = {"max_qos 1"};
  mosquitto_broker broker(options);
  temp_dir dir;
  const auto result = check_connect(dir, config_text(broker.port(), "5", ""));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("this broker downgrades QoS 2 to QoS 1"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("protocol error"), std::string::npos) << result.output;
}

TEST_P(connect_probe_test, WrongPasswordFailsWithTheBrokersReason) {
  mosquitto_options options;
  options.users = {{"gw", "right"}};
  mosquitto_broker broker(options);
  temp_dir dir;
  const auto result = check_connect(dir, config_text(broker.port(), GetParam(), "  username: gw\n  password: wrong\n"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("connection refused: not authorized"), std::string::npos) << result.output;

  const auto good = check_connect(dir, config_text(broker.port(), GetParam(), "  username: gw\n  password: right\n"));
  EXPECT_EQ(good.exit_code, 0) << good.output;
}

// Failover (mqtt.hosts): every broker of the list is probed, in order, and
// one that does not answer fails the check even when another one passed.
TEST(connect_probe_failover, ProbesEveryBrokerOfTheListAndFailsWhenOneFails) {
  mosquitto_broker broker;
  const auto closed = free_tcp_port();
  temp_dir dir;
  auto text = config_text(broker.port(), "5", "");
  const auto host_lines = "  host: 127.0.0.1\n  port: " + std::to_string(broker.port()) + "\n";
  const auto hosts = [&](const std::vector<std::uint16_t>& ports) {
    std::string list = "  hosts: [";
    for (const auto port : ports) list += " \"127.0.0.1:" + std::to_string(port) + "\",";
    list.back() = ' ';
    auto replaced = text;
    replaced.replace(replaced.find(host_lines), host_lines.size(), list + "]\n");
    return replaced;
  };
  const auto one_down = check_connect(dir, hosts({broker.port(), closed}));
  EXPECT_EQ(one_down.exit_code, 1) << one_down.output;
  const auto first = one_down.output.find("broker 1 of 2: 127.0.0.1:" + std::to_string(broker.port()));
  const auto second = one_down.output.find("broker 2 of 2: 127.0.0.1:" + std::to_string(closed));
  ASSERT_NE(first, std::string::npos) << one_down.output;
  ASSERT_NE(second, std::string::npos) << one_down.output;
  EXPECT_LT(first, one_down.output.find("OK:")) << one_down.output;
  EXPECT_LT(one_down.output.find("OK:"), second) << one_down.output;
  EXPECT_NE(one_down.output.find("cannot connect to 127.0.0.1:" + std::to_string(closed)), std::string::npos)
      << one_down.output;
  EXPECT_NE(one_down.output.find("1 of 2 brokers passed"), std::string::npos) << one_down.output;

  mosquitto_broker other;
  const auto both_up = check_connect(dir, hosts({broker.port(), other.port()}));
  EXPECT_EQ(both_up.exit_code, 0) << both_up.output;
  EXPECT_NE(both_up.output.find("2 of 2 brokers passed"), std::string::npos) << both_up.output;
}

INSTANTIATE_TEST_SUITE_P(protocols, connect_probe_test, ::testing::Values("5", "3.1.1"),
                         [](const auto& param_info) { return param_info.param == "5" ? "v5" : "v311"; });

// A TLS mosquitto serving `cert` and `key`.
mosquitto_broker tls_broker(const test_pki& pki, const std::filesystem::path& cert, const std::filesystem::path& key) {
  mosquitto_options options;
  options.ca_file = pki.ca_cert;
  options.cert_file = cert;
  options.key_file = key;
  return mosquitto_broker(options);
}

TEST(connect_probe_tls, HostNameMismatchFailsWithTheTlsError) {
  temp_dir dir;
  const auto pki = make_test_pki(dir.path(), {"broker.example.net"});
  auto broker = tls_broker(pki, pki.server_cert, pki.server_key);
  const auto result = check_connect(
      dir, config_text(broker.port(), "5", "  tls:\n    ca_file: " + pki.ca_cert.string() + "\n"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("host name mismatch"), std::string::npos) << result.output;
}

TEST(connect_probe_tls, ExpiredCertificateFailsSayingSo) {
  temp_dir dir;
  const auto pki = make_test_pki(dir.path());
  const auto expired = make_expired_server_certificate(pki, dir.path());
  auto broker = tls_broker(pki, expired.cert, expired.key);
  const auto result = check_connect(
      dir, config_text(broker.port(), "5", "  tls:\n    ca_file: " + pki.ca_cert.string() + "\n"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("certificate expired on 2020-01-02 00:00:00 UTC (certificate has expired)"),
            std::string::npos)
      << result.output;
}

// TLS 1.2 minimum. Debian's OpenSSL configuration already refuses TLS 1.0 and
// 1.1 for every program, which would hide the client's own setting: both the
// server (openssl s_server limited to TLS 1.1) and the fieldbridge child get
// a configuration that allows them (security level 0), so only the client's
// own minimum can refuse. Without it the handshake succeeds and the probe
// fails later on the server's non-MQTT answer instead.
TEST(connect_probe_tls, BrokerBelowTls12IsRefused) {
  temp_dir dir;
  const auto pki = make_test_pki(dir.path());
  const auto legacy = dir.write_file("legacy-openssl.cnf",
                                     "openssl_conf = init\n[init]\nssl_conf = ssl_sect\n[ssl_sect]\n"
                                     "system_default = legacy\n[legacy]\nMinProtocol = TLSv1\n"
                                     "CipherString = DEFAULT@SECLEVEL=0\n");
  const std::vector<std::string> env{"OPENSSL_CONF=" + legacy.string()};
  const auto port = free_tcp_port();
  // -www: answers HTTP and never reads its stdin (which is /dev/null here).
  child_process server({"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                        pki.server_cert.string(), "-key", pki.server_key.string(), "-tls1_1", "-www"},
                       dir / "s_server.log", env);
  ASSERT_TRUE(wait_until([&] { return !server.running() || wait_for_tcp_port(port, 0ms); }) && server.running())
      << server.log();
  const auto result =
      check_connect(dir, config_text(port, "5", "  tls:\n    ca_file: " + pki.ca_cert.string() + "\n"), env);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("no TLS version in common, the client needs TLS 1.2 or later"), std::string::npos)
      << result.output << server.log();
}

// With ca_file left out the client trusts OpenSSL's default verify paths,
// which SSL_CERT_FILE / SSL_CERT_DIR replace: the test CA becomes the "system
// store" of the child process alone, the machine's store is only read.
TEST(connect_probe_tls, EmptyCaFileUsesTheSystemTrustStore) {
  temp_dir dir;
  const auto pki = make_test_pki(dir.path());
  auto broker = tls_broker(pki, pki.server_cert, pki.server_key);
  const auto config = config_text(broker.port(), "5", "  tls: {}\n");
  const temp_dir empty_cert_dir("fieldbridge-no-certs");

  const auto trusted = check_connect(
      dir, config, {"SSL_CERT_FILE=" + pki.ca_cert.string(), "SSL_CERT_DIR=" + empty_cert_dir.path().string()});
  EXPECT_EQ(trusted.exit_code, 0) << trusted.output;
  EXPECT_NE(trusted.output.find("OK:"), std::string::npos) << trusted.output;

  // The machine's own store does not know the test CA.
  const auto untrusted = check_connect(dir, config);
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.output;
  EXPECT_NE(untrusted.output.find("unknown CA, not trusted by the system trust store"), std::string::npos)
      << untrusted.output;
}

}  // namespace
}  // namespace fieldbridge::test
