// Child process of the crash test: appends numbered messages, takes and
// completes some from the front, commits, and after each commit returned
// prints "committed <last number appended> completed <last number completed>"
// on stdout (unbuffered), where "completed" is the highest number known to be
// completed (from this child or found so by it at open). The parent SIGKILLs
// it at random moments.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "fieldbridge/core/logging.hpp"
#include "fieldbridge/store/queue.hpp"

namespace {

void say(const std::string& line) {
  const std::string text = line + "\n";
  // One write(2): the line reaches the parent whole even if we die next.
  if (::write(STDOUT_FILENO, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::_Exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fieldbridge;
  if (argc != 4) {
    std::fprintf(stderr, "usage: store_crash_child DB FIRST_NUMBER SEED\n");
    return 2;
  }
  store::settings options;
  options.path = argv[1];
  // This test is about the SQLite tier: what a commit made durable.
  options.hot_path = "none";
  long number = std::atol(argv[2]);
  std::mt19937 random(static_cast<std::mt19937::result_type>(std::atol(argv[3])));
  store::queue q(options, make_null_logger());
  // Everything before the front of the queue was completed by an earlier
  // child, perhaps in a cycle it could not report; peek so the reports say so.
  long completed = number - 1;
  if (const auto front = q.take(1); !front.empty()) {
    completed = std::stol(front[0].msg.payload) - 1;
    q.undelivered(front[0].id);
  }
  while (true) {
    const int appends = std::uniform_int_distribution<int>(1, 40)(random);
    for (int i = 0; i < appends; ++i) {
      store::message m;
      m.topic = "crash/test";
      m.payload = std::to_string(number++);
      m.qos = 1;
      m.ts = wall_clock::now();
      m.source = "crash";
      q.append(std::move(m));
    }
    const int completes = std::uniform_int_distribution<int>(0, 30)(random);
    for (const auto& e : q.take(static_cast<std::size_t>(completes))) {
      completed = std::stol(e.msg.payload);
      q.complete(e.id);
    }
    if (q.sync() == store::flush_result::failed) return 4;
    say("committed " + std::to_string(number - 1) + " completed " + std::to_string(completed));
  }
}
