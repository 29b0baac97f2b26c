// An organisation's distillation policy (schemas/policy.schema.json).
#ifndef DISTILLGATE_POLICY_POLICY_H_
#define DISTILLGATE_POLICY_POLICY_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

struct Waiver {
  std::string rule, subject, reason, approver, expires;  // expires: YYYY-MM-DD
};

struct Policy {
  std::string mode = "enforce";  // enforce | warn | audit
  std::vector<std::string> allowed_licenses, denied_licenses, competing_categories;
  bool accept_research_only = true, accept_non_commercial = true;
  std::string unknown_license = "needs_review";  // or deny
  std::vector<Waiver> waivers;
  nlohmann::json doc;
  std::string sha256;
};

StatusOr<Policy> ParsePolicy(const nlohmann::json& doc, const std::string& where);
// An empty path means the built-in default policy.
StatusOr<Policy> LoadPolicy(const std::string& path);
// policies/default-policy.json as compiled into the binary.
StatusOr<Policy> DefaultPolicy();

}  // namespace dg

#endif  // DISTILLGATE_POLICY_POLICY_H_
