#!/usr/bin/env bash
# The cost of `distillgate proxy` (issue 17): added latency per call (p50,
# p99) with one client, and calls/s with 16 concurrent clients, through the
# proxy against calling a fast stand-in upstream directly (bench/proxy_load.cc,
# a C++ server answering a fixed ~400-byte chat completion), side by side in
# each round: direct, proxied, direct, proxied… Every proxied call is recorded
# (transcript written before the answer, ledger in signed batches).
# DELAY_MS makes the stand-in take that long per answer (0: none — the
# worst case for the proxy, where HTTP handling is all the work there is;
# a real model takes tens to thousands of ms).
# Goal: <= 0.5 ms added at p50, >= 0.8x the direct throughput.
# Usage: [DELAY_MS=0] bench/proxy.sh [ROUNDS] [CALLS_ONE_CLIENT] [CALLS_PER_CLIENT_16]   (after scripts/setup.sh)
set -euo pipefail
ROUNDS="${1:-3}"
ONE="${2:-3000}"
EACH="${3:-500}"
B="$(pwd)/build"
W="$(mktemp -d)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"' EXIT
"$B/distillgate" keys generate --out "$W/k" --name bench.example/proxy > /dev/null
"$B/distillgate" ledger init --ledger "$W/l.db" --key "$W/k/ledger.key" --origin bench.example/proxy > /dev/null
"$B/bench/proxy_load" serve "${DELAY_MS:-0}" > "$W/up" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$W/up" ] && break; sleep 0.05; done
UP="http://127.0.0.1:$(cat "$W/up")/v1"
cat > "$W/job.json" <<JSON
{"name": "proxy-bench", "teachers": [{"id": "t", "kind": "api", "provider": "distillgate", "model": "fast-lm", "license": "MIT"}],
 "student": {"name": "s", "model_type": "llm"}, "use": {"commercial": false, "distribution": "internal", "purpose": "research"}}
JSON
"$B/distillgate" proxy --job "$W/job.json" --ledger "$W/l.db" --key "$W/k/ledger.key" --upstream "$UP" --out-dir "$W/out" \
  --listen 127.0.0.1:0 > "$W/proxy.log" 2>&1 &
PROXY=$!
PIDS+=($PROXY)
for _ in $(seq 100); do grep -q listening "$W/proxy.log" && break; sleep 0.05; done
PX="http://127.0.0.1:$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$W/proxy.log" | head -1)/v1"
L="$B/bench/proxy_load"
"$L" load "$UP" 4 200 > /dev/null; "$L" load "$PX" 4 200 > /dev/null   # warm-up
echo "stand-in upstream: ${DELAY_MS:-0} ms an answer; $(nproc) cores"
echo "round  1 client: direct p50/p99 ms | proxied p50/p99 ms | added p50 ms   16 clients: direct calls/s | proxied | ratio"
for r in $(seq "$ROUNDS"); do
  d1="$("$L" load "$UP" 1 "$ONE")"; p1="$("$L" load "$PX" 1 "$ONE")"
  d16="$("$L" load "$UP" 16 "$EACH")"; p16="$("$L" load "$PX" 16 "$EACH")"
  python3 - "$r" "$d1" "$p1" "$d16" "$p16" <<'PY'
import json, sys
r, d1, p1, d16, p16 = sys.argv[1], *map(json.loads, sys.argv[2:])
print(f"{r:>5}  {d1['p50_ms']:.3f}/{d1['p99_ms']:.3f} | {p1['p50_ms']:.3f}/{p1['p99_ms']:.3f} | {p1['p50_ms'] - d1['p50_ms']:+.3f}"
      f"   {d16['calls_per_s']:,.0f} | {p16['calls_per_s']:,.0f} | {p16['calls_per_s'] / d16['calls_per_s']:.2f}x"
      + ("" if d1['errors'] + p1['errors'] + d16['errors'] + p16['errors'] == 0 else "  (errors!)"))
PY
done
kill -TERM "$PROXY"; wait "$PROXY" || true
RUN="$(sed -n 's/.*run \([0-9a-f]*-[0-9]*\).*/\1/p' "$W/proxy.log" | head -1)"
"$B/distillgate" transcripts verify --ledger "$W/l.db" --run "$RUN" | head -1
