#include "policy/job.h"

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"

namespace dg {
namespace {

// /…/base_model: a hub id, an ancestor object, or a list of either (a merge).
std::vector<Ancestor> Bases(const nlohmann::json& j) {
  std::vector<Ancestor> out;
  if (j.is_null()) return out;
  auto one = [](const nlohmann::json& a) {
    Ancestor x;
    if (a.is_string()) {
      x.name = a.get<std::string>();
      return x;
    }
    x.name = a.value("name", "");
    x.license = a.value("license", "");
    x.relation = a.value("relation", "");
    x.multimodal = a.value("multimodal", false);
    x.multimodal_stated = a.contains("multimodal");
    x.bases = Bases(a.value("base_model", nlohmann::json()));
    return x;
  };
  if (j.is_array()) {
    for (const auto& a : j) out.push_back(one(a));
  } else {
    out.push_back(one(j));
  }
  return out;
}

JobModelRef ModelRef(const nlohmann::json& j) {
  JobModelRef r;
  r.name = j.value("name", j.value("model", ""));
  r.license = j["license"];
  r.multimodal = j.value("multimodal", false);
  r.multimodal_stated = j.contains("multimodal");
  r.relation = j.value("relation", "");
  r.bases = Bases(j.value("base_model", nlohmann::json()));
  return r;
}

std::optional<std::vector<std::string>> Strings(const nlohmann::json& u, const char* key) {
  if (!u.contains(key)) return std::nullopt;
  return u[key].get<std::vector<std::string>>();
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
    jt.multimodal_stated = t.contains("multimodal");
    jt.bases = Bases(t.value("base_model", nlohmann::json()));
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
  // Findings, waivers, approvals and recorded calls name a teacher or dataset
  // by its id: two entries under one id would share them.
  auto unique_ids = [&where](const auto& entries, const char* array) -> Status {
    for (size_t i = 0; i < entries.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (entries[j].id == entries[i].id) {
          return Status::InvalidInput(where + ": /" + array + "/" + std::to_string(i) + "/id: \"" + entries[i].id + "\" is already the id of /" +
                                      array + "/" + std::to_string(j) + "; expected an id of its own (findings, waivers and calls name " +
                                      array + " by id)");
        }
      }
    }
    return Status::Ok();
  };
  DG_RETURN_IF_ERROR(unique_ids(job.teachers, "teachers"));
  DG_RETURN_IF_ERROR(unique_ids(job.datasets, "datasets"));
  const auto& s = doc["student"];
  job.student.name = s["name"];
  job.student.model_type = s["model_type"];
  job.student.architecture = s.value("architecture", "");
  job.student.multimodal = s.value("multimodal", false);
  if (s.contains("base_model")) job.student.base_model = ModelRef(s["base_model"]);
  const auto& u = doc["use"];
  job.use.commercial = u["commercial"];
  job.use.distribution = u["distribution"];
  job.use.purpose = u["purpose"];
  job.use.product_category = u.value("product_category", "");
  if (u.contains("expected_mau")) job.use.expected_mau = u["expected_mau"].get<int64_t>();
  if (u.contains("monthly_revenue_usd")) job.use.monthly_revenue_usd = u["monthly_revenue_usd"].get<int64_t>();
  if (u.contains("annual_revenue_usd")) job.use.annual_revenue_usd = u["annual_revenue_usd"].get<int64_t>();
  job.use.domicile = Strings(u, "domicile");
  job.use.markets = Strings(u, "markets");
  if (const auto legacy = Strings(u, "jurisdictions")) {  // deprecated: both at once
    auto add = [&legacy](std::optional<std::vector<std::string>>* to) {
      if (!*to) *to = std::vector<std::string>{};
      (*to)->insert((*to)->end(), legacy->begin(), legacy->end());
    };
    add(&job.use.domicile);
    add(&job.use.markets);
  }
  job.use.competes_with = Strings(u, "competes_with");
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
