#!/usr/bin/env bash
# The language-model example of issue 6, end to end, with its metrics:
# train-lm trains a byte-level GRU teacher on Debian's word list (a gated,
# recorded run), serve-teacher serves it on 127.0.0.1, transcripts collect
# gathers N sampled answers (every call recorded), and distill-lm distils a
# smaller student from them beside a baseline trained on as many raw corpus
# bytes. Prints the teacher/student/baseline held-out bits per byte and the
# students' agreement with the teacher's next-byte choices.
# Usage: bench/lm_distill.sh [N_PROMPTS] [WORKDIR]   (from the repository root, after scripts/setup.sh)
set -euo pipefail
N="${1:-400}"
W="${2:-$(mktemp -d)}"
mkdir -p "$W"
B="$(pwd)/build/distillgate"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true' EXIT
cd "$W"
[ -f k/ledger.key ] || "$B" keys generate --out k --name example.local/lm-distill > /dev/null
[ -f lm.ledger ] || "$B" ledger init --ledger lm.ledger --key k/ledger.key --origin example.local/lm-distill > /dev/null
cat > teacher.job.json <<'JSON'
{"name": "words-lm", "teachers": [],
 "datasets": [{"id": "wamerican", "license": "LicenseRef-SCOWL", "path": "/usr/share/dict/american-english"}],
 "student": {"name": "words-lm", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "byte-gru", "hidden": [128], "steps": 300}, "output": {"model": "words-lm.pt"}}
JSON
"$B" train-lm --job teacher.job.json --ledger lm.ledger --key k/ledger.key
"$B" serve-teacher --model words-lm.pt --port 0 > serve.txt &
SERVER=$!
for _ in $(seq 100); do grep -q listening serve.txt 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' serve.txt)
cat > collect.job.json <<JSON
{"name": "collect-words-lm", "teachers": [{"id": "words-lm", "kind": "api", "provider": "distillgate", "model": "words-lm",
  "license": "MIT", "base_url": "http://127.0.0.1:$PORT"}],
 "student": {"name": "words-student", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"}}
JSON
python3 - "$N" <<'PY'
import json, random, sys
random.seed(1)
words = [w.strip() for w in open('/usr/share/dict/american-english') if w.strip().isascii()]
with open('prompts.jsonl', 'w') as f:
    for i in range(int(sys.argv[1])):
        f.write(json.dumps({"messages": [{"role": "user", "content": random.choice(words)[:3]}],
                            "max_tokens": 128, "temperature": 0.8, "seed": i}) + "\n")
PY
rm -rf transcript
"$B" transcripts collect --job collect.job.json --prompts prompts.jsonl --out-dir transcript --ledger lm.ledger --key k/ledger.key
cat > student.job.json <<'JSON'
{"name": "words-student", "teachers": [{"id": "words-lm", "kind": "api", "provider": "distillgate", "model": "words-lm",
  "license": "MIT", "model_file": "words-lm.pt",
  "transcript": {"format": "openai-batch", "path": "transcript/batch_input.jsonl", "output": "transcript/batch_output.jsonl"}}],
 "datasets": [{"id": "wamerican", "license": "LicenseRef-SCOWL", "path": "/usr/share/dict/american-english"}],
 "student": {"name": "words-student", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "byte-gru", "hidden": [64], "steps": 300}, "output": {"model": "words-student.pt"}}
JSON
"$B" distill-lm --job student.job.json --ledger lm.ledger --key k/ledger.key > distill.json
python3 - <<'PY'
import json
m = json.load(open('distill.json'))["metrics"]
print("held-out bits/byte: teacher %.3f, student (teacher outputs) %.3f, baseline (raw corpus bytes) %.3f"
      % (m["teacher_heldout_bits_per_byte"], m["student_heldout_bits_per_byte"], m["baseline_heldout_bits_per_byte"]))
print("agreement with the teacher's next-byte choices: on its own text %.1f %% vs %.1f %%; on held-out corpus %.1f %% vs %.1f %%"
      % (100 * m["student_agreement"], 100 * m["baseline_agreement"], 100 * m["student_heldout_agreement"], 100 * m["baseline_heldout_agreement"]))
print("training bytes: %d each" % m["training_bytes"])
PY
"$B" ledger verify --ledger lm.ledger --pubkey k/ledger.vkey | tail -1
