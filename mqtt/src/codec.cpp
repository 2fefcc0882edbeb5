// The wire codec. Encoding runs every packet body through one template
// twice: once with a counting sink (to learn the remaining length and the
// property length) and once with a writing sink, so sizes and bytes can
// never disagree. Decoding reads from a bounds-checked cursor; any short
// read, bad flag or bad value is an errc, never an exception or a crash.
#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/topic.hpp>

#include <algorithm>
#include <cstring>

namespace fieldbridge::mqtt {
namespace {

using boost::system::error_code;

error_code malformed() { return make_error_code(errc::malformed_packet); }
error_code protocol() { return make_error_code(errc::protocol_error); }
error_code bad_argument() { return make_error_code(errc::invalid_argument); }

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

// v5 reason codes valid per packet (spec 2.4 table 2-6).
bool reason_allowed(packet_type type, std::uint8_t c) {
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

bool v311_suback_code_ok(reason_code c) {
  const auto v = static_cast<std::uint8_t>(c);
  return v <= 2 || v == 0x80;
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

// --- decoding --------------------------------------------------------------

// Bounds-checked reader over one packet. Every getter returns false on a
// short read; callers turn that into malformed_packet.
class cursor {
 public:
  explicit cursor(std::span<const std::uint8_t> in) : in_(in) {}

  std::size_t remaining() const { return in_.size() - pos_; }
  bool at_end() const { return pos_ == in_.size(); }

  bool byte(std::uint8_t& v) {
    if (remaining() < 1) return false;
    v = in_[pos_++];
    return true;
  }
  bool two(std::uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<std::uint16_t>((in_[pos_] << 8) | in_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool four(std::uint32_t& v) {
    if (remaining() < 4) return false;
    v = (std::uint32_t{in_[pos_]} << 24) | (std::uint32_t{in_[pos_ + 1]} << 16) |
        (std::uint32_t{in_[pos_ + 2]} << 8) | std::uint32_t{in_[pos_ + 3]};
    pos_ += 4;
    return true;
  }
  bool varint(std::uint32_t& v) {
    const auto r = read_variable_byte_integer(in_.subspan(pos_));
    if (r.state != varint_result::status::ok) return false;
    v = r.value;
    pos_ += r.length;
    return true;
  }
  bool bytes(std::size_t n, std::span<const std::uint8_t>& out) {
    if (remaining() < n) return false;
    out = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool string(std::string& out) {
    std::uint16_t len = 0;
    std::span<const std::uint8_t> b;
    if (!two(len) || !bytes(len, b)) return false;
    const std::string_view view(reinterpret_cast<const char*>(b.data()), b.size());
    if (!valid_mqtt_utf8(view)) return false;
    out.assign(view);
    return true;
  }
  bool binary(std::vector<std::uint8_t>& out) {
    std::uint16_t len = 0;
    std::span<const std::uint8_t> b;
    if (!two(len) || !bytes(len, b)) return false;
    out.assign(b.begin(), b.end());
    return true;
  }
  std::span<const std::uint8_t> rest() {
    auto r = in_.subspan(pos_);
    pos_ = in_.size();
    return r;
  }
  // A sub-cursor over the next n bytes (the property block).
  bool sub(std::size_t n, cursor& out) {
    std::span<const std::uint8_t> b;
    if (!bytes(n, b)) return false;
    out = cursor(b);
    return true;
  }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

error_code read_properties(cursor& c, properties& out, packet_type type,
                           property_context where = property_context::packet) {
  std::uint32_t length = 0;
  cursor block({});
  if (!c.varint(length) || !c.sub(length, block)) return malformed();
  while (!block.at_end()) {
    std::uint32_t id_value = 0;
    if (!block.varint(id_value) || id_value > 0xFF || !is_known_property(static_cast<std::uint8_t>(id_value))) {
      return malformed();
    }
    const auto id = static_cast<property_id>(id_value);
    bool ok = false;
    switch (type_of(id)) {
      case property_type::byte: {
        std::uint8_t v = 0;
        ok = block.byte(v);
        if (ok) out.add(id, std::uint32_t{v});
        break;
      }
      case property_type::two_byte_integer: {
        std::uint16_t v = 0;
        ok = block.two(v);
        if (ok) out.add(id, std::uint32_t{v});
        break;
      }
      case property_type::four_byte_integer: {
        std::uint32_t v = 0;
        ok = block.four(v);
        if (ok) out.add(id, v);
        break;
      }
      case property_type::variable_byte_integer: {
        std::uint32_t v = 0;
        ok = block.varint(v);
        if (ok) out.add(id, v);
        break;
      }
      case property_type::utf8_string: {
        std::string v;
        ok = block.string(v);
        if (ok) out.add(id, std::move(v));
        break;
      }
      case property_type::binary_data: {
        std::vector<std::uint8_t> v;
        ok = block.binary(v);
        if (ok) out.add(id, std::move(v));
        break;
      }
      case property_type::utf8_string_pair: {
        string_pair v;
        ok = block.string(v.name) && block.string(v.value);
        if (ok) out.add_user_property(std::move(v.name), std::move(v.value));
        break;
      }
    }
    if (!ok) return malformed();
  }
  return out.empty() ? error_code{} : validate(out, type, where);
}

bool valid_qos_bits(unsigned q) { return q <= 2; }

struct packet_reader {
  cursor& c;
  protocol_version v;
  std::uint8_t flags;
  bool v5() const { return v == protocol_version::v5; }

  error_code read_code(packet_type type, reason_code& out) {
    std::uint8_t code = 0;
    if (!c.byte(code)) return malformed();
    if (!reason_allowed(type, code)) return malformed();
    out = static_cast<reason_code>(code);
    return {};
  }

  error_code connect(connect_packet& p) {
    std::string name;
    std::uint8_t level = 0;
    std::uint8_t connect_flags = 0;
    if (!c.string(name) || !c.byte(level)) return malformed();
    if (name != "MQTT") return (name == "MQIsdp") ? make_error_code(errc::unsupported_in_version) : malformed();
    if (level != 4 && level != 5) return make_error_code(errc::unsupported_in_version);
    p.version = static_cast<protocol_version>(level);
    v = p.version;
    if (!c.byte(connect_flags) || !c.two(p.keep_alive)) return malformed();
    if ((connect_flags & 0x01) != 0) return malformed();
    const bool has_will = (connect_flags & 0x04) != 0;
    const unsigned will_qos = (connect_flags >> 3) & 0x03;
    const bool will_retain = (connect_flags & 0x20) != 0;
    if (!valid_qos_bits(will_qos)) return malformed();
    if (!has_will && (will_qos != 0 || will_retain)) return malformed();
    const bool has_user = (connect_flags & 0x80) != 0;
    const bool has_password = (connect_flags & 0x40) != 0;
    if (!v5() && has_password && !has_user) return malformed();
    p.clean_start = (connect_flags & 0x02) != 0;
    if (v5()) {
      if (auto ec = read_properties(c, p.props, packet_type::connect)) return ec;
    }
    if (!c.string(p.client_id)) return malformed();
    if (has_will) {
      auto& w = p.will.emplace();
      w.qos = static_cast<qos>(will_qos);
      w.retain = will_retain;
      if (v5()) {
        if (auto ec = read_properties(c, w.props, packet_type::connect, property_context::will)) return ec;
      }
      if (!c.string(w.topic) || !valid_topic_name(w.topic) || !c.binary(w.payload)) return malformed();
    }
    if (has_user && !c.string(p.username.emplace())) return malformed();
    if (has_password && !c.binary(p.password.emplace())) return malformed();
    return c.at_end() ? error_code{} : malformed();
  }

  error_code connack(connack_packet& p) {
    std::uint8_t ack_flags = 0;
    std::uint8_t code = 0;
    if (!c.byte(ack_flags) || (ack_flags & 0xFE) != 0 || !c.byte(code)) return malformed();
    p.session_present = (ack_flags & 0x01) != 0;
    if (v5()) {
      if (!reason_allowed(packet_type::connack, code)) return malformed();
      p.code = static_cast<reason_code>(code);
      if (auto ec = read_properties(c, p.props, packet_type::connack)) return ec;
    } else {
      if (code > 5) return malformed();
      p.code = from_v311_connack(code);
    }
    return c.at_end() ? error_code{} : malformed();
  }

  error_code publish(publish_packet& p) {
    const unsigned q = (flags >> 1) & 0x03;
    if (!valid_qos_bits(q)) return malformed();
    p.qos = static_cast<qos>(q);
    p.dup = (flags & 0x08) != 0;
    p.retain = (flags & 0x01) != 0;
    if (p.qos == qos::at_most_once && p.dup) return malformed();
    if (!c.string(p.topic)) return malformed();
    if (p.qos != qos::at_most_once && (!c.two(p.packet_id) || p.packet_id == 0)) return malformed();
    if (v5()) {
      if (auto ec = read_properties(c, p.props, packet_type::publish)) return ec;
    }
    // An empty topic is legal only with a Topic Alias (MQTT 5).
    if (p.topic.empty()) {
      if (!p.props.contains(property_id::topic_alias)) return v5() ? protocol() : malformed();
    } else if (p.topic.find_first_of("+#") != std::string::npos) {
      return malformed();
    }
    const auto payload = c.rest();
    p.payload.assign(payload.begin(), payload.end());
    return {};
  }

  template <class Ack>
  error_code ack(Ack& p, packet_type type) {
    if (!c.two(p.packet_id) || p.packet_id == 0) return malformed();
    if (!v5()) return c.at_end() ? error_code{} : malformed();
    if (c.at_end()) return {};
    if (auto ec = read_code(type, p.code)) return ec;
    if (c.at_end()) return {};
    if (auto ec = read_properties(c, p.props, type)) return ec;
    return c.at_end() ? error_code{} : malformed();
  }

  error_code subscribe(subscribe_packet& p) {
    if (!c.two(p.packet_id) || p.packet_id == 0) return malformed();
    if (v5()) {
      if (auto ec = read_properties(c, p.props, packet_type::subscribe)) return ec;
    }
    if (c.at_end()) return v5() ? protocol() : malformed();
    while (!c.at_end()) {
      auto& s = p.subscriptions.emplace_back();
      std::uint8_t options = 0;
      if (!c.string(s.filter) || !valid_topic_filter(s.filter) || !c.byte(options)) return malformed();
      const unsigned q = options & 0x03;
      if (!valid_qos_bits(q)) return malformed();
      s.options.max_qos = static_cast<qos>(q);
      if (!v5()) {
        if ((options & 0xFC) != 0) return malformed();
        continue;
      }
      if ((options & 0xC0) != 0) return malformed();
      const unsigned rh = (options >> 4) & 0x03;
      if (rh > 2) return protocol();
      s.options.no_local = (options & 0x04) != 0;
      s.options.retain_as_published = (options & 0x08) != 0;
      s.options.retain_handling = static_cast<retain_handling>(rh);
    }
    return {};
  }

  error_code suback(suback_packet& p) {
    if (!c.two(p.packet_id) || p.packet_id == 0) return malformed();
    if (v5()) {
      if (auto ec = read_properties(c, p.props, packet_type::suback)) return ec;
    }
    if (c.at_end()) return malformed();
    while (!c.at_end()) {
      std::uint8_t code = 0;
      c.byte(code);
      const auto rc = static_cast<reason_code>(code);
      if (v5() ? !reason_allowed(packet_type::suback, code) : !v311_suback_code_ok(rc)) return malformed();
      p.codes.push_back(rc);
    }
    return {};
  }

  error_code unsubscribe(unsubscribe_packet& p) {
    if (!c.two(p.packet_id) || p.packet_id == 0) return malformed();
    if (v5()) {
      if (auto ec = read_properties(c, p.props, packet_type::unsubscribe)) return ec;
    }
    if (c.at_end()) return v5() ? protocol() : malformed();
    while (!c.at_end()) {
      auto& f = p.filters.emplace_back();
      if (!c.string(f) || !valid_topic_filter(f)) return malformed();
    }
    return {};
  }

  error_code unsuback(unsuback_packet& p) {
    if (!c.two(p.packet_id) || p.packet_id == 0) return malformed();
    if (!v5()) return c.at_end() ? error_code{} : malformed();
    if (auto ec = read_properties(c, p.props, packet_type::unsuback)) return ec;
    if (c.at_end()) return malformed();
    while (!c.at_end()) {
      std::uint8_t code = 0;
      c.byte(code);
      if (!reason_allowed(packet_type::unsuback, code)) return malformed();
      p.codes.push_back(static_cast<reason_code>(code));
    }
    return {};
  }

  template <class P>
  error_code code_and_properties(P& p, packet_type type) {
    if (c.at_end()) return {};
    if (auto ec = read_code(type, p.code)) return ec;
    if (c.at_end()) return {};
    if (auto ec = read_properties(c, p.props, type)) return ec;
    return c.at_end() ? error_code{} : malformed();
  }
};

std::uint8_t required_flags(packet_type t) {
  switch (t) {
    case packet_type::pubrel:
    case packet_type::subscribe:
    case packet_type::unsubscribe: return 0x02;
    default: return 0x00;
  }
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

boost::system::error_code decode(std::span<const std::uint8_t> in, protocol_version v, packet& out) {
  if (in.empty()) return malformed();
  const std::uint8_t first = in[0];
  const unsigned type_value = first >> 4;
  const auto flags = static_cast<std::uint8_t>(first & 0x0F);
  if (type_value == 0) return malformed();
  const auto type = static_cast<packet_type>(type_value);
  if (type == packet_type::auth && v != protocol_version::v5) return malformed();
  if (type != packet_type::publish && flags != required_flags(type)) return malformed();
  const auto rl = read_variable_byte_integer(in.subspan(1));
  if (rl.state != varint_result::status::ok || 1 + rl.length + rl.value != in.size()) return malformed();
  cursor c(in.subspan(1 + rl.length));
  packet_reader r{c, v, flags};
  switch (type) {
    case packet_type::connect: return r.connect(out.emplace<connect_packet>());
    case packet_type::connack: return r.connack(out.emplace<connack_packet>());
    case packet_type::publish: return r.publish(out.emplace<publish_packet>());
    case packet_type::puback: return r.ack(out.emplace<puback_packet>(), type);
    case packet_type::pubrec: return r.ack(out.emplace<pubrec_packet>(), type);
    case packet_type::pubrel: return r.ack(out.emplace<pubrel_packet>(), type);
    case packet_type::pubcomp: return r.ack(out.emplace<pubcomp_packet>(), type);
    case packet_type::subscribe: return r.subscribe(out.emplace<subscribe_packet>());
    case packet_type::suback: return r.suback(out.emplace<suback_packet>());
    case packet_type::unsubscribe: return r.unsubscribe(out.emplace<unsubscribe_packet>());
    case packet_type::unsuback: return r.unsuback(out.emplace<unsuback_packet>());
    case packet_type::pingreq: out.emplace<pingreq_packet>(); return c.at_end() ? error_code{} : malformed();
    case packet_type::pingresp: out.emplace<pingresp_packet>(); return c.at_end() ? error_code{} : malformed();
    case packet_type::disconnect: {
      auto& d = out.emplace<disconnect_packet>();
      if (v != protocol_version::v5) return c.at_end() ? error_code{} : malformed();
      return r.code_and_properties(d, type);
    }
    case packet_type::auth: return r.code_and_properties(out.emplace<auth_packet>(), type);
  }
  return malformed();
}

// --- decoder -------------------------------------------------------------------

decoder::decoder(protocol_version v, std::uint32_t maximum_packet_size)
    : version_(v), maximum_packet_size_(maximum_packet_size) {}

void decoder::feed(std::span<const std::uint8_t> bytes) {
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

decoder::status decoder::next(packet& out) {
  if (error_) return status::failed;
  if (skip_remaining_ != 0) {
    const auto n = std::min(skip_remaining_, buffer_.size() - consumed_);
    consumed_ += n;
    skip_remaining_ -= n;
    if (skip_remaining_ != 0) {
      buffer_.clear();
      consumed_ = 0;
      return status::need_more;
    }
  }
  const std::span<const std::uint8_t> avail(buffer_.data() + consumed_, buffer_.size() - consumed_);
  auto need_more = [this] {
    // Keep only the incomplete packet, at the front, so the buffer does not grow.
    if (consumed_ > 0) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
      consumed_ = 0;
    }
    return status::need_more;
  };
  if (avail.size() < 2) return need_more();
  if ((avail[0] >> 4) == 0) {
    error_ = make_error_code(errc::malformed_packet);
    return status::failed;
  }
  const auto rl = read_variable_byte_integer(avail.subspan(1));
  if (rl.state == varint_result::status::need_more) return need_more();
  if (rl.state == varint_result::status::malformed) {
    error_ = make_error_code(errc::malformed_packet);
    return status::failed;
  }
  const std::size_t total = 1 + rl.length + rl.value;
  if (maximum_packet_size_ != 0 && total > maximum_packet_size_) {
    const auto type = static_cast<packet_type>(avail[0] >> 4);
    if (!skip_oversized_ || type != packet_type::publish) {
      error_ = make_error_code(errc::packet_too_large);
      return status::failed;
    }
    const auto q = static_cast<unsigned>((avail[0] >> 1) & 0x03);
    if (q == 3) {
      error_ = make_error_code(errc::malformed_packet);
      return status::failed;
    }
    const std::size_t header = 1 + rl.length;
    std::uint16_t id = 0;
    if (q != 0) {
      // Topic length, topic, packet id: at most 65,539 bytes are kept.
      if (avail.size() < header + 2) return need_more();
      const std::size_t topic_length = (std::size_t{avail[header]} << 8) | avail[header + 1];
      const std::size_t id_at = header + 2 + topic_length;
      if (id_at + 2 > total) {
        error_ = make_error_code(errc::malformed_packet);
        return status::failed;
      }
      if (avail.size() < id_at + 2) return need_more();
      id = static_cast<std::uint16_t>((avail[id_at] << 8) | avail[id_at + 1]);
      if (id == 0) {
        error_ = make_error_code(errc::malformed_packet);
        return status::failed;
      }
    }
    skipped_ = {type, static_cast<qos>(q), id, total};
    const auto n = std::min(total, avail.size());
    consumed_ += n;
    skip_remaining_ = total - n;
    return status::skipped;
  }
  if (avail.size() < total) return need_more();
  if (auto ec = decode(avail.first(total), version_, out)) {
    error_ = ec;
    return status::failed;
  }
  consumed_ += total;
  return status::ready;
}

void decoder::reset() noexcept {
  buffer_.clear();
  consumed_ = 0;
  error_ = {};
  skip_remaining_ = 0;
}

}  // namespace fieldbridge::mqtt
