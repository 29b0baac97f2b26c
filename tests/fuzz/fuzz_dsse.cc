// libFuzzer harness: DSSE envelopes verified under a fixed key, and the
// in-toto statement reader behind `verify`: arbitrary envelopes must be
// refused (InvalidInput or VerifyFailed) without crashing; an envelope that
// verifies must carry exactly the payload the key signed.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "attest/claim_verify.h"
#include "core/canonical_json.h"
#include "core/dsse.h"
#include "core/ed25519.h"
#include "ledger/note.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dg::PrivateKey key = *dg::PrivateKey::FromSeed(std::string(32, 'd'));
  static const dg::NoteVerifier verifier = *dg::NoteVerifier::Make("fuzz.example/log", key.public_key());
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = dg::ParseJsonStrict(text, "fuzz");
  if (!doc.ok()) {
    // Sign the raw bytes as a payload: it must verify and come back intact.
    nlohmann::json env = dg::DsseSign("application/octet-stream", text, key, "fuzz");
    auto v = dg::DsseVerify(env, key.public_key(), "fuzz");
    if (!v.ok() || v->payload != text) std::abort();
    return 0;
  }
  (void)dg::DsseVerify(*doc, key.public_key(), "fuzz");
  (void)dg::OpenStatement(*doc, verifier, "fuzz");
  return 0;
}
