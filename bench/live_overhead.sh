#!/usr/bin/env bash
# Live API-teacher calls (issue 6): the recording overhead per call against
# the call's latency, `distillgate transcripts collect` against
# `distillgate serve-teacher` on 127.0.0.1, serving a byte-level LM that the
# script first trains with `train-lm` on Debian's word list (a gated run).
# `--fake` uses the tests' stand-in server (Python http.server, no model).
# Usage: [MAX_TOKENS=64] bench/live_overhead.sh [N_PROMPTS] [--fake]   (from the repository root, after scripts/setup.sh)
set -euo pipefail
N="${1:-500}"
MODE="${2:-serve-teacher}"
B="$(pwd)/build/distillgate"
W="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$W"' EXIT
"$B" keys generate --out "$W/k" --name bench.example/live > /dev/null
"$B" ledger init --ledger "$W/l.db" --key "$W/k/ledger.key" --origin bench.example/live > /dev/null
if [ "$MODE" = "--fake" ]; then
  MODEL=fake-lm
  python3 tests/tools/fake_openai_server.py > "$W/port" &
  SERVER=$!
  for _ in $(seq 50); do [ -s "$W/port" ] && break; sleep 0.1; done
  PORT=$(cat "$W/port")
else
  MODEL=words-lm
  cat > "$W/lm.job.json" <<JSON
{"name": "words-lm", "teachers": [],
 "datasets": [{"id": "wamerican", "license": "LicenseRef-SCOWL", "path": "/usr/share/dict/american-english"}],
 "student": {"name": "words-lm", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "byte-gru", "hidden": [128], "steps": 300}, "output": {"model": "$W/words-lm.pt"}}
JSON
  "$B" train-lm --job "$W/lm.job.json" --ledger "$W/l.db" --key "$W/k/ledger.key" > /dev/null
  "$B" serve-teacher --model "$W/words-lm.pt" --port 0 > "$W/port" &
  SERVER=$!
  for _ in $(seq 100); do grep -q listening "$W/port" 2>/dev/null && break; sleep 0.1; done
  PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$W/port")
fi
cat > "$W/job.json" <<JSON
{"name": "live-bench", "teachers": [{"id": "lm", "kind": "api", "provider": "distillgate", "model": "$MODEL",
 "license": "MIT", "base_url": "http://127.0.0.1:$PORT"}],
 "student": {"name": "s", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"}}
JSON
python3 -c "
import json
with open('$W/prompts.jsonl', 'w') as f:
    for i in range($N):
        f.write(json.dumps({'messages': [{'role': 'user', 'content': 'word %d: ' % i}], 'max_tokens': ${MAX_TOKENS:-64}}) + '\n')"
START=$(date +%s.%N)
"$B" transcripts collect --job "$W/job.json" --prompts "$W/prompts.jsonl" --out-dir "$W/out" \
    --ledger "$W/l.db" --key "$W/k/ledger.key" --json > "$W/summary.json"
END=$(date +%s.%N)
python3 - "$W/summary.json" "$START" "$END" "$N" "$MODE" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
n = int(sys.argv[4])
call, rec = s["call_seconds"], s["recording_seconds"]
print(f"{sys.argv[5]}: {s['exchanges']} live calls in {wall:.2f} s: waiting for the endpoint {call:.3f} s ({1000*call/n:.3f} ms a call), "
      f"recording {rec:.3f} s ({1000*rec/n:.4f} ms a call) = {100*rec/call:.2f} % of the call latency (goal <= 1 %)")
PY
