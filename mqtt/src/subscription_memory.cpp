// The session's subscription memory; see subscription_memory.hpp.
#include "subscription_memory.hpp"

#include <algorithm>

namespace fieldbridge::mqtt {

subscription_memory::remembered* subscription_memory::find_remembered(std::string_view filter) {
  for (auto& r : subscriptions_) {
    if (r.filter == filter) return &r;
  }
  return nullptr;
}

void subscription_memory::forget_if_empty() {
  std::erase_if(subscriptions_, [](const remembered& r) { return !r.is_granted && !r.is_pending; });
}

void subscription_memory::remember_pending(const std::vector<subscription>& subs, const properties& props,
                                           message_token token) {
  for (const auto& sub : subs) {
    auto* r = find_remembered(sub.filter);
    if (!r) r = &subscriptions_.emplace_back(remembered{sub.filter, false, {}, {}, false, 0, {}, {}});
    r->is_pending = true;
    r->pending_token = token;
    r->pending = sub;
    r->pending_props = props;
  }
}

void subscription_memory::settle(std::string_view filter, message_token token, bool granted) {
  auto* r = find_remembered(filter);
  if (!r || !r->is_pending || r->pending_token != token) return;  // unsubscribed or asked again since
  if (granted) {
    r->is_granted = true;
    r->granted = std::move(r->pending);
    r->granted_props = std::move(r->pending_props);
  }
  r->is_pending = false;
  r->pending = {};
  r->pending_props = {};
}

void subscription_memory::drop_pending(message_token token) {
  for (auto& r : subscriptions_) {
    if (r.is_pending && r.pending_token == token) {
      r.is_pending = false;
      r.pending = {};
      r.pending_props = {};
    }
  }
  forget_if_empty();
}

void subscription_memory::forget(const std::vector<std::string>& filters) {
  std::erase_if(subscriptions_, [&](const remembered& r) {
    return std::find(filters.begin(), filters.end(), r.filter) != filters.end();
  });
}

std::vector<subscription> subscription_memory::granted() const {
  std::vector<subscription> out;
  for (const auto& r : subscriptions_) {
    if (r.is_granted) out.push_back(r.granted);
  }
  return out;
}

bool subscription_memory::any_granted() const {
  return std::any_of(subscriptions_.begin(), subscriptions_.end(), [](const auto& r) { return r.is_granted; });
}

void subscription_memory::on_session_lost() {
  if (any_granted()) restore_needed_ = true;
}

std::vector<subscribe_packet> subscription_memory::take_restore() {
  restore_needed_ = false;
  std::vector<subscribe_packet> packets;
  for (const auto& r : subscriptions_) {
    if (!r.is_granted) continue;
    auto same = std::find_if(packets.begin(), packets.end(), [&](const auto& p) { return p.props == r.granted_props; });
    if (same == packets.end()) same = packets.insert(packets.end(), subscribe_packet{0, {}, r.granted_props});
    same->subscriptions.push_back(r.granted);
  }
  return packets;
}

}  // namespace fieldbridge::mqtt
