// The MQTT wire codec: packets to bytes and bytes to packets, for 3.1.1 and
// 5.0, with strict checks (minimal 1-4 byte remaining length, well-formed
// UTF-8 without U+0000, reserved flags, property placement, packet ids).
// Errors are errc values; disconnect_reason() gives the code for DISCONNECT.
#pragma once

#include <fieldbridge/mqtt/packet.hpp>
#include <fieldbridge/mqtt/reason_code.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace fieldbridge::mqtt {

// Largest remaining length a 4-byte variable byte integer can carry.
inline constexpr std::uint32_t max_remaining_length = 268'435'455;
// Largest variable byte integer (same bound, used by properties).
inline constexpr std::uint32_t max_variable_byte_integer = 268'435'455;

// Well-formed UTF-8 as MQTT requires (spec 1.5.4): no overlong forms, no
// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no U+0000.
bool valid_mqtt_utf8(std::string_view s) noexcept;

// Bytes of a variable byte integer (1-4), 0 if value > max_variable_byte_integer.
std::size_t variable_byte_integer_size(std::uint32_t value) noexcept;
// Appends the minimal encoding; value must be <= max_variable_byte_integer.
void append_variable_byte_integer(std::vector<std::uint8_t>& out, std::uint32_t value);

// Result of reading a variable byte integer from the start of `in`.
struct varint_result {
  enum class status : std::uint8_t { ok, need_more, malformed } state;
  std::uint32_t value = 0;
  std::size_t length = 0;  // bytes consumed when ok
};
// Strict: at most 4 bytes, and the minimal form only (0x80 0x00 is malformed).
varint_result read_variable_byte_integer(std::span<const std::uint8_t> in) noexcept;

// Size of the whole packet on the wire (fixed header included), or the
// error encode() would give (string > 65535 bytes, remaining length above
// 268435455, invalid topic, AUTH on 3.1.1, ...).
struct size_result {
  boost::system::error_code error;
  std::size_t size = 0;
};
size_result encoded_size(const packet& p, protocol_version v);
// The same for one concrete packet struct (no variant built, no copy).
template <class Packet>
size_result encoded_size(const Packet& p, protocol_version v);

// Appends the encoding of `p` to `out`. For CONNECT the packet's own version
// is used. For 3.1.1, MQTT 5-only fields (properties, reason codes other than
// the CONNACK/SUBACK ones) are left out; AUTH is errc::unsupported_in_version.
// Validates what a sender must not get wrong: topic names/filters, UTF-8,
// QoS vs packet id, properties allowed in the packet. On error `out` is left
// as it was.
boost::system::error_code encode(const packet& p, protocol_version v, std::vector<std::uint8_t>& out);

// The same for one concrete packet struct, without building a variant
// (no copy of a PUBLISH payload). Instantiated for the 15 packet structs.
template <class Packet>
boost::system::error_code encode(const Packet& p, protocol_version v, std::vector<std::uint8_t>& out);

// Appends PUBLISH's fixed and variable header only (everything but the
// payload, with the remaining length counting payload.size()), so a sender
// can scatter-write header and payload without copying the payload.
boost::system::error_code encode_publish_header(const publish_packet& p, protocol_version v,
                                                std::vector<std::uint8_t>& out);

// Decodes exactly one whole packet (fixed header included) from `in`; `in`
// must hold the packet and nothing else. For CONNECT the protocol level in
// the packet decides the version (3.1.1 or 5) and `v` is ignored; any other
// level is errc::unsupported_in_version (reason 0x84).
boost::system::error_code decode(std::span<const std::uint8_t> in, protocol_version v, packet& out);

// Incremental decoder for a byte stream: feed() what the socket gave, then
// call next() until it says need_more (ready: `out` holds a packet; failed:
// see error()). Not thread-safe; one per connection.
class decoder {
 public:
  // skipped: only with set_skip_oversized(true); see skipped().
  enum class status : std::uint8_t { ready, need_more, failed, skipped };

  // A PUBLISH above the maximum packet size, skipped instead of buffered.
  struct skipped_packet {
    packet_type type = packet_type::publish;
    mqtt::qos qos = qos::at_most_once;
    std::uint16_t packet_id = 0;  // for QoS 1/2, so the owner can acknowledge it
    std::size_t size = 0;         // the whole packet, fixed header included
  };

  // maximum_packet_size: the limit we announced (0 = protocol maximum);
  // a bigger packet is errc::packet_too_large as soon as its header arrives.
  explicit decoder(protocol_version v = protocol_version::v5, std::uint32_t maximum_packet_size = 0);

  void set_version(protocol_version v) noexcept { version_ = v; }
  protocol_version version() const noexcept { return version_; }
  void set_maximum_packet_size(std::uint32_t max) noexcept { maximum_packet_size_ = max; }
  // Instead of failing on a PUBLISH above the maximum packet size, read its
  // header up to the packet id, report status::skipped, and discard the
  // rest as it arrives without keeping it (for MQTT 3.1.1, which cannot
  // announce the limit). Other packets above the limit still fail.
  void set_skip_oversized(bool skip) noexcept { skip_oversized_ = skip; }
  const skipped_packet& skipped() const noexcept { return skipped_; }

  // Appends bytes to the stream (copied into an internal buffer that is
  // compacted and reused, so steady state does not allocate).
  void feed(std::span<const std::uint8_t> bytes);

  // Produces the next packet into `out`. After an error the decoder stays
  // in error (the connection must be closed); error() says why.
  status next(packet& out);
  boost::system::error_code error() const noexcept { return error_; }

  // Bytes fed but not yet consumed.
  std::size_t buffered() const noexcept { return buffer_.size() - consumed_; }

  // Forget everything (new connection).
  void reset() noexcept;

 private:
  protocol_version version_;
  std::uint32_t maximum_packet_size_;
  std::vector<std::uint8_t> buffer_;
  std::size_t consumed_ = 0;
  boost::system::error_code error_;
  bool skip_oversized_ = false;
  std::size_t skip_remaining_ = 0;  // bytes of a skipped packet still to discard
  skipped_packet skipped_;
};

}  // namespace fieldbridge::mqtt
