// The Home Assistant block of the configuration: lookups with defaults and
// the id alphabet of discovery topics.
#include "fieldbridge/config/config.hpp"

namespace fieldbridge::config {

homeassistant_device homeassistant_settings::device(std::string_view device_name) const {
  const auto it = devices.find(device_name);
  return it == devices.end() ? homeassistant_device{} : it->second;
}

homeassistant_entity homeassistant_settings::point(std::string_view device_name, std::string_view point_name) const {
  const auto it = devices.find(device_name);
  if (it == devices.end()) return {};
  const auto p = it->second.points.find(point_name);
  return p == it->second.points.end() ? homeassistant_entity{} : p->second;
}

std::string homeassistant_id(std::string_view name) {
  std::string out(name);
  for (auto& c : out)
    if (c == '.') c = '_';
  return out;
}

}  // namespace fieldbridge::config
