// Publish throughput and client CPU per message of fieldbridge's MQTT client,
// the same workload as mosquitto_publish_bench: at most --inflight publishes
// unfinished at any time; QoS 0 is finished when written, QoS 1 on PUBACK,
// QoS 2 on PUBCOMP.
#include <unistd.h>

#include <cstdio>
#include <string>

#include <boost/asio/io_context.hpp>

#include "bench_args.hpp"
#include "fieldbridge/mqtt/client.hpp"

int main(int argc, char** argv) {
  using namespace fieldbridge;
  const bench::publish_args args = bench::parse_publish_args(argc, argv, "mqtt_publish_bench");

  boost::asio::io_context io{1};  // one thread runs it, as in the gateway
  mqtt::client_options options;
  options.host = args.host;
  options.port = static_cast<std::uint16_t>(args.port);
  options.protocol = args.v5 ? mqtt::protocol_version::v5 : mqtt::protocol_version::v311;
  options.client_id = "bench-fb-" + std::to_string(::getpid());
  options.clean_start = true;
  options.keepalive = std::chrono::seconds{60};
  options.max_inflight = static_cast<std::uint16_t>(args.inflight);
  options.reconnect = false;
  mqtt::client client(io, options, nullptr);

  mqtt::publish_packet message;
  message.topic = "bench/" + options.client_id;
  message.payload.assign(static_cast<std::size_t>(args.size), 'x');
  message.qos = static_cast<mqtt::qos>(args.qos);

  // The completion captures one pointer, so std::function keeps it inline.
  struct run_state {
    mqtt::client& client;
    const bench::publish_args& args;
    const mqtt::publish_packet& message;
    bench::run_meter meter;
    long sent = 0;
    long done = 0;
    int exit_code = 0;

    void refill() {
      while (sent < args.count && sent - done < args.inflight) {
        client.publish(message, [this](const mqtt::publish_result& result) { on_done(result); });
        ++sent;
      }
    }
    void on_done(const mqtt::publish_result& result) {
      if (result.outcome != mqtt::publish_outcome::delivered) {
        if (exit_code == 0) std::fprintf(stderr, "publish failed: %s\n", result.error.message().c_str());
        exit_code = 1;
        client.stop();
        return;
      }
      if (++done == args.count) {
        meter.finish("fieldbridge", args, done);
        client.stop();
        return;
      }
      refill();
    }
  } state{client, args, message, {}};
  long& sent = state.sent;
  long& done = state.done;
  int& exit_code = state.exit_code;
  bench::run_meter& meter = state.meter;
  const auto refill = [&state] { state.refill(); };
  client.on_connection([&](const mqtt::connection_event& event) {
    if (event.connected) {
      if (sent == 0) {
        meter.start();
        refill();
      }
      return;
    }
    if (done < args.count && exit_code == 0) {
      std::fprintf(stderr, "connection failed: %s\n", event.detail.c_str());
      exit_code = 1;
      client.stop();
    }
  });
  client.start();
  io.run();
  return exit_code;
}
