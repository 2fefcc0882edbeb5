#!/usr/bin/env bash
# CPU per Modbus TCP request against `fieldbridge simulate` (5 units of 100
# holding registers, every 100 ms, as one bus of bench/e2e polls them):
# libmodbus, a hand-made exchange (one send, one recv) and drivers::modbus_bus,
# in alternating rounds so the machine's load hits all three alike.
# Usage: bench/drivers/request_cost.sh [BUILD_DIR] [SECONDS] [ROUNDS]
#   (default build-bench, 10, 3); BUILD_DIR is configured with
#   -DFIELDBRIDGE_BUILD_BENCH=ON.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
build=${1:-$source_dir/build-bench}
seconds=${2:-10}
rounds=${3:-3}
cmake --build "$build" -j2 --target fieldbridge drivers_request_cost >/dev/null
source "$source_dir/scripts/lib/ports.sh"
source "$source_dir/scripts/lib/wait.sh"  # wait_for_line FILE TEXT [SECONDS]

work=$(mktemp -d)
sim_pid=
cleanup() {
  [[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
cat >"$work/sim.yaml" <<YAML
tcp: { host: 127.0.0.1, port: $port }
units:
  - ids: 1-5
    registers:
      - { table: holding, address: 0, count: 100, profile: counter, per: read }
YAML
"$build/gateway/fieldbridge" simulate -c "$work/sim.yaml" >"$work/simulate.log" 2>&1 &
sim_pid=$!
wait_for_line "$work/simulate.log" "listening on"

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), ${seconds} s per run"
for _ in $(seq "$rounds"); do
  for mode in libmodbus raw bus; do "$build/bench/drivers/drivers_request_cost" "$mode" "$port" "$seconds"; done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
