#!/usr/bin/env bash
# Builds the torch-free auditor with clang under ASan and UBSan, with the
# libFuzzer harnesses of tests/fuzz/, then:
#   1. runs the whole torch-free test suite under the sanitizers;
#   2. replays every harness's checked-in corpus (tests/fuzz/corpus/<name>/);
#   3. fuzzes each harness for FUZZ_SECONDS (default 20) from a copy of its
#      corpus. A crash fails the script and leaves its input in
#      build-asan/fuzz-artifacts/: add it to the corpus with the fix.
# Usage: scripts/fuzz.sh [--no-tests] [--no-fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."
run_tests=1
run_fuzz=1
for a in "$@"; do
  case "$a" in
    --no-tests) run_tests=0 ;;
    --no-fuzz) run_fuzz=0 ;;
    *) echo "usage: scripts/fuzz.sh [--no-tests] [--no-fuzz]" >&2; exit 2 ;;
  esac
done
jobs=$(nproc)
seconds=${FUZZ_SECONDS:-20}
CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDISTILLGATE_WITH_TORCH=OFF \
  -DDISTILLGATE_WITH_JEMALLOC=OFF -DDISTILLGATE_BUILD_BENCH=OFF -DDISTILLGATE_SANITIZE=address,undefined \
  -DDISTILLGATE_BUILD_FUZZERS=ON >/dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if ((run_tests)); then
  echo "== fuzz.sh: the torch-free suite under ASan + UBSan (build-asan/)" >&2
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 900
fi
artifacts=build-asan/fuzz-artifacts
mkdir -p "$artifacts"
status=0
for harness in tests/fuzz/fuzz_*.cc; do
  name=$(basename "$harness" .cc)
  corpus=tests/fuzz/corpus/$name
  bin=build-asan/tests/fuzz/$name
  echo "== fuzz.sh: $name: replaying $(ls "$corpus" | wc -l) corpus inputs" >&2
  if ! "$bin" -runs=0 -artifact_prefix="$artifacts/$name-" "$corpus" >"$artifacts/$name.replay.log" 2>&1; then
    tail -30 "$artifacts/$name.replay.log" >&2
    status=1
    continue
  fi
  if ((run_fuzz)); then
    scratch=$(mktemp -d)
    cp "$corpus"/* "$scratch"/
    echo "== fuzz.sh: $name: fuzzing for ${seconds} s" >&2
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$artifacts/$name-" "$scratch" >"$artifacts/$name.fuzz.log" 2>&1; then
      tail -40 "$artifacts/$name.fuzz.log" >&2
      status=1
    else
      grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$artifacts/$name.fuzz.log" | tail -1 >&2 || true
    fi
    rm -rf "$scratch"
  fi
done
if ((status)); then
  echo "fuzz.sh: a harness failed; crash inputs are in $artifacts/" >&2
fi
exit "$status"
