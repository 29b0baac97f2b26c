// libFuzzer harness: proof documents (`ledger prove` / `ledger consistency`
// JSON) read strictly and verified under a fixed key: never a crash, never
// an accepted proof the key did not sign.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/ed25519.h"
#include "ledger/note.h"
#include "ledger/proof_bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dg::PrivateKey key = *dg::PrivateKey::FromSeed(std::string(32, 'p'));
  static const dg::NoteVerifier verifier = *dg::NoteVerifier::Make("fuzz.example/log", key.public_key());
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = dg::ParseJsonStrict(text, "fuzz");
  if (!doc.ok()) return 0;
  if (auto b = dg::InclusionBundleFromJson(*doc, "fuzz"); b.ok()) {
    // A checkpoint signed by the fuzzer's key cannot be forged by the input:
    // an accepted bundle must carry a note that opens under it.
    auto cp = dg::VerifyInclusionBundle(*b, verifier);
    if (cp.ok() && !dg::OpenCheckpoint(b->checkpoint, verifier).ok()) std::abort();
    (void)dg::ToJson(*b);
  }
  if (auto c = dg::ConsistencyBundleFromJson(*doc, "fuzz"); c.ok()) (void)dg::ToJson(*c);
  return 0;
}
