// The status page's listener (http/server.hpp) on the test's own io_context,
// with raw TCP clients on the same io_context: keep-alive, HEAD, and what a
// hostile or broken client sends (malformed request lines, huge headers, a
// body, a slowloris, too many connections), each answered 4xx/503 or closed,
// and stop() with connections open.
#include "http/server.hpp"

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

namespace fieldbridge::test {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
namespace http = gateway::http;

// A client that connects, writes what it is given, and keeps reading into
// `received` until the server closes (then `closed` is set and it closes
// its end too).
class raw_client {
 public:
  raw_client(asio::io_context& io, tcp::endpoint endpoint) : socket_(io) {
    socket_.async_connect(endpoint, [this](boost::system::error_code ec) {
      connected_ = !ec;
      connect_error_ = ec;
      if (!ec) read();
    });
  }
  void send(std::string bytes) {
    auto data = std::make_shared<std::string>(std::move(bytes));
    asio::async_write(socket_, asio::buffer(*data), [this, data](boost::system::error_code ec, std::size_t) {
      if (ec) write_error_ = ec;
    });
  }
  bool connected() const { return connected_; }
  bool closed() const { return closed_; }
  const std::string& received() const { return received_; }
  // The status codes of every response so far, in order.
  std::vector<int> statuses() const {
    static const std::regex status_line(R"(HTTP/1\.1 (\d{3}) )");
    std::vector<int> out;
    for (std::sregex_iterator it(received_.begin(), received_.end(), status_line), end; it != end; ++it)
      out.push_back(std::stoi((*it)[1]));
    return out;
  }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(chunk_), [this](boost::system::error_code ec, std::size_t n) {
      received_.append(chunk_.data(), n);
      if (ec) {  // closed by the server: close our end too, as a browser does
        closed_ = true;
        close();
        return;
      }
      read();
    });
  }

  tcp::socket socket_;
  std::array<char, 4096> chunk_{};
  std::string received_;
  bool connected_ = false;
  bool closed_ = false;
  boost::system::error_code connect_error_, write_error_;
};

class HttpServer : public ::testing::Test {
 protected:
  void start(http::server_limits limits = {}, std::string token = {}) {
    http::site routes({[this] { return status_json_; }, [this] { return std::string("fieldbridge_up 1\n"); }},
                      std::move(token));
    server_ = std::make_unique<http::server>(io_.get_executor(), network_endpoint{"127.0.0.1", 0}, std::move(routes),
                                             make_null_logger(), limits);
    server_->start();
  }
  tcp::endpoint endpoint() const { return server_->local_endpoint(); }
  std::unique_ptr<raw_client> connect() {
    auto c = std::make_unique<raw_client>(io_, endpoint());
    EXPECT_TRUE(run_until([&] { return c->connected(); }, 5s));
    return c;
  }
  bool run_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(5ms);
    }
    return true;
  }
  static std::string get(std::string_view target, std::string_view extra = {}) {
    return fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n{}\r\n", target, extra);
  }

  asio::io_context io_;
  std::string status_json_ = R"({"gateway":"gw"})";
  std::unique_ptr<http::server> server_;
};

TEST_F(HttpServer, answers_several_requests_on_one_kept_alive_connection) {
  start();
  auto c = connect();
  c->send(get("/metrics") + get("/status.json"));  // pipelined
  ASSERT_TRUE(run_until([&] { return c->statuses().size() == 2; })) << c->received();
  EXPECT_EQ(c->statuses(), (std::vector<int>{200, 200}));
  EXPECT_NE(c->received().find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(c->received().find("\r\n\r\nfieldbridge_up 1\n"), std::string::npos);
  EXPECT_NE(c->received().find("Content-Type: application/json\r\nCache-Control: no-store"), std::string::npos)
      << c->received();
  EXPECT_FALSE(c->closed());
  c->send("HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_TRUE(run_until([&] { return c->statuses().size() == 3; })) << c->received();
  const auto head = c->received().substr(c->received().rfind("HTTP/1.1 200"));
  EXPECT_NE(head.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_TRUE(std::regex_search(head, std::regex("Content-Length: [1-9][0-9]{3,}\r\n"))) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "HEAD has no body: " << head;
  EXPECT_EQ(server_->open_connections(), 1u);
  EXPECT_EQ(server_->counters().connections, 1u);
}

TEST_F(HttpServer, connection_close_and_http_1_0_end_the_connection_after_the_answer) {
  start();
  auto a = connect();
  a->send(get("/metrics", "Connection: close\r\n"));
  auto b = connect();
  b->send("GET /metrics HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(run_until([&] { return a->closed() && b->closed(); })) << a->received() << b->received();
  EXPECT_EQ(a->statuses(), std::vector<int>{200});
  EXPECT_EQ(b->statuses(), std::vector<int>{200});
  EXPECT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServer, malformed_request_lines_are_400_and_closed) {
  start();
  for (const auto* bad : {"GARBAGE\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/9.x\r\n\r\n",
                          "GET  /metrics HTTP/1.1\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                          "GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n"}) {
    auto c = connect();
    c->send(bad);
    ASSERT_TRUE(run_until([&] { return c->closed(); })) << bad << ": " << c->received();
    EXPECT_EQ(c->statuses(), std::vector<int>{400}) << bad << ": " << c->received();
    EXPECT_NE(c->received().find("Connection: close"), std::string::npos);
  }
  // And the server goes on.
  auto c = connect();
  c->send(get("/metrics"));
  ASSERT_TRUE(run_until([&] { return !c->statuses().empty(); }));
  EXPECT_EQ(c->statuses(), std::vector<int>{200});
}

TEST_F(HttpServer, a_header_beyond_the_limit_is_431_and_closed) {
  start();
  auto c = connect();
  c->send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + std::string(9000, 'a') + "\r\n\r\n");
  ASSERT_TRUE(run_until([&] { return c->closed(); })) << c->received();
  EXPECT_EQ(c->statuses(), std::vector<int>{431});
  // One that never ends: a megabyte of header lines. Refused all the same,
  // after at most twice the limit was buffered.
  auto d = connect();
  std::string endless = "GET / HTTP/1.1\r\n";
  while (endless.size() < (1u << 20)) endless += "X-A: " + std::string(100, 'b') + "\r\n";
  d->send(endless);
  ASSERT_TRUE(run_until([&] { return d->closed(); })) << d->received();
  EXPECT_EQ(d->statuses(), std::vector<int>{431});
  const auto header_at_limit = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + std::string(8000, 'a') + "\r\n\r\n";
  auto e = connect();
  e->send(header_at_limit);
  ASSERT_TRUE(run_until([&] { return !e->statuses().empty(); })) << e->received();
  EXPECT_EQ(e->statuses(), std::vector<int>{200});
}

TEST_F(HttpServer, post_is_405_without_reading_its_body_and_a_get_with_a_body_is_400) {
  start();
  auto c = connect();
  c->send("POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\nxxxx");
  ASSERT_TRUE(run_until([&] { return c->closed(); })) << c->received();
  EXPECT_EQ(c->statuses(), std::vector<int>{405});
  EXPECT_NE(c->received().find("Allow: GET, HEAD\r\n"), std::string::npos);
  auto d = connect();
  d->send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  ASSERT_TRUE(run_until([&] { return d->closed(); })) << d->received();
  EXPECT_EQ(d->statuses(), std::vector<int>{400});
  auto e = connect();
  e->send(get("/nothing") + get("/metrics"));
  ASSERT_TRUE(run_until([&] { return e->statuses().size() == 2; })) << e->received();
  EXPECT_EQ(e->statuses(), (std::vector<int>{404, 200}));  // a 404 keeps the connection
}

TEST_F(HttpServer, a_slowloris_is_closed_at_the_request_deadline) {
  http::server_limits limits;
  limits.request_timeout = 300ms;
  start(limits);
  auto c = connect();
  const std::string request = get("/metrics");
  // A byte every 50 ms: each read_some succeeds, the whole header would take
  // a second; the deadline is for the whole header.
  std::size_t sent = 0;
  asio::steady_timer drip(io_);
  std::function<void()> next = [&] {
    if (sent >= request.size() || c->closed()) return;
    c->send(request.substr(sent++, 1));
    drip.expires_after(50ms);
    drip.async_wait([&](boost::system::error_code ec) {
      if (!ec) next();
    });
  };
  const auto began = std::chrono::steady_clock::now();
  next();
  ASSERT_TRUE(run_until([&] { return c->closed(); }, 3s));
  const auto took = std::chrono::steady_clock::now() - began;
  drip.cancel();
  EXPECT_TRUE(c->statuses().empty()) << c->received();
  EXPECT_LT(sent, request.size());
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 1500ms);
  EXPECT_EQ(server_->counters().timeouts, 1u);
  // A connection that sends nothing is closed at the same deadline, not
  // counted as a timeout (a browser's idle keep-alive connection).
  auto idle = connect();
  ASSERT_TRUE(run_until([&] { return idle->closed(); }, 3s));
  EXPECT_EQ(server_->counters().timeouts, 1u);
  EXPECT_TRUE(run_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(HttpServer, a_client_that_does_not_read_is_closed_at_the_write_deadline) {
  http::server_limits limits;
  limits.write_timeout = 300ms;
  status_json_ = std::string(32u << 20, 'x');  // more than the socket buffers of both ends take
  start(limits);
  // A raw socket that never reads, with a small receive buffer.
  tcp::socket idle(io_);
  idle.open(tcp::v4());
  idle.set_option(asio::socket_base::receive_buffer_size(4096));
  idle.connect(endpoint());
  const std::string request = get("/status.json");
  asio::write(idle, asio::buffer(request));
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 1; }));
  const auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 0; }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - began, 2s);
}

TEST_F(HttpServer, connections_beyond_the_limit_get_503_and_are_closed) {
  http::server_limits limits;
  limits.max_connections = 3;
  start(limits);
  std::vector<std::unique_ptr<raw_client>> open;
  for (int i = 0; i < 3; ++i) open.push_back(connect());
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 3; }));
  auto extra = connect();
  ASSERT_TRUE(run_until([&] { return extra->closed(); })) << extra->received();
  EXPECT_EQ(extra->statuses(), std::vector<int>{503});
  EXPECT_NE(extra->received().find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_EQ(server_->counters().refused, 1u);
  // Those that are open are still served; once one goes, a new one is.
  open[0]->send(get("/metrics"));
  ASSERT_TRUE(run_until([&] { return !open[0]->statuses().empty(); }));
  open[1]->close();
  ASSERT_TRUE(run_until([&] { return server_->open_connections() == 2; }));
  auto next = connect();
  next->send(get("/status.json"));
  ASSERT_TRUE(run_until([&] { return !next->statuses().empty(); })) << next->received();
  EXPECT_EQ(next->statuses(), std::vector<int>{200});
  const auto metrics = server_->metrics();
  EXPECT_NE(metrics.find("fieldbridge_http_connections_refused_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("fieldbridge_http_responses_total{code=\"503\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("fieldbridge_http_responses_total{code=\"200\"} 2\n"), std::string::npos) << metrics;
}

TEST_F(HttpServer, a_wrong_or_missing_token_is_401) {
  start({}, "0123456789abcdef0123456789abcdef");
  auto c = connect();
  c->send(get("/metrics") + get("/metrics", "Authorization: Bearer 0123456789abcdef0123456789abcdeX\r\n") +
          get("/metrics", "Authorization: Bearer 0123456789abcdef0123456789abcdef\r\n") +
          get("/status.json?token=0123456789abcdef0123456789abcdef"));
  ASSERT_TRUE(run_until([&] { return c->statuses().size() == 4; })) << c->received();
  EXPECT_EQ(c->statuses(), (std::vector<int>{401, 401, 200, 200}));
  EXPECT_NE(c->received().find("WWW-Authenticate: Bearer realm=\"fieldbridge\"\r\n"), std::string::npos);
}

TEST_F(HttpServer, an_http_1_1_request_needs_exactly_one_host) {
  start();
  auto c = connect();
  c->send("GET /metrics HTTP/1.1\r\n\r\n");
  auto d = connect();
  d->send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n");
  ASSERT_TRUE(run_until([&] { return c->statuses().size() == 1 && d->statuses().size() == 1; })) << c->received();
  EXPECT_EQ(c->statuses(), std::vector<int>{400});
  EXPECT_EQ(d->statuses(), std::vector<int>{400});
}

TEST_F(HttpServer, keep_alive_ends_after_max_requests) {
  http::server_limits limits;
  limits.max_requests = 2;
  start(limits);
  auto c = connect();
  c->send(get("/metrics") + get("/metrics") + get("/metrics"));
  ASSERT_TRUE(run_until([&] { return c->closed(); })) << c->received();
  EXPECT_EQ(c->statuses(), (std::vector<int>{200, 200}));
  EXPECT_EQ(c->received().find("Connection: close"), c->received().rfind("Connection: close"));
  EXPECT_GT(c->received().find("Connection: close"), c->received().find("HTTP/1.1 200", 1));
}

TEST_F(HttpServer, stop_closes_every_connection_so_run_returns) {
  start();
  auto idle = connect();
  auto partial = connect();
  partial->send("GET /metr");
  auto kept = connect();
  kept->send(get("/metrics"));
  ASSERT_TRUE(run_until([&] { return kept->statuses().size() == 1 && server_->open_connections() == 3; }));
  const auto listening = endpoint();
  server_->stop();
  ASSERT_TRUE(run_until([&] { return idle->closed() && partial->closed() && kept->closed(); }, 2s));
  EXPECT_EQ(server_->open_connections(), 0u);
  // The clients are done too: nothing of the server is left on the io_context.
  idle.reset();
  partial.reset();
  kept.reset();
  io_.restart();
  const auto began = std::chrono::steady_clock::now();
  io_.run();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 1s);
  // And no new connection is accepted.
  tcp::socket probe(io_);
  boost::system::error_code ec;
  probe.connect(listening, ec);
  EXPECT_TRUE(ec) << "still accepting after stop()";
}

TEST(HttpServerStart, a_port_in_use_is_a_start_up_failure) {
  asio::io_context io;
  http::site routes({[] { return std::string(); }, [] { return std::string(); }}, {});
  http::server first(io.get_executor(), network_endpoint{"127.0.0.1", 0}, routes, make_null_logger());
  const auto port = first.local_endpoint().port();
  try {
    http::server second(io.get_executor(), network_endpoint{"127.0.0.1", port}, routes, make_null_logger());
    FAIL() << "bound twice";
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("http: cannot listen on 127.0.0.1:{}: Address already in use", port));
  }
}

}  // namespace
}  // namespace fieldbridge::test
