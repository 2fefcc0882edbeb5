// The status page's routes as a pure function (http/routes.hpp): paths,
// methods, the token in a header or the query, the Host check without a
// token, and the helpers (constant-time compare, query parameters).
#include "http/routes.hpp"

#include <string>

#include <gtest/gtest.h>

namespace fieldbridge::test {
namespace {

using gateway::http::request;
using gateway::http::response;
using gateway::http::site;

const std::string token = "0123456789abcdef0123456789abcdef";

site make_site(std::string t = {}) {
  return site({[] { return std::string(R"({"gateway":"gw"})"); }, [] { return std::string("fieldbridge_up 1\n"); }},
              std::move(t));
}

std::string header(const response& r, std::string_view name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return "";
}

response get(const site& s, std::string_view target, std::string_view authorization = {},
             std::optional<std::string_view> host = "127.0.0.1:8080", std::string_view method = "GET") {
  return s.answer(request{method, target, authorization, host});
}

TEST(http_routes, serve_metrics_status_and_the_page) {
  const auto s = make_site();
  const auto metrics = get(s, "/metrics");
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body, "fieldbridge_up 1\n");
  const auto status = get(s, "/status.json?x=1");
  EXPECT_EQ(status.status, 200u);
  EXPECT_EQ(status.content_type, "application/json");
  EXPECT_EQ(status.body, R"({"gateway":"gw"})");
  const auto page = get(s, "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("fetch(\"status.json\""), std::string::npos);
  // Self-contained: nothing is loaded from elsewhere, and the policy says so.
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(page.body.find("src="), std::string::npos);
  EXPECT_NE(header(page, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(header(page, "Cache-Control"), "no-store");
  EXPECT_EQ(header(page, "Referrer-Policy"), "no-referrer");
}

TEST(http_routes, unknown_path_is_404_and_other_methods_are_405) {
  const auto s = make_site();
  EXPECT_EQ(get(s, "/metrics/").status, 404u);
  EXPECT_EQ(get(s, "/config").status, 404u);
  EXPECT_EQ(get(s, "/../etc/passwd").status, 404u);
  for (const auto* method : {"POST", "PUT", "DELETE", "OPTIONS", "get", "PATCH"}) {
    const auto r = get(s, "/metrics", {}, "127.0.0.1", method);
    EXPECT_EQ(r.status, 405u) << method;
    EXPECT_EQ(header(r, "Allow"), "GET, HEAD") << method;
  }
  EXPECT_EQ(get(s, "/", {}, "127.0.0.1", "HEAD").status, 200u);
  EXPECT_EQ(get(s, "http://127.0.0.1/metrics").status, 400u);
  EXPECT_EQ(get(s, "*").status, 400u);
}

TEST(http_routes, without_a_token_only_a_loopback_host_is_served) {
  const auto s = make_site();
  for (const auto* host : {"localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:8080", "[::1]:8080", "[::1]"})
    EXPECT_EQ(get(s, "/metrics", {}, host).status, 200u) << host;
  EXPECT_EQ(get(s, "/metrics", {}, std::nullopt).status, 200u);  // HTTP/1.0 without Host
  // A name that a web page got resolved to 127.0.0.1 (DNS rebinding).
  for (const auto* host : {"evil.example", "evil.example:8080", "192.168.1.5:8080", "127.0.0.1:80x", "[::1",
                           "localhost.evil.example", ""})
    EXPECT_EQ(get(s, "/status.json", {}, host).status, 403u) << host;
}

TEST(http_routes, a_configured_token_is_required_in_the_header_or_the_query) {
  const auto s = make_site(token);
  const auto missing = get(s, "/metrics", {}, "gw.example:8080");
  EXPECT_EQ(missing.status, 401u);
  EXPECT_EQ(header(missing, "WWW-Authenticate"), "Bearer realm=\"fieldbridge\"");
  EXPECT_EQ(missing.body.find(token), std::string::npos);
  const auto wrong = get(s, "/metrics", "Bearer " + token.substr(1) + "0", "gw.example:8080");
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(header(wrong, "WWW-Authenticate"), "Bearer realm=\"fieldbridge\", error=\"invalid_token\"");
  EXPECT_EQ(get(s, "/metrics", "Bearer " + token + "x", "gw.example").status, 401u);
  EXPECT_EQ(get(s, "/metrics", "Bearer " + token.substr(0, 31), "gw.example").status, 401u);
  EXPECT_EQ(get(s, "/metrics", "Basic " + token, "gw.example").status, 401u);
  EXPECT_EQ(get(s, "/metrics", "Bearer ", "gw.example").status, 401u);
  EXPECT_EQ(get(s, "/?token=" + token.substr(2), {}, "gw.example").status, 401u);
  EXPECT_EQ(get(s, "/?token=", {}, "gw.example").status, 401u);
  EXPECT_EQ(get(s, "/?token=%zz", {}, "gw.example").status, 401u);

  EXPECT_EQ(get(s, "/metrics", "Bearer " + token, "gw.example:8080").status, 200u);
  EXPECT_EQ(get(s, "/metrics", "bearer " + token, "gw.example:8080").status, 200u);  // the scheme is case-insensitive
  EXPECT_EQ(get(s, "/?token=" + token, {}, "gw.example:8080").status, 200u);
  EXPECT_EQ(get(s, "/status.json?a=b&token=" + token + "&c", {}, "10.0.0.2").status, 200u);
  // With a token, the Host does not matter: the token is the guard.
  EXPECT_EQ(get(s, "/status.json", "Bearer " + token, std::nullopt).status, 200u);
  // Not found only for those who may know.
  EXPECT_EQ(get(s, "/nothing").status, 401u);
  EXPECT_EQ(get(s, "/nothing", "Bearer " + token).status, 404u);
}

// Many clients at once cost a few renderings a second: within reuse_for
// the same text is served again; each document has its own.
TEST(http_routes, a_document_is_rendered_again_only_after_reuse_for) {
  int status_renders = 0, metrics_renders = 0;
  const site s({[&] { return std::to_string(++status_renders); }, [&] { return std::to_string(++metrics_renders); }},
               {}, std::chrono::hours{1});
  EXPECT_EQ(get(s, "/status.json").body, "1");
  EXPECT_EQ(get(s, "/status.json").body, "1");
  EXPECT_EQ(get(s, "/metrics").body, "1");
  EXPECT_EQ(get(s, "/metrics").body, "1");
  EXPECT_EQ(status_renders, 1);
  const site fresh({[&] { return std::to_string(++status_renders); }, [] { return std::string(); }}, {});
  EXPECT_EQ(get(fresh, "/status.json").body, "2");
  EXPECT_EQ(get(fresh, "/status.json").body, "3");  // reuse_for 0: every request renders
}

TEST(http_routes, constant_time_equal_and_query_parameters) {
  using gateway::http::constant_time_equal;
  using gateway::http::query_parameter;
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("abd", "abc"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("abcd", "abc"));
  EXPECT_FALSE(constant_time_equal("", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", ""));
  EXPECT_FALSE(constant_time_equal(std::string("ab\0", 3), "ab"));

  EXPECT_EQ(query_parameter("token=a%2Bb+c", "token"), "a+b+c");
  EXPECT_EQ(query_parameter("x=1&token=t&y", "token"), "t");
  EXPECT_EQ(query_parameter("tokens=1", "token"), std::nullopt);
  EXPECT_EQ(query_parameter("token", "token"), "");
  EXPECT_EQ(query_parameter("token=%4", "token"), std::nullopt);
  EXPECT_EQ(query_parameter("", "token"), std::nullopt);
}

}  // namespace
}  // namespace fieldbridge::test
