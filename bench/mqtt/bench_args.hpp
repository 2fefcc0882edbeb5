// Command-line flags and the result line shared by the two publish benchmarks
// (ours and the libmosquitto reference), so both parse and print the same way.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace fieldbridge::bench {

struct publish_args {
  std::string host = "127.0.0.1";
  int port = 1883;
  bool v5 = true;
  int qos = 1;
  long count = 100000;
  int size = 64;
  int inflight = 20;
};

inline publish_args parse_publish_args(int argc, char** argv, const char* program) {
  publish_args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h" || i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: %s [--host H] [--port P] [--protocol 3.1.1|5] [--qos 0|1|2] "
                   "[--count N] [--size BYTES] [--inflight N]\n",
                   program);
      std::exit(flag == "--help" || flag == "-h" ? 0 : 2);
    }
    const std::string value = argv[++i];
    if (flag == "--host") args.host = value;
    else if (flag == "--port") args.port = std::atoi(value.c_str());
    else if (flag == "--protocol") args.v5 = value != "3.1.1";
    else if (flag == "--qos") args.qos = std::atoi(value.c_str());
    else if (flag == "--count") args.count = std::atol(value.c_str());
    else if (flag == "--size") args.size = std::atoi(value.c_str());
    else if (flag == "--inflight") args.inflight = std::atoi(value.c_str());
    else {
      std::fprintf(stderr, "%s: unknown flag %s\n", program, flag.c_str());
      std::exit(2);
    }
  }
  if (args.qos < 0 || args.qos > 2 || args.count <= 0 || args.inflight <= 0 || args.size < 0) {
    std::fprintf(stderr, "%s: bad flag value\n", program);
    std::exit(2);
  }
  return args;
}

// Process CPU time (user + system) in microseconds, from getrusage.
inline double process_cpu_us() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto us = [](const timeval& t) { return t.tv_sec * 1e6 + static_cast<double>(t.tv_usec); };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// Measures one run: wall clock and process CPU between start() and finish().
class run_meter {
 public:
  void start() {
    cpu_start_ = process_cpu_us();
    wall_start_ = std::chrono::steady_clock::now();
  }
  void finish(const char* client, const publish_args& args, long completed) const {
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
    const double cpu_us = process_cpu_us() - cpu_start_;
    std::printf("client=%s protocol=%s qos=%d size=%d inflight=%d count=%ld msgs_per_s=%.0f "
                "cpu_us_per_msg=%.2f\n",
                client, args.v5 ? "5" : "3.1.1", args.qos, args.size, args.inflight, completed,
                static_cast<double>(completed) / wall_s, cpu_us / static_cast<double>(completed));
  }

 private:
  double cpu_start_ = 0;
  std::chrono::steady_clock::time_point wall_start_;
};

}  // namespace fieldbridge::bench
