// Approvals: a person the policy names (Policy::approvers) signs that a job
// the gate sent to review may run (docs/licenses-and-policy.md §Approvals).
//
// An approval is a ledger entry of kind "approval" whose body is
// {"run", "statement", "envelope"}: the statement (below) as RFC 8785 JSON is
// the payload of a DSSE envelope signed with the approver's Ed25519 key, so
// the approval is the approver's signature, and the ledger key's checkpoint
// over the entry is the ledger's. The gate counts an approval for a later
// decision of the same job only when all of this holds: the approver's
// verifier key and role are in the policy, the signature verifies, the
// statement names a needs-review decision in this ledger (index and leaf
// hash) of the same job under the same policy, and that decision's findings
// are the new decision's findings. Anything else is not an approval.
//
// Thread safety: uses the Ledger from the calling thread. Errors: the
// ledger's, and InvalidInput for what cannot be approved (with why).
#ifndef DISTILLGATE_POLICY_APPROVAL_H_
#define DISTILLGATE_POLICY_APPROVAL_H_

#include <string>

#include <nlohmann/json.hpp>

#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "policy/policy.h"

namespace dg {

// Whether a recorded decision entry's body says the job ran on approvals:
// verdict needs_review, mode enforce, "approved": true and a non-empty
// "approvals" list — what the gate writes; anything else is not approved.
// Every reader of a recorded decision asks this, never the flag alone.
bool DecisionApproved(const nlohmann::json& decision_body);

// The DSSE payload type of an approval statement.
inline constexpr char kApprovalPayloadType[] = "application/vnd.distillgate.approval+json";

struct ApprovalRequest {
  uint64_t decision_index = 0;  // the needs-review decision (the run `run`/`check` printed)
  std::string role;    // must be the approver's role in the policy
  std::string note;    // why; recorded as written
};

// Appends the approval of the decision at `request.decision_index` signed by `approver` and the
// ledger's checkpoint signed by `ledger_key`; returns the entry's index.
// InvalidInput when the run's decision is not needs review (a denial is
// never approvable), was made under another policy (policy_sha256), when
// `approver` is not one of policy.approvers, or the role is not theirs.
StatusOr<uint64_t> RecordApproval(Ledger& ledger, const PrivateKey& ledger_key, const PrivateKey& approver, const Policy& policy,
                                  const ApprovalRequest& request);

// The approvals that let a needs-review decision of `job_sha256` under
// `policy` with `findings` (ToJson(decision)["findings"]) run: one per
// distinct approver (the earliest), each {ledger_index, leaf_hash, approver,
// role, note, approved_at, decision_index}. Entries that do not hold (see
// above) are skipped, never counted.
StatusOr<nlohmann::json> FindApprovals(Ledger& ledger, const Policy& policy, const std::string& job_sha256,
                                       const nlohmann::json& findings);

}  // namespace dg

#endif  // DISTILLGATE_POLICY_APPROVAL_H_
