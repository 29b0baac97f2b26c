#include "report/export.h"

#include <cctype>
#include <set>
#include <string>

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "core/encoding.h"
#include "license/knowledge_base.h"
#include "core/file_util.h"
#include "core/hash.h"

namespace dg {

using json = nlohmann::json;

namespace {

// A name-based (version 5 layout) UUID from a SHA-256 of `seed`, so exports
// of the same run are identical.
std::string UuidFrom(const std::string& seed) {
  Hash h = Sha256(seed);
  h[6] = static_cast<uint8_t>((h[6] & 0x0f) | 0x50);
  h[8] = static_cast<uint8_t>((h[8] & 0x3f) | 0x80);
  const std::string hex = HexEncode(std::string(reinterpret_cast<const char*>(h.data()), 16));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

// CycloneDX license choice: an SPDX id where the profile is one, else a named license.
json CdxLicense(const json& evidence, const std::string& declared, const char* acknowledgement) {
  json lic;
  const std::string profile = evidence.value("profile", "");
  if (!profile.empty() && profile.rfind("LicenseRef-", 0) != 0) {
    lic["id"] = profile;
  } else {
    lic["name"] = profile.empty() ? declared : profile;
    const json sources = evidence.value("sources", json::array());
    if (!sources.empty()) lic["url"] = sources[0];
  }
  lic["acknowledgement"] = acknowledgement;
  return {{"license", lic}};
}

Status NeedsCompletedRun(const json& r) {
  if (r.value("status", "") != "completed" || !r.contains("model")) {
    return Status::InvalidInput("run " + r.value("run", "") + " is " + r.value("status", "") +
                                ": only a completed run has a student to export");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<json> ExportCycloneDx(const json& r) {
  DG_RETURN_IF_ERROR(NeedsCompletedRun(r));
  const json& m = r["model"];
  const std::string run = r["run"];
  json components = json::array(), ancestors = json::array(), depends = json::array(), datasets_ref = json::array();
  for (const json& t : r["teachers"]) {
    json c = {{"bom-ref", "teacher:" + t.value("id", "")},
              {"type", "machine-learning-model"},
              {"name", t.value("id", "")},
              {"licenses", json::array({CdxLicense(t["evidence"], t.value("declared_license", ""), "declared")})},
              {"properties", json::array({{{"name", "distillgate:role"}, {"value", "teacher"}}})}};
    if (t.contains("sha256")) c["hashes"] = json::array({{{"alg", "SHA-256"}, {"content", t["sha256"]}}});
    if (t.contains("provider")) c["supplier"] = {{"name", t["provider"]}};
    if (t["evidence"].contains("profile_sha256")) {
      c["properties"].push_back({{"name", "distillgate:terms-profile-sha256"}, {"value", t["evidence"]["profile_sha256"]}});
    }
    ancestors.push_back({{"bom-ref", "ancestor:" + t.value("id", "")}, {"type", "machine-learning-model"}, {"name", t.value("id", "")}});
    if (t.contains("sha256")) ancestors.back()["hashes"] = c["hashes"];
    depends.push_back(c["bom-ref"]);
    components.push_back(std::move(c));
  }
  for (const json& d : r["datasets"]) {
    const std::string ref = "dataset:" + d.value("dataset", "");
    json hashes = json::array();
    json c = {{"bom-ref", ref},
              {"type", "data"},
              {"name", d.value("dataset", "")},
              {"licenses", json::array({CdxLicense(d["evidence"], d.value("license", ""), "declared")})},
              {"data", json::array({{{"type", "dataset"},
                                     {"name", d.value("dataset", "")},
                                     {"description", std::to_string(d.value("records", 0)) + " records; " + d.value("record_format", "")}}})},
              {"properties", json::array({{{"name", "distillgate:records"}, {"value", std::to_string(d.value("records", 0))}},
                                          {{"name", "distillgate:records-root"}, {"value", d.value("records_root", "")}}})}};
    for (const json& f : d.value("files", json::array())) {
      c["properties"].push_back({{"name", "distillgate:file-sha256"}, {"value", BaseName(f.value("path", "")) + " " + f.value("sha256", "")}});
    }
    depends.push_back(ref);
    datasets_ref.push_back({{"ref", ref}});
    components.push_back(std::move(c));
  }
  json student_licenses = json::array();
  for (const json& l : r["decision"].value("student_licenses", json::array())) {
    student_licenses.push_back(CdxLicense(json{{"profile", l}}, l, "concluded"));
  }
  json student = {
      {"bom-ref", "student"},
      {"type", "machine-learning-model"},
      {"name", m.value("student", "")},
      {"hashes", json::array({{{"alg", "SHA-256"}, {"content", m.value("sha256", "")}}})},
      {"pedigree", {{"ancestors", ancestors}, {"notes", "Distilled by distillgate run " + run + " from the teachers listed as ancestors (knowledge distillation)."}}},
      {"modelCard",
       {{"modelParameters",
         {{"approach", {{"type", "supervised"}}},
          {"task", "classification"},
          {"architectureFamily", m.value("arch", "")},
          {"datasets", datasets_ref}}},
        {"quantitativeAnalysis",
         {{"performanceMetrics", json::array({{{"type", "accuracy"}, {"value", m["test_accuracy"].is_number() ? std::to_string(m["test_accuracy"].get<double>()) : "unknown"}, {"slice", "test split"}}})}}}}},
      {"properties", json::array({{{"name", "distillgate:run"}, {"value", run}},
                                  {{"name", "distillgate:distillation"}, {"value", "true"}},
                                  {{"name", "distillgate:decision"}, {"value", r["decision"].value("verdict", "")}},
                                  {{"name", "distillgate:policy-sha256"}, {"value", r["decision"].value("policy_sha256", "")}},
                                  {{"name", "distillgate:teacher-calls"}, {"value", std::to_string(r["teacher_calls"].value("count", 0))}},
                                  {{"name", "distillgate:teacher-calls-root"}, {"value", r["teacher_calls"].value("root", "")}},
                                  {{"name", "distillgate:ledger-checkpoint"}, {"value", r["ledger"].value("checkpoint", "")}}})}};
  if (!student_licenses.empty()) student["licenses"] = student_licenses;
  return json{{"$schema", "http://cyclonedx.org/schema/bom-1.6.schema.json"},
              {"bomFormat", "CycloneDX"},
              {"specVersion", "1.6"},
              {"serialNumber", "urn:uuid:" + UuidFrom("cyclonedx " + run + " " + m.value("sha256", ""))},
              {"version", 1},
              {"metadata",
               {{"timestamp", r.value("generated_at", "")},
                {"tools", {{"components", json::array({{{"type", "application"}, {"name", "distillgate"}, {"version", "0.1.0"}}})}}},
                {"component", student}}},
              {"components", components},
              {"dependencies", json::array({{{"ref", "student"}, {"dependsOn", depends}}})}};
}

StatusOr<json> ExportSpdx3(const json& r) {
  DG_RETURN_IF_ERROR(NeedsCompletedRun(r));
  const json& m = r["model"];
  const std::string run = r["run"];
  const std::string ns = "urn:distillgate:" + run + ":";
  const std::string created = r.value("generated_at", "");
  json graph = json::array();
  graph.push_back({{"type", "CreationInfo"}, {"@id", "_:creationinfo"}, {"specVersion", "3.0.1"}, {"created", created},
                   {"createdBy", json::array({ns + "tool/distillgate"})}});
  graph.push_back({{"type", "Tool"}, {"spdxId", ns + "tool/distillgate"}, {"creationInfo", "_:creationinfo"}, {"name", "distillgate 0.1.0"}});
  auto sha = [](const std::string& hex) {
    return json::array({{{"type", "Hash"}, {"algorithm", "sha256"}, {"hashValue", hex}}});
  };
  std::set<std::string> licenses_written;
  auto license_el = [&](const std::string& id) {
    std::string safe = id;  // an IRI segment: no spaces or parentheses
    for (char& c : safe) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '+') c = '_';
    }
    const std::string spdx_id = ns + "license/" + safe;
    if (!licenses_written.insert(spdx_id).second) return spdx_id;
    graph.push_back({{"type", "simplelicensing_LicenseExpression"}, {"spdxId", spdx_id}, {"creationInfo", "_:creationinfo"},
                     {"simplelicensing_licenseExpression", id}});
    return spdx_id;
  };
  int rel = 0;
  auto relate = [&](const std::string& from, const std::string& type, const json& to, const std::string& comment = "") {
    json j = {{"type", "Relationship"}, {"spdxId", ns + "relationship/" + std::to_string(rel++)}, {"creationInfo", "_:creationinfo"},
              {"from", from}, {"relationshipType", type}, {"to", to}};
    if (!comment.empty()) j["comment"] = comment;
    graph.push_back(std::move(j));
  };
  const std::string student = ns + "model/student";
  std::string concluded = "NOASSERTION";
  const json sl = r["decision"].value("student_licenses", json::array());
  if (!sl.empty()) {
    concluded.clear();
    for (const json& l : sl) concluded += (concluded.empty() ? "" : " AND ") + l.get<std::string>();
  }
  graph.push_back({{"type", "ai_AIPackage"},
                   {"spdxId", student},
                   {"creationInfo", "_:creationinfo"},
                   {"name", m.value("student", "")},
                   {"verifiedUsing", sha(m.value("sha256", ""))},
                   {"software_primaryPurpose", "model"},
                   {"software_downloadLocation", "NOASSERTION"},
                   {"software_packageVersion", run},
                   {"releaseTime", created},
                   {"suppliedBy", ns + "tool/distillgate"},
                   {"ai_typeOfModel", json::array({m.value("arch", "")})},
                   {"ai_informationAboutTraining",
                    "Knowledge distillation by distillgate run " + run + "; " + std::to_string(r["teacher_calls"].value("count", 0)) +
                        " teacher calls recorded (RFC 6962 root " + r["teacher_calls"].value("root", "") + ")."},
                   {"ai_metric", json::array({{{"type", "DictionaryEntry"}, {"key", "test_accuracy"},
                                               {"value", m["test_accuracy"].is_number() ? std::to_string(m["test_accuracy"].get<double>()) : "unknown"}}})},
                   {"comment", "distillgate decision " + r["decision"].value("verdict", "") + "; policy sha256 " + r["decision"].value("policy_sha256", "")}});
  relate(student, "hasConcludedLicense", json::array({license_el(concluded)}));
  relate(student, "hasDeclaredLicense", json::array({license_el(concluded)}));
  json datasets = json::array();
  for (const json& d : r["datasets"]) {
    const std::string id = ns + "dataset/" + d.value("dataset", "");
    graph.push_back({{"type", "dataset_DatasetPackage"},
                     {"spdxId", id},
                     {"creationInfo", "_:creationinfo"},
                     {"name", d.value("dataset", "")},
                     {"software_primaryPurpose", "data"},
                     {"software_downloadLocation", "NOASSERTION"},
                     {"releaseTime", created},
                     {"suppliedBy", ns + "tool/distillgate"},
                     {"dataset_datasetType", json::array({"other"})},
                     {"comment", std::to_string(d.value("records", 0)) + " records, RFC 6962 records root " + d.value("records_root", "")}});
    relate(id, "hasDeclaredLicense", json::array({license_el(d.value("license", "NOASSERTION"))}));
    datasets.push_back(id);
  }
  if (!datasets.empty()) relate(student, "trainedOn", datasets);
  for (const json& t : r["teachers"]) {
    const std::string id = ns + "model/teacher/" + t.value("id", "");
    json el = {{"type", "ai_AIPackage"},
               {"spdxId", id},
               {"creationInfo", "_:creationinfo"},
               {"name", t.value("id", "")},
               {"software_primaryPurpose", "model"},
               {"software_downloadLocation", "NOASSERTION"},
               {"releaseTime", created},
               {"suppliedBy", ns + "tool/distillgate"},
               {"comment", "distillation teacher"}};
    if (t.contains("sha256")) el["verifiedUsing"] = sha(t["sha256"]);
    graph.push_back(std::move(el));
    relate(id, "hasDeclaredLicense", json::array({license_el(t.value("declared_license", "NOASSERTION"))}));
    relate(student, "descendantOf", json::array({id}), "distillationTeacher: the student was trained on this teacher's outputs");
  }
  json elements = json::array();
  for (const json& e : graph) {
    if (e.contains("spdxId")) elements.push_back(e["spdxId"]);
  }
  graph.push_back({{"type", "SpdxDocument"}, {"spdxId", ns + "document"}, {"creationInfo", "_:creationinfo"},
                   {"name", "distillgate lineage of " + m.value("student", "")}, {"rootElement", json::array({student})},
                   {"element", elements}, {"profileConformance", json::array({"core", "software", "ai", "dataset", "simpleLicensing"})}});
  return json{{"@context", "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}, {"@graph", graph}};
}

StatusOr<std::string> ExportHfModelCard(const json& r, const std::string& license) {
  DG_RETURN_IF_ERROR(NeedsCompletedRun(r));
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::Builtin());
  const json& m = r["model"];
  std::string chosen = license;
  if (chosen.empty()) {
    for (const json& l : r["decision"].value("student_licenses", json::array())) {
      chosen += (chosen.empty() ? "" : " AND ") + l.get<std::string>();
    }
  }
  YAML::Emitter y;
  y << YAML::BeginMap;
  const LicenseProfile* p = chosen.empty() ? nullptr : kb->Find(chosen);
  const std::string hf = p != nullptr ? p->doc.value("hf_license", "") : "";
  if (!hf.empty() && hf != "other") {
    y << YAML::Key << "license" << YAML::Value << hf;
  } else {
    y << YAML::Key << "license" << YAML::Value << "other";
    y << YAML::Key << "license_name" << YAML::Value << (chosen.empty() ? "unspecified" : p != nullptr ? p->id : chosen);
    const json sources = p != nullptr ? p->doc.value("sources", json::array()) : json::array();
    if (!sources.empty()) y << YAML::Key << "license_link" << YAML::Value << sources[0].get<std::string>();
  }
  // The student's base (a fine-tuning start the job declared): the Hub's
  // base_model, related by fine-tuning. Teachers are not base models (the Hub
  // has no "distillation" relation); they are in the distillation block.
  const json student = r["job"].value("student", json::object());
  const json base = student.is_object() ? student.value("base_model", json()) : json();
  if (base.is_object() && base.contains("name") && base["name"].is_string() && !base["name"].get<std::string>().empty()) {
    y << YAML::Key << "base_model" << YAML::Value << base["name"].get<std::string>();
    y << YAML::Key << "base_model_relation" << YAML::Value << "finetune";
  }
  y << YAML::Key << "tags" << YAML::Value << YAML::Flow << YAML::BeginSeq << "distillation" << "distillgate" << YAML::EndSeq;
  std::vector<std::string> datasets;
  for (const json& d : r["datasets"]) {
    std::string id = d.value("dataset", "");
    id = id.substr(0, id.find(':'));
    if (std::find(datasets.begin(), datasets.end(), id) == datasets.end()) datasets.push_back(id);
  }
  if (!datasets.empty()) {
    y << YAML::Key << "datasets" << YAML::Value << YAML::BeginSeq;
    for (const auto& d : datasets) y << d;
    y << YAML::EndSeq;
  }
  y << YAML::Key << "distillation" << YAML::Value << YAML::BeginMap;
  y << YAML::Key << "teachers" << YAML::Value << YAML::BeginSeq;
  for (const json& t : r["teachers"]) {
    y << YAML::BeginMap << YAML::Key << "id" << YAML::Value << t.value("id", "");
    y << YAML::Key << "license" << YAML::Value << t.value("declared_license", "");
    if (t.contains("sha256")) y << YAML::Key << "sha256" << YAML::Value << t["sha256"].get<std::string>();
    if (t.contains("model_signing_root")) y << YAML::Key << "model_signing_root" << YAML::Value << t["model_signing_root"].get<std::string>();
    if (t["evidence"].contains("profile_sha256")) {
      y << YAML::Key << "terms_sha256" << YAML::Value << t["evidence"]["profile_sha256"].get<std::string>();
    }
    y << YAML::EndMap;
  }
  y << YAML::EndSeq;
  y << YAML::Key << "run" << YAML::Value << r.value("run", "");
  y << YAML::Key << "decision" << YAML::Value << r["decision"].value("verdict", "");
  y << YAML::Key << "policy_sha256" << YAML::Value << r["decision"].value("policy_sha256", "");
  y << YAML::Key << "model_sha256" << YAML::Value << m.value("sha256", "");
  if (!m.value("model_signing_root", "").empty()) {
    y << YAML::Key << "model_signing_root" << YAML::Value << m.value("model_signing_root", "");
  }
  y << YAML::Key << "teacher_calls" << YAML::Value << r["teacher_calls"].value("count", uint64_t{0});
  y << YAML::Key << "teacher_calls_root" << YAML::Value << r["teacher_calls"].value("root", "");
  y << YAML::Key << "ledger_origin" << YAML::Value << r["ledger"].value("origin", "");
  y << YAML::Key << "ledger_tree_size" << YAML::Value << r["ledger"].value("tree_size", uint64_t{0});
  y << YAML::EndMap;
  y << YAML::EndMap;
  if (!y.good()) return Status::Internal(std::string("model card: ") + y.GetLastError());

  std::string text = "---\n" + std::string(y.c_str()) + "\n---\n\n# " + m.value("student", "") + "\n\n";
  text += "Distilled with distillgate (run `" + r.value("run", "") + "`, decision **" + r["decision"].value("verdict", "") +
          "**) from:\n\n";
  for (const json& t : r["teachers"]) text += "- " + t.value("id", "") + " (" + t.value("declared_license", "") + ")\n";
  text += "\nEvery teacher call (" + std::to_string(r["teacher_calls"].value("count", uint64_t{0})) +
          ") is recorded in the signed ledger `" + r["ledger"].value("origin", "") +
          "`; check the claim with `distillgate verify --model <this model> --bundle <its attestation> --vkey <the ledger's key>`.\n";
  // The lineage, for a reader: each teacher with its terms, then the signed
  // checkpoint of the ledger that records the run (a C2SP signed note; any
  // later checkpoint proves it too, through a consistency proof).
  text += "\n## Distillation lineage\n\n| teacher | kind | license or terms | terms profile SHA-256 | teacher SHA-256 |\n|---|---|---|---|---|\n";
  for (const json& t : r["teachers"]) {
    const json ev = t.value("evidence", json::object());
    text += "| " + t.value("id", "") + " | " + t.value("kind", "") + " | " + t.value("declared_license", "") +
            (ev.contains("profile") && ev["profile"] != t.value("declared_license", "") ? " (" + ev.value("profile", "") + ")" : "") + " | " +
            (ev.contains("profile_sha256") ? "`" + ev.value("profile_sha256", "") + "`" : "—") + " | " +
            (t.contains("sha256") ? "`" + t.value("sha256", "") + "`" : "—") + " |\n";
  }
  text += "\nDecision **" + r["decision"].value("verdict", "") + "** (policy `" + r["decision"].value("policy_sha256", "") +
          "`); student model SHA-256 `" + m.value("sha256", "") + "`" +
          (m.value("model_signing_root", "").empty() ? "" : ", OpenSSF model_signing root `" + m.value("model_signing_root", "") + "`") +
          ". The ledger checkpoint that proves the run (tree size " + std::to_string(r["ledger"].value("tree_size", uint64_t{0})) + "):\n\n```\n" +
          r["ledger"].value("checkpoint", "") + "```\n";
  const json obligations = r["decision"].value("obligations", json::array());
  if (!obligations.empty()) {
    text += "\n## Obligations from the teachers' terms\n\n";
    for (const json& o : obligations) text += "- " + o.value("text", "") + " (" + o.value("license", "") + ")\n";
  }
  if (chosen.empty()) text += "\n**The student's license is not set**: choose one and edit `license` above.\n";
  return text;
}

}  // namespace dg
