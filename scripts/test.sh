#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test; then builds once more under AddressSanitizer + UndefinedBehaviorSanitizer
# and runs the tests again. This is the README's test command and what CI runs.
#
#   scripts/test.sh                 everything
#   FIELDBRIDGE_SANITIZE=0 scripts/test.sh   skip the sanitizer pass
#   FIELDBRIDGE_FUZZ_SECONDS=0 scripts/test.sh   skip the MQTT decoder fuzz smoke run (60 s)
#   FIELDBRIDGE_ARM=1 scripts/test.sh   also cross-build for arm64 and run its unit and
#                                       component tests under qemu (off by default: it
#                                       costs more than the rest of CI can spare, see
#                                       docs/install.md)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)
passed=0
failed=0
build_and_test() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DFIELDBRIDGE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 300 | tee "$dir/ctest.log"
  local summary total failures
  summary=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$dir/ctest.log" | tail -n 1)
  failures=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")
  passed=$((passed + total - failures))
  failed=$((failed + failures))
}

echo "== build and test (build/)"
build_and_test build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [[ "${FIELDBRIDGE_SANITIZE:-1}" != 0 ]]; then
  echo "== build and test under ASan + UBSan (build-sanitize/)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build_and_test build-sanitize -DCMAKE_BUILD_TYPE=Debug -DFIELDBRIDGE_SANITIZE=ON
fi

fuzz_seconds=${FIELDBRIDGE_FUZZ_SECONDS:-60}
if [[ "$fuzz_seconds" != 0 ]]; then
  echo "== fuzz the MQTT decoder for ${fuzz_seconds}s (build-fuzz/, clang + libFuzzer)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DFIELDBRIDGE_BUILD_FUZZ=ON \
    -DFIELDBRIDGE_BUILD_TESTS=OFF >/dev/null
  cmake --build build-fuzz --target mqtt_decoder_fuzz -j"$jobs"
  # libFuzzer adds what it finds to the first corpus directory: work on a copy.
  corpus=$(mktemp -d)
  trap 'rm -rf "$corpus"' EXIT
  cp tests/fuzz/corpus/mqtt_decoder/* "$corpus"/
  if ! build-fuzz/tests/fuzz/mqtt_decoder_fuzz -max_total_time="$fuzz_seconds" -max_len=512 \
      -print_final_stats=1 -artifact_prefix=build-fuzz/ "$corpus" >build-fuzz/fuzz.log 2>&1; then
    tail -n 40 build-fuzz/fuzz.log
    echo "fuzz: the MQTT decoder target failed; the input that did it is in build-fuzz/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' build-fuzz/fuzz.log || true
fi

if [[ "${FIELDBRIDGE_ARM:-0}" != 0 ]]; then
  echo "== arm64 cross build, unit and component tests under qemu (build-pkg-arm64/)"
  FIELDBRIDGE_JOBS=$jobs scripts/package.sh arm64
  summary=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' build-pkg-arm64/ctest-qemu.log | tail -n 1)
  failures=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")
  passed=$((passed + total - failures))
  failed=$((failed + failures))
fi

# One closing line over every ctest pass ("N passed, N failed"); a failing
# pass has already stopped the script.
echo "tests: $passed passed, $failed failed"
