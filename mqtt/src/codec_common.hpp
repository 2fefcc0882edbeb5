// What the encoder (codec_encode.cpp) and the decoder (codec_decode.cpp)
// share: error shorthands and the packet variant's index of a struct.
#pragma once

#include <fieldbridge/mqtt/codec.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <cstdint>
#include <type_traits>
#include <variant>

namespace fieldbridge::mqtt::detail {

inline boost::system::error_code malformed() { return make_error_code(errc::malformed_packet); }
inline boost::system::error_code protocol() { return make_error_code(errc::protocol_error); }
inline boost::system::error_code bad_argument() { return make_error_code(errc::invalid_argument); }

constexpr std::uint8_t u8(auto v) { return static_cast<std::uint8_t>(v); }

// Position of a packet struct in the `packet` variant (== its type value - 1).
template <class P, std::size_t I = 0>
constexpr std::size_t variant_index_of() {
  if constexpr (std::is_same_v<std::variant_alternative_t<I, packet>, P>) {
    return I;
  } else {
    return variant_index_of<P, I + 1>();
  }
}
template <class P>
constexpr std::size_t packet_variant_index = variant_index_of<P>();

// v5 reason codes valid per packet (spec 2.4 table 2-6).
inline bool reason_allowed(packet_type type, std::uint8_t c) {
  static constexpr std::uint8_t connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                             0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
  static constexpr std::uint8_t puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
  static constexpr std::uint8_t pubrel[] = {0x00, 0x92};
  static constexpr std::uint8_t suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
  static constexpr std::uint8_t unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
  static constexpr std::uint8_t disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                                0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                                0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
  static constexpr std::uint8_t auth[] = {0x00, 0x18, 0x19};
  auto in = [c](std::span<const std::uint8_t> set) { return std::find(set.begin(), set.end(), c) != set.end(); };
  switch (type) {
    case packet_type::connack: return in(connack);
    case packet_type::puback:
    case packet_type::pubrec: return in(puback);
    case packet_type::pubrel:
    case packet_type::pubcomp: return in(pubrel);
    case packet_type::suback: return in(suback);
    case packet_type::unsuback: return in(unsuback);
    case packet_type::disconnect: return in(disconnect);
    case packet_type::auth: return in(auth);
    default: return false;
  }
}

inline bool v311_suback_code_ok(reason_code c) {
  const auto v = static_cast<std::uint8_t>(c);
  return v <= 2 || v == 0x80;
}

}  // namespace fieldbridge::mqtt::detail
