// Helpers shared by the store tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/store/queue.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

namespace fieldbridge::store::test_util {

inline constexpr const char* other_topic = "plant/meter2/voltage";

// A WAL bound for tests that count max_size to the byte (it is part of it).
inline constexpr std::uint64_t test_wal_limit = 64 * 1024;

inline message numbered(int n, std::uint8_t qos = 1, std::size_t payload_size = 8,
                        std::string topic = "plant/meter1/voltage") {
  message m;
  m.topic = std::move(topic);
  m.payload = std::to_string(n);
  if (payload_size > m.payload.size()) m.payload.resize(payload_size, 'x');
  m.qos = qos;
  m.ts = wall_clock::time_point(std::chrono::seconds(1'800'000'000 + n));
  m.source = "meter1/voltage";
  return m;
}

// The number a message of numbered() carries (digits, then padding).
inline int number_of(const envelope& e) { return std::stoi(e.msg.payload); }

inline std::vector<int> numbers(const std::vector<envelope>& window) {
  std::vector<int> out;
  for (const auto& e : window) out.push_back(number_of(e));
  return out;
}

// A store at `path` whose hot tier lives beside it (tests clean up their
// directory; the daemon's default is a tmpfs).
inline settings file_settings(const std::filesystem::path& path) {
  settings s;
  s.path = path;
  s.hot_path = path.parent_path().string();
  return s;
}

// A temporary directory with queue.db in it, and queues opened on it.
class store_fixture : public ::testing::Test {
 protected:
  std::unique_ptr<queue> open(settings s) { return std::make_unique<queue>(std::move(s), make_null_logger()); }
  std::unique_ptr<queue> open() { return open(file_settings(path_)); }

  fieldbridge::test::temp_dir dir_{"store-test"};
  std::filesystem::path path_ = dir_ / "queue.db";
};

}  // namespace fieldbridge::store::test_util
