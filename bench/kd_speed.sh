#!/usr/bin/env bash
# KD training speed, side by side (issue 4): distillgate (C++, LibTorch, with
# every teacher call hashed and recorded in the ledger) against the same loop
# in PyTorch/Python (Debian's python3-torch, bench/kd_speed.py), same data,
# models, batch size and thread count. Also reports the share of distillgate's
# training time spent recording teacher calls (goal: <= 2 %).
# usage: bench/kd_speed.sh [WORKDIR]   (needs scripts/setup.sh and: apt-get install python3-torch)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="$ROOT/build/distillgate"
W="${1:-/tmp/dg-kd-speed}"
mkdir -p "$W"
cd "$W"
"$B" demo --dir "$W" > demo.log   # teacher, key, ledger (reused when present)
# The Python baselines build the same teacher architecture (bench/fmnist_teachers.py).
tarch=$(python3 -c 'import json; print(json.load(open("distillgate-teacher.pt.json"))["arch"])')
cat > speed.json <<JSON
{"name": "kd-speed",
 "teachers": [{"id": "fmnist-cnn-teacher", "kind": "local", "license": "MIT", "model_file": "distillgate-teacher.pt"}],
 "datasets": [{"id": "fashion-mnist", "path": "/usr/share/datasets/fashion-mnist", "license": "MIT"}],
 "student": {"name": "kd-speed", "model_type": "classifier", "architecture": "mlp"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "mlp", "hidden": [64, 64], "loss": "kd", "temperature": 4, "alpha": 0.9, "epochs": 1,
              "batch_size": 128, "lr": 0.001, "seed": 1},
 "output": {"model": "kd-speed.pt"}}
JSON
threads=$(nproc)
for round in 1 2 3; do
  cpp=$("$B" run --job speed.json --ledger distillgate.ledger --key distillgate-keys/ledger.key --quiet --json)
  # PyTorch twice: with the same threads as distillgate's trainer (OpenMP
  # only: it keeps OpenBLAS to one thread a call, src/train/distill.cc), and
  # as Python starts by default (OpenBLAS's own pool beside OpenMP's).
  py=$(OPENBLAS_NUM_THREADS=1 DG_TEACHER_ARCH="$tarch" /usr/bin/python3 "$ROOT/bench/kd_speed.py" "$threads")
  py_default=$(env -u OPENBLAS_NUM_THREADS DG_TEACHER_ARCH="$tarch" /usr/bin/python3 "$ROOT/bench/kd_speed.py" "$threads")
  /usr/bin/python3 - "$cpp" "$py" "$py_default" <<'PY'
import json, sys
c, p, d = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
c_rate = 60000 / c["train_seconds"]
print(f"distillgate {c_rate:,.0f} samples/s ({c['train_seconds']:.1f} s, {c['teacher_calls']} teacher calls recorded) "
      f"vs PyTorch {p['torch']} in Python, same threads {p['samples_per_s']:,.0f} samples/s ({p['seconds']:.1f} s): ratio {c_rate / p['samples_per_s']:.2f}x (goal >= 1.0x); "
      f"Python with its default OpenBLAS pool {d['samples_per_s']:,.0f} samples/s: ratio {c_rate / d['samples_per_s']:.2f}x; "
      f"recording teacher calls: {c['recording_seconds']:.2f} s = {100 * c['recording_seconds'] / c['train_seconds']:.1f} % of training (goal <= 2 %)")
PY
done
