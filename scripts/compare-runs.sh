#!/usr/bin/env bash
# Runs one small job of every run kind with the distillgate binaries in BIN
# (distillgate and distillgate-train) in DIR, then prints every ledger entry
# as JSON Lines with the fields that differ from one execution to the next
# (times, durations, the serving port) masked. Two builds that record the same
# runs print the same text: the check that a refactor changed no entry.
#   scripts/compare-runs.sh BIN DIR > entries.jsonl
set -euo pipefail
BIN=$(cd "$1" && pwd); DIR=$2
B="$BIN/distillgate"
rm -rf "$DIR"; mkdir -p "$DIR"; cd "$DIR"
DATA=/usr/share/datasets/fashion-mnist
"$B" keys generate --out k --name golden.example/l >/dev/null
"$B" ledger init --ledger l.db --key k/ledger.key --origin golden.example/l >/dev/null
L=(--ledger l.db --key k/ledger.key)
use='{"commercial":false,"distribution":"internal","purpose":"research"}'
cat > teacher.job.json <<J
{"name":"t","teachers":[],"datasets":[{"id":"fmnist","path":"$DATA","license":"MIT"}],
 "student":{"name":"t","model_type":"classifier","architecture":"cnn"},"use":$use,
 "training":{"epochs":1,"seed":1,"train_limit":2000},"output":{"model":"t.pt"}}
J
cat > kd.job.json <<J
{"name":"kd","teachers":[{"id":"t","kind":"local","license":"MIT","model_file":"t.pt"}],
 "datasets":[{"id":"fmnist","path":"$DATA","license":"MIT"},{"id":"extra","path":"extra.jsonl","license":"CC0-1.0"}],
 "student":{"name":"s","model_type":"classifier","architecture":"mlp"},"use":$use,
 "training":{"arch":"mlp","hidden":[32],"epochs":1,"seed":2,"train_limit":2000,"labelled_examples":100},"output":{"model":"s.pt"}}
J
printf '{"a":1}\n{"b":[2,3]}\n' > extra.jsonl
cat > denied.job.json <<J
{"name":"denied","teachers":[{"id":"gpt","kind":"api","provider":"OpenAI","model":"gpt-4o","license":"openai-services-agreement"}],
 "student":{"name":"assistant","model_type":"llm"},
 "use":{"commercial":true,"distribution":"api_service","purpose":"production","product_category":"general_assistant","competes_with":["OpenAI"]}}
J
python3 - <<'P' > corpus.txt
w = ["apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "plum"]
print("\n".join(w[(i * 7) % 8] for i in range(3000)))
P
cat > lm.job.json <<J
{"name":"lm","teachers":[],"datasets":[{"id":"fruit","license":"MIT","path":"corpus.txt"}],
 "student":{"name":"lm","model_type":"llm"},"use":$use,
 "training":{"arch":"byte-gru","embed":16,"hidden":[32],"seq_len":32,"batch_size":8,"steps":30},"output":{"model":"lm.pt"}}
J
cat > tokkd.job.json <<J
{"name":"tokkd","teachers":[{"id":"lm","kind":"local","license":"MIT","model_file":"lm.pt"}],
 "datasets":[{"id":"fruit","license":"MIT","path":"corpus.txt"}],
 "student":{"name":"tok","model_type":"llm"},"use":$use,
 "training":{"arch":"byte-gru","embed":16,"hidden":[16],"seq_len":32,"batch_size":8,"steps":20,"loss":"kd"},"output":{"model":"tok.pt"}}
J
"$B" check --job denied.job.json "${L[@]}" >/dev/null || true
"$B" train-teacher --job teacher.job.json "${L[@]}" --quiet >/dev/null
"$B" run --job kd.job.json "${L[@]}" --quiet >/dev/null
"$B" run --job denied.job.json "${L[@]}" --quiet >/dev/null 2>&1 || true
"$B" train-lm --job lm.job.json "${L[@]}" >/dev/null
"$B" distill-lm --job tokkd.job.json "${L[@]}" >/dev/null
"$B" serve-teacher --model lm.pt --port "${PORT:-47391}" > serve.out &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for i in $(seq 50); do grep -q listening serve.out 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' serve.out)
cat > collect.job.json <<J
{"name":"collect","teachers":[{"id":"lm","kind":"api","provider":"distillgate","model":"lm","license":"MIT","base_url":"http://127.0.0.1:$PORT"}],
 "student":{"name":"c","model_type":"llm"},"use":$use}
J
for i in $(seq 12); do printf '{"messages":[{"role":"user","content":"%s"}],"max_tokens":24}\n' "$(printf '%s' abcglmpqrstu | cut -c$i)"; done > prompts.jsonl
"$B" transcripts collect --job collect.job.json --prompts prompts.jsonl --out-dir out "${L[@]}" >/dev/null
kill $SERVER; wait $SERVER 2>/dev/null || true
cat > record.job.json <<J
{"name":"record","teachers":[{"id":"lm","kind":"api","provider":"distillgate","model":"lm","license":"MIT",
 "transcript":{"format":"openai-batch","path":"out/batch_input.jsonl","output":"out/batch_output.jsonl"}}],
 "student":{"name":"r","model_type":"llm"},"use":$use}
J
"$B" transcripts record --job record.job.json "${L[@]}" >/dev/null
cat > seqkd.job.json <<J
{"name":"seqkd","teachers":[{"id":"lm","kind":"api","provider":"distillgate","model":"lm","license":"MIT","model_file":"lm.pt",
 "transcript":{"format":"openai-batch","path":"out/batch_input.jsonl","output":"out/batch_output.jsonl"}}],
 "datasets":[{"id":"fruit","license":"MIT","path":"corpus.txt"}],
 "student":{"name":"seq","model_type":"llm"},"use":$use,
 "training":{"arch":"byte-gru","embed":16,"hidden":[16],"seq_len":16,"batch_size":8,"steps":20},"output":{"model":"seq.pt"}}
J
"$B" distill-lm --job seqkd.job.json "${L[@]}" >/dev/null
"$B" ledger verify --ledger l.db --pubkey k/ledger.vkey >&2
"$B" ledger show --ledger l.db --json | python3 -c '
import json, re, sys
def mask(v, k=""):
    if isinstance(v, dict): return {kk: mask(vv, kk) for kk, vv in v.items()}
    if isinstance(v, list): return [mask(x, k) for x in v]
    if isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v): return "<time>"
    # what depends on the clock: durations, and the hashes of what holds a time
    if k.endswith("seconds") or k in ("teacher_calls_root", "response_sha256", "response_id"): return "<varies>"
    return v
def files(v):  # the collected output file holds the answers times
    if isinstance(v, dict):
        if str(v.get("path", "")).endswith("batch_output.jsonl") and "sha256" in v: v["sha256"] = "<varies>"
        for x in v.values(): files(x)
    elif isinstance(v, list):
        for x in v: files(x)
    return v
for line in sys.stdin:
    e = json.loads(line)
    print(json.dumps({"index": e["index"], "kind": e["kind"], "entry": files(mask(e["entry"]))}, sort_keys=True))
'
