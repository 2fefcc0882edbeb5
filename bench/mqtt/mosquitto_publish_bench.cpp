// The reference publisher: the same workload as mqtt_publish_bench, on
// libmosquitto (bench-only dependency), driven by mosquitto_loop on one thread.
// At most --inflight publishes are unfinished at any time; a QoS 0 message is
// finished when written, QoS 1 on PUBACK, QoS 2 on PUBCOMP.
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_args.hpp"

namespace {

struct mosquitto_closer {
  void operator()(mosquitto* handle) const noexcept { mosquitto_destroy(handle); }
};

struct library_guard {
  library_guard() { mosquitto_lib_init(); }
  ~library_guard() { mosquitto_lib_cleanup(); }
  library_guard(const library_guard&) = delete;
  library_guard& operator=(const library_guard&) = delete;
};

struct bench_state {
  bool connected = false;
  int connect_rc = -1;
  long done = 0;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace fieldbridge::bench;
  const publish_args args = parse_publish_args(argc, argv, "mosquitto_publish_bench");
  library_guard library;
  bench_state state;
  const std::string client_id = "bench-ref-" + std::to_string(::getpid());
  std::unique_ptr<mosquitto, mosquitto_closer> client(mosquitto_new(client_id.c_str(), true, &state));
  if (!client) {
    std::fprintf(stderr, "mosquitto_new failed\n");
    return 1;
  }
  mosquitto_int_option(client.get(), MOSQ_OPT_PROTOCOL_VERSION,
                       args.v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  mosquitto_max_inflight_messages_set(client.get(), static_cast<unsigned>(args.inflight));
  mosquitto_connect_callback_set(client.get(), [](mosquitto*, void* user, int rc) {
    auto* s = static_cast<bench_state*>(user);
    s->connect_rc = rc;
    s->connected = rc == 0;
  });
  mosquitto_publish_callback_set(client.get(), [](mosquitto*, void* user, int) {
    ++static_cast<bench_state*>(user)->done;
  });
  if (int rc = mosquitto_connect(client.get(), args.host.c_str(), args.port, 60); rc != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "connect failed: %s\n", mosquitto_strerror(rc));
    return 1;
  }
  while (state.connect_rc < 0) {
    if (int rc = mosquitto_loop(client.get(), 1000, 1); rc != MOSQ_ERR_SUCCESS) {
      std::fprintf(stderr, "loop failed: %s\n", mosquitto_strerror(rc));
      return 1;
    }
  }
  if (!state.connected) {
    std::fprintf(stderr, "connection refused: %s\n", mosquitto_connack_string(state.connect_rc));
    return 1;
  }

  const std::vector<char> payload(static_cast<std::size_t>(args.size), 'x');
  const std::string topic = "bench/" + client_id;
  long sent = 0;
  run_meter meter;
  meter.start();
  while (state.done < args.count) {
    while (sent < args.count && sent - state.done < args.inflight) {
      int rc = mosquitto_publish(client.get(), nullptr, topic.c_str(), args.size, payload.data(),
                                 args.qos, false);
      if (rc != MOSQ_ERR_SUCCESS) {
        std::fprintf(stderr, "publish failed: %s\n", mosquitto_strerror(rc));
        return 1;
      }
      ++sent;
    }
    if (int rc = mosquitto_loop(client.get(), 1000, 1); rc != MOSQ_ERR_SUCCESS) {
      std::fprintf(stderr, "loop failed: %s\n", mosquitto_strerror(rc));
      return 1;
    }
  }
  meter.finish("libmosquitto", args, state.done);
  mosquitto_disconnect(client.get());
  return 0;
}
