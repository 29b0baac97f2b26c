#include "policy/approval.h"

#include <set>

#include "core/canonical_json.h"
#include "core/clock.h"
#include "core/dsse.h"
#include "core/encoding.h"
#include "ledger/entry.h"
#include "ledger/note.h"
#include "policy/gate.h"

namespace dg {

using json = nlohmann::json;

namespace {

StatusOr<json> EntryBody(const StoredLeaf& leaf, const std::string& at) {
  auto doc = ParseJsonStrict(leaf.data, at);
  if (!doc.ok() || !doc->is_object() || !(*doc)["body"].is_object()) return Status::VerifyFailed(at + ": not an entry distillgate writes");
  return (*doc)["body"];
}

const Approver* FindApprover(const Policy& policy, const std::string& vkey) {
  for (const Approver& a : policy.approvers) {
    if (a.vkey == vkey) return &a;
  }
  return nullptr;
}

// A string member of `j`, or "" when it is absent or not a string (never a
// type_error: a malformed entry is skipped, not an internal error).
std::string StrOf(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// Why the approval entry `body` does not count for (job, policy, findings),
// or "" when it does; *approver is the policy's entry it counts for.
std::string Rejects(Ledger& ledger, const json& body, const Policy& policy, const std::string& job_sha256, const json& findings,
                    const Approver** counted) {
  if (!body.contains("statement") || !body["statement"].is_object() || !body.contains("envelope")) return "not an approval";
  const json& st = body["statement"];
  if (StrOf(st, "type") != "distillgate-approval-v1") return "not an approval statement";
  if (StrOf(st, "ledger_origin") != ledger.origin()) return "an approval for another ledger";
  if (StrOf(st, "job_sha256") != job_sha256) return "another job";
  if (StrOf(st, "policy_sha256") != policy.sha256) return "another policy";
  const Approver* approver = FindApprover(policy, StrOf(st, "approver_vkey"));
  if (approver == nullptr) return "an approver the policy does not list";
  if (StrOf(st, "approver") != approver->name) return "a name that is not the approver key's";
  if (StrOf(st, "role") != approver->role) return "a role that is not the approver's";
  auto v = NoteVerifier::Parse(approver->vkey);
  if (!v.ok()) return "an approver key that does not parse";
  auto verified = DsseVerify(body["envelope"], v->key(), "approval");
  if (!verified.ok() || verified->payload_type != kApprovalPayloadType) return "a signature that does not verify";
  auto payload = ParseJsonStrict(verified->payload, "approval payload");
  if (!payload.ok() || *payload != st) return "a statement that is not what was signed";
  if (!st.contains("decision_index") || !st["decision_index"].is_number_unsigned()) return "no decision";
  const uint64_t index = st["decision_index"];
  auto leaf = ledger.GetLeaf(index);
  if (!leaf.ok() || leaf->kind != "decision" || Base64Encode(leaf->leaf_hash) != StrOf(st, "decision_leaf_hash")) {
    return "a decision this ledger does not hold";
  }
  auto decision = EntryBody(*leaf, "ledger entry " + std::to_string(index));
  if (!decision.ok()) return "a decision distillgate did not write";
  if (StrOf(*decision, "verdict") != "needs_review") return "a decision that was not needs review";
  const json inputs = decision->contains("inputs") ? (*decision)["inputs"] : json();
  if (StrOf(inputs, "job_sha256") != job_sha256 || StrOf(inputs, "policy_sha256") != policy.sha256) return "a decision of another job or policy";
  if (!decision->contains("findings") || (*decision)["findings"] != findings) {
    return "a decision with other findings (the knowledge base or the job's facts changed)";
  }
  *counted = approver;
  return "";
}

}  // namespace

bool DecisionApproved(const json& body) {
  return body.is_object() && StrOf(body, "verdict") == "needs_review" && StrOf(body, "mode") == "enforce" && body.contains("approved") &&
         body["approved"] == true && body.contains("approvals") && body["approvals"].is_array() && !body["approvals"].empty();
}

StatusOr<uint64_t> RecordApproval(Ledger& ledger, const PrivateKey& ledger_key, const PrivateKey& approver_key, const Policy& policy,
                                  const ApprovalRequest& request) {
  const std::string at = "ledger entry " + std::to_string(request.decision_index);
  DG_ASSIGN_OR_RETURN(StoredLeaf leaf, ledger.GetLeaf(request.decision_index));
  if (leaf.kind != "decision") return Status::InvalidInput(at + " is a " + leaf.kind + " entry, not a decision");
  DG_ASSIGN_OR_RETURN(json decision, EntryBody(leaf, at));
  const std::string verdict = StrOf(decision, "verdict");
  if (verdict == "deny") return Status::InvalidInput(at + ": the job was denied; a denial is never approvable (change the job instead)");
  if (verdict != "needs_review") return Status::InvalidInput(at + ": the verdict was " + verdict + "; only a needs-review decision takes approvals");
  // Only a decision that opened nothing takes approvals: an approved one, or
  // one in warn/audit mode, may have a run whose entries the approval would join.
  if (DecisionApproved(decision)) {
    return Status::InvalidInput(at + ": this decision already ran on approvals; approve the needs-review decision it counted");
  }
  if (StrOf(decision, "mode") != "enforce") {
    return Status::InvalidInput(at + ": the decision was made in " + StrOf(decision, "mode") + " mode, which lets the job run without approvals");
  }
  const json inputs = decision.contains("inputs") ? decision["inputs"] : json();
  if (StrOf(inputs, "policy_sha256") != policy.sha256) {
    return Status::InvalidInput(at + ": the decision was made under another policy (sha256 " + StrOf(inputs, "policy_sha256").substr(0, 16) +
                                "…); give that policy with --policy");
  }
  const Approver* approver = nullptr;
  for (const Approver& a : policy.approvers) {
    auto v = NoteVerifier::Parse(a.vkey);
    if (v.ok() && v->key() == approver_key.public_key()) approver = &a;
  }
  if (approver == nullptr) {
    return Status::InvalidInput("--key: the approver's key is not one of the policy's approvers (/approvers lists " +
                                std::to_string(policy.approvers.size()) + ")");
  }
  if (request.role != approver->role) {
    return Status::InvalidInput("--role " + request.role + ": " + approver->name + "'s role in the policy is " + approver->role);
  }
  if (request.note.find_first_not_of(" \t\r\n\f\v") == std::string::npos) {
    return Status::InvalidInput("--note: say why the job may run (a note of blanks says nothing)");
  }
  const std::string job_sha256 = StrOf(inputs, "job_sha256");
  const json statement = {{"type", "distillgate-approval-v1"},
                          {"ledger_origin", ledger.origin()},
                          {"decision_index", request.decision_index},
                          {"decision_leaf_hash", Base64Encode(leaf.leaf_hash)},
                          {"run", RunIdFor(job_sha256, request.decision_index)},
                          {"job_sha256", job_sha256},
                          {"policy_sha256", policy.sha256},
                          {"verdict", verdict},
                          {"approver", approver->name},
                          {"approver_vkey", approver->vkey},
                          {"role", approver->role},
                          {"note", request.note},
                          {"approved_at", NowRfc3339()}};
  DG_ASSIGN_OR_RETURN(std::string payload, Canonicalize(statement));
  const json envelope = DsseSign(kApprovalPayloadType, payload, approver_key, approver->vkey);
  DG_ASSIGN_OR_RETURN(LedgerEntry entry,
                      LedgerEntry::Make("approval", {{"run", statement["run"]}, {"statement", statement}, {"envelope", envelope}}));
  DG_ASSIGN_OR_RETURN(AppendResult appended, ledger.Append({entry}, ledger_key));
  return appended.first_index;
}

StatusOr<json> FindApprovals(Ledger& ledger, const Policy& policy, const std::string& job_sha256, const json& findings) {
  Ledger::ReadSnapshot snap(ledger);
  DG_ASSIGN_OR_RETURN(uint64_t size, ledger.Size());
  DG_ASSIGN_OR_RETURN(auto scan, ledger.ScanLeaves(0, size));
  json out = json::array();
  std::set<std::string> seen;
  StoredLeaf leaf;
  while (true) {
    DG_ASSIGN_OR_RETURN(bool more, scan->Next(&leaf));
    if (!more) break;
    if (leaf.kind != "approval") continue;
    auto body = EntryBody(leaf, "ledger entry " + std::to_string(leaf.index));
    const Approver* approver = nullptr;
    if (!body.ok() || !Rejects(ledger, *body, policy, job_sha256, findings, &approver).empty() || approver == nullptr) continue;
    const json& st = (*body)["statement"];
    if (!seen.insert(approver->vkey).second) continue;  // one approver (one key), one approval
    out.push_back({{"ledger_index", leaf.index},
                   {"leaf_hash", Base64Encode(leaf.leaf_hash)},
                   {"approver", approver->name},
                   {"role", approver->role},
                   {"note", StrOf(st, "note")},
                   {"approved_at", StrOf(st, "approved_at")},
                   {"decision_index", st["decision_index"]}});
  }
  return out;
}

}  // namespace dg
