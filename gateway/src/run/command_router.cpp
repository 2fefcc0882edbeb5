#include "command_router.hpp"

#include "fieldbridge/core/text.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "fieldbridge/drivers/codec.hpp"
#include "fieldbridge/mqtt/topic.hpp"

namespace fieldbridge::gateway {
namespace {

constexpr std::string_view set_suffix = "/set";
constexpr std::string_view expected_shape = R"(expected a number, true, false or {"value": ...})";

// A strict reader for exactly the accepted shapes (RFC 8259 tokens, no
// strings, arrays or nesting): a general JSON parser would accept far more
// than a command may be, and the project has none among its dependencies.
class payload_reader {
 public:
  explicit payload_reader(std::string_view text) : text_(text) {}

  command_payload read() {
    skip_space();
    command_payload out;
    if (peek() == '{') {
      ++pos_;
      out = read_member();
    } else {
      out = read_value();
    }
    if (!out.ok()) return out;
    skip_space();
    if (pos_ != text_.size()) return fail("unexpected text after the value");
    return out;
  }

 private:
  static command_payload fail(std::string error) { return {point_value{0.0}, std::move(error)}; }

  char peek() const noexcept { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool is_digit() const noexcept { return peek() >= '0' && peek() <= '9'; }

  void skip_space() noexcept {
    while (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r') ++pos_;
  }

  bool take(std::string_view word) noexcept {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // `"value" : <value> }`, after the opening brace.
  command_payload read_member() {
    skip_space();
    if (!take("\"")) return fail(std::string(expected_shape));
    const std::size_t end = text_.find('"', pos_);
    if (end == std::string_view::npos) return fail(std::string(expected_shape));
    const std::string_view key = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    // Escapes in the key are not decoded: "val\u0075e" is refused, as is any other key.
    if (key != "value") return fail(fmt::format(R"(unknown key '{}' (only "value" is accepted))", shown(key)));
    skip_space();
    if (!take(":")) return fail(std::string(expected_shape));
    skip_space();
    command_payload out = read_value();
    if (!out.ok()) return out;
    skip_space();
    if (!take("}")) return fail(R"(expected '}' after the value: only {"value": ...} is accepted)");
    return out;
  }

  // The key as the error shows it: the payload is any bytes, the result must
  // be valid UTF-8 JSON, and a long key says no more than its start.
  static std::string shown(std::string_view key) {
    constexpr std::size_t longest = 32;
    std::string out;
    for (const char c : key.substr(0, longest)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
    if (key.size() > longest) out += "...";
    return out;
  }

  command_payload read_value() {
    if (take("true")) return {point_value{true}, {}};
    if (take("false")) return {point_value{false}, {}};
    if (peek() == '-' || is_digit()) return read_number();
    return fail(std::string(expected_shape));
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  command_payload read_number() {
    const std::size_t start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (is_digit()) {
      while (is_digit()) ++pos_;
    } else {
      return fail(std::string(expected_shape));
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!is_digit()) return fail(std::string(expected_shape));
      while (is_digit()) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit()) return fail(std::string(expected_shape));
      while (is_digit()) ++pos_;
    }
    const std::string_view token = text_.substr(start, pos_ - start);
    if (integral) {
      // Integers stay exact, so a uint64 point gets every value it can hold.
      if (const auto i = convert<std::int64_t>(token)) return {point_value{*i}, {}};
      if (const auto u = convert<std::uint64_t>(token)) return {point_value{*u}, {}};
    }
    if (const auto d = convert<double>(token)) return {point_value{*d}, {}};
    return fail("number out of range");
  }

  template <typename T>
  static std::optional<T> convert(std::string_view token) {
    T value{};
    const char* end = token.data() + token.size();
    const auto [ptr, ec] = std::from_chars(token.data(), end, value);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return value;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};



}  // namespace

command_payload parse_command_payload(std::string_view payload) { return payload_reader(payload).read(); }

command_payload parse_mapped_command(std::string_view payload) {
  const auto trim = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t' || t.front() == '\n' || t.front() == '\r')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
    return t;
  };
  // A quoted name without escapes: a mapped name that needs them is refused.
  const auto quoted = [](std::string_view t) -> std::optional<std::string_view> {
    if (t.size() < 2 || t.front() != '"' || t.back() != '"') return std::nullopt;
    t = t.substr(1, t.size() - 2);
    if (t.find_first_of("\"\\") != std::string_view::npos) return std::nullopt;
    return t;
  };
  std::string_view text = trim(payload);
  if (!text.empty() && text.front() == '{' && text.back() == '}') {
    std::string_view inner = trim(text.substr(1, text.size() - 2));
    if (inner.substr(0, 7) != "\"value\"") return parse_command_payload(payload);
    inner = trim(inner.substr(7));
    if (inner.empty() || inner.front() != ':') return parse_command_payload(payload);
    text = trim(inner.substr(1));
  }
  if (const auto name = quoted(text)) return {point_value{std::string(*name)}, {}};
  // A bare name (running), as mosquitto_pub -m running sends it; anything
  // that looks like JSON goes to the strict reader and its errors.
  if (!text.empty() && text.find_first_of("\"{}[]") == std::string_view::npos &&
      !(text.front() == '-' || (text.front() >= '0' && text.front() <= '9')) && text != "true" && text != "false") {
    return {point_value{std::string(text)}, {}};
  }
  return parse_command_payload(payload);
}

std::string result_json(const drivers::write_result& result) {
  std::string out = result.ok ? R"({"ok":true,"value":)" : R"({"ok":false,"error":)";
  if (result.ok) {
    out += json_value(result.value).value_or("null");  // JSON has no NaN; the driver reports such a read-back as a failure anyway
  } else {
    append_json_string(out, result.error);
  }
  out += '}';
  return out;
}

// Shared with the write completions through a weak handle, so a completion
// that outlives the router finds nothing and does nothing.
struct command_router::state {
  // Where a command's result goes.
  struct reply_address {
    std::string topic;
    std::optional<std::vector<std::uint8_t>> correlation;
  };

  // A device's points by name: the spec of a writable one (what a command
  // is checked and written with), nothing of a read-only one but that it
  // exists (its commands are refused as "not writable").
  using point_entry = std::optional<point_spec>;
  std::string prefix;
  std::map<std::string, std::map<std::string, point_entry, std::less<>>, std::less<>> devices;
  write_function write;
  publish_function publish;
  logger_ptr logger;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, reply_address> pending;  // written, waiting for the bus

  void reply(const reply_address& to, const drivers::write_result& result) const {
    mqtt::publish_packet message;
    message.topic = to.topic;
    const std::string payload = result_json(result);
    message.payload.assign(payload.begin(), payload.end());
    message.qos = mqtt::qos::at_least_once;
    if (to.correlation) message.props.add(mqtt::property_id::correlation_data, *to.correlation);
    publish(std::move(message));
  }

  void refuse(const reply_address& to, std::string_view topic, std::string error) const {
    logger->info("command on {} refused: {}", topic, error);
    reply(to, drivers::write_result{false, {}, std::move(error)});
  }

  void finish(std::uint64_t id, const drivers::write_result& result) {
    const auto it = pending.find(id);
    if (it == pending.end()) {
      logger->warn("a second result for one command was dropped: {}", result_json(result));
      return;
    }
    const reply_address to = std::move(it->second);
    pending.erase(it);
    reply(to, result);
  }
};

command_router::command_router(const config::configuration& config, write_function write,
                               publish_function publish, logger_ptr logger)
    : state_(std::make_shared<state>()) {
  state_->prefix = config.mqtt.topic_prefix;
  for (const bus_spec& bus : config.buses) {
    for (const device_spec& device : bus.devices) {
      auto& points = state_->devices[device.name];
      for (const point_spec& point : device.points)
        points.emplace(point.name, point.writable ? state::point_entry(point) : std::nullopt);
    }
  }
  state_->write = std::move(write);
  state_->publish = std::move(publish);
  state_->logger = std::move(logger);
}

command_router::~command_router() = default;

std::vector<mqtt::subscription> command_router::subscriptions(bool wildcards_available) const {
  mqtt::subscribe_options options;
  options.max_qos = mqtt::qos::at_least_once;
  // MQTT 5 brokers then keep a retained command to themselves; 3.1.1 ones
  // send it with retain=1, and on_message ignores it.
  options.retain_handling = mqtt::retain_handling::dont_send;
  if (wildcards_available) return {mqtt::subscription{state_->prefix + "/+/+" + std::string(set_suffix), options}};
  std::vector<mqtt::subscription> out;
  for (const auto& [device, points] : state_->devices) {
    for (const auto& [name, point] : points) {
      if (!point) continue;
      out.push_back(mqtt::subscription{state_->prefix + "/" + device + "/" + name + std::string(set_suffix), options});
    }
  }
  return out;
}

bool command_router::on_message(const mqtt::publish_packet& message) {
  state& s = *state_;
  // <prefix>/<device>/<point>/set: names are single topic levels (the config
  // allows no '/' in them), so a device or point called "set" is no ambiguity.
  std::string_view topic = message.topic;
  if (topic.size() <= s.prefix.size() + 1 + set_suffix.size() || !topic.starts_with(s.prefix) ||
      topic[s.prefix.size()] != '/' || !topic.ends_with(set_suffix)) {
    return false;
  }
  const std::string_view levels =
      topic.substr(s.prefix.size() + 1, topic.size() - s.prefix.size() - 1 - set_suffix.size());
  const std::size_t slash = levels.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == levels.size() ||
      levels.find('/', slash + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view device = levels.substr(0, slash);
  const std::string_view point = levels.substr(slash + 1);

  if (message.retain) {
    // A retained command was stored by the broker earlier; writing it at
    // every reconnect would repeat an old wish. Live commands arrive with
    // retain=0 whatever their publisher set.
    s.logger->info("retained command on {} ignored (commands are never taken from the broker's store)",
                   topic);
    return true;
  }
  if (message.payload.empty()) {
    // What clears a retained command; not a command itself.
    s.logger->debug("empty message on {} ignored", topic);
    return true;
  }

  state::reply_address to{std::string(topic) + "/result", std::nullopt};
  if (const auto response_topic = message.props.string(mqtt::property_id::response_topic)) {
    if (mqtt::valid_topic_name(*response_topic)) {
      to.topic = std::string(*response_topic);
    } else {
      s.logger->warn("command on {}: response topic '{}' is not a topic name; answering on {}", topic,
                     *response_topic, to.topic);
    }
  }
  if (const auto correlation = message.props.binary(mqtt::property_id::correlation_data)) {
    to.correlation.emplace(correlation->begin(), correlation->end());
  }

  const auto d = s.devices.find(device);
  if (d == s.devices.end()) {
    s.refuse(to, topic, fmt::format("no device '{}'", device));
    return true;
  }
  const auto p = d->second.find(point);
  if (p == d->second.end()) {
    s.refuse(to, topic, fmt::format("no point '{}' on device '{}'", point, device));
    return true;
  }
  if (!p->second) {
    s.refuse(to, topic, fmt::format("point '{}' is not writable", point));
    return true;
  }
  const point_spec& spec = *p->second;
  const std::string_view text(reinterpret_cast<const char*>(message.payload.data()), message.payload.size());
  command_payload command = spec.transform.map.empty() ? parse_command_payload(text) : parse_mapped_command(text);
  if (!command.ok()) {
    s.refuse(to, topic, std::move(command.error));
    return true;
  }
  if (std::string error = drivers::check_write(spec, command.value); !error.empty()) {
    s.refuse(to, topic, std::move(error));
    return true;
  }

  const std::uint64_t id = s.next_id++;
  s.pending.emplace(id, std::move(to));
  s.logger->debug("command on {}: writing {}", topic, drivers::to_text(command.value));
  s.write(device, point, std::move(command.value),
          [weak = std::weak_ptr<state>(state_), id](drivers::write_result result) {
            if (const auto alive = weak.lock()) alive->finish(id, result);
          });
  return true;
}

std::size_t command_router::pending() const noexcept { return state_->pending.size(); }

}  // namespace fieldbridge::gateway
