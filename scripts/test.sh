#!/usr/bin/env bash
# The whole test suite: set up (install + build), then every test with ctest,
# in both builds: the full one (with the LibTorch trainer, where found) and
# the torch-free auditor (-DDISTILLGATE_WITH_TORCH=OFF), which must build,
# run and pass its tests on a machine without LibTorch.
# Last, scripts/fuzz.sh: the torch-free suite again under ASan and UBSan
# (clang), every libFuzzer harness over its corpus, and a bounded fuzzing
# run of each (FUZZ_SECONDS, default 20).
# Tests that need ../shared/testdata skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -d ../shared/testdata ] || echo "test: ../shared/testdata is absent beside the checkout: the public-corpus tests will be reported as skipped" >&2
jobs=$(nproc)
# Why tests were skipped, from ctest's log of a build: "SUITE.TEST: reason".
# GoogleTest's tally line ("[  SKIPPED ] 1 test, listed below:") names no test and is passed over.
skip_reasons() {
  local log="$1/Testing/Temporary/LastTest.log"
  [ -f "$log" ] || return 0
  awk '/: Skipped$/ { getline reason; next_reason = reason; next }
       /^\[  SKIPPED \] / { name = $4; if (name ~ /\./ && !(name in seen)) { seen[name] = 1; print "  " name ": " (next_reason == "" ? "(no reason given)" : next_reason) }; next_reason = "" }' "$log"
}
echo "== test: the full build (build/)" >&2
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

echo "== test: the torch-free auditor (build-notorch/)" >&2
cmake -S . -B build-notorch -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DDISTILLGATE_WITH_TORCH=OFF \
  -DDISTILLGATE_BUILD_BENCH=OFF >/dev/null
cmake --build build-notorch -j"$jobs"
ctest --test-dir build-notorch --output-on-failure -j"$jobs" --timeout 600

echo "== test: sanitizers and fuzzing (build-asan/)" >&2
scripts/fuzz.sh

# What was skipped, and why (ctest shows only a count).
for b in build build-notorch; do
  reasons=$(skip_reasons "$b")
  if [ -n "$reasons" ]; then
    echo "== test: skipped in $b/:" >&2
    echo "$reasons" >&2
  else
    echo "== test: nothing skipped in $b/" >&2
  fi
done

