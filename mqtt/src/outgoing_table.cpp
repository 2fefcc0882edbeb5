// The session's outgoing table; see outgoing_table.hpp.
#include "outgoing_table.hpp"

#include <algorithm>

namespace fieldbridge::mqtt {

outgoing_table::outgoing_table() = default;

std::uint16_t outgoing_table::allocate_id() {
  for (std::uint32_t tries = 0; tries < 65535; ++tries) {
    const auto id = next_id_;
    next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
    if (ids_[id] == id_free && extra_pubcomps_[id] == 0) return id;
  }
  return 0;
}

std::uint32_t outgoing_table::take_slot() {
  if (!free_slots_.empty()) {
    const auto s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  slots_.emplace_back();
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

std::uint32_t outgoing_table::add(message_token token, publish_packet message, std::uint16_t id,
                                  outgoing_state state) {
  const auto slot = take_slot();
  auto& o = slots_[slot];
  o.token = token;
  o.message = std::move(message);
  o.message.packet_id = id;
  o.state = state;
  o.seq = next_seq_++;
  o.sent_on_connection = false;
  o.in_use = true;
  ids_[id] = slot + 1;
  ++outgoing_count_;
  return slot;
}

outgoing_table::outgoing* outgoing_table::find(std::uint16_t id) {
  const auto v = ids_[id];
  if (v == id_free || v == id_request) return nullptr;
  return &slots_[v - 1];
}

void outgoing_table::release(std::uint16_t id) {
  const auto v = ids_[id];
  auto& o = slots_[v - 1];
  if (o.sent_on_connection) --active_;
  o = outgoing{};
  free_slots_.push_back(v - 1);
  ids_[id] = id_free;
  --outgoing_count_;
}

void outgoing_table::mark_sent(std::uint32_t slot) {
  slots_[slot].sent_on_connection = true;
  ++active_;
}

std::vector<std::uint32_t> outgoing_table::ordered_slots() const {
  std::vector<std::uint32_t> order;
  order.reserve(outgoing_count_);
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].in_use) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [this](auto a, auto b) { return slots_[a].seq < slots_[b].seq; });
  return order;
}

void outgoing_table::on_connection_lost() {
  for (auto& o : slots_) o.sent_on_connection = false;
  active_ = 0;
  if (extra_pubcomp_count_ != 0) {  // a new connection owes us none of them
    std::fill_n(extra_pubcomps_.get(), 65536, std::uint8_t{0});
    extra_pubcomp_count_ = 0;
  }
}

void outgoing_table::owe_pubcomp(std::uint16_t id) {
  if (extra_pubcomps_[id] == 0xFF) return;  // a broker this repetitive will be closed on its next stray
  ++extra_pubcomps_[id];
  ++extra_pubcomp_count_;
}

bool outgoing_table::take_owed_pubcomp(std::uint16_t id) {
  if (extra_pubcomps_[id] == 0) return false;
  --extra_pubcomps_[id];
  --extra_pubcomp_count_;
  return true;
}

}  // namespace fieldbridge::mqtt
