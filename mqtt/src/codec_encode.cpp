// The wire encoder. Every packet body runs through one template twice:
// once with a counting sink (to learn the remaining length and the property
// length) and once with a writing sink, so sizes and bytes can never
// disagree. What we are about to send is validated first.
#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/topic.hpp>

#include <algorithm>
#include <cstring>

#include "codec_common.hpp"

namespace fieldbridge::mqtt {
namespace {

using boost::system::error_code;
using namespace detail;

// --- sinks -----------------------------------------------------------------

struct size_sink {
  std::size_t n = 0;
  void byte(std::uint8_t) { ++n; }
  void two(std::uint16_t) { n += 2; }
  void four(std::uint32_t) { n += 4; }
  void varint(std::uint32_t v) { n += variable_byte_integer_size(v); }
  void raw(const void*, std::size_t size) { n += size; }
};

struct write_sink {
  std::vector<std::uint8_t>& out;
  void byte(std::uint8_t v) { out.push_back(v); }
  void two(std::uint16_t v) {
    const std::uint8_t b[2] = {u8(v >> 8), u8(v)};
    out.insert(out.end(), b, b + 2);
  }
  void four(std::uint32_t v) {
    const std::uint8_t b[4] = {u8(v >> 24), u8(v >> 16), u8(v >> 8), u8(v)};
    out.insert(out.end(), b, b + 4);
  }
  void varint(std::uint32_t v) { append_variable_byte_integer(out, v); }
  void raw(const void* data, std::size_t size) {
    if (size == 0) return;
    const auto* p = static_cast<const std::uint8_t*>(data);
    out.insert(out.end(), p, p + size);
  }
};

template <class Sink>
void put_string(Sink& s, std::string_view v) {
  s.two(static_cast<std::uint16_t>(v.size()));
  s.raw(v.data(), v.size());
}

template <class Sink>
void put_binary(Sink& s, std::span<const std::uint8_t> v) {
  s.two(static_cast<std::uint16_t>(v.size()));
  s.raw(v.data(), v.size());
}

template <class Sink>
void put_property_values(Sink& s, const properties& props) {
  for (const auto& p : props) {
    s.varint(static_cast<std::uint8_t>(p.id));
    switch (type_of(p.id)) {
      case property_type::byte: s.byte(u8(std::get<std::uint32_t>(p.value))); break;
      case property_type::two_byte_integer:
        s.two(static_cast<std::uint16_t>(std::get<std::uint32_t>(p.value)));
        break;
      case property_type::four_byte_integer: s.four(std::get<std::uint32_t>(p.value)); break;
      case property_type::variable_byte_integer: s.varint(std::get<std::uint32_t>(p.value)); break;
      case property_type::utf8_string: put_string(s, std::get<std::string>(p.value)); break;
      case property_type::binary_data: put_binary(s, std::get<std::vector<std::uint8_t>>(p.value)); break;
      case property_type::utf8_string_pair: {
        const auto& pair = std::get<string_pair>(p.value);
        put_string(s, pair.name);
        put_string(s, pair.value);
        break;
      }
    }
  }
}

std::size_t property_values_size(const properties& props) {
  size_sink s;
  put_property_values(s, props);
  return s.n;
}

// Property Length followed by the properties (MQTT 5 only; callers check).
template <class Sink>
void put_properties(Sink& s, const properties& props) {
  const auto length = props.empty() ? 0 : property_values_size(props);
  s.varint(static_cast<std::uint32_t>(length));
  put_property_values(s, props);
}

// --- bodies (variable header + payload) ----------------------------------

struct body_writer {
  protocol_version v;
  bool v5() const { return v == protocol_version::v5; }

  template <class S>
  void operator()(S& s, const connect_packet& p) const {
    put_string(s, "MQTT");
    s.byte(static_cast<std::uint8_t>(p.version));
    std::uint8_t flags = 0;
    if (p.username) flags |= 0x80;
    if (p.password) flags |= 0x40;
    if (p.will) {
      flags |= 0x04;
      flags |= u8(static_cast<unsigned>(p.will->qos) << 3);
      if (p.will->retain) flags |= 0x20;
    }
    if (p.clean_start) flags |= 0x02;
    s.byte(flags);
    s.two(p.keep_alive);
    const bool connect_v5 = p.version == protocol_version::v5;
    if (connect_v5) put_properties(s, p.props);
    put_string(s, p.client_id);
    if (p.will) {
      if (connect_v5) put_properties(s, p.will->props);
      put_string(s, p.will->topic);
      put_binary(s, p.will->payload);
    }
    if (p.username) put_string(s, *p.username);
    if (p.password) put_binary(s, *p.password);
  }

  template <class S>
  void operator()(S& s, const connack_packet& p) const {
    s.byte(p.session_present ? 1 : 0);
    if (v5()) {
      s.byte(static_cast<std::uint8_t>(p.code));
      put_properties(s, p.props);
    } else {
      s.byte(to_v311_connack(p.code));
    }
  }

  // Everything of PUBLISH but the payload.
  template <class S>
  void publish_header(S& s, const publish_packet& p) const {
    put_string(s, p.topic);
    if (p.qos != qos::at_most_once) s.two(p.packet_id);
    if (v5()) put_properties(s, p.props);
  }

  template <class S>
  void operator()(S& s, const publish_packet& p) const {
    publish_header(s, p);
    s.raw(p.payload.data(), p.payload.size());
  }

  // PUBACK, PUBREC, PUBREL, PUBCOMP: the reason code and properties may be
  // left out when they are success / empty (spec 3.4.2.1).
  template <class S, class Ack>
  void ack(S& s, const Ack& p) const {
    s.two(p.packet_id);
    if (!v5()) return;
    if (p.code == reason_code::success && p.props.empty()) return;
    s.byte(static_cast<std::uint8_t>(p.code));
    if (!p.props.empty()) put_properties(s, p.props);
  }
  template <class S>
  void operator()(S& s, const puback_packet& p) const { ack(s, p); }
  template <class S>
  void operator()(S& s, const pubrec_packet& p) const { ack(s, p); }
  template <class S>
  void operator()(S& s, const pubrel_packet& p) const { ack(s, p); }
  template <class S>
  void operator()(S& s, const pubcomp_packet& p) const { ack(s, p); }

  template <class S>
  void operator()(S& s, const subscribe_packet& p) const {
    s.two(p.packet_id);
    if (v5()) put_properties(s, p.props);
    for (const auto& sub : p.subscriptions) {
      put_string(s, sub.filter);
      auto options = u8(sub.options.max_qos);
      if (v5()) {
        if (sub.options.no_local) options |= 0x04;
        if (sub.options.retain_as_published) options |= 0x08;
        options |= u8(static_cast<unsigned>(sub.options.retain_handling) << 4);
      }
      s.byte(options);
    }
  }

  template <class S>
  void operator()(S& s, const suback_packet& p) const {
    s.two(p.packet_id);
    if (v5()) put_properties(s, p.props);
    for (auto c : p.codes) s.byte(static_cast<std::uint8_t>(c));
  }

  template <class S>
  void operator()(S& s, const unsubscribe_packet& p) const {
    s.two(p.packet_id);
    if (v5()) put_properties(s, p.props);
    for (const auto& f : p.filters) put_string(s, f);
  }

  template <class S>
  void operator()(S& s, const unsuback_packet& p) const {
    s.two(p.packet_id);
    if (!v5()) return;
    put_properties(s, p.props);
    for (auto c : p.codes) s.byte(static_cast<std::uint8_t>(c));
  }

  template <class S>
  void operator()(S&, const pingreq_packet&) const {}
  template <class S>
  void operator()(S&, const pingresp_packet&) const {}

  // DISCONNECT and AUTH: empty body when success without properties.
  template <class S, class P>
  void code_and_properties(S& s, const P& p) const {
    if (!v5()) return;
    if (p.code == reason_code::success && p.props.empty()) return;
    s.byte(static_cast<std::uint8_t>(p.code));
    if (!p.props.empty()) put_properties(s, p.props);
  }
  template <class S>
  void operator()(S& s, const disconnect_packet& p) const { code_and_properties(s, p); }
  template <class S>
  void operator()(S& s, const auth_packet& p) const { code_and_properties(s, p); }
};

template <class P>
std::uint8_t first_byte(const P& p) {
  constexpr auto type = static_cast<std::uint8_t>((packet_variant_index<P> + 1) << 4);
  if constexpr (std::is_same_v<P, publish_packet>) {
    return u8(type | (p.dup ? 0x08 : 0) | (static_cast<unsigned>(p.qos) << 1) | (p.retain ? 1 : 0));
  } else if constexpr (std::is_same_v<P, pubrel_packet> || std::is_same_v<P, subscribe_packet> ||
                       std::is_same_v<P, unsubscribe_packet>) {
    return u8(type | 0x02);
  } else {
    return type;
  }
}

// --- validation of what we are about to send ---------------------------

bool string_ok(std::string_view s) { return s.size() <= 0xFFFF && valid_mqtt_utf8(s); }

bool qos_ok(qos q) { return static_cast<unsigned>(q) <= 2; }

error_code check_properties(const properties& props, packet_type type, protocol_version v,
                            property_context where = property_context::packet) {
  if (v != protocol_version::v5 || props.empty()) return {};
  return validate(props, type, where);
}

struct encode_checker {
  protocol_version v;
  bool v5() const { return v == protocol_version::v5; }

  error_code operator()(const connect_packet& p) const {
    if (p.version != protocol_version::v311 && p.version != protocol_version::v5) {
      return make_error_code(errc::unsupported_in_version);
    }
    if (!string_ok(p.client_id)) return bad_argument();
    if (p.username && !string_ok(*p.username)) return bad_argument();
    if (p.password && p.password->size() > 0xFFFF) return bad_argument();
    // 3.1.1 forbids a password without a user name (3.1.2-22) and an empty
    // client id without a clean session (3.1.3-7).
    if (p.version == protocol_version::v311 && p.password && !p.username) return bad_argument();
    if (p.version == protocol_version::v311 && p.client_id.empty() && !p.clean_start) return bad_argument();
    if (p.will) {
      if (!valid_topic_name(p.will->topic)) return make_error_code(errc::invalid_topic);
      if (!qos_ok(p.will->qos) || p.will->payload.size() > 0xFFFF) return bad_argument();
      if (auto ec = check_properties(p.will->props, packet_type::connect, p.version, property_context::will)) {
        return ec;
      }
    }
    return check_properties(p.props, packet_type::connect, p.version);
  }
  error_code operator()(const connack_packet& p) const {
    if (v5() && !reason_allowed(packet_type::connack, u8(p.code))) return bad_argument();
    return check_properties(p.props, packet_type::connack, v);
  }
  error_code operator()(const publish_packet& p) const {
    if (!valid_topic_name(p.topic)) return make_error_code(errc::invalid_topic);
    if (!qos_ok(p.qos)) return bad_argument();
    if (p.qos == qos::at_most_once ? p.dup : p.packet_id == 0) return bad_argument();
    return check_properties(p.props, packet_type::publish, v);
  }
  template <class Ack>
  error_code ack(const Ack& p, packet_type type) const {
    if (p.packet_id == 0) return bad_argument();
    if (v5() && !reason_allowed(type, u8(p.code))) return bad_argument();
    return check_properties(p.props, type, v);
  }
  error_code operator()(const puback_packet& p) const { return ack(p, packet_type::puback); }
  error_code operator()(const pubrec_packet& p) const { return ack(p, packet_type::pubrec); }
  error_code operator()(const pubrel_packet& p) const { return ack(p, packet_type::pubrel); }
  error_code operator()(const pubcomp_packet& p) const { return ack(p, packet_type::pubcomp); }
  error_code operator()(const subscribe_packet& p) const {
    if (p.packet_id == 0 || p.subscriptions.empty()) return bad_argument();
    for (const auto& s : p.subscriptions) {
      if (!valid_topic_filter(s.filter)) return make_error_code(errc::invalid_topic);
      if (!qos_ok(s.options.max_qos) || static_cast<unsigned>(s.options.retain_handling) > 2) return bad_argument();
    }
    return check_properties(p.props, packet_type::subscribe, v);
  }
  error_code operator()(const suback_packet& p) const {
    if (p.packet_id == 0 || p.codes.empty()) return bad_argument();
    for (auto c : p.codes) {
      if (v5() ? !reason_allowed(packet_type::suback, u8(c)) : !v311_suback_code_ok(c)) return bad_argument();
    }
    return check_properties(p.props, packet_type::suback, v);
  }
  error_code operator()(const unsubscribe_packet& p) const {
    if (p.packet_id == 0 || p.filters.empty()) return bad_argument();
    for (const auto& f : p.filters) {
      if (!valid_topic_filter(f)) return make_error_code(errc::invalid_topic);
    }
    return check_properties(p.props, packet_type::unsubscribe, v);
  }
  error_code operator()(const unsuback_packet& p) const {
    if (p.packet_id == 0) return bad_argument();
    if (v5()) {
      if (p.codes.empty()) return bad_argument();
      for (auto c : p.codes) {
        if (!reason_allowed(packet_type::unsuback, u8(c))) return bad_argument();
      }
    }
    return check_properties(p.props, packet_type::unsuback, v);
  }
  error_code operator()(const pingreq_packet&) const { return {}; }
  error_code operator()(const pingresp_packet&) const { return {}; }
  error_code operator()(const disconnect_packet& p) const {
    if (v5() && !reason_allowed(packet_type::disconnect, u8(p.code))) return bad_argument();
    return check_properties(p.props, packet_type::disconnect, v);
  }
  error_code operator()(const auth_packet& p) const {
    if (!v5()) return make_error_code(errc::unsupported_in_version);
    if (!reason_allowed(packet_type::auth, u8(p.code))) return bad_argument();
    return check_properties(p.props, packet_type::auth, v);
  }
};

template <class P>
protocol_version effective_version(const P& p, protocol_version v) {
  if constexpr (std::is_same_v<P, connect_packet>) {
    return p.version;
  } else {
    return v;
  }
}

template <class P>
size_result size_of(const P& p, protocol_version v) {
  v = effective_version(p, v);
  if (auto ec = encode_checker{v}(p)) return {ec, 0};
  size_sink s;
  body_writer{v}(s, p);
  if (s.n > max_remaining_length) return {make_error_code(errc::message_too_large), 0};
  return {{}, 1 + variable_byte_integer_size(static_cast<std::uint32_t>(s.n)) + s.n};
}

}  // namespace

// --- public ------------------------------------------------------------------

bool valid_mqtt_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto cont = [&](std::size_t k) { return k < n && (p[k] & 0xC0) == 0x80; };
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      if (c == 0) return false;
      ++i;
      continue;
    }
    if (c < 0xC2) return false;  // stray continuation byte or overlong 2-byte form
    if (c < 0xE0) {
      if (!cont(i + 1)) return false;
      i += 2;
      continue;
    }
    if (c < 0xF0) {
      if (!cont(i + 1) || !cont(i + 2)) return false;
      const unsigned c1 = p[i + 1];
      if (c == 0xE0 && c1 < 0xA0) return false;   // overlong
      if (c == 0xED && c1 >= 0xA0) return false;  // U+D800..U+DFFF surrogates
      i += 3;
      continue;
    }
    if (c < 0xF5) {
      if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return false;
      const unsigned c1 = p[i + 1];
      if (c == 0xF0 && c1 < 0x90) return false;   // overlong
      if (c == 0xF4 && c1 >= 0x90) return false;  // above U+10FFFF
      i += 4;
      continue;
    }
    return false;
  }
  return true;
}

std::size_t variable_byte_integer_size(std::uint32_t value) noexcept {
  if (value < 128) return 1;
  if (value < 16'384) return 2;
  if (value < 2'097'152) return 3;
  if (value <= max_variable_byte_integer) return 4;
  return 0;
}

void append_variable_byte_integer(std::vector<std::uint8_t>& out, std::uint32_t value) {
  do {
    auto b = static_cast<std::uint8_t>(value & 0x7F);
    value >>= 7;
    if (value != 0) b |= 0x80;
    out.push_back(b);
  } while (value != 0);
}

varint_result read_variable_byte_integer(std::span<const std::uint8_t> in) noexcept {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i >= in.size()) return {varint_result::status::need_more};
    const auto b = in[i];
    value |= std::uint32_t{static_cast<std::uint8_t>(b & 0x7F)} << (7 * i);
    if ((b & 0x80) == 0) {
      // Minimal form only: a last byte of 0 after the first means a shorter encoding existed.
      if (i > 0 && b == 0) return {varint_result::status::malformed};
      return {varint_result::status::ok, value, i + 1};
    }
  }
  return {varint_result::status::malformed};
}

size_result encoded_size(const packet& p, protocol_version v) {
  return std::visit([v](const auto& body) { return size_of(body, v); }, p);
}

template <class Packet>
size_result encoded_size(const Packet& p, protocol_version v) {
  return size_of(p, v);
}

template <class Packet>
boost::system::error_code encode(const Packet& p, protocol_version v, std::vector<std::uint8_t>& out) {
  v = effective_version(p, v);
  if (auto ec = encode_checker{v}(p)) return ec;
  const body_writer writer{v};
  size_sink size;
  writer(size, p);
  if (size.n > max_remaining_length) return make_error_code(errc::message_too_large);
  // Grow geometrically: an exact reserve per packet would reallocate (and
  // copy) an output buffer that gathers many packets every time.
  const auto need = out.size() + 5 + size.n;
  if (out.capacity() < need) out.reserve(std::max(need, 2 * out.capacity()));
  out.push_back(first_byte(p));
  append_variable_byte_integer(out, static_cast<std::uint32_t>(size.n));
  write_sink w{out};
  writer(w, p);
  return {};
}

template boost::system::error_code encode(const connect_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const connack_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const publish_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const puback_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const pubrec_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const pubrel_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const pubcomp_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const subscribe_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const suback_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const unsubscribe_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const unsuback_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const pingreq_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const pingresp_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const disconnect_packet&, protocol_version, std::vector<std::uint8_t>&);
template boost::system::error_code encode(const auth_packet&, protocol_version, std::vector<std::uint8_t>&);

template size_result encoded_size(const connect_packet&, protocol_version);
template size_result encoded_size(const connack_packet&, protocol_version);
template size_result encoded_size(const publish_packet&, protocol_version);
template size_result encoded_size(const puback_packet&, protocol_version);
template size_result encoded_size(const pubrec_packet&, protocol_version);
template size_result encoded_size(const pubrel_packet&, protocol_version);
template size_result encoded_size(const pubcomp_packet&, protocol_version);
template size_result encoded_size(const subscribe_packet&, protocol_version);
template size_result encoded_size(const suback_packet&, protocol_version);
template size_result encoded_size(const unsubscribe_packet&, protocol_version);
template size_result encoded_size(const unsuback_packet&, protocol_version);
template size_result encoded_size(const pingreq_packet&, protocol_version);
template size_result encoded_size(const pingresp_packet&, protocol_version);
template size_result encoded_size(const disconnect_packet&, protocol_version);
template size_result encoded_size(const auth_packet&, protocol_version);

boost::system::error_code encode(const packet& p, protocol_version v, std::vector<std::uint8_t>& out) {
  return std::visit([&](const auto& body) { return encode(body, v, out); }, p);
}

boost::system::error_code encode_publish_header(const publish_packet& p, protocol_version v,
                                                std::vector<std::uint8_t>& out) {
  if (auto ec = encode_checker{v}(p)) return ec;
  const body_writer writer{v};
  size_sink size;
  writer.publish_header(size, p);
  const auto remaining = size.n + p.payload.size();
  if (remaining > max_remaining_length) return make_error_code(errc::message_too_large);
  out.push_back(u8(0x30 | (p.dup ? 0x08 : 0) | (static_cast<unsigned>(p.qos) << 1) | (p.retain ? 1 : 0)));
  append_variable_byte_integer(out, static_cast<std::uint32_t>(remaining));
  write_sink w{out};
  writer.publish_header(w, p);
  return {};
}

}  // namespace fieldbridge::mqtt
