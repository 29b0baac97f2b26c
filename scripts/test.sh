#!/usr/bin/env bash
# The whole test suite: set up (install + build), then every test with ctest.
# Tests that need ../shared/testdata skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -d ../shared/testdata ] || echo "test: ../shared/testdata is absent beside the checkout: the public-corpus tests will be reported as skipped" >&2
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
