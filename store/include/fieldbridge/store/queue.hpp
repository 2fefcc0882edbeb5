// The store-and-forward queue: every reading between the drivers and the MQTT
// client, kept in order and bounded; durable against the death of the process
// at once (the hot tier in RAM) and against power loss within flush_interval.
// See docs/store.md for the design and what each failure loses.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/core/reading.hpp"

namespace fieldbridge::store {

// Position of a message in the queue; increases with every append.
using message_id = std::int64_t;

// One MQTT message waiting to be published.
struct message {
  std::string topic;
  std::string payload;            // bytes, not necessarily text
  std::uint8_t qos = 1;
  bool retain = false;
  wall_clock::time_point ts;      // when the reading was taken
  std::string source;             // what produced it, e.g. "meter1/voltage"
};

// How far a QoS 2 exchange got; durable so a restart resumes it. Mirrors
// mqtt::outgoing_state (the gateway maps one to the other).
enum class qos2_state : std::uint8_t {
  none,          // not published yet (or the session was lost)
  publish_sent,  // PUBLISH sent with packet_id; resend it (DUP) after a restart
  pubrel_sent,   // PUBREC received, PUBREL sent; resend PUBREL, not the PUBLISH
};

// A message handed to the forwarder; it stays in flight until complete() or
// undelivered() names its id.
struct envelope {
  message_id id = 0;
  message msg;
  std::uint16_t packet_id = 0;    // QoS 2 state; 0 when none
  qos2_state state = qos2_state::none;
};

enum class overflow_policy : std::uint8_t { drop_oldest, drop_newest };
enum class drain_order : std::uint8_t { fifo, live_first };

struct settings {
  std::filesystem::path path = "/var/lib/fieldbridge/queue.db";  // ":memory:" for tests
  std::uint64_t max_size = 256ull * 1024 * 1024;  // bytes of messages (see message_bytes)
  overflow_policy on_full = overflow_policy::drop_oldest;
  std::chrono::milliseconds flush_interval{1000};  // durability window; 0: each append() commits
  drain_order drain = drain_order::fifo;
  std::size_t max_batch = 10000;                   // pending messages that force an early write
  std::uint64_t memory_limit = 16ull * 1024 * 1024;  // pending bytes kept while the disk refuses writes
  // The hot tier's directory (a tmpfs): "" for the default ($RUNTIME_DIRECTORY,
  // else /run/fieldbridge when writable, else /dev/shm), "none" for no hot
  // tier (then a kill -9 may lose up to flush_interval). The file in it is
  // named after the store's path. A ":memory:" store has none.
  std::string hot_path;
  // The bound of the SQLite WAL, counted in max_size (messages get
  // max_size - the bound); 0 (or not below max_size): max_size / 8 within
  // [64 KiB, 16 MiB], at most half of max_size.
  std::uint64_t wal_limit = 0;
};

// What the store did since it was opened; for the stats topic and logs.
struct counters {
  std::uint64_t appended = 0;        // accepted by append()
  std::uint64_t completed = 0;       // removed by complete()
  std::uint64_t redelivered = 0;     // handed back by undelivered()
  std::uint64_t rejected = 0;        // removed unpublished by reject()
  std::uint64_t dropped_oldest = 0;  // removed to make room (on_full: drop_oldest)
  std::uint64_t dropped_newest = 0;  // refused because full (on_full: drop_newest)
  std::uint64_t dropped_overflow = 0;  // lost because the disk failed and memory_limit was reached
  std::uint64_t written = 0;         // rows written to the database
  std::uint64_t never_written = 0;   // completed or rejected before their write was due
  std::uint64_t commits = 0;         // transactions committed
  std::uint64_t write_errors = 0;    // commits that failed (disk full, I/O error)
  std::uint64_t quarantined = 0;     // corrupt databases moved aside at open
  std::uint64_t recreated = 0;       // the file was deleted or replaced while open, and made again
  std::uint64_t recovered = 0;       // messages recovered from the hot tier at open
  std::uint64_t checkpoints = 0;     // WAL checkpoints that bounded the WAL
};

// Start-up failures: a database from a newer schema, a path that cannot be
// opened or created. Never thrown once the queue is open.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class flush_result : std::uint8_t { nothing_to_write, committed, failed };

// Bytes a message counts against max_size: its strings plus a fixed row cost.
std::uint64_t message_bytes(const message& m);

// The queue over one SQLite database. Not thread-safe: it belongs to the
// gateway's single io_context thread (or a test's thread) and needs no lock.
// Appends stay in memory (and in the hot tier's file in RAM, which outlives
// the process) until their write is due, so a message completed quickly is
// never written to the disk. The owner calls flush() every flush_period().
class queue {
 public:
  // Opens or creates the database, migrating an older schema and moving a
  // corrupt file aside (<path>.corrupt-<UTC time>). Throws store_error for a
  // newer schema or a path that cannot be opened at all.
  queue(settings options, logger_ptr log);
  ~queue();  // writes what is pending; never throws
  queue(const queue&) = delete;
  queue& operator=(const queue&) = delete;

  // Accepts a message; nullopt when it was dropped (on_full: drop_newest, or
  // the memory buffer overflowed while the disk refuses writes). Outside a
  // batch it is safe from a kill -9 when this returns.
  std::optional<message_id> append(message m);

  // Collects the hot-tier records of the calls made while it lives (append,
  // complete, reject, drops) and writes them with one write(2) when it ends,
  // instead of one each. take(), flush(), sync() and the QoS 2 records write
  // what was collected first, so nothing is handed out before its record is
  // in the hot tier. Until then what was appended is not safe from a kill
  // -9 (and a completion not yet written makes a copy after one): end a
  // batch within the loop turn that began it. Batches may overlap; the
  // queue must outlive them. Without a hot tier it changes nothing.
  class batch {
   public:
    explicit batch(queue& q);
    ~batch();
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;

   private:
    queue& queue_;
  };

  // Up to `max` messages to publish next, in drain order. Each stays in
  // flight, and is not handed out again, until complete() or undelivered().
  std::vector<envelope> take(std::size_t max);

  // The publish of `id` completed (QoS 0 written, PUBACK, PUBCOMP): remove it.
  void complete(message_id id);
  // The publish of `id` failed (session lost): it goes out again, in order,
  // as a new message (its QoS 2 state is cleared).
  void undelivered(message_id id);
  // The publish of `id` failed for good (too large, refused by the broker,
  // or QoS 2 past PUBREC when the session was lost, where a resend could
  // duplicate it): remove it without publishing, counted as rejected.
  void reject(message_id id);

  // QoS 2 (mqtt packet_id_assigned_event): the PUBLISH of `id` is about to
  // leave with `packet_id`. Call before the output is written. QoS 1 needs
  // no call (at least once), and for a written row each call is a commit.
  // Returns false when the state could not be made durable.
  bool record_publish_sent(message_id id, std::uint16_t packet_id);
  // QoS 2 (mqtt pubrec_received_event): call before PUBREL is written.
  bool record_pubrel_sent(message_id id);
  // QoS 2 exchanges that were under way when the database was last closed,
  // in order. They are in flight from open on; the gateway hands them to
  // mqtt::session::restore() (and calls undelivered() for those the broker
  // reports lost with the session).
  const std::vector<envelope>& resumed() const noexcept;

  // Writes pending messages that waited half a flush_interval, and deletes
  // completed ones. Called every flush_period() by the owner's timer, so a
  // message is durable at most flush_interval after append(). Also checks
  // that the file at the path is still the one open (recreating it when it
  // was deleted or replaced), bounds the WAL, compacts the hot tier and logs
  // drops that the rate limit held back.
  flush_result flush(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  // Writes everything pending now (shutdown, tests).
  flush_result sync();
  std::chrono::milliseconds flush_period() const noexcept;

  std::uint64_t depth() const noexcept;    // messages not yet completed
  std::uint64_t bytes() const noexcept;    // their message_bytes
  std::uint64_t pending() const noexcept;  // of which only in memory
  bool disk_failing() const noexcept;      // the last write failed; retried at each flush
  // The reading time of the oldest message not yet completed (in flight
  // included); nullopt when empty. Reads the database when rows are on disk.
  std::optional<wall_clock::time_point> oldest() const;
  const counters& stats() const noexcept;

  // The hot tier's file, when there is one, and its size now.
  std::optional<std::filesystem::path> hot_file() const;
  std::uint64_t hot_bytes() const noexcept;
  std::uint64_t hot_bytes_written() const noexcept;  // to the hot tier since open (compactions included)
  std::uint64_t wal_bound() const noexcept;  // the WAL limit in use (see settings::wal_limit)

  // Caps the database file at `pages` pages (PRAGMA max_page_count), so a
  // test can make the disk "full" without root; 0 lifts the cap.
  void limit_file_pages(std::uint64_t pages);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// A read-only look at a queue database, safe while the daemon writes it
// (a WAL reader). Messages still in the daemon's memory are not visible.
struct snapshot {
  int schema_version = 0;
  std::uint64_t depth = 0;
  std::uint64_t bytes = 0;                       // message_bytes of the rows
  std::optional<wall_clock::time_point> oldest;  // reading time
  std::optional<wall_clock::time_point> newest;
  std::uint64_t qos2_in_flight = 0;
  message_id last_id = 0;                        // the highest id of a row
  std::uint64_t database_file_bytes = 0;
  std::uint64_t wal_file_bytes = 0;
  // The daemon's counters as of its last commit (empty before the first).
  std::vector<std::pair<std::string, std::uint64_t>> counters;
  std::optional<wall_clock::time_point> counters_written;
};

// Throws store_error when the file does not exist or is not a queue database.
snapshot inspect(const std::filesystem::path& path);

// A read-only look at the hot tier of the store at `store_path`: the
// messages the daemon holds only in memory (not yet in the database).
struct hot_snapshot {
  std::filesystem::path file;
  std::uint64_t file_bytes = 0;
  std::uint64_t messages = 0;  // not yet written to the database
  bool readable = true;
  bool torn = false;           // it ends in a record cut short
};
// `hot_path` as in settings; "" looks where the daemon's default would put
// it ($RUNTIME_DIRECTORY, /run/fieldbridge, /dev/shm). Messages up to
// `written_up_to` (snapshot::last_id) are rows already, so not counted.
// nullopt when there is no hot tier file.
std::optional<hot_snapshot> inspect_hot(const std::filesystem::path& store_path, const std::string& hot_path,
                                        message_id written_up_to = 0);

}  // namespace fieldbridge::store
