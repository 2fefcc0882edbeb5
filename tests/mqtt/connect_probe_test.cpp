// `fieldbridge check -c FILE --connect` against a real mosquitto: the probe
// round trip on a good broker, the broker's reason on a wrong password, the
// TLS error on a host name mismatch and an expired certificate, and the
// system trust store used when no ca_file is given.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mosquitto.hpp"
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
