#include <fieldbridge/mqtt/codec.hpp>

namespace fieldbridge::mqtt {
// Stub: implementation follows.
bool valid_mqtt_utf8(std::string_view) noexcept { return true; }
}  // namespace fieldbridge::mqtt
