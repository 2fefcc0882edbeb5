#!/usr/bin/env bash
# Installs an amd64 fieldbridge .deb into a clean Debian 12 root (made by
# mmdebstrap from Debian's packages, with systemd and man-db as a Pi has them)
# and checks it as a user would: --version, check of the shipped example,
# man fieldbridge, systemd-analyze verify / security / condition on the
# installed unit; remove + purge leave nothing behind but the store; and an
# upgrade over an older build keeps a non-empty store.
# Called by `scripts/package.sh --check`; needs root (chroot, mount).
#
#   scripts/deb-check.sh dist/fieldbridge_<version>_amd64.deb
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(realpath "$1")
work=$PWD/build-pkg-amd64/check
base=$PWD/build-pkg-amd64/clean-root-base
root=$work/root
mkdir -p "$work"

fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }
step() { echo "deb-check: $*"; }

if [[ ! -d $base ]]; then
  step "making the clean root (mmdebstrap bookworm, variant apt + systemd, man-db)"
  rm -rf "$base.tmp"
  nice -n 15 mmdebstrap --quiet --variant=apt --include=systemd,man-db bookworm "$base.tmp" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -n 20 "$work/mmdebstrap.log"; fail "mmdebstrap"; }
  mv "$base.tmp" "$base"
fi

mounted=()
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
fresh_root() {
  cleanup; mounted=(); pids=()
  rm -rf "$root"
  cp -a "$base" "$root"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc" && mounted+=("$root/proc")
  mount --bind /dev "$root/dev" && mounted+=("$root/dev")
}
in_root() { chroot "$root" "$@"; }
# Every path in the root but the package manager's own state and systemd's in
# /run/systemd (systemd-analyze writes its units-load stamp there; /run is a
# tmpfs on a real machine).
listing() {
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./var/lib/dpkg -o -path ./var/lib/apt \
     -o -path ./run/systemd \
     -o -path ./var/cache -o -path ./var/log -o -path ./tmp -o -path ./etc/ld.so.cache \) -prune -o -print | sort)
}
apt_in_root() { DEBIAN_FRONTEND=noninteractive in_root apt-get -qq -o=Dpkg::Use-Pty=0 "$@" >>"$work/apt.log" 2>&1; }

version=$(dpkg-deb -f "$deb" Version)
upstream=${version%-*}
cp "$deb" "$work/new.deb"

# ---- 1. a fresh install ----------------------------------------------------
fresh_root
apt_in_root update
before=$(listing)
cp "$work/new.deb" "$root/tmp/fieldbridge.deb"
apt_in_root install -y --no-install-recommends /tmp/fieldbridge.deb || { tail -n 30 "$work/apt.log"; fail "apt install"; }
step "installed $(basename "$deb") and its dependencies into the clean root"

out=$(in_root fieldbridge --version)
[[ $out == "fieldbridge $upstream" ]] || fail "--version printed '$out'"
step "fieldbridge --version: $out"

in_root fieldbridge check -c /etc/fieldbridge/fieldbridge.example.yaml >"$work/check.out" 2>&1 ||
  { cat "$work/check.out"; fail "check of the shipped example"; }
step "fieldbridge check -c /etc/fieldbridge/fieldbridge.example.yaml: exit 0 ($(wc -l <"$work/check.out") lines)"

in_root man -P cat fieldbridge 2>/dev/null | grep -q "gateway between Modbus" || fail "man fieldbridge"
step "man fieldbridge: shows fieldbridge(1)"

unit=/lib/systemd/system/fieldbridge.service
in_root systemd-analyze verify "$unit" >"$work/verify.out" 2>&1 || { cat "$work/verify.out"; fail "systemd-analyze verify"; }
[[ ! -s $work/verify.out ]] || { cat "$work/verify.out"; fail "systemd-analyze verify printed warnings"; }
step "systemd-analyze verify $unit: clean"

in_root systemd-analyze security --offline=true "$unit" >"$work/security.out" 2>&1 || true
exposure=$(sed -nE 's/.*Overall exposure level for fieldbridge.service: ([0-9.]+).*/\1/p' "$work/security.out")
[[ -n $exposure ]] || { cat "$work/security.out"; fail "no exposure level"; }
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure > 2.0"
step "systemd-analyze security --offline=true: exposure $exposure (limit 2.0)"

# No configuration yet: the unit's assertion refuses to start it.
if in_root systemd-analyze condition "AssertPathExists=/etc/fieldbridge/fieldbridge.yaml" >/dev/null 2>&1; then
  fail "AssertPathExists holds without a configuration"
fi
grep -q '^AssertPathExists=/etc/fieldbridge/fieldbridge.yaml$' "$root$unit" || fail "the unit lacks AssertPathExists"
step "without /etc/fieldbridge/fieldbridge.yaml the unit's AssertPathExists fails (the service refuses to start)"

apt_in_root purge -y --autoremove fieldbridge || fail "apt purge"
after=$(listing)
left=$(comm -13 <(echo "$before") <(echo "$after") || true)
[[ -z $left ]] || { echo "$left"; fail "purge left files behind"; }
step "apt purge --autoremove: nothing left behind"

# ---- 2. upgrade over an older build with a non-empty store -----------------
# The older build is this package with a lower version (dpkg goes through the
# whole upgrade path: prerm upgrade, unpack, postinst configure OLD-VERSION).
rm -rf "$work/old" && dpkg-deb -R "$deb" "$work/old"
sed -i "s/^Version: .*/Version: ${upstream}-0/" "$work/old/DEBIAN/control"
dpkg-deb -b --root-owner-group "$work/old" "$work/old.deb" >/dev/null
cp "$work/old.deb" "$root/tmp/old.deb"
apt_in_root install -y --no-install-recommends /tmp/old.deb || fail "install the older build"
step "installed the older build ${upstream}-0"

# A simulated meter on loopback and a broker port nobody listens on: every
# reading stays in the store.
sim_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
broker_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$root/tmp/sim.yaml" <<SIM
tcp: { host: 127.0.0.1, port: $sim_port }
units:
  - id: 1
    registers:
      - { table: input, address: 0, count: 2, profile: counter, per: read }
SIM
cat >"$root/etc/fieldbridge/fieldbridge.yaml" <<CONF
gateway: { name: check }
mqtt: { host: 127.0.0.1, port: $broker_port }
store: { path: /var/lib/fieldbridge/queue.db, flush_interval: 100ms }
buses:
  - name: plc
    modbus_tcp: { host: 127.0.0.1, port: $sim_port }
    devices:
      - name: meter
        unit: 1
        poll_interval: 100ms
        points:
          - { name: a, table: input, address: 0, type: uint16 }
          - { name: b, table: input, address: 1, type: uint16 }
CONF
mkdir -p "$root/var/lib/fieldbridge"
# chroot itself, not in_root: $! must be the pid of fieldbridge (chroot execs it).
chroot "$root" fieldbridge simulate -c /tmp/sim.yaml >"$work/sim.log" 2>&1 & pids+=($!)
chroot "$root" fieldbridge run -c /etc/fieldbridge/fieldbridge.yaml >"$work/run.log" 2>&1 & run_pid=$!; pids+=($run_pid)
depth() { in_root fieldbridge queue -c /etc/fieldbridge/fieldbridge.yaml stats 2>/dev/null | sed -nE 's/^depth:? *([0-9]+).*/\1/p' | head -n 1; }
deadline=$((SECONDS + 60))
until [[ $(depth) -ge 20 ]] 2>/dev/null; do
  ((SECONDS < deadline)) || { cat "$work/run.log"; fail "the store did not fill"; }
  sleep 0.5
done
kill -TERM "$run_pid"
deadline=$((SECONDS + 10))
while kill -0 "$run_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
if kill -0 "$run_pid" 2>/dev/null; then
  # Seen with 0.1.0: SIGTERM during the MQTT back-off wait is not acted on
  # (issue 9, "SIGTERM bounded"). What the store accepted survives kill -9,
  # so the upgrade check goes on; the line says it.
  step "WARNING: fieldbridge run did not stop within 10 s of SIGTERM (broker unreachable); killed with SIGKILL"
  kill -KILL "$run_pid"
fi
wait "$run_pid" 2>/dev/null || true
stored=$(depth)
((stored > 0)) || fail "the store is empty"
step "store filled with $stored readings by the older build (broker unreachable), gateway stopped"

apt_in_root install -y --no-install-recommends /tmp/fieldbridge.deb || fail "upgrade"
[[ $(dpkg-query --root="$root" -W -f='${Version}' fieldbridge) == "$version" ]] || fail "not upgraded"
[[ $(depth) == "$stored" ]] || fail "the upgrade changed the store: $(depth) readings, had $stored"
[[ -s $root/etc/fieldbridge/fieldbridge.yaml ]] || fail "the upgrade lost the configuration"
in_root systemd-analyze condition "AssertPathExists=/etc/fieldbridge/fieldbridge.yaml" >/dev/null 2>&1 ||
  fail "AssertPathExists fails with a configuration"
step "upgraded to $version: the store still holds $stored readings, the configuration is kept, the unit may start"

apt_in_root remove -y fieldbridge || fail "apt remove"
[[ $(depth) == "$stored" || -s $root/var/lib/fieldbridge/queue.db ]] || fail "remove touched the store"
apt_in_root purge -y --autoremove fieldbridge || fail "apt purge"
[[ -s $root/var/lib/fieldbridge/queue.db ]] || fail "purge deleted the store"
[[ ! -e $root/etc/fieldbridge ]] || fail "purge left /etc/fieldbridge: $(ls -A "$root/etc/fieldbridge")"
left=$(comm -13 <(echo "$before") <(listing) | grep -v -E '^\./var/lib/fieldbridge(/|$)' || true)
[[ -z $left ]] || { echo "$left"; fail "purge left more than the store behind"; }
step "remove + purge: only the store is left (/var/lib/fieldbridge/queue.db)"
echo "deb-check: all checks passed for $(basename "$deb")"
