#!/usr/bin/env bash
# The end-to-end benchmark: `fieldbridge simulate` (10 Modbus TCP units of
# 100 holding-register counters, each unit its own map) → `fieldbridge run`
# (two buses of 5 devices, 100 points each, so 1,000 readings per poll
# round) → a local mosquitto → e2e_subscriber (libmosquitto), all on free
# loopback ports. The rate is set by the poll interval only (1s, 100ms,
# 20ms, 10ms: 1k, 10k, 50k, 100k readings/s), so the configuration, and
# with it what the gateway may hold, is the same at every rate.
#
# Per run it prints received/expected, lost (value jumps), gateway CPU µs
# per reading and % of one core (/proc/PID/stat), RSS steady (median of
# VmRSS sampled every 100 ms over the window) and peak (VmHWM), the
# median RssAnon (the private part: heap, stacks; RSS less mapped files), and
# poll-to-subscriber latency p50/p99 (json only: the subscriber compares
# "ts" with its clock; ms resolution). Then the backlog case: the broker
# away while 1,000,000 readings queue at 100k/s, then the broker back, 9
# of the 10 units silenced (simulator faults, SIGHUP) so 10k/s stay live,
# and the drain measured: backlog readings/s, RSS, live readings' latency.
#
# usage: bench/e2e/run.sh [--quick] [BUILD_DIR...]
#   BUILD_DIR (default build/) is configured with -DFIELDBRIDGE_BUILD_BENCH=ON
#   and has gateway/fieldbridge and bench/e2e/e2e_subscriber built; give
#   two to compare builds side by side in one run (the column "build"; the
#   others need only gateway/fieldbridge: the first build's simulator and
#   the first e2e_subscriber found serve all). SUBSCRIBER_BUILD=DIR
#   takes the subscriber from a build not measured.
# environment: WINDOW (s, default 8; --quick 4), WARMUP (2), INFLIGHT
#   (mqtt.max_inflight, default: the gateway's), BACKLOG (1000000;
#   --quick 200000), DRAINS ("fifo live_first"; --quick "fifo"; "" skips the
#   backlog case), RATES, QOSES, PAYLOADS (lists, to run a part), LAYOUTS
#   (mqtt.layout: "point", the default, or "point device" side by side; a
#   device message is JSON whatever PAYLOADS says, so `device` runs once per
#   rate with payload json: the subscriber counts each of its values as a
#   reading, and "messages/s" shows what reached the broker), PERF (a
#   directory: each steady run's window is recorded there with `perf record
#   --call-graph dwarf`, one file per run; the CPU figures then include
#   perf's own cost), MOSQUITTO_NODELAY=1 (the broker with Nagle's
#   algorithm off towards the subscriber: scripts/lib/mosquitto.sh),
#   FULLS (the full-store case's store.on_full policies, default
#   "drop_oldest"; "" skips it), FULL_RATE (readings/s offered, default
#   50000: more than QoS 1 delivers here, so the store fills), FULL_SIZE
#   (store.max_size, default 32MiB), KEEP=1 (leave the work directory, with
#   every run's configuration and gateway log, for a look afterwards)
# The full-store case: QoS 1, json, FULL_RATE readings/s into a store of
# FULL_SIZE, so the backlog grows until the store is full; the subscriber's
# readings/s and the gateway's CPU per delivered reading before the first
# "store full" in the gateway's log and, after 1 s, for a window after it.
# needs: mosquitto, and a build with libmosquitto-dev (bench-only).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=0
builds=()
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,48p' "$0"; exit 0 ;;
    *) builds+=("$(cd "$arg" && pwd)") ;;
  esac
done
[[ ${#builds[@]} -gt 0 ]] || builds=("$root/build")
subscriber=
for b in "${builds[@]}"; do
  [[ -x $b/gateway/fieldbridge ]] || { echo "missing $b/gateway/fieldbridge" >&2; exit 2; }
  [[ -z $subscriber && -x $b/bench/e2e/e2e_subscriber ]] && subscriber=$b/bench/e2e/e2e_subscriber
done
[[ -n ${SUBSCRIBER_BUILD:-} ]] && subscriber=$SUBSCRIBER_BUILD/bench/e2e/e2e_subscriber
[[ -x $subscriber ]] || { echo "no build has bench/e2e/e2e_subscriber: build one with -DFIELDBRIDGE_BUILD_BENCH=ON" >&2; exit 2; }

if ((quick)); then
  window=${WINDOW:-4}; rates=${RATES:-"10000 50000"}; qoses=${QOSES:-"0 1"}; payloads=${PAYLOADS:-"json"}
  backlog=${BACKLOG:-200000}; drains=${DRAINS-"fifo"}; fulls=${FULLS-""}
else
  window=${WINDOW:-8}; rates=${RATES:-"1000 10000 50000 100000"}; qoses=${QOSES:-"0 1"}; payloads=${PAYLOADS:-"value json"}
  backlog=${BACKLOG:-1000000}; drains=${DRAINS-"fifo live_first"}; fulls=${FULLS-"drop_oldest"}
fi
full_rate=${FULL_RATE:-50000}
full_size=${FULL_SIZE:-32MiB}
warmup=${WARMUP:-2}
layouts=${LAYOUTS:-point}
inflight=${INFLIGHT:-}
units=10
points=100

# free_port, start_mosquitto
source "$root/scripts/lib/ports.sh"
source "$root/scripts/lib/mosquitto.sh"

work=$(mktemp -d -t fieldbridge-e2e.XXXXXX)
hot=$(mktemp -d -p /dev/shm fieldbridge-e2e.XXXXXX)  # the hot tier on tmpfs, as by default
pids=()
# Stops one process this script started, by its pid: SIGTERM, then SIGKILL
# after 15 s (returns 1 then, so a hung shutdown shows in the table).
stop_pid() {
  local pid=$1 state
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 150); do
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    [[ -z $state || $state == Z ]] && { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1  # waiting for the process to exit
  done
  # KEEP: where it hung, for the kept logs (gdb, if there is one).
  [[ -n ${KEEP:-} ]] && command -v gdb >/dev/null &&
    gdb -batch -p "$pid" -ex "thread apply all bt" >"$work/hung-$pid.txt" 2>&1
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}
cleanup() {
  for pid in "${pids[@]}"; do stop_pid "$pid" || true; done
  if [[ -n ${KEEP:-} ]]; then echo "logs kept in $work" >&2; else rm -rf "$work" "$hot"; fi
}
trap cleanup EXIT

# Waits until `file` contains `text`, for at most 20 s.
source "$root/scripts/lib/wait.sh"  # wait_for_line FILE TEXT [SECONDS]

# The simulator: units 1..10, each with its own 100 counters (a shared map
# would count every unit's reads into the same registers).
sim_port=$(free_port)
write_sim() {  # write_sim FILE [SILENT_UNITS...]
  local file=$1; shift
  {
    echo "tcp: { host: 127.0.0.1, port: $sim_port }"
    echo "units:"
    for u in $(seq $units); do
      echo "  - id: $u"
      echo "    registers:"
      echo "      - { table: holding, address: 0, count: $points, profile: counter, per: read }"
    done
    if (($# > 0)); then
      echo "faults:"
      for u in "$@"; do echo "  - { unit: $u, no_answer: true }"; done
    fi
  } >"$file"
}
write_sim "$work/sim.yaml"
"${builds[0]}/gateway/fieldbridge" simulate -c "$work/sim.yaml" >"$work/simulate.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
wait_for_line "$work/simulate.log" "listening on" 20

# write_gateway FILE BROKER_PORT QOS PAYLOAD POLL STORE [DRAIN [FIRST_BUS_UNITS [LAYOUT]]]
# Units 1..FIRST_BUS_UNITS (default half) on bus0, the rest on bus1.
store_extra=""  # more store keys, ", key: value" each (the full-store case)
write_gateway() {
  local file=$1 broker=$2 qos=$3 payload=$4 poll=$5 store=$6 drain=${7:-fifo} split=${8:-$((units / 2))}
  local layout=${9:-point}
  {
    echo "gateway: { name: e2e, stats_interval: 60s }"
    echo "mqtt:"
    echo "  host: 127.0.0.1"
    echo "  port: $broker"
    echo "  qos: $qos"
    echo "  payload: $payload"
    echo "  layout: $layout"
    echo "  reconnect: { min: 100ms, max: 500ms }"
    [[ -n $inflight ]] && echo "  max_inflight: $inflight"
    echo "store: { path: $store, hot_path: $hot, drain: $drain$store_extra }"
    echo "buses:"
    for bus in 0 1; do
      echo "  - name: bus$bus"
      echo "    modbus_tcp: { host: 127.0.0.1, port: $sim_port }"
      echo "    devices:"
      local first=1 last=$split
      ((bus == 1)) && first=$((split + 1)) && last=$units
      for u in $(seq "$first" "$last"); do
        echo "      - name: u$u"
        echo "        unit: $u"
        echo "        poll_interval: $poll"
        echo "        points:"
        for p in $(seq 0 $((points - 1))); do
          echo "          - { name: r$p, table: holding, address: $p }"
        done
      done
    done
  } >"$file"
}

poll_for_rate() {  # readings/s → poll interval for 1,000 readings per round
  case $1 in
    1000) echo 1s ;; 10000) echo 100ms ;; 50000) echo 20ms ;; 100000) echo 10ms ;;
    *) echo "$((1000 * units * points / $1))ms" ;;
  esac
}

start_broker() {  # start_broker PORT → $broker_pid, stopped at exit
  start_mosquitto "$work" "$1"
  pids+=("$broker_pid")
}

field() {  # field LINE KEY
  sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"
}
label() {  # a short name for a build dir: its git commit, else its name
  local b=$1 src
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$b/CMakeCache.txt" 2>/dev/null)
  if [[ -n $src && $(git -C "$src" rev-parse --show-toplevel 2>/dev/null) == "$src" ]]; then
    echo "$(basename "$b")@$(git -C "$src" rev-parse --short HEAD)"
  else
    basename "$b"
  fi
}

results=()   # "build layout qos payload rate keeps(0/1)" for the summary
run_steady() {  # run_steady BUILD QOS PAYLOAD RATE LAYOUT
  local b=$1 qos=$2 payload=$3 rate=$4 layout=$5 port gw line dir
  dir=$(mktemp -d -p "$work" run.XXXX)
  port=$(free_port)
  start_broker "$port"
  local broker=$broker_pid
  write_gateway "$dir/gw.yaml" "$port" "$qos" "$payload" "$(poll_for_rate "$rate")" "$dir/queue.db" fifo \
    $((units / 2)) "$layout"
  "$b/gateway/fieldbridge" run -c "$dir/gw.yaml" >"$dir/gw.log" 2>&1 &
  gw=$!
  pids+=("$gw")
  [[ -n ${PERF:-} ]] && record_profile "$gw" "$PERF/$(label "$b")-$layout-q$qos-$payload-$rate.data"
  line=$("$subscriber" --port "$port" --prefix fieldbridge/e2e --qos "$qos" --pid "$gw" \
    --warmup "$warmup" --window "$window" --rate "$rate" | tail -1)
  local hung=
  stop_pid "$gw" || hung=" (hung at SIGTERM: killed after 15 s)"
  stop_pid "$broker" || true
  local received expected lost cpu core rss hwm anon p50 p99 ratio keeps messages seconds per_s
  received=$(field "$line" received); expected=$(field "$line" expected); lost=$(field "$line" lost)
  messages=$(field "$line" messages); seconds=$(field "$line" seconds)
  cpu=$(field "$line" cpu_us_per_reading); core=$(field "$line" core_pct)
  rss=$(field "$line" rss_kb); hwm=$(field "$line" hwm_kb); anon=$(field "$line" anon_kb); p50=$(field "$line" p50_ms); p99=$(field "$line" p99_ms)
  if [[ -z $received ]]; then
    echo "| $(label "$b") | $layout | $qos | $payload | $rate | failed: ${line:-no output} | | | | | | | | |"
    results+=("$b $layout $qos $payload $rate 0")
    return
  fi
  ratio=$(awk -v r="$received" -v e="$expected" 'BEGIN { printf "%.1f", (e > 0 ? 100 * r / e : 0) }')
  # Keeps up: ≥ 99 % of the nominal rate arrives (less one poll round: the
  # window cuts rounds of 1,000), none lost, and (json) p99 under 1 s.
  keeps=$(awk -v r="$received" -v e="$expected" -v n=$((units * points)) -v l="$lost" -v p="$p99" \
    'BEGIN { print ((r >= 0.99 * e - n && l == 0 && p < 1000) ? 1 : 0) }')
  results+=("$b $layout $qos $payload $rate $keeps")
  per_s=$(awk -v m="$messages" -v s="$seconds" 'BEGIN { printf "%.0f", (s > 0 ? m / s : 0) }')
  [[ $p50 == -1 ]] && p50=— && p99=—
  printf '| %s | %s | %s | %s | %s | %s / %s (%s %%) | %s | %s | %s | %s | %s / %s | %s | %s / %s |\n' \
    "$(label "$b")$hung" "$layout" "$qos" "$payload" "$rate" "$received" "$expected" "$ratio" "$lost" "$per_s" \
    "$cpu" "$core" \
    "$(mb "$rss")" "$(mb "$hwm")" "$(mb "$anon")" "$p50" "$p99"
}

run_backlog() {  # run_backlog BUILD DRAIN
  local b=$1 drain=$2 port gw dir fill_s live_after line
  dir=$(mktemp -d -p "$work" backlog.XXXX)
  port=$(free_port)
  write_sim "$work/sim.yaml"
  kill -HUP "$sim_pid"
  write_gateway "$dir/gw.yaml" "$port" 1 json 10ms "$dir/queue.db" "$drain" 1
  "$b/gateway/fieldbridge" run -c "$dir/gw.yaml" >"$dir/gw.log" 2>&1 &
  gw=$!
  pids+=("$gw")
  wait_for_line "$dir/gw.log" "running" 20
  # Fill: 100k readings/s with nothing listening on the broker port.
  fill_s=$(awk -v n="$backlog" 'BEGIN { printf "%.1f", n / 100000 }')
  sleep "$fill_s"  # the fill's length is the measurement, not a synchronisation
  local fill
  fill=$(sample_rss "$gw")
  # Units 2..10 (bus1) silenced, unit 1 (bus0) goes on: 10k readings/s live.
  write_sim "$work/sim.yaml" $(seq 2 $units)
  kill -HUP "$sim_pid"
  start_broker "$port"
  live_after=$(date +%s%3N)
  local broker=$broker_pid
  line=$("$subscriber" --port "$port" --prefix fieldbridge/e2e --qos 1 --pid "$gw" --drain \
    --live-after "$live_after" --quiet 3 --window 300 | tail -1)
  local hung=
  stop_pid "$gw" || hung=" (hung at SIGTERM: killed after 15 s)"
  stop_pid "$broker" || true
  write_sim "$work/sim.yaml"
  kill -HUP "$sim_pid"
  local got secs rate live p50 p99 rss rmax cpu
  got=$(field "$line" backlog); secs=$(field "$line" seconds); live=$(field "$line" live)
  p50=$(field "$line" p50_ms); p99=$(field "$line" p99_ms); rss=$(field "$line" rss_kb); rmax=$(field "$line" rss_max_kb)
  cpu=$(field "$line" cpu_us_per_reading)
  rate=$(awk -v n="$got" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s / %s |\n' \
    "$(label "$b")$hung" "$drain" "$fill" "$got" "$secs" "$rate" "$cpu" \
    "$(mb "$rss")" "$(mb "$rmax")" \
    "$live" "$p50" "$p99"
}

run_full() {  # run_full BUILD ON_FULL
  local b=$1 on_full=$2 port gw dir line broker
  dir=$(mktemp -d -p "$work" full.XXXX)
  port=$(free_port)
  start_broker "$port"
  broker=$broker_pid
  store_extra=", max_size: $full_size, on_full: $on_full"
  write_gateway "$dir/gw.yaml" "$port" 1 json "$(poll_for_rate "$full_rate")" "$dir/queue.db"
  store_extra=""
  "$b/gateway/fieldbridge" run -c "$dir/gw.yaml" >"$dir/gw.log" 2>&1 &
  gw=$!
  pids+=("$gw")
  line=$("$subscriber" --port "$port" --prefix fieldbridge/e2e --qos 1 --pid "$gw" \
    --warmup "$warmup" --window "$window" --full-log "$dir/gw.log" | tail -1)
  local hung=
  stop_pid "$gw" || hung=" (hung at SIGTERM: killed after 15 s)"
  stop_pid "$broker" || true
  local before after change
  before=$(field "$line" before_per_s); after=$(field "$line" after_per_s)
  if [[ -z $after ]]; then
    echo "| $(label "$b") | $on_full | failed: ${line:-no output} | | | | | |"
    return
  fi
  change=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%+.1f", (b > 0 ? 100 * (a - b) / b : 0) }')
  printf '| %s | %s | %s | %s | %s / %s | %s | %s / %s | %s %% | %s / %s |\n' \
    "$(label "$b")$hung" "$on_full" "$(field "$line" fill_s)" "$before" \
    "$(field "$line" before_cpu_us_per_reading)" "$(field "$line" before_core_pct)" "$after" \
    "$(field "$line" after_cpu_us_per_reading)" "$(field "$line" after_core_pct)" "$change" \
    "$(mb "$(field "$line" rss_kb)")" "$(mb "$(field "$line" rss_max_kb)")"
}

record_profile() {  # record_profile PID FILE: perf over the measuring window, in the background
  mkdir -p "$(dirname "$2")"
  (sleep "$warmup"; exec perf record -q --call-graph dwarf,16384 -F 1000 -p "$1" -o "$2" -- sleep "$window") \
    >/dev/null 2>&1 &
}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
sample_rss() {  # VmRSS of PID in MB
  awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

echo "fieldbridge end to end: $units units × $points points on 2 Modbus TCP buses → mosquitto → libmosquitto subscriber"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg), window ${window}s after ${warmup}s warm-up$([[ -n $inflight ]] && echo ", max_inflight $inflight")"
echo
echo "| build | layout | QoS | payload | readings/s | received / expected | lost | messages/s | CPU µs/reading | % core | RSS MB steady / peak | anon MB | latency ms p50 / p99 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
# A device message is JSON whatever mqtt.payload says: one run per rate.
payloads_of() { [[ $1 == device ]] && echo json || echo "$payloads"; }
for qos in $qoses; do
  for layout in $layouts; do
    for payload in $(payloads_of "$layout"); do
      for rate in $rates; do
        for b in "${builds[@]}"; do run_steady "$b" "$qos" "$payload" "$rate" "$layout"; done
      done
    done
  done
done
echo
echo "Highest rate that keeps up (≥ 99 % of the nominal rate received, less one poll round; none lost; json p99 < 1 s):"
echo
for b in "${builds[@]}"; do
  for layout in $layouts; do
    for qos in $qoses; do
      for payload in $(payloads_of "$layout"); do
        best=none
        for rate in $rates; do
          for r in "${results[@]}"; do
            [[ $r == "$b $layout $qos $payload $rate 1" ]] && best=$rate
          done
        done
        echo "- $(label "$b"), layout $layout, QoS $qos, $payload: $best"
      done
    done
  done
done
if [[ -n $fulls ]]; then
  echo
  echo "A full store: $full_rate readings/s offered at QoS 1 (json) into a store of $full_size, delivered per second before and after it filled:"
  echo
  echo "| build | on_full | s to fill | before: readings/s | CPU µs/reading / % core | after: readings/s | CPU µs/reading / % core | change | RSS MB after: median / max |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for on_full in $fulls; do
    for b in "${builds[@]}"; do run_full "$b" "$on_full"; done
  done
fi
[[ -z $drains ]] && exit 0
echo
echo "Backlog: $backlog readings queued at 100k/s (QoS 1, json) with the broker away, then the broker back with 10 % of the units still answering:"
echo
echo "| build | drain | RSS MB after fill | backlog received | drain s | backlog readings/s | CPU µs/reading | RSS MB drain median / max | live received | live latency ms p50 / p99 |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for drain in $drains; do
  for b in "${builds[@]}"; do run_backlog "$b" "$drain"; done
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
