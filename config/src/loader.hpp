// The schema walk behind load_file/load_string. Internal to the config library.
#pragma once

#include <yaml-cpp/yaml.h>

#include "fieldbridge/config/config.hpp"
#include "yaml_reader.hpp"

namespace fieldbridge::config::detail {

// Fills a configuration from a parsed YAML document, or throws config_error.
configuration load_document(const document& doc, const YAML::Node& root);

}  // namespace fieldbridge::config::detail
