// An organisation's distillation policy (schemas/policy.schema.json).
// A Policy is a plain value, read once and never changed: share it between
// threads freely.
#ifndef DISTILLGATE_POLICY_POLICY_H_
#define DISTILLGATE_POLICY_POLICY_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// How a policy's verdicts bind: enforce gates training on them; warn and
// audit record them and let every job run.
enum class PolicyMode { kEnforce, kWarn, kAudit };
const char* PolicyModeName(PolicyMode mode);  // "enforce", "warn", "audit"
std::optional<PolicyMode> ParsePolicyMode(std::string_view name);

struct Waiver {
  std::string rule, subject, reason, approver, expires;  // expires: YYYY-MM-DD
};

// Someone whose signed approval can let a needs-review job run
// (docs/licenses-and-policy.md §Approvals): the C2SP verifier key of their
// Ed25519 key, whose name is theirs, and the role they answer for.
struct Approver {
  std::string name, role, vkey;
};

struct Policy {
  PolicyMode mode = PolicyMode::kEnforce;
  std::vector<std::string> allowed_licenses, denied_licenses, competing_categories;
  bool accept_research_only = true, accept_non_commercial = true;
  std::string unknown_license = "needs_review";  // or deny
  std::vector<Waiver> waivers;
  std::vector<Approver> approvers;
  int approvals_for_review = 0;  // require_approval.needs_review; 0: a needs-review job never runs (enforce)
  nlohmann::json doc;
  std::string sha256;
};

// Validates `doc` against the policy schema; InvalidInput names `where` and
// the JSON pointer of what is wrong.
StatusOr<Policy> ParsePolicy(const nlohmann::json& doc, const std::string& where);
// An empty path means the built-in default policy. IoError when the file
// cannot be read, InvalidInput when it is not a valid policy.
StatusOr<Policy> LoadPolicy(const std::string& path);
// policies/default-policy.json as compiled into the binary.
StatusOr<Policy> DefaultPolicy();

}  // namespace dg

#endif  // DISTILLGATE_POLICY_POLICY_H_
