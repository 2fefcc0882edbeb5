// The status page's HTTP/1.1 listener on Boost.Beast: accepts connections,
// reads GET/HEAD requests with bounded header size, time and count, and
// answers through the site (routes.hpp). Read-only; no request body is read.
// Single-threaded: it runs on the io_context whose executor it is given (the
// runtime's) and needs no lock; start() and stop() are called from there too.
// Connections hold the listener's state, so they may outlive the server
// object; stop() closes all of them, so run() can return.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/core/text.hpp"
#include "http/routes.hpp"

namespace fieldbridge::gateway::http {

struct server_limits {
  std::size_t max_connections = 16;         // more are answered 503 and closed at once
  std::size_t header_limit = 8 * 1024;      // request line + headers; larger: 431
  // A whole request header must arrive within this, counted from the
  // connect or from the previous response (also the keep-alive idle time).
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};  // a response to a client that does not read
  unsigned max_requests = 100;              // per connection; the last says Connection: close
};

struct server_counters {
  std::uint64_t connections = 0;  // accepted and served
  std::uint64_t refused = 0;      // answered 503: max_connections were open
  std::uint64_t requests = 0;     // answered, any status
  std::uint64_t bad_requests = 0; // 4xx for what could not be parsed or is not allowed
  std::uint64_t timeouts = 0;     // closed because a request did not arrive in time
};

class listener;

class server {
 public:
  // Binds and listens now: a port in use is a start-up failure
  // (std::system_error naming the address).
  server(boost::asio::any_io_executor executor, const network_endpoint& listen, site routes,
         logger_ptr log, server_limits limits = {});
  ~server();  // stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  void start();  // accept connections
  void stop();   // close the listening socket and every connection; idempotent

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  std::size_t open_connections() const;
  const server_counters& counters() const;
  // The server's own Prometheus families (fieldbridge_http_*), appended to /metrics.
  std::string metrics() const;

 private:
  std::shared_ptr<listener> listener_;
};

}  // namespace fieldbridge::gateway::http
