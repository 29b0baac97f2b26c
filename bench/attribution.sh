#!/usr/bin/env bash
# Attribution benchmark, byte-level LM modality (issue 15): a zoo trained by
# distillgate itself, every model a recorded run, queried only through
# `serve-teacher` (text answers), then `distillgate attribute` for every
# student and every control.
#
#   teachers  4 byte-GRUs on half A of Debian's word list (odd lines): widths
#             128, 128 (the same architecture, another seed: the hard pair), 96, 192
#   students  4 GRUs of 64 units, token-level KD (`distill-lm`, loss kd) from
#             one teacher each on half B (even lines) — a transfer set
#             disjoint from the teachers' data — at T = 1, 2, 4 and alpha 0.5..0.9
#   controls  CONTROLS (default 6) GRUs of 64 units trained on half B with no
#             teacher (other seeds)
#
# A student's references are the controls; a control's are the other controls.
# Reports, per probe budget: top-1 attribution accuracy (chance 1/4), the
# false-positive rate on controls at alpha = 0.05, and ROC AUC of -log p for
# true (student, its teacher) pairs against wrong-teacher and control pairs —
# for the data probes (the test) and the random-probe baseline — and wall time.
# Both distances are measured: jsd (the next-token distributions serve-teacher
# reports as logprobs) and prefix (answer text only).
# Usage: bench/attribution.sh [WORKDIR] [BUDGETS]   (after scripts/setup.sh; BUDGETS default "10 100 1000";
#        DISTANCES="jsd prefix", STATISTICS="relative absolute" (also: regression, with jsd only), POSITIONS=answer
#        (also: probe — the probe's own bytes scored teacher-forced, with jsd only), PROBE_LENGTH=12, CONTROLS=6, STEPS=300 and
#        SOFTEN=1 (the temperature of --soften) in the environment)
set -euo pipefail
W="${1:-$(mktemp -d)}"
BUDGETS="${2:-10 100 1000}"
DISTANCES="${DISTANCES:-jsd prefix}"
STATISTICS="${STATISTICS:-relative absolute}"
POSITIONS="${POSITIONS:-answer}"
PROBE_LENGTH="${PROBE_LENGTH:-12}"
CONTROLS="${CONTROLS:-6}"
SOFTEN="${SOFTEN:-1}"
STEPS="${STEPS:-300}"
mkdir -p "$W"
B="$(pwd)/build/distillgate"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
cd "$W"
start=$(date +%s)
[ -f k/ledger.key ] || "$B" keys generate --out k --name example.local/attribution > /dev/null
[ -f zoo.ledger ] || "$B" ledger init --ledger zoo.ledger --key k/ledger.key --origin example.local/attribution > /dev/null
grep -v "[^ -~]" /usr/share/dict/american-english | awk 'NR % 2 == 1' > half-a.txt
grep -v "[^ -~]" /usr/share/dict/american-english | awk 'NR % 2 == 0' > half-b.txt
use='"use": {"commercial": false, "distribution": "internal", "purpose": "research"}'
lm_job() {  # name hidden seed corpus
  cat > "$1.job.json" <<JSON
{"name": "$1", "teachers": [], "datasets": [{"id": "wamerican-$4", "license": "LicenseRef-SCOWL", "path": "$4.txt"}],
 "student": {"name": "$1", "model_type": "llm"}, $use,
 "training": {"arch": "byte-gru", "hidden": [$2], "steps": $STEPS, "seed": $3}, "output": {"model": "$1.pt"}}
JSON
  [ -f "$1.pt" ] || "$B" train-lm --job "$1.job.json" --ledger zoo.ledger --key k/ledger.key > /dev/null
}
kd_job() {  # name teacher seed T alpha
  cat > "$1.job.json" <<JSON
{"name": "$1", "teachers": [{"id": "$2", "kind": "local", "license": "MIT", "model_file": "$2.pt"}],
 "datasets": [{"id": "wamerican-half-b", "license": "LicenseRef-SCOWL", "path": "half-b.txt"}],
 "student": {"name": "$1", "model_type": "llm"}, $use,
 "training": {"arch": "byte-gru", "hidden": [64], "steps": $STEPS, "seed": $3, "loss": "kd", "temperature": $4, "alpha": $5},
 "output": {"model": "$1.pt"}}
JSON
  [ -f "$1.pt" ] || "$B" distill-lm --job "$1.job.json" --ledger zoo.ledger --key k/ledger.key > /dev/null
}
lm_job teacher-1 128 1 half-a
lm_job teacher-2 128 2 half-a
lm_job teacher-3 96 3 half-a
lm_job teacher-4 192 4 half-a
kd_job student-1 teacher-1 11 2 0.9
kd_job student-2 teacher-2 12 4 0.9
kd_job student-3 teacher-3 13 1 0.7
kd_job student-4 teacher-4 14 2 0.5
for c in $(seq "$CONTROLS"); do lm_job control-$c 64 $((20 + c)) half-b; done
CS=$(for c in $(seq "$CONTROLS"); do echo -n "control-$c "; done)
trained=$(date +%s)
declare -A URL
for m in teacher-{1..4} student-{1..4} $CS; do
  "$B" serve-teacher --model "$m.pt" --port 0 > "$m.serve" 2>&1 &
  PIDS+=($!)
done
for m in teacher-{1..4} student-{1..4} $CS; do
  for _ in $(seq 200); do grep -q listening "$m.serve" 2>/dev/null && break; sleep 0.1; done
  URL[$m]="http://127.0.0.1:$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$m.serve")/v1#$m"
done
teachers=()
for t in 1 2 3 4; do teachers+=(--teacher "teacher-$t=${URL[teacher-$t]}"); done
for pos in $POSITIONS; do
for st in $STATISTICS; do
for d in $DISTANCES; do
  [ "$st" != regression ] || [ "$d" = jsd ] || continue  # regression needs distributions
  [ "$pos" = answer ] || [ "$d" = jsd ] || continue      # so does scoring the probe
  for n in $BUDGETS; do
    for s in student-{1..4} $CS; do
      refs=()
      for c in $CS; do [ "$c" = "$s" ] || refs+=(--reference "${URL[$c]}"); done
      rc=0
      "$B" attribute --suspect "${URL[$s]}" "${teachers[@]}" "${refs[@]}" --probe-data half-b.txt --probes "$n" \
        --probe-length "$PROBE_LENGTH" --answer-bytes 8 --seed 7 --distance "$d" --statistic "$st" --positions "$pos" --soften "$SOFTEN" \
        --json > "attr-$pos-$st-$d-$n-$s.json" || rc=$?
      [ "$rc" -le 1 ] || { echo "attribute failed for $s (exit $rc)" >&2; exit "$rc"; }
    done
  done
done
done
done
end=$(date +%s)
"$B" ledger verify --ledger zoo.ledger --pubkey k/ledger.vkey | tail -1
python3 - "$BUDGETS" "$DISTANCES" "$STATISTICS" "$CONTROLS" "$POSITIONS" <<'PY'
import json, math, sys
controls = int(sys.argv[4])
positions = sys.argv[5].split()
budgets = sys.argv[1].split()
distances = sys.argv[2].split()
statistics = sys.argv[3].split()
def auc(pos, neg):
    s = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return s / (len(pos) * len(neg))
print("| positions | statistic | distance | queries per model and set | probes | top-1 (chance 25 %%) | students named for a wrong teacher | false positives on %d controls | ROC AUC | hardest true pair's Holm p |" % controls)
print("|---|---|---|---|---|---|---|---|---|---|")
for pos, st, d, n in [(pos, st, d, n) for pos in positions for st in statistics for d in distances for n in budgets
                      if (st != "regression" and pos == "answer") or d == "jsd"]:
    for key, label in (("", "data"), ("random_baseline", "random (baseline)")):
        hits, wrong, fp, tp, neg, worst = 0, 0, 0, [], [], 0.0
        for i in range(1, 5):
            j = json.load(open("attr-%s-%s-%s-%s-student-%d.json" % (pos, st, d, n, i)))
            j = j[key] if key else j
            hits += j["identified"] == "teacher-%d" % i
            wrong += j["identified"] not in (None, "teacher-%d" % i)
            for c in j["candidates"]:
                score = -math.log10(max(c["p"], 1e-300))
                (tp if c["id"] == "teacher-%d" % i else neg).append(score)
                if c["id"] == "teacher-%d" % i: worst = max(worst, c["p_holm"])
        for i in range(1, controls + 1):
            j = json.load(open("attr-%s-%s-%s-%s-control-%d.json" % (pos, st, d, n, i)))
            j = j[key] if key else j
            fp += j["identified"] is not None
            neg += [-math.log10(max(c["p"], 1e-300)) for c in j["candidates"]]
        print("| %s | %s | %s | %s | %s | %d/4 | %d/4 | %d/%d | %.3f | %.3g |" % (pos, st, d, n, label, hits, wrong, fp, controls, auc(tp, neg), worst))
PY
echo "wall: training $((trained - start)) s, serving and attribution $((end - trained)) s (2-core machines are noisy)"
