#!/usr/bin/env bash
# End-to-end smoke test of a cross-built ARM tree under qemu-user: the ARM
# `fieldbridge simulate` serves the demo meter, the ARM `fieldbridge run`
# polls it and publishes to a local (amd64) mosquitto on loopback; readings
# must arrive and a command must round-trip (.../set -> device write ->
# .../set/result -> the next reading). With --rss it then measures the ARM
# gateway's resident memory at idle and at 1,000 points/s (qemu figures are
# indicative: the RSS includes qemu's own translator and code cache).
#
#   scripts/arm-smoke.sh build-pkg-arm64 [--rss]     (scripts/package.sh --check runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "$1")
rss=0; [[ "${2:-}" == --rss ]] && rss=1
qemu=$(sed -nE 's/^CMAKE_CROSSCOMPILING_EMULATOR:[A-Z]*=(.*)/\1/p; s/^FIELDBRIDGE_CROSS_QEMU_PATH:[A-Z]*=(.*)/\1/p' "$build/CMakeCache.txt" | head -n 1)
[[ -x $qemu ]] || { echo "arm-smoke: $build is not a cross-built tree (no qemu in its CMakeCache)" >&2; exit 2; }
fieldbridge=$build/gateway/fieldbridge
arch=$(basename "$build"); arch=${arch#build-pkg-}

work=$(mktemp -d -t fieldbridge-arm-smoke.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "arm-smoke ($arch): FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f"; tail -n 20 "$f"; done >&2; exit 1; }
# free_port
source scripts/lib/ports.sh
source scripts/lib/wait.sh
# wait_for FILE TEXT SECONDS: the emulated binaries start slowly; a part
# that never gets there fails the smoke test with every log.
wait_for() { wait_for_line "$@" || fail "no '$2' in $1 within $3 s"; }
# stop_within PID SECONDS: SIGTERM, then the exit status, or a failure when
# the process is still there after SECONDS (PRODUCT.md: SIGTERM stops the
# daemon within a few seconds in every state; qemu gets some slack).
stop_within() {
  local pid=$1 deadline=$((SECONDS + $2)) status=0
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid") != Z* ]]; do
    if ((SECONDS >= deadline)); then kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; return 124; fi
    sleep 0.2
  done
  wait "$pid" || status=$?
  return "$status"
}
rss_kib() { sed -nE 's/^VmRSS:\s+([0-9]+) kB/\1/p' "/proc/$1/status"; }

broker_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$broker_port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 & pids+=($!)

# ---- the demo meter, ARM simulate -> ARM run -> mosquitto --------------------
device_port=$(free_port)
prefix=fieldbridge/demo
sed "s/port: 15020/port: $device_port/" config/sim/demo.yaml >"$work/sim.yaml"
"$qemu" "$fieldbridge" simulate -c "$work/sim.yaml" >"$work/simulate.log" 2>&1 & pids+=($!)
wait_for "$work/simulate.log" "listening on" 30
sed -e "s/port: 1883/port: $broker_port/" -e "s/port: 15020/port: $device_port/" \
    -e "s#path: demo-queue.db#path: $work/queue.db#" config/demo.yaml >"$work/fieldbridge.yaml"
"$qemu" "$fieldbridge" run -c "$work/fieldbridge.yaml" >"$work/run.log" 2>&1 & gateway=$!; pids+=($gateway)
wait_for "$work/run.log" "running:" 60

# Two points polled every second (meter1/status is not a reading).
readings=$(mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t "$prefix/meter1/voltage" -t "$prefix/meter1/polls" \
             -C 10 -W 30 2>/dev/null | grep -c '"value"' || true)
((readings == 10)) || fail "$readings of 10 readings arrived within 30 s"
echo "arm-smoke ($arch): 10 readings from the ARM gateway arrived at mosquitto"

wait_for "$work/run.log" "listening for commands" 30
mosquitto_rr -h 127.0.0.1 -p "$broker_port" -q 1 -t "$prefix/meter1/setpoint/set" \
  -e "$prefix/meter1/setpoint/set/result" -m 42 -W 20 >"$work/result.txt" 2>"$work/rr.log" || fail "no command result within 20 s"
grep -q '"ok":true' "$work/result.txt" || fail "command result: $(cat "$work/result.txt")"
# The write reached the (ARM) simulator: a later reading of the setpoint says 42.
mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t "$prefix/meter1/setpoint" -C 5 -W 20 >"$work/setpoint.txt" 2>/dev/null || true
grep -q '"value":42[,}]' "$work/setpoint.txt" || fail "no setpoint reading of 42 after the command: $(cat "$work/setpoint.txt")"
echo "arm-smoke ($arch): command round trip: set 42 -> $(cat "$work/result.txt") -> reading $(grep -m1 '"value":42' "$work/setpoint.txt")"

if ((rss)); then
  idle=$(rss_kib "$gateway")
  echo "arm-smoke ($arch): RSS of the ARM gateway under qemu, demo config (8 points/s), idle: ${idle} KiB"
fi
status=0; stop_within "$gateway" 30 || status=$?
((status != 124)) || fail "fieldbridge run still running 30 s after SIGTERM (killed)"
((status == 0)) || fail "fieldbridge run exited $status after SIGTERM"
echo "arm-smoke ($arch): SIGTERM: fieldbridge run exited 0"

if ((rss)); then
  # ---- 1,000 points/s: 10 units x 100 points, polled every second ----------
  port=$(free_port)
  cat >"$work/sim1000.yaml" <<SIM
tcp: { host: 127.0.0.1, port: $port }
units:
  - ids: 1-10
    registers:
      - { table: holding, address: 0, count: 50, profile: counter, per: read }
      - { table: holding, address: 100, count: 25, type: float32, profile: sine, amplitude: 10, offset: 230, period: 10s }
      - { table: holding, address: 200, count: 25, type: int32, profile: counter, per: second, start: -100 }
SIM
  {
    printf 'gateway: { name: load, stats_interval: 0 }\nmqtt: { host: 127.0.0.1, port: %s, qos: 1 }\n' "$broker_port"
    printf 'store: { path: %s/load.db }\nbuses:\n  - name: plc\n    modbus_tcp: { host: 127.0.0.1, port: %s }\n    devices:\n' "$work" "$port"
    for unit in $(seq 1 10); do
      printf '      - name: d%s\n        unit: %s\n        poll_interval: 1s\n        points:\n' "$unit" "$unit"
      for i in $(seq 0 49); do printf '          - { name: u%s, table: holding, address: %s, type: uint16 }\n' "$i" "$i"; done
      for i in $(seq 0 24); do printf '          - { name: f%s, table: holding, address: %s, type: float32 }\n' "$i" $((100 + 2 * i)); done
      for i in $(seq 0 24); do printf '          - { name: i%s, table: holding, address: %s, type: int32 }\n' "$i" $((200 + 2 * i)); done
    done
  } >"$work/load.yaml"
  "$qemu" "$fieldbridge" simulate -c "$work/sim1000.yaml" >"$work/sim1000.log" 2>&1 & pids+=($!)
  wait_for "$work/sim1000.log" "listening on" 30
  "$qemu" "$fieldbridge" run -c "$work/load.yaml" >"$work/load.log" 2>&1 & loaded=$!; pids+=($loaded)
  wait_for "$work/load.log" "running:" 60
  sleep 5   # settle: a measurement window, not a synchronisation
  received=$(timeout 10 mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t 'fieldbridge/load/#' 2>/dev/null | wc -l || true)
  peak=0
  for _ in 1 2 3 4 5; do r=$(rss_kib "$loaded"); ((r > peak)) && peak=$r; sleep 1; done
  echo "arm-smoke ($arch): RSS at 1,000 points/s (10 units x 100 points, 1 s): ${peak} KiB peak of 5 samples; mosquitto got $((received / 10)) readings/s over 10 s"
  status=0; stop_within "$loaded" 30 || status=$?
  ((status != 124)) || fail "fieldbridge run at 1,000 points/s still running 30 s after SIGTERM (killed)"
  ((status == 0)) || fail "fieldbridge run at 1,000 points/s exited $status after SIGTERM"
  echo "arm-smoke ($arch): SIGTERM at 1,000 points/s: fieldbridge run exited 0"
fi
echo "arm-smoke ($arch): passed"
