// Typed, located access to yaml-cpp nodes for the loader: every failure
// throws config_error at the offending node's line and column. Internal to
// the config library.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "fieldbridge/config/config.hpp"

namespace fieldbridge::config::detail {

// A 1-based position in the source text.
struct location {
  int line = 1;
  int column = 1;
};

location where(const YAML::Node& node);

// The source being loaded: its name for messages and the directory that
// relative paths in it start from.
class document {
 public:
  document(std::string name, std::string base_directory)
      : name_(std::move(name)), base_directory_(std::move(base_directory)) {}

  [[noreturn]] void fail(location at, std::string message) const;
  [[noreturn]] void fail(const YAML::Node& at, std::string message) const { fail(where(at), std::move(message)); }

  const std::string& name() const noexcept { return name_; }
  // `path` as given when absolute, else joined to the base directory.
  std::string resolve(const std::string& path) const;

 private:
  std::string name_;
  std::string base_directory_;
};

// One key of a map with its value; messages point at the value, or at the
// key when the value is empty.
struct entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  location value_location() const;
};

// Edit distance with adjacent transpositions (optimal string alignment).
std::size_t edit_distance(std::string_view a, std::string_view b);
// The closest candidate to `word` when it is a plausible typo of it.
std::optional<std::string_view> closest(std::string_view word, const std::vector<std::string_view>& candidates);

// A key that is valid elsewhere but not here, with the reason.
struct misplaced_key {
  std::string_view key;
  std::string_view reason;
};

// A YAML map whose keys have been checked against a known set: unknown keys,
// duplicate keys and non-scalar keys fail at construction. The readers then
// convert values with range checks; each returns whether the key was present.
class map_reader {
 public:
  map_reader(const document& doc, const YAML::Node& node, std::string what,
             std::vector<std::string_view> known, std::initializer_list<misplaced_key> misplaced = {});

  const std::string& what() const noexcept { return what_; }
  const YAML::Node& node() const noexcept { return node_; }
  const document& doc() const noexcept { return doc_; }

  const entry* find(std::string_view key) const;
  const entry& require(std::string_view key) const;

  bool read(std::string_view key, std::string& out) const;          // a non-empty string
  bool read_text(std::string_view key, std::string& out) const;     // any string, also ""
  bool read(std::string_view key, bool& out) const;
  bool read(std::string_view key, double& out) const;
  bool read(std::string_view key, std::optional<double>& out) const;
  template <typename integer>
  bool read(std::string_view key, integer& out, std::int64_t min, std::int64_t max) const {
    const auto* e = find(key);
    if (e == nullptr) return false;
    out = static_cast<integer>(to_integer(*e, min, max));
    return true;
  }
  bool read_duration(std::string_view key, std::chrono::milliseconds& out,
                     std::chrono::milliseconds min, std::chrono::milliseconds max) const;
  bool read_size(std::string_view key, std::uint64_t& out, std::uint64_t min, std::uint64_t max) const;
  template <typename value_enum>
  bool read_choice(std::string_view key, value_enum& out,
                   std::initializer_list<std::pair<std::string_view, value_enum>> choices) const {
    const auto* e = find(key);
    if (e == nullptr) return false;
    std::vector<std::string_view> names;
    for (const auto& choice : choices) names.push_back(choice.first);
    out = (choices.begin() + static_cast<std::ptrdiff_t>(to_choice(*e, names)))->second;
    return true;
  }

  // Conversions of one entry, shared by the readers above.
  std::string to_string(const entry& e, bool allow_empty = false) const;
  bool to_bool(const entry& e) const;
  double to_number(const entry& e) const;
  std::int64_t to_integer(const entry& e, std::int64_t min, std::int64_t max) const;
  std::size_t to_choice(const entry& e, const std::vector<std::string_view>& names) const;
  const YAML::Node& expect_map(const entry& e) const;
  const YAML::Node& expect_list(const entry& e) const;

 private:
  // The text of a scalar, or a type error. Numbers and booleans must be
  // plain: a quoted "5" is a string where a number was expected.
  const std::string& scalar_text(const entry& e, std::string_view expected, bool allow_quoted) const;

  const document& doc_;
  YAML::Node node_;
  std::string what_;
  std::vector<entry> entries_;
};

// "a map", "a list", "nothing", "'text'" or "the quoted string 'text'".
std::string describe(const YAML::Node& node);
// "point 'voltage'" when the map has a plain name, else just "point".
std::string label(std::string_view kind, const YAML::Node& node);
// "a, b or c".
std::string join_alternatives(const std::vector<std::string_view>& words);

}  // namespace fieldbridge::config::detail
