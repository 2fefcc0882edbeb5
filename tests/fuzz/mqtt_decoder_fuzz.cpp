// libFuzzer target for the MQTT decoder and the session that consumes it.
// The first input byte picks the mode, the rest is the broker's byte stream:
//   0: decoder, MQTT 3.1.1     1: decoder, MQTT 5
//   2: session after CONNACK, 3.1.1     3: session after CONNACK, 5
// Besides "no crash, no sanitizer report" it checks one invariant: a packet
// the decoder accepted and the encoder can write decodes back to itself.
#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/session.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using namespace fieldbridge::mqtt;

void check_round_trip(const packet& p, protocol_version v) {
  std::vector<std::uint8_t> wire;
  if (encode(p, v, wire)) return;  // the encoder is stricter (e.g. empty topic with alias)
  packet again;
  if (decode(wire, v, again) || !(again == p)) __builtin_trap();
}

void fuzz_decoder(std::span<const std::uint8_t> data, protocol_version v) {
  // Feed in uneven chunks so partial packets and buffering are exercised.
  decoder d(v, (data.size() % 3 == 0) ? 64 : 0);
  packet p;
  std::size_t pos = 0;
  std::size_t chunk = 1;
  while (pos < data.size()) {
    const auto n = std::min(chunk, data.size() - pos);
    d.feed(data.subspan(pos, n));
    pos += n;
    chunk = chunk * 2 + 1;
    while (true) {
      const auto st = d.next(p);
      if (st == decoder::status::failed) return;
      if (st == decoder::status::need_more) break;
      // CONNECT carries its own version; check it with that one.
      const auto version = std::holds_alternative<connect_packet>(p) ? std::get<connect_packet>(p).version : v;
      check_round_trip(p, version);
    }
  }
}

void fuzz_session(std::span<const std::uint8_t> data, protocol_version v) {
  session_config config;
  config.version = v;
  config.client_id = "fuzz";
  config.keep_alive_s = 5;
  config.max_inflight = 3;
  config.receive_maximum = 4;
  session s(config);
  auto now = session_clock::time_point{} + std::chrono::hours(1);
  s.on_transport_connected(now);
  std::vector<std::uint8_t> connack;
  (void)encode(connack_packet{true, reason_code::success, {}}, v, connack);
  s.on_bytes(connack, now);
  // Something in flight in every state, so acks have ids to hit.
  s.publish(publish_packet{"a", {1}, qos::at_least_once, false, false, 0, {}}, 1, now);
  s.publish(publish_packet{"b", {2}, qos::exactly_once, false, false, 0, {}}, 2, now);
  s.publish(publish_packet{"c", {3}, qos::exactly_once, false, false, 0, {}}, 3, now);
  s.publish(publish_packet{"d", {4}, qos::at_least_once, false, false, 0, {}}, 4, now);
  s.subscribe({{"x/#", {qos::exactly_once}}}, {}, 5, now);
  std::vector<std::uint8_t> out;
  std::vector<session_event> events;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const auto n = std::min<std::size_t>(7, data.size() - pos);
    s.on_bytes(data.subspan(pos, n), now);
    pos += n;
    now += std::chrono::seconds(1);
    s.on_time(now);
    s.take_output(out);
    s.take_events(events);
    if (s.current_state() == session::state::closing) {
      // Reconnect and go on: the state must survive a reconnect with session present.
      s.on_transport_closed();
      s.on_transport_connected(now);
      s.on_bytes(connack, now);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  switch (data[0] & 0x03) {
    case 0: fuzz_decoder(rest, protocol_version::v311); break;
    case 1: fuzz_decoder(rest, protocol_version::v5); break;
    case 2: fuzz_session(rest, protocol_version::v311); break;
    default: fuzz_session(rest, protocol_version::v5); break;
  }
  return 0;
}
