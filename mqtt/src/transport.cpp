#include "transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <stdexcept>

#include <boost/asio/ip/address.hpp>

namespace fieldbridge::mqtt::detail {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

// "2020-01-02 00:00:00 UTC", or "?" when OpenSSL cannot read the time.
std::string utc_text(const ASN1_TIME* time) {
  std::tm tm{};
  char buffer[32];
  if (time == nullptr || ::ASN1_TIME_to_tm(time, &tm) != 1 ||
      std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
    return "?";
  }
  return buffer;
}

// OpenSSL's words for a failed handshake are those of the protocol (e.g.
// "tlsv1 alert protocol version"); the two causes users meet most get a
// sentence first: a broker below TLS 1.2, and TLS sent to a plain MQTT
// listener (mosquitto closes the connection on the ClientHello).
std::string explain_handshake_error(const boost::system::error_code& ec) {
  if (ec == asio::error::connection_reset || ec == asio::error::eof || ec == ssl::error::stream_truncated) {
    return "the broker closed the connection (" + ec.message() + "); is the port a TLS listener?";
  }
  if (ec.category() != asio::error::get_ssl_category()) return ec.message();
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
      return "no TLS version in common, the client needs TLS 1.2 or later (" + ec.message() + ")";
    default:
      return ec.message();
  }
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const tls_options& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  ::SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (options.ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) throw std::runtime_error("TLS: cannot load the system trust store: " + ec.message());
  } else {
    context->load_verify_file(options.ca_file, ec);
    if (ec) throw std::runtime_error("TLS: cannot load ca_file " + options.ca_file + ": " + ec.message());
  }
  if (!options.cert_file.empty()) {
    context->use_certificate_chain_file(options.cert_file, ec);
    if (ec) throw std::runtime_error("TLS: cannot load cert_file " + options.cert_file + ": " + ec.message());
    context->use_private_key_file(options.key_file.empty() ? options.cert_file : options.key_file,
                                  ssl::context::pem, ec);
    if (ec) throw std::runtime_error("TLS: cannot load key_file " + options.key_file + ": " + ec.message());
  }
  // Every peer certificate goes through verify(), which also records why it failed.
  context->set_verify_mode(ssl::verify_peer);
  return context;
}

transport::transport(asio::io_context& io, ssl::context* tls, const tls_options* tls_opts)
    : resolver_(io), socket_(io), tls_options_(tls_opts) {
  if (tls) tls_ = std::make_unique<tls_stream>(io, *tls);
}

void transport::async_open(const std::string& host, std::uint16_t port, open_handler handler) {
  resolver_.async_resolve(
      host, std::to_string(port),
      [this, host, port, handler = std::move(handler)](boost::system::error_code ec,
                                                       tcp::resolver::results_type results) mutable {
        if (ec) {
          handler(ec, "cannot resolve " + host + ": " + ec.message());
          return;
        }
        asio::async_connect(lowest(), results,
                            [this, host, port, handler = std::move(handler)](
                                boost::system::error_code connect_ec, const tcp::endpoint&) mutable {
                              if (connect_ec) {
                                handler(connect_ec, "cannot connect to " + host + ":" +
                                                        std::to_string(port) + ": " +
                                                        connect_ec.message());
                                return;
                              }
                              on_connected(host, std::move(handler));
                            });
      });
}

void transport::acknowledge_now() noexcept {
#ifdef TCP_QUICKACK
  const int one = 1;
  // Best effort: on failure the ACK merely leaves later.
  (void)::setsockopt(lowest().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#endif
}

void transport::on_connected(const std::string& host, open_handler handler) {
  boost::system::error_code ignored;
  lowest().set_option(tcp::no_delay(true), ignored);
  if (!tls_) {
    handler({}, {});
    return;
  }
  SSL* ssl_handle = tls_->native_handle();
  boost::system::error_code address_ec;
  asio::ip::make_address(host, address_ec);  // only "is it a literal address?" matters
  if (address_ec) {
    // SNI only for names, never for literal addresses (RFC 6066).
    ::SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str()));
  }
  if (tls_options_->verify_hostname && !tls_options_->insecure_skip_verify) {
    X509_VERIFY_PARAM* param = ::SSL_get0_param(ssl_handle);
    if (address_ec) {
      ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ::X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    } else {
      ::X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    }
  }
  tls_->set_verify_callback(
      [this](bool preverified, ssl::verify_context& context) { return verify(preverified, context); });
  tls_->async_handshake(ssl::stream_base::client,
                        [this, host, handler = std::move(handler)](boost::system::error_code ec) {
                          if (!ec) {
                            handler({}, {});
                          } else if (!verify_failure_.empty()) {
                            handler(ec, "TLS: " + verify_failure_);
                          } else {
                            handler(ec, "TLS handshake with " + host + " failed: " + explain_handshake_error(ec));
                          }
                        });
}

// What failed, in the words of issue #3 first (host name mismatch, unknown
// CA, expired) and OpenSSL's own words after, so a user can act on it.
std::string transport::explain_verify_error(int error, X509_STORE_CTX* store) const {
  const std::string openssl_words = ::X509_verify_cert_error_string(error);
  const X509* cert = ::X509_STORE_CTX_get_current_cert(store);
  switch (error) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "host name mismatch (" + openssl_words + ")";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return "unknown CA, not trusted by " +
             (tls_options_->ca_file.empty() ? std::string{"the system trust store"}
                                            : "ca_file " + tls_options_->ca_file) +
             " (" + openssl_words + ")";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate expired on " + utc_text(cert ? ::X509_get0_notAfter(cert) : nullptr) + " (" +
             openssl_words + ")";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate not valid before " + utc_text(cert ? ::X509_get0_notBefore(cert) : nullptr) +
             " (" + openssl_words + ")";
    default:
      return openssl_words;
  }
}

bool transport::verify(bool preverified, ssl::verify_context& context) {
  if (preverified) return true;
  X509_STORE_CTX* store = context.native_handle();
  const int error = ::X509_STORE_CTX_get_error(store);
  if (verify_failure_.empty()) {
    std::string subject = "?";
    if (X509* cert = ::X509_STORE_CTX_get_current_cert(store)) {
      char buffer[256];
      ::X509_NAME_oneline(::X509_get_subject_name(cert), buffer, sizeof buffer);
      subject = buffer;
    }
    verify_failure_ = "certificate verify failed: " + explain_verify_error(error, store) + " (depth " +
                      std::to_string(::X509_STORE_CTX_get_error_depth(store)) + ", subject " +
                      subject + ")";
  }
  return tls_options_->insecure_skip_verify;
}

void transport::close() noexcept {
  boost::system::error_code ignored;
  resolver_.cancel();
  lowest().shutdown(tcp::socket::shutdown_both, ignored);
  lowest().close(ignored);
}

}  // namespace fieldbridge::mqtt::detail
