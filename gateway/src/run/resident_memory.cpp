#include "run/resident_memory.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#if defined(__linux__)
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace fieldbridge::gateway {

namespace {

// One mapping of /proc/self/smaps: its header line and the fields we judge by.
struct mapping {
  std::uintptr_t start = 0, end = 0;
  std::string perms;   // "r-xp"
  std::string inode;   // "0" for anonymous memory
  std::string path;
  std::size_t rss_kb = 0;
  std::size_t anonymous_kb = 0;  // pages copied on write: private data
  std::string flags;             // VmFlags
};

bool parse_header(const std::string& line, mapping& m) {
  std::istringstream in(line);
  std::string range, offset, device;
  if (!(in >> range >> m.perms >> offset >> device >> m.inode)) return false;
  const auto dash = range.find('-');
  if (dash == std::string::npos) return false;
  m.start = std::stoull(range.substr(0, dash), nullptr, 16);
  m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
  in >> std::ws;
  std::getline(in, m.path);
  return true;
}

std::size_t kb_field(std::string_view line, std::string_view name) {
  return std::strtoull(std::string(line.substr(name.size())).c_str(), nullptr, 10);
}

bool has_flag(const std::string& flags, std::string_view flag) {
  std::istringstream in(flags);
  std::string f;
  while (in >> f)
    if (f == flag) return true;
  return false;
}

// A read-only private mapping of a file: its pages are the file's own,
// unmodified, except those copied on write before it became read-only
// (RELRO: the dynamic linker's relocations), which are anonymous.
bool is_read_only_file_mapping(const mapping& m) {
  if (m.perms.size() != 4 || m.perms[0] != 'r' || m.perms[1] != '-' || m.perms[3] != 'p') return false;
  if (m.inode == "0" || m.path.empty() || m.path.front() != '/') return false;
  if (m.rss_kb == 0) return false;
  // Locked, device (I/O, PFN) mappings: not ordinary page-cache pages.
  return !has_flag(m.flags, "lo") && !has_flag(m.flags, "io") && !has_flag(m.flags, "pf");
}

// The mappings are read first and dropped after: were a library unloaded
// and its range reused for other memory in between, that memory would be
// dropped. Nothing in the gateway unloads a library (glibc keeps the NSS
// modules getaddrinfo loads on the workers' threads).
bool drop(std::uintptr_t start, std::uintptr_t end) {
  return ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED) == 0;
}

// In a mapping that holds copies: drops the runs of resident pages that are
// still the file's (/proc/self/pagemap: present, file-backed), never a
// copy. Returns the bytes dropped.
std::size_t drop_file_pages(int pagemap, const mapping& m, std::size_t page) {
  constexpr std::uint64_t present = 1ULL << 63, file_page = 1ULL << 61;
  std::vector<std::uint64_t> entries((m.end - m.start) / page);
  const auto offset = static_cast<off_t>(m.start / page * sizeof(std::uint64_t));
  const auto want = static_cast<ssize_t>(entries.size() * sizeof(std::uint64_t));
  if (::pread(pagemap, entries.data(), static_cast<std::size_t>(want), offset) != want) return 0;
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < entries.size();) {
    const auto is_file = [&](std::size_t k) { return (entries[k] & (present | file_page)) == (present | file_page); };
    if (!is_file(i)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < entries.size() && is_file(j)) ++j;
    if (drop(m.start + i * page, m.start + j * page)) dropped += (j - i) * page;
    i = j;
  }
  return dropped;
}

std::vector<mapping> read_mappings() {
  std::vector<mapping> mappings;
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  while (std::getline(smaps, line)) {
    const bool field = !line.empty() && line.find(':') != std::string::npos &&
                       line.find(' ') > line.find(':');  // "Rss:   12 kB", not a header
    if (!field) {
      mapping m;
      if (parse_header(line, m)) mappings.push_back(std::move(m));
      continue;
    }
    if (mappings.empty()) continue;
    auto& m = mappings.back();
    if (line.starts_with("Rss:")) m.rss_kb = kb_field(line, "Rss:");
    else if (line.starts_with("Anonymous:")) m.anonymous_kb = kb_field(line, "Anonymous:");
    else if (line.starts_with("VmFlags:")) m.flags = line.substr(8);
  }
  return mappings;
}

// Whether `mappings` describe this process: one of them holds this very
// function's code. Under a user-mode emulator (qemu-user) /proc/self/smaps
// is the emulator's, whose addresses mean nothing to the program.
bool describes_this_process(const std::vector<mapping>& mappings) {
  const auto here = reinterpret_cast<std::uintptr_t>(&describes_this_process);
  for (const auto& m : mappings)
    if (m.start <= here && here < m.end && m.perms.size() == 4 && m.perms[2] == 'x') return true;
  return false;
}

}  // namespace

void release_freed_heap() noexcept {
#if defined(__linux__)
  ::malloc_trim(0);  // glibc keeps freed pages inside the heap unless asked
#endif
}

released_memory release_startup_memory() noexcept {
  released_memory released;
  release_freed_heap();
#if defined(__linux__)
  const int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  try {
    const auto mappings = read_mappings();
    for (const auto& m : describes_this_process(mappings) ? mappings : std::vector<mapping>{}) {
      if (!is_read_only_file_mapping(m)) continue;
      std::size_t bytes = 0;
      if (m.anonymous_kb == 0) {
        if (drop(m.start, m.end)) bytes = m.rss_kb * 1024;
      } else if (pagemap >= 0) {
        bytes = drop_file_pages(pagemap, m, page);
      }
      if (bytes == 0) continue;
      ++released.mappings;
      released.bytes += bytes;
    }
  } catch (...) {
    // Out of memory while reading smaps: the heap was trimmed, that will do.
  }
  if (pagemap >= 0) ::close(pagemap);
#endif
  return released;
}

}  // namespace fieldbridge::gateway
