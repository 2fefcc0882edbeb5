#!/usr/bin/env bash
# The live interoperability matrix (issue 10): fieldbridge against brokers
# that no one here wrote, each installed from Debian or npm and started by
# this script on free loopback ports, with its own config, data and log
# directories in one temp dir:
#   mosquitto (3.1.1 and 5), ejabberd's mod_mqtt (3.1.1 and 5, with a user
#   and password), aedes (3.1.1, npm), RabbitMQ's MQTT plugin (3.1.1).
# Against each: `fieldbridge check --connect`, then one short gateway stream
# per QoS (fieldbridge simulate -> fieldbridge run -> the broker ->
# mosquitto_sub) counting a sequence point: received / expected and
# duplicates. Prints one matrix line per broker and protocol, and the
# Markdown table for docs/mqtt.md at the end.
#
#   scripts/interop.sh                  everything (installs what is missing)
#   scripts/interop.sh --quick          mosquitto and aedes only (no Erlang)
#   scripts/interop.sh mosquitto rabbitmq   only these (mosquitto ejabberd aedes rabbitmq)
#   INTEROP_STREAM_SECONDS=N            length of each stream (default 4)
#   FIELDBRIDGE=path/to/fieldbridge     use this binary instead of building build/
#
# It stops everything it started by pid and removes its temp dir; it never
# starts or stops a system service (Debian's packages would start one on
# install where policy-rc.d allows; ours are separate instances). Not run
# in CI: installing Erlang costs minutes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
stream_seconds=${INTEROP_STREAM_SECONDS:-4}
cache=${FIELDBRIDGE_INTEROP_CACHE:-$HOME/.cache/fieldbridge-interop}
aedes_version=1.2.0

brokers=()
for arg in "$@"; do
  case $arg in
    --quick) brokers=(mosquitto aedes) ;;
    mosquitto|ejabberd|aedes|rabbitmq) brokers+=("$arg") ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "interop: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
[[ ${#brokers[@]} -gt 0 ]] || brokers=(mosquitto ejabberd aedes rabbitmq)
wants() { local b; for b in "${brokers[@]}"; do [[ $b == "$1" ]] && return 0; done; return 1; }

started=$(date +%s)
log() { echo "interop [$(( $(date +%s) - started ))s]: $*"; }

# --- packages -----------------------------------------------------------------
apt_packages=(mosquitto mosquitto-clients)
wants ejabberd && apt_packages+=(ejabberd)
wants rabbitmq && apt_packages+=(rabbitmq-server)
wants aedes && apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node and npm may come from another package source than Debian's (nodesource's
# nodejs ships npm): only ask apt for them when the commands are missing.
if [[ ${#missing[@]} -gt 0 ]]; then
  filtered=()
  for p in "${missing[@]}"; do
    case $p in
      nodejs) command -v node >/dev/null || filtered+=("$p") ;;
      npm) command -v npm >/dev/null || filtered+=("$p") ;;
      *) filtered+=("$p") ;;
    esac
  done
  missing=("${filtered[@]}")
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]} (apt-get)"
  # The packages' own services must not start: policy-rc.d says no for the
  # time of the install (restored afterwards if one was there).
  policy=/usr/sbin/policy-rc.d
  saved_policy=""
  if [[ -e $policy ]]; then saved_policy=$(mktemp); cp -p "$policy" "$saved_policy"; fi
  printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"
  restore_policy() {
    if [[ -n $saved_policy ]]; then mv "$saved_policy" "$policy"; else rm -f "$policy"; fi
  }
  apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    restore_policy
    echo "interop: apt-get install ${missing[*]} failed" >&2
    exit 1
  fi
  restore_policy
fi
if wants aedes && [[ ! -f $cache/aedes/node_modules/aedes/package.json ]]; then
  log "installing aedes@$aedes_version (npm) into $cache/aedes"
  mkdir -p "$cache/aedes"
  (cd "$cache/aedes" && npm install --no-audit --no-fund --silent "aedes@$aedes_version" >/dev/null)
fi

# --- fieldbridge ----------------------------------------------------------------
fieldbridge=${FIELDBRIDGE:-}
if [[ -z $fieldbridge ]]; then
  log "building fieldbridge (build/)"
  cmake -S "$root" -B "$root/build" -G Ninja -DFIELDBRIDGE_WERROR=ON >/dev/null
  cmake --build "$root/build" --target fieldbridge >/dev/null
  fieldbridge=$root/build/gateway/fieldbridge
fi

# --- processes and clean-up -------------------------------------------------------
work=$(mktemp -d -t fieldbridge-interop.XXXXXX)
chmod 755 "$work"
pids=()
stop_pid() {  # TERM, then KILL after 10 s
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
extra_cleanup=()
cleanup() {
  local c pid
  for c in "${extra_cleanup[@]}"; do eval "$c" || true; done
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT

# free_port
source "$root/scripts/lib/ports.sh"
wait_port() {  # port seconds
  local deadline=$(( $(date +%s) + $2 ))
  while (( $(date +%s) < deadline )); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
source "$root/scripts/lib/wait.sh"  # wait_for_line FILE TEXT [SECONDS]

# --- the field side: one simulated device with a counter per QoS --------------
device_port=$(free_port)
cat >"$work/sim.yaml" <<EOF
tcp: { host: 127.0.0.1, port: $device_port }
units:
  - id: 1
    registers:
      - { table: input, address: 0, type: uint16, profile: counter, per: read }
EOF
"$fieldbridge" simulate -c "$work/sim.yaml" >"$work/simulate.log" 2>&1 &
pids+=($!)
wait_for_line "$work/simulate.log" "listening on" 10

# gateway_config FILE PORT PROTOCOL QOS PREFIX [USER PASSWORD]
gateway_config() {
  local file=$1 port=$2 protocol=$3 qos=$4 prefix=$5 user=${6:-} password=${7:-}
  cat >"$file" <<EOF
gateway:
  name: interop
  log_level: info
  stats_interval: 0
mqtt:
  host: 127.0.0.1
  port: $port
  protocol: $protocol
  client_id: fb-interop-$RANDOM
  username: "$user"
  password: "$password"
  keepalive: 10s
  clean_start: true
  topic_prefix: $prefix
  qos: $qos
  payload: value
  reconnect: { min: 200ms, max: 2s }
store:
  path: $file.db
  flush_interval: 1s
buses:
  - name: sim
    modbus_tcp: { host: 127.0.0.1, port: $device_port }
    timeout: 500ms
    devices:
      - name: dev
        unit: 1
        poll_interval: 50ms
        points:
          - { name: seq, table: input, address: 0, type: uint16 }
EOF
}

results=()  # "broker|protocol|version|check|qos0|qos1|qos2"

# run_cell NAME PORT PROTOCOL VERSION [USER PASSWORD] -> appends to results
run_cell() {
  local name=$1 port=$2 protocol=$3 version=$4 user=${5:-} password=${6:-}
  local cell_dir="$work/$name-$protocol" check qos q cells=()
  mkdir -p "$cell_dir"
  gateway_config "$cell_dir/check.yaml" "$port" "$protocol" 1 "fb/interop/check" "$user" "$password"
  if timeout 60 "$fieldbridge" check -c "$cell_dir/check.yaml" --connect >"$cell_dir/check.log" 2>&1; then
    check=ok
  else
    check="FAIL: $(grep -v '^\s*$' "$cell_dir/check.log" | tail -n 1 | tr '|' '/' | cut -c1-100)"
  fi
  log "$name $protocol: check --connect: $check"
  sed 's/^/    /' "$cell_dir/check.log"
  for q in 0 1 2; do
    local prefix="fb/interop/$name/q$q"
    local sub_args=(-h 127.0.0.1 -p "$port" -V mqttv311 -q 2 -t "$prefix/dev/seq")
    [[ -n $user ]] && sub_args+=(-u "$user" -P "$password")
    gateway_config "$cell_dir/q$q.yaml" "$port" "$protocol" "$q" "$prefix" "$user" "$password"
    mosquitto_sub "${sub_args[@]}" -i "fb-interop-sub-$RANDOM" >"$cell_dir/q$q.sub" 2>"$cell_dir/q$q.sub.err" &
    local sub=$!
    pids+=($sub)
    sleep 0.5  # let the subscription reach the broker (the subscriber has no "subscribed" output)
    "$fieldbridge" run -c "$cell_dir/q$q.yaml" >"$cell_dir/q$q.log" 2>&1 &
    local gw=$!
    pids+=($gw)
    sleep "$stream_seconds"
    stop_pid "$gw"
    sleep 1  # the last messages on their way to the subscriber
    stop_pid "$sub"
    # received / expected (the counter's range seen), duplicates
    local summary
    summary=$(awk '/^[0-9]+$/ { n++; if (seen[$1]++) d++; if (min == "" || $1 < min) min = $1; if ($1 > max) max = $1 }
      END { if (n == 0) { print "0/?"; exit } u = 0; for (k in seen) u++
            printf "%d/%d", u, max - min + 1; if (d) printf " dup %d", d; if (u < max - min + 1) printf " gaps %d", max - min + 1 - u }' \
      "$cell_dir/q$q.sub")
    local warn
    warn=$(grep -E -i 'warn|error|refused|disconnected' "$cell_dir/q$q.log" | head -n 3 | cut -c1-160 || true)
    log "$name $protocol QoS $q: $summary"
    [[ -n $warn ]] && sed 's/^/    /' <<<"$warn"
    [[ -s $cell_dir/q$q.sub.err ]] && sed 's/^/    subscriber: /' "$cell_dir/q$q.sub.err"
    cells+=("$summary")
  done
  results+=("$name|$protocol|$version|$check|${cells[0]}|${cells[1]}|${cells[2]}")
}

# --- mosquitto ------------------------------------------------------------------
if wants mosquitto; then
  # Debian's /etc/mosquitto/mosquitto.conf: persistence to /var/lib,
  # log to /var/log, listener on every interface by default: none of it here.
  port=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\n' "$port" \
    >"$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  pids+=($!)
  wait_port "$port" 10 || { cat "$work/mosquitto.log" >&2; exit 1; }
  version=$(dpkg-query -W -f='${Version}' mosquitto)
  run_cell mosquitto "$port" 3.1.1 "$version"
  run_cell mosquitto "$port" 5 "$version"
fi

# --- aedes ----------------------------------------------------------------------
if wants aedes; then
  port=$(free_port)
  cat >"$cache/aedes/interop-launcher.mjs" <<'EOF'
// aedes on 127.0.0.1:<port> for scripts/interop.sh; stops on SIGTERM.
import { Aedes } from 'aedes';
import { createServer } from 'node:net';
const port = Number(process.argv[2]);
const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
server.listen(port, '127.0.0.1', () => console.log(`aedes listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => { server.close(); broker.close(() => process.exit(0)); });
EOF
  node "$cache/aedes/interop-launcher.mjs" "$port" >"$work/aedes.log" 2>&1 &
  pids+=($!)
  wait_port "$port" 20 || { cat "$work/aedes.log" >&2; exit 1; }
  version="aedes $(node -p "require('$cache/aedes/node_modules/aedes/package.json').version"), node $(node --version)"
  run_cell aedes "$port" 3.1.1 "$version"
fi

# --- ejabberd (mod_mqtt) ------------------------------------------------------------
if wants ejabberd; then
  # Debian's /etc/ejabberd/ejabberd.yml listens on "::" for XMPP, HTTP,
  # STUN and MQTT (1883); ejabberdctl runs everything as user ejabberd. Ours:
  # one host, mod_mqtt alone on 127.0.0.1, Erlang distribution on a loopback
  # port without epmd (ERL_DIST_PORT), spool and logs in the temp dir.
  # (Not INET_DIST_INTERFACE: ejabberdctl evaluates it with an erl that
  # inherits ERL_DIST_PORT and takes the port: eaddrinuse.)
  ej="$work/ejabberd"
  mkdir -p "$ej/spool" "$ej/logs"
  port=$(free_port)
  dist_port=$(free_port)
  node_name="fbinterop$RANDOM@localhost"
  cat >"$ej/ejabberd.yml" <<EOF
hosts:
  - localhost
loglevel: info
certfiles: []
acme:
  auto: false
auth_method: internal
listen:
  -
    port: $port
    ip: "127.0.0.1"
    module: mod_mqtt
    backlog: 100
acl:
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: all
modules:
  mod_mqtt:
    access_publish:
      "#":
        - allow
    access_subscribe:
      "#":
        - allow
EOF
  cat >"$ej/ejabberdctl.cfg" <<EOF
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {127,0,0,1}"
ERL_DIST_PORT=$dist_port
ERLANG_NODE=$node_name
EJABBERD_PID_PATH=$ej/ejabberd.pid
CONTRIB_MODULES_CONF_DIR=$ej/modules.d
EOF
  cp /etc/ejabberd/inetrc "$ej/inetrc"
  chown -R ejabberd:ejabberd "$ej"
  ejctl=(ejabberdctl --config-dir "$ej" --config "$ej/ejabberd.yml" --ctl-config "$ej/ejabberdctl.cfg"
         --logs "$ej/logs" --spool "$ej/spool")
  "${ejctl[@]}" foreground >"$work/ejabberd.out" 2>&1 &
  pids+=($!)
  extra_cleanup+=("timeout 30 ${ejctl[*]} stop >/dev/null 2>&1")
  if wait_port "$port" 60 && timeout 60 "${ejctl[@]}" started >/dev/null 2>&1; then
    user=fieldbridge password=interop-secret
    "${ejctl[@]}" register "$user" localhost "$password" >/dev/null
    version=$(dpkg-query -W -f='${Version}' ejabberd)
    # mod_mqtt takes user@host or a bare user on a single-host server.
    run_cell ejabberd "$port" 3.1.1 "$version" "$user@localhost" "$password"
    run_cell ejabberd "$port" 5 "$version" "$user@localhost" "$password"
    timeout 60 "${ejctl[@]}" stop >/dev/null 2>&1 || true
  else
    log "ejabberd did not come up:"
    tail -n 30 "$work/ejabberd.out" "$ej/logs/ejabberd.log" 2>/dev/null >&2 || true
    results+=("ejabberd|3.1.1|-|FAIL: did not start|-|-|-")
  fi
fi

# --- RabbitMQ (rabbitmq_mqtt) -------------------------------------------------------
if wants rabbitmq; then
  # Debian's rabbitmq-server (the wrapper in /usr/sbin) runs as user rabbitmq
  # with /etc/rabbitmq and /var/lib/rabbitmq; AMQP, the distribution port and
  # epmd on every interface. Ours runs /usr/lib/rabbitmq/bin directly as this
  # user, with everything in the temp dir, every port on 127.0.0.1, and its
  # own epmd on a free loopback port.
  rb="$work/rabbitmq"
  mkdir -p "$rb/home" "$rb/mnesia" "$rb/log"
  port=$(free_port); amqp_port=$(free_port); dist_port=$(free_port); epmd_port=$(free_port)
  cat >"$rb/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$amqp_port
mqtt.listeners.tcp.default = 127.0.0.1:$port
mqtt.allow_anonymous = true
loopback_users.guest = true
EOF
  export HOME="$rb/home" ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$epmd_port
  export RABBITMQ_NODENAME="fbinterop$RANDOM@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$amqp_port RABBITMQ_DIST_PORT=$dist_port
  export RABBITMQ_CONFIG_FILE="$rb/rabbitmq.conf" RABBITMQ_MNESIA_BASE="$rb/mnesia" RABBITMQ_LOG_BASE="$rb/log"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$rb/enabled_plugins" RABBITMQ_PID_FILE="$rb/rabbit.pid"
  export RABBITMQ_SERVER_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  epmd -address 127.0.0.1 -port "$epmd_port" >"$work/epmd.log" 2>&1 &
  epmd_pid=$!
  rbin=/usr/lib/rabbitmq/bin
  "$rbin/rabbitmq-plugins" --offline enable rabbitmq_mqtt >"$rb/plugins.log" 2>&1
  "$rbin/rabbitmq-server" >"$work/rabbitmq.out" 2>&1 &
  rabbit_pid=$!
  pids+=($rabbit_pid)
  if wait_port "$port" 240; then
    version=$(dpkg-query -W -f='${Version}' rabbitmq-server)
    run_cell rabbitmq "$port" 3.1.1 "$version"
  else
    log "RabbitMQ did not come up:"
    tail -n 30 "$work/rabbitmq.out" >&2 || true
    results+=("rabbitmq|3.1.1|-|FAIL: did not start|-|-|-")
  fi
  timeout 60 "$rbin/rabbitmqctl" stop >/dev/null 2>&1 || true
  stop_pid "$rabbit_pid"
  stop_pid "$epmd_pid"
fi

# --- the matrix -----------------------------------------------------------------
echo
echo "interop: the matrix ($(( $(date +%s) - started )) s; streams of ${stream_seconds} s at a 50 ms poll;"
echo "received/expected messages of a counter point, duplicates and gaps when any)"
echo
echo "| broker | version | MQTT | check --connect | QoS 0 | QoS 1 | QoS 2 |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for r in "${results[@]}"; do
  IFS='|' read -r name protocol version check q0 q1 q2 <<<"$r"
  echo "| $name | $version | $protocol | $check | $q0 | $q1 | $q2 |"
done
