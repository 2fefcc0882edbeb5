// One listener and one session object per connection, in the shape of
// Beast's examples (advanced_server, CppCon2018): every asynchronous step
// holds the session through shared_from_this, the session holds the
// listener's state, and one write is in flight at a time.
#include "http/server.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <map>
#include <optional>
#include <system_error>
#include <unordered_set>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>

namespace fieldbridge::gateway::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// After the last response of a connection that the server ends, what the
// client still sends is read and dropped for a moment, so that the kernel
// does not answer it with a reset that could destroy the response in flight
// (a "lingering close", as nginx does).
constexpr std::chrono::milliseconds linger_time{2000};
constexpr std::size_t linger_bytes = 64 * 1024;

response plain(unsigned status, std::string text) {
  return response{status, "text/plain; charset=utf-8", std::move(text), {}};
}

bool is_http_error(const beast::error_code& ec) {
  return ec.category() == beast::error_code(bhttp::error::bad_method).category();
}

}  // namespace

class session;

class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(asio::any_io_executor executor, const network_endpoint& listen, site routes, logger_ptr log,
           server_limits limits)
      : acceptor_(executor), retry_timer_(executor), routes_(std::move(routes)), log_(std::move(log)),
        limits_(limits), text_(to_string(listen)) {
    const auto address = asio::ip::make_address(listen.host == "localhost" ? "127.0.0.1" : listen.host);
    const tcp::endpoint endpoint(address, listen.port);
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, fmt::format("http: cannot listen on {}", text_));
  }

  void start() { accept(); }

  void stop();

  bool stopping() const noexcept { return stopped_; }
  const site& routes() const noexcept { return routes_; }
  const server_limits& limits() const noexcept { return limits_; }
  server_counters& counters() noexcept { return counters_; }
  const logger_ptr& log() const noexcept { return log_; }
  tcp::endpoint local_endpoint() const {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec);
  }
  std::size_t open_connections() const noexcept { return sessions_.size(); }
  void count_response(unsigned status) {
    ++counters_.requests;
    if (status >= 400 && status < 500) ++counters_.bad_requests;
    ++responses_[status];
  }
  const std::map<unsigned, std::uint64_t>& responses() const noexcept { return responses_; }

  void join(session* s) { sessions_.insert(s); }
  void leave(session* s) { sessions_.erase(s); }

 private:
  void accept() {
    acceptor_.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      self->on_accept(ec, std::move(socket));
    });
  }

  void on_accept(beast::error_code ec, tcp::socket socket);

  // Beyond max_connections: one short answer written without waiting (a
  // fresh socket's send buffer takes it), and closed.
  void refuse(tcp::socket& socket) {
    ++counters_.refused;
    ++responses_[503];
    static const std::string answer = [] {
      constexpr std::string_view body = "503 too many connections to the status page; retry\n";
      return fmt::format("HTTP/1.1 503 Service Unavailable\r\nServer: fieldbridge/{}\r\nContent-Type: text/plain; "
                         "charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{}",
                         FIELDBRIDGE_VERSION, body.size(), body);
    }();
    beast::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(answer), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  site routes_;
  logger_ptr log_;
  server_limits limits_;
  std::string text_;
  server_counters counters_;
  std::map<unsigned, std::uint64_t> responses_;
  std::unordered_set<session*> sessions_;
  bool stopped_ = false;
  bool refusing_logged_ = false;
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, std::shared_ptr<listener> owner)
      : stream_(std::move(socket)), owner_(std::move(owner)), buffer_(owner_->limits().header_limit * 2) {}
  ~session() { owner_->leave(this); }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start() {
    owner_->join(this);
    read_request();
  }

  // From the listener's stop(): every pending operation ends with an error,
  // and the last handler to hold the session frees it.
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  const server_limits& limits() const { return owner_->limits(); }

  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits().header_limit));
    // A body is never read, so its announced size does not matter here.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    // One deadline for the whole header (a slow sender cannot stretch it
    // byte by byte), and for the idle time before it on a kept-alive
    // connection.
    stream_.expires_after(limits().request_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (owner_->stopping() || ec == asio::error::operation_aborted) return;
    if (ec == beast::error::timeout) {
      // tcp_stream closed the socket already. A kept-alive connection that
      // stayed idle is just closed; one that sent part of a request is a
      // timeout (a slow or stuck client, or a slowloris).
      if (buffer_.size() > 0 || parser_->got_some()) {
        ++owner_->counters().timeouts;
        owner_->log()->debug("http: no whole request within {} ms; closed", limits().request_timeout.count());
      }
      return;
    }
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return close();
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
      return refuse(431, fmt::format("431 request header fields too large: at most {} bytes\n", limits().header_limit));
    if (is_http_error(ec)) return refuse(400, fmt::format("400 bad request: {}\n", ec.message()));
    if (ec) return close();

    const auto& req = parser_->get();
    const auto authorization = req[bhttp::field::authorization];
    const auto host = req.find(bhttp::field::host);
    request r;
    r.method = std::string_view(req.method_string().data(), req.method_string().size());
    r.target = std::string_view(req.target().data(), req.target().size());
    r.authorization = std::string_view(authorization.data(), authorization.size());
    if (host != req.end()) r.host = std::string_view(host->value().data(), host->value().size());
    // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host.
    const auto hosts = req.count(bhttp::field::host);
    const bool bad_host = hosts > 1 || (hosts == 0 && req.version() >= 11);
    auto answer = bad_host ? plain(400, "400 bad request: one Host header is required\n") : owner_->routes().answer(r);
    // A body is never read: after the answer the connection ends, since
    // what follows the header is not a next request.
    const bool body_follows = !parser_->is_done();
    if (body_follows && answer.status < 400)
      answer = plain(400, "400 bad request: the status page accepts no request body\n");
    ++requests_;
    const bool keep_alive = req.keep_alive() && !body_follows && !bad_host && requests_ < limits().max_requests;
    write(std::move(answer), keep_alive, req.method() == bhttp::verb::head);
  }

  void refuse(unsigned status, std::string text) {
    write(plain(status, std::move(text)), false, false);
  }

  void write(response answer, bool keep_alive, bool head) {
    owner_->count_response(answer.status);
    if (answer.status >= 400)
      owner_->log()->debug("http: {}: {}", peer(), answer.body.substr(0, answer.body.find('\n')));
    res_.emplace(static_cast<bhttp::status>(answer.status), 11);
    res_->set(bhttp::field::server, "fieldbridge/" FIELDBRIDGE_VERSION);
    res_->set(bhttp::field::content_type, answer.content_type);
    for (const auto& [name, value] : answer.headers) res_->set(name, value);
    res_->keep_alive(keep_alive);
    res_->body() = std::move(answer.body);
    res_->prepare_payload();
    if (head) res_->body().clear();  // Content-Length stays the GET's
    stream_.expires_after(limits().write_timeout);
    bhttp::async_write(stream_, *res_, [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
      self->on_write(ec, keep_alive);
    });
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    res_.reset();
    if (owner_->stopping() || ec) return close();
    if (keep_alive) return read_request();
    linger();
  }

  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::min(limits().request_timeout, linger_time));
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->lingered_ += n;
      if (ec || self->owner_->stopping() || self->lingered_ > linger_bytes) return self->close();
      self->drain();
    });
  }

  std::string peer() const {
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    return ec ? std::string("a client") : fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
  }

  beast::tcp_stream stream_;
  std::shared_ptr<listener> owner_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  std::array<char, 2048> discard_{};
  std::size_t lingered_ = 0;
  unsigned requests_ = 0;
};

void listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors or memory: accepting again at once would spin.
    log_->warn("http: accept on {} failed: {}; retrying in 200 ms", text_, ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds{200});
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && !self->stopped_) self->accept();
    });
    return;
  }
  if (sessions_.size() >= limits_.max_connections) {
    if (!refusing_logged_)
      log_->warn("http: {} connections are open, the most allowed; refusing more with 503", limits_.max_connections);
    refusing_logged_ = true;
    refuse(socket);
    accept();
    return;
  }
  refusing_logged_ = false;
  ++counters_.connections;
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<session>(std::move(socket), shared_from_this())->start();
  accept();
}

void listener::stop() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  const std::vector<session*> open(sessions_.begin(), sessions_.end());
  for (auto* s : open) s->close();
}

// --- server ---

server::server(asio::any_io_executor executor, const network_endpoint& listen, site routes, logger_ptr log,
               server_limits limits)
    : listener_(std::make_shared<listener>(std::move(executor), listen, std::move(routes), std::move(log), limits)) {}

server::~server() { stop(); }

void server::start() { listener_->start(); }
void server::stop() { listener_->stop(); }
tcp::endpoint server::local_endpoint() const { return listener_->local_endpoint(); }
std::size_t server::open_connections() const { return listener_->open_connections(); }
const server_counters& server::counters() const { return listener_->counters(); }

std::string server::metrics() const {
  const auto& c = listener_->counters();
  std::string out;
  const auto single = [&out](std::string_view name, std::string_view type, std::string_view help, auto value) {
    fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
  };
  single("fieldbridge_http_open_connections", "gauge", "Open connections to the status page.", open_connections());
  single("fieldbridge_http_connections_accepted_total", "counter", "Connections accepted by the status page.",
         c.connections);
  single("fieldbridge_http_connections_refused_total", "counter",
         "Connections answered 503 because the most allowed were open.", c.refused);
  single("fieldbridge_http_request_timeouts_total", "counter",
         "Connections closed because a request header did not arrive in time.", c.timeouts);
  out += "# HELP fieldbridge_http_responses_total Responses of the status page by status code.\n"
         "# TYPE fieldbridge_http_responses_total counter\n";
  for (const auto& [status, count] : listener_->responses())
    fmt::format_to(std::back_inserter(out), "fieldbridge_http_responses_total{{code=\"{}\"}} {}\n", status, count);
  return out;
}

}  // namespace fieldbridge::gateway::http
