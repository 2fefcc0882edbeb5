#include "sparkplug/edge_node.hpp"

#include <utility>

#include <fmt/format.h>

#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::gateway::sparkplug {

namespace mq = fieldbridge::mqtt;

namespace {

std::uint64_t now_ms() { return epoch_ms(wall_clock::now()); }

std::string bytes_text(const sp::payload& p) {
  const auto b = sp::encode(p);
  return std::string(b.begin(), b.end());
}

mq::will_options death_will(const config::sparkplug_settings& s, std::uint64_t bdseq) {
  mq::will_options will;
  will.topic = topic(s, message_type::ndeath);
  will.payload = bytes_text(node_death(bdseq, now_ms()));
  will.qos = mq::qos::at_least_once;  // 3.0: the will's QoS MUST be 1, retain false
  will.retain = false;
  return will;
}

}  // namespace

void edge_node::adjust_client_options(mq::client_options& options, const config::configuration& configuration) {
  options.clean_start = true;
  options.session_expiry = std::chrono::seconds{0};
  options.resend_after_reconnect = false;
  options.will = death_will(configuration.sparkplug, read_bdseq(bdseq_path(configuration)));
}

edge_node::edge_node(mq::client& client, store::queue& store, forwarder& drain,
                     const config::configuration& configuration, write_function write, logger_ptr log)
    : client_(client),
      store_(store),
      drain_(drain),
      configuration_(configuration),
      settings_(configuration_.sparkplug),
      write_(std::move(write)),
      log_(std::move(log)),
      table_(configuration_),
      router_(configuration_, table_, log_),
      state_path_(bdseq_path(configuration_)),
      next_bdseq_(read_bdseq(state_path_)) {}

void edge_node::attach() {
  forwarder_hooks hooks;
  hooks.may_publish = [this] { return may_publish(); };
  hooks.prepare = [this](mq::publish_packet& packet, wall_clock::time_point ts) { return prepare(packet, ts); };
  drain_.set_hooks(std::move(hooks));
}

// The drain runs only after this connection's births. Births wait for the
// primary host's STATE online (when one is configured) and, for a rebirth,
// until what the drain handed the client is done, so no DDATA of the old
// sequence is written after the new NBIRTH.
bool edge_node::may_publish() {
  if (!connected_ || stopping_) return false;
  if (!settings_.primary_host_id.empty() && !host_online_) return false;
  if (!born_ || rebirth_) {
    if (drain_.in_flight() != 0) return false;  // the forwarder pumps again at each completion
    births();
  }
  return born_;
}

bool edge_node::prepare(mq::publish_packet& packet, wall_clock::time_point) {
  try {
    const std::string_view stored(reinterpret_cast<const char*>(packet.payload.data()), packet.payload.size());
    const auto wire = to_wire(stored, seq_.next(), now_ms(), births_ms_);
    packet.payload.assign(wire.begin(), wire.end());
    packet.retain = false;
    return true;
  } catch (const sp::codec_error& e) {
    log_->warn("sparkplug: a stored message on {} is not a DDATA: {}", packet.topic, e.what());
    return false;
  }
}

void edge_node::publish_now(message_type type, const std::string& device, const sp::payload& p, mq::qos q) {
  client_.publish(topic(settings_, type, device), bytes_text(p), q, false);
}

// NBIRTH (seq 0, the bdSeq of this connection's will), then a DBIRTH for
// every device not known to be offline, with every metric's current value.
void edge_node::births() {
  const auto now = now_ms();
  births_ms_ = now;
  publish_now(message_type::nbirth, {}, node_birth(bdseq_, seq_.birth(), now), mq::qos::at_most_once);
  device_born_.clear();
  for (const auto& device : table_.devices()) {
    const auto status = device_online_.find(device.name);
    if (status != device_online_.end() && !status->second) continue;
    publish_now(message_type::dbirth, device.name, device_birth(device, router_.values(), seq_.next(), now),
                mq::qos::at_most_once);
    device_born_.insert(device.name);
  }
  born_ = true;
  rebirth_ = false;
  log_->info("sparkplug: NBIRTH (bdSeq {}) and {} DBIRTH on {}", bdseq_, device_born_.size(),
             topic(settings_, message_type::nbirth));
}

void edge_node::on_connection(const mq::connection_event& e) {
  connected_ = e.connected;
  born_ = false;
  // The primary host's retained STATE comes again with the subscription:
  // until it says online, nothing is published on this connection.
  host_online_ = false;
  if (!e.connected) return;
  // This connection's will carries next_bdseq_: it is this session's bdSeq
  // (its NBIRTHs, rebirths included, and the NDEATH at shutdown). The next
  // CONNECT's will carries one more, and so does the state file, so a
  // restart continues from there.
  bdseq_ = next_bdseq_;
  next_bdseq_ = (bdseq_ + 1) % 256;
  client_.set_will(death_will(settings_, next_bdseq_));
  if (!write_bdseq(state_path_, next_bdseq_))
    log_->error("sparkplug: could not write the bdSeq to {}; a restart may repeat bdSeq {}", state_path_, next_bdseq_);
  subscribe();
  // The births go out at the drain's next pump (may_publish).
  drain_.schedule_pump();
}

void edge_node::subscribe() {
  // Once granted, the client subscribes again by itself after every
  // reconnect (always a clean session here), before anything is published.
  if (subscribed_ || subscribing_) return;
  mq::subscribe_options options;
  options.max_qos = mq::qos::at_least_once;  // 3.0: NCMD and DCMD at QoS 1
  std::vector<mq::subscription> filters{{topic(settings_, message_type::ncmd), options},
                                        {topic(settings_, message_type::dcmd) + "/+", options}};
  if (!settings_.primary_host_id.empty()) filters.push_back({state_topic(settings_.primary_host_id), options});
  subscribing_ = true;
  client_.subscribe(std::move(filters), [this](const mq::subscribe_result& r) {
    subscribing_ = false;
    if (r.error) {
      log_->warn("sparkplug: subscribing to NCMD/DCMD failed: {}; retried at the next connect", r.error.message());
      return;
    }
    subscribed_ = true;
    for (const auto code : r.codes)
      if (mq::is_failure(code)) log_->error("sparkplug: the broker refused a subscription: {}", mq::reason_message(code));
  });
}

bool edge_node::on_message(const mq::publish_packet& m) {
  if (!settings_.primary_host_id.empty() && m.topic == state_topic(settings_.primary_host_id)) {
    host_state(m);
    return true;
  }
  if (m.topic == topic(settings_, message_type::ncmd)) {
    node_command(m);
    return true;
  }
  const auto dcmd = topic(settings_, message_type::dcmd) + "/";
  if (m.topic.size() > dcmd.size() && m.topic.compare(0, dcmd.size(), dcmd) == 0) {
    device_command(m, m.topic.substr(dcmd.size()));
    return true;
  }
  return false;
}

// STATE of the primary host: data only while it is online. Offline: an
// NDEATH (the host marks us offline), and births again when it is back.
void edge_node::host_state(const mq::publish_packet& m) {
  const std::string_view text(reinterpret_cast<const char*>(m.payload.data()), m.payload.size());
  const auto state = parse_host_state(text);
  if (!state) {
    log_->warn("sparkplug: STATE of '{}' is not {{\"online\":..,\"timestamp\":..}}: ignored", settings_.primary_host_id);
    return;
  }
  // 3.0: a STATE older than the last one seen is stale.
  if (host_seen_ && state->timestamp < host_timestamp_) return;
  host_seen_ = true;
  host_timestamp_ = state->timestamp;
  if (state->online == host_online_) return;
  host_online_ = state->online;
  log_->info("sparkplug: primary host '{}' is {}", settings_.primary_host_id, state->online ? "online" : "offline");
  if (state->online) {
    rebirth_ = true;
    drain_.schedule_pump();
  } else if (connected_ && born_) {
    born_ = false;
    publish_now(message_type::ndeath, {}, node_death(bdseq_, now_ms()), mq::qos::at_most_once);
  }
}

void edge_node::node_command(const mq::publish_packet& m) {
  sp::payload p;
  try {
    p = sp::decode(m.payload);
  } catch (const sp::codec_error& e) {
    log_->warn("sparkplug: NCMD ignored: {}", e.what());
    return;
  }
  for (const auto& metric : p.metrics) {
    const bool rebirth = (metric.name && *metric.name == rebirth_metric) || (!metric.name && metric.alias == rebirth_alias);
    if (!rebirth) {
      log_->info("sparkplug: NCMD metric '{}' ignored: only {} is supported", metric.name.value_or("alias"), rebirth_metric);
      continue;
    }
    if (metric.val != sp::value{true}) {
      log_->info("sparkplug: NCMD {} without the value true ignored", rebirth_metric);
      continue;
    }
    log_->info("sparkplug: rebirth requested");
    born_ = false;  // stop DATA until the new births are out
    rebirth_ = true;
    drain_.schedule_pump();
  }
}

// DCMD: each metric a write of its point, through the same checks as the
// /set commands (writable, type, range, map): a refused one reaches no bus.
// The value read back after the write goes out in a DDATA.
void edge_node::device_command(const mq::publish_packet& m, const std::string& device_name) {
  const auto* device = table_.device(device_name);
  if (device == nullptr) {
    log_->warn("sparkplug: DCMD for unknown device '{}' ignored", device_name);
    return;
  }
  sp::birth_types types;  // the datatypes of our own births, to read values sent without one
  sp::payload ours;
  for (const auto& def : device->metrics) {
    sp::metric x;
    x.name = def.name;
    x.alias = def.alias;
    x.type = def.type;
    ours.metrics.push_back(std::move(x));
  }
  types.learn(ours);
  sp::payload p;
  try {
    p = sp::decode(m.payload, &types);
  } catch (const sp::codec_error& e) {
    log_->warn("sparkplug: DCMD for '{}' ignored: {}", device_name, e.what());
    return;
  }
  for (const auto& metric : p.metrics) {
    const metric_def* def = nullptr;
    if (metric.alias) {
      const auto found = table_.by_alias(*metric.alias);
      if (found && found->first == device) def = found->second;
    } else if (metric.name) {
      if (const auto it = device->by_name.find(*metric.name); it != device->by_name.end())
        def = &device->metrics[it->second];
    }
    const std::string what = metric.name ? *metric.name : fmt::format("alias {}", metric.alias.value_or(0));
    if (def == nullptr) {
      log_->warn("sparkplug: DCMD {}/{} refused: no such metric", device_name, what);
      continue;
    }
    const auto value = command_value(metric.val);
    if (!value) {
      log_->warn("sparkplug: DCMD {}/{} refused: no value", device_name, def->name);
      continue;
    }
    if (auto error = drivers::check_write(*def->point, *value); !error.empty()) {
      log_->warn("sparkplug: DCMD {}/{} refused: {}", device_name, def->name, error);
      continue;
    }
    log_->info("sparkplug: DCMD {}/{}: writing {}", device_name, def->name, drivers::to_text(*value));
    write_(device_name, def->name, *value,
           [this, device = device_name, point = def->name](drivers::write_result r) {
             if (stopping_) return;
             if (!r.ok) {
               log_->warn("sparkplug: DCMD {}/{} failed: {}", device, point, r.error);
               return;
             }
             store::queue::batch batch(store_);
             router_.written(device, point, r.value, wall_clock::now(),
                             [this](store::message msg) { return store_.append(std::move(msg)).has_value(); });
             drain_.schedule_pump();
           });
  }
}

void edge_node::on_readings(const std::vector<reading>& readings, const data_router::sink& offer) {
  router_.route(readings, offer);
}

// DDEATH when a device goes offline, DBIRTH (with its current values) when
// it is back; while not born, the next births say it.
void edge_node::on_status(const std::string& device, bool online) {
  device_online_[device] = online;
  if (!online) router_.forget_device(device);
  if (!connected_ || !born_ || stopping_ || rebirth_) return;
  const auto* def = table_.device(device);
  if (def == nullptr) return;
  const bool born = device_born_.contains(device);
  const auto q = settings_.data_qos == 1 ? mq::qos::at_least_once : mq::qos::at_most_once;
  if (!online && born) {
    publish_now(message_type::ddeath, device, device_death(seq_.next(), now_ms()), q);
    device_born_.erase(device);
  } else if (online && !born) {
    publish_now(message_type::dbirth, device, device_birth(*def, router_.values(), seq_.next(), now_ms()),
                mq::qos::at_most_once);
    device_born_.insert(device);
  }
}

void edge_node::shutdown(std::function<void()> done) {
  stopping_ = true;
  if (!connected_) {
    done();
    return;
  }
  // 3.0: an edge node that disconnects on purpose publishes its NDEATH
  // first (the DISCONNECT that follows makes the broker drop the will).
  client_.publish(topic(settings_, message_type::ndeath), bytes_text(node_death(bdseq_, now_ms())),
                  mq::qos::at_least_once, false, {}, [done = std::move(done)](const mq::publish_result&) { done(); });
}

}  // namespace fieldbridge::gateway::sparkplug
