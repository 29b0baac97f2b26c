#!/usr/bin/env bash
# `distillgate proxy` with real clients: the official OpenAI SDK (npm
# `openai`, tests/node) and curl, through the proxy to `serve-teacher` (a
# byte-level LM trained here) — or, in a build without LibTorch, to the
# stand-in server tests/tools/fake_openai_server.py. Checks: a chat
# completion, a streamed one, a refused model, an upstream error, the model
# list; `kill -9` of the proxy while a client calls it, then a restart: every
# answer the client got is in the transcript and the ledger; 16 clients x 50
# calls, each recorded exactly once; then transcripts verify, report, ledger
# verify, and (with LibTorch) a student distilled from the proxy's transcript,
# attested and verified.
#
# Usage: proxy_sdk_test.sh BUILD_DIR   (ctest: proxy_sdk)
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
DG="$BUILD/distillgate"
NODE_DIR="$SRC/tests/node"
if ! command -v node >/dev/null || [ ! -d "$NODE_DIR/node_modules/openai" ]; then
  echo "proxy_sdk_test: the OpenAI SDK is not installed (scripts/setup.sh runs npm ci in tests/node)" >&2
  exit 1
fi
T="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
fail() { echo "proxy_sdk_test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
# The port a server printed on its first line ("listening on http://127.0.0.1:PORT…").
port_of() {
  for _ in $(seq 1 200); do
    local p
    p="$(sed -n 's|.*127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$1" | head -1)"
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.05
  done
  cat "$1" >&2
  fail "no listening line in $1"
}

"$DG" keys generate --out k --name proxy.example/l >/dev/null
"$DG" ledger init --ledger l.db --key k/ledger.key --origin proxy.example/l >/dev/null

# The upstream teacher.
if [ -x "$BUILD/distillgate-train" ]; then
  step "training a byte-level LM teacher and serving it"
  head -4000 /usr/share/dict/american-english | grep -v "'" > corpus.txt
  cat > lm.job.json <<'EOF'
{"name": "dict-lm", "teachers": [], "datasets": [{"id": "words", "license": "LicenseRef-SCOWL", "path": "corpus.txt"}],
 "student": {"name": "dict-lm", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "byte-gru", "embed": 16, "hidden": [64], "seq_len": 32, "batch_size": 16, "steps": 150},
 "output": {"model": "dict-lm.pt"}}
EOF
  "$DG" train-lm --job lm.job.json --ledger l.db --key k/ledger.key >/dev/null
  "$DG" serve-teacher --model dict-lm.pt --port 0 --max-tokens 16 > upstream.log 2>&1 &
  PIDS+=($!)
  MODEL=dict-lm
  ERROR_MODEL=dict-lm-2024-01-01   # allowed by the job (a dated snapshot); serve-teacher answers 404
  UPSTREAM_KIND=serve-teacher
else
  step "no LibTorch in this build: the stand-in upstream"
  python3 "$SRC/tests/tools/fake_openai_server.py" --fail-model fake-lm-2024-01-01 > upstream.log 2>&1 &
  PIDS+=($!)
  MODEL=fake-lm
  ERROR_MODEL=fake-lm-2024-01-01   # the stand-in answers 429
  UPSTREAM_KIND=stand-in
fi
for _ in $(seq 1 200); do [ -s upstream.log ] && break; sleep 0.05; done
UP="$(grep -o '[0-9][0-9]*$' upstream.log | head -1)"
[ -n "$UP" ] || fail "the upstream did not start: $(cat upstream.log)"

cat > job.json <<EOF
{"name": "sdk-distill", "teachers": [{"id": "t", "kind": "api", "provider": "distillgate", "model": "$MODEL", "license": "MIT"}],
 "student": {"name": "s", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"}}
EOF
export DG_TEST_API_KEY="sk-proxy-test-never-write-me"

start_proxy() {  # out dir, log
  "$DG" proxy --job job.json --ledger l.db --key k/ledger.key --upstream "http://127.0.0.1:$UP/v1" --out-dir "$1" \
    --listen 127.0.0.1:0 --json > "$2" 2>&1 &
  PROXY=$!
  PIDS+=($PROXY)
  PORT="$(port_of "$2")"
  BASE="http://127.0.0.1:$PORT/v1"
}
stop_proxy() {  # SIGTERM, wait; exit status must be 0
  kill -TERM "$PROXY"
  local rc=0
  wait "$PROXY" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$1" >&2; fail "the proxy exited $rc after SIGTERM"; }
}
run_of() { sed -n 's/.*run \([0-9a-f]*-[0-9]*\).*/\1/p' "$1" | head -1; }

step "SDK: chat completion plain and streamed, completion plain and streamed, refused model, upstream error ($UPSTREAM_KIND), model list"
start_proxy out1 proxy1.log
node "$NODE_DIR/proxy_client.mjs" check "$BASE" "$MODEL" gpt-4o "$ERROR_MODEL" || fail "the SDK checks"
step "curl"
code="$(curl -s -o curl.json -w '%{http_code}' "$BASE/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\": \"$MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"pear\"}]}")"
[ "$code" = 200 ] || fail "curl: HTTP $code $(cat curl.json)"
jq -e '.choices[0].message.content | type == "string"' curl.json >/dev/null || fail "curl: $(cat curl.json)"
code="$(curl -s -o refused.json -w '%{http_code}' "$BASE/chat/completions" -d '{"model": "o1", "messages": [{"role": "user", "content": "x"}]}')"
[ "$code" = 403 ] && jq -e '.error.code == "model_not_allowed"' refused.json >/dev/null || fail "curl refused: $code $(cat refused.json)"
stop_proxy proxy1.log
RUN1="$(run_of proxy1.log)"
# chat plain and streamed, completion plain and streamed, upstream error, curl = 6 calls (2 refused requests were not forwarded)
jq -e '.exchanges == 6 and .failed_calls == 1 and .refused_requests == 2 and .status == "completed"' \
  <(sed -n '/^{/,$p' proxy1.log) >/dev/null || fail "summary: $(cat proxy1.log)"
"$DG" transcripts verify --ledger l.db --run "$RUN1" >/dev/null || fail "transcripts verify $RUN1"
grep -q "stream\": *true" out1/batch_input.jsonl || fail "the streamed request is not in the transcript"

step "kill -9 while a client calls, then restart on the same out dir"
start_proxy out2 proxy2.log
node "$NODE_DIR/proxy_client.mjs" loop "$BASE" "$MODEL" 100000 got.jsonl > loop.log 2>&1 &
LOOP=$!
PIDS+=($LOOP)
for _ in $(seq 1 400); do [ -f got.jsonl ] && [ "$(wc -l < got.jsonl)" -ge 30 ] && break; sleep 0.05; done
kill -9 "$PROXY"
wait "$PROXY" 2>/dev/null || true
wait "$LOOP" || true
got="$(wc -l < got.jsonl)"
[ "$got" -ge 30 ] || fail "the client got only $got answers before the kill"
start_proxy out2 proxy3.log
grep -q "resumed" proxy3.log || fail "the restarted proxy did not resume: $(cat proxy3.log)"
curl -s -o /dev/null "$BASE/chat/completions" -d "{\"model\": \"$MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"after\"}]}"
stop_proxy proxy3.log
RUN2="$(run_of proxy3.log)"
[ "$RUN2" = "$(run_of proxy2.log)" ] || fail "the restart opened another run"
# Every answer the client received is in the transcript, which verifies against the ledger.
jq -r '.id' got.jsonl | sort > got.ids
jq -r 'select(.response.status_code == 200) | .response.body.id' out2/batch_output.jsonl | sort > recorded.ids
missing="$(comm -23 got.ids recorded.ids | wc -l)"
[ "$missing" -eq 0 ] || fail "$missing answers the client got are not in the transcript"
"$DG" transcripts verify --ledger l.db --run "$RUN2" > verify2.txt || fail "transcripts verify after the kill: $(cat verify2.txt)"
lines="$(wc -l < out2/batch_output.jsonl)"
grep -q "VERIFIED: $lines exchanges" verify2.txt || fail "not every transcript line is a recorded call: $(cat verify2.txt)"
echo "   the client got $got answers before the kill; $lines calls recorded, all verified"

step "16 clients x 50 calls"
start_proxy out3 proxy4.log
node "$NODE_DIR/proxy_client.mjs" concurrent "$BASE" "$MODEL" 16 50 ids.txt || fail "concurrent clients"
stop_proxy proxy4.log
RUN3="$(run_of proxy4.log)"
[ "$(sort ids.txt | uniq | wc -l)" -eq 800 ] || fail "800 distinct answers expected"
jq -r '.response.body.id' out3/batch_output.jsonl | sort > rec3.ids
[ "$(wc -l < rec3.ids)" -eq 800 ] && [ "$(uniq -d rec3.ids | wc -l)" -eq 0 ] || fail "each call recorded exactly once in the transcript"
"$DG" transcripts verify --ledger l.db --run "$RUN3" | grep -q "VERIFIED: 800 exchanges" || fail "transcripts verify: 800 calls in the ledger"

step "report, ledger verify; the key is written nowhere"
"$DG" report --ledger l.db --run "$RUN3" --format json,md --out rep > /dev/null || fail "report"
jq -e '.transcripts' rep/*.json > /dev/null || fail "the report has no transcripts section"
"$DG" ledger verify --ledger l.db --pubkey k/ledger.pub > /dev/null || fail "ledger verify"
if grep -rqa "$DG_TEST_API_KEY" . ; then fail "the API key was written to disk"; fi

if [ "$UPSTREAM_KIND" = serve-teacher ]; then
  step "a student distilled from the proxy's transcript, attested and verified"
  cat > distill.job.json <<EOF
{"name": "dict-student", "teachers": [{"id": "t", "kind": "api", "provider": "distillgate", "model": "$MODEL", "license": "MIT",
   "model_file": "dict-lm.pt", "transcript": {"format": "openai-batch", "path": "out3/batch_input.jsonl", "output": "out3/batch_output.jsonl"}}],
 "datasets": [{"id": "words", "license": "LicenseRef-SCOWL", "path": "corpus.txt"}],
 "student": {"name": "dict-student", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "byte-gru", "embed": 16, "hidden": [32], "seq_len": 32, "batch_size": 16, "steps": 40},
 "output": {"model": "dict-student.pt"}}
EOF
  "$DG" distill-lm --job distill.job.json --ledger l.db --key k/ledger.key > distill.json || fail "distill-lm: $(cat distill.json)"
  RUN4="$(jq -r .run distill.json)"
  "$DG" attest --ledger l.db --key k/ledger.key --run "$RUN4" --model dict-student.pt --out bundle.json > /dev/null || fail "attest"
  "$DG" verify --model dict-student.pt --bundle bundle.json --vkey k/ledger.vkey > /dev/null || fail "verify the attestation"
fi
echo "proxy_sdk_test: ok ($UPSTREAM_KIND upstream)"
