// store_bench [--count N] [--dir DIR] [--flush-ms MS] [--hot-dir DIR] [--full-size BYTES]
//
// One run, four rows: raw SQLite inserting N rows in one transaction (the
// physical limit), the store appending N messages with the consumer offline
// (everything is written), the store with a consumer that keeps up (a
// window of 20 in flight, as the MQTT client keeps), and the drain of the
// offline backlog to a completion callback. Bytes written come from
// /proc/self/io write_bytes (bytes this process dirtied for the storage
// layer), so they include the WAL, checkpoints and SQLite's own pages; the
// hot tier lives on tmpfs (--hot-dir, default /dev/shm), which has no
// storage layer, so its bytes are counted by the store itself. The
// keeping-up row runs twice, with and without the hot tier, for its CPU cost.
// Three rows more fill a store of --full-size bytes (64 MiB) from empty and
// append to it full, so every append drops the oldest: offline, and while
// draining.
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/store/queue.hpp"

namespace {

using namespace fieldbridge;
using steady = std::chrono::steady_clock;

std::uint64_t write_bytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  throw std::runtime_error("no write_bytes in /proc/self/io");
}

store::message sample(long n) {
  store::message m;
  m.topic = "plant1/boiler-room/meter1/voltage";
  m.payload = R"({"value":230.4,"ts":"2026-11-25T21:30:00.123Z","n":)" + std::to_string(n) + "}";
  m.qos = 1;
  m.ts = wall_clock::now();
  m.source = "meter1/voltage";
  return m;
}

struct result {
  double seconds = 0;
  std::uint64_t bytes = 0;
  double cpu_seconds = 0;  // this process, user + system
};

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Measures `work` in wall time and bytes written, after an fsync-free start.
result measure(const std::function<void()>& work) {
  ::sync();
  const auto bytes0 = write_bytes();
  const auto cpu0 = process_cpu_seconds();
  const auto t0 = steady::now();
  work();
  const auto t1 = steady::now();
  return {std::chrono::duration<double>(t1 - t0).count(), write_bytes() - bytes0, process_cpu_seconds() - cpu0};
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
  }
}

// The same table and pragmas as the store, rows inserted in one transaction.
void raw_sqlite(const std::filesystem::path& path, long count) {
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db), db, "open");
  check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "CREATE TABLE messages(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, topic TEXT NOT NULL,"
                         " payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, source TEXT NOT NULL,"
                         " size INTEGER NOT NULL, packet_id INTEGER NOT NULL DEFAULT 0,"
                         " qos2_state INTEGER NOT NULL DEFAULT 0);",
                     nullptr, nullptr, nullptr),
        db, "schema");
  sqlite3_stmt* insert = nullptr;
  check(sqlite3_prepare_v2(db,
                           "INSERT INTO messages(id, ts, topic, payload, qos, retain, source, size, packet_id,"
                           " qos2_state) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &insert, nullptr),
        db, "prepare");
  check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  for (long n = 1; n <= count; ++n) {
    const auto m = sample(n);
    sqlite3_bind_int64(insert, 1, n);
    sqlite3_bind_int64(insert, 2,
                       std::chrono::duration_cast<std::chrono::milliseconds>(m.ts.time_since_epoch()).count());
    sqlite3_bind_text(insert, 3, m.topic.data(), static_cast<int>(m.topic.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert, 4, m.payload.data(), static_cast<int>(m.payload.size()), SQLITE_STATIC);
    sqlite3_bind_int(insert, 5, m.qos);
    sqlite3_bind_int(insert, 6, 0);
    sqlite3_bind_text(insert, 7, m.source.data(), static_cast<int>(m.source.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 8, static_cast<sqlite3_int64>(store::message_bytes(m)));
    sqlite3_bind_int(insert, 9, 0);
    sqlite3_bind_int(insert, 10, 0);
    check(sqlite3_step(insert), db, "insert");
    sqlite3_reset(insert);
  }
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  sqlite3_finalize(insert);
  sqlite3_close(db);
}

// The owner's flush timer, folded into the append loop.
struct flush_timer {
  explicit flush_timer(store::queue& queue) : q(queue), next(steady::now() + queue.flush_period()) {}
  void poll(long n) {
    if ((n & 255) != 0) return;
    const auto now = steady::now();
    if (now < next) return;
    q.flush(now);
    next = now + q.flush_period();
  }
  store::queue& q;
  steady::time_point next;
};

void print_row(const char* name, long count, const result& r, const char* unit) {
  std::printf("%-44s %12.0f %-11s %10.1f s %10.2f\n", name, static_cast<double>(count) / r.seconds, unit, r.seconds,
              static_cast<double>(r.bytes) / static_cast<double>(count));
}

}  // namespace

int main(int argc, char** argv) {
  long count = 1'000'000;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
  long flush_ms = 1000;
  std::string hot_dir = "/dev/shm";
  std::uint64_t full_size = 64ull << 20;  // --full-size: the full store's max_size
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--count") count = std::atol(argv[i + 1]);
    else if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--flush-ms") flush_ms = std::atol(argv[i + 1]);
    else if (flag == "--hot-dir") hot_dir = argv[i + 1];
    else if (flag == "--full-size") full_size = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: store_bench [--count N] [--dir DIR] [--flush-ms MS] [--hot-dir DIR] [--full-size BYTES]\n");
      return 2;
    }
  }
  const auto work = dir / ("store-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(work);
  const auto log = make_null_logger();
  store::settings options;
  options.flush_interval = std::chrono::milliseconds(flush_ms);
  options.max_size = 1ull << 40;  // measure the store, not the cap
  options.hot_path = hot_dir;
  std::uint64_t offline_hot = 0;

  const auto raw = measure([&] { raw_sqlite(work / "raw.db", count); });

  options.path = work / "offline.db";
  result offline, drain;
  steady::duration longest_call{};
  {
    store::queue q(options, log);
    offline = measure([&] {
      flush_timer timer(q);
      for (long n = 1; n <= count; ++n) {
        // The longest call is how long the loop thread can stall on a commit.
        const auto t0 = steady::now();
        q.append(sample(n));
        timer.poll(n);
        longest_call = std::max(longest_call, steady::now() - t0);
      }
      q.sync();
    });
    offline_hot = q.hot_bytes_written();
    // The backlog drains to a completion callback, 20 in flight at a time.
    long delivered = 0;
    const std::function<void(const store::envelope&)> on_complete = [&](const store::envelope&) { ++delivered; };
    drain = measure([&] {
      flush_timer timer(q);
      long n = 0;
      while (q.depth() > 0) {
        for (const auto& e : q.take(20)) {
          on_complete(e);
          q.complete(e.id);
          timer.poll(++n);
        }
      }
      q.sync();
    });
    if (delivered != count) std::fprintf(stderr, "drained %ld of %ld\n", delivered, count);
  }

  // The MQTT client's window of 20 completes each message 20 appends later.
  const auto keep_up = [&](const std::filesystem::path& path, const std::string& hot, std::uint64_t& hot_written) {
    options.path = path;
    options.hot_path = hot;
    store::queue q(options, log);
    const auto r = measure([&] {
      flush_timer timer(q);
      std::deque<store::message_id> in_flight;
      for (long n = 1; n <= count; ++n) {
        q.append(sample(n));
        for (const auto& e : q.take(20 - in_flight.size())) in_flight.push_back(e.id);
        while (in_flight.size() >= 20) {
          q.complete(in_flight.front());
          in_flight.pop_front();
        }
        timer.poll(n);
      }
      for (const auto id : in_flight) q.complete(id);
      q.sync();
    });
    hot_written = q.hot_bytes_written();
    std::printf("healthy consumer, hot tier %s: %llu of %ld messages written, %llu commits\n", hot.c_str(),
                static_cast<unsigned long long>(q.stats().written), count,
                static_cast<unsigned long long>(q.stats().commits));
    return r;
  };
  std::uint64_t healthy_hot = 0, no_hot = 0;
  const auto healthy = keep_up(work / "healthy.db", hot_dir, healthy_hot);
  const auto healthy_cold = keep_up(work / "healthy-nohot.db", "none", no_hot);

  // A store of --full-size bytes (on_full: drop_oldest), consumer offline:
  // filled from empty (appends that drop nothing), then `count` appends
  // more, each of which drops the oldest; then the same full store with a
  // consumer draining 20 in flight, one completion per two appends (a broker
  // at half the rate), as the gateway is when it fell behind.
  struct full_result {
    result filling, full;
    long filled = 0;
    std::uint64_t dropped = 0;
  };
  const auto full = [&](const std::filesystem::path& path, bool draining) {
    options.path = path;
    options.hot_path = hot_dir;
    options.max_size = full_size;
    store::queue q(options, log);
    full_result out;
    out.filling = measure([&] {
      flush_timer timer(q);
      while (q.stats().dropped_oldest == 0) {
        q.append(sample(++out.filled));
        timer.poll(out.filled);
      }
      q.sync();
    });
    const auto before = q.stats().dropped_oldest;
    out.full = measure([&] {
      flush_timer timer(q);
      std::deque<store::message_id> in_flight;
      for (long n = 1; n <= count; ++n) {
        q.append(sample(n));
        if (draining && n % 2 == 0) {
          for (const auto& e : q.take(20 - in_flight.size())) in_flight.push_back(e.id);
          if (!in_flight.empty()) {
            q.complete(in_flight.front());
            in_flight.pop_front();
          }
        }
        timer.poll(n);
      }
      for (const auto id : in_flight) q.complete(id);
      q.sync();
    });
    out.dropped = q.stats().dropped_oldest - before;
    options.max_size = 1ull << 40;
    return out;
  };
  const auto full_offline = full(work / "full.db", false);
  const auto full_draining = full(work / "full-drain.db", true);
  std::filesystem::remove_all(work);

  std::printf("store benchmark: %ld messages (%zu-byte topic, ~%zu-byte payload), flush_interval %ld ms, in %s\n",
              count, sample(1).topic.size(), sample(count).payload.size(), flush_ms, dir.c_str());
  std::printf("%-44s %12s %-11s %12s %10s\n", "", "rate", "", "time", "B written/reading");
  print_row("raw SQLite, one transaction", count, raw, "rows/s");
  print_row("store append, consumer offline", count, offline, "appends/s");
  print_row("store append, consumer keeping up", count, healthy, "appends/s");
  print_row("store append, keeping up, hot tier off", count, healthy_cold, "appends/s");
  print_row("store drain to a completion callback", count, drain, "messages/s");
  print_row("store append, filling a store, offline", full_offline.filled, full_offline.filling, "appends/s");
  print_row("store append, full (drop_oldest), offline", count, full_offline.full, "appends/s");
  print_row("store append, full, draining at half rate", count, full_draining.full, "appends/s");
  std::printf("store/raw append rate: %.2f (target >= 0.5); keeping up: %.2f B/reading (target < 10)\n",
              raw.seconds / offline.seconds, static_cast<double>(healthy.bytes) / static_cast<double>(count));
  const auto per = [&](double x) { return x / static_cast<double>(count); };
  std::printf("hot tier (%s): %.1f B/reading to RAM keeping up, %.1f B/reading offline; CPU %.2f us/reading keeping up "
              "(%.2f with the hot tier, %.2f without)\n",
              hot_dir.c_str(), per(static_cast<double>(healthy_hot)), per(static_cast<double>(offline_hot)),
              per(healthy.cpu_seconds - healthy_cold.cpu_seconds) * 1e6, per(healthy.cpu_seconds) * 1e6,
              per(healthy_cold.cpu_seconds) * 1e6);
  const auto us_per = [](const result& r, long n) { return r.cpu_seconds / static_cast<double>(n) * 1e6; };
  std::printf("full store (max_size %llu, %ld messages): append CPU %.2f us filling it, %.2f us full with every "
              "append dropping the oldest (%llu drops; ratio %.2f), %.2f us full while draining at half rate\n",
              static_cast<unsigned long long>(full_size), full_offline.filled,
              us_per(full_offline.filling, full_offline.filled), us_per(full_offline.full, count),
              static_cast<unsigned long long>(full_offline.dropped),
              us_per(full_offline.full, count) / us_per(full_offline.filling, full_offline.filled),
              us_per(full_draining.full, count));
  std::printf("longest append()+flush() call with the consumer offline (a commit of up to %zu rows): %.1f ms\n",
              options.max_batch, std::chrono::duration<double, std::milli>(longest_call).count());
  return 0;
}
