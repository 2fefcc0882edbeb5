// The byte stream under one MQTT connection: plain TCP or TLS over TCP.
// One transport per connection attempt (an ssl::stream cannot be reused after
// it was shut down). Single-threaded: used only on the client's io_context.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "fieldbridge/mqtt/client.hpp"

namespace fieldbridge::mqtt::detail {

// Builds the TLS client context: TLS 1.2 minimum, the CA file or the system
// store, the client certificate and key for mutual TLS. Throws
// std::runtime_error naming the file that could not be loaded.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const tls_options& options);

class transport {
 public:
  using tcp = boost::asio::ip::tcp;
  using tls_stream = boost::asio::ssl::stream<tcp::socket>;
  // Called once when the connection is open (or failed); `detail` names what
  // failed in words (e.g. the certificate verification error).
  using open_handler = std::function<void(boost::system::error_code, std::string detail)>;

  // `tls` is null for plain TCP; it must outlive the transport.
  transport(boost::asio::io_context& io, boost::asio::ssl::context* tls, const tls_options* tls_opts);

  // Resolves, connects and (for TLS) verifies and handshakes.
  void async_open(const std::string& host, std::uint16_t port, open_handler handler);

  template <class ConstBuffers, class Handler>
  void async_write(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) boost::asio::async_write(*tls_, buffers, std::forward<Handler>(handler));
    else boost::asio::async_write(socket_, buffers, std::forward<Handler>(handler));
  }

  template <class Handler>
  void async_read_some(boost::asio::mutable_buffer buffer, Handler&& handler) {
    if (tls_) tls_->async_read_some(buffer, std::forward<Handler>(handler));
    else socket_.async_read_some(buffer, std::forward<Handler>(handler));
  }

  // Closes the socket at once; pending operations complete with
  // operation_aborted. No TLS close_notify: the MQTT DISCONNECT already said
  // goodbye and a dead peer must not stall us.
  void close() noexcept;
  bool is_open() const noexcept { return lowest().is_open(); }
  bool secure() const noexcept { return tls_ != nullptr; }
  // Sends the TCP acknowledgement of what was read now instead of after the
  // delayed-ACK timer (Linux TCP_QUICKACK; elsewhere nothing). A reader that
  // has nothing to write must not leave a Nagle-delayed peer waiting ~40 ms
  // for that ACK before it sends its next small packet.
  void acknowledge_now() noexcept;

 private:
  tcp::socket& lowest() noexcept { return tls_ ? tls_->next_layer() : socket_; }
  const tcp::socket& lowest() const noexcept { return tls_ ? tls_->next_layer() : socket_; }
  void on_connected(const std::string& host, open_handler handler);
  bool verify(bool preverified, boost::asio::ssl::verify_context& context);
  std::string explain_verify_error(int error, X509_STORE_CTX* store) const;

  tcp::resolver resolver_;
  tcp::socket socket_;                 // used when plain TCP
  std::unique_ptr<tls_stream> tls_;    // used when TLS
  const tls_options* tls_options_;
  std::string verify_failure_;         // first certificate problem seen in the handshake
};

}  // namespace fieldbridge::mqtt::detail
