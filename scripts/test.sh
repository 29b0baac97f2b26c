#!/usr/bin/env bash
# The whole test suite: set up (install + build), then every test with ctest.
# Tests that need ../shared/testdata skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
