// The schema walk behind load_file/load_string. Internal to the config library.
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "fieldbridge/config/config.hpp"
#include "yaml_reader.hpp"

namespace fieldbridge::config::detail {

// Fills a configuration from a parsed YAML document, or throws config_error.
configuration load_document(const document& doc, const YAML::Node& root);

// The text of `in`, read in chunks until its end or until more than `limit`
// bytes have come (a device such as /dev/zero has no end), so memory grows
// with the file, not with the limit; nullopt when the read fails. The caller
// refuses a text longer than `limit`.
std::optional<std::string> read_at_most(std::istream& in, std::size_t limit);

}  // namespace fieldbridge::config::detail
