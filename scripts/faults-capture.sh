#!/usr/bin/env bash
# Runs fault cases under a packet capture of the loopback interface and says,
# for each case's broker, whether the gateway released its readings in the
# store's order and which readings the broker acknowledged but never
# delivered (see scripts/mqtt_capture.py and docs/reliability.md). Needs
# root (tcpdump) and python3; the counts come from the environment as for
# scripts/faults.sh.
#
#   scripts/faults-capture.sh [gtest filter]   default: the QoS 2 broker and interleaved cases
#   BUILD_DIR=build  KEEP=dir (keep the capture and logs there)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
filter=${1:-'Stream/FaultsAtQos.Broker*/Qos2'}
out=${KEEP:-$(mktemp -d -t fieldbridge-capture.XXXXXX)}
mkdir -p "$out"
command -v tcpdump >/dev/null || { echo "tcpdump is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }

tcpdump -i lo -s 0 -B 32768 -U -w "$out/capture.pcap" tcp >"$out/tcpdump.log" 2>&1 &
dump=$!
trap 'kill "$dump" 2>/dev/null || true' EXIT
# tcpdump says "listening on lo" once it captures.
for _ in $(seq 100); do grep -q 'listening on' "$out/tcpdump.log" && break; sleep 0.1; done

status=0
FIELDBRIDGE_FAULTS_VERBOSE=1 "$build/tests/faults/fault_tests" --gtest_filter="$filter" >"$out/test.log" 2>&1 || status=$?
kill -INT "$dump"; wait "$dump" || true
trap - EXIT

grep -E '^FAULTS |^\[ +(OK|FAILED) +\]' "$out/test.log" || true
# "broker port B, gateway's port G, ...": G is the tap's port when the case has one.
grep -o "broker port [0-9]*, gateway's port [0-9]*" "$out/test.log" | awk '{print $3, $6}' | tr -d , |
  while read -r broker gateway; do
    echo "--- broker on port $broker (gateway connects to $gateway):"
    python3 "$root/scripts/mqtt_capture.py" "$out/capture.pcap" "$broker" "$gateway"
  done
echo "(capture and logs in $out)"
exit "$status"
