#include "attribute/attribution_run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "core/canonical_json.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/hash.h"
#include "ledger/merkle.h"
#include "policy/gate.h"
#include "record/recorded_run.h"
#include "record/run_record.h"

namespace dg::attribute {

using json = nlohmann::json;

namespace {

constexpr const char* kPlanFormat = "distillgate-attribution-plan-v1";
constexpr size_t kCallsPerBatch = 64;

json ModelJson(const ModelRef& m) {
  json j = {{"id", m.id}, {"endpoint", m.base_url}, {"model", m.model}};
  if (!m.file.empty()) {
    j["file"] = m.file;
    j["sha256"] = m.file_sha256;
  }
  if (!m.run.empty()) j["run"] = m.run;
  return j;
}

StatusOr<ModelRef> ModelFromJson(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("endpoint") || !j["endpoint"].is_string() ||
      !j.contains("model") || !j["model"].is_string()) {
    return Status::InvalidInput(where + ": expected {id, endpoint, model} strings");
  }
  ModelRef m{j["id"].get<std::string>(), j["endpoint"].get<std::string>(), j["model"].get<std::string>(), "", "", ""};
  if (j.contains("file")) {
    if (!j["file"].is_string() || !j.contains("sha256") || !j["sha256"].is_string()) return Status::InvalidInput(where + ": a model file needs its sha256");
    m.file = j["file"].get<std::string>();
    m.file_sha256 = j["sha256"].get<std::string>();
  }
  if (j.contains("run")) m.run = j["run"].get<std::string>();
  return m;
}

json ProbeSetMeta(const ProbeSet& s, size_t length, const std::string& sha256) {
  return {{"kind", ProbeKindName(s.kind)}, {"seed", s.seed},     {"count", s.probes.size()},   {"length", s.images ? 28 * 28 : length},
          {"sha256", sha256},               {"source_sha256", s.source_sha256}, {"modality", s.images ? "image" : "text"}};
}

json SetJson(const SetOutcome& s) {
  json j = ToJson(s.result);
  j["probe_set"] = {{"kind", ProbeKindName(s.kind)}, {"seed", s.seed}, {"count", s.probes}, {"sha256", s.sha256},
                    {"source_sha256", s.source_sha256}};
  return j;
}

// Plan::ToJson, read back: what the recheck needs (the models, in order, and
// the options), with the probe sets' metadata kept as JSON.
struct ParsedPlan {
  Plan plan;
  json probe_sets;
};

StatusOr<ParsedPlan> PlanFromJson(const json& j) {
  if (!j.is_object() || j.value("format", "") != kPlanFormat) return Status::InvalidInput(std::string("the plan's format is not ") + kPlanFormat);
  ParsedPlan p;
  DG_ASSIGN_OR_RETURN(p.plan.suspect, ModelFromJson(j.value("suspect", json()), "/plan/suspect"));
  for (const char* list : {"candidates", "references"}) {
    if (!j.contains(list) || !j[list].is_array()) return Status::InvalidInput(std::string("/plan/") + list + ": expected an array");
    for (size_t i = 0; i < j[list].size(); ++i) {
      DG_ASSIGN_OR_RETURN(ModelRef m, ModelFromJson(j[list][i], std::string("/plan/") + list + "/" + std::to_string(i)));
      (std::string(list) == "candidates" ? p.plan.candidates : p.plan.references).push_back(std::move(m));
    }
  }
  const json o = j.value("options", json::object());
  if (!o.is_object()) return Status::InvalidInput("/plan/options: expected an object");
  try {
    p.plan.options.distance = o.at("distance").get<std::string>();
    p.plan.options.statistic = o.at("statistic").get<std::string>();
    p.plan.options.soften = o.at("soften").get<double>();
    p.plan.options.alpha = o.at("alpha").get<double>();
    p.plan.options.answer_bytes = o.at("answer_bytes").get<size_t>();
    // Absent means "answer": a plan written with "positions":"answer" would be
    // a second serialisation, a second hash, of the same plan.
    p.plan.options.positions = o.contains("positions") ? o.at("positions").get<std::string>() : std::string("answer");
    if (o.contains("positions") && p.plan.options.positions != "probe") {
      return Status::InvalidInput("/plan/options/positions: \"probe\" when present (answer positions are the default and not written)");
    }
  } catch (const json::exception& e) {
    return Status::InvalidInput(std::string("/plan/options: ") + e.what());
  }
  if (p.plan.options.distance != "prefix" && p.plan.options.distance != "jsd") return Status::InvalidInput("/plan/options/distance: prefix or jsd");
  if (p.plan.options.statistic != "relative" && p.plan.options.statistic != "absolute" && p.plan.options.statistic != "regression") {
    return Status::InvalidInput("/plan/options/statistic: relative, absolute or regression");
  }
  if (p.plan.options.positions != "answer" && p.plan.options.positions != "probe") {
    return Status::InvalidInput("/plan/options/positions: answer or probe");
  }
  p.probe_sets = j.value("probe_sets", json());
  if (!p.probe_sets.is_array() || p.probe_sets.size() != 2) return Status::InvalidInput("/plan/probe_sets: expected the two probe sets");
  for (size_t i = 0; i < 2; ++i) {
    const json& s = p.probe_sets[i];
    const char* want = i == 0 ? "data" : "random";
    if (!s.is_object() || s.value("kind", "") != want || !s.contains("seed") || !s["seed"].is_number_unsigned() || !s.contains("count") ||
        !s["count"].is_number_unsigned() || !s.contains("length") || !s["length"].is_number_unsigned() || !s.contains("sha256") ||
        !s["sha256"].is_string() || !s.contains("source_sha256") || !s["source_sha256"].is_string()) {
      return Status::InvalidInput("/plan/probe_sets/" + std::to_string(i) + ": expected {kind: " + want +
                                  ", seed, count, length, sha256, source_sha256}");
    }
  }
  return p;
}

}  // namespace

StatusOr<json> Plan::ToJson() const {
  DG_ASSIGN_OR_RETURN(std::string test_sha, test.Sha256());
  DG_ASSIGN_OR_RETURN(std::string baseline_sha, baseline.Sha256());
  json candidates_j = json::array(), references_j = json::array();
  for (const auto& m : candidates) candidates_j.push_back(ModelJson(m));
  for (const auto& m : references) references_j.push_back(ModelJson(m));
  json j = {{"format", kPlanFormat},
            {"suspect", ModelJson(suspect)},
            {"candidates", candidates_j},
            {"references", references_j},
            {"probe_sets", {ProbeSetMeta(test, probe_length, test_sha), ProbeSetMeta(baseline, probe_length, baseline_sha)}},
            {"options",
             {{"distance", options.distance},
              {"statistic", options.statistic},
              {"soften", options.soften},
              {"alpha", options.alpha},
              {"answer_bytes", options.answer_bytes}}}};
  if (options.positions != "answer") j["options"]["positions"] = options.positions;  // plans made before the option hash as they did
  return j;
}

namespace {

// What every plan must satisfy, whether made here or read from a ledger.
Status CheckModelsAndOptions(const Plan& plan) {
  if (plan.candidates.empty()) return Status::InvalidInput("--teacher: attribution needs at least one candidate teacher");
  if (plan.references.size() < 2) {
    return Status::InvalidInput("--reference: attribution needs at least 2 independent reference models for its null; got " +
                                std::to_string(plan.references.size()));
  }
  std::set<std::string> ids = {plan.suspect.id}, models = {plan.suspect.file.empty() ? plan.suspect.base_url + "#" + plan.suspect.model
                                                                                        : "file " + plan.suspect.file_sha256};
  for (const auto* list : {&plan.candidates, &plan.references}) {
    for (const auto& m : *list) {
      if (!ids.insert(m.id).second) return Status::InvalidInput("the model id \"" + m.id + "\" is given twice");
      // The same model in two roles (the suspect as its own candidate, a
      // candidate as a reference) makes the test say nothing.
      const std::string key = m.file.empty() ? m.base_url + "#" + m.model : "file " + m.file_sha256;
      if (!models.insert(key).second) {
        return Status::InvalidInput("model \"" + m.id + "\" (" + (m.file.empty() ? m.base_url + "#" + m.model : m.file) +
                                    ") is also another model of the plan: the suspect, the candidates and the references must be distinct models");
      }
    }
  }
  const PlanOptions& o = plan.options;
  if (o.distance != "prefix" && o.distance != "jsd") return Status::InvalidInput("distance: prefix or jsd");
  if (o.statistic != "relative" && o.statistic != "absolute" && o.statistic != "regression") {
    return Status::InvalidInput("statistic: relative, absolute or regression");
  }
  if (o.statistic == "regression" && o.distance != "jsd") {
    return Status::InvalidInput("statistic regression needs the answers' distributions: --distance jsd");
  }
  if (o.statistic == "regression" && plan.references.size() < 3) {
    return Status::InvalidInput("statistic regression needs at least 3 references; got " + std::to_string(plan.references.size()));
  }
  if (!(o.alpha >= 1e-12 && o.alpha <= 0.5)) return Status::InvalidInput("alpha: expected a level in [1e-12, 0.5]");
  if (!(o.soften >= 0.05 && o.soften <= 100)) return Status::InvalidInput("soften: expected a temperature in [0.05, 100]");
  if (o.answer_bytes < 1 || o.answer_bytes > 1024) return Status::InvalidInput("answer_bytes: expected 1 to 1024");
  if (o.positions != "answer" && o.positions != "probe") return Status::InvalidInput("positions: answer or probe");
  if (o.positions == "probe") {
    if (o.distance != "jsd") return Status::InvalidInput("positions probe compares the distributions that score the probe: --distance jsd");
    for (const std::vector<ModelRef>* list : {&plan.candidates, &plan.references}) {
      for (const ModelRef& m : *list) {
        if (m.base_url.empty()) return Status::InvalidInput("positions probe scores text at an endpoint; \"" + m.id + "\" is an image classifier file");
      }
    }
    if (plan.suspect.base_url.empty()) return Status::InvalidInput("positions probe scores text at an endpoint; the suspect is an image classifier file");
  }
  return Status::Ok();
}

constexpr size_t kMaxProbes = 100000;

}  // namespace

Status CheckPlan(const Plan& plan) {
  DG_RETURN_IF_ERROR(CheckModelsAndOptions(plan));
  if (plan.test.probes.empty() || plan.test.probes.size() != plan.baseline.probes.size() || plan.test.probes.size() > kMaxProbes) {
    return Status::InvalidInput("the test and baseline probe sets must be of one size, 1 to 100000 probes");
  }
  if (plan.options.positions == "probe") {
    for (const ProbeSet* set : {&plan.test, &plan.baseline}) {
      for (const std::string& probe : set->probes) {
        if (probe.size() < 2) return Status::InvalidInput("positions probe needs probes of at least 2 bytes (the first byte is not scored)");
      }
    }
  }
  return Status::Ok();
}

namespace {

// `base` (timeouts, retries, key) with what the plan's options say each
// request is: its max_tokens, whether it asks for logprobs, whether it scores
// the probe. The run and a requery ask alike.
QueryOptions AskedAsPlanned(const PlanOptions& o, QueryOptions base) {
  base.max_tokens = o.answer_bytes;
  base.logprobs = o.distance == "jsd";
  base.score_probe = o.positions == "probe";
  return base;
}

// The regression statistic's embedding (docs/attribution.md): per probe and
// compared position, the log-probabilities over every token any model
// reported there (one reported by none of a model's top tokens: the floor
// 1e-6, as the mass under "" is spread thin), centred over those tokens. The
// compared positions: the first answer position; with positions "probe",
// every scored byte of the probe (the texts, the probe itself, are checked to
// be one for all models, so every model saw the same contexts).
StatusOr<Attribution> RegressionOnAnswers(const Plan& plan, const SetAnswers& answers) {
  const size_t n = answers.suspect.size();
  const bool whole_probe = plan.options.positions == "probe";
  std::vector<const std::vector<Answer>*> models = {&answers.suspect};
  for (const auto& c : answers.candidates) models.push_back(&c);
  for (const auto& r : answers.references) models.push_back(&r);
  std::vector<std::vector<double>> embedded(models.size());
  constexpr double kFloor = 1e-6;
  for (size_t i = 0; i < n; ++i) {
    const Answer& first = (*models[0])[i];
    size_t compared = 1;
    if (whole_probe) {
      compared = first.positions.size();
      for (const auto* m : models) {
        if ((*m)[i].text != first.text || (*m)[i].positions.size() != compared) {
          return Status::InvalidInput("statistic regression: the models scored probe " + std::to_string(i) + " differently");
        }
      }
    }
    for (const auto* m : models) {
      if ((*m)[i].positions.empty()) return Status::InvalidInput("statistic regression: an answer carries no distribution (probe " + std::to_string(i) + ")");
    }
    for (size_t j = 0; j < compared; ++j) {
      std::set<std::string> tokens;
      for (const auto* m : models) {
        for (const auto& [t, p] : (*m)[i].positions[j]) tokens.insert(t);
      }
      for (size_t k = 0; k < models.size(); ++k) {
        const auto& dist = (*models[k])[i].positions[j];
        std::vector<double> v;
        double mean = 0;
        for (const std::string& t : tokens) {
          auto it = dist.find(t);
          v.push_back(std::log(std::max(it == dist.end() ? 0.0 : it->second, kFloor)));
          mean += v.back() / static_cast<double>(tokens.size());
        }
        for (double x : v) embedded[k].push_back(x - mean);
      }
    }
  }
  RegressionEvidence e;
  e.suspect = std::move(embedded[0]);
  for (size_t c = 0; c < plan.candidates.size(); ++c) {
    e.ids.push_back(plan.candidates[c].id);
    e.candidates.push_back(std::move(embedded[1 + c]));
  }
  for (size_t r = 0; r < answers.references.size(); ++r) e.references.push_back(std::move(embedded[1 + plan.candidates.size() + r]));
  DG_ASSIGN_OR_RETURN(Attribution a, AttributeByRegression(e, plan.options.alpha));
  a.probes = n;
  return a;
}

}  // namespace

StatusOr<Attribution> AttributeAnswers(const Plan& plan, const SetAnswers& answers) {
  const bool jsd = plan.options.distance == "jsd";
  const size_t max_bytes = plan.options.answer_bytes;
  const double soften = plan.options.soften;
  auto distance = [jsd, max_bytes, soften](const Answer& x, const Answer& y) {
    return jsd ? NextTokenDistance(x, y, soften) : AnswerDistance(x.text, y.text, max_bytes);
  };
  const size_t n = answers.suspect.size(), k = answers.references.size();
  if (answers.candidates.size() != plan.candidates.size() || k != plan.references.size()) {
    return Status::InvalidInput("the answers do not cover the plan's models");
  }
  for (const auto* list : {&answers.candidates, &answers.references}) {
    for (const auto& a : *list) {
      if (a.size() != n) return Status::InvalidInput("every model must answer every probe");
    }
  }
  if (plan.options.statistic == "regression") return RegressionOnAnswers(plan, answers);
  // The relative statistic's baselines: the suspect's mean distance to the
  // references, and each reference's to the others, probe by probe.
  const bool relative = plan.options.statistic == "relative";
  std::vector<double> suspect_base(n, 0.0);
  std::vector<std::vector<double>> reference_base(k, std::vector<double>(n, 0.0));
  if (relative) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t r = 0; r < k; ++r) {
        suspect_base[i] += distance(answers.suspect[i], answers.references[r][i]) / static_cast<double>(k);
        for (size_t o = 0; o < k; ++o) {
          if (o != r) reference_base[r][i] += distance(answers.references[r][i], answers.references[o][i]) / static_cast<double>(k - 1);
        }
      }
    }
  }
  std::vector<CandidateEvidence> evidence;
  for (size_t c = 0; c < plan.candidates.size(); ++c) {
    const auto& teacher = answers.candidates[c];
    CandidateEvidence e;
    e.id = plan.candidates[c].id;
    if (relative) {
      e.suspect_baseline = suspect_base;
      e.reference_baselines = reference_base;
    }
    for (size_t i = 0; i < n; ++i) e.suspect.push_back(distance(answers.suspect[i], teacher[i]));
    for (const auto& ra : answers.references) {
      std::vector<double> d;
      for (size_t i = 0; i < n; ++i) d.push_back(distance(ra[i], teacher[i]));
      e.references.push_back(std::move(d));
    }
    evidence.push_back(std::move(e));
  }
  return Attribute(evidence, plan.options.alpha);
}

json Outcome::ToJson(const PlanOptions& o) const {
  json out = SetJson(test);
  out["random_baseline"] = SetJson(baseline);
  out["queries"] = queries;
  out["queries_per_model"] = test.probes + baseline.probes;
  out["answer_bytes"] = o.answer_bytes;
  out["distance"] = o.distance;
  out["statistic"] = o.statistic;
  out["soften"] = o.soften;
  if (o.positions != "answer") out["positions"] = o.positions;  // outcomes recorded before the option recheck as they were
  if (!run_id.empty()) {
    out["run"] = run_id;
    out["decision_index"] = decision_index;
  }
  return out;
}

StatusOr<Outcome> RunAttribution(const Plan& plan, const QueryOptions& query_in, const QuerySink& sink) {
  DG_RETURN_IF_ERROR(CheckPlan(plan));
  const QueryOptions query = AskedAsPlanned(plan.options, query_in);
  Outcome out;
  out.models = 1 + plan.candidates.size() + plan.references.size();
  for (const ProbeSet* set : {&plan.test, &plan.baseline}) {
    SetOutcome& so = set == &plan.test ? out.test : out.baseline;
    so.kind = set->kind;
    so.seed = set->seed;
    so.probes = set->probes.size();
    so.source_sha256 = set->source_sha256;
    DG_ASSIGN_OR_RETURN(so.sha256, set->Sha256());  // fixed before the first query
    auto ask = [&](const ModelRef& m) {
      AnswerSink on_answer = nullptr;
      if (sink) on_answer = [&sink, &m, set](size_t i, const Answer& a) { return sink(m, *set, i, a); };
      return QueryModel(m, *set, query, on_answer);
    };
    SetAnswers answers;
    DG_ASSIGN_OR_RETURN(answers.suspect, ask(plan.suspect));
    for (const auto& r : plan.references) {
      DG_ASSIGN_OR_RETURN(auto a, ask(r));
      answers.references.push_back(std::move(a));
    }
    for (const auto& c : plan.candidates) {
      DG_ASSIGN_OR_RETURN(auto a, ask(c));
      answers.candidates.push_back(std::move(a));
    }
    DG_ASSIGN_OR_RETURN(so.result, AttributeAnswers(plan, answers));
    out.queries += out.models * set->probes.size();
  }
  return out;
}

StatusOr<Outcome> RunRecordedAttribution(const Plan& plan, const QueryOptions& query, Ledger& ledger, const PrivateKey& key) {
  DG_RETURN_IF_ERROR(CheckPlan(plan));
  DG_ASSIGN_OR_RETURN(json plan_json, plan.ToJson());
  // Pre-registration: the plan, with both probe sets' hashes, is a signed
  // ledger entry before any model is asked anything.
  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::DecideAttribution(plan_json, ledger, key));
  const RunSubject subject{"attribution", gate.permit->job_sha256()};
  RecordedRun::Start start;
  start.mode = "attribution";
  start.fields = {{"plan_sha256", subject.sha256}, {"probe_sets", plan_json["probe_sets"]}};
  start.calls_per_batch = kCallsPerBatch;
  DG_ASSIGN_OR_RETURN(auto run, RecordedRun::Begin(*gate.permit, subject, ledger, key, std::move(start)));
  uint64_t sequence = 0;
  QuerySink record = [&run, &sequence](const ModelRef& m, const ProbeSet& set, size_t i, const Answer& a) {
    json body = {{"teacher", m.id},   {"endpoint", m.base_url},       {"model", m.model},
                 {"sequence", sequence}, {"probe_set", ProbeKindName(set.kind)}, {"probe", i},
                 {"prompt", set.probes[i]}, {"answer", AnswerToJson(a)},  {"time", NowRfc3339()}};
    ++sequence;
    return run->calls().RecordEntry("teacher_call", std::move(body));
  };
  StatusOr<Outcome> out = RunAttribution(plan, query, record);
  if (!out.ok()) return run->Fail(out.status());
  out->run_id = run->id();
  out->decision_index = gate.decision_index;
  if (Status st = run->calls().Flush(); !st.ok()) return run->Fail(st);
  json end = {{"attribution", out->ToJson(plan.options)},
              {"teacher_calls", run->calls().recorded()},
              {"teacher_calls_root", Base64Encode(run->calls().calls_root())}};
  if (Status st = run->Complete(std::move(end)); !st.ok()) return run->Fail(st);
  return out;
}

bool Recheck::ok() const {
  if (checks.empty()) return false;
  for (const auto& c : checks) {
    if (!c.ok) return false;
  }
  return true;
}

json Recheck::ToJson() const {
  json items = json::array();
  for (const auto& c : checks) items.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  return {{"run", run_id}, {"verified", ok()}, {"checks", items}, {"plan", plan}, {"recorded", recorded}, {"recomputed", recomputed},
          {"requeried", requeried}, {"other_runs_of_this_suspect", other_runs}};
}

namespace {

// Equal as JSON, numbers within a relative 1e-9 (the same computation on
// another platform's libm may differ in the last bits).
bool NearlyEqual(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    if (x == y) return true;
    return std::fabs(x - y) <= 1e-9 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key()) || !NearlyEqual(it.value(), b[it.key()])) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!NearlyEqual(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

std::string JoinProblems(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += (s.empty() ? "" : "; ") + p;
  return s;
}

}  // namespace

namespace {
StatusOr<Recheck> RecheckRecorded(Ledger& ledger, const std::string& run_id, const RecheckOptions& options);
}  // namespace

StatusOr<Recheck> RecheckAttribution(Ledger& ledger, const std::string& run_id, const RecheckOptions& options) {
  // A recorded member of an unexpected type is a record distillgate did not
  // write: a failed check, not a crash or an I/O error.
  try {
    return RecheckRecorded(ledger, run_id, options);
  } catch (const nlohmann::json::exception& e) {
    Recheck r;
    r.run_id = run_id;
    r.checks.push_back({"record-format", false, std::string("a recorded entry is not of the form distillgate writes: ") + e.what()});
    return r;
  }
}

namespace {

// The calls of one probe set as recorded: each probe's prompt and each
// model's answer to it ([slot][probe]).
struct SetCalls {
  size_t count = 0;
  std::vector<std::vector<std::optional<Answer>>> answers;
  std::vector<std::optional<std::string>> prompts;
};

// With positions "probe" every answer is the endpoint's scoring of its
// prompt: the prompt after its first byte, one distribution a byte, so a run
// that generated answers cannot be relabelled as one that scored probes. The
// first answer that is not, described; "" when all are. Every answer and
// prompt must be present.
std::string FirstUnscored(const SetCalls (&sets)[2], size_t models) {
  for (int s = 0; s < 2; ++s) {
    for (size_t i = 0; i < sets[s].count; ++i) {
      const std::string& prompt = *sets[s].prompts[i];
      for (size_t m = 0; m < models; ++m) {
        const Answer& a = *sets[s].answers[m][i];
        if (prompt.size() >= 2 && a.text == prompt.substr(1) && a.positions.size() + 1 == prompt.size()) continue;
        return std::string(s == 0 ? "data" : "random") + " probe " + std::to_string(i) + ": the answer recorded is not a scoring of the probe (" +
               std::to_string(a.positions.size()) + " distributions, text of " + std::to_string(a.text.size()) + " bytes, probe of " +
               std::to_string(prompt.size()) + ")";
      }
    }
  }
  return "";
}

StatusOr<Recheck> RecheckRecorded(Ledger& ledger, const std::string& run_id, const RecheckOptions& options) {
  const ProbeCorpus* corpus = options.corpus;
  Ledger::ReadSnapshot snapshot(ledger);
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger, run_id));
  const json& dec = r.decision.body;
  if (dec.value("kind", "") != "attribution" || !dec.contains("plan")) {
    return Status::InvalidInput("run " + r.run_id + " is not an attribution (its decision records no plan); `verify` checks distillation claims");
  }
  Recheck out;
  out.run_id = r.run_id;
  auto add = [&out](const std::string& name, bool ok, const std::string& detail) { out.checks.push_back({name, ok, detail}); };

  // 1. The plan is the decided one and the run's.
  DG_ASSIGN_OR_RETURN(std::string canonical, Canonicalize(dec["plan"]));
  const std::string plan_sha = HexEncode(Sha256(canonical));
  const json inputs = dec.value("inputs", json::object());
  const bool plan_ok = inputs.is_object() && inputs.value("job_sha256", "") == plan_sha && r.run_start &&
                       r.run_start->body.value("job_sha256", "") == plan_sha && r.run_start->body.value("mode", "") == "attribution" &&
                       r.run_start->body.value("plan_sha256", "") == plan_sha;
  add("plan", plan_ok,
      plan_ok ? "the plan in decision " + std::to_string(r.decision.index) + " hashes to " + plan_sha.substr(0, 16) +
                    "…, the decision's and run_start's job_sha256"
              : "the recorded plan does not hash to the decision's and run_start's job_sha256, or run_start is missing or not an attribution");
  out.plan = dec["plan"];
  StatusOr<ParsedPlan> parsed = PlanFromJson(dec["plan"]);
  if (!parsed.ok()) {
    add("plan-format", false, parsed.status().message());
    return out;
  }
  const Plan& plan = parsed->plan;
  // Other attributions of the same suspect in this ledger (pre-registration
  // binds each run, not the choice among them): listed for the reader.
  {
    DG_ASSIGN_OR_RETURN(uint64_t size, ledger.Size());
    DG_ASSIGN_OR_RETURN(auto scan, ledger.ScanLeaves(0, size));
    StoredLeaf leaf;
    const json& suspect = dec["plan"]["suspect"];
    while (true) {
      DG_ASSIGN_OR_RETURN(bool more, scan->Next(&leaf));
      if (!more) break;
      if (leaf.kind != "decision" || leaf.index == r.decision.index || leaf.data.find("\"kind\":\"attribution\"") == std::string::npos) continue;
      StatusOr<json> doc = ParseJsonStrict(leaf.data, "entry " + std::to_string(leaf.index));
      if (!doc.ok()) continue;
      const json other = (*doc).value("body", json::object()).value("plan", json::object()).value("suspect", json::object());
      const bool same = suspect.contains("sha256") ? other.value("sha256", "") == suspect.value("sha256", "")
                                                   : other.value("endpoint", "") == suspect.value("endpoint", "") &&
                                                         other.value("model", "") == suspect.value("model", "");
      if (same) {
        out.other_runs.push_back(RunIdFor((*doc)["body"].value("inputs", json::object()).value("job_sha256", ""), leaf.index));
      }
    }
  }
  {
    Status valid = CheckModelsAndOptions(plan);
    const size_t n0 = parsed->probe_sets[0]["count"].get<size_t>(), n1 = parsed->probe_sets[1]["count"].get<size_t>();
    if (valid.ok() && (n0 != n1 || n0 == 0 || n0 > kMaxProbes)) valid = Status::InvalidInput("the probe sets must be of one size, 1 to 100000 probes");
    if (!valid.ok()) {
      add("plan-format", false, "the recorded plan is not one distillgate makes: " + valid.message());
      return out;
    }
  }
  // References trained here (--train-references): each a completed run of
  // this ledger that produced exactly this file and had no teacher.
  {
    std::vector<std::string> problems, runs;
    for (const ModelRef& m : plan.references) {
      if (m.run.empty()) continue;
      runs.push_back(m.run);
      StatusOr<RunRecord> rr = LoadRunRecord(ledger, m.run);
      if (!rr.ok()) {
        problems.push_back(m.id + ": " + rr.status().message());
        continue;
      }
      const json job = rr->decision.body.value("job_document", json::object());
      if (rr->status() != RunStatus::kCompleted || !rr->model || rr->model->body.value("sha256", "") != m.file_sha256) {
        problems.push_back(m.id + ": run " + m.run + " did not complete with this model file");
      } else if (!job.is_object() || !job.value("teachers", json::array()).empty()) {
        problems.push_back(m.id + ": run " + m.run + "'s job names teachers");
      } else if (rr->decision.index > r.decision.index) {
        problems.push_back(m.id + ": run " + m.run + " comes after the plan");
      }
    }
    if (!runs.empty()) {
      add("references-recorded", problems.empty(),
          problems.empty() ? std::to_string(runs.size()) + " references are models of completed runs of this ledger that had no teacher"
                           : JoinProblems(problems));
    }
  }
  const bool ended = r.run_end && r.run_end->body.value("status", "") == "completed" && r.run_end->body.contains("attribution");
  add("run-end", ended, ended ? "the run completed (entry " + std::to_string(r.run_end->index) + ")"
                              : "the run did not complete with an outcome (status " + std::string(RunStatusName(r.status())) + ")");
  if (!r.run_start || !ended) return out;

  // 2. The calls: read in ledger order between run_start and run_end.
  std::map<std::string, int> model_slot;  // id → 0 suspect, 1.. candidates, then references
  model_slot[plan.suspect.id] = 0;
  for (size_t i = 0; i < plan.candidates.size(); ++i) model_slot[plan.candidates[i].id] = static_cast<int>(1 + i);
  for (size_t i = 0; i < plan.references.size(); ++i) {
    model_slot[plan.references[i].id] = static_cast<int>(1 + plan.candidates.size() + i);
  }
  const size_t models = model_slot.size();
  // The calls run_end claims must be every model on every probe of both
  // sets, before anything is sized by the plan's counts.
  {
    const uint64_t claimed = r.run_end->body.value("teacher_calls", uint64_t{0});
    const uint64_t expected = 2 * models * parsed->probe_sets[0]["count"].get<uint64_t>();
    if (claimed != expected) {
      add("complete", false, "run_end records " + std::to_string(claimed) + " calls; the plan needs " + std::to_string(expected) +
                                 " (every model on every probe of both sets)");
      return out;
    }
  }
  SetCalls sets[2];
  for (int s = 0; s < 2; ++s) {
    sets[s].count = parsed->probe_sets[s]["count"].get<size_t>();
    sets[s].answers.assign(models, std::vector<std::optional<Answer>>(sets[s].count));
    sets[s].prompts.assign(sets[s].count, std::nullopt);
  }
  std::vector<std::string> problems;
  auto problem = [&problems](const std::string& p) {
    if (problems.size() < 5) problems.push_back(p);
  };
  uint64_t calls = 0, first_call = 0;
  CompactRange leaves;
  DG_ASSIGN_OR_RETURN(auto scan, ledger.ScanLeaves(r.run_start->index + 1, r.run_end->index));
  StoredLeaf leaf;
  while (true) {
    DG_ASSIGN_OR_RETURN(bool more, scan->Next(&leaf));
    if (!more) break;
    if (leaf.kind != "teacher_call") continue;
    StatusOr<json> doc = ParseJsonStrict(leaf.data, "entry " + std::to_string(leaf.index));
    if (!doc.ok() || !doc->contains("body") || !(*doc)["body"].is_object()) {
      problem("entry " + std::to_string(leaf.index) + " is not distillgate's JSON");
      continue;
    }
    const json& b = (*doc)["body"];
    if (b.value("run", "") != r.run_id) continue;
    if (calls == 0) first_call = leaf.index;
    const std::string where = "call entry " + std::to_string(leaf.index);
    if (!b.contains("sequence") || !b["sequence"].is_number_unsigned() || b["sequence"].get<uint64_t>() != calls) {
      problem(where + ": sequence is not " + std::to_string(calls));
    }
    ++calls;
    leaves.Append(leaf.leaf_hash, nullptr);
    const std::string id = b.value("teacher", "");
    const std::string kind = b.value("probe_set", "");
    auto slot = model_slot.find(id);
    const int s = kind == "data" ? 0 : kind == "random" ? 1 : -1;
    if (slot == model_slot.end() || s < 0 || !b.contains("probe") || !b["probe"].is_number_unsigned() ||
        b["probe"].get<uint64_t>() >= sets[s].count || !b.contains("prompt") || !b["prompt"].is_string()) {
      problem(where + ": not a call of a model and probe in the plan");
      continue;
    }
    const ModelRef& m = slot->second == 0 ? plan.suspect
                        : static_cast<size_t>(slot->second) <= plan.candidates.size()
                            ? plan.candidates[slot->second - 1]
                            : plan.references[slot->second - 1 - plan.candidates.size()];
    if (b.value("endpoint", "") != m.base_url || b.value("model", "") != m.model) problem(where + ": asked another endpoint or model than the plan's " + id);
    const size_t probe = b["probe"].get<size_t>();
    const std::string prompt = b["prompt"].get<std::string>();
    auto& recorded_prompt = sets[s].prompts[probe];
    if (!recorded_prompt) recorded_prompt = prompt;
    if (*recorded_prompt != prompt) problem(where + ": " + kind + " probe " + std::to_string(probe) + " was asked with two different prompts");
    StatusOr<Answer> answer = AnswerFromJson(b.value("answer", json()));
    if (!answer.ok()) {
      problem(where + ": " + answer.status().message());
      continue;
    }
    auto& cell = sets[s].answers[slot->second][probe];
    if (cell) problem(where + ": " + id + " answered " + kind + " probe " + std::to_string(probe) + " twice");
    cell = std::move(*answer);
  }
  const json& end = r.run_end->body;
  // The run's other entries: run_end's commitment to them, and nothing after it.
  const json entries = end.value("entries", json::object());
  const bool entries_ok = entries.is_object() && entries.value("count", uint64_t(-1)) == r.entry_leaves.size() &&
                          entries.value("root", "") == Base64Encode(r.EntriesRoot()) && r.entries_after_end == 0 &&
                          r.manifests.empty() && !r.model && r.others.empty();
  add("entries", entries_ok,
      entries_ok ? "run_end commits to the run's " + std::to_string(r.entry_leaves.size()) + " other entries; none follows it"
                 : "the run has entries run_end does not commit to, entries after run_end, or entries an attribution does not write "
                   "(manifests, models)");
  const bool tally = end.value("teacher_calls", uint64_t(0)) == calls && end.value("teacher_calls_root", "") == Base64Encode(leaves.Root());
  add("calls", problems.empty() && tally && calls > 0,
      problems.empty() ? (tally ? std::to_string(calls) + " recorded calls, in sequence, each of a model and probe in the plan, their root the one run_end names"
                                : "run_end's teacher_calls or teacher_calls_root does not match the " + std::to_string(calls) + " calls found")
                       : JoinProblems(problems));
  const bool preregistered = calls > 0 && r.decision.index < r.run_start->index && r.run_start->index < first_call;
  add("pre-registered", preregistered,
      preregistered ? "the plan (decision " + std::to_string(r.decision.index) + ") and run_start (" + std::to_string(r.run_start->index) +
                          ") precede the first query (entry " + std::to_string(first_call) + ")"
                    : "a query is recorded before the plan or run_start, or there is none");

  // 3. Every model answered every probe once; the prompts rebuild the
  // pre-registered probe sets.
  size_t missing = 0;
  for (const auto& set : sets) {
    for (const auto& per_model : set.answers) {
      for (const auto& a : per_model) missing += a ? 0 : 1;
    }
  }
  add("complete", missing == 0, missing == 0 ? "every model answered every probe of both sets"
                                             : std::to_string(missing) + " (model, probe) answers are missing");
  bool hashes_ok = missing == 0;
  std::string hash_detail;
  ProbeSet rebuilt[2];
  for (int s = 0; s < 2 && missing == 0; ++s) {
    const json& meta = parsed->probe_sets[s];
    rebuilt[s].kind = s == 0 ? ProbeKind::kData : ProbeKind::kRandom;
    rebuilt[s].seed = meta["seed"].get<uint64_t>();
    rebuilt[s].source_sha256 = meta["source_sha256"].get<std::string>();
    rebuilt[s].images = meta.value("modality", "text") == "image";
    for (const auto& p : sets[s].prompts) rebuilt[s].probes.push_back(*p);
    StatusOr<std::string> sha = rebuilt[s].Sha256();
    const bool same = sha.ok() && *sha == meta["sha256"].get<std::string>();
    hashes_ok = hashes_ok && same;
    hash_detail += std::string(hash_detail.empty() ? "" : "; ") + (s == 0 ? "data" : "random") + " probes " +
                   (same ? "hash to the pre-registered " + meta["sha256"].get<std::string>().substr(0, 16) + "…" : "do not hash to the pre-registered set");
  }
  add("probes", hashes_ok, missing == 0 ? "the prompts asked: " + hash_detail : "not checked: answers are missing");
  // With positions "probe", every answer is the endpoint's scoring of its
  // prompt: the prompt after its first byte, one distribution a byte. A run
  // that generated answers cannot be relabelled as one that scored probes.
  if (plan.options.positions == "probe") {
    const std::string bad = missing == 0 ? FirstUnscored(sets, models) : "not checked: answers are missing";
    add("scored", bad.empty(), bad.empty() ? "every answer scores its probe: one distribution for each byte after the first" : bad);
  }

  // 4. The outcome follows from the recorded answers.
  out.recorded = end["attribution"];
  if (missing == 0) {
    Outcome again;
    again.models = models;
    for (int s = 0; s < 2; ++s) {
      SetAnswers a;
      a.suspect.reserve(sets[s].count);
      for (const auto& x : sets[s].answers[0]) a.suspect.push_back(*x);
      for (size_t c = 0; c < plan.candidates.size(); ++c) {
        std::vector<Answer> v;
        for (const auto& x : sets[s].answers[1 + c]) v.push_back(*x);
        a.candidates.push_back(std::move(v));
      }
      for (size_t k = 0; k < plan.references.size(); ++k) {
        std::vector<Answer> v;
        for (const auto& x : sets[s].answers[1 + plan.candidates.size() + k]) v.push_back(*x);
        a.references.push_back(std::move(v));
      }
      SetOutcome& so = s == 0 ? again.test : again.baseline;
      so.kind = rebuilt[s].kind;
      so.seed = rebuilt[s].seed;
      so.probes = sets[s].count;
      so.sha256 = parsed->probe_sets[s]["sha256"].get<std::string>();
      so.source_sha256 = rebuilt[s].source_sha256;
      StatusOr<Attribution> result = AttributeAnswers(plan, a);
      if (!result.ok()) {
        add("outcome", false, "the recorded answers cannot be tested: " + result.status().message());
        return out;
      }
      so.result = std::move(*result);
      again.queries += models * sets[s].count;
    }
    again.run_id = r.run_id;
    again.decision_index = r.decision.index;
    out.recomputed = again.ToJson(plan.options);
    const bool same = NearlyEqual(out.recorded, out.recomputed);
    add("outcome", same,
        same ? "the statistics, p-values and verdict recorded are what the recorded answers give: " +
                   (again.test.result.identified.empty() ? std::string("none identified") : "identified " + again.test.result.identified) +
                   " at alpha " + json(plan.options.alpha).dump() + ", " + std::to_string(plan.references.size()) + " references, " +
                   std::to_string(sets[0].count) + " probes per set"
             : "the recorded outcome differs from what the recorded answers give (recorded: " +
                   out.recorded.value("identified", json()).dump() + ", recomputed: " +
                   (again.test.result.identified.empty() ? std::string("none") : again.test.result.identified) + ")");
  } else {
    add("outcome", false, "not recomputed: answers are missing");
  }

  // 5. With the corpus: the probes are the seed's draws, not chosen.
  if (corpus != nullptr) {
    bool drawn = true;
    std::string detail;
    for (int s = 0; s < 2; ++s) {
      const json& meta = parsed->probe_sets[s];
      StatusOr<ProbeSet> again = corpus->Make(s == 0 ? ProbeKind::kData : ProbeKind::kRandom, meta["count"].get<size_t>(),
                                              meta["length"].get<size_t>(), meta["seed"].get<uint64_t>());
      StatusOr<std::string> sha = again.ok() ? again->Sha256() : StatusOr<std::string>(again.status());
      const bool same = sha.ok() && *sha == meta["sha256"].get<std::string>();
      drawn = drawn && same;
      detail += std::string(detail.empty() ? "" : "; ") + (s == 0 ? "data" : "random") +
                (same ? " probes are seed " + std::to_string(meta["seed"].get<uint64_t>()) + "'s draws from the corpus"
                      : " probes are not the seed's draws from this corpus" + (sha.ok() ? std::string() : ": " + sha.status().message()));
    }
    add("probes-drawn", drawn, detail);
  }

  // 6. Asked again: the record is what the endpoints answer.
  for (const ModelRef& want : options.requery) {
    auto slot = model_slot.find(want.id);
    if (slot == model_slot.end()) return Status::InvalidInput("--requery: the plan has no model \"" + want.id + "\"");
    if (!hashes_ok) {
      add("requery:" + want.id, false, "not asked: the recorded prompts are not the pre-registered probe sets");
      continue;
    }
    ModelRef m = slot->second == 0 ? plan.suspect
                 : static_cast<size_t>(slot->second) <= plan.candidates.size()
                     ? plan.candidates[slot->second - 1]
                     : plan.references[slot->second - 1 - plan.candidates.size()];
    const bool elsewhere = !want.base_url.empty() || !want.file.empty();
    if (elsewhere) {  // the auditor's own copy or endpoint, in place of the recorded one
      m.base_url = want.base_url;
      m.model = want.model;
      m.file = want.file;
      m.file_sha256 = want.file_sha256;
    }
    const QueryOptions q = AskedAsPlanned(plan.options, options.query);
    size_t same = 0, total = 0;
    double worst = 0;
    std::string first_difference;
    for (int s = 0; s < 2; ++s) {
      DG_ASSIGN_OR_RETURN(std::vector<Answer> again, QueryModel(m, rebuilt[s], q));
      for (size_t i = 0; i < again.size(); ++i) {
        const Answer& was = *sets[s].answers[slot->second][i];
        bool equal = again[i].text == was.text && again[i].positions.size() == was.positions.size();
        for (size_t k = 0; equal && k < was.positions.size(); ++k) {
          std::set<std::string> tokens;
          for (const auto& [t, p] : was.positions[k]) tokens.insert(t);
          for (const auto& [t, p] : again[i].positions[k]) tokens.insert(t);
          for (const auto& t : tokens) {
            const auto& before = was.positions[k];
            const auto& now = again[i].positions[k];
            const auto a = before.find(t);
            const auto b = now.find(t);
            const double d = std::fabs((a == before.end() ? 0.0 : a->second) - (b == now.end() ? 0.0 : b->second));
            worst = std::max(worst, d);
            if (d > 1e-6) equal = false;
          }
        }
        ++total;
        if (equal) {
          ++same;
        } else if (first_difference.empty()) {
          first_difference = std::string(s == 0 ? "data" : "random") + " probe " + std::to_string(i) + ": recorded \"" + was.text +
                             "\", now \"" + again[i].text + "\"";
        }
      }
    }
    out.requeried.push_back(want.id);
    char worst_s[32];
    std::snprintf(worst_s, sizeof worst_s, "%.3g", worst);
    add("requery:" + want.id, same == total,
        std::to_string(same) + " of " + std::to_string(total) + " answers of " + (m.file.empty() ? m.base_url + "#" + m.model : m.file) +
            (elsewhere ? " (given for the re-check)" : " (the endpoint the record names)") + " are the recorded ones" +
            (q.logprobs ? std::string(" (largest probability difference ") + worst_s + ")" : std::string()) +
            (first_difference.empty() ? "" : "; first difference: " + first_difference));
  }
  return out;
}

}  // namespace

}  // namespace dg::attribute
