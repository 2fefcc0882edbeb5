// The documentation keeps up with the parser: every key that the reference
// configuration and the examples use has a row in docs/configuration.md.
#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "temp_dir.hpp"

namespace {

const std::filesystem::path source_dir{FIELDBRIDGE_SOURCE_DIR};

// Collects "mqtt.tls.ca_file", "buses[].devices[].points[].name", ...
void collect_keys(const YAML::Node& node, const std::string& path, std::set<std::string>& keys) {
  if (node.IsMap()) {
    for (const auto& pair : node) {
      const auto key = path.empty() ? pair.first.Scalar() : path + "." + pair.first.Scalar();
      keys.insert(key);
      // A point's `map` holds data (value: name), not keys.
      if (pair.first.Scalar() == "map") continue;
      collect_keys(pair.second, key, keys);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) collect_keys(item, path + "[]", keys);
  }
}

std::set<std::string> keys_of(const std::filesystem::path& file) {
  std::set<std::string> keys;
  collect_keys(YAML::LoadFile(file.string()), "", keys);
  return keys;
}

TEST(configuration_docs, every_key_of_the_reference_config_is_documented) {
  const auto docs = fieldbridge::test::read_file(source_dir / "docs/configuration.md");
  const auto keys = keys_of(source_dir / "config/fieldbridge.example.yaml");
  EXPECT_GT(keys.size(), 70u);  // the reference shows every key
  for (const auto& key : keys) EXPECT_NE(docs.find("`" + key + "`"), std::string::npos) << key;
}

TEST(configuration_docs, every_key_of_the_examples_is_documented) {
  const auto docs = fieldbridge::test::read_file(source_dir / "docs/configuration.md");
  for (const auto& entry : std::filesystem::directory_iterator(source_dir / "config/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    for (const auto& key : keys_of(entry.path()))
      EXPECT_NE(docs.find("`" + key + "`"), std::string::npos) << key << " in " << entry.path();
  }
}

TEST(configuration_docs, the_reference_config_shows_every_documented_key) {
  // The docs' key rows start with "| `path`"; the reference config must show
  // each one, either set or as a commented line for the alternatives.
  const auto docs = fieldbridge::test::read_file(source_dir / "docs/configuration.md");
  const auto reference = fieldbridge::test::read_file(source_dir / "config/fieldbridge.example.yaml");
  std::size_t rows = 0;
  for (std::size_t at = docs.find("\n| `"); at != std::string::npos; at = docs.find("\n| `", at + 1)) {
    const auto end = docs.find('`', at + 4);
    const auto path = docs.substr(at + 4, end - at - 4);
    const auto leaf = path.substr(path.find_last_of(".]") == std::string::npos ? 0 : path.find_last_of(".]") + 1);
    ++rows;
    EXPECT_NE(reference.find(leaf + ":"), std::string::npos) << path;
  }
  EXPECT_GT(rows, 70u);
}

}  // namespace
