#include "run/homeassistant_announcer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "run/state_file.hpp"

namespace fieldbridge::gateway {

namespace mq = fieldbridge::mqtt;

std::string homeassistant_state_path(const config::configuration& configuration) {
  return configuration.store.path + ".homeassistant";
}

std::set<std::string> read_announced_topics(const std::string& path) {
  std::set<std::string> topics;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() != '#') topics.insert(line);
  return topics;
}

bool write_announced_topics(const std::string& path, const std::set<std::string>& topics) {
  std::string text = "# Home Assistant discovery configs announced by fieldbridge; cleared when their point goes\n";
  for (const auto& topic : topics) text += topic + '\n';
  return replace_file(path, text);
}

struct homeassistant_announcer::state : std::enable_shared_from_this<state> {
  state(mq::client& c, logger_ptr l) : client(c), log(std::move(l)) {}

  mq::client& client;
  logger_ptr log;
  bool enabled = false;
  std::string discovery_prefix;
  std::string status_topic;
  std::string path;
  std::vector<discovery_message> messages;
  std::set<std::string> announced;  // what the state file says
  std::string subscribed;           // the filter granted or asked for; empty: none

  void configure(const config::configuration& configuration) {
    enabled = configuration.homeassistant.enabled;
    discovery_prefix = configuration.homeassistant.discovery_prefix;
    status_topic = discovery_status_topic(configuration);
    messages = discovery_messages(configuration);
    const auto new_path = homeassistant_state_path(configuration);
    if (new_path != path) {
      path = new_path;
      announced = read_announced_topics(path);
    }
  }

  void remember(const std::set<std::string>& topics) {
    if (topics == announced) return;
    if (!write_announced_topics(path, topics))
      log->warn("Home Assistant: cannot write '{}': {}; configs of removed points may stay in Home Assistant",
                path, std::strerror(errno));
    announced = topics;
  }

  void subscribe() {
    const auto wanted = enabled ? status_topic : std::string{};
    if (wanted == subscribed) return;
    if (!subscribed.empty()) client.unsubscribe({subscribed}, [](const mq::subscribe_result&) {});
    subscribed = wanted;
    if (wanted.empty()) return;
    mq::subscribe_options options;
    options.max_qos = mq::qos::at_least_once;
    std::weak_ptr<state> weak = shared_from_this();
    client.subscribe({mq::subscription{wanted, options}}, [weak, wanted](const mq::subscribe_result& r) {
      const auto self = weak.lock();
      if (!self) return;
      if (r.error || r.codes.empty() || mq::is_failure(r.codes.front())) {
        self->log->warn("Home Assistant: subscription to '{}' failed; retried at the next connect", wanted);
        if (self->subscribed == wanted) self->subscribed.clear();
      }
    });
  }

  // The clears of one announce: the state file drops their topics once, when
  // the last of them is answered, not once per acknowledgement.
  struct clearing {
    std::size_t waiting = 0;
    std::set<std::string> cleared;
  };

  // Every config now, then the empty retained payload for each config
  // announced before that the configuration no longer has. The state file
  // lists both until the clears are acknowledged, so a crash in between
  // clears them at the next start.
  void announce() {
    if (!client.connected()) return;
    std::set<std::string> current;
    for (const auto& m : messages) current.insert(m.topic);
    std::set<std::string> keep = announced;
    keep.insert(current.begin(), current.end());
    remember(keep);
    for (const auto& m : messages) client.publish(m.topic, m.payload, mq::qos::at_least_once, true);
    std::vector<std::string> stale;
    for (const auto& topic : announced)
      if (current.count(topic) == 0) stale.push_back(topic);
    const auto round = std::make_shared<clearing>();
    round->waiting = stale.size();
    std::weak_ptr<state> weak = shared_from_this();
    for (const auto& topic : stale) {
      client.publish(topic, "", mq::qos::at_least_once, true, {}, [weak, round, topic](const mq::publish_result& r) {
        if (r.outcome == mq::publish_outcome::delivered) round->cleared.insert(topic);
        if (--round->waiting == 0)
          if (const auto self = weak.lock()) self->forget(round->cleared);
      });
    }
    if (!messages.empty() || !stale.empty())
      log->info("Home Assistant: announced {} entit{} under '{}'{}", messages.size(),
                messages.size() == 1 ? "y" : "ies", discovery_prefix,
                !stale.empty() ? fmt::format(", cleared {} removed", stale.size()) : std::string{});
  }

  // Cleared configs leave the state file, unless a reload announced them again meanwhile.
  void forget(const std::set<std::string>& cleared) {
    auto left = announced;
    for (const auto& topic : cleared) {
      const bool announced_again = std::any_of(messages.begin(), messages.end(),
                                               [&](const discovery_message& m) { return m.topic == topic; });
      if (!announced_again) left.erase(topic);
    }
    remember(left);
  }
};

homeassistant_announcer::homeassistant_announcer(mq::client& client, const config::configuration& configuration,
                                                 logger_ptr log)
    : state_(std::make_shared<state>(client, std::move(log))) {
  state_->configure(configuration);
}

homeassistant_announcer::~homeassistant_announcer() = default;

void homeassistant_announcer::on_connected() {
  state_->subscribe();
  state_->announce();
}

bool homeassistant_announcer::on_message(const mq::publish_packet& message) {
  if (!state_->enabled || message.topic != state_->status_topic) return false;
  const std::string_view payload(reinterpret_cast<const char*>(message.payload.data()), message.payload.size());
  if (payload == "online") {
    state_->log->debug("Home Assistant is online: announcing again");
    state_->announce();
  }
  return true;
}

void homeassistant_announcer::reconfigure(const config::configuration& configuration) {
  state_->configure(configuration);
  if (!state_->client.connected()) return;
  state_->subscribe();
  state_->announce();
}

const std::vector<discovery_message>& homeassistant_announcer::messages() const noexcept { return state_->messages; }

}  // namespace fieldbridge::gateway
