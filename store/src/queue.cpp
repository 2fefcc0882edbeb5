#include "fieldbridge/store/queue.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

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

// The columns row_envelope() reads, in its order.
constexpr std::string_view select_rows =
    "SELECT id, ts, topic, payload, qos, retain, source, size, packet_id, qos2_state FROM messages ";

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
}

}  // namespace

std::uint64_t message_bytes(const message& m) {
  return m.topic.size() + m.payload.size() + m.source.size() + row_overhead;
}

// A message appended but not written yet.
struct pending_entry {
  message msg;
  std::uint64_t size = 0;
  steady::time_point accepted;
  std::uint16_t packet_id = 0;
  qos2_state state = qos2_state::none;
  bool in_flight = false;
};

// A written message that take() handed out.
struct disk_flight {
  std::uint64_t size = 0;
  std::uint16_t packet_id = 0;  // as the row holds it
  qos2_state state = qos2_state::none;
};

struct queue::impl {
  impl(settings s, logger_ptr l);

  settings options;
  logger_ptr log;
  counters stats;
  sqlite::connection db;
  sqlite::statement insert, remove, read_from, oldest_from, set_qos2, upsert_stat;

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
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  bool disk_failing = false;
  unsigned live_streak = 0;
  std::vector<envelope> resumed;
  log_rate_limit drop_log, overflow_log, write_error_log;

  std::uint64_t disk_available() const { return disk_rows - doomed.size() - disk_in_flight.size(); }
  bool disk_row_available(message_id id) const { return !doomed.contains(id) && !disk_in_flight.contains(id); }

  void load();
  envelope row_envelope(const sqlite::statement& row) const;
  // In-flight bookkeeping for a row read into `e`.
  static disk_flight flight_of(const sqlite::statement& row, const envelope& e) {
    return disk_flight{static_cast<std::uint64_t>(row.column_int64(7)), e.packet_id, e.state};
  }
  std::size_t take_from_disk(std::size_t n, std::vector<envelope>& out);
  std::vector<std::map<message_id, pending_entry>::iterator> live_candidates(std::size_t n);
  void hand_out(std::map<message_id, pending_entry>::iterator it, std::vector<envelope>& out);
  bool drop_oldest_one();
  bool drop_oldest_pending();
  void forget(std::uint64_t size) { --count; bytes -= size; }
  bool remove_message(message_id id);
  flush_result write(std::map<message_id, pending_entry>::iterator end);
  bool update_qos2(message_id id, std::uint16_t packet_id, qos2_state state);
  void log_drop(log_rate_limit& limit, std::string_view what);
};

queue::impl::impl(settings s, logger_ptr l) : options(std::move(s)), log(std::move(l)) {
  auto opened = open_queue_database(options.path, log);
  db = std::move(opened.db);
  if (opened.quarantined) stats.quarantined = 1;
  insert = sqlite::statement(db.get(),
      "INSERT INTO messages(id, ts, topic, payload, qos, retain, source, size, packet_id, qos2_state) "
      "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  remove = sqlite::statement(db.get(), "DELETE FROM messages WHERE id = ?");
  read_from = sqlite::statement(db.get(), std::string(select_rows) + "WHERE id >= ? ORDER BY id LIMIT ?");
  oldest_from = sqlite::statement(db.get(), "SELECT id, size FROM messages WHERE id >= ? ORDER BY id LIMIT ?");
  set_qos2 = sqlite::statement(db.get(), "UPDATE messages SET packet_id = ?, qos2_state = ? WHERE id = ?");
  upsert_stat = sqlite::statement(db.get(),
      "INSERT INTO stats(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value");
  load();
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

// Written rows in id order from disk_cursor, skipping those in flight or
// doomed. All written rows are older than every pending entry.
std::size_t queue::impl::take_from_disk(std::size_t n, std::vector<envelope>& out) {
  std::size_t taken = 0;
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

std::vector<std::map<message_id, pending_entry>::iterator> queue::impl::live_candidates(std::size_t n) {
  std::vector<std::map<message_id, pending_entry>::iterator> found;
  for (auto it = pending.lower_bound(pending_cursor); it != pending.end() && found.size() < n; ++it) {
    if (!it->second.in_flight) found.push_back(it);
  }
  return found;
}

void queue::impl::hand_out(std::map<message_id, pending_entry>::iterator it, std::vector<envelope>& out) {
  auto& entry = it->second;
  entry.in_flight = true;
  pending_cursor = it->first + 1;
  out.push_back(envelope{it->first, entry.msg, entry.packet_id, entry.state});
}

bool queue::impl::drop_oldest_pending() {
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    if (it->second.in_flight) continue;
    pending_bytes -= it->second.size;
    forget(it->second.size);
    pending.erase(it);
    return true;
  }
  return false;
}

// Makes room by removing the oldest message that is not in flight (a
// message being published is about to leave anyway).
bool queue::impl::drop_oldest_one() {
  while (disk_available() > 0) {
    oldest_from.bind(1, drop_cursor).bind(2, read_chunk);
    bool any = false;
    bool dropped = false;
    while (!dropped && oldest_from.step() == SQLITE_ROW) {
      any = true;
      const message_id id = oldest_from.column_int64(0);
      drop_cursor = id + 1;
      if (!disk_row_available(id)) continue;
      doomed.insert(id);
      forget(static_cast<std::uint64_t>(oldest_from.column_int64(1)));
      dropped = true;
    }
    oldest_from.reset();
    if (dropped) return true;
    if (!any) break;
  }
  return drop_oldest_pending();
}

flush_result queue::impl::write(std::map<message_id, pending_entry>::iterator end) {
  if (pending.begin() == end && doomed.empty()) return flush_result::nothing_to_write;
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
    const auto& m = entry.msg;
    insert.bind(1, id).bind(2, to_unix_ms(m.ts)).bind(3, m.topic).bind_blob(4, m.payload).bind(5, m.qos)
        .bind(6, m.retain ? 1 : 0).bind(7, m.source).bind(8, static_cast<std::int64_t>(entry.size))
        .bind(9, entry.packet_id).bind(10, static_cast<std::int64_t>(entry.state));
    rc = run(insert);
    ++written;
  }
  for (auto it = doomed.begin(); rc == SQLITE_OK && it != doomed.end(); ++it) {
    rc = run(remove.bind(1, *it));
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
    if (entry.in_flight) disk_in_flight.emplace(it->first, disk_flight{entry.size, entry.packet_id, entry.state});
    pending_bytes -= entry.size;
    it = pending.erase(it);
  }
  disk_rows += written;
  disk_rows -= doomed.size();
  doomed.clear();
  return flush_result::committed;
}

bool queue::impl::update_qos2(message_id id, std::uint16_t packet_id, qos2_state state) {
  if (auto it = pending.find(id); it != pending.end()) {
    // Not written yet: the state is written with the row, and a crash before
    // then loses the message itself, so nothing can be sent twice.
    it->second.packet_id = packet_id;
    it->second.state = state;
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
  if (impl_->pending.empty() && impl_->doomed.empty()) return;
  if (impl_->write(impl_->pending.end()) == flush_result::failed) {
    impl_->log->error("store: {} messages still in memory are lost at close", impl_->pending.size());
  }
}

std::optional<message_id> queue::append(message m) {
  auto& s = *impl_;
  const auto size = message_bytes(m);
  while (s.bytes + size > s.options.max_size && s.count > 0) {
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
  s.pending.emplace_hint(s.pending.end(), id, pending_entry{std::move(m), size, steady::now()});
  s.pending_bytes += size;
  ++s.count;
  s.bytes += size;
  ++s.stats.appended;
  if (!s.disk_failing && (s.options.flush_interval.count() == 0 || s.pending.size() >= s.options.max_batch ||
                          s.pending_bytes >= s.options.memory_limit / 2)) {
    sync();
  }
  return id;
}

std::vector<envelope> queue::take(std::size_t max) {
  auto& s = *impl_;
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
bool queue::impl::remove_message(message_id id) {
  if (auto it = pending.find(id); it != pending.end()) {
    pending_bytes -= it->second.size;
    forget(it->second.size);
    pending.erase(it);
    ++stats.never_written;
    return true;
  }
  if (auto it = disk_in_flight.find(id); it != disk_in_flight.end()) {
    forget(it->second.size);
    disk_in_flight.erase(it);
    doomed.insert(id);
    return true;
  }
  return false;
}

void queue::complete(message_id id) {
  if (impl_->remove_message(id)) ++impl_->stats.completed;
}

void queue::reject(message_id id) {
  if (impl_->remove_message(id)) ++impl_->stats.rejected;
}

void queue::undelivered(message_id id) {
  auto& s = *impl_;
  if (auto it = s.pending.find(id); it != s.pending.end() && it->second.in_flight) {
    it->second.in_flight = false;
    it->second.packet_id = 0;
    it->second.state = qos2_state::none;
    s.pending_cursor = std::min(s.pending_cursor, id);
    ++s.stats.redelivered;
    return;
  }
  if (auto it = s.disk_in_flight.find(id); it != s.disk_in_flight.end()) {
    if (it->second.state != qos2_state::none) s.update_qos2(id, 0, qos2_state::none);
    s.disk_in_flight.erase(id);
    s.disk_cursor = std::min(s.disk_cursor, id);
    s.drop_cursor = std::min(s.drop_cursor, id);
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
  const auto due = now - flush_period();
  auto end = s.pending.begin();
  while (end != s.pending.end() && end->second.accepted <= due) ++end;
  return s.write(end);
}

flush_result queue::sync() { return impl_->write(impl_->pending.end()); }

std::chrono::milliseconds queue::flush_period() const noexcept {
  // flush_interval 0 writes at append(); the timer then only deletes.
  const auto interval = impl_->options.flush_interval;
  return interval.count() == 0 ? std::chrono::milliseconds(1000) : interval / 2;
}
std::uint64_t queue::depth() const noexcept { return impl_->count; }
std::uint64_t queue::bytes() const noexcept { return impl_->bytes; }
std::uint64_t queue::pending() const noexcept { return impl_->pending.size(); }
bool queue::disk_failing() const noexcept { return impl_->disk_failing; }
const counters& queue::stats() const noexcept { return impl_->stats; }

void queue::limit_file_pages(std::uint64_t pages) {
  // max_page_count cannot go below the current size; 0 means "no cap" here.
  const auto value = pages == 0 ? std::string("4294967294") : std::to_string(pages);
  int rc = SQLITE_OK;
  sqlite::query_text(impl_->db.get(), ("PRAGMA max_page_count = " + value).c_str(), rc);
}

}  // namespace fieldbridge::store
