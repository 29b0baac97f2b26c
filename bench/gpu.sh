#!/usr/bin/env bash
# One prepared GPU check (for tasks lent a GPU machine): builds distillgate
# against that machine's own PyTorch (LibTorch 2.x) and runs a short KD job on
# the GPU and on the CPU, printing timings. Writes results to $OUT if set.
# It installs nothing; it needs cmake, a C++ compiler, the Debian-free deps
# the machine has, and the Fashion-MNIST IDX files in $DATA (default below).
#
# usage (device machine, repo root): bash bench/gpu.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-/tmp/dg-gpu-out}"
DATA="${DATA:-/usr/share/datasets/fashion-mnist}"
mkdir -p "$OUT"
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.version.cuda)' | tee "$OUT/env.txt"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee -a "$OUT/env.txt" || true
cmake -S "$ROOT" -B "$ROOT/build-gpu" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
      -DDISTILLGATE_WITH_TORCH=ON -DDISTILLGATE_BUILD_TESTS=OFF -DDISTILLGATE_BUILD_BENCH=OFF > "$OUT/cmake.log"
cmake --build "$ROOT/build-gpu" -j"$(nproc)" --target distillgate > "$OUT/build.log"
B="$ROOT/build-gpu/distillgate"
W=$(mktemp -d)
cd "$W"
"$B" keys generate --out k --name gpu.example/log > /dev/null
"$B" ledger init --ledger l.db --key k/ledger.key --origin gpu.example/log > /dev/null
mk() {  # name teachers training
  cat > "$1.json" <<JSON
{"name": "$1", "teachers": $2,
 "datasets": [{"id": "fashion-mnist", "path": "$DATA", "license": "MIT"}],
 "student": {"name": "$1", "model_type": "classifier"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": $3, "output": {"model": "$1.pt"}}
JSON
}
mk teacher '[]' '{"epochs": 2, "batch_size": 256}'
mk kd '[{"id": "t", "kind": "local", "license": "MIT", "model_file": "teacher.pt"}]' \
   '{"arch": "mlp", "epochs": 3, "batch_size": 256, "labelled_examples": 1000}'
for dev in cuda cpu; do
  "$B" train-teacher --job teacher.json --ledger l.db --key k/ledger.key --device "$dev" --quiet --json > "$OUT/teacher-$dev.json"
  "$B" run --job kd.json --ledger l.db --key k/ledger.key --device "$dev" --quiet --json > "$OUT/kd-$dev.json"
  python3 - "$OUT/teacher-$dev.json" "$OUT/kd-$dev.json" "$dev" <<'PY'
import json, sys
t, k = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"{sys.argv[3]}: teacher {t['student_accuracy']:.4f} in {t['train_seconds']:.1f} s on {t['device']}; "
      f"KD student {k['student_accuracy']:.4f} in {k['train_seconds']:.1f} s, {k['teacher_calls']} calls recorded "
      f"({k['recording_seconds']:.2f} s recording)")
PY
done | tee "$OUT/summary.txt"
"$B" ledger verify --ledger l.db --pubkey k/ledger.vkey | tee -a "$OUT/summary.txt"
