// release_startup_memory() on the test process itself: it gives back clean
// file pages, and everything the process had (code, constants, relocated
// pointers, written globals) is the same afterwards.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>

#include "run/resident_memory.hpp"

namespace fieldbridge::gateway {
namespace {

long status_kb(const std::string& field) {  // a "Name:  123 kB" line of /proc/self/status
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Read-only data (.rodata: dropped and mapped again), relocated pointers
// (RELRO: a private copy, must be kept) and a written global (.data).
const unsigned char constant_table[4096 * 4] = {1, 2, 3, 4, 5, 6, 7, 8};
int twice(int x) { return 2 * x; }
int thrice(int x) { return 3 * x; }
int (*const relocated_functions[])(int) = {twice, thrice};
int written_global = 0;

TEST(ReleaseStartupMemory, GivesBackCleanFilePagesAndTheProcessKeepsWhatItHad) {
#if !defined(__linux__)
  GTEST_SKIP() << "Linux only";
#endif
  {
    // Under qemu-user /proc/self/smaps is the emulator's: nothing to test.
    std::ifstream smaps("/proc/self/smaps");
    const auto here = reinterpret_cast<std::uintptr_t>(&twice);
    bool ours = false;
    for (std::string line; std::getline(smaps, line);) {
      unsigned long long start = 0, end = 0;
      char perms[5] = {};
      if (std::sscanf(line.c_str(), "%llx-%llx %4s", &start, &end, perms) == 3 && start <= here && here < end &&
          perms[2] == 'x')
        ours = true;
    }
    if (!ours) GTEST_SKIP() << "/proc/self/smaps does not describe this process (an emulator's)";
  }
  written_global = 41;
  const auto table_sum = std::accumulate(std::begin(constant_table), std::end(constant_table), 0L);
  const long file_before = status_kb("RssFile");
  ASSERT_GT(file_before, 0);

  const released_memory released = release_startup_memory();

  EXPECT_GT(released.mappings, 0u);
  EXPECT_GT(released.bytes, 0u);
  EXPECT_LT(status_kb("RssFile"), file_before);
  EXPECT_EQ(std::accumulate(std::begin(constant_table), std::end(constant_table), 0L), table_sum);
  EXPECT_EQ(relocated_functions[0](21), 42);
  EXPECT_EQ(relocated_functions[1](14), 42);
  EXPECT_EQ(++written_global, 42);
  char text[32];
  std::snprintf(text, sizeof text, "%d %s", 42, std::to_string(4.2).c_str());  // libc and libstdc++ again
  EXPECT_STREQ(text, "42 4.200000");
}

}  // namespace
}  // namespace fieldbridge::gateway
