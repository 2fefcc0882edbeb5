// libFuzzer target: a hostile broker in front of the MQTT client.
//
// The fake broker completes CONNECT with a CONNACK whose flags and limits
// come from the input, then plays a script read from the input: valid
// packets with wrong contents (ids nobody used, failure codes, a second
// CONNACK, QoS 2 it never finishes), the right answer to what the client
// sent, raw bytes, a huge remaining length, a packet mutated or cut short,
// a packet dripped one byte at a time, a close in the middle of a packet;
// between them the client publishes, subscribes, unsubscribes and time
// passes. It reads everything the client writes back.
//
// The first byte picks the mode (bit 0: 3.1.1 or 5):
//   bits 1-2 != 3: the pure session (mqtt/session.hpp) with a simulated
//                  clock: fast, deterministic, keep-alive and hold timers
//                  fire when the script lets time pass.
//   bits 1-2 == 3: the real mqtt::client on this function's own io_context,
//                  against a broker socket on a loopback port (keep-alive
//                  off, 1 ms back-off; no timer is waited for except the
//                  reconnect back-off).
//
// Invariants checked besides "no crash, no sanitizer report" (a violation
// aborts with "invariant:" and the reason on stderr):
//   - every byte the client writes decodes as a well-formed packet, and
//     every connection starts with CONNECT;
//   - each publish completes at most once, and every message is either
//     completed or still held by the session (in flight or queued);
//   - a close the session asks for carries a reason;
//   - MQTT 5: a packet above the Maximum Packet Size we announced closes
//     the connection as soon as its fixed header is in;
//   - after the connection ends the client connects again (a CONNECT on a
//     new connection), and stop() ends every state: io_context::run()
//     returns and every publish handler has been called exactly once.
// Memory stays bounded by the script (output of one step < 1 MiB) and,
// for the rest, by libFuzzer's -rss_limit_mb / -malloc_limit_mb.
#include <fieldbridge/core/logging.hpp>
#include <fieldbridge/mqtt/client.hpp>
#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/session.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace fieldbridge::mqtt;
namespace asio = boost::asio;
using asio::ip::tcp;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "invariant: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(condition, what) \
  do {                              \
    if (!(condition)) violated(what); \
  } while (0)

constexpr std::size_t max_steps = 200;

constexpr std::size_t max_step_output = 1 << 20;

using bytes = std::vector<std::uint8_t>;

// What the broker saw of the client's traffic, so that its answers can hit
// the ids in use.
struct broker_view {
  explicit broker_view(protocol_version version) : v(version), in(version) {}

  protocol_version v;
  decoder in;
  bool connection_started = false;  // the current connection's first packet came
  std::size_t connects = 0;
  std::map<std::uint16_t, qos> publishes;  // outgoing QoS 1/2 ids the client used, by QoS
  std::set<std::uint16_t> pubrels;         // ids the client released (QoS 2 past PUBREC)
  std::map<std::uint16_t, bool> requests;  // SUBSCRIBE (true) / UNSUBSCRIBE ids
  std::set<std::uint16_t> pubrecs_sent;    // ids the client acknowledged our QoS 2 with
  std::size_t filters_in_last_request = 1;

  void new_connection() {
    in.reset();
    in.set_version(v);
    connection_started = false;
  }

  // Everything the client writes must be a well-formed packet.
  void consume(std::span<const std::uint8_t> data) {
    if (data.empty()) return;
    in.feed(data);
    packet p;
    while (true) {
      const auto st = in.next(p);
      if (st == decoder::status::failed) violated("the client wrote a malformed packet");
      if (st == decoder::status::need_more) return;
      if (!connection_started) {
        FUZZ_CHECK(std::holds_alternative<connect_packet>(p), "a connection did not start with CONNECT");
        connection_started = true;
      } else {
        FUZZ_CHECK(!std::holds_alternative<connect_packet>(p), "CONNECT twice on one connection");
      }
      record(p);
    }
  }

  void record(const packet& p) {
    if (std::holds_alternative<connect_packet>(p)) {
      ++connects;
    } else if (const auto* m = std::get_if<publish_packet>(&p)) {
      if (m->qos != qos::at_most_once) publishes[m->packet_id] = m->qos;
    } else if (const auto* rel = std::get_if<pubrel_packet>(&p)) {
      pubrels.insert(rel->packet_id);
    } else if (const auto* rec = std::get_if<pubrec_packet>(&p)) {
      pubrecs_sent.insert(rec->packet_id);
    } else if (const auto* sub = std::get_if<subscribe_packet>(&p)) {
      requests[sub->packet_id] = true;
      filters_in_last_request = sub->subscriptions.size();
    } else if (const auto* unsub = std::get_if<unsubscribe_packet>(&p)) {
      requests[unsub->packet_id] = false;
      filters_in_last_request = unsub->filters.size();
    }
  }
};

// --- the broker's packets ---------------------------------------------------

template <class T>
T pick(FuzzedDataProvider& in, std::initializer_list<T> values) {
  const auto i = in.ConsumeIntegralInRange<std::size_t>(0, values.size() - 1);
  return *(values.begin() + static_cast<std::ptrdiff_t>(i));
}

reason_code pick_code(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return reason_code::success;
  return pick(in, {reason_code::no_matching_subscribers, reason_code::unspecified_error,
                   reason_code::not_authorized, reason_code::packet_identifier_in_use,
                   reason_code::packet_identifier_not_found, reason_code::quota_exceeded,
                   reason_code::qos_not_supported, reason_code::granted_qos_1, reason_code::granted_qos_2,
                   reason_code::payload_format_invalid, reason_code::implementation_specific_error,
                   static_cast<reason_code>(in.ConsumeIntegral<std::uint8_t>())});
}

// An id the client is using (when there is one and the input says so), or any.
template <class Container>
std::uint16_t pick_id(FuzzedDataProvider& in, const Container& known) {
  if (!known.empty() && in.ConsumeBool()) {
    auto it = known.begin();
    std::advance(it, in.ConsumeIntegralInRange<std::size_t>(0, known.size() - 1));
    if constexpr (requires { it->first; }) {
      return it->first;
    } else {
      return *it;
    }
  }
  return in.ConsumeIntegral<std::uint16_t>();
}

// A fixed header and a 2-byte id, written by hand: packets the encoder
// refuses to produce (id 0, reserved flags) still reach the client.
bytes raw_id_packet(std::uint8_t first, std::uint16_t id) {
  return {first, 2, static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id)};
}

template <class P>
bytes encoded(const P& p, protocol_version v, bytes fallback) {
  bytes out;
  if (encode(p, v, out)) return fallback;
  return out;
}

template <class Ack>
bytes ack(FuzzedDataProvider& in, std::uint16_t id, protocol_version v, std::uint8_t first) {
  Ack a;
  a.packet_id = id;
  a.code = v == protocol_version::v5 ? pick_code(in) : reason_code::success;
  if (v == protocol_version::v5 && in.ConsumeBool()) a.props.add(property_id::reason_string, in.ConsumeRandomLengthString(16));
  return encoded(a, v, raw_id_packet(first, id));
}

bytes broker_publish(FuzzedDataProvider& in, broker_view& b) {
  publish_packet m;
  m.topic = pick(in, {std::string("fb/x/y/set"), std::string("x/1"), std::string("a"),
                      in.ConsumeRandomLengthString(12)});
  m.payload = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 32));
  m.qos = static_cast<qos>(in.ConsumeIntegralInRange<int>(0, 2));
  m.retain = in.ConsumeBool();
  if (m.qos != qos::at_most_once) {
    m.packet_id = pick_id(in, b.pubrecs_sent);
    m.dup = in.ConsumeBool();
  }
  if (b.v == protocol_version::v5 && in.ConsumeBool()) {
    // Topic Alias (we announce 0: invalid), Subscription Identifier, expiry.
    const auto id = pick(in, {property_id::topic_alias, property_id::subscription_identifier,
                              property_id::message_expiry_interval, property_id::response_topic});
    if (id == property_id::response_topic) {
      m.props.add(id, std::string("r/1"));
    } else {
      m.props.add(id, in.ConsumeIntegralInRange<std::uint32_t>(0, 70000));
    }
  }
  bytes fallback{0x30, 3, 0, 1, 'a'};
  return encoded(m, b.v, fallback);
}

bytes broker_suback(FuzzedDataProvider& in, broker_view& b, bool subscribe) {
  const auto id = pick_id(in, b.requests);
  auto count = b.filters_in_last_request;
  if (in.ConsumeBool()) count = in.ConsumeIntegralInRange<std::size_t>(0, 4);
  std::vector<reason_code> codes;
  for (std::size_t i = 0; i < count; ++i) {
    codes.push_back(in.ConsumeBool() ? reason_code::granted_qos_1 : pick_code(in));
  }
  if (subscribe) {
    if (b.v == protocol_version::v311) {
      for (auto& c : codes) {
        if (c != reason_code::granted_qos_0 && c != reason_code::granted_qos_1 && c != reason_code::granted_qos_2) {
          c = reason_code::unspecified_error;
        }
      }
    }
    return encoded(suback_packet{id, codes, {}}, b.v, raw_id_packet(0x90, id));
  }
  if (b.v == protocol_version::v311) codes.clear();
  return encoded(unsuback_packet{id, codes, {}}, b.v, raw_id_packet(0xB0, id));
}

bytes broker_connack(FuzzedDataProvider& in, protocol_version v) {
  connack_packet c;
  c.session_present = in.ConsumeBool();
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
    c.session_present = false;
    c.code = pick(in, {reason_code::not_authorized, reason_code::server_unavailable,
                       reason_code::bad_user_name_or_password, reason_code::use_another_server});
  }
  if (v == protocol_version::v5) {
    const auto props = in.ConsumeIntegral<std::uint8_t>();
    if (props & 0x01) c.props.add(property_id::receive_maximum, in.ConsumeIntegralInRange<std::uint32_t>(0, 8));
    if (props & 0x02) {
      c.props.add(property_id::maximum_packet_size, in.ConsumeIntegralInRange<std::uint32_t>(0, 300));
    }
    if (props & 0x04) c.props.add(property_id::maximum_qos, in.ConsumeIntegralInRange<std::uint32_t>(0, 2));
    if (props & 0x08) c.props.add(property_id::retain_available, in.ConsumeIntegralInRange<std::uint32_t>(0, 1));
    if (props & 0x10) c.props.add(property_id::server_keep_alive, in.ConsumeIntegralInRange<std::uint32_t>(0, 3));
    if (props & 0x20) c.props.add(property_id::assigned_client_identifier, std::string("assigned"));
    if (props & 0x40) {
      c.props.add(property_id::wildcard_subscription_available, in.ConsumeIntegralInRange<std::uint32_t>(0, 1));
    }
    if (props & 0x80) c.props.add(property_id::topic_alias_maximum, in.ConsumeIntegralInRange<std::uint32_t>(0, 5));
  }
  bytes fallback{0x20, 2, 0, 0};
  if (v == protocol_version::v5) fallback = {0x20, 3, 0, 0, 0};
  return encoded(c, v, fallback);
}

// The answer a correct broker would give to the oldest thing the client waits for.
bytes correct_answer(broker_view& b) {
  if (!b.pubrels.empty()) {
    const auto id = *b.pubrels.begin();
    b.pubrels.erase(b.pubrels.begin());
    b.publishes.erase(id);
    return encoded(pubcomp_packet{id, reason_code::success, {}}, b.v, raw_id_packet(0x70, id));
  }
  if (!b.publishes.empty()) {
    const auto [id, q] = *b.publishes.begin();
    b.publishes.erase(b.publishes.begin());
    if (q == qos::at_least_once) return encoded(puback_packet{id, reason_code::success, {}}, b.v, raw_id_packet(0x40, id));
    return encoded(pubrec_packet{id, reason_code::success, {}}, b.v, raw_id_packet(0x50, id));
  }
  if (!b.requests.empty()) {
    const auto [id, subscribe] = *b.requests.begin();
    b.requests.erase(b.requests.begin());
    std::vector<reason_code> codes(b.filters_in_last_request, reason_code::granted_qos_1);
    if (subscribe) return encoded(suback_packet{id, codes, {}}, b.v, raw_id_packet(0x90, id));
    if (b.v == protocol_version::v311) codes.clear();
    return encoded(unsuback_packet{id, codes, {}}, b.v, raw_id_packet(0xB0, id));
  }
  if (!b.pubrecs_sent.empty()) {  // release our own QoS 2
    const auto id = *b.pubrecs_sent.begin();
    b.pubrecs_sent.erase(b.pubrecs_sent.begin());
    return encoded(pubrel_packet{id, reason_code::success, {}}, b.v, raw_id_packet(0x62, id));
  }
  return {0xD0, 0};  // PINGRESP
}

// One step of the broker's script.
struct broker_step {
  bytes data;
  bool drip = false;        // deliver one byte at a time
  bool close_after = false;  // the broker hangs up after writing `data`
  bool framed = true;       // `data` is whole, well-framed packets (the stream stays in sync)
  std::uint32_t declared = 0;  // huge-length step: the size of the packet its header announces
};

// A client request instead of a broker packet.
enum class client_action { none, publish, subscribe, unsubscribe, time_passes };

struct script_op {
  broker_step broker;
  client_action action = client_action::none;
};

script_op next_op(FuzzedDataProvider& in, broker_view& b) {
  script_op op;
  auto& s = op.broker;
  const auto v = b.v;
  switch (in.ConsumeIntegralInRange<int>(0, 19)) {
    case 0: s.data = ack<puback_packet>(in, pick_id(in, b.publishes), v, 0x40); break;
    case 1: s.data = ack<pubrec_packet>(in, pick_id(in, b.publishes), v, 0x50); break;
    case 2: s.data = ack<pubrel_packet>(in, pick_id(in, b.pubrecs_sent), v, 0x62); break;
    case 3: s.data = ack<pubcomp_packet>(in, pick_id(in, b.pubrels), v, 0x70); break;
    case 4: s.data = broker_publish(in, b); break;
    case 5: s.data = broker_suback(in, b, true); break;
    case 6: s.data = broker_suback(in, b, false); break;
    case 7: s.data = {0xD0, 0}; break;  // PINGRESP (also unasked)
    case 8: s.data = broker_connack(in, v); break;  // a second CONNACK: protocol error
    case 9: {
      disconnect_packet d;
      d.code = pick(in, {reason_code::normal_disconnection, reason_code::server_shutting_down,
                         reason_code::use_another_server, reason_code::wildcard_subscriptions_not_supported,
                         reason_code::protocol_error, reason_code::session_taken_over});
      if (in.ConsumeBool()) d.props.add(property_id::server_reference, std::string("127.0.0.1:1"));
      s.data = encoded(d, v, bytes{0xE0, 0});
      break;
    }
    case 10: s.data = encoded(auth_packet{reason_code::continue_authentication, {}}, protocol_version::v5,
                              bytes{0xF0, 0});
      break;
    case 11:  // random bytes
      s.data = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(1, 48));
      s.framed = false;
      break;
    case 12: {  // a fixed header announcing a huge packet, then a little of it
      const auto type = pick<std::uint8_t>(in, {0x30, 0x32, 0x40, 0x90, 0xE0});
      const auto length = in.ConsumeIntegralInRange<std::uint32_t>(1, max_remaining_length);
      s.data.push_back(type);
      append_variable_byte_integer(s.data, length);
      s.declared = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(std::uint64_t{length} + s.data.size(), 0xFFFFFFFFu));
      const auto body = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange<std::size_t>(0, 16));
      s.data.insert(s.data.end(), body.begin(), body.end());
      s.framed = false;
      break;
    }
    case 13: {  // a packet with one byte changed, or cut short
      s.data = in.ConsumeBool() ? broker_publish(in, b) : correct_answer(b);
      if (!s.data.empty()) {
        const auto at = in.ConsumeIntegralInRange<std::size_t>(0, s.data.size() - 1);
        if (in.ConsumeBool()) {
          s.data[at] ^= static_cast<std::uint8_t>(in.ConsumeIntegralInRange<int>(1, 255));
        } else {
          s.data.resize(at);
        }
      }
      s.framed = false;
      break;
    }
    case 14: s.data = correct_answer(b); break;
    case 15: s.data = correct_answer(b); s.drip = true; break;
    case 16: {  // close in the middle of a packet
      s.data = broker_publish(in, b);
      s.data.resize(s.data.size() / 2);
      s.close_after = true;
      s.framed = false;
      break;
    }
    case 17: op.action = in.ConsumeBool() ? client_action::publish : client_action::time_passes; break;
    case 18: op.action = in.ConsumeBool() ? client_action::subscribe : client_action::unsubscribe; break;
    default: op.action = client_action::publish; break;
  }
  return op;
}

publish_packet client_message(FuzzedDataProvider& in) {
  publish_packet m;
  m.topic = pick(in, {std::string("fb/d/p"), std::string("fb/d/q"), std::string("status")});
  m.payload = bytes(in.ConsumeIntegralInRange<std::size_t>(0, 200), 'x');
  m.qos = static_cast<qos>(in.ConsumeIntegralInRange<int>(0, 2));
  m.retain = in.ConsumeBool();
  return m;
}

std::vector<subscription> client_subscriptions(FuzzedDataProvider& in) {
  std::vector<subscription> subs{{"fb/+/+/set", {qos::exactly_once}}};
  if (in.ConsumeBool()) subs.push_back({"x/#", {qos::at_least_once}});
  return subs;
}

// --- mode 1: the session state machine, simulated time ----------------------

void fuzz_session(FuzzedDataProvider& in, protocol_version v) {
  session_config config;
  config.version = v;
  config.client_id = "fuzz";
  config.clean_start = in.ConsumeBool();
  config.keep_alive_s = in.ConsumeIntegralInRange<std::uint16_t>(0, 10);
  config.max_inflight = in.ConsumeIntegralInRange<std::uint16_t>(1, 8);
  config.receive_maximum = in.ConsumeIntegralInRange<std::uint16_t>(1, 8);
  config.maximum_packet_size = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<std::uint32_t>(64, 4096);
  session s(config);
  broker_view b(v);
  auto now = session_clock::time_point{} + std::chrono::hours(1);

  std::set<message_token> open;  // published, not completed
  std::set<message_token> done;
  message_token next_token = 1;
  bool close_expected_reason = true;  // false once we asked for DISCONNECT ourselves

  bytes out;
  std::vector<session_event> events;
  auto drain = [&] {
    while (s.has_output() || s.has_events()) {
      s.take_output(out);
      FUZZ_CHECK(out.size() < max_step_output, "one step wrote more than 1 MiB");
      b.consume(out);
      s.take_events(events);
      for (auto& e : events) {
        if (const auto* c = std::get_if<close_requested_event>(&e)) {
          FUZZ_CHECK(!close_expected_reason || c->reason, "close requested without a reason");
        } else if (const auto* pc = std::get_if<publish_completed_event>(&e)) {
          FUZZ_CHECK(open.erase(pc->token) == 1, "a publish completed that was not open (twice?)");
          done.insert(pc->token);
        } else if (const auto* pf = std::get_if<publish_failed_event>(&e)) {
          FUZZ_CHECK(open.erase(pf->token) == 1, "a publish failed that was not open (twice?)");
          done.insert(pf->token);
        }
      }
    }
    // Nothing lost: every open message is held by the session.
    FUZZ_CHECK(open.size() == s.inflight_count() + s.queued_count(),
               "a message is neither completed nor held by the session");
    FUZZ_CHECK(s.inflight_count() <= config.max_inflight, "more in flight than max_inflight");
  };

  bool broker_in_sync = true;  // what the broker sent on this connection was whole packets
  auto connect = [&] {
    b.new_connection();
    broker_in_sync = true;
    const auto before = b.connects;
    s.on_transport_connected(now);
    drain();
    FUZZ_CHECK(b.connects == before + 1, "no CONNECT on a new connection");
    const auto connack = broker_connack(in, v);
    s.on_bytes(connack, now);
    drain();
  };

  auto close_if_asked = [&] {
    if (s.current_state() == session::state::closing) {
      s.on_transport_closed();
      drain();
      FUZZ_CHECK(s.current_state() == session::state::disconnected, "not disconnected after transport closed");
    }
  };

  connect();
  for (std::size_t step = 0; step < max_steps && in.remaining_bytes() > 0; ++step) {
    close_if_asked();
    if (s.current_state() == session::state::disconnected) connect();  // the reconnect
    auto op = next_op(in, b);
    switch (op.action) {
      case client_action::publish: {
        const auto token = next_token++;
        open.insert(token);
        s.publish(client_message(in), token, now);
        break;
      }
      case client_action::subscribe: s.subscribe(client_subscriptions(in), {}, next_token++, now); break;
      case client_action::unsubscribe: s.unsubscribe({"fb/+/+/set"}, {}, next_token++, now); break;
      case client_action::time_passes:
        now += std::chrono::milliseconds(in.ConsumeIntegralInRange<int>(0, 20'000));
        s.on_time(now);
        break;
      case client_action::none: {
        const auto& data = op.broker.data;
        const bool was_connected = s.current_state() == session::state::connected;
        auto reading = [&] {
          return s.current_state() == session::state::connected || s.current_state() == session::state::connecting;
        };
        if (op.broker.drip) {
          for (std::size_t i = 0; i < data.size() && reading(); ++i) {
            s.on_bytes(std::span(data).subspan(i, 1), now);
            drain();
          }
        } else if (reading()) {
          s.on_bytes(data, now);
        }
        drain();
        if (op.broker.declared != 0 && v == protocol_version::v5 && config.maximum_packet_size != 0 &&
            op.broker.declared > config.maximum_packet_size && was_connected && broker_in_sync) {
          FUZZ_CHECK(s.current_state() != session::state::connected,
                     "a packet above our Maximum Packet Size did not close the connection");
        }
        if (!op.broker.framed) broker_in_sync = false;
        if (op.broker.close_after && s.current_state() != session::state::disconnected) {
          s.on_transport_closed();
          drain();
        }
        break;
      }
    }
    drain();
  }

  // The end: whatever state the script left, the session connects again.
  close_if_asked();
  if (s.current_state() == session::state::connected) {
    close_expected_reason = false;
    s.disconnect(reason_code::normal_disconnection, {}, now);
    drain();
    close_if_asked();
  } else if (s.current_state() == session::state::connecting) {
    s.on_transport_closed();
    drain();
  }
  b.new_connection();
  const auto before = b.connects;
  s.on_transport_connected(now);
  drain();
  FUZZ_CHECK(b.connects == before + 1, "no CONNECT after the end of a connection");
}

// --- mode 2: the real client on a loopback socket ---------------------------

struct loopback_broker {
  loopback_broker(asio::io_context& io, protocol_version v) : io(io), acceptor(io), socket(io), view(v) {
    acceptor.open(tcp::v4());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind({asio::ip::address_v4::loopback(), 0});
    acceptor.listen();
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  tcp::socket socket;
  broker_view view;
  bool peer_closed = false;
  bool reading = false;  // the accepted socket is set up (non-blocking)
  std::array<std::uint8_t, 64 * 1024> buffer{};

  std::uint16_t port() const { return acceptor.local_endpoint().port(); }

  // Runs the io_context until `done` or the wall-clock deadline (a hang is a bug).
  template <class Done>
  bool run_until(Done done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_one_for(std::chrono::milliseconds(1));
      read_available();
    }
    return true;
  }

  bool accept(std::chrono::milliseconds limit) {
    if (socket.is_open()) socket.close();
    reading = false;
    bool accepted = false;
    acceptor.async_accept(socket, [&](boost::system::error_code ec) { accepted = !ec; });
    const bool ok = run_until([&] { return accepted; }, limit);
    if (!ok) {
      acceptor.cancel();
      io.restart();
      io.poll();
      return false;
    }
    socket.non_blocking(true);
    socket.set_option(tcp::no_delay(true));
    peer_closed = false;
    reading = true;
    view.new_connection();
    return true;
  }

  // Reads what the client wrote (non-blocking) and checks it.
  std::size_t read_available() {
    if (!reading || !socket.is_open() || peer_closed) return 0;
    std::size_t total = 0;
    while (true) {
      boost::system::error_code ec;
      const auto n = socket.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block) return total;
      if (ec) {
        peer_closed = true;
        return total;
      }
      total += n;
      view.consume(std::span(buffer.data(), n));
    }
  }

  // Lets the client handle everything that is ready, and reads its answers.
  void settle() {
    for (int rounds = 0; rounds < 1000; ++rounds) {
      io.restart();
      const auto handlers = io.poll();
      const auto read = read_available();
      if (handlers == 0 && read == 0) return;
    }
  }

  void write(std::span<const std::uint8_t> data) {
    if (!socket.is_open() || peer_closed) return;
    std::size_t at = 0;
    for (int rounds = 0; at < data.size() && rounds < 10'000; ++rounds) {
      boost::system::error_code ec;
      at += socket.write_some(asio::buffer(data.data() + at, data.size() - at), ec);
      if (ec == asio::error::would_block) {
        settle();
        continue;
      }
      if (ec) {
        peer_closed = true;
        return;
      }
    }
    settle();
  }
};

void fuzz_client(FuzzedDataProvider& in, protocol_version v) {
  const auto t0 = std::chrono::steady_clock::now();
  auto mark = [&](const char* what) {
    if (!std::getenv("FUZZ_VERBOSE")) return;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
    std::fprintf(stderr, "%8lld us %s\n", static_cast<long long>(us.count()), what);
  };
  asio::io_context io;
  loopback_broker broker(io, v);

  client_options options;
  options.host = "127.0.0.1";
  options.port = broker.port();
  options.protocol = v;
  options.client_id = "fuzz";
  options.clean_start = in.ConsumeBool();
  options.keepalive = std::chrono::seconds(0);
  options.max_inflight = in.ConsumeIntegralInRange<std::uint16_t>(1, 8);
  options.maximum_packet_size = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<std::uint32_t>(64, 4096);
  options.reconnect_min = std::chrono::milliseconds(1);
  options.reconnect_max = std::chrono::milliseconds(1);
  options.connect_timeout = std::chrono::milliseconds(5000);
  client c(io, options, fieldbridge::make_null_logger("fuzz"));

  std::size_t downs = 0;
  std::size_t downs_without_reason = 0;
  c.on_connection([&](const connection_event& e) {
    if (e.connected) return;
    ++downs;
    if (!e.error) ++downs_without_reason;
    if (std::getenv("FUZZ_VERBOSE")) std::fprintf(stderr, "down: %s / %s\n", e.error.message().c_str(), e.detail.c_str());
  });
  c.on_message([](const publish_packet&) {});
  std::vector<int> calls;  // per publish: how often its handler ran
  std::size_t subscribe_answers = 0;

  c.start();
  FUZZ_CHECK(broker.accept(std::chrono::seconds(5)), "the client never connected");
  FUZZ_CHECK(broker.run_until([&] { return broker.view.connects == 1 || broker.peer_closed; },
                              std::chrono::seconds(5)),
             "no CONNECT on the first connection");
  FUZZ_CHECK(broker.view.connects == 1, "the first connection closed before CONNECT");
  mark("connected");
  broker.write(broker_connack(in, v));

  for (std::size_t step = 0; step < max_steps && in.remaining_bytes() > 0 && !broker.peer_closed; ++step) {
    auto op = next_op(in, broker.view);
    if (std::getenv("FUZZ_VERBOSE")) {
      std::fprintf(stderr, "step %zu: action %d drip %d close %d:", step, static_cast<int>(op.action),
                   op.broker.drip ? 1 : 0, op.broker.close_after ? 1 : 0);
      for (const auto byte : op.broker.data) std::fprintf(stderr, " %02x", byte);
      std::fprintf(stderr, "\n");
    }
    switch (op.action) {
      case client_action::publish: {
        const auto index = calls.size();
        calls.push_back(0);
        c.publish(client_message(in), [&calls, index](const publish_result&) { ++calls[index]; });
        break;
      }
      case client_action::subscribe:
        c.subscribe(client_subscriptions(in), [&](const subscribe_result&) { ++subscribe_answers; });
        break;
      case client_action::unsubscribe:
        c.unsubscribe({"fb/+/+/set"}, [&](const subscribe_result&) { ++subscribe_answers; });
        break;
      case client_action::time_passes:
      case client_action::none:
        break;
    }
    if (op.broker.drip) {
      for (std::size_t i = 0; i < op.broker.data.size(); ++i) {
        broker.write(std::span(op.broker.data).subspan(i, 1));
      }
    } else {
      broker.write(op.broker.data);
    }
    broker.settle();
    if (op.broker.close_after) break;
  }

  // The broker hangs up (or the client already did); the client must say
  // why, and come back.
  mark("script done");
  broker.socket.close();
  FUZZ_CHECK(broker.run_until([&] { return downs > 0; }, std::chrono::seconds(5)),
             "the connection ended and the client did not report it");
  FUZZ_CHECK(downs_without_reason == 0, "the client reported a closed connection without a reason");
  mark("down reported");
  FUZZ_CHECK(broker.accept(std::chrono::seconds(5)), "no reconnect attempt after the connection ended");
  FUZZ_CHECK(broker.run_until([&] { return broker.view.connects == 2 || broker.peer_closed; },
                              std::chrono::seconds(5)),
             "no CONNECT on the reconnect");
  FUZZ_CHECK(broker.view.connects >= 2, "the reconnect closed before CONNECT");

  // stop() ends the connecting state: run() returns, every publish is answered.
  mark("reconnected");
  c.stop();
  broker.socket.close();
  io.restart();
  io.run_for(std::chrono::seconds(5));
  mark("stopped");
  FUZZ_CHECK(io.stopped(), "stop() left work on the io_context");
  for (const int n : calls) FUZZ_CHECK(n == 1, "a publish handler was not called exactly once");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto version = (data[0] & 1) ? protocol_version::v5 : protocol_version::v311;
  FuzzedDataProvider in(data + 1, size - 1);
  if (((data[0] >> 1) & 3) == 3) {
    fuzz_client(in, version);
  } else {
    fuzz_session(in, version);
  }
  return 0;
}
