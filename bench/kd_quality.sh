#!/usr/bin/env bash
# Distillation quality on Fashion-MNIST (issue 4): teacher vs hard-label
# student vs KD student, in the setting where distillation matters (1,000
# labelled images, teacher outputs on all 60,000) and with all labels.
# Every run goes through `distillgate run`: gated, recorded, verified.
#
# usage: bench/kd_quality.sh [WORKDIR] [SEEDS]     (default /tmp/dg-kd-quality, "1 2 3")
# Needs a built tree (scripts/setup.sh). About 3-4 minutes per seed on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="$ROOT/build/distillgate"
W="${1:-/tmp/dg-kd-quality}"
SEEDS="${2:-1 2 3}"
mkdir -p "$W"
cd "$W"
# Teacher, key, ledger and policy: the demo's defaults (reused when present).
"$B" demo --dir "$W" > demo.log
DATA=/usr/share/datasets/fashion-mnist
job() {  # name loss labelled epochs seed
  cat > "$1.json" <<JSON
{"name": "$1",
 "teachers": [{"id": "fmnist-cnn-teacher", "kind": "local", "license": "MIT", "model_file": "distillgate-teacher.pt"}],
 "datasets": [{"id": "fashion-mnist", "path": "$DATA", "license": "MIT"}],
 "student": {"name": "$1", "model_type": "classifier", "architecture": "mlp"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "mlp", "hidden": [64, 64], "loss": "$2", "temperature": 4, "alpha": 0.9,
              "labelled_examples": $3, "epochs": $4, "batch_size": 128, "lr": 0.001, "seed": $5},
 "output": {"model": "$1.pt"}}
JSON
}
acc() { "$B" run --job "$1.json" --ledger distillgate.ledger --key distillgate-keys/ledger.key --quiet --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["student_accuracy"])'; }
teacher=$(python3 -c 'import json; print(json.load(open("distillgate-teacher.pt.json"))["sha256"][:12])')
echo "teacher model sha256 ${teacher}…"
for s in $SEEDS; do
  # Hard labels only see the 1,000 labelled images; 180 epochs of them take
  # as many optimiser steps (~1,400) as 3 KD epochs over 60,000 images.
  job "hard-1k-s$s" hard 1000 180 "$s"; job "kd-1k-s$s" kd 1000 3 "$s"
  echo "seed $s: hard-label(1k) $(acc "hard-1k-s$s")  kd(1k labels + 60k teacher outputs) $(acc "kd-1k-s$s")"
done
job hard-all hard 0 3 1; job kd-all kd 0 3 1
echo "all labels, seed 1: hard-label $(acc hard-all)  kd $(acc kd-all)"
"$B" ledger verify --ledger distillgate.ledger --pubkey distillgate-keys/ledger.vkey
grep -E "teacher:" demo.log || true
