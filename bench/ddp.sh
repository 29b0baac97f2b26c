#!/usr/bin/env bash
# Data-parallel KD speed (issue 16), side by side in one run on this host:
#   distillgate  1 rank × all cores (`run`)  and  2 ranks × half the cores each
#                (`run --nproc 2`: c10d Gloo, every rank's calls recorded by rank 0)
#   PyTorch      the same loop in Python (Debian's python3-torch): 1 process
#                (bench/kd_speed.py) and DistributedDataParallel over Gloo with 2
#                processes (bench/ddp_speed.py)
# Same data (Fashion-MNIST, 60,000 images), the demo's teacher, MLP [64, 64]
# student, KD T = 4 / alpha 0.9, Adam 1e-3, batch 128 per rank, 1 epoch and a
# test evaluation. Also rank 0's share of training time spent waiting for
# gradient all-reduces after backward (what the overlap did not hide).
# On a 2-core machine 2 ranks × 1 thread cannot beat 1 × 2 by much: the
# figures show what the ranks cost, not a speed-up.
# usage: bench/ddp.sh [WORKDIR] [ROUNDS]   (after scripts/setup.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="$ROOT/build/distillgate"
W="${1:-/tmp/dg-ddp}"
ROUNDS="${2:-3}"
mkdir -p "$W"
cd "$W"
"$B" demo --dir "$W" > demo.log   # teacher, key, ledger (reused when present)
# The Python baselines build the same teacher architecture (bench/fmnist_teachers.py).
tarch=$(python3 -c 'import json; print(json.load(open("distillgate-teacher.pt.json"))["arch"])')
cat > ddp.json <<JSON
{"name": "kd-ddp",
 "teachers": [{"id": "fmnist-cnn-teacher", "kind": "local", "license": "MIT", "model_file": "distillgate-teacher.pt"}],
 "datasets": [{"id": "fashion-mnist", "path": "/usr/share/datasets/fashion-mnist", "license": "MIT"}],
 "student": {"name": "kd-ddp", "model_type": "classifier", "architecture": "mlp"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "mlp", "hidden": [64, 64], "loss": "kd", "temperature": 4, "alpha": 0.9, "epochs": 1,
              "batch_size": 128, "lr": 0.001, "seed": 1},
 "output": {"model": "kd-ddp.pt"}}
JSON
threads=$(nproc)
half=$(( threads / 2 > 0 ? threads / 2 : 1 ))
for round in $(seq "$ROUNDS"); do
  one=$("$B" run --job ddp.json --ledger distillgate.ledger --key distillgate-keys/ledger.key --quiet --json)
  two=$("$B" run --job ddp.json --ledger distillgate.ledger --key distillgate-keys/ledger.key --quiet --json --nproc 2)
  py1=$(OPENBLAS_NUM_THREADS=1 DG_TEACHER_ARCH="$tarch" /usr/bin/python3 "$ROOT/bench/kd_speed.py" "$threads")
  py2=$(OPENBLAS_NUM_THREADS=1 DG_TEACHER_ARCH="$tarch" /usr/bin/python3 "$ROOT/bench/ddp_speed.py" 2 "$half")
  /usr/bin/python3 - "$one" "$two" "$py1" "$py2" "$threads" "$half" <<'PY'
import json, sys
one, two, py1, py2 = (json.loads(a) for a in sys.argv[1:5])
threads, half = sys.argv[5], sys.argv[6]
r1, r2 = 60000 / one["train_seconds"], 60000 / two["train_seconds"]
share = 100 * two["allreduce_wait_seconds"] / two["train_seconds"]
print(f"distillgate 1 rank x {threads} threads {r1:,.0f} samples/s (acc {one['student_accuracy']:.4f}); "
      f"2 ranks x {half} {r2:,.0f} samples/s (acc {two['student_accuracy']:.4f}, {two['teacher_calls']} calls recorded, "
      f"{two['gradient_buckets']} bucket(s), all-reduce wait {share:.1f} % of rank 0's training): 2 ranks / 1 rank {r2 / r1:.2f}x | "
      f"PyTorch {py1['torch']} 1 process {py1['samples_per_s']:,.0f} samples/s, DDP 2 x {half} {py2['samples_per_s']:,.0f} samples/s "
      f"(acc {py2['student_accuracy']:.4f}) | distillgate 2 ranks / PyTorch DDP {r2 / py2['samples_per_s']:.2f}x")
PY
done
"$B" ledger verify --ledger distillgate.ledger --pubkey distillgate-keys/ledger.vkey | tail -1
