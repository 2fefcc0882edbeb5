// Finding a reading's point among a device's points, kept in configuration
// order with a name index beside them, and a bus's readings taken device by
// device. A bus reports a poll's readings in
// that same order, so the point after the one found last is tried first:
// one string compare per reading, and the tree search only when the order
// breaks (a point the device skipped, a write's read-back).
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fieldbridge/core/reading.hpp"

namespace fieldbridge::gateway {

inline constexpr std::size_t not_found = static_cast<std::size_t>(-1);

// An item's name: its `name` member, unless an overload of name_of for its
// type (found by argument-dependent lookup) says where the name is kept.
template <typename Item>
auto name_of(const Item& item) -> decltype((item.name)) {
  return item.name;
}

// The position of the item called `name` in `items`, trying `hint` first;
// not_found when there is none.
template <typename Items>
std::size_t find_in_order(const Items& items, const std::map<std::string, std::size_t, std::less<>>& index,
                          std::string_view name, std::size_t hint) {
  if (hint < items.size() && name_of(items[hint]) == name) return hint;
  const auto found = index.find(name);
  return found == index.end() ? not_found : found->second;
}

// Calls `f(first, last)` for each run of consecutive readings of one device
// (a poll's readings are one run), in order.
template <typename F>
void for_each_device_run(const std::vector<reading>& readings, F&& f) {
  const auto* r = readings.data();
  const auto* const end = r + readings.size();
  while (r != end) {
    const auto* run_end = std::find_if(r, end, [&](const reading& x) { return x.device != r->device; });
    f(r, run_end);
    r = run_end;
  }
}

}  // namespace fieldbridge::gateway
