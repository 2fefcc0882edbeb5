#include "yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include <fmt/core.h>

#include "fieldbridge/config/units.hpp"

namespace fieldbridge::config::detail {

location where(const YAML::Node& node) {
  const auto mark = node.Mark();
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

void document::fail(location at, std::string message) const {
  throw config_error(name_, at.line, at.column, std::move(message));
}

std::string document::resolve(const std::string& path) const {
  const std::filesystem::path given{path};
  if (given.is_absolute() || base_directory_.empty()) return path;
  return (std::filesystem::path{base_directory_} / given).lexically_normal().string();
}

location entry::value_location() const {
  // yaml-cpp places an empty value at the start of the next token, often
  // the next line; the key is where the reader looks.
  return value.IsNull() ? where(key_node) : where(value);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows suffice for the transposition case.
  std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::string_view> closest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 0;
  for (const auto candidate : candidates) {
    const auto distance = edit_distance(word, candidate);
    if (!best || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  // A typo changes a few letters; beyond a third of the word it is another word.
  const auto allowed = std::max<std::size_t>(1, std::min<std::size_t>(3, word.size() / 3));
  // A one-letter word is no typo of another one-letter word.
  if (best && best_distance <= allowed && best_distance < word.size()) return best;
  return std::nullopt;
}

std::string join_alternatives(const std::vector<std::string_view>& words) {
  std::string text;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) text += i + 1 == words.size() ? " or " : ", ";
    text += words[i];
  }
  return text;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar:
      return node.Tag() == "!" ? fmt::format("the quoted string '{}'", node.Scalar())
                               : fmt::format("'{}'", node.Scalar());
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::string label(std::string_view kind, const YAML::Node& node) {
  if (node.IsMap()) {
    // Range-for keeps each key/value pair alive; yaml-cpp's operator-> would not.
    for (const auto& pair : node) {
      if (pair.first.IsScalar() && pair.first.Scalar() == "name" && pair.second.IsScalar())
        return fmt::format("{} '{}'", kind, pair.second.Scalar());
    }
  }
  return std::string{kind};
}

map_reader::map_reader(const document& doc, const YAML::Node& node, std::string what,
                       std::vector<std::string_view> known, std::initializer_list<misplaced_key> misplaced)
    : doc_(doc), node_(node), what_(std::move(what)) {
  if (!node.IsMap()) doc.fail(node, fmt::format("expected a map for {}, got {}", what_, describe(node)));
  for (const auto& pair : node) {
    const YAML::Node& key = pair.first;
    if (!key.IsScalar()) doc.fail(key, fmt::format("expected a plain key in {}, got {}", what_, describe(key)));
    const std::string& name = key.Scalar();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      for (const auto& m : misplaced)
        if (m.key == name) doc.fail(key, fmt::format("'{}' is not allowed in {}: {}", name, what_, m.reason));
      if (const auto suggestion = closest(name, known))
        doc.fail(key, fmt::format("unknown key '{}' in {}; did you mean '{}'?", name, what_, *suggestion));
      doc.fail(key, fmt::format("unknown key '{}' in {}; expected {}", name, what_, join_alternatives(known)));
    }
    if (const auto* earlier = find(name))
      doc.fail(key, fmt::format("duplicate key '{}' in {} (first at line {})", name, what_,
                                where(earlier->key_node).line));
    entries_.push_back({name, key, pair.second});
  }
}

const entry* map_reader::find(std::string_view key) const {
  for (const auto& e : entries_)
    if (e.key == key) return &e;
  return nullptr;
}

const entry& map_reader::require(std::string_view key) const {
  if (const auto* e = find(key)) return *e;
  doc_.fail(node_, fmt::format("missing required key '{}' in {}", key, what_));
}

const std::string& map_reader::scalar_text(const entry& e, std::string_view expected, bool allow_quoted) const {
  if (!e.value.IsScalar() || (!allow_quoted && e.value.Tag() == "!"))
    doc_.fail(e.value_location(), fmt::format("expected {} for '{}', got {}", expected, e.key, describe(e.value)));
  return e.value.Scalar();
}

std::string map_reader::to_string(const entry& e, bool allow_empty) const {
  if (!e.value.IsScalar() || (!allow_empty && e.value.Scalar().empty()))
    doc_.fail(e.value_location(), fmt::format("expected {} for '{}', got {}",
                                              allow_empty ? "a string" : "a non-empty string", e.key,
                                              e.value.IsScalar() ? "an empty string" : describe(e.value)));
  return e.value.Scalar();
}

bool map_reader::to_bool(const entry& e) const {
  const auto& text = scalar_text(e, "true or false", false);
  static constexpr std::string_view yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static constexpr std::string_view no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  if (std::find(std::begin(yes), std::end(yes), text) != std::end(yes)) return true;
  if (std::find(std::begin(no), std::end(no), text) != std::end(no)) return false;
  doc_.fail(e.value_location(), fmt::format("expected true or false for '{}', got '{}'", e.key, text));
}

double map_reader::to_number(const entry& e) const {
  const auto& text = scalar_text(e, "a number", false);
  double value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first;
  const auto [end, error] = std::from_chars(first, last, value);
  if (error != std::errc{} || end != last || first == last || !std::isfinite(value))
    doc_.fail(e.value_location(), fmt::format("expected a number for '{}', got '{}'", e.key, text));
  return value;
}

std::int64_t map_reader::to_integer(const entry& e, std::int64_t min, std::int64_t max) const {
  const auto& text = scalar_text(e, "an integer", false);
  std::string_view digits{text};
  bool negative = false;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  std::uint64_t magnitude = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  const bool parsed = !digits.empty() && end == digits.data() + digits.size();
  if (!parsed) doc_.fail(e.value_location(), fmt::format("expected an integer for '{}', got '{}'", e.key, text));
  // Out-of-range text (also past 64 bits) gets the range message, not a type error.
  const bool fits = error == std::errc{} && magnitude <= static_cast<std::uint64_t>(INT64_MAX);
  const std::int64_t value = fits ? (negative ? -static_cast<std::int64_t>(magnitude)
                                             : static_cast<std::int64_t>(magnitude))
                                  : 0;
  if (!fits || value < min || value > max)
    doc_.fail(e.value_location(), fmt::format("'{}' must be {}..{}, got {}", e.key, min, max, text));
  return value;
}

std::size_t map_reader::to_choice(const entry& e, const std::vector<std::string_view>& names) const {
  const auto expected = join_alternatives(names);
  const auto& text = scalar_text(e, expected, true);
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return i;
  std::string message = fmt::format("expected {} for '{}', got '{}'", expected, e.key, text);
  if (const auto suggestion = closest(text, names)) message += fmt::format(" (did you mean '{}'?)", *suggestion);
  doc_.fail(e.value_location(), std::move(message));
}

const YAML::Node& map_reader::expect_map(const entry& e) const {
  if (!e.value.IsMap())
    doc_.fail(e.value_location(), fmt::format("expected a map for '{}', got {}", e.key, describe(e.value)));
  return e.value;
}

const YAML::Node& map_reader::expect_list(const entry& e) const {
  if (!e.value.IsSequence())
    doc_.fail(e.value_location(), fmt::format("expected a list for '{}', got {}", e.key, describe(e.value)));
  return e.value;
}

bool map_reader::read(std::string_view key, std::string& out) const {
  const auto* e = find(key);
  if (e != nullptr) out = to_string(*e);
  return e != nullptr;
}

bool map_reader::read_text(std::string_view key, std::string& out) const {
  const auto* e = find(key);
  if (e != nullptr) out = to_string(*e, true);
  return e != nullptr;
}

bool map_reader::read(std::string_view key, bool& out) const {
  const auto* e = find(key);
  if (e != nullptr) out = to_bool(*e);
  return e != nullptr;
}

bool map_reader::read(std::string_view key, double& out) const {
  const auto* e = find(key);
  if (e != nullptr) out = to_number(*e);
  return e != nullptr;
}

bool map_reader::read(std::string_view key, std::optional<double>& out) const {
  const auto* e = find(key);
  if (e != nullptr) out = to_number(*e);
  return e != nullptr;
}

namespace {

// A unit-notation value (duration or size) within min..max; shared by
// read_duration and read_size so both report the same way.
template <typename value, typename parser, typename formatter>
value ranged_unit_value(const document& doc, const entry& e, const std::string& text, parser parse,
                        formatter format, value min, value max) {
  const auto parsed = parse(text);
  if (!parsed.value) doc.fail(e.value_location(), fmt::format("'{}': {}", e.key, parsed.error));
  if (*parsed.value < min || *parsed.value > max)
    doc.fail(e.value_location(), fmt::format("'{}' must be {}..{}, got {}", e.key, format(min), format(max), text));
  return *parsed.value;
}

}  // namespace

bool map_reader::read_duration(std::string_view key, std::chrono::milliseconds& out,
                               std::chrono::milliseconds min, std::chrono::milliseconds max) const {
  const auto* e = find(key);
  if (e == nullptr) return false;
  const auto& text = scalar_text(*e, "a duration such as 250ms, 1s, 5m, 1h or 1d", true);
  out = ranged_unit_value(doc_, *e, text, parse_duration, format_duration, min, max);
  return true;
}

bool map_reader::read_size(std::string_view key, std::uint64_t& out, std::uint64_t min, std::uint64_t max) const {
  const auto* e = find(key);
  if (e == nullptr) return false;
  const auto& text = scalar_text(*e, "a size such as 64KiB or 256MiB", true);
  out = ranged_unit_value(doc_, *e, text, parse_size, format_size, min, max);
  return true;
}

}  // namespace fieldbridge::config::detail
