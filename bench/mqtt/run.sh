#!/usr/bin/env bash
# Runs fieldbridge's MQTT publisher and the libmosquitto reference side by
# side against one local mosquitto (max_inflight_messages 0,
# max_queued_messages 0) on a free loopback port, at QoS 0, 1 and 2, and
# prints one table.
#
# usage: bench/mqtt/run.sh [BUILD_DIR]   (configured with -DFIELDBRIDGE_BUILD_BENCH=ON)
# environment: COUNT (100000), SIZE (64), INFLIGHT (20), PROTOCOL (5 | 3.1.1), RUNS (3: best of)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
ours=$build/bench/mqtt/mqtt_publish_bench
reference=$build/bench/mqtt/mosquitto_publish_bench
for binary in "$ours" "$reference"; do
  [[ -x $binary ]] || { echo "missing $binary: build with -DFIELDBRIDGE_BUILD_BENCH=ON" >&2; exit 2; }
done
count=${COUNT:-100000}
size=${SIZE:-64}
inflight=${INFLIGHT:-20}
protocol=${PROTOCOL:-5}
runs=${RUNS:-3}

dir=$(mktemp -d)
broker_pid=
cleanup() {
  [[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# start_mosquitto
source "$here/../../scripts/lib/mosquitto.sh"
start_mosquitto "$dir" "$port"

# Best of $runs by rate; prints "rate cpu".
measure() {
  local binary=$1 qos=$2 best_rate=0 best_cpu=0 line rate cpu
  for _ in $(seq "$runs"); do
    line=$("$binary" --host 127.0.0.1 --port "$port" --protocol "$protocol" --qos "$qos" \
      --count "$count" --size "$size" --inflight "$inflight")
    rate=$(sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
    cpu=$(sed -n 's/.*cpu_us_per_msg=\([0-9.]*\).*/\1/p' <<<"$line")
    if awk -v a="$rate" -v b="$best_rate" 'BEGIN { exit !(a > b) }'; then best_rate=$rate; best_cpu=$cpu; fi
  done
  echo "$best_rate $best_cpu"
}

echo "MQTT $protocol publish to mosquitto on 127.0.0.1, $count messages of $size bytes, $inflight in flight, best of $runs"
echo
echo "| QoS | fieldbridge msgs/s | libmosquitto msgs/s | fieldbridge CPU µs/msg | libmosquitto CPU µs/msg | rate ≥ ref | CPU ≤ ½ ref |"
echo "|---|---|---|---|---|---|---|"
for qos in 0 1 2; do
  read -r our_rate our_cpu < <(measure "$ours" "$qos")
  read -r ref_rate ref_cpu < <(measure "$reference" "$qos")
  rate_ok=$(awk -v a="$our_rate" -v b="$ref_rate" 'BEGIN { print (a >= b) ? "yes" : "no" }')
  cpu_ok=$(awk -v a="$our_cpu" -v b="$ref_cpu" 'BEGIN { print (a <= b / 2) ? "yes" : "no" }')
  echo "| $qos | $our_rate | $ref_rate | $our_cpu | $ref_cpu | $rate_ok | $cpu_ok |"
done
