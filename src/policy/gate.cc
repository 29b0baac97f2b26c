#include "policy/gate.h"

#include "ledger/merkle.h"

namespace dg {

StatusOr<GateResult> Gate::Decide(const Job& job, const Policy& policy, const KnowledgeBase& kb, Ledger& ledger,
                                  const PrivateKey& key, const std::string& today) {
  GateResult r;
  DG_ASSIGN_OR_RETURN(r.decision, Evaluate(job, policy, kb, today));
  nlohmann::json body = ToJson(r.decision);
  body["job"] = job.name;
  // The job itself, so that a verifier holding only this entry can check its
  // hash (inputs.job_sha256) and re-evaluate it under another policy.
  body["job_document"] = job.doc;
  DG_ASSIGN_OR_RETURN(LedgerEntry entry, LedgerEntry::Make("decision", body));
  DG_ASSIGN_OR_RETURN(AppendResult appended, ledger.Append({entry}, key));
  r.decision_index = appended.first_index;
  if (r.decision.AllowsTraining()) {
    Permit p;
    p.job_sha256_ = job.sha256;
    p.decision_index_ = appended.first_index;
    p.decision_leaf_hash_ = entry.leaf_hash();
    p.ledger_origin_ = ledger.origin();
    r.permit = p;
  }
  return r;
}

Status Gate::Verify(const Permit& permit, const Job& job, Ledger& ledger) {
  if (permit.job_sha256() != job.sha256) {
    return Status::VerifyFailed("the job changed after its decision (decided " + permit.job_sha256().substr(0, 16) +
                                "…, now " + job.sha256.substr(0, 16) + "…): decide again");
  }
  if (permit.ledger_origin() != ledger.origin()) {
    return Status::VerifyFailed("the permit was issued by ledger " + permit.ledger_origin() + ", not " + ledger.origin());
  }
  DG_ASSIGN_OR_RETURN(StoredLeaf leaf, ledger.GetLeaf(permit.decision_index()));
  if (leaf.leaf_hash != permit.decision_leaf_hash() || leaf.kind != "decision") {
    return Status::VerifyFailed("the ledger no longer holds the decision this permit names (entry " +
                                std::to_string(permit.decision_index()) + ")");
  }
  return Status::Ok();
}

}  // namespace dg
