#!/usr/bin/env bash
# Installs everything distillgate needs on Debian 12 (apt-get) and builds it
# into build/. Safe to run again: it installs only what is missing and
# rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain (clang and its sanitizer/libFuzzer runtime: scripts/fuzz.sh)
  g++ cmake make pkg-config ccache clang libclang-rt-14-dev
  # libraries (the auditor core needs no LibTorch)
  libssl-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libvalijson-dev libcurl4-openssl-dev
  # toml++: the project configuration (distillgate.toml)
  libtomlplusplus-dev
  # jemalloc: the CLI's allocator (transcript recording allocates on several threads)
  libjemalloc-dev
  # tests and benchmarks (python3-torch: TorchScript test teachers and the PyTorch speed baseline)
  libgtest-dev libbenchmark-dev sqlite3 openssl python3-torch
  # the HTML report test renders in headless Chromium; jq runs the documented openssl check
  chromium fonts-dejavu-core jq
  # the trainer (only src/train links LibTorch); OpenBLAS, or Debian's libtorch runs on reference BLAS
  libtorch-dev libopenblas0-pthread zlib1g-dev libcpp-httplib-dev
  # the trainer's c10d Gloo backend (run --nproc: data-parallel ranks)
  libgloo-dev
  # the built-in default datasets: images for the classifier, an English word list (SCOWL) for the byte LM
  dataset-fashion-mnist wamerican
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  echo "setup: on a fresh machine this is about 2 GB (LibTorch, Chromium, the toolchain) and takes 10-15 minutes;" \
       "apt's progress follows, one line per package" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  echo "setup: apt-get update" >&2
  $SUDO apt-get update -qq
  start=$SECONDS
  # One line per package unpacked and set up, so a long install is not silent.
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" 2>&1 |
    grep --line-buffered -E '^(Get:|Setting up )' | sed -u 's/^/setup: apt: /' >&2 || true
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || { echo "setup: $p did not install" >&2; exit 1; }
  done
  echo "setup: packages installed in $((SECONDS - start)) s" >&2
fi

# Node.js and the official OpenAI SDK (npm `openai`, pinned in
# tests/node/package-lock.json): the real client of the proxy tests. A
# machine with its own Node.js (and npm) keeps it; else Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing nodejs npm" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
sdk_wanted="$(node -p "require('./tests/node/package.json').dependencies.openai")"
sdk_have="$(node -p "require('./tests/node/node_modules/openai/package.json').version" 2>/dev/null || true)"
if [ "$sdk_have" != "$sdk_wanted" ]; then
  echo "setup: installing the OpenAI SDK $sdk_wanted (npm ci in tests/node)" >&2
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

BUILD_TYPE="${BUILD_TYPE:-Release}"
# What CMake found (the optional parts: trainer, Gloo, jemalloc, benchmarks).
mkdir -p build
if ! cmake -S . -B build -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >build/cmake-configure.log 2>&1; then
  cat build/cmake-configure.log >&2
  echo "setup: cmake could not configure build/ (above)" >&2
  exit 1
fi
grep -E '^-- distillgate|not found' build/cmake-configure.log | sed 's/^-- /setup: cmake: /' >&2 || true
echo "setup: building build/ (a first build with LibTorch takes 10-20 minutes on 2 cores; ccache makes rebuilds quick)" >&2
cmake --build build -j"$(nproc)"
echo "setup: built build/distillgate" >&2
