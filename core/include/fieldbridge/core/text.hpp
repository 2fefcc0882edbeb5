// Text formats every module writes the same way: UTC timestamps, JSON
// string literals and values. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fieldbridge/core/reading.hpp"

namespace fieldbridge {

// "2026-11-25T21:30:00.123Z": UTC, milliseconds (floored before 1970).
std::string utc_timestamp(wall_clock::time_point ts);

// Appends `text` as a JSON string literal, quotes included; control
// characters are escaped, other bytes pass through unchanged.
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

// The value as JSON: numbers in their shortest exact form, bools true/false,
// strings quoted. nullopt for a non-finite number (JSON has none).
// `single_precision`: the value came from a float32 register, so it is printed
// with float's shortest form (230.4, not 230.39999389648438): the digits
// beyond float precision are noise the device never sent.
std::optional<std::string> json_value(const point_value& value, bool single_precision = false);
// The same, appended to `out` (for a buffer reused across readings); false,
// with `out` unchanged, for a non-finite number.
bool append_json_value(std::string& out, const point_value& value, bool single_precision = false);

// A host (name or literal IPv4/IPv6 address) and a port: an MQTT broker, an
// HTTP listener.
struct network_endpoint {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const network_endpoint&, const network_endpoint&) = default;
};
// "host:port", an IPv6 address in brackets: "[::1]:1883".
std::string to_string(const network_endpoint& endpoint);

// A network address as users write it: "host:port", "[v6-address]:port",
// "host", "[v6-address]", or a bare IPv6 address (more than one ':', so no
// port). `port` is empty when the text gave none.
struct host_and_port {
  std::string host;
  std::optional<std::uint16_t> port;
};
// nullopt with `error` in words ("missing ']' in [::1:80") when malformed:
// an empty host, a port that is not 1..65535.
std::optional<host_and_port> split_host_port(std::string_view text, std::string& error);

}  // namespace fieldbridge
