// The end-to-end benchmark's counting subscriber, on libmosquitto (a client
// fieldbridge did not write, so it cannot share our client's mistakes). It
// subscribes to `<prefix>/#`, counts readings per topic by their value (the
// simulator's counters go up by one per poll, so a jump is a lost reading,
// no step a duplicate), takes poll-to-subscriber latency from the JSON
// payload's "ts" against its own clock, and samples the gateway's CPU
// (/proc/PID/stat utime+stime) and memory (/proc/PID/status VmRSS, VmHWM)
// over the measured window. Prints one line of key=value pairs.
// A device message (`layout: device`: {"ts":…,"values":{"r0":…,…}} on
// <prefix>/<device>) counts as one reading per key, each key followed as
// its own series "<device>/<key>"; `messages` counts MQTT messages.
//
// steady: wait for the first reading, skip --warmup seconds, measure
//   --window seconds.
// drain: readings whose ts is before --live-after (ms since the epoch) are
//   the backlog, the others live; the drain ends when no backlog reading
//   came for --quiet seconds (or --window seconds passed).
// full: --full-log FILE: after --warmup, a first window lasts until FILE
//   (the gateway's log) says "store full"; after --settle seconds a second
//   window of --window seconds. Prints the readings/s and CPU per reading
//   of each: delivery before and after the store filled.
#include <mosquitto.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <unordered_map>
#include <vector>

namespace {

using wall = std::chrono::system_clock;
using steady = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string prefix;
  int qos = 0;
  long pid = 0;
  double warmup = 2;
  double window = 10;
  double rate = 0;  // expected readings per second
  bool drain = false;
  long long live_after_ms = 0;
  double quiet = 3;
  std::string full_log;  // full: the gateway log that says when the store filled
  double settle = 1;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: e2e_subscriber --port N --prefix P --pid PID [--host H] [--qos Q] [--warmup S] "
               "[--window S] [--rate R] [--drain --live-after MS [--quiet S]] [--full-log FILE [--settle S]]\n");
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next());
    else if (a == "--prefix") o.prefix = next();
    else if (a == "--qos") o.qos = std::atoi(next());
    else if (a == "--pid") o.pid = std::atol(next());
    else if (a == "--warmup") o.warmup = std::atof(next());
    else if (a == "--window") o.window = std::atof(next());
    else if (a == "--rate") o.rate = std::atof(next());
    else if (a == "--drain") o.drain = true;
    else if (a == "--live-after") o.live_after_ms = std::atoll(next());
    else if (a == "--quiet") o.quiet = std::atof(next());
    else if (a == "--full-log") o.full_log = next();
    else if (a == "--settle") o.settle = std::atof(next());
    else usage();
  }
  if (o.prefix.empty() || o.pid <= 0) usage();
  return o;
}

// "2026-11-25T21:30:00.123Z" → ms since the epoch; -1 if malformed.
long long parse_ts(std::string_view s) {
  if (s.size() < 24) return -1;
  auto num = [&](std::size_t at, std::size_t n) {
    long v = 0;
    for (std::size_t k = at; k < at + n; ++k) v = v * 10 + (s[k] - '0');
    return v;
  };
  long y = num(0, 4);
  const long m = num(5, 2), d = num(8, 2);
  // days from civil (H. Hinnant)
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const long long days = era * 146097LL + doe - 719468;
  return ((days * 24 + num(11, 2)) * 60 + num(14, 2)) * 60000LL + num(17, 2) * 1000LL + num(20, 3);
}

// Follows a growing log for a line holding `text`: each call reads only
// what was written since the last one.
class log_watch {
 public:
  log_watch(std::string path, std::string text) : path_(std::move(path)), text_(std::move(text)) {}
  bool seen() {
    std::ifstream in(path_);
    in.seekg(read_);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // a line still being written: read it whole next time
      read_ += static_cast<std::streamoff>(line.size() + 1);
      if (line.find(text_) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::string path_, text_;
  std::streamoff read_ = 0;
};

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall::now().time_since_epoch()).count();
}

struct proc_sample {
  long long ticks = 0;  // utime + stime
  long rss_kb = 0;
  long hwm_kb = 0;
  long anon_kb = 0;  // RssAnon: the heap, stacks and other private memory, without mapped files
};

proc_sample sample(long pid) {
  proc_sample p;
  {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields(line.substr(close + 2));
      std::string f;
      // fields from 3 (state); utime is 14, stime 15
      for (int k = 3; k <= 15 && fields >> f; ++k) {
        if (k == 14 || k == 15) p.ticks += std::atoll(f.c_str());
      }
    }
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) p.rss_kb = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) p.hwm_kb = std::atol(line.c_str() + 6);
    if (line.rfind("RssAnon:", 0) == 0) p.anon_kb = std::atol(line.c_str() + 8);
  }
  return p;
}

struct topic_state {
  unsigned last = 0;
};

// Touched by libmosquitto's network thread only, except where the mutex
// says otherwise.
struct counter {
  explicit counter(const options& o) : opt(o) {}
  const options& opt;
  std::mutex mutex;
  std::unordered_map<std::string, topic_state> topics;
  bool measuring = false;     // steady: inside the window
  long long received = 0;     // readings inside the window (steady) or in total (drain)
  long long lost = 0;         // value jumps
  long long duplicates = 0;   // value did not move
  long long reordered = 0;    // value went back
  long long total = 0;        // every reading since start
  long long messages = 0;     // MQTT messages counted (a device message holds many readings)
  long long backlog = 0;      // drain: readings polled before live_after
  long long live = 0;         // drain: readings polled after it
  steady::time_point first_message{};
  steady::time_point last_backlog{};
  std::vector<float> latency_ms;
  std::atomic<bool> any{false};
  std::atomic<bool> connected{false};

  void on_message(const mosquitto_message& m) {
    const std::string_view topic(m.topic);
    if (topic.ends_with("/stats") || topic.ends_with("/status") || topic.ends_with("/meta")) return;
    const std::string_view payload(static_cast<const char*>(m.payload), static_cast<std::size_t>(m.payloadlen));
    long long ts = -1;
    if (payload.empty() || payload.front() != '{') {
      std::lock_guard lock(mutex);
      count_message();
      count(topic, std::atoll(std::string(payload).c_str()), ts);
      return;
    }
    const auto t = payload.find("\"ts\":\"");
    if (t != std::string_view::npos) ts = parse_ts(payload.substr(t + 6));
    const auto values = payload.find("\"values\":{");
    std::lock_guard lock(mutex);
    if (values == std::string_view::npos) {
      const auto v = payload.find("\"value\":");
      if (v == std::string_view::npos) return;
      count_message();
      count(topic, std::atoll(payload.data() + v + 8), ts);
      return;
    }
    count_message();
    // "values":{"r0":12,"r1":13}: each key a series of its own.
    std::string series(topic);
    series += '/';
    const auto base = series.size();
    for (auto at = values + 10; at < payload.size() && payload[at] != '}';) {
      const auto open = payload.find('"', at);
      const auto close = open == std::string_view::npos ? open : payload.find('"', open + 1);
      if (close == std::string_view::npos) break;
      series.resize(base);
      series.append(payload.substr(open + 1, close - open - 1));
      const auto value_at = close + 2;  // past '":'
      count(series, std::atoll(payload.data() + value_at), ts);
      at = payload.find_first_of(",}", value_at);
      if (at == std::string_view::npos) break;
      if (payload[at] == ',') ++at;
    }
  }

  void count_message() {
    if (opt.drain || measuring) ++messages;
  }

  // One reading of one series; called with the mutex held.
  void count(std::string_view topic, long long value, long long ts) {
    const long long now = now_ms();
    ++total;
    if (!any.exchange(true)) first_message = steady::now();
    auto [it, fresh] = topics.try_emplace(std::string(topic));
    const unsigned v16 = static_cast<unsigned>(value) & 0xFFFFu;
    const unsigned step = (v16 - it->second.last) & 0xFFFFu;
    const bool counting = opt.drain || measuring;
    if (!fresh && counting) {
      if (step == 0) ++duplicates;
      else if (step > 0x8000u) ++reordered;
      else lost += step - 1;
    }
    if (fresh || step < 0x8000u) it->second.last = v16;
    if (!counting) return;
    ++received;
    if (opt.drain) {
      if (ts >= 0 && ts < opt.live_after_ms) {
        ++backlog;
        last_backlog = steady::now();
        return;
      }
      ++live;
    }
    if (ts >= 0) latency_ms.push_back(static_cast<float>(now - ts));
  }
};

float percentile(std::vector<float>& v, double p) {
  if (v.empty()) return -1;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

long median(std::vector<long> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse(argc, argv);
  mosquitto_lib_init();
  counter c(opt);
  const std::string id = "e2e-sub-" + std::to_string(::getpid());
  mosquitto* m = mosquitto_new(id.c_str(), true, &c);
  if (m == nullptr) return 1;
  mosquitto_max_inflight_messages_set(m, 0);
  mosquitto_connect_callback_set(m, [](mosquitto* client, void* user, int rc) {
    auto* self = static_cast<counter*>(user);
    if (rc != 0) return;
    const std::string filter = self->opt.prefix + "/#";
    mosquitto_subscribe(client, nullptr, filter.c_str(), self->opt.qos);
  });
  mosquitto_subscribe_callback_set(m, [](mosquitto*, void* user, int, int, const int*) {
    static_cast<counter*>(user)->connected = true;
  });
  mosquitto_message_callback_set(m, [](mosquitto*, void* user, const mosquitto_message* msg) {
    static_cast<counter*>(user)->on_message(*msg);
  });
  // The broker may not listen yet (the backlog case starts it later): retry
  // quickly, so this subscriber is in before the gateway's back-off ends.
  const auto give_up = steady::now() + std::chrono::seconds(30);
  while (mosquitto_connect(m, opt.host.c_str(), opt.port, 30) != MOSQ_ERR_SUCCESS) {
    if (steady::now() > give_up) {
      std::fprintf(stderr, "e2e_subscriber: cannot connect to %s:%d\n", opt.host.c_str(), opt.port);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a port, not synchronising
  }
  mosquitto_loop_start(m);
  std::printf("subscriber: connecting\n");
  std::fflush(stdout);
  while (!c.connected) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::printf("subscriber: subscribed\n");
  std::fflush(stdout);

  const auto tick = std::chrono::milliseconds(100);
  const auto first_deadline = steady::now() + std::chrono::seconds(60);
  while (!c.any && steady::now() < first_deadline) std::this_thread::sleep_for(tick);
  if (!c.any) {
    std::printf("error=no_readings\n");
    return 1;
  }
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::vector<long> rss, anon;
  long rss_max = 0;
  proc_sample begin{}, end{};
  steady::time_point t0, t1;
  auto seconds_of = [](double s) {
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s));
  };
  // Sleeps one tick, then samples the gateway's RSS.
  auto sample_tick = [&] {
    std::this_thread::sleep_for(tick);
    const auto s = sample(opt.pid);
    rss.push_back(s.rss_kb);
    anon.push_back(s.anon_kb);
    rss_max = std::max(rss_max, s.rss_kb);
  };

  if (!opt.full_log.empty()) {
    // Two windows around the moment the store filled, on one connection.
    std::this_thread::sleep_for(seconds_of(opt.warmup));
    auto open_window = [&] {
      std::lock_guard lock(c.mutex);
      c.received = 0;
      c.measuring = true;
      return std::pair{sample(opt.pid), steady::now()};
    };
    auto close_window = [&](const std::pair<proc_sample, steady::time_point>& from) {
      std::lock_guard lock(c.mutex);
      c.measuring = false;
      const auto to = sample(opt.pid);
      const double s = std::chrono::duration<double>(steady::now() - from.second).count();
      const double cpu_s = static_cast<double>(to.ticks - from.first.ticks) / hz;
      const double n = static_cast<double>(c.received);
      return std::tuple{s, n > 0 && s > 0 ? n / s : 0.0, n > 0 ? cpu_s * 1e6 / n : 0.0, s > 0 ? 100 * cpu_s / s : 0.0};
    };
    const auto before = open_window();
    const auto fill_deadline = steady::now() + std::chrono::minutes(5);
    log_watch full(opt.full_log, "store full");
    bool filled = false;
    while (!(filled = full.seen()) && steady::now() < fill_deadline) sample_tick();
    const auto [fill_s, before_rate, before_cpu, before_core] = close_window(before);
    if (!filled) {
      std::printf("error=never_full fill_s=%.1f\n", fill_s);
      return 1;
    }
    std::this_thread::sleep_for(seconds_of(opt.settle));
    rss.clear();
    const auto after = open_window();
    const auto stop = after.second + seconds_of(opt.window);
    while (steady::now() < stop) sample_tick();
    const auto [after_s, after_rate, after_cpu, after_core] = close_window(after);
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    std::printf(
        "fill_s=%.1f before_per_s=%.0f before_cpu_us_per_reading=%.2f before_core_pct=%.1f after_s=%.1f "
        "after_per_s=%.0f after_cpu_us_per_reading=%.2f after_core_pct=%.1f rss_kb=%ld rss_max_kb=%ld\n",
        fill_s, before_rate, before_cpu, before_core, after_s, after_rate, after_cpu, after_core, median(rss),
        rss_max);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    return 0;
  }
  if (!opt.drain) {
    std::this_thread::sleep_for(seconds_of(opt.warmup));
    {
      std::lock_guard lock(c.mutex);
      begin = sample(opt.pid);
      t0 = steady::now();
      c.measuring = true;
    }
    const auto stop = t0 + seconds_of(opt.window);
    while (steady::now() < stop) sample_tick();
    {
      std::lock_guard lock(c.mutex);
      c.measuring = false;
      end = sample(opt.pid);
      t1 = steady::now();
    }
  } else {
    begin = sample(opt.pid);
    {
      std::lock_guard lock(c.mutex);
      t0 = c.first_message;
    }
    const auto limit = steady::now() + seconds_of(opt.window);
    const auto quiet = seconds_of(opt.quiet);
    while (steady::now() < limit) {
      sample_tick();
      std::lock_guard lock(c.mutex);
      const auto last = c.backlog > 0 ? c.last_backlog : c.first_message;
      if (steady::now() - last > quiet) break;
    }
    std::lock_guard lock(c.mutex);
    end = sample(opt.pid);
    t1 = c.backlog > 0 ? c.last_backlog : steady::now();
  }
  mosquitto_disconnect(m);
  mosquitto_loop_stop(m, false);

  std::lock_guard lock(c.mutex);
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  const double cpu_s = static_cast<double>(end.ticks - begin.ticks) / hz;
  const double readings = static_cast<double>(c.received);
  std::printf(
      "seconds=%.2f received=%lld messages=%lld expected=%.0f lost=%lld duplicates=%lld reordered=%lld backlog=%lld live=%lld "
      "cpu_us_per_reading=%.2f core_pct=%.1f rss_kb=%ld rss_max_kb=%ld hwm_kb=%ld anon_kb=%ld p50_ms=%.0f p99_ms=%.0f "
      "topics=%zu\n",
      seconds, c.received, c.messages, opt.rate * seconds, c.lost, c.duplicates, c.reordered, c.backlog, c.live,
      readings > 0 ? cpu_s * 1e6 / readings : 0.0, seconds > 0 ? 100.0 * cpu_s / seconds : 0.0, median(rss),
      rss_max, end.hwm_kb, median(anon), static_cast<double>(percentile(c.latency_ms, 0.50)),
      static_cast<double>(percentile(c.latency_ms, 0.99)), c.topics.size());
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  return 0;
}
