#!/usr/bin/env bash
# Builds the Debian packages fieldbridge_<version>_<arch>.deb into dist/:
# amd64 natively, arm64 and armhf cross-built with Debian's cross compilers
# against the target's own -dev packages (multiarch), each checked by lintian.
# The ARM trees also build the tests and run them under qemu-user.
# Installs what is missing (with sudo when not root).
#
#   scripts/package.sh [amd64|arm64|armhf|all] [--check]
#     --check     also install the amd64 package into a clean Debian root and
#                 test it there (scripts/deb-check.sh), and run the ARM
#                 binaries end to end under qemu (scripts/arm-smoke.sh)
#   FIELDBRIDGE_PACKAGE_TESTS=all   (default) the ARM trees' unit, component and
#                                   system tests under qemu, less the labels
#                                   faults and slow_under_emulation (named in the output)
#   FIELDBRIDGE_PACKAGE_TESTS=unit  their unit and component tests only (what CI runs)
#   FIELDBRIDGE_PACKAGE_TESTS=0     neither build nor run the tests of the ARM trees
#   FIELDBRIDGE_DEB_HARDENING=0   without dpkg-buildflags' compile flags (the
#                                 objects are then ccache hits of an ordinary
#                                 build; lintian reports hardening-no-fortify-functions)
#   FIELDBRIDGE_JOBS=N            build jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 [amd64|arm64|armhf|all] [--check]" >&2; exit 2; }
arches=() check=0
for arg in "$@"; do
  case "$arg" in
    amd64|arm64|armhf) arches+=("$arg") ;;
    all) arches+=(amd64 arm64 armhf) ;;
    --check) check=1 ;;
    *) usage ;;
  esac
done
((${#arches[@]})) || arches=(amd64)
if ((check)) && [[ " ${arches[*]} " != *" amd64 "* ]]; then arches=(amd64 "${arches[@]}"); fi
jobs=${FIELDBRIDGE_JOBS:-2}
tests=${FIELDBRIDGE_PACKAGE_TESTS:-all}
case "$tests" in all|unit|0) ;; *) echo "FIELDBRIDGE_PACKAGE_TESTS: all, unit or 0" >&2; exit 2 ;; esac
export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache} CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}

triplet_of() {
  case "$1" in
    amd64) echo x86_64-linux-gnu ;; arm64) echo aarch64-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;;
  esac
}

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

# --- what is missing ---------------------------------------------------------
scripts/install-deps.sh
# The target's -dev packages beside the amd64 ones. libyaml-cpp-dev is the one
# that is not Multi-Arch: same (it would replace the amd64 copy), so only its
# runtime library is installed and the -dev package is extracted per tree below.
target_dev=(libboost-dev libmodbus-dev libsqlite3-dev libspdlog-dev libfmt-dev libssl-dev
            libgtest-dev libgmock-dev libyaml-cpp0.7 libprotobuf-c-dev)
wanted=(lintian)
((check)) && wanted+=(mmdebstrap qemu-user-static)
added_arch=0
foreign=$(dpkg --print-foreign-architectures)
for arch in "${arches[@]}"; do
  [[ $arch == amd64 ]] && continue
  wanted+=("crossbuild-essential-$arch" qemu-user-static)
  for pkg in "${target_dev[@]}"; do wanted+=("$pkg:$arch"); done
  if ! grep -qx "$arch" <<<"$foreign"; then
    "${sudo_cmd[@]}" dpkg --add-architecture "$arch"
    added_arch=1
  fi
done
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} || added_arch)); then
  echo "package: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- build, package, lint ----------------------------------------------------
mkdir -p dist
built=()
for arch in "${arches[@]}"; do
  triplet=$(triplet_of "$arch")
  dir=build-pkg-$arch
  cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIELDBRIDGE_WERROR=ON)
  if [[ $arch == amd64 || $tests == 0 ]]; then
    cmake_args+=(-DFIELDBRIDGE_BUILD_TESTS=OFF)   # scripts/test.sh runs the amd64 ones natively
  else
    cmake_args+=(-DFIELDBRIDGE_BUILD_TESTS=ON)
  fi
  if [[ $arch != amd64 ]]; then
    cmake_args+=(-DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/$triplet.cmake")
    # libyaml-cpp-dev for the target, unpacked into the tree (see above).
    extra=$PWD/$dir/yaml-cpp-$arch
    if [[ ! -e $extra/usr/lib/$triplet/cmake/yaml-cpp/yaml-cpp-config.cmake ]]; then
      mkdir -p "$dir/debs" "$extra"
      (cd "$dir/debs" && apt-get download -qq "libyaml-cpp-dev:$arch" "libyaml-cpp0.7:$arch" 2>/dev/null)
      for deb in "$dir"/debs/libyaml-cpp*_"$arch".deb; do dpkg-deb -x "$deb" "$extra"; done
    fi
    cmake_args+=(-DFIELDBRIDGE_CROSS_EXTRA_PREFIX="$extra/usr")
  fi
  # Debian's hardening flags for the target (lintian checks them).
  flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_HOST_ARCH=$arch dpkg-buildflags --get "$1" 2>/dev/null; }
  cxxflags= cflags=
  if [[ "${FIELDBRIDGE_DEB_HARDENING:-1}" != 0 ]]; then
    cxxflags="$(flags CXXFLAGS) $(flags CPPFLAGS)"
    cflags="$(flags CFLAGS) $(flags CPPFLAGS)"
  fi
  ldflags=$(flags LDFLAGS)

  echo "== $arch: build ($dir)"
  start=$SECONDS
  # Given as -D, not as CXXFLAGS in the environment: that seeds only the first configure.
  cmake -S . -B "$dir" "${cmake_args[@]}" -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
  nice -n 15 cmake --build "$dir" -j"$jobs"
  echo "== $arch: built in $((SECONDS - start)) s"

  if [[ $arch != amd64 && $tests != 0 ]]; then
    # The tests on the target's instruction set: ctest runs each test binary
    # under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), and the test support's
    # launcher starts the ARM programs a test runs (fieldbridge, the store's
    # crash children) under the same qemu, so the kernel needs no binfmt_misc
    # entry. Left out, by label, and said: the fault suite ("faults", minutes
    # natively; scripts/faults.sh) and the cases whose timing qemu cannot keep
    # ("slow_under_emulation", listed in tests/CMakeLists.txt).
    labels='unit|component|system'
    [[ $tests == unit ]] && labels='unit|component'
    count() { ctest --test-dir "$dir" -N "$@" | grep -c '^ *Test *#' || true; }
    echo "== $arch: tests under qemu: labels $labels, $(count -L "$labels" -LE 'faults|slow_under_emulation') tests;" \
         "left out by label faults|slow_under_emulation: $(count -L 'faults|slow_under_emulation')"
    start=$SECONDS
    ctest --test-dir "$dir" -N -L 'slow_under_emulation' | sed -n 's/^ *Test *#[0-9]*: /   slow_under_emulation: /p'
    nice -n 15 ctest --test-dir "$dir" -L "$labels" -LE 'faults|slow_under_emulation' -j"$jobs" --timeout 600 \
      --output-on-failure | tee "$dir/ctest-qemu.log"
    echo "== $arch: tests under qemu took $((SECONDS - start)) s"
  fi

  echo "== $arch: package"
  rm -f "$dir"/fieldbridge_*.deb
  (cd "$dir" && DEB_HOST_ARCH=$arch DEB_HOST_MULTIARCH=$triplet nice -n 15 cpack -G DEB >/dev/null)
  deb=$(ls "$dir"/fieldbridge_*_"$arch".deb)
  cp "$deb" dist/
  built+=("dist/$(basename "$deb")")
done

for deb in "${built[@]}"; do
  echo "== $deb"
  dpkg-deb -f "$deb" Package Version Architecture Depends
  # Errors and warnings fail the build; info/pedantic tags are printed.
  lintian --fail-on error,warning --info "$deb"
done

if ((check)); then
  scripts/deb-check.sh "dist/$(basename "$(ls build-pkg-amd64/fieldbridge_*_amd64.deb)")"
  for arch in "${arches[@]}"; do
    [[ $arch == amd64 ]] || scripts/arm-smoke.sh "build-pkg-$arch"
  done
fi
echo "package: ${built[*]}"
