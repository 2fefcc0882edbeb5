#include "run/resident_memory.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#if defined(__linux__)
#include <malloc.h>
#include <sys/mman.h>
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

// A mapping whose pages are all the file's own, unmodified: dropping them
// loses nothing, the next access maps the same page again.
bool is_clean_file_copy(const mapping& m) {
  if (m.perms.size() != 4 || m.perms[0] != 'r' || m.perms[1] != '-' || m.perms[3] != 'p') return false;
  if (m.inode == "0" || m.path.empty() || m.path.front() != '/') return false;
  if (m.anonymous_kb != 0 || m.rss_kb == 0) return false;
  // Locked, device (I/O, PFN) mappings: not ordinary page-cache pages.
  return !has_flag(m.flags, "lo") && !has_flag(m.flags, "io") && !has_flag(m.flags, "pf");
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

}  // namespace

released_memory release_startup_memory() noexcept {
  released_memory released;
#if defined(__linux__)
  ::malloc_trim(0);  // glibc keeps freed pages inside the heap unless asked
  try {
    for (const auto& m : read_mappings()) {
      if (!is_clean_file_copy(m)) continue;
      if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) != 0) continue;
      ++released.mappings;
      released.bytes += m.rss_kb * 1024;
    }
  } catch (...) {
    // Out of memory while reading smaps: the heap was trimmed, that will do.
  }
#endif
  return released;
}

}  // namespace fieldbridge::gateway
