// The status page's routes as a pure function: a request's method, target
// and headers in, a response out (docs/operations.md "Status page and
// metrics"). No socket here; the server (server.hpp) moves the bytes.
// Not thread-safe: the site is used on the server's io_context thread only.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fieldbridge::gateway::http {

struct response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type and Content-Length
};

// What a route looks at. Views into the parsed request, valid for the call.
struct request {
  std::string_view method;         // as sent: "GET", "POST", "get" (methods are case-sensitive)
  std::string_view target;         // "/metrics", "/?token=..."
  std::string_view authorization;  // the Authorization header, "" when absent
  std::optional<std::string_view> host;  // the Host header, none when absent
};

// The documents, rendered when asked for.
struct site_content {
  std::function<std::string()> status_json;
  std::function<std::string()> metrics;
};

class site {
 public:
  // `token` empty: no token is asked for (loopback only, which the
  // configuration enforces); then a Host that is not loopback is refused,
  // so a web page in the integrator's browser cannot read the status
  // through DNS rebinding.
  // `reuse_for`: a document rendered less than this long ago is served
  // again instead of rendered anew, so that many clients asking at once
  // cost the event loop a few renderings a second, not one each.
  site(site_content content, std::string token, std::chrono::milliseconds reuse_for = {});

  response answer(const request& r) const;

 private:
  struct rendered {
    std::string text;
    std::optional<std::chrono::steady_clock::time_point> at;
  };
  bool authorized(const request& r, std::string_view query) const;
  const std::string& render(rendered& cache, const std::function<std::string()>& make) const;

  site_content content_;
  std::string token_;
  std::chrono::milliseconds reuse_for_;
  mutable rendered status_json_, metrics_;
};

// Compares in time that depends on `expected`'s length only, never on where
// `given` first differs from it.
bool constant_time_equal(std::string_view given, std::string_view expected);

// The value of `name` in a query string ("a=1&token=x"), percent-decoded
// ('+' stays '+': tokens use it); none when absent or badly escaped.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

// Whether a Host header names this machine: localhost, 127.0.0.0/8 or [::1],
// with or without a port.
bool is_loopback_host_header(std::string_view host);

// The status page (page.cpp): one self-contained HTML document.
std::string_view status_page();

}  // namespace fieldbridge::gateway::http
