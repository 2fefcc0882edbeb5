#!/usr/bin/env bash
# The long fault suite (docs/reliability.md): the same GoogleTest cases CI
# runs (tests/faults, label `faults`), with at least 20 broker kills and 100
# daemon kills, then one summary line per case: lost / duplicates /
# reordered, and how long each SIGTERM took.
#
#   scripts/faults.sh                         build if needed, run everything
#   scripts/faults.sh --gtest_filter='*Daemon*'   any GoogleTest option
#   BUILD_DIR=build-san scripts/faults.sh     another build tree
#   FIELDBRIDGE_FAULTS_BROKER_KILLS=N FIELDBRIDGE_FAULTS_DAEMON_KILLS=N
#   FIELDBRIDGE_FAULTS_INTERLEAVED=N FIELDBRIDGE_FAULTS_FAILOVERS=N
#   FIELDBRIDGE_FAULTS_SEED=N                 override the figures
#
# Needs root for the disk-full cases (a small tmpfs is mounted); without it
# they are skipped, and say so.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac

"$root/scripts/install-deps.sh"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  echo "faults: configuring $build (RelWithDebInfo)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIELDBRIDGE_WERROR=ON >/dev/null
fi
echo "faults: building fieldbridge and fault_tests in $build"
cmake --build "$build" --target fieldbridge fault_tests -j"${FAULTS_JOBS:-2}"

export FIELDBRIDGE_FAULTS_BROKER_KILLS=${FIELDBRIDGE_FAULTS_BROKER_KILLS:-20}
export FIELDBRIDGE_FAULTS_DAEMON_KILLS=${FIELDBRIDGE_FAULTS_DAEMON_KILLS:-100}
export FIELDBRIDGE_FAULTS_INTERLEAVED=${FIELDBRIDGE_FAULTS_INTERLEAVED:-40}
export FIELDBRIDGE_FAULTS_FAILOVERS=${FIELDBRIDGE_FAULTS_FAILOVERS:-20}
report=$(mktemp -t fieldbridge-faults.XXXXXX)
output=$(mktemp -t fieldbridge-faults-output.XXXXXX)
trap 'rm -f "$report"' EXIT
export FIELDBRIDGE_FAULTS_REPORT="$report"

echo "faults: broker kills ${FIELDBRIDGE_FAULTS_BROKER_KILLS}, daemon kills ${FIELDBRIDGE_FAULTS_DAEMON_KILLS}," \
     "interleaved events ${FIELDBRIDGE_FAULTS_INTERLEAVED} per QoS, broker failovers ${FIELDBRIDGE_FAULTS_FAILOVERS};" \
     "full output in $output"
status=0
"$build/tests/faults/fault_tests" "$@" >"$output" 2>&1 || status=$?

echo
echo "commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . 2>/dev/null || echo ' (modified)')"
fmt='%-24s %8s %8s %6s %6s %9s %8s %10s %8s %9s %9s %6s %6s %7s\n'
printf "$fmt" case polled received lost "(near)" in_flight b_lost duplicates "(broker)" reordered "(sub)" b_kill d_kill sigterm
while read -r _ name rest; do
  declare -A f=()
  for kv in $rest; do
    [[ "$kv" == *=* ]] || break
    f[${kv%%=*}]=${kv#*=}
  done
  printf "$fmt" "$name" "${f[polled]}" "${f[received]}" "${f[lost]}" "${f[lost_near_stop]}" "${f[in_flight]}" \
    "${f[broker_lost]:--}" "${f[duplicates]}" \
    "${f[broker_redeliveries]}" "${f[reordered]}" "${f[subscriber_reordered]:--}" "${f[broker_kills]}" \
    "${f[daemon_kills]}" "${f[sigterms]}"
  unset f
done < <(grep '^FAULTS ' "$report" || true)
hot=$(grep -o 'hot_path=[a-z]*' "$report" | head -n 1 || true)
echo "(${hot:-hot_path=?}; in_flight: the read in flight at a daemon kill or stop, excused;"
echo " (near): of the lost, among the 3 reads before it: maybe still queued for the store;"
echo " (broker): duplicates a restarted mosquitto sent again under the same message id;"
echo " b_lost: missing readings the broker had acknowledged (PUBACK, or PUBREC and the gateway's PUBREL);"
echo " reordered: in the stream cases the gateway's release order, (sub) the subscriber's)"
echo
echo "SIGTERM:"
grep '^FAULTS-SIGTERM ' "$output" | sed 's/^FAULTS-SIGTERM /  /' || echo "  (no SIGTERM case ran)"
grep -E '^\[  (FAILED|SKIPPED) +\] [A-Z]' "$output" | grep -v ' ms)$' | sort -u || true
grep -E '^\[  PASSED  \]|tests? (ran|passed)' "$output" | tail -n 2 || true
exit "$status"
