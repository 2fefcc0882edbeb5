#include "fieldbridge/store/queue.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/chrono.h>

#include "hot_log.hpp"
#include "pending_entry.hpp"
#include "rate_limit.hpp"
#include "schema.hpp"
#include "sqlite.hpp"
#include "unix_time.hpp"

namespace fieldbridge::store {
namespace {

using steady = std::chrono::steady_clock;

// What a row costs beyond its strings: id, timestamp, flags, size, QoS 2
// state and SQLite's record header, rounded up.
constexpr std::uint64_t row_overhead = 48;

// live_first: after this many live messages in a row, one from the backlog.
constexpr unsigned live_per_backlog = 3;

// Rows read from the database per query while taking or dropping.
constexpr std::int64_t read_chunk = 256;

// Rows per transaction while the disk fails: a disk that just ran out of
// space gets small writes, not the whole buffer at once.
constexpr std::size_t failing_chunk_rows = 256;

// Hot tier: compact when the file holds more than twice what is live, plus
// this much slack (so a healthy stream compacts a few times per second at
// most).
constexpr std::uint64_t hot_slack = 256 * 1024;
// Bytes a removal record of a written row costs in the hot tier.
constexpr std::uint64_t hot_remove_bytes = 17;

// The columns row_envelope() reads, in its order.
constexpr std::string_view select_rows =
    "SELECT id, ts, topic, payload, qos, retain, source, size, packet_id, qos2_state FROM messages ";

// Lets backlog_topics be searched with a pending entry's topic, a view.
struct topic_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view topic) const noexcept { return std::hash<std::string_view>{}(topic); }
};

// Counter names in the stats table, read back by inspect().
template <typename F>
void for_each_counter(const counters& c, F&& f) {
  f("appended", c.appended);
  f("completed", c.completed);
  f("redelivered", c.redelivered);
  f("rejected", c.rejected);
  f("dropped_oldest", c.dropped_oldest);
  f("dropped_newest", c.dropped_newest);
  f("dropped_overflow", c.dropped_overflow);
  f("written", c.written);
  f("never_written", c.never_written);
  f("commits", c.commits);
  f("write_errors", c.write_errors);
  f("quarantined", c.quarantined);
  f("recreated", c.recreated);
  f("recovered", c.recovered);
  f("checkpoints", c.checkpoints);
}

std::uint64_t derive_wal_bound(const settings& s) {
  if (s.wal_limit != 0 && s.wal_limit < s.max_size) return s.wal_limit;
  const auto bound = std::clamp<std::uint64_t>(s.max_size / 8, 64 * 1024, 16ull * 1024 * 1024);
  return std::min(bound, s.max_size / 2);
}

}  // namespace

std::uint64_t message_bytes(const message_view& m) {
  return m.topic.size() + m.payload.size() + m.source.size() + row_overhead;
}

std::uint64_t message_bytes(const message& m) { return message_bytes(view_of(m)); }

// A written message that take() handed out.
struct disk_flight {
  std::uint64_t size = 0;
  std::uint16_t packet_id = 0;  // as the row holds it
  qos2_state state = qos2_state::none;
  std::uint8_t qos = 1;         // whether its removal may wait (removal_may_wait)
  std::string topic;            // for live_first's per-topic order
};

// A completed QoS 0/1 message may be published again after a kill -9 (at
// least once), so its removal record may wait for the next write of the
// hot tier; a QoS 2 one's, and a rejection's, never does.
namespace {
bool removal_may_wait(bool completed, std::uint8_t qos, qos2_state state) {
  return completed && qos < 2 && state == qos2_state::none;
}
}  // namespace

struct queue::impl {
  impl(settings s, logger_ptr l);

  settings options;
  logger_ptr log;
  counters stats;
  std::uint64_t wal_bound = 0;
  std::uint64_t budget = 0;  // max_size less the WAL's bound: for messages
  sqlite::connection db;
  sqlite::statement insert, remove, remove_range, read_from, oldest_from, oldest_ts, set_qos2, upsert_stat;
  // The file the connection has open, to notice it deleted or replaced.
  dev_t file_dev = 0;
  ino_t file_ino = 0;
  bool file_known = false;
  hot_log hot;
  // live_first: written rows not in flight, per topic. A live message waits
  // while its topic has older ones there.
  std::unordered_map<std::string, std::uint64_t, topic_hash, std::equal_to<>> backlog_topics;

  std::map<message_id, pending_entry> pending;
  std::uint64_t pending_bytes = 0;
  std::unordered_map<message_id, disk_flight> disk_in_flight;
  // Written rows that were completed or dropped; deleted at the next commit.
  std::unordered_set<message_id> doomed;
  std::uint64_t disk_rows = 0;  // rows in the database, doomed ones included
  message_id next_id = 1;
  message_id disk_cursor = 0;     // take(): no available row below it
  message_id pending_cursor = 0;  // take(): no available pending entry below it
  message_id drop_cursor = 0;     // drop_oldest: no droppable row below it
  // drop_oldest: the rows from drop_cursor on, read read_chunk at a time, so
  // a drop is no query of its own. Emptied by every commit (a doomed row in
  // it is gone then) and when drop_cursor moves back.
  struct drop_candidate {
    message_id id = 0;
    std::uint64_t size = 0;
    std::string topic;  // live_first only
  };
  std::vector<drop_candidate> drop_ahead;
  std::size_t drop_next = 0;
  void forget_drop_ahead() {
    drop_ahead.clear();
    drop_next = 0;
  }
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  bool disk_failing = false;
  unsigned live_streak = 0;
  std::optional<message_id> waiting_from;  // live_first: the first pending entry that waits for its topic
  std::vector<envelope> resumed;
  unsigned batches = 0;  // queue::batch objects alive
  log_rate_limit drop_log, overflow_log, write_error_log, file_log;

  std::uint64_t disk_available() const { return disk_rows - doomed.size() - disk_in_flight.size(); }
  bool disk_row_available(message_id id) const { return !doomed.contains(id) && !disk_in_flight.contains(id); }

  void prepare();
  void remember_file();
  void configure_wal();
  void recover_hot(const std::filesystem::path& file);
  void load();
  bool file_replaced() const;
  void recreate_file();
  void bound_wal();
  void maybe_compact(bool force);
  void report_suppressed(steady::time_point now);
  void hot_failed();
  // Writes the hot-tier records a batch collected so far.
  void write_held() {
    if (hot.active() && !hot.write_held()) hot_failed();
  }
  // The same with the removals that may wait (flush(), sync(), close).
  void write_all_held() {
    if (hot.active() && !hot.write_all_held()) hot_failed();
  }
  void backlog_add(std::string_view topic);
  void backlog_remove(std::string_view topic);
  bool live_first() const { return options.drain == drain_order::live_first; }
  flush_result write_chunk(std::map<message_id, pending_entry>::iterator end);
  envelope row_envelope(const sqlite::statement& row) const;
  // In-flight bookkeeping for a row read into `e`.
  static disk_flight flight_of(const sqlite::statement& row, const envelope& e) {
    return disk_flight{static_cast<std::uint64_t>(row.column_int64(7)), e.packet_id, e.state, e.msg.qos,
                       e.msg.topic};
  }
  std::size_t take_from_disk(std::size_t n, std::vector<envelope>& out);
  std::vector<std::map<message_id, pending_entry>::iterator> live_candidates(std::size_t n);
  void hand_out(std::map<message_id, pending_entry>::iterator it, std::vector<envelope>& out);
  bool drop_oldest_one();
  bool drop_oldest_pending();
  void forget(std::uint64_t size) { --count; bytes -= size; }
  // `completed`: published (not rejected), so a QoS 0/1 message's removal
  // may wait for the next write of the hot tier (hot_log::remove_later).
  bool remove_message(message_id id, bool completed);
  bool hot_remove(message_id id, bool may_wait) {
    return may_wait ? hot.remove_later(id) : hot.remove(id);
  }
  flush_result write(std::map<message_id, pending_entry>::iterator end);
  std::map<message_id, pending_entry> recovered_pending;  // hot tier entries SQLite refused at open
  bool update_qos2(message_id id, std::uint16_t packet_id, qos2_state state);
  void log_drop(log_rate_limit& limit, std::string_view what);
};

queue::impl::impl(settings s, logger_ptr l) : options(std::move(s)), log(std::move(l)) {
  wal_bound = derive_wal_bound(options);
  budget = options.max_size - wal_bound;
  auto opened = open_queue_database(options.path, log);
  db = std::move(opened.db);
  if (opened.quarantined) stats.quarantined = 1;
  prepare();
  remember_file();
  configure_wal();
  const auto file = hot_file_for(options.path, options.hot_path);
  if (file) recover_hot(*file);
  load();
  if (file) {
    std::string error;
    if (!hot.start(*file, error)) {
      // What the old log held is in the database now (unless it refused, then
      // in memory below): a stale log must not be replayed over later ids.
      if (recovered_pending.empty()) ::unlink(file->c_str());
      log->error("store: no hot tier ({}); a kill -9 may lose up to flush_interval ({} ms) of readings", error,
                 options.flush_interval.count());
    } else if (!is_ram_filesystem(file->parent_path())) {
      log->warn("store: the hot tier {} is not on tmpfs or ramfs: every reading is written to that disk "
                "(set store.hot_path to a tmpfs directory, or none)",
                file->string());
    }
  }
  // Messages the database would not take at open stay in memory and in the
  // fresh hot log; those it already holds as rows are rows.
  const message_id first_unwritten = next_id;
  for (auto& [id, entry] : recovered_pending) {
    if (id < first_unwritten) continue;
    pending_bytes += entry.size();
    ++count;
    bytes += entry.size();
    if (entry.state != qos2_state::none) {
      entry.in_flight = true;
      resumed.push_back(envelope{id, entry.to_message(), entry.packet_id, entry.state});
    }
    next_id = std::max(next_id, id + 1);
    pending_cursor = std::min(pending_cursor, id);
    pending.emplace(id, std::move(entry));
  }
  recovered_pending.clear();
  if (!pending.empty()) {
    pending_cursor = pending.begin()->first;
    maybe_compact(true);
  }
}

void queue::impl::prepare() {
  insert = sqlite::statement(db.get(),
      "INSERT INTO messages(id, ts, topic, payload, qos, retain, source, size, packet_id, qos2_state) "
      "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  remove = sqlite::statement(db.get(), "DELETE FROM messages WHERE id = ?");
  remove_range = sqlite::statement(db.get(), "DELETE FROM messages WHERE id BETWEEN ? AND ?");
  read_from = sqlite::statement(db.get(), std::string(select_rows) + "WHERE id >= ? ORDER BY id LIMIT ?");
  oldest_from = sqlite::statement(db.get(), "SELECT id, size, topic FROM messages WHERE id >= ? ORDER BY id LIMIT ?");
  oldest_ts = sqlite::statement(db.get(), "SELECT id, ts FROM messages WHERE id >= ? ORDER BY id LIMIT 64");
  set_qos2 = sqlite::statement(db.get(), "UPDATE messages SET packet_id = ?, qos2_state = ? WHERE id = ?");
  upsert_stat = sqlite::statement(db.get(),
      "INSERT INTO stats(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value");
}

void queue::impl::remember_file() {
  struct stat st {};
  file_known = options.path != ":memory:" && !options.path.empty() && ::stat(options.path.c_str(), &st) == 0;
  file_dev = st.st_dev;
  file_ino = st.st_ino;
}

void queue::impl::configure_wal() {
  if (!file_known) return;
  // The checkpoint policy is ours (bound_wal() after each commit), and a
  // checkpointed WAL is cut back to half the bound when it restarts.
  const auto limit = std::to_string(wal_bound / 2);
  sqlite::exec(db.get(), ("PRAGMA journal_size_limit = " + limit).c_str());
  sqlite::exec(db.get(), "PRAGMA wal_autocheckpoint = 0");
}

// Replays the hot tier's log of the previous run into the database, in one
// transaction, before anything else reads it. Rows already written win over
// the log (their later QoS 2 changes were committed to the database);
// removals apply to both. Replaying twice gives the same database.
void queue::impl::recover_hot(const std::filesystem::path& file) {
  auto replay = hot_log::replay(file);
  if (replay.torn) {
    log->warn("store: the hot tier {} ends in a torn or damaged record after {} whole ones; ignored the rest",
              file.string(), replay.records);
  }
  if (replay.messages.empty() && replay.removed_written.empty()) return;
  sqlite::statement add(db.get(),
      "INSERT OR IGNORE INTO messages(id, ts, topic, payload, qos, retain, source, size, packet_id, qos2_state) "
      "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  sqlite::transaction tx(db.get());
  int rc = tx.begin();
  std::uint64_t added = 0;
  for (auto it = replay.removed_written.begin(); rc == SQLITE_OK && it != replay.removed_written.end(); ++it) {
    const int done = remove.bind(1, *it).run();
    rc = done == SQLITE_DONE ? SQLITE_OK : done;
  }
  for (auto it = replay.messages.begin(); rc == SQLITE_OK && it != replay.messages.end(); ++it) {
    const auto& [id, h] = *it;
    const auto& m = h.msg;
    add.bind(1, id).bind(2, to_unix_ms(m.ts)).bind(3, m.topic).bind_blob(4, m.payload).bind(5, m.qos)
        .bind(6, m.retain ? 1 : 0).bind(7, m.source).bind(8, static_cast<std::int64_t>(message_bytes(m)))
        .bind(9, h.packet_id).bind(10, static_cast<std::int64_t>(h.state));
    const int done = add.run();
    rc = done == SQLITE_DONE ? SQLITE_OK : done;
    if (rc == SQLITE_OK) added += static_cast<std::uint64_t>(sqlite3_changes(db.get()));
  }
  if (rc == SQLITE_OK) rc = tx.commit();
  if (rc == SQLITE_OK) {
    stats.recovered = added;
    log->info("store: recovered {} message(s) from the hot tier {} ({} removal(s))", added, file.string(),
              replay.removed_written.size());
    return;
  }
  log->error("{}; keeping the hot tier's {} message(s) in memory and in the hot tier",
             sqlite::describe(db.get(), rc, "store: cannot write what the hot tier recovered"),
             replay.messages.size());
  for (const auto& [id, h] : replay.messages) {
    recovered_pending.emplace(id, pending_entry{h.msg, steady::now(), h.packet_id, h.state});
  }
  stats.recovered = replay.messages.size();
}

void queue::impl::load() {
  sqlite::statement totals(db.get(), "SELECT count(*), coalesce(sum(size), 0), coalesce(max(id), 0) FROM messages");
  if (const int rc = totals.step(); rc != SQLITE_ROW) {
    throw store_error(sqlite::describe(db.get(), rc, "cannot read the queue"));
  }
  disk_rows = static_cast<std::uint64_t>(totals.column_int64(0));
  count = disk_rows;
  bytes = static_cast<std::uint64_t>(totals.column_int64(1));
  next_id = totals.column_int64(2) + 1;
  disk_cursor = pending_cursor = drop_cursor = next_id;
  if (disk_rows > 0) disk_cursor = drop_cursor = 0;
  if (live_first()) {
    sqlite::statement topics(db.get(), "SELECT topic, count(*) FROM messages WHERE qos2_state = 0 GROUP BY topic");
    while (topics.step() == SQLITE_ROW) {
      backlog_topics[topics.column_text(0)] = static_cast<std::uint64_t>(topics.column_int64(1));
    }
  }

  sqlite::statement in_flight(db.get(), std::string(select_rows) + "WHERE qos2_state != 0 ORDER BY id");
  while (in_flight.step() == SQLITE_ROW) {
    auto e = row_envelope(in_flight);
    disk_in_flight.emplace(e.id, flight_of(in_flight, e));
    resumed.push_back(std::move(e));
  }
  if (count > 0) {
    log->info("store: {} holds {} messages ({} bytes), {} QoS 2 exchanges to resume", options.path.string(), count,
              bytes, resumed.size());
  }
}

envelope queue::impl::row_envelope(const sqlite::statement& row) const {
  envelope e;
  e.id = row.column_int64(0);
  e.msg.ts = from_unix_ms(row.column_int64(1));
  e.msg.topic = row.column_text(2);
  e.msg.payload = row.column_text(3);
  e.msg.qos = static_cast<std::uint8_t>(row.column_int64(4));
  e.msg.retain = row.column_int64(5) != 0;
  e.msg.source = row.column_text(6);
  e.packet_id = static_cast<std::uint16_t>(row.column_int64(8));
  e.state = static_cast<qos2_state>(row.column_int64(9));
  return e;
}

void queue::impl::log_drop(log_rate_limit& limit, std::string_view what) {
  if (const auto n = limit.event()) {
    log->warn("store: {} {} message(s) since the last report (depth {}, {} of max_size {} bytes)", what, *n, count,
              bytes, options.max_size);
  }
}

// The last burst of a rate-limited event, which no later event would report.
void queue::impl::report_suppressed(steady::time_point now) {
  if (const auto n = drop_log.pending_report(now)) {
    log->warn("store: store full: {} more message(s) dropped or refused since the last report (depth {}, {} of "
              "max_size {} bytes)",
              *n, count, bytes, options.max_size);
  }
  if (const auto n = overflow_log.pending_report(now)) {
    log->warn("store: disk failing and memory_limit reached: {} more message(s) dropped or refused since the last "
              "report",
              *n);
  }
  if (const auto n = write_error_log.pending_report(now)) {
    log->error("store: {} more failed write(s) since the last report; {} messages ({} bytes) in memory", *n,
               pending.size(), pending_bytes);
  }
  if (const auto n = file_log.pending_report(now)) {
    log->error("store: {} more failed attempt(s) to recreate {}", *n, options.path.string());
  }
}

void queue::impl::backlog_add(std::string_view topic) {
  if (!live_first()) return;
  if (auto it = backlog_topics.find(topic); it != backlog_topics.end()) {
    ++it->second;
  } else {
    backlog_topics.emplace(topic, 1);
  }
}

void queue::impl::backlog_remove(std::string_view topic) {
  if (!live_first()) return;
  if (auto it = backlog_topics.find(topic); it != backlog_topics.end() && --it->second == 0) backlog_topics.erase(it);
}

void queue::impl::hot_failed() {
  log->error("store: {}; the hot tier is off: a kill -9 may now lose up to flush_interval ({} ms) of readings",
             hot.last_error(), options.flush_interval.count());
}

// Rewrites the hot tier with only what is still only in memory, when the
// file holds mostly records that no longer matter (or when forced).
void queue::impl::maybe_compact(bool force) {
  if (!hot.active()) return;
  const auto live = pending_bytes + doomed.size() * hot_remove_bytes;
  if (!force && hot.bytes() <= 2 * live + hot_slack) return;
  if (!hot.rewrite(pending, doomed)) {
    hot.discard();
    hot_failed();
  }
}

// Written rows in id order from disk_cursor, skipping those in flight or
// doomed. All written rows are older than every pending entry.
std::size_t queue::impl::take_from_disk(std::size_t n, std::vector<envelope>& out) {
  std::size_t taken = 0;
  // Neither cursor has an available row below it: when full, the drops ran
  // ahead, and the rows they doomed need not be read again.
  disk_cursor = std::max(disk_cursor, drop_cursor);
  while (taken < n && disk_available() > 0) {
    read_from.bind(1, disk_cursor).bind(2, std::max<std::int64_t>(read_chunk, static_cast<std::int64_t>(n - taken)));
    bool any = false;
    int rc = SQLITE_OK;
    while (taken < n && (rc = read_from.step()) == SQLITE_ROW) {
      any = true;
      const message_id id = read_from.column_int64(0);
      disk_cursor = id + 1;
      if (!disk_row_available(id)) continue;
      auto e = row_envelope(read_from);
      backlog_remove(e.msg.topic);
      disk_in_flight.emplace(id, flight_of(read_from, e));
      out.push_back(std::move(e));
      ++taken;
    }
    read_from.reset();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      log->error("{}", sqlite::describe(db.get(), rc, "store: cannot read queued messages"));
      break;
    }
    if (!any) break;
  }
  return taken;
}

// Pending messages to hand out next. live_first passes over those whose
// topic still has older messages in the backlog: they wait their turn, so a
// topic never gets an older value after a newer one.
std::vector<std::map<message_id, pending_entry>::iterator> queue::impl::live_candidates(std::size_t n) {
  std::vector<std::map<message_id, pending_entry>::iterator> found;
  std::optional<message_id> first_waiting;
  waiting_from.reset();
  for (auto it = pending.lower_bound(pending_cursor); it != pending.end() && found.size() < n; ++it) {
    if (it->second.in_flight) continue;
    if (!backlog_topics.empty() && backlog_topics.contains(it->second.topic())) {
      if (!first_waiting) first_waiting = it->first;
      continue;
    }
    found.push_back(it);
  }
  if (first_waiting) waiting_from = *first_waiting;
  return found;
}

void queue::impl::hand_out(std::map<message_id, pending_entry>::iterator it, std::vector<envelope>& out) {
  auto& entry = it->second;
  entry.in_flight = true;
  pending_cursor = it->first + 1;
  if (waiting_from) pending_cursor = std::min(pending_cursor, *waiting_from);
  out.push_back(envelope{it->first, entry.to_message(), entry.packet_id, entry.state});
}

bool queue::impl::drop_oldest_pending() {
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    if (it->second.in_flight) continue;
    pending_bytes -= it->second.size();
    forget(it->second.size());
    if (hot.active() && !hot.remove(it->first)) hot_failed();
    pending.erase(it);
    return true;
  }
  return false;
}

// Makes room by removing the oldest message that is not in flight (a
// message being published is about to leave anyway).
bool queue::impl::drop_oldest_one() {
  while (disk_available() > 0) {
    if (drop_next == drop_ahead.size()) {
      forget_drop_ahead();
      drop_cursor = std::max(drop_cursor, disk_cursor);  // the oldest rows are in flight
      oldest_from.bind(1, drop_cursor).bind(2, read_chunk);
      while (oldest_from.step() == SQLITE_ROW) {
        drop_ahead.push_back({oldest_from.column_int64(0), static_cast<std::uint64_t>(oldest_from.column_int64(1)),
                              live_first() ? oldest_from.column_text(2) : std::string()});
      }
      oldest_from.reset();
      if (drop_ahead.empty()) break;
    }
    const auto& candidate = drop_ahead[drop_next++];
    drop_cursor = candidate.id + 1;
    if (!disk_row_available(candidate.id)) continue;
    doomed.insert(candidate.id);
    forget(candidate.size);
    backlog_remove(candidate.topic);
    if (hot.active() && !hot.remove(candidate.id)) hot_failed();
    return true;
  }
  return drop_oldest_pending();
}

// Writes pending messages up to `end` and the deletions, in transactions of
// at most a quarter of the WAL's bound (and a few hundred rows while the
// disk fails), then bounds the WAL and compacts the hot tier.
flush_result queue::impl::write(std::map<message_id, pending_entry>::iterator end) {
  if (pending.begin() == end && doomed.empty()) {
    maybe_compact(false);
    return flush_result::nothing_to_write;
  }
  flush_result result = flush_result::nothing_to_write;
  do {
    const std::uint64_t max_bytes = std::max<std::uint64_t>(wal_bound / 4, 1);
    std::size_t rows = 0;
    std::uint64_t chunk_bytes = 0;
    auto chunk_end = pending.begin();
    while (chunk_end != end && (rows == 0 || (chunk_bytes + chunk_end->second.size() <= max_bytes &&
                                              (!disk_failing || rows < failing_chunk_rows)))) {
      chunk_bytes += chunk_end->second.size();
      ++rows;
      ++chunk_end;
    }
    result = write_chunk(chunk_end);
  } while (result == flush_result::committed && pending.begin() != end);
  if (result == flush_result::committed) bound_wal();
  maybe_compact(false);
  return result;
}

// Whether the path no longer names the file the connection has open (it was
// deleted, or another file was put there).
bool queue::impl::file_replaced() const {
  if (!file_known) return false;
  struct stat st {};
  if (::stat(options.path.c_str(), &st) != 0) return errno == ENOENT;
  return st.st_dev != file_dev || st.st_ino != file_ino;
}

// Makes the store again at its path from the still-open connection (VACUUM
// INTO copies every committed row, QoS 2 state and counter, with the same
// ids), moving a foreign file aside, and reopens it. All in-memory state
// stays valid since the rows are the same. On failure it tries again at the
// next flush.
void queue::impl::recreate_file() {
  const auto path = options.path;
  const bool foreign = std::filesystem::exists(path);
  log->error("store: {} was {} while open; recreating it with the {} messages not yet acknowledged",
             path.string(), foreign ? "replaced by another file" : "deleted", count);
  const std::filesystem::path fresh = path.string() + ".recreating";
  std::error_code ec;
  std::filesystem::remove(fresh, ec);
  sqlite::statement copy(db.get(), "VACUUM INTO ?");
  if (const int rc = copy.bind(1, fresh.string()).run(); rc != SQLITE_DONE) {
    if (const auto n = file_log.event()) {
      log->error("{} ({} attempt(s) since the last report); retrying at the next flush",
                 sqlite::describe(db.get(), rc, "store: cannot recreate " + path.string()), *n);
    }
    std::filesystem::remove(fresh, ec);
    return;
  }
  copy = sqlite::statement();
  if (foreign) {
    const auto now = fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()));
    auto aside = std::filesystem::path(fmt::format("{}.replaced-{:%Y%m%dT%H%M%S}Z", path.string(), now));
    for (int n = 2; std::filesystem::exists(aside); ++n) {
      aside = fmt::format("{}.replaced-{:%Y%m%dT%H%M%S}Z-{}", path.string(), now, n);
    }
    std::filesystem::rename(path, aside, ec);
    if (ec) {
      log->error("store: cannot move {} aside to {}: {}; retrying at the next flush", path.string(), aside.string(),
                 ec.message());
      std::filesystem::remove(fresh, ec);
      return;
    }
    log->error("store: moved the file found at {} to {}", path.string(), aside.string());
  }
  // Close the old connection first: it checkpoints into the old file and
  // removes its -wal and -shm by name, before the new file takes the name.
  for (auto* st : {&insert, &remove, &remove_range, &read_from, &oldest_from, &oldest_ts, &set_qos2, &upsert_stat}) *st = sqlite::statement();
  db.reset();
  std::filesystem::rename(fresh, path, ec);
  auto where = path;
  if (ec) {
    // Never seen; the rows are safe in the copy, which serves until restart.
    log->critical("store: cannot rename {} to {}: {}; using {} until the next start", fresh.string(), path.string(),
                  ec.message(), fresh.string());
    where = fresh;
  }
  auto opened = open_queue_database(where, log);
  db = std::move(opened.db);
  prepare();
  remember_file();
  configure_wal();
  ++stats.recreated;
  log->error("store: recreated {} with {} written messages; {} still in memory follow at the next writes",
             path.string(), disk_rows - doomed.size(), pending.size());
}

// After a commit: a WAL past half its bound is checkpointed and truncated.
// A reader in the middle of a transaction makes that wait (busy_timeout)
// and then fail; it is retried after the next commit.
void queue::impl::bound_wal() {
  if (!file_known) return;
  struct stat st {};
  const auto wal = options.path.string() + "-wal";
  if (::stat(wal.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) <= wal_bound / 2) return;
  const int rc = sqlite3_wal_checkpoint_v2(db.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    ++stats.checkpoints;
  } else {
    log->debug("{}", sqlite::describe(db.get(), rc, "store: WAL checkpoint postponed"));
  }
}

flush_result queue::impl::write_chunk(std::map<message_id, pending_entry>::iterator end) {
  counters after = stats;
  ++after.commits;
  // SQLITE_OK for a statement that completed, else its error code.
  const auto run = [](sqlite::statement& st) {
    const int done = st.run();
    return done == SQLITE_DONE ? SQLITE_OK : done;
  };
  sqlite::transaction tx(db.get());
  int rc = tx.begin();
  std::uint64_t written = 0;
  for (auto it = pending.begin(); rc == SQLITE_OK && it != end; ++it) {
    const auto& [id, entry] = *it;
    const auto m = entry.view();
    insert.bind(1, id).bind(2, to_unix_ms(m.ts)).bind(3, m.topic).bind_blob(4, m.payload).bind(5, m.qos)
        .bind(6, m.retain ? 1 : 0).bind(7, m.source).bind(8, static_cast<std::int64_t>(message_bytes(m)))
        .bind(9, entry.packet_id).bind(10, static_cast<std::int64_t>(entry.state));
    rc = run(insert);
    ++written;
  }
  // Deleted in id order, a run of consecutive ids (the oldest rows dropped
  // when full, a drained backlog) with one statement.
  std::vector<message_id> gone(doomed.begin(), doomed.end());
  std::sort(gone.begin(), gone.end());
  for (std::size_t i = 0; rc == SQLITE_OK && i < gone.size();) {
    std::size_t j = i + 1;
    while (j < gone.size() && gone[j] == gone[j - 1] + 1) ++j;
    rc = j - i == 1 ? run(remove.bind(1, gone[i])) : run(remove_range.bind(1, gone[i]).bind(2, gone[j - 1]));
    i = j;
  }
  after.written += written;
  for_each_counter(after, [&](const char* name, std::uint64_t value) {
    if (rc != SQLITE_OK) return;
    rc = run(upsert_stat.bind(1, name).bind(2, static_cast<std::int64_t>(value)));
  });
  if (rc == SQLITE_OK) {
    rc = run(upsert_stat.bind(1, "written_at_ms").bind(2, to_unix_ms(wall_clock::now())));
  }
  if (rc == SQLITE_OK) rc = tx.commit();
  if (rc != SQLITE_OK) {
    ++stats.write_errors;
    const auto problem = sqlite::describe(db.get(), rc, "store: cannot write the queue");
    disk_failing = true;
    if (const auto n = write_error_log.event()) {
      log->error("{}; {} failed write(s) since the last report; keeping {} messages ({} bytes) in memory "
                 "(memory_limit {}) and retrying",
                 problem, *n, pending.size(), pending_bytes, options.memory_limit);
    }
    return flush_result::failed;
  }
  if (disk_failing) log->warn("store: writes succeed again; {} messages written", written);
  disk_failing = false;
  stats = after;
  if (written > 0) disk_cursor = std::min(disk_cursor, pending.begin()->first);
  for (auto it = pending.begin(); it != end;) {
    auto& entry = it->second;
    if (entry.in_flight) {
      disk_in_flight.emplace(it->first,
                             disk_flight{entry.size(), entry.packet_id, entry.state, entry.qos(), std::string(entry.topic())});
    } else {
      backlog_add(entry.topic());
    }
    pending_bytes -= entry.size();
    it = pending.erase(it);
  }
  disk_rows += written;
  disk_rows -= doomed.size();
  doomed.clear();
  forget_drop_ahead();
  return flush_result::committed;
}

bool queue::impl::update_qos2(message_id id, std::uint16_t packet_id, qos2_state state) {
  if (auto it = pending.find(id); it != pending.end()) {
    // Not written yet: the state goes to the hot tier before the packet
    // leaves, and is written with the row. Without a hot tier a crash loses
    // the message itself, so nothing can be sent twice either.
    it->second.packet_id = packet_id;
    it->second.state = state;
    if (hot.active() && !hot.set_qos2(id, packet_id, state)) hot_failed();
    return true;
  }
  auto flight = disk_in_flight.find(id);
  if (flight == disk_in_flight.end()) return false;
  // Written rows change at once (autocommit, synchronous=FULL): the state
  // must be durable before the packet it announces leaves.
  const int rc = set_qos2.bind(1, packet_id).bind(2, static_cast<std::int64_t>(state)).bind(3, id).run();
  if (rc != SQLITE_DONE) {
    ++stats.write_errors;
    log->error("{}", sqlite::describe(db.get(), rc, "store: cannot record QoS 2 state"));
    return false;
  }
  flight->second.packet_id = packet_id;
  flight->second.state = state;
  return true;
}

// ---------------------------------------------------------------------------

queue::queue(settings options, logger_ptr log) : impl_(std::make_unique<impl>(std::move(options), std::move(log))) {}

queue::~queue() {
  auto& s = *impl_;
  s.write_all_held();  // should the disk not take what is pending, the hot tier keeps it
  if (s.write(s.pending.end()) != flush_result::failed) {
    s.hot.discard();  // nothing is only in memory any more
  } else if (s.hot.active()) {
    s.log->error("store: {} messages the disk did not take stay in the hot tier {} for the next start",
                 s.pending.size(), s.hot.path().string());
  } else {
    s.log->error("store: {} messages still in memory are lost at close", s.pending.size());
  }
}

std::optional<message_id> queue::append(message m) {
  auto& s = *impl_;
  const auto size = message_bytes(m);
  while (s.bytes + size > s.budget && s.count > 0) {
    if (s.options.on_full == overflow_policy::drop_newest) {
      ++s.stats.dropped_newest;
      s.log_drop(s.drop_log, "store full: refused (drop_newest)");
      return std::nullopt;
    }
    if (!s.drop_oldest_one()) break;  // all in flight: accept, over by at most the window
    ++s.stats.dropped_oldest;
    s.log_drop(s.drop_log, "store full: dropped the oldest (drop_oldest)");
  }
  if (s.pending_bytes + size > s.options.memory_limit && !s.disk_failing) sync();
  while (s.pending_bytes + size > s.options.memory_limit && !s.pending.empty()) {
    // The disk refuses writes and memory is full: the same policy decides.
    if (s.options.on_full == overflow_policy::drop_newest || !s.drop_oldest_pending()) {
      ++s.stats.dropped_overflow;
      s.log_drop(s.overflow_log, "disk failing and memory_limit reached: refused");
      return std::nullopt;
    }
    ++s.stats.dropped_overflow;
    s.log_drop(s.overflow_log, "disk failing and memory_limit reached: dropped the oldest");
  }
  const message_id id = s.next_id++;
  if (s.hot.active()) {
    if (!s.hot.add(id, m, 0, qos2_state::none)) s.hot_failed();
  }
  s.pending.emplace_hint(s.pending.end(), id, pending_entry{m, steady::now()});
  s.pending_bytes += size;
  ++s.count;
  s.bytes += size;
  ++s.stats.appended;
  if (!s.disk_failing && (s.options.flush_interval.count() == 0 || s.pending.size() >= s.options.max_batch ||
                          s.pending_bytes >= s.options.memory_limit / 2)) {
    sync();
  } else if (s.hot.active() && s.hot.bytes() > 2 * s.pending_bytes + s.options.memory_limit + hot_slack) {
    s.maybe_compact(false);  // bounded between flushes, too
  }
  return id;
}

queue::batch::batch(queue& q) : queue_(q) {
  if (queue_.impl_->batches++ == 0) queue_.impl_->hot.hold(true);
}

queue::batch::~batch() {
  auto& s = *queue_.impl_;
  s.write_held();
  if (--s.batches == 0) s.hot.hold(false);
}

std::vector<envelope> queue::take(std::size_t max) {
  auto& s = *impl_;
  s.write_held();  // what is handed out is in the hot tier first
  std::vector<envelope> out;
  out.reserve(max);
  if (s.options.drain == drain_order::fifo) {
    s.take_from_disk(max, out);
    for (auto it : s.live_candidates(max - out.size())) s.hand_out(it, out);
    return out;
  }
  // live_first: fresh (unwritten) messages first, but after every
  // live_per_backlog of them one from the backlog, so it never starves.
  const auto live = s.live_candidates(max);
  auto backlog = s.disk_available();
  std::size_t n_live = 0, n_backlog = 0;
  while (n_live + n_backlog < max && (n_live < live.size() || backlog > 0)) {
    if (n_live < live.size() && (s.live_streak < live_per_backlog || backlog == 0)) {
      ++n_live;
      ++s.live_streak;
    } else {
      ++n_backlog;
      --backlog;
      s.live_streak = 0;
    }
  }
  for (std::size_t i = 0; i < n_live; ++i) s.hand_out(live[i], out);
  s.take_from_disk(n_backlog, out);
  return out;
}

// Removes a message that is done with, written or not. Returns whether it
// was known (in memory or in flight).
bool queue::impl::remove_message(message_id id, bool completed) {
  if (auto it = pending.find(id); it != pending.end()) {
    const bool may_wait = removal_may_wait(completed, it->second.qos(), it->second.state);
    pending_bytes -= it->second.size();
    forget(it->second.size());
    pending.erase(it);
    ++stats.never_written;
    if (hot.active() && !hot_remove(id, may_wait)) hot_failed();
    return true;
  }
  if (auto it = disk_in_flight.find(id); it != disk_in_flight.end()) {
    const bool may_wait = removal_may_wait(completed, it->second.qos, it->second.state);
    forget(it->second.size);
    disk_in_flight.erase(it);
    doomed.insert(id);
    // Until the deletion commits, the hot tier remembers it, so a kill -9
    // does not publish it again (or, while its record waits, once more).
    if (hot.active() && !hot_remove(id, may_wait)) hot_failed();
    return true;
  }
  return false;
}

void queue::complete(message_id id) {
  if (impl_->remove_message(id, true)) ++impl_->stats.completed;
}

void queue::reject(message_id id) {
  if (impl_->remove_message(id, false)) ++impl_->stats.rejected;
}

void queue::undelivered(message_id id) {
  auto& s = *impl_;
  if (auto it = s.pending.find(id); it != s.pending.end() && it->second.in_flight) {
    it->second.in_flight = false;
    if (it->second.state != qos2_state::none) s.update_qos2(id, 0, qos2_state::none);
    s.pending_cursor = std::min(s.pending_cursor, id);
    ++s.stats.redelivered;
    return;
  }
  if (auto it = s.disk_in_flight.find(id); it != s.disk_in_flight.end()) {
    if (it->second.state != qos2_state::none) s.update_qos2(id, 0, qos2_state::none);
    s.backlog_add(it->second.topic);
    s.disk_in_flight.erase(id);
    s.disk_cursor = std::min(s.disk_cursor, id);
    if (id < s.drop_cursor) {
      s.drop_cursor = id;
      s.forget_drop_ahead();
    }
    ++s.stats.redelivered;
  }
}

bool queue::record_publish_sent(message_id id, std::uint16_t packet_id) {
  return impl_->update_qos2(id, packet_id, qos2_state::publish_sent);
}

bool queue::record_pubrel_sent(message_id id) {
  auto& s = *impl_;
  std::uint16_t packet_id = 0;
  if (auto it = s.pending.find(id); it != s.pending.end()) {
    packet_id = it->second.packet_id;
  } else if (auto flight = s.disk_in_flight.find(id); flight != s.disk_in_flight.end()) {
    packet_id = flight->second.packet_id;
  }
  return s.update_qos2(id, packet_id, qos2_state::pubrel_sent);
}

const std::vector<envelope>& queue::resumed() const noexcept { return impl_->resumed; }

flush_result queue::flush(std::chrono::steady_clock::time_point now) {
  auto& s = *impl_;
  s.write_all_held();  // bounds how long a completion's record waits
  if (s.file_replaced()) s.recreate_file();
  const auto due = now - flush_period();
  auto end = s.pending.begin();
  while (end != s.pending.end() && end->second.accepted <= due) ++end;
  const auto result = s.write(end);
  s.report_suppressed(now);
  return result;
}

flush_result queue::sync() {
  impl_->write_all_held();
  return impl_->write(impl_->pending.end());
}

std::chrono::milliseconds queue::flush_period() const noexcept {
  // flush_interval 0 writes at append(); the timer then only deletes.
  const auto interval = impl_->options.flush_interval;
  return interval.count() == 0 ? std::chrono::milliseconds(1000) : interval / 2;
}
std::uint64_t queue::depth() const noexcept { return impl_->count; }
std::optional<std::filesystem::path> queue::hot_file() const {
  if (!impl_->hot.active()) return std::nullopt;
  return impl_->hot.path();
}
std::uint64_t queue::hot_bytes() const noexcept { return impl_->hot.bytes(); }
std::uint64_t queue::hot_bytes_written() const noexcept { return impl_->hot.written(); }
std::uint64_t queue::wal_bound() const noexcept { return impl_->wal_bound; }
std::uint64_t queue::bytes() const noexcept { return impl_->bytes; }
std::uint64_t queue::pending() const noexcept { return impl_->pending.size(); }
bool queue::disk_failing() const noexcept { return impl_->disk_failing; }

std::optional<wall_clock::time_point> queue::oldest() const {
  auto& s = *impl_;
  // Every written row is older than every pending entry; a doomed row is
  // completed already and only waits for its DELETE.
  if (s.disk_rows > s.doomed.size() && s.db) {
    message_id from = 0;
    for (bool more = true; more;) {
      more = false;
      s.oldest_ts.bind(1, from);
      while (s.oldest_ts.step() == SQLITE_ROW) {
        more = true;
        const message_id id = s.oldest_ts.column_int64(0);
        from = id + 1;
        if (!s.doomed.contains(id)) {
          const auto ts = from_unix_ms(s.oldest_ts.column_int64(1));
          s.oldest_ts.reset();
          return ts;
        }
      }
      s.oldest_ts.reset();
    }
  }
  if (!s.pending.empty()) return s.pending.begin()->second.ts();
  return std::nullopt;
}
const counters& queue::stats() const noexcept { return impl_->stats; }

void queue::limit_file_pages(std::uint64_t pages) {
  // max_page_count cannot go below the current size; 0 means "no cap" here.
  const auto value = pages == 0 ? std::string("4294967294") : std::to_string(pages);
  int rc = SQLITE_OK;
  sqlite::query_text(impl_->db.get(), ("PRAGMA max_page_count = " + value).c_str(), rc);
}

}  // namespace fieldbridge::store
