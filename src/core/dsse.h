// DSSE v1 envelopes (secure-systems-lab/dsse protocol 1.0.2) signed with
// Ed25519. The signature covers PAE(payloadType, payload); a verifier gets
// back exactly the payload bytes that were verified and must use those, never
// a re-parse of the envelope.
//
// Pure functions of their arguments (no I/O); safe on any thread.
#ifndef DISTILLGATE_CORE_DSSE_H_
#define DISTILLGATE_CORE_DSSE_H_

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/ed25519.h"
#include "core/status.h"

namespace dg {

// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal.
std::string DssePae(std::string_view payload_type, std::string_view payload);

// {"payload": b64, "payloadType": type, "signatures": [{"keyid": keyid, "sig": b64}]}
nlohmann::json DsseSign(std::string_view payload_type, std::string_view payload, const PrivateKey& key,
                        const std::string& keyid);

struct DsseVerified {
  std::string payload_type;
  std::string payload;  // the exact bytes the signature covers
  std::string keyid;    // the hint of the signature that verified (unauthenticated)
};

// Accepts standard and URL-safe base64. Succeeds when at least one signature
// verifies under `key`; otherwise VerifyFailed naming what is wrong.
// Malformed envelopes are InvalidInput with the JSON pointer.
StatusOr<DsseVerified> DsseVerify(const nlohmann::json& envelope, const PublicKey& key, const std::string& where);

}  // namespace dg

#endif  // DISTILLGATE_CORE_DSSE_H_
