# Sourced by the benchmarks that need a broker (bench/mqtt, bench/e2e): one
# way to start a local mosquitto.

# start_mosquitto DIR PORT: a mosquitto on 127.0.0.1:PORT with no limit on
# in-flight or queued messages (so the broker never drops what a benchmark
# counts), its config and log in DIR. Sets broker_pid; returns once it
# listens, or fails with its log. MOSQUITTO_NODELAY=1 turns Nagle's
# algorithm off on the broker's client sockets (set_tcp_nodelay; mosquitto
# leaves it on by default, which can hold a QoS 0 subscriber's messages
# until its delayed ACK, up to 40 ms).
start_mosquitto() {
  local dir=$1 port=$2
  {
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "max_inflight_messages 0"
    echo "max_queued_messages 0"
    [[ -n ${MOSQUITTO_NODELAY:-} ]] && echo "set_tcp_nodelay true"
    [[ $(id -u) == 0 ]] && echo "user root"
  } >"$dir/mosquitto-$port.conf"
  mosquitto -c "$dir/mosquitto-$port.conf" >"$dir/mosquitto-$port.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.05  # waiting for the broker to listen, not synchronising a test
  done
  cat "$dir/mosquitto-$port.log" >&2
  return 1
}
