// Deterministic evaluation of a job against the knowledge base and a policy.
// Every finding cites the clause of the profile it rests on.
//
// Evaluate() writes nothing and is safe on any thread (the job, policy and
// knowledge base are immutable values); it reads the model cards and license
// files the job's teachers name.
#ifndef DISTILLGATE_POLICY_EVALUATE_H_
#define DISTILLGATE_POLICY_EVALUATE_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "license/knowledge_base.h"
#include "policy/job.h"
#include "policy/policy.h"

namespace dg {

enum class Verdict { kAllow, kAllowWithObligations, kNeedsReview, kDeny };
const char* VerdictName(Verdict v);  // "allow", "allow_with_obligations", "needs_review", "deny"
std::optional<Verdict> ParseVerdict(std::string_view name);
// True for allow and allow_with_obligations: the verdict itself lets the job
// run, whatever the policy's mode (what an attestation must show).
bool VerdictAllows(Verdict v);
// Verdicts from the most to the least permissive: allow 0,
// allow_with_obligations 1, needs_review 2, deny 3.
int VerdictRank(Verdict v);

struct Finding {
  std::string rule;      // e.g. outputs-may-not-train-models
  std::string severity;  // deny | review | warning
  std::string subject;   // teacher:<id> | base_model | dataset:<id> | generator:<dataset id>
  std::string license;   // profile id, or the unknown name
  nlohmann::json clause; // {section, quote, source[, verified]} or null
  std::string message, fix;
  bool waived = false;
  std::string waiver;    // "reason (approver, until date)" when waived
};

struct Obligation {
  std::string kind;     // name_prefix | display | notice | license_copy | inherit_license | use_policy | attribution
  std::string text;
  std::string value;    // name_prefix: the required prefix; display: the text
  std::string subject, license;
  std::string status;   // met | unmet | to_do
  nlohmann::json clause;
};

// A fact the job does not state that a term turns on, and how the decision
// read it: a limit that would deny needs review; a duty applies.
struct Assumption {
  std::string fact;     // JSON pointer into the job, e.g. /use/expected_mau
  std::string assumed;  // "unknown: needs review" | "above the threshold (…)"
  std::string because;  // the term it matters for
  std::string subject, license;
};

struct Decision {
  Verdict verdict = Verdict::kAllow;
  PolicyMode mode = PolicyMode::kEnforce;
  std::vector<Finding> findings;
  std::vector<Obligation> obligations;
  std::vector<Assumption> assumptions;          // the facts the job left unstated
  std::set<std::string> student_licenses;       // licenses the student must carry
  std::map<std::string, std::string> profiles;  // profile id → sha256 used
  bool rests_on_unverified = false;
  std::string job_sha256, policy_sha256;
  // Set by the gate only (policy/approval.h): a needs-review decision that
  // the policy's required approvers approved; `approvals` lists them. The
  // verdict stays needs_review.
  bool approved = false;
  nlohmann::json approvals = nlohmann::json::array();

  // Whether the gate lets the job train: the verdict allows it, the policy
  // does not enforce its verdicts (warn, audit), or it was approved.
  bool AllowsTraining() const {
    return mode != PolicyMode::kEnforce || VerdictAllows(verdict) || (approved && verdict == Verdict::kNeedsReview);
  }
  // Exit code of `distillgate check`: 0 when AllowsTraining(), else 1
  // denied, 4 needs review.
  int ExitCode() const;
};

// `today` (YYYY-MM-DD) decides which waivers are still valid. Fails with
// InvalidInput on a malformed license expression in the job, and with the
// reader's error (IoError, InvalidInput) when a teacher's model card or
// license file cannot be read.
StatusOr<Decision> Evaluate(const Job& job, const Policy& policy, const KnowledgeBase& kb, const std::string& today);

nlohmann::json ToJson(const Decision& d);

}  // namespace dg

#endif  // DISTILLGATE_POLICY_EVALUATE_H_
