#include "report/eu_summary.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "report/member_text.h"

namespace dg {

using json = nlohmann::json;

namespace {

constexpr char kFilled[] = "filled";
constexpr char kPartly[] = "partly recorded";
constexpr char kNotRecorded[] = "not recorded";

using report_internal::Str;

// The run's entries of `kind` (report.entries): the proof pointers.
json Entries(const json& r, const std::string& kind) {
  json out = json::array();
  for (const json& e : r.value("entries", json::array())) {
    if (e.value("kind", "") == kind) out.push_back(e);
  }
  return out;
}

json Concat(std::initializer_list<json> parts) {
  json out = json::array();
  for (const json& p : parts) {
    for (const json& e : p) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) { return a["ledger_index"] < b["ledger_index"]; });
  return out;
}

json Field(const std::string& id, const std::string& label, const char* status, json value, json evidence, const std::string& note = "") {
  json f = {{"id", id}, {"label", label}, {"status", status}, {"value", std::move(value)}, {"evidence", std::move(evidence)}};
  if (!note.empty()) f["note"] = note;
  return f;
}

json NotRecorded(const std::string& id, const std::string& label, const std::string& note = "") {
  return Field(id, label, kNotRecorded, nullptr, json::array(),
               note.empty() ? "the ledger does not hold this fact: the provider supplies it" : note);
}

// The modality of a dataset, from how its records were hashed and what the
// student is; "" when neither tells.
std::string Modality(const std::string& record_format, const std::string& student_type) {
  if (record_format.rfind("idx-image", 0) == 0) return "image";
  if (record_format.rfind("jsonl", 0) == 0) return "text";
  if (student_type == "llm") return "text";
  return "";
}

uint64_t FileBytes(const json& ds) {
  uint64_t bytes = 0;
  for (const json& f : ds.value("files", json::array())) {
    if (f.contains("bytes") && f["bytes"].is_number_unsigned()) bytes += f["bytes"].get<uint64_t>();
  }
  return bytes;
}

json Chain(const json& chain) { return chain.is_array() ? chain : json::array(); }

}  // namespace

StatusOr<json> ExportEuGpaiSummary(const json& r) {
  if (r.value("status", "") != "completed" || !r.contains("model")) {
    return Status::InvalidInput("run " + r.value("run", "") + " is " + r.value("status", "") +
                                ": a training-content summary describes a trained model, and only a completed run has one");
  }
  const json& job = r["job"];
  const json& student = job.value("student", json::object());
  const json& model = r["model"];
  const json decision = Entries(r, "decision"), run_start = Entries(r, "run_start"), manifests = Entries(r, "dataset_manifest"),
             model_entry = Entries(r, "model"), run_end = Entries(r, "run_end");
  const std::string student_type = Str(student, "model_type");

  // ---- 1 General information
  json s1 = json::array();
  s1.push_back(NotRecorded("1.1.provider", "Provider name and contact details",
                           "the ledger records who ran the decision (the operator), not the provider placing the model on the market"));
  s1.push_back(NotRecorded("1.1.authorised_representative", "Authorised representative name and contact details (providers established outside the Union)"));
  s1.push_back(Field("1.2.model_name", "Versioned model name(s)", kFilled,
                     {{"name", Str(student, "name")}, {"file", Str(model, "path")}, {"sha256", Str(model, "sha256")}},
                     Concat({decision, model_entry}),
                     "the student's name as decided and the file the run wrote; a version label beyond the name is not recorded"));
  json deps = {{"base_model", Chain(job.value("student_base_chain", json::array()))},
               {"init_from", r.contains("training") ? r["training"].value("init_from", json()) : json()}};
  s1.push_back(Field("1.2.model_dependencies", "Model dependencies (general-purpose AI models the model was modified or fine-tuned from)",
                     kFilled, deps, Concat({decision, run_start}),
                     deps["base_model"].empty() ? "no base model is declared in the decided job: the student was trained from its initialisation"
                                                : "the base-model chain as the decided job declares it, nearest first"));
  s1.push_back(NotRecorded("1.2.market_date", "Date of placement of the model on the Union market"));

  // 1.3: per modality, what the recorded datasets hold.
  std::map<std::string, json> by_modality;
  for (const json& ds : r.value("datasets", json::array())) {
    std::string m = Modality(Str(ds, "record_format"), student_type);
    if (m.empty()) m = "not recorded";
    json& entry = by_modality[m];
    if (entry.is_null()) entry = {{"modality", m}, {"records", 0}, {"bytes", 0}, {"datasets", json::array()}};
    entry["records"] = entry["records"].get<uint64_t>() + ds.value("records", uint64_t{0});
    entry["bytes"] = entry["bytes"].get<uint64_t>() + FileBytes(ds);
    entry["datasets"].push_back(Str(ds, "dataset"));
  }
  json modalities = json::array();
  for (auto& [m, e] : by_modality) modalities.push_back(e);
  s1.push_back(Field("1.3.modalities", "Modalities and size of the training data", modalities.empty() ? kNotRecorded : kPartly, modalities,
                     manifests,
                     "exact record counts and file bytes of the datasets the run hashed; modality from how their records were hashed "
                     "(idx images, JSON lines) and the student's type. The template asks for a size band per modality: pick it from these "
                     "figures. Teacher outputs (section 2.5) come on top"));
  std::string latest;
  for (const json& t : r.value("teachers", json::array())) {
    const std::string last = Str(t.value("calls", json::object()), "last");
    if (last > latest) latest = last;
  }
  s1.push_back(latest.empty()
                   ? NotRecorded("1.3.latest_collection", "Latest date of data collection")
                   : Field("1.3.latest_collection", "Latest date of data collection", kPartly, {{"latest_teacher_call", latest}}, run_end,
                           "the last recorded teacher call (the synthetic data); when the datasets were collected is not recorded"));
  s1.push_back(NotRecorded("1.3.continuous_training", "Is the model continuously trained on new data after placement on the market?"));
  s1.push_back(NotRecorded("1.3.characteristics", "Linguistic and other relevant characteristics of the training data"));

  // ---- 2 List of data sources
  json s2 = json::array();
  json used = json::array();
  for (const json& ds : r.value("datasets", json::array())) {
    used.push_back({{"dataset", Str(ds, "dataset")}, {"license", Str(ds, "license")}, {"records", ds.value("records", uint64_t{0})},
                    {"records_root", Str(ds, "records_root")}, {"bytes", FileBytes(ds)}, {"ledger_index", ds.value("ledger_index", json())}});
  }
  s2.push_back(Field("2.datasets", "Datasets the run trained on (all categories)", used.empty() ? kNotRecorded : kFilled, used, manifests,
                     "each dataset's license and the RFC 6962 root of its records; which of 2.1-2.4 each belongs to is below"));
  s2.push_back(NotRecorded("2.1.public_datasets", "Publicly available datasets (large ones with link and collection period)",
                           "the ledger records each dataset's license and hash, not whether it is publicly available"));
  s2.push_back(NotRecorded("2.2.licensed_datasets", "Datasets commercially licensed from rightsholders, and private datasets from other third parties",
                           "the ledger records each dataset's license, not how it was obtained"));
  s2.push_back(NotRecorded("2.3.crawled_data", "Data crawled and scraped from online sources (crawlers, period, most relevant domain names)",
                           "distillgate runs no crawler; whether the datasets hold crawled data is not recorded"));
  s2.push_back(NotRecorded("2.4.user_data", "User data (from interactions with the model or other products)"));

  // 2.5 Synthetic data: the teachers' outputs, and datasets generated by a model.
  json generators = json::array();
  uint64_t teacher_calls = 0;
  for (const json& t : r.value("teachers", json::array())) {
    const json calls = t.value("calls", json::object());
    teacher_calls += calls.value("count", uint64_t{0});
    json g = {{"role", "teacher"},
              {"id", Str(t, "id")},
              {"kind", Str(t, "kind")},
              {"model", t.contains("model") ? (t.contains("provider") ? Str(t, "provider") + "/" : "") + Str(t, "model") : Str(t, "model_file")},
              {"license", Str(t, "declared_license")},
              {"base_model", Chain(t.value("base_model_chain", json::array()))},
              {"calls", calls}};
    if (t.contains("sha256")) g["sha256"] = t["sha256"];
    if (t.contains("model_signing_root")) g["model_signing_root"] = t["model_signing_root"];
    generators.push_back(std::move(g));
  }
  for (const json& ds : r.value("datasets", json::array())) {
    if (!ds.value("generated_by", json()).is_object()) continue;
    const json& gen = ds["generated_by"];
    generators.push_back({{"role", "generator of dataset " + Str(ds, "dataset")},
                          {"model", Str(gen, "model")},
                          {"license", Str(gen, "license")},
                          {"base_model", gen.contains("base_model") ? json::array({gen["base_model"]}) : json::array()}});
  }
  const bool synthetic = !generators.empty();
  s2.push_back(Field("2.5.synthetic_used", "Was synthetic AI-generated data created by or on behalf of the provider to train the model?", kFilled,
                     synthetic ? "yes" : "no", Concat({decision, run_end}),
                     synthetic ? "the student was trained on its teachers' outputs (" + std::to_string(teacher_calls) +
                                     " recorded teacher calls) or on model-generated datasets"
                               : "no teacher and no model-generated dataset in this run"));
  if (synthetic) {
    std::string modality = student_type == "llm" ? "text" : "";
    for (const json& t : r.value("teachers", json::array())) {
      if (Str(t, "kind") == "api") modality = "text";
    }
    s2.push_back(modality.empty()
                     ? Field("2.5.modality", "Modality of the synthetic data", kPartly, "model outputs (soft labels) on the training inputs",
                             Concat({decision, run_start}), "the teachers' outputs on the datasets of section 1.3, in their modality")
                     : Field("2.5.modality", "Modality of the synthetic data", kFilled, modality, Concat({decision, run_start})));
    s2.push_back(Field("2.5.generating_models", "General-purpose AI model(s) used to generate the synthetic data", kFilled, generators,
                       Concat({decision, run_start, run_end}),
                       "every model whose outputs the student was trained on, named as the decided job names it, with the hashes the run "
                       "recorded and its calls (their RFC 6962 root is in run_end). Whether each is a general-purpose AI model placed on "
                       "the Union market is not recorded: the provider confirms it, and lists under the next field the ones that are not"));
    s2.push_back(NotRecorded("2.5.other_models", "Information about other AI models used to generate synthetic data",
                             "which of the models above are not general-purpose models on the market is not recorded"));
  }
  s2.push_back(NotRecorded("2.6.other_sources", "Other sources of data"));

  // ---- 3 Data processing aspects
  json s3 = json::array();
  s3.push_back(NotRecorded("3.1.tdm_measures", "Measures to respect reservations of rights from the text and data mining exception (Art. 4(3) Directive (EU) 2019/790), and Code of Practice signatory"));
  s3.push_back(NotRecorded("3.2.illegal_content", "Measures to remove illegal content from the training data"));
  const json& d = r["decision"];
  s3.push_back(Field("3.3.other", "Other information: the licence and terms check of the teachers and data", kFilled,
                     {{"verdict", Str(d, "verdict")},
                      {"mode", Str(d, "mode")},
                      {"policy_sha256", Str(d, "policy_sha256")},
                      {"decided_at", d.value("decided_at", json())},
                      {"findings", d.value("findings", json::array()).size()},
                      {"obligations", d.value("obligations", json::array()).size()}},
                     decision, "distillgate's decision on the teachers' licences and terms before any training"));

  // ---- Code of Practice, Model Documentation Form
  json cop = json::array();
  cop.push_back(Field("MDF-1.3", "Model authenticity (evidence of provenance, e.g. a secure hash)", kFilled,
                      {{"sha256", Str(model, "sha256")}, {"model_signing_root", Str(model, "model_signing_root")}, {"file", Str(model, "path")}},
                      model_entry, "the SHA-256 of the student file and its OpenSSF model_signing root (docs/model-identity.md)"));
  json teachers = json::array();
  for (const json& g : generators) {
    if (g.value("role", "") == "teacher") teachers.push_back({{"id", g["id"]}, {"model", g["model"]}, {"license", g["license"]}});
  }
  cop.push_back(Field("MDF-1.6", "Model dependencies (models the model results from)", kFilled,
                      {{"base_model", deps["base_model"]}, {"distilled_from", teachers}}, Concat({decision, run_start}),
                      "the base-model chain (fine-tuning) and the teachers the student was distilled from"));

  json not_recorded = json::array();
  for (const json* sec : {&s1, &s2, &s3, &cop}) {
    for (const json& f : *sec) {
      if (f["status"] == kNotRecorded) not_recorded.push_back(f["id"]);
    }
  }
  const json& l = r["ledger"];
  return json{{"format", "distillgate-eu-gpai-summary-v1"},
              {"template",
               {{"title", "Template for the Public Summary of Training Content for general-purpose AI models"},
                {"reference", "European Commission, Communication C(2025) 8311 final"},
                {"legal_basis", "Article 53(1)(d) of Regulation (EU) 2024/1689 (AI Act)"}}},
              {"generated_at", Str(r, "generated_at")},
              {"run", Str(r, "run")},
              {"job", {{"name", Str(job, "name")}, {"sha256", Str(job, "sha256")}}},
              {"ledger",
               {{"origin", Str(l, "origin")},
                {"tree_size", l.value("tree_size", json())},
                {"verifies", l.value("verifies", false)},
                {"key", Str(l, "key")},
                {"key_pinned", l.value("key_pinned", false)},
                {"checkpoint", Str(l, "checkpoint")}}},
              {"sections",
               {{{"id", "1"}, {"title", "General information"}, {"fields", s1}},
                {{"id", "2"}, {"title", "List of data sources"}, {"fields", s2}},
                {{"id", "3"}, {"title", "Data processing aspects"}, {"fields", s3}}}},
              {"code_of_practice", {{"title", "GPAI Code of Practice, Transparency chapter: Model Documentation Form"}, {"fields", cop}}},
              {"not_recorded", not_recorded}};
}

namespace {

std::string ValueText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return "`" + v.dump() + "`";
}

void FieldMarkdown(std::ostringstream& s, const json& f) {
  s << "**" << Str(f, "label") << "** (" << Str(f, "id") << ")\n\n";
  if (f["status"] == kNotRecorded) {
    const std::string note = Str(f, "note");
    s << "*Not recorded* — " << note << (note.back() == '.' ? "" : ".") << "\n\n";
    return;
  }
  const json& v = f["value"];
  if (v.is_array() && !v.empty() && v[0].is_object()) {
    // One line per item: its members as "key: value".
    for (const json& item : v) {
      s << "-";
      for (const auto& [k, x] : item.items()) s << " " << k << ": " << ValueText(x) << ";";
      s << "\n";
    }
    s << "\n";
  } else if (v.is_object()) {
    for (const auto& [k, x] : v.items()) s << "- " << k << ": " << ValueText(x) << "\n";
    s << "\n";
  } else {
    s << ValueText(v) << "\n\n";
  }
  if (f["status"] == kPartly) s << "*Partly recorded.* ";
  if (f.contains("note")) {
    const std::string note = Str(f, "note");
    s << note << (note.back() == '.' ? "" : ".");
  }
  s << "\n\nProof: ";
  bool first = true;
  for (const json& e : f["evidence"]) {
    s << (first ? "" : "; ") << "ledger entry " << Str(e, "ledger_index") << " (" << Str(e, "kind") << ", leaf hash `" << Str(e, "leaf_hash") << "`)";
    first = false;
  }
  if (first) s << "none";
  s << ".\n\n";
}

}  // namespace

std::string RenderEuGpaiSummaryMarkdown(const json& sum) {
  std::ostringstream s;
  const json& t = sum["template"];
  s << "# Public summary of training content: " << Str(sum["job"], "name") << "\n\n"
    << "Following the " << Str(t, "title") << " (" << Str(t, "reference") << "; " << Str(t, "legal_basis") << "). "
    << "Filled by distillgate from the signed ledger of run `" << Str(sum, "run") << "` as far as the ledger holds the facts; "
    << "every filled field names the ledger entries that prove it (`distillgate ledger prove --index N` gives the inclusion proof). "
    << "Fields marked *not recorded* must be completed by the provider.\n\n";
  for (const json& sec : sum["sections"]) {
    s << "## " << Str(sec, "id") << ". " << Str(sec, "title") << "\n\n";
    for (const json& f : sec["fields"]) FieldMarkdown(s, f);
  }
  s << "## " << Str(sum["code_of_practice"], "title") << "\n\n";
  for (const json& f : sum["code_of_practice"]["fields"]) FieldMarkdown(s, f);
  const json& l = sum["ledger"];
  s << "## Ledger\n\n" << Str(l, "origin") << ", " << Str(l, "tree_size") << " entries: " << (l.value("verifies", false) ? "verifies" : "DOES NOT VERIFY")
    << " under " << (l.value("key_pinned", false) ? "the pinned key" : "the key recorded in the file (not a pinned key)") << " `" << Str(l, "key")
    << "`.\n\n```\n" << Str(l, "checkpoint") << "```\n\nNot recorded (" << sum["not_recorded"].size() << "): ";
  bool first = true;
  for (const json& id : sum["not_recorded"]) {
    s << (first ? "" : ", ") << id.get<std::string>();
    first = false;
  }
  s << ".\n";
  return s.str();
}

}  // namespace dg
