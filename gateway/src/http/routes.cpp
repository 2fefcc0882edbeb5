#include "http/routes.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "fieldbridge/config/config.hpp"

namespace fieldbridge::gateway::http {

namespace {

constexpr std::string_view text_plain = "text/plain; charset=utf-8";

response plain(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.content_type = std::string(text_plain);
  r.body = std::move(body);
  return r;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_digit(text[i + 1]);
    const int low = hex_digit(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

// The page is the only HTML: nothing from elsewhere may load into it, and
// the token a URL may carry goes nowhere.
void add_common_headers(response& r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

}  // namespace

bool constant_time_equal(std::string_view given, std::string_view expected) {
  // Every byte of `expected` is looked at whatever `given` holds; a
  // different length only sets a bit.
  std::uint8_t difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto g = i < given.size() ? static_cast<std::uint8_t>(given[i]) : std::uint8_t{0};
    difference = static_cast<std::uint8_t>(difference | (g ^ static_cast<std::uint8_t>(expected[i])));
  }
  return difference == 0;
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
  return std::nullopt;
}

bool is_loopback_host_header(std::string_view host) {
  std::string_view name = host;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    port = host.substr(close + 1);
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon);
  }
  if (!port.empty()) {
    if (port.front() != ':' || port.size() < 2 || port.size() > 6) return false;
    if (!std::all_of(port.begin() + 1, port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  }
  return config::is_loopback(name);
}

site::site(site_content content, std::string token, std::chrono::milliseconds reuse_for)
    : content_(std::move(content)), token_(std::move(token)), reuse_for_(reuse_for) {}

const std::string& site::render(rendered& cache, const std::function<std::string()>& make) const {
  const auto now = std::chrono::steady_clock::now();
  if (!cache.at || now - *cache.at >= reuse_for_) {
    cache.text = make();
    cache.at = now;
  }
  return cache.text;
}

bool site::authorized(const request& r, std::string_view query) const {
  if (token_.empty()) return true;
  constexpr std::string_view bearer = "Bearer ";
  const auto& a = r.authorization;
  const auto same_letter = [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  };
  // The scheme is case-insensitive (RFC 9110 11.1), the token is not.
  if (a.size() > bearer.size() && std::equal(bearer.begin(), bearer.end(), a.begin(), same_letter))
    return constant_time_equal(a.substr(bearer.size()), token_);
  if (const auto given = query_parameter(query, "token")) return constant_time_equal(*given, token_);
  return false;
}

response site::answer(const request& r) const {
  response out;
  if (r.method != "GET" && r.method != "HEAD") {
    out = plain(405, "405 method not allowed: the status page is read-only (GET and HEAD)\n");
    out.headers.emplace_back("Allow", "GET, HEAD");
  } else if (r.target.empty() || r.target.front() != '/') {
    out = plain(400, "400 bad request: the target must be a path (/, /status.json, /metrics)\n");
  } else {
    const auto question = r.target.find('?');
    const auto path = r.target.substr(0, question);
    const auto query = question == std::string_view::npos ? std::string_view{} : r.target.substr(question + 1);
    if (token_.empty() && r.host && !is_loopback_host_header(*r.host)) {
      out = plain(403, "403 forbidden: without http.token_file only localhost, 127.0.0.1 and [::1] are served\n");
    } else if (!authorized(r, query)) {
      out = plain(401, "401 unauthorized: send the token as 'Authorization: Bearer <token>' or '?token=<token>'\n");
      out.headers.emplace_back("WWW-Authenticate", r.authorization.empty() && !query_parameter(query, "token")
                                                       ? "Bearer realm=\"fieldbridge\""
                                                       : "Bearer realm=\"fieldbridge\", error=\"invalid_token\"");
    } else if (path == "/metrics") {
      out.content_type = "text/plain; version=0.0.4; charset=utf-8";
      out.body = render(metrics_, content_.metrics);
    } else if (path == "/status.json") {
      out.content_type = "application/json";
      out.body = render(status_json_, content_.status_json);
    } else if (path == "/" || path == "/index.html") {
      out.content_type = "text/html; charset=utf-8";
      out.body = std::string(status_page());
      out.headers.emplace_back("Content-Security-Policy",
                               "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'");
    } else {
      out = plain(404, "404 not found: the status page serves /, /status.json and /metrics\n");
    }
  }
  add_common_headers(out);
  return out;
}

}  // namespace fieldbridge::gateway::http
