// `distillgate attribute`: which candidate teacher, if any, a suspect model
// imitates, tested against independent references (docs/attribution.md).
#include <cstdio>
#include <cstdlib>
#include <set>
#include <iostream>

#include "attribute/attribution.h"
#include "attribute/endpoint.h"
#include "attribute/probes.h"
#include "cli/arg_checks.h"
#include "cli/commands.h"
#include "core/file_util.h"

namespace dg::cli {
namespace {

using attribute::CandidateEvidence;
using attribute::ModelRef;
using attribute::ProbeKind;
using attribute::ProbeSet;

struct AttributeArgs {
  std::string suspect, probe_data, api_key_env, distance = "prefix", statistic = "relative";
  std::vector<std::string> teachers, references;
  size_t probes = 200, probe_length = 32, max_tokens = 8;
  double alpha = 0.05, timeout_s = 60, soften = 1.0;
  uint64_t seed = 0;
  bool as_json = false;
};

struct ProbeRun {
  ProbeSet set;
  std::string sha256;
  attribute::Attribution result;
};

// Queries every model on one probe set and tests the candidates.
StatusOr<ProbeRun> RunProbes(ProbeSet set, const ModelRef& suspect, const std::vector<ModelRef>& teachers,
                             const std::vector<ModelRef>& references, const attribute::QueryOptions& q, double alpha,
                             bool relative, double soften) {
  ProbeRun run;
  DG_ASSIGN_OR_RETURN(run.sha256, set.Sha256());  // fixed before the first query
  DG_ASSIGN_OR_RETURN(auto suspect_answers, attribute::QueryModel(suspect, set, q));
  std::vector<std::vector<attribute::Answer>> reference_answers;
  for (const auto& r : references) {
    DG_ASSIGN_OR_RETURN(auto a, attribute::QueryModel(r, set, q));
    reference_answers.push_back(std::move(a));
  }
  auto distance = [&q, soften](const attribute::Answer& x, const attribute::Answer& y) {
    return q.logprobs ? attribute::NextTokenDistance(x, y, soften) : attribute::AnswerDistance(x.text, y.text, q.max_tokens);
  };
  // The relative statistic's baselines: the suspect's mean distance to the
  // references, and each reference's to the others, probe by probe.
  const size_t n = set.probes.size(), k = references.size();
  std::vector<double> suspect_base(n, 0.0);
  std::vector<std::vector<double>> reference_base(k, std::vector<double>(n, 0.0));
  if (relative) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t r = 0; r < k; ++r) {
        suspect_base[i] += distance(suspect_answers[i], reference_answers[r][i]) / static_cast<double>(k);
        for (size_t o = 0; o < k; ++o) {
          if (o != r) reference_base[r][i] += distance(reference_answers[r][i], reference_answers[o][i]) / static_cast<double>(k - 1);
        }
      }
    }
  }
  std::vector<CandidateEvidence> evidence;
  for (const auto& t : teachers) {
    DG_ASSIGN_OR_RETURN(auto teacher_answers, attribute::QueryModel(t, set, q));
    CandidateEvidence c;
    c.id = t.id;
    if (relative) {
      c.suspect_baseline = suspect_base;
      c.reference_baselines = reference_base;
    }
    for (size_t i = 0; i < set.probes.size(); ++i) c.suspect.push_back(distance(suspect_answers[i], teacher_answers[i]));
    for (const auto& ra : reference_answers) {
      std::vector<double> d;
      for (size_t i = 0; i < set.probes.size(); ++i) d.push_back(distance(ra[i], teacher_answers[i]));
      c.references.push_back(std::move(d));
    }
    evidence.push_back(std::move(c));
  }
  DG_ASSIGN_OR_RETURN(run.result, attribute::Attribute(evidence, alpha));
  run.set = std::move(set);
  return run;
}

nlohmann::json ProbeJson(const ProbeRun& r) {
  nlohmann::json j = attribute::ToJson(r.result);
  j["probe_set"] = {{"kind", attribute::ProbeKindName(r.set.kind)}, {"seed", r.set.seed}, {"count", r.set.probes.size()},
                    {"sha256", r.sha256}, {"source_sha256", r.set.source_sha256}};
  return j;
}

void PrintProbeRun(const char* title, const ProbeRun& r) {
  std::cout << title << " (" << r.set.probes.size() << " " << attribute::ProbeKindName(r.set.kind) << " probes, sha256 "
            << r.sha256.substr(0, 16) << "…):\n";
  for (const auto& c : r.result.candidates) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-20s distance %.4f   references %.4f ± %.4f   p %.3g   Holm p %.3g%s\n", c.id.c_str(),
                  c.statistic, c.null_mean, c.null_sd, c.p, c.p_holm, c.significant ? "   significant" : "");
    std::cout << line;
  }
  std::cout << "  " << (r.result.identified.empty() ? "none identified" : "identified: " + r.result.identified) << " — "
            << r.result.reason << "\n";
}

StatusOr<int> RunAttribute(const AttributeArgs& a) {
  DG_ASSIGN_OR_RETURN(ModelRef suspect, attribute::ParseModelRef(a.suspect, false, "--suspect"));
  suspect.id = "suspect";
  std::vector<ModelRef> teachers, references;
  std::set<std::string> ids;
  for (const auto& t : a.teachers) {
    DG_ASSIGN_OR_RETURN(ModelRef m, attribute::ParseModelRef(t, true, "--teacher"));
    if (!ids.insert(m.id).second) return Status::InvalidInput("--teacher: the id \"" + m.id + "\" is given twice");
    teachers.push_back(std::move(m));
  }
  for (size_t i = 0; i < a.references.size(); ++i) {
    DG_ASSIGN_OR_RETURN(ModelRef m, attribute::ParseModelRef(a.references[i], false, "--reference"));
    m.id = "reference-" + std::to_string(i + 1);
    references.push_back(std::move(m));
  }
  if (references.size() < 2) {
    return Status::InvalidInput("--reference: attribution needs at least 2 independent reference models for its null; got " +
                                std::to_string(references.size()));
  }
  DG_ASSIGN_OR_RETURN(std::string corpus, ReadFile(a.probe_data));
  DG_ASSIGN_OR_RETURN(ProbeSet data, attribute::MakeProbes(corpus, ProbeKind::kData, a.probes, a.probe_length, a.seed));
  DG_ASSIGN_OR_RETURN(ProbeSet random, attribute::MakeProbes(corpus, ProbeKind::kRandom, a.probes, a.probe_length, a.seed));
  attribute::QueryOptions q;
  q.max_tokens = a.max_tokens;
  q.timeout_s = a.timeout_s;
  q.logprobs = a.distance == "jsd";
  if (!a.api_key_env.empty()) {
    const char* k = std::getenv(a.api_key_env.c_str());
    if (k == nullptr || *k == '\0') return Status::InvalidInput("--api-key-env: $" + a.api_key_env + " is not set");
    q.api_key = k;
  }
  const bool relative = a.statistic == "relative";
  DG_ASSIGN_OR_RETURN(ProbeRun main, RunProbes(std::move(data), suspect, teachers, references, q, a.alpha, relative, a.soften));
  DG_ASSIGN_OR_RETURN(ProbeRun baseline, RunProbes(std::move(random), suspect, teachers, references, q, a.alpha, relative, a.soften));
  const size_t models = 1 + teachers.size() + references.size();
  const size_t queries = models * (main.set.probes.size() + baseline.set.probes.size());
  if (a.as_json) {
    nlohmann::json out = ProbeJson(main);
    out["suspect"] = a.suspect;
    out["random_baseline"] = ProbeJson(baseline);
    out["queries"] = queries;
    out["queries_per_model"] = main.set.probes.size() + baseline.set.probes.size();
    out["answer_bytes"] = a.max_tokens;
    out["distance"] = a.distance;
    out["statistic"] = a.statistic;
    out["soften"] = a.soften;
    std::cout << out.dump(2) << "\n";
  } else {
    PrintProbeRun("data probes (the test)", main);
    PrintProbeRun("random probes (baseline, not the test)", baseline);
    std::cout << "queries: " << queries << " (" << models << " models × " << main.set.probes.size() + baseline.set.probes.size()
              << " probes), "
              << (q.logprobs ? "distance: JSD of the reported next-token distributions where the contexts agree"
                             : "distance: shared prefix of the answers' first " + std::to_string(a.max_tokens) + " bytes")
              << "\n"
              << "  an identification is evidence of imitation, not of a breach of terms; none identified is not proof of "
                 "independence (docs/attribution.md)\n";
  }
  return main.result.identified.empty() ? 1 : 0;
}

}  // namespace

void RegisterAttribute(CLI::App& app, Dispatch& d) {
  auto a = std::make_shared<AttributeArgs>();
  CLI::App* c = app.add_subcommand(
      "attribute",
      "Test which candidate teacher, if any, a suspect model imitates, against independent reference models.\n"
      "Models are OpenAI-compatible endpoints queried as black boxes (URL#model). Exit 0 a teacher identified,\n"
      "1 none identified, 2 bad input, 3 an endpoint failed.");
  c->add_option("--suspect", a->suspect, "The suspect model: URL#model (e.g. http://127.0.0.1:8080/v1#student)")->required();
  c->add_option("--teacher", a->teachers, "A candidate teacher: ID=URL#model (repeat)")->required();
  c->add_option("--reference", a->references, "An independently trained reference model: URL#model (at least 2)")->required();
  c->add_option("--probe-data", a->probe_data, "ASCII text the probes are drawn from (near the models' training data)")->required();
  c->add_option("--probes", a->probes, "Probes per set (the data set and the random baseline each)")
      ->capture_default_str()
      ->check(IntegerIn(1, 100000));
  c->add_option("--probe-length", a->probe_length, "Bytes per probe")->capture_default_str()->check(IntegerIn(1, 4096));
  c->add_option("--answer-bytes", a->max_tokens, "Answer length compared (max_tokens of each request)")
      ->capture_default_str()
      ->check(IntegerIn(1, 1024));
  c->add_option("--distance", a->distance,
                 "prefix: answers' shared prefix (text only); jsd: Jensen-Shannon divergence of the next-token\n"
                 "distributions the endpoints report (logprobs, top 20)")
      ->capture_default_str()
      ->check(CLI::IsMember({"prefix", "jsd"}));
  c->add_option("--soften", a->soften, "With --distance jsd: soften each distribution at this temperature first (p^(1/T))")
      ->capture_default_str()
      ->check(NumberIn(0.05, 100));
  c->add_option("--statistic", a->statistic,
                 "relative: a model's distance to the candidate minus its mean distance to independent models;\n"
                 "absolute: the distance itself")
      ->capture_default_str()
      ->check(CLI::IsMember({"relative", "absolute"}));
  c->add_option("--alpha", a->alpha, "Family-wise significance level")->capture_default_str()->check(NumberIn(1e-12, 0.5));
  c->add_option("--seed", a->seed, "Seed of the probe sets")->capture_default_str()->check(IntegerIn(0, int64_t{1} << 53));
  c->add_option("--timeout", a->timeout_s, "Seconds per attempt")->capture_default_str()->check(NumberIn(0.001, 86400));
  c->add_option("--api-key-env", a->api_key_env, "Environment variable holding the endpoints' API key");
  c->add_flag("--json", a->as_json, "Print the result as JSON");
  c->callback([&d, a] { d.handler = [a] { return RunAttribute(*a); }; });
}

}  // namespace dg::cli
