#!/usr/bin/env bash
# The prepared GPU check (issue 4), for a task lent a GPU machine: builds
# distillgate against that machine's own PyTorch (a LibTorch 2.x with CUDA)
# and runs, on the GPU and on the CPU, with timings:
#   1. train-teacher (the default CNN, 2 epochs);
#   2. KD runs (MLP student, 1,000 labels, 3 epochs): cuda fp32 twice (is a
#      seeded CUDA run repeatable?), cuda with the teacher in bf16, and cpu;
#   3. speed side by side with the same loop in PyTorch/Python on the same
#      device (bench/kd_speed.py), 5 epochs: GPU at batch 128 and 1024, CPU at 128;
#   4. refusals: bf16 on the CPU; then `ledger verify` of everything;
#   5. the byte-level LM: train-lm and token-level distill-lm on each device.
# SECTIONS="5" runs only some of them.
# Everything it prints is also written to $OUT (summary.txt, *.json, logs).
#
# The device machine has a compiler, CMake and PyTorch but no Debian -dev
# packages and no network: run scripts/pack-gpu-deps.sh here first and carry
# .gpudeps (headers and libraries of the auditor's dependencies, pkgconf and
# the Fashion-MNIST files). Without .gpudeps the system's packages are used.
#
# usage (repo root): bash bench/gpu.sh
#   DEVICES="cpu" runs the CPU half only; SPEED="cpu:128" picks the speed runs.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-/tmp/dg-gpu-out}"
DEVICES="${DEVICES:-cuda cpu}"
D="$ROOT/.gpudeps"
mkdir -p "$OUT/details"
exec > >(tee "$OUT/summary.txt") 2>&1
# Per-run files go to $OUT/details, packed into details.tgz at the end (the
# device tool brings back at most 8 files).
pack() { tar czf "$OUT/details.tgz" -C "$OUT" details && rm -rf "$OUT/details"; }
trap pack EXIT
O="$OUT/details"
PY=python3
if ! $PY -c 'import torch' 2>/dev/null; then PY=/usr/bin/python3; fi
if [ -d "$D" ]; then DATA="${DATA:-$D/fashion-mnist}"; else DATA="${DATA:-/usr/share/datasets/fashion-mnist}"; fi
export DG_FASHION_MNIST="$DATA"
if [ -d "$D" ]; then CORPUS="${CORPUS:-$D/corpus/american-english}"; else CORPUS="${CORPUS:-/usr/share/dict/american-english}"; fi

echo "== machine"
grep PRETTY_NAME /etc/os-release
echo "cores: $(nproc)"; c++ --version | head -1; cmake --version | head -1
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.version.cuda)'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"

echo "== build"
TORCH_PREFIX=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
args=(-DCMAKE_BUILD_TYPE=Release -DDISTILLGATE_WITH_TORCH=ON -DDISTILLGATE_BUILD_TESTS=OFF -DDISTILLGATE_BUILD_BENCH=OFF
      -DDISTILLGATE_WITH_JEMALLOC=OFF -DCMAKE_POLICY_VERSION_MINIMUM=3.5)
prefix="$TORCH_PREFIX"
if [ -d "$D" ]; then
  prefix="$TORCH_PREFIX;$D/sysroot/usr"
  args+=(-DOPENSSL_ROOT_DIR="$D/sysroot/usr" -DPKG_CONFIG_EXECUTABLE="$D/bin/pkg-config")
fi
# A pip-installed PyTorch finds its CUDA libraries (site-packages/nvidia/...)
# through RUNPATHs with $ORIGIN; tell the linker where they are too.
SITE=$($PY -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
nvlibs=$(find "$SITE/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | sed 's/^/-Wl,-rpath-link,/' | tr '\n' ' ')
ldflags="$nvlibs"
[ -d "$D" ] && ldflags="$ldflags -Wl,-rpath-link,$D/lib"
args+=(-DCMAKE_EXE_LINKER_FLAGS="$ldflags")
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
BD="$ROOT/build-gpu"
t0=$(date +%s)
if ! cmake -S "$ROOT" -B "$BD" -DCMAKE_PREFIX_PATH="$prefix" "${args[@]}" > "$OUT/cmake.log" 2>&1; then
  echo "cmake failed:"; tail -40 "$OUT/cmake.log"; exit 1
fi
grep -E "distillgate trainer|Found (OpenSSL|SQLite3|CURL|ZLIB)|Torch" "$OUT/cmake.log" | head
if ! cmake --build "$BD" -j"$(nproc)" --target distillgate distillgate-train -- -k > "$OUT/build.log" 2>&1; then
  echo "build failed:"; grep -E "error|Error" "$OUT/build.log" | head -60; exit 1
fi
echo "configure + build: $(( $(date +%s) - t0 )) s"
[ -d "$D" ] && export LD_LIBRARY_PATH="$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
B="$BD/distillgate"
"$B" --version 2>/dev/null | head -1

W=$(mktemp -d)
cd "$W" || exit 1
"$B" keys generate --out k --name gpu.example/log > /dev/null || exit 1
"$B" ledger init --ledger l.db --key k/ledger.key --origin gpu.example/log > /dev/null || exit 1
mk() {  # name teachers training
  cat > "$1.json" <<JSON
{"name": "$1", "teachers": $2,
 "datasets": [{"id": "fashion-mnist", "path": "$DATA", "license": "MIT"}],
 "student": {"name": "$1", "model_type": "classifier"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": $3, "output": {"model": "$1.pt"}}
JSON
}
T='[{"id": "t", "kind": "local", "license": "MIT", "model_file": "teacher.pt"}]'
show() {  # label json-file
  $PY - "$1" "$2" <<'PY'
import json, sys
try:
    k = json.load(open(sys.argv[2]))
except Exception as e:
    print(f"{sys.argv[1]}: no summary ({e})"); sys.exit()
t = k.get("teacher_accuracy")
print(f"{sys.argv[1]}: on {k['device']}: student {k['student_accuracy']:.4f}" + (f", teacher {t:.4f}" if t is not None else "") +
      f"; train {k['train_seconds']:.2f} s (epochs: {', '.join('%.2f' % e['seconds'] for e in k['epochs'])} s); "
      f"{k['teacher_calls']} teacher calls, recording {k['recording_seconds']:.3f} s "
      f"({100 * k['recording_seconds'] / k['train_seconds']:.2f} %); model {k['model']['sha256'][:16]}")
PY
}
run() {  # label job device
  "$B" run --job "$2" --ledger l.db --key k/ledger.key --device "$3" --quiet --json > "$O/$1.json" 2> "$O/$1.err"
  local rc=$?
  [ $rc -eq 0 ] && show "$1" "$O/$1.json" || { echo "$1: exit $rc: $(head -c 600 "$O/$1.err")"; }
}

SECTIONS=" ${SECTIONS:-1 2 3 4 5} "
on() { case "$SECTIONS" in *" $1 "*) return 0 ;; esac; return 1; }
# The KD runs below need the teacher of section 1.
if on 1 || on 2 || on 3; then
echo "== 1. teacher (CNN, 2 epochs, batch 256)"
mk teacher '[]' '{"epochs": 2, "batch_size": 256}'
first=""
for dev in $DEVICES; do
  "$B" train-teacher --job teacher.json --ledger l.db --key k/ledger.key --device "$dev" --quiet --json > "$O/teacher-$dev.json" 2> "$O/teacher-$dev.err" \
    && show "teacher-$dev" "$O/teacher-$dev.json" || echo "teacher-$dev failed: $(head -c 600 "$O/teacher-$dev.err")"
  if [ -z "$first" ] && [ -f teacher.pt ]; then first=$dev; cp teacher.pt keep.pt; cp teacher.pt.json keep.pt.json; fi
done
cp keep.pt teacher.pt; cp keep.pt.json teacher.pt.json   # the first device's teacher for what follows

fi
if on 2; then
echo "== 2. KD (MLP 64-64, 1,000 labels, T=4, alpha 0.9, 3 epochs, batch 256)"
KD='"arch": "mlp", "epochs": 3, "batch_size": 256, "labelled_examples": 1000'
mk kd "$T" "{$KD}"
mk kd-bf16 "$T" "{$KD, \"precision\": \"bf16\"}"
for dev in $DEVICES; do
  run "kd-$dev" kd.json "$dev"
  if [ "$dev" = cuda ]; then
    run kd-cuda-again kd.json cuda
    $PY -c "import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); print('cuda repeat: same model bytes' if a['model']['sha256']==b['model']['sha256'] else f\"cuda repeat: different model bytes (accuracy {a['student_accuracy']:.4f} vs {b['student_accuracy']:.4f})\")" "$O/kd-cuda.json" "$O/kd-cuda-again.json" 2>/dev/null
    run kd-cuda-bf16 kd-bf16.json cuda
  fi
done

fi
if on 3; then
echo "== 3. speed side by side with PyTorch in Python (5 epochs, same models and loss)"
# SPEED: device:batch pairs (the CPU at batch 1024 is slow in LibTorch 1.13
# and Python alike: bench/RESULTS.md).
for pair in ${SPEED:-cuda:128 cuda:1024 cpu:128}; do
  dev=${pair%%:*} bs=${pair##*:}
  case " $DEVICES " in *" $dev "*) ;; *) continue ;; esac
  mk "speed$bs" "$T" "{\"arch\": \"mlp\", \"hidden\": [64, 64], \"loss\": \"kd\", \"temperature\": 4, \"alpha\": 0.9, \"epochs\": 5, \"batch_size\": $bs}"
  run "speed$bs-$dev" "speed$bs.json" "$dev"
  sed "s/T, alpha, bs = 4.0, 0.9, 128/T, alpha, bs = 4.0, 0.9, $bs/" "$ROOT/bench/kd_speed.py" > kd_speed_bs.py
  cp "$ROOT/bench/fmnist_teachers.py" .   # kd_speed_bs.py imports it from its own folder
  # The same threads as distillgate's trainer (OpenMP only; bench/kd_speed.sh);
  # the teacher of section 1 is train-teacher's default cnn.
  DG_TEACHER_ARCH=cnn OPENBLAS_NUM_THREADS=1 $PY kd_speed_bs.py "$(nproc)" "$dev" 5 > "$O/py-speed$bs-$dev.json" 2> "$O/py-speed$bs-$dev.err"
  $PY - "$O/speed$bs-$dev.json" "$O/py-speed$bs-$dev.json" "$bs" "$dev" <<'PY'
import json, sys
try:
    c, p = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
except Exception as e:
    print(f"speed batch {sys.argv[3]} {sys.argv[4]}: incomplete ({e})"); sys.exit()
rate = 5 * 60000 / c["train_seconds"]
print(f"speed batch {sys.argv[3]} on {sys.argv[4]}: distillgate {rate:,.0f} samples/s ({c['train_seconds']:.2f} s, "
      f"{c['teacher_calls']} calls recorded, {100 * c['recording_seconds'] / c['train_seconds']:.1f} % recording) vs "
      f"PyTorch {p['torch']} in Python {p['samples_per_s']:,.0f} samples/s ({p['seconds']:.2f} s): ratio {rate / p['samples_per_s']:.2f}x")
PY
done

fi
if on 5; then
echo "== 5. byte-level LM (GRU) on $CORPUS: train-lm teacher (hidden 128, 300 steps), token-level KD student (hidden 64)"
cat > lm.json <<JSON
{"name": "words-lm", "teachers": [],
 "datasets": [{"id": "wamerican", "license": "LicenseRef-SCOWL", "path": "$CORPUS"}],
 "student": {"name": "words-lm", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "byte-gru", "hidden": [128], "steps": 300}, "output": {"model": "words-lm.pt"}}
JSON
cat > lmkd.json <<JSON
{"name": "words-kd", "teachers": [{"id": "words-lm", "kind": "local", "license": "MIT", "model_file": "words-lm.pt"}],
 "datasets": [{"id": "wamerican", "license": "LicenseRef-SCOWL", "path": "$CORPUS"}],
 "student": {"name": "words-kd", "model_type": "llm"},
 "use": {"commercial": false, "distribution": "internal", "purpose": "research"},
 "training": {"arch": "byte-gru", "hidden": [64], "steps": 300, "loss": "kd"}, "output": {"model": "words-kd.pt"}}
JSON
for dev in $DEVICES; do
  "$B" train-lm --job lm.json --ledger l.db --key k/ledger.key --device "$dev" --json > "$O/lm-$dev.json" 2> "$O/lm-$dev.err"
  echo "train-lm on $dev: exit $? $($PY -c 'import json,sys; s=json.load(open(sys.argv[1])); print("held-out %.3f bits/byte in %.2f s" % (s["heldout_bits_per_byte"], s["train_seconds"]))' "$O/lm-$dev.json" 2>/dev/null || head -c 400 "$O/lm-$dev.err")"
  "$B" distill-lm --job lmkd.json --ledger l.db --key k/ledger.key --device "$dev" > "$O/lmkd-$dev.json" 2> "$O/lmkd-$dev.err"
  echo "distill-lm (token KD) on $dev: exit $? $($PY -c 'import json,sys; s=json.load(open(sys.argv[1])); m=s.get("metrics", s); print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.items() if k in ("teacher_calls", "seconds", "teacher_heldout_bits_per_byte", "student_heldout_bits_per_byte", "baseline_heldout_bits_per_byte", "student_agreement", "baseline_agreement")} | {"teacher_calls": s.get("teacher_calls")})' "$O/lmkd-$dev.json" 2>/dev/null || head -c 400 "$O/lmkd-$dev.err")"
done
fi

echo "== 4. refusals and the ledger"
if [ -f kd-bf16.json ]; then
  "$B" run --job kd-bf16.json --ledger l.db --key k/ledger.key --device cpu --quiet > /dev/null 2> bf16cpu.err
  echo "bf16 on cpu: exit $? ($(head -c 200 bf16cpu.err))"
fi
"$B" ledger verify --ledger l.db --pubkey k/ledger.vkey
echo "ledger: $(du -h l.db | cut -f1)"
