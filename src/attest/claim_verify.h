// Offline verification of a lineage claim: a model file plus a DSSE bundle
// from `distillgate attest`, checked against a pinned key, and optionally
// re-evaluated under the verifier's own policy and checked against a ledger.
//
// Read-only (the model files, the bundle, the ledger if given); safe on any
// thread that owns the Ledger it is given.
#ifndef DISTILLGATE_ATTEST_CLAIM_VERIFY_H_
#define DISTILLGATE_ATTEST_CLAIM_VERIFY_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"
#include "ledger/note.h"
#include "policy/policy.h"

namespace dg {

struct ClaimCheck {
  std::string name;    // signature, statement, subject, checkpoint, entry:<role>@<index>, facts, job, decision, obligation, policy, ledger, teacher_calls
  bool ok = false;
  bool informational = false;  // listed, but not required to hold (e.g. an obligation nobody can check offline)
  std::string detail;
};

struct ClaimReport {
  std::vector<ClaimCheck> checks;
  bool ok() const;
  std::string run_id;
  nlohmann::json ToJson() const;  // schemas/verify-claim-report.schema.json
};

struct ClaimInputs {
  std::vector<std::string> model_files;  // each must be a subject of the statement
  nlohmann::json envelope;               // the bundle as read
  std::string bundle_name;               // for messages
  NoteVerifier key;                      // pinned: checks the DSSE signature and the checkpoint
  const Policy* policy = nullptr;        // re-evaluate under this policy when set
  Ledger* ledger = nullptr;              // check consistency with this ledger when set
};

// Never stops at the first failure: every check is run that can be, and the
// report says what holds and what does not. Returns InvalidInput only for
// input it cannot read at all: a model file that does not exist, or a bundle
// that is not a DSSE envelope (the error names the JSON pointer).
StatusOr<ClaimReport> VerifyClaim(const ClaimInputs& in);

// The verified statement of an envelope (signature, payload type, statement
// schema), for callers that need the facts (e.g. `data verify`).
StatusOr<nlohmann::json> OpenStatement(const nlohmann::json& envelope, const NoteVerifier& key, const std::string& where);

// One entry of the statement's predicate.ledger.entries: its bytes hash to
// leaf_hash, its kind is its role, and its inclusion proof leads to cp.root.
Status VerifyProvenEntry(const nlohmann::json& proven, const Checkpoint& cp);

}  // namespace dg

#endif  // DISTILLGATE_ATTEST_CLAIM_VERIFY_H_
