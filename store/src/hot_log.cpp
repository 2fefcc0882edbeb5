#include "hot_log.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/core.h>

#include "unix_time.hpp"

namespace fieldbridge::store {
namespace {

// "FBHOT" + format version 1; a file that starts otherwise is not replayed.
constexpr std::string_view file_magic{"FBHOT\x00\x01\n", 8};

enum record_type : std::uint8_t { record_add = 1, record_remove = 2, record_qos2 = 3 };

// Length and CRC before each record body.
constexpr std::size_t frame_header = 8;
// A record longer than this is damage, not a message (messages are bounded
// by memory_limit long before).
constexpr std::uint32_t max_record = 64u << 20;

// Slicing-by-8 tables: table[0] is the byte-wise CRC table, table[k][i]
// the CRC of byte i followed by k zero bytes, so eight bytes take eight
// lookups and no dependency chain per byte.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> tables{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    tables[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t i = 0; i < 256; ++i) tables[k][i] = (tables[k - 1][i] >> 8) ^ tables[0][tables[k - 1][i] & 0xFF];
  return tables;
}
constexpr auto crc_tables = make_crc_tables();

// CRC-32 (IEEE 802.3, as zlib), so a torn or damaged record is detected.
std::uint32_t crc32(std::string_view data) {
  std::uint32_t c = 0xFFFFFFFFu;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  const auto& t = crc_tables;
  for (; n >= 8; n -= 8, p += 8) {
    const std::uint32_t lo = c ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
                                  std::uint32_t{p[3]} << 24);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
        t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; --n, ++p) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

template <typename T>
void put_int(std::string& out, T value) {
  auto u = static_cast<std::make_unsigned_t<T>>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>(u & 0xFF));
    u = static_cast<decltype(u)>(u >> 8);
  }
}

void put_text(std::string& out, std::string_view text) {
  put_int<std::uint32_t>(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

// Reads a record body field by field; ok() turns false on a short body.
class reader {
 public:
  explicit reader(std::string_view body) : rest_(body) {}
  template <typename T>
  T get() {
    if (rest_.size() < sizeof(T)) return fail<T>();
    std::make_unsigned_t<T> u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      u = static_cast<decltype(u)>(u | (static_cast<decltype(u)>(static_cast<unsigned char>(rest_[i])) << (8 * i)));
    }
    rest_.remove_prefix(sizeof(T));
    return static_cast<T>(u);
  }
  std::string text() {
    const auto n = get<std::uint32_t>();
    if (!ok_ || rest_.size() < n) return fail<std::string>();
    std::string out(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return out;
  }
  bool ok() const noexcept { return ok_ && rest_.empty(); }

 private:
  template <typename T>
  T fail() {
    ok_ = false;
    rest_ = {};
    return T{};
  }
  std::string_view rest_;
  bool ok_ = true;
};

// Begins a record in `out`; finish_frame() fills in its length and CRC.
std::size_t begin_frame(std::string& out) {
  const auto at = out.size();
  out.append(frame_header, '\0');
  return at;
}

void finish_frame(std::string& out, std::size_t at) {
  const auto body = std::string_view(out).substr(at + frame_header);
  const std::uint32_t head[2] = {static_cast<std::uint32_t>(body.size()), crc32(body)};
  for (std::size_t i = 0; i < frame_header; ++i) {
    out[at + i] = static_cast<char>((head[i / 4] >> (8 * (i % 4))) & 0xFF);  // little endian, as put_int
  }
}

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool writable_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) && ::access(dir.c_str(), W_OK | X_OK) == 0;
}

}  // namespace

std::filesystem::path default_hot_directory() {
  if (const char* runtime = std::getenv("RUNTIME_DIRECTORY"); runtime != nullptr && *runtime != '\0') {
    // systemd passes one directory per RuntimeDirectory= entry, ':'-separated.
    const std::string_view all(runtime);
    return std::filesystem::path(std::string(all.substr(0, all.find(':'))));
  }
  if (writable_directory("/run/fieldbridge")) return "/run/fieldbridge";
  return "/dev/shm";
}

std::optional<std::filesystem::path> hot_file_for(const std::filesystem::path& store_path,
                                                  const std::string& hot_path) {
  if (hot_path == "none") return std::nullopt;
  if (store_path.empty() || store_path == ":memory:") return std::nullopt;
  std::error_code ec;
  auto absolute = std::filesystem::weakly_canonical(std::filesystem::absolute(store_path, ec), ec);
  if (ec) absolute = store_path;
  const std::filesystem::path dir = hot_path.empty() ? default_hot_directory() : std::filesystem::path(hot_path);
  return dir / fmt::format("fieldbridge-{}-{:016x}.hot", store_path.filename().string(), fnv1a(absolute.string()));
}

bool is_ram_filesystem(const std::filesystem::path& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return false;
  // f_type is a signed int on 32-bit ARM, RAMFS_MAGIC an unsigned one: the
  // magic numbers are 32 bits wide, so compare them as such.
  const auto type = static_cast<std::uint32_t>(fs.f_type);
  return type == TMPFS_MAGIC || type == RAMFS_MAGIC;
}

std::optional<hot_snapshot> inspect_hot(const std::filesystem::path& store_path, const std::string& hot_path,
                                        message_id written_up_to) {
  std::vector<std::string> candidates;
  if (!hot_path.empty()) {
    candidates.push_back(hot_path);
  } else {
    if (const char* runtime = std::getenv("RUNTIME_DIRECTORY"); runtime != nullptr && *runtime != '\0') {
      const std::string_view all(runtime);
      candidates.emplace_back(all.substr(0, all.find(':')));
    }
    candidates.emplace_back("/run/fieldbridge");
    candidates.emplace_back("/dev/shm");
  }
  for (const auto& dir : candidates) {
    const auto file = hot_file_for(store_path, dir);
    if (!file) return std::nullopt;
    std::error_code ec;
    if (!std::filesystem::exists(*file, ec)) continue;
    hot_snapshot view;
    view.file = *file;
    view.file_bytes = std::filesystem::file_size(*file, ec);
    if (::access(file->c_str(), R_OK) != 0) {
      view.readable = false;
      return view;
    }
    const auto replayed = hot_log::replay(*file);
    for (const auto& [id, m] : replayed.messages) view.messages += id > written_up_to ? 1 : 0;
    view.torn = replayed.torn;
    return view;
  }
  return std::nullopt;
}

hot_replay hot_log::replay(const std::filesystem::path& path) {
  hot_replay result;
  std::ifstream in(path, std::ios::binary);
  if (!in) return result;
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string_view rest(data);
  if (rest.substr(0, file_magic.size()) != file_magic) {
    result.torn = !data.empty();
    return result;
  }
  rest.remove_prefix(file_magic.size());
  while (!rest.empty()) {
    reader head(rest.substr(0, frame_header));
    const auto length = head.get<std::uint32_t>();
    const auto crc = head.get<std::uint32_t>();
    if (rest.size() < frame_header || length > max_record || rest.size() - frame_header < length) {
      result.torn = true;
      break;
    }
    const auto body = rest.substr(frame_header, length);
    if (crc32(body) != crc || body.empty()) {
      result.torn = true;
      break;
    }
    rest.remove_prefix(frame_header + length);
    reader r(body.substr(1));
    const auto type = static_cast<std::uint8_t>(body[0]);
    const auto id = r.get<std::int64_t>();
    if (type == record_add) {
      hot_message h;
      h.msg.ts = from_unix_ms(r.get<std::int64_t>());
      h.msg.qos = r.get<std::uint8_t>();
      h.msg.retain = r.get<std::uint8_t>() != 0;
      h.packet_id = r.get<std::uint16_t>();
      h.state = static_cast<qos2_state>(r.get<std::uint8_t>());
      h.msg.topic = r.text();
      h.msg.payload = r.text();
      h.msg.source = r.text();
      if (!r.ok()) {
        result.torn = true;
        break;
      }
      result.messages[id] = std::move(h);
    } else if (type == record_remove) {
      if (!r.ok()) {
        result.torn = true;
        break;
      }
      // Also when the log held the message: it may have been written since.
      result.messages.erase(id);
      result.removed_written.insert(id);
    } else if (type == record_qos2) {
      const auto packet_id = r.get<std::uint16_t>();
      const auto state = static_cast<qos2_state>(r.get<std::uint8_t>());
      if (!r.ok()) {
        result.torn = true;
        break;
      }
      if (auto it = result.messages.find(id); it != result.messages.end()) {
        it->second.packet_id = packet_id;
        it->second.state = state;
      }
    } else {
      result.torn = true;
      break;
    }
    ++result.records;
  }
  return result;
}

hot_log::~hot_log() {
  if (fd_ >= 0) ::close(fd_);
}

bool hot_log::start(const std::filesystem::path& path, std::string& error) {
  path_ = path;
  int fd = -1;
  std::filesystem::path tmp;
  if (!begin_rewrite(fd, tmp) || !finish_rewrite(fd, tmp, {})) {
    error = error_;
    return false;
  }
  written_ = file_magic.size();
  records_ = 0;
  return true;
}

bool hot_log::begin_rewrite(int& fd, std::filesystem::path& tmp) {
  tmp = path_.string() + ".new";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error_ = fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno));
    return false;
  }
  return true;
}

bool hot_log::finish_rewrite(int fd, const std::filesystem::path& tmp, const std::string& data) {
  std::string all(file_magic);
  all += data;
  // No fsync: the log lives in RAM and only has to outlive the process.
  if (!write_all(fd, all) || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    error_ = fmt::format("cannot write {}: {}", path_.string(), std::strerror(errno));
    ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  bytes_ = all.size();
  written_ += all.size();
  return true;
}

bool hot_log::write_all(int fd, const std::string& data) {
  std::string_view rest(data);
  while (!rest.empty()) {
    const auto n = ::write(fd, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool hot_log::fail(const char* what) {
  error_ = fmt::format("cannot {} {}: {}", what, path_.string(), std::strerror(errno));
  discard();
  return false;
}

bool hot_log::put(const std::string& out) {
  if (fd_ < 0) return false;
  if (!write_all(fd_, out)) return fail("append to");
  bytes_ += out.size();
  written_ += out.size();
  ++records_;
  return true;
}

void hot_log::encode_add(std::string& out, message_id id, const message_view& m, std::uint16_t packet_id,
                         qos2_state state) {
  const auto at = begin_frame(out);
  out.push_back(static_cast<char>(record_add));
  put_int<std::int64_t>(out, id);
  put_int<std::int64_t>(out, to_unix_ms(m.ts));
  put_int<std::uint8_t>(out, m.qos);
  put_int<std::uint8_t>(out, m.retain ? 1 : 0);
  put_int<std::uint16_t>(out, packet_id);
  put_int<std::uint8_t>(out, static_cast<std::uint8_t>(state));
  put_text(out, m.topic);
  put_text(out, m.payload);
  put_text(out, m.source);
  finish_frame(out, at);
}

void hot_log::encode_remove(std::string& out, message_id id) {
  const auto at = begin_frame(out);
  out.push_back(static_cast<char>(record_remove));
  put_int<std::int64_t>(out, id);
  finish_frame(out, at);
}

std::string& hot_log::record_buffer() {
  if (holding_) return held_;
  buffer_.clear();
  return buffer_;
}

bool hot_log::emit() {
  if (!holding_) return put(buffer_);
  ++held_records_;
  return true;
}

void hot_log::join_deferred() {
  held_ += deferred_;
  held_records_ += deferred_records_;
  deferred_.clear();
  deferred_records_ = 0;
}

bool hot_log::write_held() {
  if (!held_.empty()) join_deferred();  // they ride along: no write of their own
  return write_collected();
}

bool hot_log::write_all_held() {
  join_deferred();
  return write_collected();
}

bool hot_log::write_collected() {
  if (held_.empty()) return fd_ >= 0;
  if (fd_ < 0) {
    held_.clear();
    held_records_ = 0;
    return false;
  }
  const bool ok = put(held_);
  records_ += held_records_ - 1;  // put() counted one
  held_.clear();
  held_records_ = 0;
  return ok;
}

bool hot_log::add(message_id id, const message& m, std::uint16_t packet_id, qos2_state state) {
  if (fd_ < 0) return false;
  encode_add(record_buffer(), id, view_of(m), packet_id, state);
  return emit();
}

bool hot_log::remove(message_id id) {
  if (fd_ < 0) return false;
  encode_remove(record_buffer(), id);
  return emit();
}

bool hot_log::remove_later(message_id id) {
  if (fd_ < 0) return false;
  encode_remove(deferred_, id);
  if (++deferred_records_ < max_deferred_removals) return true;
  if (holding_) {
    join_deferred();  // written when the batch ends
    return true;
  }
  return write_all_held();
}

bool hot_log::set_qos2(message_id id, std::uint16_t packet_id, qos2_state state) {
  if (fd_ < 0) return false;
  // The state must be in the file before the packet it announces leaves:
  // written at once, after what is held (which comes first in the log).
  std::string& out = record_buffer();
  const auto at = begin_frame(out);
  out.push_back(static_cast<char>(record_qos2));
  put_int<std::int64_t>(out, id);
  put_int<std::uint16_t>(out, packet_id);
  put_int<std::uint8_t>(out, static_cast<std::uint8_t>(state));
  finish_frame(out, at);
  return emit() && write_all_held();  // the deferred removals too: it writes anyway
}

void hot_log::discard() {
  held_.clear();
  held_records_ = 0;
  deferred_.clear();
  deferred_records_ = 0;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!path_.empty()) ::unlink(path_.c_str());
  bytes_ = 0;
}

}  // namespace fieldbridge::store
