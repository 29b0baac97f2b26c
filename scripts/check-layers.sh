#!/usr/bin/env bash
# The import arrows of src/ point down (docs/architecture.md): each room may
# include only the rooms listed for it below, never one above; only
# src/train/*.cc include LibTorch, and no header anywhere does. Run by ctest
# (`layering`); prints every offending include and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A allowed=(
  [core]="core"
  [ledger]="core ledger"
  [license]="core license"
  [policy]="core ledger license policy"
  [model]="core model"
  [record]="core ledger license policy model record"
  [transcripts]="core ledger license policy model record transcripts"
  [attest]="core ledger license policy model record attest"
  [attribute]="core ledger license policy model record transcripts attribute"
  [report]="core ledger license policy model record report"
  [train]="core ledger license policy model record transcripts train"
  [cli]="core ledger license policy model record transcripts attest attribute report train cli"
)
bad=0
for dir in src/*/; do
  room=$(basename "$dir")
  if [[ -z "${allowed[$room]+x}" ]]; then
    echo "src/$room/: a room docs/architecture.md does not describe (add it there and here)"; bad=1; continue
  fi
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$line")
    target=${inc%%/*}
    [[ "$inc" == */* ]] || continue   # same-directory or third-party quoted headers
    [[ -d "src/$target" ]] || continue
    if [[ " ${allowed[$room]} " != *" $target "* ]]; then
      echo "$file: includes $inc: src/$room may include only: ${allowed[$room]}"; bad=1
    fi
  done < <(grep -Hn '#include "' "$dir"*.h "$dir"*.cc 2>/dev/null || true)
done
while IFS= read -r line; do
  file=${line%%:*}
  if [[ "$file" == *.h || "$file" != src/train/* ]]; then
    echo "$line: LibTorch may be included only by src/train/*.cc (no header, no other room)"; bad=1
  fi
done < <(grep -Hn -E '#include <(torch|ATen|c10)/' src/*/*.h src/*/*.cc || true)
if ((bad)); then exit 1; fi
echo "layering: every include in src/ points down; LibTorch only in src/train/*.cc"
