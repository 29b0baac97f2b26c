#include "policy/job.h"

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"

namespace dg {
namespace {

JobModelRef ModelRef(const nlohmann::json& j) {
  return {j.value("name", j.value("model", "")), j["license"], j.value("multimodal", false)};
}

}  // namespace

StatusOr<Job> ParseJob(const nlohmann::json& doc, const std::string& where) {
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("job.schema.json"));
  DG_RETURN_IF_ERROR(schema->Validate(doc, where));
  Job job;
  job.doc = doc;
  job.name = doc["name"];
  for (const auto& t : doc["teachers"]) {
    JobTeacher jt;
    jt.id = t["id"];
    jt.kind = t["kind"];
    jt.license = t["license"];
    jt.provider = t.value("provider", "");
    jt.model = t.value("model", "");
    jt.model_file = t.value("model_file", "");
    jt.model_card = t.value("model_card", "");
    jt.multimodal = t.value("multimodal", false);
    job.teachers.push_back(jt);
  }
  if (doc.contains("datasets")) {
    for (const auto& d : doc["datasets"]) {
      JobDataset jd;
      jd.id = d["id"];
      jd.path = d.value("path", "");
      jd.license = d["license"];
      if (d.contains("generated_by")) jd.generated_by = ModelRef(d["generated_by"]);
      job.datasets.push_back(jd);
    }
  }
  const auto& s = doc["student"];
  job.student.name = s["name"];
  job.student.model_type = s["model_type"];
  job.student.architecture = s.value("architecture", "");
  if (s.contains("base_model")) job.student.base_model = ModelRef(s["base_model"]);
  const auto& u = doc["use"];
  job.use.commercial = u["commercial"];
  job.use.distribution = u["distribution"];
  job.use.purpose = u["purpose"];
  job.use.product_category = u.value("product_category", "");
  if (u.contains("expected_mau")) job.use.expected_mau = u["expected_mau"].get<int64_t>();
  job.use.jurisdictions = u.value("jurisdictions", std::vector<std::string>{});
  job.use.competes_with = u.value("competes_with", std::vector<std::string>{});
  auto canon = Canonicalize(doc);
  if (!canon.ok()) return canon.status().WithContext(where);
  job.sha256 = HexEncode(Sha256(*canon));
  return job;
}

StatusOr<Job> LoadJob(const std::string& path) {
  DG_ASSIGN_OR_RETURN(nlohmann::json doc, LoadJsonFile(path));
  DG_ASSIGN_OR_RETURN(Job job, ParseJob(doc, path));
  const size_t slash = path.find_last_of('/');
  job.base_dir = slash == std::string::npos ? "" : path.substr(0, slash);
  return job;
}

std::string Job::Resolve(const std::string& path) const {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

}  // namespace dg
