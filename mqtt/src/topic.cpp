#include <algorithm>

#include <fieldbridge/mqtt/codec.hpp>
#include <fieldbridge/mqtt/topic.hpp>

namespace fieldbridge::mqtt {
namespace {

constexpr std::string_view share_prefix = "$share/";

// One pass, no memchr per character as find_first_of("+#") makes: this runs
// twice for every PUBLISH (size check, then encode).
bool has_wildcard(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == '+' || c == '#'; });
}

bool valid_length_and_utf8(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 0xFFFF && valid_mqtt_utf8(s);
}

// The filter part without the shared-subscription prefix, or an empty view
// when the prefix is there but the group is not valid.
std::string_view strip_share(std::string_view filter, bool& ok) noexcept {
  ok = true;
  if (!filter.starts_with(share_prefix)) return filter;
  const auto rest = filter.substr(share_prefix.size());
  const auto slash = rest.find('/');
  const auto group = rest.substr(0, slash);
  if (slash == std::string_view::npos || group.empty() || has_wildcard(group)) {
    ok = false;
    return {};
  }
  return rest.substr(slash + 1);
}

}  // namespace

bool valid_topic_name(std::string_view name) noexcept {
  return valid_length_and_utf8(name) && !has_wildcard(name);
}

bool valid_topic_filter(std::string_view filter) noexcept {
  if (!valid_length_and_utf8(filter)) return false;
  bool ok = true;
  const auto body = strip_share(filter, ok);
  if (!ok || body.empty()) return false;
  std::size_t level_start = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '/') {
      level_start = i + 1;
      continue;
    }
    if (c != '+' && c != '#') continue;
    const bool alone_start = i == level_start;
    const bool alone_end = i + 1 == body.size() || body[i + 1] == '/';
    if (!alone_start || !alone_end) return false;
    if (c == '#' && i + 1 != body.size()) return false;
  }
  return true;
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept {
  bool ok = true;
  filter = strip_share(filter, ok);
  if (!ok || name.empty()) return false;
  if (name.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#')) return false;
  std::size_t f = 0;
  std::size_t n = 0;
  while (true) {
    const auto f_end = std::min(filter.find('/', f), filter.size());
    const auto f_level = filter.substr(f, f_end - f);
    if (f_level == "#") return true;  // matches the parent level too ("a/#" matches "a")
    if (n > name.size()) {
      return false;
    }
    const auto n_end = std::min(name.find('/', n), name.size());
    const auto n_level = name.substr(n, n_end - n);
    if (f_level != "+" && f_level != n_level) return false;
    const bool f_last = f_end == filter.size();
    const bool n_last = n_end == name.size();
    if (f_last && n_last) return true;
    if (n_last) {
      // Name ended; only a trailing "/#" can still match.
      return filter.substr(f_end) == "/#";
    }
    if (f_last) return false;
    f = f_end + 1;
    n = n_end + 1;
  }
}

}  // namespace fieldbridge::mqtt
