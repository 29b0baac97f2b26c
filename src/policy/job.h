// A distillation job (schemas/job.schema.json): teachers, datasets, the
// student and its intended use.
//
// Errors: IoError when the file cannot be read, InvalidInput naming the file
// and the JSON pointer of what does not match the schema. A Job is a plain
// value, immutable once parsed: share it between threads freely.
#ifndef DISTILLGATE_POLICY_JOB_H_
#define DISTILLGATE_POLICY_JOB_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// One model of a lineage: a base model a teacher, generator or base was
// derived from, with its own bases (chains of any depth; several for a merge).
struct Ancestor {
  std::string name;      // hub id or name
  std::string license;   // "" when the job does not say: looked up by name in the knowledge base
  std::string relation;  // finetune | adapter | quantized | merge | distillation | "" (unstated)
  bool multimodal = false;
  bool multimodal_stated = false;  // the job says whether it is (multimodal above is false otherwise)
  std::vector<Ancestor> bases;
};

struct JobTeacher {
  std::string id, kind, license, provider, model, model_file, model_card;
  bool multimodal = false;
  bool multimodal_stated = false;
  std::vector<Ancestor> bases;  // /teachers/N/base_model
};

struct JobModelRef {  // a dataset's generator or the student's base model
  std::string name, license;
  bool multimodal = false;
  bool multimodal_stated = false;
  std::string relation;
  std::vector<Ancestor> bases;  // its own base_model
};

struct JobDataset {
  std::string id, path, license;
  std::optional<JobModelRef> generated_by;
};

struct JobStudent {
  std::string name, model_type, architecture;
  bool multimodal = false;
  std::optional<JobModelRef> base_model;
};

// The facts the licenses' conditions turn on. A fact the job does not state
// is nullopt: the evaluator reads it the restrictive way and says so.
struct JobUse {
  bool commercial = false;
  std::string distribution, purpose, product_category;
  std::optional<int64_t> expected_mau, monthly_revenue_usd, annual_revenue_usd;
  // Where the distilling organisation is established, and where the student
  // is offered (the deprecated `jurisdictions` fills both).
  std::optional<std::vector<std::string>> domicile, markets;
  std::optional<std::vector<std::string>> competes_with;  // providers and product categories
};

struct Job {
  std::string name;
  std::vector<JobTeacher> teachers;
  std::vector<JobDataset> datasets;
  JobStudent student;
  JobUse use;
  nlohmann::json doc;   // as validated
  std::string sha256;   // of the RFC 8785 canonical form
  std::string base_dir; // relative paths in the job resolve against this ("" = working directory)
  std::string Resolve(const std::string& path) const;
};

// Validates against the job schema; errors name `where` and the JSON pointer.
StatusOr<Job> ParseJob(const nlohmann::json& doc, const std::string& where);
StatusOr<Job> LoadJob(const std::string& path);

}  // namespace dg

#endif  // DISTILLGATE_POLICY_JOB_H_
