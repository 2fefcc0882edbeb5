// A message as the queue holds it in memory until it is written or done
// with. Private to the store.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "fieldbridge/store/queue.hpp"
#include "message_view.hpp"

namespace fieldbridge::store {

// A message appended but not written yet. Its topic, payload and source
// share one allocation: with the broker away or slow, max_batch (10,000) of
// these wait for their write, and as three std::strings they cost three
// allocations and 96 bytes of string headers each (docs/performance.md:
// about 330 bytes a message in all, against about 200 now).
class pending_entry {
 public:
  pending_entry(const message& m, std::chrono::steady_clock::time_point accepted_at, std::uint16_t id_of_packet = 0,
                qos2_state qos2 = qos2_state::none)
      : accepted(accepted_at),
        packet_id(id_of_packet),
        state(qos2),
        text_(std::make_unique_for_overwrite<char[]>(m.topic.size() + m.payload.size() + m.source.size())),
        ts_(m.ts),
        topic_size_(static_cast<std::uint32_t>(m.topic.size())),
        payload_size_(static_cast<std::uint32_t>(m.payload.size())),
        source_size_(static_cast<std::uint32_t>(m.source.size())),
        qos_(m.qos),
        retain_(m.retain) {
    char* at = text_.get();
    for (const std::string* part : {&m.topic, &m.payload, &m.source}) {
      std::memcpy(at, part->data(), part->size());
      at += part->size();
    }
  }

  std::string_view topic() const noexcept { return {text_.get(), topic_size_}; }
  std::uint8_t qos() const noexcept { return qos_; }
  wall_clock::time_point ts() const noexcept { return ts_; }
  message_view view() const noexcept {
    const char* at = text_.get();
    return {{at, topic_size_}, {at + topic_size_, payload_size_}, {at + topic_size_ + payload_size_, source_size_},
            qos_, retain_, ts_};
  }
  // What take() hands out: a message of its own.
  message to_message() const {
    const auto v = view();
    return message{std::string(v.topic), std::string(v.payload), qos_, retain_, ts_, std::string(v.source)};
  }
  std::uint64_t size() const { return message_bytes(view()); }

  std::chrono::steady_clock::time_point accepted;
  std::uint16_t packet_id = 0;
  qos2_state state = qos2_state::none;
  bool in_flight = false;

 private:
  std::unique_ptr<char[]> text_;
  wall_clock::time_point ts_;
  std::uint32_t topic_size_ = 0;
  std::uint32_t payload_size_ = 0;
  std::uint32_t source_size_ = 0;
  std::uint8_t qos_ = 1;
  bool retain_ = false;
};

}  // namespace fieldbridge::store
