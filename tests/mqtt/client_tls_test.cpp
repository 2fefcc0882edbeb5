// System tests of the client's TLS against a real mosquitto on a free loopback
// port, with certificates made at test time by the openssl command: the
// chain and the host name verified by default, a clear error naming what
// failed (host name mismatch, unknown CA, expired), mutual TLS, and
// verification turned off only explicitly, with a warning at every connect.
// The system trust store (ca_file empty) is tested through
// `fieldbridge check --connect` in connect_probe_test.cpp, where the test can
// give the child process its own SSL_CERT_FILE.
#include <gtest/gtest.h>

#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "client_recorder.hpp"
#include "fake_broker.hpp"
#include "mosquitto.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {
namespace {

namespace mq = fieldbridge::mqtt;

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

class tls_test : public ::testing::Test {
 protected:
  // A TLS broker serving `served` (by default the PKI's server certificate).
  std::unique_ptr<mosquitto_broker> make_broker(const test_pki& pki, bool require_client_certificate = false,
                                                std::optional<test_certificate> served = std::nullopt) {
    if (!served) served = test_certificate{pki.server_cert, pki.server_key};
    mosquitto_options o;
    o.ca_file = pki.ca_cert;
    o.cert_file = served->cert;
    o.key_file = served->key;
    o.require_client_certificate = require_client_certificate;
    return std::make_unique<mosquitto_broker>(o);
  }
  mq::client_options tls_options(const mosquitto_broker& broker, const test_pki& pki, std::string host) {
    auto o = loopback_options(broker.port(), mq::protocol_version::v5, "tls");
    o.host = std::move(host);
    o.reconnect = false;
    o.tls = mq::tls_options{};
    o.tls->ca_file = pki.ca_cert.string();
    return o;
  }
  // Connects and returns the first connection event.
  mq::connection_event connect(const mq::client_options& o, logger_ptr logger = nullptr) {
    recorded_client rc(io_, o, std::move(logger));
    rc.client->start();
    EXPECT_TRUE(run_until(io_, [&] { return !rc.events.empty(); }));
    return rc.events.empty() ? mq::connection_event{} : rc.events.front();
  }
  // A logger whose lines (debug and up) land in `log`.
  static logger_ptr capture(std::ostringstream& log) {
    auto logger = std::make_shared<spdlog::logger>("mqtt", std::make_shared<spdlog::sinks::ostream_sink_st>(log));
    logger->set_level(spdlog::level::debug);
    return logger;
  }

  boost::asio::io_context io_;
  temp_dir dir_{"fieldbridge-tls"};
};

TEST_F(tls_test, VerifiesTheServerByAddressAndByName) {
  const auto pki = make_test_pki(dir_.path());
  auto broker = make_broker(pki);
  auto by_address = connect(tls_options(*broker, pki, "127.0.0.1"));
  EXPECT_TRUE(by_address.connected) << by_address.detail;
  auto by_name = connect(tls_options(*broker, pki, "localhost"));
  EXPECT_TRUE(by_name.connected) << by_name.detail;
}

TEST_F(tls_test, HostNameMismatchIsRefusedWithAClearError) {
  const auto pki = make_test_pki(dir_.path(), {"broker.example.net"});
  auto broker = make_broker(pki);
  auto event = connect(tls_options(*broker, pki, "127.0.0.1"));
  EXPECT_FALSE(event.connected);
  EXPECT_NE(event.detail.find("host name mismatch"), std::string::npos) << event.detail;
  // Explicitly turning verification off connects, and says so in the log.
  auto insecure = tls_options(*broker, pki, "127.0.0.1");
  insecure.tls->insecure_skip_verify = true;
  std::ostringstream log;
  EXPECT_TRUE(connect(insecure, capture(log)).connected);
  EXPECT_NE(log.str().find("[warning] mqtt: TLS certificate verification is OFF"), std::string::npos) << log.str();
}

TEST_F(tls_test, UnknownCaIsRefusedNamingTheCaFile) {
  const auto pki = make_test_pki(dir_.path());
  temp_dir other_dir("fieldbridge-tls-other");
  const auto other = make_test_pki(other_dir.path());
  auto broker = make_broker(pki);
  auto event = connect(tls_options(*broker, other, "127.0.0.1"));
  EXPECT_FALSE(event.connected);
  // mosquitto's OpenSSL sends the chain up to its CA, which is the certificate refused.
  EXPECT_NE(event.detail.find("TLS: certificate verify failed: unknown CA, not trusted by ca_file " +
                              other.ca_cert.string() + " (self-signed certificate in certificate chain) (depth 1, "
                              "subject /CN=fieldbridge test CA)"),
            std::string::npos)
      << event.detail;
}

TEST_F(tls_test, ExpiredCertificateIsRefusedNamingTheDate) {
  const auto pki = make_test_pki(dir_.path());
  const auto expired = make_expired_server_certificate(pki, dir_.path());
  auto broker = make_broker(pki, false, expired);
  auto event = connect(tls_options(*broker, pki, "127.0.0.1"));
  EXPECT_FALSE(event.connected);
  EXPECT_NE(event.detail.find("TLS: certificate verify failed: certificate expired on 2020-01-02 00:00:00 UTC "
                              "(certificate has expired) (depth 0, subject /CN=localhost)"),
            std::string::npos)
      << event.detail;
  // A certificate of the same CA and names, in date, is accepted: the date was the reason.
  auto renewed = make_broker(pki);
  auto ok = connect(tls_options(*renewed, pki, "127.0.0.1"));
  EXPECT_TRUE(ok.connected) << ok.detail;
}

// mosquitto closes a plain listener's connection on the TLS ClientHello; the
// error says where to look instead of only "Connection reset by peer".
TEST_F(tls_test, TlsToAPlainListenerSaysSo) {
  const auto pki = make_test_pki(dir_.path());
  mosquitto_broker plain;
  auto event = connect(tls_options(plain, pki, "127.0.0.1"));
  EXPECT_FALSE(event.connected);
  EXPECT_NE(event.detail.find("TLS handshake with 127.0.0.1 failed: the broker closed the connection ("),
            std::string::npos)
      << event.detail;
  EXPECT_NE(event.detail.find("); is the port a TLS listener?"), std::string::npos) << event.detail;
}

TEST_F(tls_test, ClientCertificateRequired) {
  const auto pki = make_test_pki(dir_.path());
  auto broker = make_broker(pki, true);
  auto without = connect(tls_options(*broker, pki, "127.0.0.1"));
  EXPECT_FALSE(without.connected);
  EXPECT_FALSE(without.detail.empty());
  auto with_cert = tls_options(*broker, pki, "127.0.0.1");
  with_cert.tls->cert_file = pki.client_cert.string();
  with_cert.tls->key_file = pki.client_key.string();
  auto event = connect(with_cert);
  EXPECT_TRUE(event.connected) << event.detail;
}

// "logs a warning at every connect" (issue #3): not only the first. The
// broker is restarted under a connected client, which reconnects on its own;
// every attempt (the refused ones while the broker is down included) logs the
// warning once.
TEST_F(tls_test, VerificationOffWarnsAtEveryConnect) {
  const auto pki = make_test_pki(dir_.path(), {"broker.example.net"});  // would fail verification
  auto broker = make_broker(pki);
  auto o = tls_options(*broker, pki, "127.0.0.1");
  o.tls->insecure_skip_verify = true;
  o.reconnect = true;
  std::ostringstream log;
  recorded_client rc(io_, o, capture(log));
  rc.client->start();
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 1; })) << log.str();
  broker->start();  // SIGKILL and start again on the same port
  ASSERT_TRUE(run_until(io_, [&] { return rc.connects() == 2; })) << log.str() << broker->log();
  EXPECT_GE(rc.disconnects(), 1u);
  const auto warnings = count_of(log.str(), "[warning] mqtt: TLS certificate verification is OFF (insecure_skip_verify)");
  const auto attempts = count_of(log.str(), "mqtt: connecting to 127.0.0.1");
  EXPECT_GE(warnings, 2u) << log.str();
  EXPECT_EQ(warnings, attempts) << log.str();
}

TEST_F(tls_test, MissingCaFileIsAStartupError) {
  auto o = loopback_options(1, mq::protocol_version::v5);
  o.tls = mq::tls_options{};
  o.tls->ca_file = (dir_ / "missing.pem").string();
  mq::client c(io_, o, nullptr);
  EXPECT_THROW(c.start(), std::runtime_error);
}

}  // namespace
}  // namespace fieldbridge::test
