#include "policy/gate.h"

#include "core/canonical_json.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/hash.h"
#include "core/project_config.h"
#include "ledger/merkle.h"
#include "policy/approval.h"

namespace dg {

namespace {

// When the decision was made and by whom (docs/licenses-and-policy.md
// §Decisions): the operator is who ran the command, not a signer; the
// ledger key signs the entry.
// And under which project configuration (core/project_config.h): null when
// the command used none.
void AddWhenAndWho(nlohmann::json& body) {
  const OperatorName op = CurrentOperator();
  body["decided_at"] = NowRfc3339();
  body["operator"] = {{"name", op.name}, {"source", op.source}};
  const std::optional<ProjectConfig>& config = AppliedProjectConfig();
  body["config"] = config ? config->ToJson() : nlohmann::json();
}

}  // namespace

std::string RunIdFor(const std::string& job_sha256, uint64_t decision_index) {
  return job_sha256.substr(0, 16) + "-" + std::to_string(decision_index);
}

StatusOr<GateResult> Gate::Decide(const Job& job, const Policy& policy, const KnowledgeBase& kb, Ledger& ledger,
                                  const PrivateKey& key, const std::string& today) {
  GateResult r;
  DG_ASSIGN_OR_RETURN(r.decision, Evaluate(job, policy, kb, today));
  // A needs-review job runs only with the approvals the policy requires, of
  // an earlier decision of this job, policy and findings (policy/approval.h).
  if (r.decision.verdict == Verdict::kNeedsReview && r.decision.mode == PolicyMode::kEnforce && policy.approvals_for_review > 0) {
    DG_ASSIGN_OR_RETURN(nlohmann::json approvals, FindApprovals(ledger, policy, job.sha256, ToJson(r.decision)["findings"]));
    if (approvals.size() >= static_cast<size_t>(policy.approvals_for_review)) {
      r.decision.approved = true;
      r.decision.approvals = std::move(approvals);
    }
  }
  nlohmann::json body = ToJson(r.decision);
  body["job"] = job.name;
  // The job itself, so that a verifier holding only this entry can check its
  // hash (inputs.job_sha256) and re-evaluate it under another policy.
  body["job_document"] = job.doc;
  AddWhenAndWho(body);
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

StatusOr<GateResult> Gate::DecideAttribution(const nlohmann::json& plan, Ledger& ledger, const PrivateKey& key) {
  if (!plan.is_object() || plan.value("format", "") != "distillgate-attribution-plan-v1") {
    return Status::InvalidInput("an attribution plan must be an object with \"format\": \"distillgate-attribution-plan-v1\"");
  }
  DG_ASSIGN_OR_RETURN(std::string canonical, Canonicalize(plan));
  const std::string plan_sha256 = HexEncode(Sha256(canonical));
  DG_ASSIGN_OR_RETURN(std::string no_policy, Canonicalize(nlohmann::json::object()));
  GateResult r;
  r.decision.verdict = Verdict::kAllow;
  nlohmann::json body = {
      {"kind", "attribution"},
      {"job", "attribution"},
      {"verdict", "allow"},
      {"mode", "enforce"},
      {"enforced", true},
      {"rests_on_unverified_facts", false},
      {"findings",
       {{{"rule", "attribution-queries-only"},
         {"severity", "warning"},
         {"subject", "teacher:" + plan.value("suspect", nlohmann::json::object()).value("id", std::string("suspect"))},
         {"license", ""},
         {"clause", nullptr},
         {"message", "an attribution run queries the models in its plan and trains nothing; whether each endpoint's own terms "
                     "allow evaluation queries is not checked"},
         {"fix", "query only endpoints whose terms allow evaluation, or your own models"},
         {"waived", false}}}},
      {"obligations", nlohmann::json::array()},
      {"student_licenses", nlohmann::json::array()},
      // No policy is evaluated: policy_sha256 is the hash of the empty object.
      {"inputs", {{"job_sha256", plan_sha256}, {"policy_sha256", HexEncode(Sha256(no_policy))}, {"profiles", nlohmann::json::object()}}},
      {"plan", plan}};
  AddWhenAndWho(body);
  DG_ASSIGN_OR_RETURN(LedgerEntry entry, LedgerEntry::Make("decision", body));
  DG_ASSIGN_OR_RETURN(AppendResult appended, ledger.Append({entry}, key));
  r.decision_index = appended.first_index;
  Permit p;
  p.job_sha256_ = plan_sha256;
  p.decision_index_ = appended.first_index;
  p.decision_leaf_hash_ = entry.leaf_hash();
  p.ledger_origin_ = ledger.origin();
  r.permit = p;
  return r;
}

StatusOr<Permit> Gate::Admit(const Job& job, Ledger& ledger, uint64_t decision_index, const Hash& decision_leaf_hash) {
  const std::string at = "ledger entry " + std::to_string(decision_index);
  DG_ASSIGN_OR_RETURN(StoredLeaf leaf, ledger.GetLeaf(decision_index));
  if (leaf.kind != "decision" || leaf.leaf_hash != decision_leaf_hash) {
    return Status::VerifyFailed(at + " is not the decision this rank was told of (kind " + leaf.kind + ", leaf hash " +
                                HexEncode(leaf.leaf_hash).substr(0, 16) + "…)");
  }
  auto doc = ParseJsonStrict(leaf.data, at);
  if (!doc.ok() || !doc->is_object() || !(*doc)["body"].is_object()) return Status::VerifyFailed(at + ": not an entry distillgate writes");
  const nlohmann::json& body = (*doc)["body"];
  if (body.value("kind", "") == "attribution" || body.contains("plan")) {
    return Status::VerifyFailed(at + " decided an attribution, which trains nothing");
  }
  const nlohmann::json inputs = body.value("inputs", nlohmann::json::object());
  if (!inputs.is_object() || inputs.value("job_sha256", "") != job.sha256) {
    return Status::VerifyFailed(at + " decided another job (" + (inputs.is_object() ? inputs.value("job_sha256", "?") : "?").substr(0, 16) +
                                "…), not this one (" + job.sha256.substr(0, 16) + "…)");
  }
  const std::optional<Verdict> verdict = ParseVerdict(body.value("verdict", ""));
  const std::optional<PolicyMode> mode = ParsePolicyMode(body.value("mode", ""));
  if (!verdict || !mode) return Status::VerifyFailed(at + ": a verdict or mode distillgate does not write");
  Decision d;
  d.verdict = *verdict;
  d.mode = *mode;
  d.approved = DecisionApproved(body);  // the gate wrote it, under the ledger's signature
  if (!d.AllowsTraining()) return Status::VerifyFailed(at + " did not allow training (" + VerdictName(*verdict) + ")");
  Permit p;
  p.job_sha256_ = job.sha256;
  p.decision_index_ = decision_index;
  p.decision_leaf_hash_ = leaf.leaf_hash;
  p.ledger_origin_ = ledger.origin();
  return p;
}

Status Gate::Verify(const Permit& permit, const Job& job, Ledger& ledger) {
  return Verify(permit, RunSubject{job.name, job.sha256}, ledger);
}

Status Gate::Verify(const Permit& permit, const RunSubject& subject, Ledger& ledger) {
  if (permit.job_sha256() != subject.sha256) {
    return Status::VerifyFailed("the job changed after its decision (decided " + permit.job_sha256().substr(0, 16) +
                                "…, now " + subject.sha256.substr(0, 16) + "…): decide again");
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
