// A message's fields without owning them: what the hot tier encodes and
// SQLite binds, from a store::message or from a pending entry alike.
// Private to the store.
#pragma once

#include <cstdint>
#include <string_view>

#include "fieldbridge/store/queue.hpp"

namespace fieldbridge::store {

struct message_view {
  std::string_view topic;
  std::string_view payload;
  std::string_view source;
  std::uint8_t qos = 1;
  bool retain = false;
  wall_clock::time_point ts;
};

inline message_view view_of(const message& m) {
  return {m.topic, m.payload, m.source, m.qos, m.retain, m.ts};
}

// What a message counts against max_size (queue.hpp's message_bytes).
std::uint64_t message_bytes(const message_view& m);

}  // namespace fieldbridge::store
