// The hot tier: an append-only record log in a file on tmpfs that holds
// what the queue keeps only in memory (messages not yet written to SQLite,
// their QoS 2 state, completions of written rows not yet deleted). Each
// record is one write(2), so it survives the death of the process (kill -9,
// OOM, abort) but not of the machine. Private to the store; single-threaded
// like the queue that owns it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/store/queue.hpp"
#include "message_view.hpp"

namespace fieldbridge::store {

// The file of the hot tier for a store at `store_path` given settings'
// hot_path ("" = the default directory, "none" = no hot tier); nullopt when
// there is none (also for a ":memory:" store). The name derives from the
// store's absolute path, so two gateways never share one.
std::optional<std::filesystem::path> hot_file_for(const std::filesystem::path& store_path,
                                                  const std::string& hot_path);

// The default directory: $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=),
// else /run/fieldbridge when writable, else /dev/shm.
std::filesystem::path default_hot_directory();

// Whether `dir` lives in RAM (tmpfs or ramfs), so the log never wears a disk.
bool is_ram_filesystem(const std::filesystem::path& dir);

// One message the log says is still only in memory.
struct hot_message {
  message msg;
  std::uint16_t packet_id = 0;
  qos2_state state = qos2_state::none;
};

// What a log says, replayed: messages by id (removed ones already taken
// out) and every id removed (it may be a row written since).
struct hot_replay {
  std::map<message_id, hot_message> messages;
  std::set<message_id> removed_written;
  std::uint64_t records = 0;
  bool torn = false;  // the last record was cut short or damaged; ignored
};

class hot_log {
 public:
  // Reads the file at `path` if there is one (nothing is changed yet).
  static hot_replay replay(const std::filesystem::path& path);

  hot_log() = default;
  ~hot_log();
  hot_log(const hot_log&) = delete;
  hot_log& operator=(const hot_log&) = delete;

  // Starts a fresh file at `path` (an empty log); false and `error` when it
  // cannot be created.
  bool start(const std::filesystem::path& path, std::string& error);
  bool active() const noexcept { return fd_ >= 0; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Each appends one record with one write(2); false when the write failed
  // (then the log is closed and removed: see fail()). While held (hold()),
  // add() and remove() only collect their records in memory; set_qos2()
  // writes at once, with what was collected before it.
  bool add(message_id id, const message& m, std::uint16_t packet_id, qos2_state state);
  bool remove(message_id id);
  bool set_qos2(message_id id, std::uint16_t packet_id, qos2_state state);
  // A removal that may wait (a completed QoS 0/1 message: were it lost, the
  // message would go out again, at least once): collected apart, and written
  // with the next records that are written anyway, by write_all_held(), or
  // once max_deferred_removals are collected. Saves a write(2) per loop turn
  // of acknowledgements while polls append.
  bool remove_later(message_id id);
  static constexpr std::uint64_t max_deferred_removals = 256;

  // Holding collects records for one write(2) (the queue's write batches);
  // write_held() writes what was collected (false when that write failed),
  // with the deferred removals if anything else was collected;
  // write_all_held() writes the deferred removals too, whatever there is.
  // A record collected is not safe from a kill -9 until it is written.
  void hold(bool on) noexcept { holding_ = on; }
  bool write_held();
  bool write_all_held();

  // Compaction: a new file holding only `messages` and `removed` replaces
  // this one (written beside it, then renamed over it, so a kill at any
  // point leaves one whole log).
  template <typename Messages, typename Removed>
  bool rewrite(const Messages& messages, const Removed& removed);

  std::uint64_t bytes() const noexcept { return bytes_; }          // file size
  std::uint64_t written() const noexcept { return written_; }      // bytes written since start()
  std::uint64_t records() const noexcept { return records_; }      // records written since start()
  const std::string& last_error() const noexcept { return error_; }

  // Closes and deletes the file (clean close with nothing in memory).
  void discard();

 private:
  bool put(const std::string& out);
  // Where the next record is encoded: the held records, or a fresh buffer.
  std::string& record_buffer();
  // After a record was encoded by record_buffer(): written now unless held.
  bool emit();
  // Moves the deferred removals behind the held records.
  void join_deferred();
  bool write_collected();
  bool write_all(int fd, const std::string& data);
  bool fail(const char* what);
  static void encode_add(std::string& out, message_id id, const message_view& m, std::uint16_t packet_id,
                         qos2_state state);
  static void encode_remove(std::string& out, message_id id);
  bool begin_rewrite(int& fd, std::filesystem::path& tmp);
  bool finish_rewrite(int fd, const std::filesystem::path& tmp, const std::string& data);

  int fd_ = -1;
  std::filesystem::path path_;
  std::string buffer_;
  std::string held_;  // records collected while holding_, in order
  std::uint64_t held_records_ = 0;
  std::string deferred_;  // removals that may wait (remove_later), in order
  std::uint64_t deferred_records_ = 0;
  bool holding_ = false;
  std::uint64_t bytes_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t records_ = 0;
  std::string error_;
};

template <typename Messages, typename Removed>
bool hot_log::rewrite(const Messages& messages, const Removed& removed) {
  if (fd_ < 0) return false;
  int fd = -1;
  std::filesystem::path tmp;
  if (!begin_rewrite(fd, tmp)) return false;
  std::string data;
  for (const auto& [id, entry] : messages) encode_add(data, id, entry.view(), entry.packet_id, entry.state);
  for (const auto id : removed) encode_remove(data, id);
  // The new file holds the whole state: what was held or deferred is in it
  // already (a completed message is in neither `messages` nor the file).
  held_.clear();
  held_records_ = 0;
  deferred_.clear();
  deferred_records_ = 0;
  return finish_rewrite(fd, tmp, data);
}

}  // namespace fieldbridge::store
