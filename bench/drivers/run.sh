#!/usr/bin/env bash
# Polling benchmark of the field drivers against `fieldbridge simulate`:
#   1. Modbus TCP on loopback: 1,000 points on 10 units, planner on vs. one
#      request per point, side by side;
#   2. Modbus TCP beside Modbus RTU over TCP (the simulator's rtu_tcp mode,
#      a serial device server without a line behind it): the same plan,
#      requests per cycle and points/s, in alternating rounds;
#   3. Modbus RTU over a socat pty pair paced at 19200 baud: the share of the
#      line's theoretical capacity that polling uses (target >= 80 %).
# Usage: bench/drivers/run.sh [BUILD_DIR] [SECONDS]   (default build-bench, 10)
# Builds with -DFIELDBRIDGE_BUILD_BENCH=ON when BUILD_DIR has no bench yet.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
build=${1:-$source_dir/build-bench}
seconds=${2:-10}

if [[ ! -x $build/bench/drivers/drivers_polling_bench || ! -x $build/gateway/fieldbridge ]]; then
  cmake -S "$source_dir" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFIELDBRIDGE_BUILD_BENCH=ON \
    -DFIELDBRIDGE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j2 --target fieldbridge drivers_polling_bench
fi
fieldbridge=$build/gateway/fieldbridge
bench=$build/bench/drivers/drivers_polling_bench

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The device map bench/drivers/polling_bench.cpp polls, on units 1-10.
units='units:
  - ids: 1-10
    registers:
      - { table: holding, address: 0, count: 50, profile: counter, per: read }
      - { table: holding, address: 100, count: 25, type: float32, profile: sine, amplitude: 10, offset: 230, period: 10s }
      - { table: holding, address: 200, count: 25, type: int32, profile: counter, per: second, start: -100 }'

source "$source_dir/scripts/lib/wait.sh"  # wait_for_line FILE TEXT [SECONDS]

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'tcp: { host: 127.0.0.1, port: %s }\n%s\n' "$port" "$units" > "$work/tcp.yaml"
"$fieldbridge" simulate -c "$work/tcp.yaml" > "$work/tcp.log" 2>&1 &
pids+=($!)
wait_for_line "$work/tcp.log" "listening on"
echo "== Modbus TCP, 127.0.0.1:$port"
"$bench" tcp 127.0.0.1 "$port" "$seconds"

box_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'rtu_tcp: { host: 127.0.0.1, port: %s }\n%s\n' "$box_port" "$units" > "$work/box.yaml"
"$fieldbridge" simulate -c "$work/box.yaml" > "$work/box.log" 2>&1 &
pids+=($!)
wait_for_line "$work/box.log" "listening on"
echo "== Modbus TCP (127.0.0.1:$port) beside RTU over TCP (127.0.0.1:$box_port), planner on"
"$bench" tcp-vs-rtu-tcp 127.0.0.1 "$port" "$box_port" "$seconds"

socat pty,raw,echo=0,link="$work/sim" pty,raw,echo=0,link="$work/gw" 2>"$work/socat.log" &
pids+=($!)
for _ in $(seq 1 500); do [[ -e $work/sim && -e $work/gw ]] && break; sleep 0.01; done
printf 'rtu: { device: %s, baud: 19200, parity: N, data_bits: 8, stop_bits: 1 }\n%s\n' "$work/sim" "$units" > "$work/rtu.yaml"
"$fieldbridge" simulate -c "$work/rtu.yaml" > "$work/rtu.log" 2>&1 &
pids+=($!)
wait_for_line "$work/rtu.log" "listening on"
echo "== Modbus RTU over a pty pair, paced at 19200 baud 8N1"
"$bench" rtu "$work/gw" 19200 "$seconds"
