#!/usr/bin/env bash
# Live API-teacher calls (issue 6): recording overhead per call against the
# call's latency, `distillgate transcripts collect` against a loopback
# OpenAI-compatible server. Until `serve-teacher` exists, the server is the
# tests' stand-in (tests/tools/fake_openai_server.py, Python http.server).
# Usage: bench/live_overhead.sh [N_PROMPTS]   (from the repository root, after scripts/setup.sh)
set -euo pipefail
N="${1:-1000}"
B="$(pwd)/build/distillgate"
W="$(mktemp -d)"
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$W"' EXIT
python3 tests/tools/fake_openai_server.py > "$W/port" &
SERVER=$!
for _ in $(seq 50); do [ -s "$W/port" ] && break; sleep 0.1; done
PORT=$(cat "$W/port")
cat > "$W/job.json" <<JSON
{"name": "live-bench", "teachers": [{"id": "lm", "kind": "api", "provider": "distillgate", "model": "fake-lm",
 "license": "MIT", "base_url": "http://127.0.0.1:$PORT"}],
 "student": {"name": "s", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"}}
JSON
python3 -c "
import json
with open('$W/prompts.jsonl', 'w') as f:
    for i in range($N):
        f.write(json.dumps({'messages': [{'role': 'user', 'content': 'Explain item %d in one sentence.' % i}]}) + '\n')"
"$B" keys generate --out "$W/k" --name bench.example/live > /dev/null
"$B" ledger init --ledger "$W/l.db" --key "$W/k/ledger.key" --origin bench.example/live > /dev/null
START=$(date +%s.%N)
"$B" transcripts collect --job "$W/job.json" --prompts "$W/prompts.jsonl" --out-dir "$W/out" \
    --ledger "$W/l.db" --key "$W/k/ledger.key" --json > "$W/summary.json"
END=$(date +%s.%N)
python3 - "$W/summary.json" "$START" "$END" "$N" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
n = int(sys.argv[4])
call, rec = s["call_seconds"], s["recording_seconds"]
print(f"{s['exchanges']} live calls in {wall:.2f} s: waiting for the endpoint {call:.3f} s ({1000*call/n:.3f} ms a call), "
      f"recording {rec:.3f} s ({1000*rec/n:.4f} ms a call) = {100*rec/call:.2f} % of the call latency (goal <= 1 %)")
PY
