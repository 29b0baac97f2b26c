#!/usr/bin/env bash
# Attribution benchmark, image modality (issue 15): a Fashion-MNIST zoo trained
# by distillgate itself, every model a recorded run, then `distillgate
# attribute` for every student and every control, with the model files as
# black boxes (their class probabilities on image probes).
#
#   halves    Fashion-MNIST's training split cut in two: half A (images 0–29,999)
#             for the teachers, half B (30,000–59,999) for students and controls — a
#             transfer set disjoint from the teachers' data; probes come from the test split
#   teachers  6: cnn (seeds 1, 2: the same architecture, another seed — the hard pair),
#             mlp [256] (seeds 3, 4: a second hard pair), mlp [512, 256], mlp [128]
#   students  6 distilled (`run`, loss kd) on half B, one per teacher, of several
#             architectures (mlp [64], mlp [128], cnn) at T = 1, 2, 4, 8 and alpha 0.5–0.9,
#             and 2 of them fine-tuned one more epoch on hard labels after distillation
#             (`train-teacher` with training.init_from, the student declared as base_model)
#   controls  models of the students' architectures on half B with no teacher: CONTROLS (default 5)
#             mlp [64], CONTROLS-1 mlp [128] and CONTROLS-1 cnn, other seeds
#
# References are of the suspect's kind (docs/attribution.md, Assumptions): a suspect's references
# are the controls of its architecture (a control's: the others of its architecture). With
# REFERENCES=all every control is a reference for every suspect (mixed architectures: the null
# is then as wide as the architectures are far apart).
# Reports, per probe budget (probes per model in the test set; the random
# baseline set has as many): top-1 attribution accuracy (chance 1/6), false
# positives on controls at alpha = 0.05, and ROC AUC of -log p for true
# (student, its teacher) pairs against wrong-teacher and control pairs — for
# the mixup probes (the test) and the uniform-noise baseline — with the
# same-seed pairs reported separately, and the wall time.
# Usage: bench/attribution_images.sh [WORKDIR] [BUDGETS]   (after scripts/setup.sh; BUDGETS default "10 100 1000";
#        DISTANCES="jsd prefix" (prefix: top-1 disagreement), STATISTICS="relative" (also: absolute, regression —
#        regression with jsd only), CONTROLS=5, EPOCHS=3, SOFTEN=1, REFERENCES=arch|all in the environment)
set -euo pipefail
W="${1:-$(mktemp -d)}"
BUDGETS="${2:-10 100 1000}"
DISTANCES="${DISTANCES:-jsd prefix}"
STATISTICS="${STATISTICS:-relative}"
CONTROLS="${CONTROLS:-5}"
REFERENCES="${REFERENCES:-arch}"
EPOCHS="${EPOCHS:-3}"
SOFTEN="${SOFTEN:-1}"
FASHION=/usr/share/datasets/fashion-mnist
mkdir -p "$W"
B="$(pwd)/build/distillgate"
cd "$W"
start=$(date +%s)
[ -f k/ledger.key ] || "$B" keys generate --out k --name example.local/attribution-images > /dev/null
[ -f zoo.ledger ] || "$B" ledger init --ledger zoo.ledger --key k/ledger.key --origin example.local/attribution-images > /dev/null
# The two halves, as IDX directories (the test split beside each).
python3 - "$FASHION" <<'PY'
import gzip, os, struct, sys
src = sys.argv[1]
def read(name):
    with gzip.open(os.path.join(src, name)) as f:
        return f.read()
images, labels = read("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz")
for half, (lo, hi) in (("half-a", (0, 30000)), ("half-b", (30000, 60000))):
    os.makedirs(half, exist_ok=True)
    n = hi - lo
    with open(os.path.join(half, "train-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images[16 + lo * 784:16 + hi * 784])
    with open(os.path.join(half, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels[8 + lo:8 + hi])
    for t in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        if not os.path.exists(os.path.join(half, t)):
            os.symlink(os.path.join(src, t), os.path.join(half, t))
PY
use='"use": {"commercial": false, "distribution": "internal", "purpose": "research"}'
train() {  # name half training-json [base_model-json]
  local base=""
  [ -z "${4:-}" ] || base=", \"base_model\": $4"
  cat > "$1.job.json" <<JSON
{"name": "$1", "teachers": [], "datasets": [{"id": "fashion-mnist-$2", "license": "MIT", "path": "$2"}],
 "student": {"name": "$1", "model_type": "classifier"$base}, $use, "training": $3, "output": {"model": "$1.pt"}}
JSON
  [ -f "$1.pt" ] || "$B" train-teacher --job "$1.job.json" --ledger zoo.ledger --key k/ledger.key --quiet > /dev/null
}
distil() {  # name teacher training-json
  cat > "$1.job.json" <<JSON
{"name": "$1", "teachers": [{"id": "$2", "kind": "local", "license": "MIT", "model_file": "$2.pt"}],
 "datasets": [{"id": "fashion-mnist-half-b", "license": "MIT", "path": "half-b"}],
 "student": {"name": "$1", "model_type": "classifier"}, $use, "training": $3, "output": {"model": "$1.pt"}}
JSON
  [ -f "$1.pt" ] || "$B" run --job "$1.job.json" --ledger zoo.ledger --key k/ledger.key --quiet > /dev/null
}
train teacher-1 half-a "{\"arch\": \"cnn\", \"epochs\": $EPOCHS, \"seed\": 1}"
train teacher-2 half-a "{\"arch\": \"cnn\", \"epochs\": $EPOCHS, \"seed\": 2}"
train teacher-3 half-a "{\"arch\": \"mlp\", \"hidden\": [256], \"epochs\": $EPOCHS, \"seed\": 3}"
train teacher-4 half-a "{\"arch\": \"mlp\", \"hidden\": [256], \"epochs\": $EPOCHS, \"seed\": 4}"
train teacher-5 half-a "{\"arch\": \"mlp\", \"hidden\": [512, 256], \"epochs\": $EPOCHS, \"seed\": 5}"
train teacher-6 half-a "{\"arch\": \"mlp\", \"hidden\": [128], \"epochs\": $EPOCHS, \"seed\": 6}"
distil student-1 teacher-1 "{\"arch\": \"mlp\", \"hidden\": [64], \"epochs\": $EPOCHS, \"seed\": 11, \"temperature\": 4, \"alpha\": 0.9}"
distil student-2 teacher-2 "{\"arch\": \"mlp\", \"hidden\": [64], \"epochs\": $EPOCHS, \"seed\": 12, \"temperature\": 2, \"alpha\": 0.5}"
distil student-3 teacher-3 "{\"arch\": \"cnn\", \"epochs\": $EPOCHS, \"seed\": 13, \"temperature\": 4, \"alpha\": 0.9}"
distil student-4 teacher-4 "{\"arch\": \"mlp\", \"hidden\": [128], \"epochs\": $EPOCHS, \"seed\": 14, \"temperature\": 1, \"alpha\": 0.7}"
distil student-5 teacher-5 "{\"arch\": \"mlp\", \"hidden\": [64], \"epochs\": $EPOCHS, \"seed\": 15, \"temperature\": 8, \"alpha\": 0.9}"
distil student-6 teacher-6 "{\"arch\": \"mlp\", \"hidden\": [64], \"epochs\": $EPOCHS, \"seed\": 16, \"temperature\": 4, \"alpha\": 0.9}"
# Fine-tuned one more epoch on hard labels after distillation (student-7 from student-1, student-8 from student-3).
train student-7 half-b '{"arch": "mlp", "hidden": [64], "epochs": 1, "seed": 17, "init_from": "student-1.pt"}' '{"name": "student-1", "license": "MIT"}'
train student-8 half-b '{"arch": "cnn", "epochs": 1, "seed": 18, "init_from": "student-3.pt"}' '{"name": "student-3", "license": "MIT"}'
# Controls of the students' architectures.
declare -A ARCH=([student-1]=mlp64 [student-2]=mlp64 [student-3]=cnn [student-4]=mlp128 [student-5]=mlp64 [student-6]=mlp64
                 [student-7]=mlp64 [student-8]=cnn)
: > controls.txt
for c in $(seq "$CONTROLS"); do
  train control-mlp64-$c half-b "{\"arch\": \"mlp\", \"hidden\": [64], \"epochs\": $EPOCHS, \"seed\": $((20 + c))}"
  echo "control-mlp64-$c mlp64" >> controls.txt
done
for c in $(seq $((CONTROLS - 1))); do
  train control-mlp128-$c half-b "{\"arch\": \"mlp\", \"hidden\": [128], \"epochs\": $EPOCHS, \"seed\": $((40 + c))}"
  train control-cnn-$c half-b "{\"arch\": \"cnn\", \"epochs\": $EPOCHS, \"seed\": $((60 + c))}"
  echo "control-mlp128-$c mlp128" >> controls.txt
  echo "control-cnn-$c cnn" >> controls.txt
done
while read -r c a; do ARCH[$c]=$a; done < controls.txt
CS=$(cut -d' ' -f1 controls.txt | tr '\n' ' ')
trained=$(date +%s)
teachers=()
for t in 1 2 3 4 5 6; do teachers+=(--teacher "teacher-$t=teacher-$t.pt"); done
for d in $DISTANCES; do
 for st in $STATISTICS; do
  [ "$st" != regression ] || [ "$d" = jsd ] || continue
  for n in $BUDGETS; do
    for s in student-{1..8} $CS; do
      refs=()
      for c in $CS; do
        [ "$c" != "$s" ] || continue
        [ "$REFERENCES" = all ] || [ "${ARCH[$c]}" = "${ARCH[$s]}" ] || continue
        refs+=(--reference "$c.pt")
      done
      rc=0
      "$B" attribute --suspect "$s.pt" "${teachers[@]}" "${refs[@]}" --probe-data "$FASHION" --probes "$n" \
        --seed 7 --distance "$d" --statistic "$st" --soften "$SOFTEN" --json > "attr-$d-$st-$n-$s.json" || rc=$?
      [ "$rc" -le 1 ] || { echo "attribute failed for $s (exit $rc)" >&2; exit "$rc"; }
    done
  done
 done
done
end=$(date +%s)
"$B" ledger verify --ledger zoo.ledger --pubkey k/ledger.vkey | tail -1
for m in teacher-{1..6} student-{1..8} $CS; do
  python3 -c "import json,sys; j=json.load(open('$m.job.json')); print('$m', json.dumps(j['training']))"
done > zoo.txt
python3 - "$BUDGETS" "$DISTANCES" "$STATISTICS" <<'PY'
import json, math, sys
budgets, distances, statistics = sys.argv[1].split(), sys.argv[2].split(), sys.argv[3].split()
control_names = [line.split()[0] for line in open("controls.txt")]
controls = len(control_names)
teacher = {"student-%d" % i: "teacher-%d" % t for i, t in zip(range(1, 9), (1, 2, 3, 4, 5, 6, 1, 3))}
hard = {"student-1", "student-2", "student-3", "student-4", "student-7", "student-8"}  # their teacher has a same-architecture twin
def auc(pos, neg):
    s = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return s / (len(pos) * len(neg))
print("| distance | statistic | probes per model and set | probes | top-1, all 8 (chance 1/6) | of them: teacher has a same-arch twin (6) | fine-tuned (2) | false positives on %d controls | ROC AUC | hardest true pair's Holm p |" % controls)
print("|---|---|---|---|---|---|---|---|---|---|")
for d, st in [(d, st) for d in distances for st in statistics if st != "regression" or d == "jsd"]:
    for n in budgets:
        for key, label in (("", "mixup (the test)"), ("random_baseline", "noise (baseline)")):
            hits, twins, tuned, fp, pos, neg, worst = 0, 0, 0, 0, [], [], 0.0
            for s, t in teacher.items():
                j = json.load(open("attr-%s-%s-%s-%s.json" % (d, st, n, s)))
                j = j[key] if key else j
                hits += j["identified"] == t
                tuned += s in ("student-7", "student-8") and j["identified"] == t
                twins += s in hard and j["identified"] == t
                for c in j["candidates"]:
                    score = -math.log10(max(c["p"], 1e-300))
                    (pos if c["id"] == t else neg).append(score)
                    if c["id"] == t: worst = max(worst, c["p_holm"])
            for c in control_names:
                j = json.load(open("attr-%s-%s-%s-%s.json" % (d, st, n, c)))
                j = j[key] if key else j
                fp += j["identified"] is not None
                neg += [-math.log10(max(c["p"], 1e-300)) for c in j["candidates"]]
            print("| %s | %s | %s | %s | %d/8 | %d/6 | %d/2 | %d/%d | %.3f | %.3g |" % (d, st, n, label, hits, twins, tuned, fp, controls, auc(pos, neg), worst))
PY
echo "wall: training $((trained - start)) s, attribution $((end - trained)) s (2-core machines are noisy)"
