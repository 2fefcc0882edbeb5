// The outgoing table of the session: which packet ids are taken, and the
// QoS 1/2 messages holding one (their state and first-send order, for the
// resend after a reconnect). Flat, so the QoS 1 hot path does no search and
// no allocation in steady state: a 64 Ki table maps a packet id to the slot
// of its message, and slots are recycled through a free list.
//
// Ids are also held by SUBSCRIBE/UNSUBSCRIBE (hold_request_id) and kept
// from reuse while the broker owes an extra PUBCOMP for them (owe_pubcomp),
// so one allocate_id() serves every packet that needs an id. Which message
// may be sent when (the window, batches) is the session's business.
//
// Private header of fieldbridge_mqtt_protocol.
#pragma once

#include <fieldbridge/mqtt/packet.hpp>
#include <fieldbridge/mqtt/session.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace fieldbridge::mqtt {

class outgoing_table {
 public:
  // One QoS 1/2 message holding a packet id.
  struct outgoing {
    message_token token = 0;
    publish_packet message;  // message.packet_id is its id
    outgoing_state state = outgoing_state::publish_sent;
    std::uint64_t seq = 0;            // first-send order, for resend in original order
    bool sent_on_connection = false;  // counts against the window on this connection
    bool in_use = false;
  };

  outgoing_table();

  // The next id neither in use nor owed a PUBCOMP, round robin from the
  // last one given; 0 when every id is busy.
  std::uint16_t allocate_id();
  // A message or a request holds `id` (owed PUBCOMPs aside): what restore() checks.
  bool id_in_use(std::uint16_t id) const noexcept { return ids_[id] != id_free; }

  // Takes a slot for `message` with `id` (which must be free), the next in
  // first-send order, not sent on this connection yet. Returns the slot.
  std::uint32_t add(message_token token, publish_packet message, std::uint16_t id, outgoing_state state);
  // The message holding `id`, or nullptr (free or held by a request).
  outgoing* find(std::uint16_t id);
  outgoing& at(std::uint32_t slot) { return slots_[slot]; }
  const outgoing& at(std::uint32_t slot) const { return slots_[slot]; }
  // Frees the id only now, on the final ack (or when the message is handed back).
  void release(std::uint16_t id);
  // The slot's packet is in this connection's output: it counts as active.
  void mark_sent(std::uint32_t slot);
  // Slots in use, in first-send order.
  std::vector<std::uint32_t> ordered_slots() const;

  // The connection is gone: nothing is active, nothing is owed.
  void on_connection_lost();

  // SUBSCRIBE/UNSUBSCRIBE ids.
  void hold_request_id(std::uint16_t id) { ids_[id] = id_request; }
  void free_request_id(std::uint16_t id) { ids_[id] = id_free; }

  // PUBCOMPs the broker owes us beyond the normal flow: for each PUBREL
  // 0x92 answering an unknown PUBREC ([MQTT-4.3.3-11] obliges the broker to
  // answer it) and for each PUBREL sent again after a duplicate PUBREC. An
  // id with one owed is not reused on this connection.
  void owe_pubcomp(std::uint16_t id);
  // True (and one fewer owed) when a PUBCOMP for `id` was owed.
  bool take_owed_pubcomp(std::uint16_t id);

  // Messages holding a packet id.
  std::size_t size() const noexcept { return outgoing_count_; }
  // Of those, sent on this connection and awaiting their final ack.
  std::size_t active() const noexcept { return active_; }

 private:
  static constexpr std::uint32_t id_free = 0;  // must stay 0: the table is zero-initialised
  // Id held by a SUBSCRIBE/UNSUBSCRIBE; publishes store slot + 1 (< this).
  static constexpr std::uint32_t id_request = 0xFFFF'FFFF;

  std::uint32_t take_slot();

  // Packet id -> slot + 1 (id_free, id_request). Zero-filled in one go
  // (id_free == 0), not element by element.
  std::unique_ptr<std::uint32_t[]> ids_ = std::make_unique<std::uint32_t[]>(65536);
  std::vector<outgoing> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::size_t outgoing_count_ = 0;  // slots in use
  std::size_t active_ = 0;          // slots sent on this connection, awaiting their final ack
  std::uint16_t next_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::unique_ptr<std::uint8_t[]> extra_pubcomps_ = std::make_unique<std::uint8_t[]>(65536);
  std::size_t extra_pubcomp_count_ = 0;
};

}  // namespace fieldbridge::mqtt
