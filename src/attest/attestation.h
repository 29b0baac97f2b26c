// Signed attestations of a run (docs/attestation.md): a DSSE envelope around
// an in-toto Statement v1 whose subjects are the student's model files and
// whose predicate (type kPredicateType, schemas/attestation-statement.schema.json)
// carries the run's ledger entries with inclusion proofs against one signed
// checkpoint, so the claim can be checked offline with the ledger's key.
//
// BuildStatement reads the ledger (one snapshot) and the model files; it
// writes nothing. InvalidInput for a run that cannot be attested (not
// completed, not allowed, no model file that is the run's model). Signing is
// a pure function of the statement and the key.
#ifndef DISTILLGATE_ATTEST_ATTESTATION_H_
#define DISTILLGATE_ATTEST_ATTESTATION_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "ledger/note.h"
#include "record/run_record.h"

namespace dg {

inline constexpr char kInTotoStatementType[] = "https://in-toto.io/Statement/v1";
inline constexpr char kInTotoPayloadType[] = "application/vnd.in-toto+json";
inline constexpr char kPredicateType[] = "https://distillgate.dev/attestation/distillation/v1";
inline constexpr char kBuildType[] = "https://distillgate.dev/run/v1";
inline constexpr char kBuilderId[] = "https://distillgate.dev/builder/distillgate";
inline constexpr char kDistillgateVersion[] = "0.1.0";

struct AttestOptions {
  std::string run_id;
  std::vector<std::string> model_files;  // subjects; one must be the run's model
};

// The predicate's facts (everything but `ledger`) as derived from the run's
// entry bodies; `attest` writes exactly this and `verify` recomputes it from
// the proven entries, so no fact in the predicate goes unchecked.
nlohmann::json DerivePredicate(const nlohmann::json& decision, const nlohmann::json& run_start,
                               const std::vector<nlohmann::json>& manifests, const nlohmann::json& model,
                               const nlohmann::json& run_end);

// The in-toto Statement for a completed run. The run's decision must allow
// (enforce mode) and one model file must hash to the run's recorded model.
StatusOr<nlohmann::json> BuildStatement(Ledger& ledger, const AttestOptions& options);

// The DSSE keyid distillgate writes: "<key name>+<8 hex digits of the C2SP key id>",
// the same prefix as the key's vkey text. A verifier rejects a bundle whose
// keyid names another key.
std::string DsseKeyId(const NoteVerifier& key);

// The DSSE envelope around `statement`, signed by `key` (the ledger's key:
// the same pinned key then checks the envelope and the checkpoint).
StatusOr<nlohmann::json> SignStatement(const nlohmann::json& statement, const PrivateKey& key, const std::string& keyid);

}  // namespace dg

#endif  // DISTILLGATE_ATTEST_ATTESTATION_H_
