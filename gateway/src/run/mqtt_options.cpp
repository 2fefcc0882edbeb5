#include "run/mqtt_options.hpp"

namespace fieldbridge::gateway {

std::string topic_prefix(const config::configuration& configuration) {
  return configuration.mqtt.topic_prefix.empty() ? "fieldbridge/" + configuration.gateway.name
                                                 : configuration.mqtt.topic_prefix;
}

std::string status_topic(std::string_view prefix) { return std::string(prefix) + "/status"; }

std::string device_status_topic(std::string_view prefix, std::string_view device) {
  return std::string(prefix) + "/" + std::string(device) + "/status";
}

mqtt::client_options client_options_from(const config::configuration& configuration) {
  const auto& settings = configuration.mqtt;
  mqtt::client_options options;
  options.host = settings.host;
  options.port = settings.port;
  options.brokers = config::brokers(settings);  // failover: mqtt.hosts in order
  options.protocol = settings.protocol == config::mqtt_protocol::v5 ? mqtt::protocol_version::v5
                                                                     : mqtt::protocol_version::v311;
  options.client_id = settings.client_id.empty() ? "fieldbridge-" + configuration.gateway.name : settings.client_id;
  if (!settings.username.empty()) options.username = settings.username;
  if (!settings.password.empty()) options.password = settings.password;
  options.keepalive = settings.keepalive;
  options.clean_start = settings.clean_start;
  options.session_expiry = settings.session_expiry;
  options.max_inflight = settings.max_inflight;
  options.maximum_packet_size = settings.max_packet_size;
  options.reconnect_min = settings.reconnect_min;
  options.reconnect_max = settings.reconnect_max;
  if (settings.tls) {
    mqtt::tls_options tls;
    tls.ca_file = settings.tls->ca_file;
    tls.cert_file = settings.tls->cert_file;
    tls.key_file = settings.tls->key_file;
    tls.verify_hostname = settings.tls->verify_hostname;
    tls.insecure_skip_verify = !settings.tls->verify_certificate;
    options.tls = tls;
  }
  return options;
}

}  // namespace fieldbridge::gateway
