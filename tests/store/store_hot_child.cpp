// Child process of the hot tier tests: `store_hot_child DB HOT_DIR MODE N`.
// Nothing calls flush() or sync(), so all it accepts is only in memory and
// in the hot tier when the parent SIGKILLs it.
//   qos2 N:   appends messages 1..N at QoS 2, takes them all, and by n % 4
//             records PUBLISH sent (1), PUBREL sent (2), completes (3) or
//             leaves them in flight (0); then prints "ready" and waits.
//   stream N: appends 1, 2, ... and prints "accepted <n>" after each
//             append() returned, until killed (N unused).
//   batch N:  appends 1..N in one queue::batch, takes them all, completes
//             the odd ones in a second batch, appends N + 1 in a third (the
//             next poll, whose write carries the completions); then prints
//             "ready" and waits.
//   completed N: appends 1..N in one queue::batch, takes them all and
//             completes them all; then prints "ready" and waits (the
//             completions' records wait for a write that never comes).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/store/queue.hpp"

namespace {

void say(const std::string& line) {
  const std::string text = line + "\n";
  if (::write(STDOUT_FILENO, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::_Exit(3);
}

fieldbridge::store::message numbered(long n, std::uint8_t qos) {
  fieldbridge::store::message m;
  m.topic = "hot/test/" + std::to_string(n % 3);
  m.payload = std::to_string(n);
  m.qos = qos;
  m.retain = n % 2 == 0;
  m.ts = fieldbridge::wall_clock::time_point(std::chrono::milliseconds(1'800'000'000'000 + n));
  m.source = "hot";
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fieldbridge;
  if (argc != 5) {
    std::fprintf(stderr, "usage: store_hot_child DB HOT_DIR qos2|stream|batch|completed N\n");
    return 2;
  }
  store::settings options;
  options.path = argv[1];
  options.hot_path = argv[2];
  options.flush_interval = std::chrono::minutes(1);
  const std::string mode = argv[3];
  const long n = std::atol(argv[4]);
  store::queue q(options, make_null_logger());
  if (mode == "qos2") {
    for (long i = 1; i <= n; ++i) q.append(numbered(i, 2));
    for (const auto& e : q.take(static_cast<std::size_t>(n))) {
      const long i = std::stol(e.msg.payload);
      if (i % 4 == 1) q.record_publish_sent(e.id, static_cast<std::uint16_t>(i));
      if (i % 4 == 2) {
        q.record_publish_sent(e.id, static_cast<std::uint16_t>(i));
        q.record_pubrel_sent(e.id);
      }
      if (i % 4 == 3) q.complete(e.id);
    }
    say("ready");
  } else if (mode == "stream") {
    for (long i = 1;; ++i) {
      if (!q.append(numbered(i, 1))) return 4;
      say("accepted " + std::to_string(i));
    }
  } else if (mode == "batch") {
    {
      store::queue::batch appends(q);
      for (long i = 1; i <= n; ++i) q.append(numbered(i, 1));
    }
    const auto taken = q.take(static_cast<std::size_t>(n));
    {
      store::queue::batch completions(q);
      for (const auto& e : taken)
        if (std::stol(e.msg.payload) % 2 == 1) q.complete(e.id);
    }
    {
      store::queue::batch next_poll(q);
      q.append(numbered(n + 1, 1));
    }
    say("ready");
  } else if (mode == "completed") {
    {
      store::queue::batch appends(q);
      for (long i = 1; i <= n; ++i) q.append(numbered(i, 1));
    }
    for (const auto& e : q.take(static_cast<std::size_t>(n))) q.complete(e.id);
    say("ready");
  } else {
    return 2;
  }
  while (true) ::pause();
}
