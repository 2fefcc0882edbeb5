// Topic names and filters (spec 4.7): validation and filter matching, for
// the client's checks before sending and its own subscription dispatch.
#pragma once

#include <string_view>

namespace fieldbridge::mqtt {

// A topic name to publish to: 1..65535 bytes of valid MQTT UTF-8, no `+` or `#`.
bool valid_topic_name(std::string_view name) noexcept;

// A topic filter to subscribe to: 1..65535 bytes of valid MQTT UTF-8, `+`
// alone in its level, `#` alone in the last level. Shared subscriptions
// (`$share/<group>/<filter>`) are accepted with a non-empty group without
// wildcards and a valid filter after it.
bool valid_topic_filter(std::string_view filter) noexcept;

// Does `name` match `filter`? Both are assumed valid. A `$share/<group>/`
// prefix of the filter is skipped. Names starting with `$` are not matched by
// a filter whose first level is `+` or `#` (spec 4.7.2).
bool topic_matches(std::string_view filter, std::string_view name) noexcept;

}  // namespace fieldbridge::mqtt
