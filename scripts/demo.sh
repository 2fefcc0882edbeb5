#!/usr/bin/env bash
# The fieldbridge demo: a simulated energy meter, a local mosquitto and the
# gateway, all on free loopback ports; prints live readings for a few
# seconds, then a command round trip, and stops everything it started.
#
#   scripts/demo.sh            (DEMO_SECONDS=N to watch longer)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-release"
seconds=${DEMO_SECONDS:-6}

"$root/scripts/install-deps.sh"
echo "demo: building (Release) in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFIELDBRIDGE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target fieldbridge
fieldbridge="$build/gateway/fieldbridge"

work=$(mktemp -d -t fieldbridge-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# free_port
source "$root/scripts/lib/ports.sh"
# wait_for_line FILE TEXT: until a part logs that it is ready, at most 10 s.
source "$root/scripts/lib/wait.sh"

broker_port=$(free_port)
device_port=$(free_port)
while [[ "$device_port" == "$broker_port" ]]; do device_port=$(free_port); done
prefix=fieldbridge/demo

printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$broker_port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)

sed "s/port: 15020/port: $device_port/" "$root/config/sim/demo.yaml" >"$work/sim.yaml"
"$fieldbridge" simulate -c "$work/sim.yaml" >"$work/simulate.log" 2>&1 &
pids+=($!)
wait_for_line "$work/simulate.log" "listening on"

sed -e "s/port: 1883/port: $broker_port/" -e "s/port: 15020/port: $device_port/" \
    -e "s#path: demo-queue.db#path: $work/queue.db#" "$root/config/demo.yaml" >"$work/fieldbridge.yaml"
"$fieldbridge" run -c "$work/fieldbridge.yaml" >"$work/fieldbridge.log" 2>&1 &
gateway=$!
pids+=($gateway)
wait_for_line "$work/fieldbridge.log" "running:"

echo "demo: broker on 127.0.0.1:$broker_port, simulated meter on 127.0.0.1:$device_port"
echo "demo: live readings for $seconds s (mosquitto_sub -v -t '$prefix/#'):"
mosquitto_sub -h 127.0.0.1 -p "$broker_port" -v -t "$prefix/#" -W "$seconds" 2>/dev/null || true

echo
echo "demo: command round trip: publish 42 to $prefix/meter1/setpoint/set"
wait_for_line "$work/fieldbridge.log" "listening for commands"
# mosquitto_rr subscribes to the response topic first, then sends the command
# with it (MQTT 5 Response Topic), so no answer can slip past it.
if mosquitto_rr -h 127.0.0.1 -p "$broker_port" -q 1 -t "$prefix/meter1/setpoint/set" \
     -e "$prefix/meter1/setpoint/set/result" -m 42 -W 5 >"$work/result.txt" 2>&1; then
  echo "$prefix/meter1/setpoint/set/result $(cat "$work/result.txt")"
  echo "demo: the next reading of the setpoint:"
  mosquitto_sub -h 127.0.0.1 -p "$broker_port" -v -C 1 -W 5 -t "$prefix/meter1/setpoint" || true
else
  echo "demo: no answer on $prefix/meter1/setpoint/set/result within 5 s:"
  cat "$work/result.txt"
fi

echo
echo "demo: stopping the gateway (SIGTERM): it publishes offline and exits"
kill -TERM "$gateway"
wait "$gateway" && echo "demo: fieldbridge run exited 0" || echo "demo: fieldbridge run exited $?"
mosquitto_sub -h 127.0.0.1 -p "$broker_port" -v -C 1 -W 2 --retained-only -t "$prefix/status" || true
echo "demo: gateway log:"
sed 's/^/  /' "$work/fieldbridge.log"
