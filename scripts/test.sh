#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test; then builds once more under AddressSanitizer + UndefinedBehaviorSanitizer
# and runs the tests again. This is the README's test command and what CI runs.
#
#   scripts/test.sh                 everything
#   FIELDBRIDGE_SANITIZE=0 scripts/test.sh   skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)
build_and_test() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DFIELDBRIDGE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 300
}

echo "== build and test (build/)"
build_and_test build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [[ "${FIELDBRIDGE_SANITIZE:-1}" != 0 ]]; then
  echo "== build and test under ASan + UBSan (build-sanitize/)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build_and_test build-sanitize -DCMAKE_BUILD_TYPE=Debug -DFIELDBRIDGE_SANITIZE=ON
fi
