#include "policy/policy.h"

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"
#include "ledger/note.h"

#include <set>

namespace dg {

// Generated from policies/*.json by CMake (builtin_policies.cc).
extern const std::pair<const char*, const char*> kBuiltinPolicys[];
extern const size_t kBuiltinPolicyCount;

const char* PolicyModeName(PolicyMode mode) {
  switch (mode) {
    case PolicyMode::kEnforce: return "enforce";
    case PolicyMode::kWarn: return "warn";
    case PolicyMode::kAudit: return "audit";
  }
  return "enforce";
}

std::optional<PolicyMode> ParsePolicyMode(std::string_view name) {
  for (PolicyMode m : {PolicyMode::kEnforce, PolicyMode::kWarn, PolicyMode::kAudit}) {
    if (name == PolicyModeName(m)) return m;
  }
  return std::nullopt;
}

StatusOr<Policy> ParsePolicy(const nlohmann::json& doc, const std::string& where) {
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("policy.schema.json"));
  DG_RETURN_IF_ERROR(schema->Validate(doc, where));
  Policy p;
  p.doc = doc;
  const std::optional<PolicyMode> mode = ParsePolicyMode(doc["mode"].get<std::string>());
  if (!mode) return Status::Internal(where + ": /mode: the schema let through an unknown mode");
  p.mode = *mode;
  p.allowed_licenses = doc.value("allowed_licenses", std::vector<std::string>{});
  p.denied_licenses = doc.value("denied_licenses", std::vector<std::string>{});
  p.accept_research_only = doc.value("accept_research_only", true);
  p.accept_non_commercial = doc.value("accept_non_commercial", true);
  p.unknown_license = doc.value("unknown_license", "needs_review");
  if (doc.contains("competing")) p.competing_categories = doc["competing"].value("product_categories", std::vector<std::string>{});
  if (doc.contains("waivers")) {
    for (const auto& w : doc["waivers"]) {
      p.waivers.push_back({w["rule"], w["subject"], w["reason"], w["approver"], w["expires"]});
    }
  }
  if (doc.contains("approvers")) {
    std::set<std::string> names, keys;
    for (size_t i = 0; i < doc["approvers"].size(); ++i) {
      const auto& a = doc["approvers"][i];
      const std::string at = where + ": /approvers/" + std::to_string(i) + "/vkey";
      auto v = NoteVerifier::Parse(a["vkey"].get<std::string>());
      if (!v.ok()) return Status::InvalidInput(at + ": not a C2SP verifier key (" + v.status().message() + ")");
      if (!names.insert(v->name()).second) return Status::InvalidInput(at + ": approver " + v->name() + " is listed twice");
      if (!keys.insert(v->key().raw()).second) {
        return Status::InvalidInput(at + ": the key of " + v->name() + " is listed under another name too (one key, one approver)");
      }
      p.approvers.push_back({v->name(), a["role"], v->ToString()});
    }
  }
  if (doc.contains("require_approval")) {
    p.approvals_for_review = doc["require_approval"].value("needs_review", 0);
    if (p.approvals_for_review > static_cast<int>(p.approvers.size())) {
      return Status::InvalidInput(where + ": /require_approval/needs_review: " + std::to_string(p.approvals_for_review) +
                                  " approvals required but /approvers lists " + std::to_string(p.approvers.size()));
    }
  }
  auto canon = Canonicalize(doc);
  if (!canon.ok()) return canon.status().WithContext(where);
  p.sha256 = HexEncode(Sha256(*canon));
  return p;
}

StatusOr<Policy> LoadPolicy(const std::string& path) {
  if (path.empty()) return DefaultPolicy();
  DG_ASSIGN_OR_RETURN(nlohmann::json doc, LoadJsonFile(path));
  return ParsePolicy(doc, path);
}

StatusOr<Policy> DefaultPolicy() {
  for (size_t i = 0; i < kBuiltinPolicyCount; ++i) {
    if (std::string(kBuiltinPolicys[i].first) == "default-policy.json") {
      DG_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJsonStrict(kBuiltinPolicys[i].second, "policies/default-policy.json"));
      return ParsePolicy(doc, "policies/default-policy.json");
    }
  }
  return Status::Internal("policies/default-policy.json is not compiled in");
}

}  // namespace dg
