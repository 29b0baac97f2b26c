#!/usr/bin/env bash
# Packs, from this (Debian 12) machine, what bench/gpu.sh needs on a GPU
# machine that has a compiler, CMake and PyTorch but none of Debian's -dev
# packages and no network: the headers, CMake and pkg-config files and shared
# libraries of the auditor's dependencies (OpenSSL, SQLite, nlohmann_json,
# CLI11, yaml-cpp, zlib, libcurl, cpp-httplib, valijson) with their runtime
# closure, pkgconf, Debian's Fashion-MNIST files and the word list (wamerican). Output: .gpudeps/ in the
# repository root (git-ignored through .git/info/exclude), ~50 MB, to be
# carried to the device (carry: [".gpudeps"]).
#
# usage: scripts/pack-gpu-deps.sh   (after scripts/setup.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
D="$ROOT/.gpudeps"
grep -qx '/.gpudeps/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.gpudeps/' >> "$ROOT/.git/info/exclude"
rm -rf "$D"
mkdir -p "$D/sysroot/usr" "$D/lib" "$D/bin" "$D/fashion-mnist"

# Headers, CMake and pkg-config files of the -dev packages, and their libraries
# (symbolic links resolved: Debian's dev links are absolute, /lib is /usr/lib).
PKGS="libssl-dev libssl3 libsqlite3-dev libsqlite3-0 nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libyaml-cpp0.7
      zlib1g-dev zlib1g libcurl4-openssl-dev libcurl4 libcpp-httplib-dev libcpp-httplib0.11 libvalijson-dev
      libbrotli-dev libbrotli1"
for p in $PKGS; do
  dpkg -L "$p" | while read -r f; do
    [ -f "$f" ] || continue                                  # files, and links to files
    case "$f" in /usr/share/doc/*|/usr/share/man/*|/usr/share/lintian/*|*.a) continue ;; esac
    rel="${f#/usr}"                                          # /lib/... and /usr/lib/... land together
    mkdir -p "$D/sysroot/usr$(dirname "$rel")"
    cp -L "$f" "$D/sysroot/usr$rel"
  done
done

# The runtime closure of those libraries, glibc and the C++ runtime excepted
# (the device has its own, newer ones).
for bin in "$ROOT/build/distillgate" /usr/lib/x86_64-linux-gnu/libcpp-httplib.so.0.11 /usr/bin/pkgconf; do
  ldd "$bin" | awk '/=>/ {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*|libjemalloc.so.*) continue ;;
  esac
  cp -L "$lib" "$D/lib/"
done
# One copy of each library: libssl.so, libssl.so.3 and a lib/ copy of it
# become links to the first (the tree must fit the device's 64 MiB).
(cd "$D" && find sysroot/usr/lib lib -type f -name '*.so*' -print0 | xargs -0 sha256sum | sort | awk '
  $1 == prev { print first, $2; next } { prev = $1; first = $2 }' | while read -r keep dup; do
    ln -sf "$(realpath --relative-to="$(dirname "$dup")" "$keep")" "$dup"
  done)
cp -L /usr/bin/pkgconf "$D/bin/pkgconf"
# CMake runs pkg-config through this wrapper; the paths it prints are
# rewritten into the carried tree.
cat > "$D/bin/pkg-config" <<'SH'
#!/bin/sh
D="$(cd "$(dirname "$0")/.." && pwd)"
export LD_LIBRARY_PATH="$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG_LIBDIR="$D/sysroot/usr/lib/x86_64-linux-gnu/pkgconfig:$D/sysroot/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$D/sysroot"
exec "$D/bin/pkgconf" "$@"
SH
chmod +x "$D/bin/pkg-config"

cp /usr/share/datasets/fashion-mnist/*.gz "$D/fashion-mnist/"
mkdir -p "$D/corpus" && cp /usr/share/dict/american-english "$D/corpus/"   # the LM example's corpus (wamerican)
du -sh "$D"
