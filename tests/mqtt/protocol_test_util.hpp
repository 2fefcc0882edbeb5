// Helpers for the MQTT protocol tests: hex vectors and packet round trips.
#pragma once

#include <fieldbridge/mqtt/codec.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fieldbridge::mqtt::test {

using bytes = std::vector<std::uint8_t>;

// "30 05 00 01" -> bytes; spaces ignored.
inline bytes hex(std::string_view s) {
  bytes out;
  int nibble = -1;
  for (char c : s) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) continue;
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(nibble * 16 + v));
      nibble = -1;
    }
  }
  return out;
}

inline std::string to_hex(const bytes& b) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (auto v : b) {
    if (!out.empty()) out += ' ';
    out += digits[v >> 4];
    out += digits[v & 0x0F];
  }
  return out;
}

inline bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

inline bytes encode_or_fail(const packet& p, protocol_version v) {
  bytes out;
  const auto ec = encode(p, v, out);
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

inline packet decode_or_fail(const bytes& b, protocol_version v) {
  packet p;
  const auto ec = decode(b, v, p);
  EXPECT_FALSE(ec) << ec.message() << " decoding " << to_hex(b);
  return p;
}

inline boost::system::error_code decode_error(const bytes& b, protocol_version v) {
  packet p;
  return decode(b, v, p);
}

}  // namespace fieldbridge::mqtt::test
