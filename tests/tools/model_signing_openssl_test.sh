#!/usr/bin/env bash
# A signature made by `distillgate model sign` checked by model_signing's
# rules as docs/model-identity.md states them, with no distillgate code: the
# openssl CLI re-derives every file digest, the root, the key hint and the
# ECDSA signature over DSSE PAE; jq/python only take the JSON apart.
# Then `model verify` must refuse the model once a file is changed, added or
# removed. Usage: model_signing_openssl_test.sh BUILD_DIR
set -euo pipefail
dg="$1/distillgate"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
m="$t/tiny-model"
mkdir -p "$m/tokenizer" "$m/.git"
printf '{"model_type":"gpt2"}' >"$m/config.json"
head -c 300000 /dev/urandom >"$m/model.bin"
printf 'vocab' >"$m/tokenizer/vocab.txt"
printf 'a-b' >"$m/a-b"
mkdir -p "$m/a" && printf 'a/b' >"$m/a/b"
printf 'ref: refs/heads/main' >"$m/.git/HEAD"
for curve in prime256v1:sha256 secp384r1:sha384; do
  name=${curve%%:*} md=${curve##*:}
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$name -out "$t/key.pem" 2>/dev/null
  chmod 600 "$t/key.pem"
  openssl pkey -in "$t/key.pem" -pubout -out "$t/pub.pem"
  "$dg" model sign "$m" --key "$t/key.pem" --out "$t/model.sig" >/dev/null
  python3 - "$t/model.sig" "$t" <<'PY'
import base64, json, sys
b = json.load(open(sys.argv[1]))
d = sys.argv[2]
assert b["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json", b["mediaType"]
env = b["dsseEnvelope"]
assert env["payloadType"] == "application/vnd.in-toto+json"
payload = base64.b64decode(env["payload"])
open(d + "/payload", "wb").write(payload)
open(d + "/sig.der", "wb").write(base64.b64decode(env["signatures"][0]["sig"]))
pae = b"DSSEv1 %d %s %d " % (len(env["payloadType"]), env["payloadType"].encode(), len(payload)) + payload
open(d + "/pae", "wb").write(pae)
open(d + "/hint", "w").write(b["verificationMaterial"]["publicKey"]["hint"])
st = json.loads(payload)
assert st["_type"] == "https://in-toto.io/Statement/v1"
assert st["predicateType"] == "https://model_signing/signature/v1.0"
assert len(st["subject"]) == 1
open(d + "/root", "w").write(st["subject"][0]["digest"]["sha256"])
open(d + "/name", "w").write(st["subject"][0]["name"])
with open(d + "/resources", "w") as f:
    for r in st["predicate"]["resources"]:
        assert r["algorithm"] == "sha256"
        f.write(r["name"] + " " + r["digest"] + "\n")
PY
  # The signature, by openssl, over PAE with the curve's hash.
  openssl dgst -"$md" -verify "$t/pub.pem" -signature "$t/sig.der" "$t/pae" >/dev/null
  # The hint: SHA-256 of the public key's PEM.
  [[ $(openssl dgst -sha256 -r "$t/pub.pem" | cut -d' ' -f1) == $(cat "$t/hint") ]]
  [[ $(cat "$t/name") == tiny-model ]]
  # Every file but the git ones, in PurePath order (a/b before a-b), each digest by openssl.
  want=$'a/b\na-b\nconfig.json\nmodel.bin\ntokenizer/vocab.txt'
  [[ $(cut -d' ' -f1 "$t/resources") == "$want" ]] || { echo "resources: $(cut -d' ' -f1 "$t/resources")"; exit 1; }
  cat /dev/null >"$t/concat.hex"
  while read -r name digest; do
    [[ $(openssl dgst -sha256 -r "$m/$name" | cut -d' ' -f1) == "$digest" ]] || { echo "digest of $name"; exit 1; }
    printf '%s' "$digest" >>"$t/concat.hex"
  done <"$t/resources"
  # The root: SHA-256 over the raw digests in predicate order.
  root=$(python3 -c 'import sys,binascii; sys.stdout.buffer.write(binascii.unhexlify(open(sys.argv[1]).read()))' "$t/concat.hex" |
         openssl dgst -sha256 -r | cut -d' ' -f1)
  [[ $root == $(cat "$t/root") ]] || { echo "root $root != $(cat "$t/root")"; exit 1; }
  "$dg" model verify "$m" --sig "$t/model.sig" --pubkey "$t/pub.pem" >/dev/null
done
# Change, add, remove, rename: each fails verification.
expect_fail() {
  if "$dg" model verify "$m" --sig "$t/model.sig" --pubkey "$t/pub.pem" >"$t/out" 2>&1; then
    echo "verified after: $1"; exit 1
  fi
  grep -q "$2" "$t/out" || { echo "after $1: $(cat "$t/out")"; exit 1; }
}
printf 'x' >>"$m/config.json"; expect_fail "a changed file" "hash mismatch for 'config.json'"
printf '{"model_type":"gpt2"}' >"$m/config.json"
printf 'new' >"$m/added"; expect_fail "an added file" "files not signed: added"; rm "$m/added"
mv "$m/a-b" "$t/a-b"; expect_fail "a removed file" "signed files missing: a-b"; mv "$t/a-b" "$m/a-b"
mv "$m/a/b" "$m/a/c"; expect_fail "a renamed file" "signed files missing: a/b"; mv "$m/a/c" "$m/a/b"
"$dg" model verify "$m" --sig "$t/model.sig" --pubkey "$t/pub.pem" >/dev/null
# An Ed25519 key is refused (model_signing's key mode has none).
openssl genpkey -algorithm ED25519 -out "$t/ed.pem"; chmod 600 "$t/ed.pem"
if "$dg" model sign "$m" --key "$t/ed.pem" --out "$t/ed.sig" 2>"$t/err"; then echo "signed with Ed25519"; exit 1; fi
grep -q "P-256, P-384 or P-521" "$t/err"
[[ ! -e "$t/ed.sig" ]]
echo "model_signing_openssl: a distillgate signature checks out by openssl alone; changes are found"
