#!/usr/bin/env bash
# Installs exactly the Debian 12 / Raspberry Pi OS bookworm packages that
# building, testing and running fieldbridge need. Does nothing when all are
# present; uses sudo when not root.
#
#   scripts/install-deps.sh            build + run + test dependencies
#   scripts/install-deps.sh --runtime  only what the daemon needs at run time
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libmodbus-dev libsqlite3-dev libspdlog-dev libfmt-dev
  libyaml-cpp-dev libssl-dev libcli11-dev
  protobuf-c-compiler libprotobuf-c-dev
)
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  mosquitto mosquitto-clients libmosquitto-dev socat openssl sqlite3
  clang libclang-rt-14-dev
  tcpdump python3 python3-jinja2
  nodejs
  python3-prometheus-client chromium fonts-dejavu-core  # status page tests: metrics parser, browser, a font for its screenshot
)
runtime_packages=(
  libmodbus5 libsqlite3-0 libspdlog1.10 libfmt9 libyaml-cpp0.7 libssl3 libprotobuf-c1
)

case "${1:-}" in
  --runtime) wanted=("${runtime_packages[@]}") ;;
  "")        wanted=("${build_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac
# npm (Tahu's Sparkplug decoder for the interop test, scripts/install-tahu-js.sh)
# only when no npm is there: a nodejs built elsewhere may bring its own npm,
# which Debian's npm package would conflict with.
if [[ "${1:-}" == "" ]] && ! command -v npm >/dev/null; then wanted+=(npm); fi

# "pkg:amd64" first: once foreign architectures are added (scripts/package.sh)
# a plain name matches every installed architecture's copy; "pkg" for the
# Architecture: all packages, which have no qualified name.
native=$(dpkg --print-architecture)
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg:$native" 2>/dev/null ||
           dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#wanted[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

# The mosquitto package starts a system broker on port 1883; tests start their
# own brokers on free ports and never touch it, so leave it as the admin set it.
