#!/usr/bin/env bash
# Hashing a model directory (issue 18): `distillgate model hash` of a
# Hugging Face-style directory of SHARDS safetensors shards of SHARD_MIB MiB
# each (headers parsed and validated, the shard index checked, every file
# SHA-256'd), against `sha256sum` of the same bytes as one stream
# (cat DIR/* | sha256sum; and, for reference, openssl dgst -sha256, which
# uses the CPU's SHA instructions as distillgate's OpenSSL does), side by side in each round, from the page cache
# (each tool reads the files once before the rounds). Threads 1 and 2.
# Goal: >= 0.9x sha256sum with 1 thread, >= 1.7x with 2 threads.
# Usage: bench/model_hash.sh [ROUNDS] [SHARDS] [SHARD_MIB]   (after scripts/setup.sh; COLD=1: from the disk, below)
set -euo pipefail
ROUNDS="${1:-3}"
SHARDS="${2:-4}"
MIB="${3:-1024}"
B="$(pwd)/build"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
M="$W/model"
mkdir -p "$M"
# One shard: a header naming F16 tensors of 1 MiB each, then the data.
python3 - "$M" "$SHARDS" "$MIB" <<'PY'
import json, os, struct, sys
d, shards, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
weight_map, total = {}, 0
chunk = os.urandom(1 << 20)
for s in range(shards):
    name = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
    header, at = {"__metadata__": {"format": "pt"}}, 0
    for t in range(mib):
        tn = "layers.%d.w%d" % (s, t)
        header[tn] = {"dtype": "F16", "shape": [512, 1024], "data_offsets": [at, at + (1 << 20)]}
        at += 1 << 20
        weight_map[tn] = name
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for t in range(mib):
            f.write(chunk[t % 7:] + chunk[:t % 7])
    total += at
json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
json.dump({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, open(os.path.join(d, "config.json"), "w"))
PY
BYTES=$(cat "$M"/* | wc -c)
cat "$M"/* > /dev/null   # into the page cache
"$B/distillgate" model hash "$M" > /dev/null
now() { date +%s.%N; }
echo "directory: $SHARDS shards x $MIB MiB + index + config = $BYTES bytes; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "round  sha256sum s  openssl s | model hash -t1 s  ratio (vs openssl) | model hash -t2 s  ratio (vs openssl)"
# COLD=1: the page cache is dropped before each tool reads (root; `sync; echo 3 > /proc/sys/vm/drop_caches`),
# so every read comes from the disk.
cold() { if [ "${COLD:-0}" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }
secs() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }
for r in $(seq "$ROUNDS"); do
  cold; t0=$(now); cat "$M"/* | sha256sum > /dev/null; t1=$(now); ts=$(secs "$t0" "$t1")
  cold; t0=$(now); cat "$M"/* | openssl dgst -sha256 > /dev/null; t1=$(now); to=$(secs "$t0" "$t1")
  cold; t0=$(now); "$B/distillgate" model hash "$M" --threads 1 > /dev/null; t1=$(now); one=$(secs "$t0" "$t1")
  cold; t0=$(now); "$B/distillgate" model hash "$M" --threads 2 > /dev/null; t1=$(now); two=$(secs "$t0" "$t1")
  python3 -c "
import sys
s,o,one,two,n=map(float,sys.argv[1:6])
print('%5s  %9.2f  %9.2f | %9.2f        %5.2fx (%4.2fx) | %9.2f        %5.2fx (%4.2fx)   MB/s: sha256sum %.0f, openssl %.0f, t1 %.0f, t2 %.0f' % (sys.argv[6], s, o, one, s/one, o/one, two, s/two, o/two, n/s/1e6, n/o/1e6, n/one/1e6, n/two/1e6))
" "$ts" "$to" "$one" "$two" "$BYTES" "$r"
done
