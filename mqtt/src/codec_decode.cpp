// The wire decoder: one packet from a bounds-checked cursor, and the
// incremental decoder over a byte stream. Any short read, bad flag or bad
// value is an errc, never an exception or a crash.
#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/topic.hpp>

#include <algorithm>
#include <cstring>

#include "codec_common.hpp"

namespace fieldbridge::mqtt {
namespace {

using boost::system::error_code;
using namespace detail;

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
