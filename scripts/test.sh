#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test; then builds once more under AddressSanitizer + UndefinedBehaviorSanitizer
# and runs the tests again. This is the README's test command and what CI runs.
#
#   scripts/test.sh                 everything
#   FIELDBRIDGE_SANITIZE=0 scripts/test.sh   skip the sanitizer pass
#   FIELDBRIDGE_FUZZ_SECONDS=0 scripts/test.sh   skip the fuzz smoke runs (20 s per target)
#   FIELDBRIDGE_TEST_JOBS=N scripts/test.sh  tests at a time (default: cores + 1)
#   FIELDBRIDGE_ARM=1 scripts/test.sh   also cross-build for arm64 and run its unit and
#                                       component tests under qemu (off by default: it
#                                       costs more than the rest of CI can spare, see
#                                       docs/install.md)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)
# One test more than there are cores: most of a test's time is spent waiting
# on brokers, devices and deadlines, not on the CPU. On the 2-core machine the
# sanitizer pass took 188 s at -j2, 130 s at -j3 and 110 s at -j4, all passing
# once; but in a whole CI run at -j4 a gateway's exit after SIGTERM, with
# SQLite closing its store beside the disk-heavy fault tests, took over the 3 s
# a test allows. The whole run was 21.5 min at -j2, over CI's 20.
test_jobs=${FIELDBRIDGE_TEST_JOBS:-$((jobs + 1))}
passed=0
failed=0
build_and_test() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DFIELDBRIDGE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure -j"$test_jobs" --timeout 300 | tee "$dir/ctest.log"
  local summary total failures
  summary=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$dir/ctest.log" | tail -n 1)
  failures=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")
  passed=$((passed + total - failures))
  failed=$((failed + failures))
}

echo "== build and test (build/)"
# Line tables (-g1) instead of full debug information: enough for the
# sanitizers' and gdb's backtraces, and a fifth less compile time in CI.
build_and_test build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

if [[ "${FIELDBRIDGE_SANITIZE:-1}" != 0 ]]; then
  echo "== build and test under ASan + UBSan (build-sanitize/)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build_and_test build-sanitize -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DFIELDBRIDGE_SANITIZE=ON
fi

# Each fuzz target gets this long (two targets: 2 x 20 s = 40 s in CI; a
# smoke run of the corpus and a little beyond, not the search itself:
# docs/fuzzing.md has the long runs).
fuzz_seconds=${FIELDBRIDGE_FUZZ_SECONDS:-20}
if [[ "$fuzz_seconds" != 0 ]]; then
  echo "== fuzz the MQTT decoder and the hostile broker for ${fuzz_seconds}s each (build-fuzz/, clang + libFuzzer)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DFIELDBRIDGE_BUILD_FUZZ=ON \
    -DFIELDBRIDGE_BUILD_TESTS=OFF >/dev/null
  cmake --build build-fuzz --target mqtt_decoder_fuzz mqtt_broker_fuzz -j"$jobs"
  # libFuzzer adds what it finds to the first corpus directory: work on copies.
  corpus_root=$(mktemp -d)
  trap 'rm -rf "$corpus_root"' EXIT
  run_fuzzer() {
    local name=$1 seeds=$2 max_len=$3
    mkdir -p "$corpus_root/$name"
    cp "tests/fuzz/corpus/$seeds"/* "$corpus_root/$name"/
    if ! "build-fuzz/tests/fuzz/$name" -max_total_time="$fuzz_seconds" -max_len="$max_len" -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=build-fuzz/ "$corpus_root/$name" >"build-fuzz/$name.log" 2>&1; then
      tail -n 40 "build-fuzz/$name.log"
      echo "fuzz: $name failed; the input that did it is in build-fuzz/" >&2
      exit 1
    fi
    echo "$name:"
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)' "build-fuzz/$name.log" || true
  }
  run_fuzzer mqtt_decoder_fuzz mqtt_decoder 512
  run_fuzzer mqtt_broker_fuzz mqtt_broker 2048
fi

if [[ "${FIELDBRIDGE_ARM:-0}" != 0 ]]; then
  echo "== arm64 cross build, unit and component tests under qemu (build-pkg-arm64/)"
  FIELDBRIDGE_JOBS=$jobs FIELDBRIDGE_PACKAGE_TESTS=unit scripts/package.sh arm64
  summary=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' build-pkg-arm64/ctest-qemu.log | tail -n 1)
  failures=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$summary")
  total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$summary")
  passed=$((passed + total - failures))
  failed=$((failed + failures))
fi

# One closing line over every ctest pass ("N passed, N failed"); a failing
# pass has already stopped the script.
echo "tests: $passed passed, $failed failed"
