// One attribution from end to end (docs/attribution.md): the plan (the
// models, the options and the two probe sets), the queries, the test — and
// the same as a recorded run in a ledger, with the offline re-check an
// auditor runs on that record.
//
// A recorded attribution is a run in the one lifecycle (record/recorded_run.h):
//   decision   the plan in full (Gate::DecideAttribution): the probe sets'
//              hashes are in the ledger before any model is asked anything;
//   run_start  mode "attribution", the plan's hash and the probe sets;
//   teacher_call  one per query, in the order asked: the model, the probe set
//              and index, the prompt, the answer (text and any reported
//              distributions) — appended 64 at a time, each batch signed;
//   run_end    completed with the outcome (every candidate's statistic,
//              null, p-values, the verdict, for both probe sets), or failed
//              / interrupted with the error when an endpoint failed or a
//              signal came.
//
// Errors: InvalidInput (exit 2) for a plan that cannot be tested (no
// candidate, fewer than 2 references, an id given twice); IoError (exit 3)
// for an endpoint that failed; the ledger's errors for a failed append (the
// run is then closed as failed if the ledger takes that). The recheck
// returns VerifyFailed only through its checks (each says what failed), and
// InvalidInput for a run that is not an attribution.
// Thread safety: one thread per call; the functions share nothing.
#ifndef DISTILLGATE_ATTRIBUTE_ATTRIBUTION_RUN_H_
#define DISTILLGATE_ATTRIBUTE_ATTRIBUTION_RUN_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attribute/attribution.h"
#include "attribute/endpoint.h"
#include "attribute/probes.h"
#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/ledger.h"

namespace dg::attribute {

struct PlanOptions {
  std::string distance = "prefix";     // prefix | jsd
  std::string statistic = "relative";  // relative | absolute
  double soften = 1.0;                 // jsd only
  double alpha = 0.05;
  size_t answer_bytes = 8;             // max_tokens of each request
  // Whose positions' distributions are compared (jsd only): "answer" — the
  // answer each model generates (chat completions); "probe" — the probe's
  // own bytes, teacher-forced (QueryOptions::score_probe), the same
  // contexts for every model. Recorded in the plan only when "probe".
  std::string positions = "answer";
};

struct Plan {
  ModelRef suspect;                          // its id is "suspect"
  std::vector<ModelRef> candidates;          // ids as given (ID=URL#model)
  std::vector<ModelRef> references;          // ids reference-1, reference-2, …
  ProbeSet test, baseline;                   // data probes (the test) and random probes (the baseline)
  size_t probe_length = 0;
  PlanOptions options;

  // {"format": "distillgate-attribution-plan-v1", "suspect": {id, endpoint,
  // model}, "candidates": [...], "references": [...], "probe_sets": [{kind,
  // seed, count, length, sha256, source_sha256}], "options": {...}}: what a
  // recorded run pre-registers (its hash is the run's job_sha256).
  StatusOr<nlohmann::json> ToJson() const;
};

// InvalidInput unless the plan has a candidate, at least 2 references, ids
// that are distinct, and two non-empty probe sets of the same size.
Status CheckPlan(const Plan& plan);

struct SetOutcome {
  ProbeKind kind = ProbeKind::kData;
  uint64_t seed = 0;
  size_t probes = 0;
  std::string sha256, source_sha256;
  Attribution result;
};

struct Outcome {
  SetOutcome test, baseline;
  size_t models = 0, queries = 0;
  std::string run_id;           // the recorded run ("" when not recorded)
  uint64_t decision_index = 0;  // its decision entry
  // The test's result with "probe_set", "random_baseline", "queries",
  // "queries_per_model", "answer_bytes", "distance", "statistic", "soften"
  // (what --json prints and run_end records under "attribution").
  nlohmann::json ToJson(const PlanOptions& o) const;
};

// What every model answered on one probe set, in probe order.
struct SetAnswers {
  std::vector<Answer> suspect;
  std::vector<std::vector<Answer>> candidates, references;  // in the plan's order
};

// The test on recorded answers (pure): the distances the plan's options
// name, then Attribute().
StatusOr<Attribution> AttributeAnswers(const Plan& plan, const SetAnswers& answers);

// Called with each answer as it arrives (a recorder).
using QuerySink = std::function<Status(const ModelRef& model, const ProbeSet& set, size_t probe, const Answer& answer)>;

// Asks every model every probe of both sets (the suspect, the references,
// then each candidate) and tests.
StatusOr<Outcome> RunAttribution(const Plan& plan, const QueryOptions& query, const QuerySink& sink = nullptr);

// The same, recorded in `ledger` as an attribution run (above). The
// ledger is written only after the plan is checked.
StatusOr<Outcome> RunRecordedAttribution(const Plan& plan, const QueryOptions& query, Ledger& ledger, const PrivateKey& key);

struct RecheckItem {
  std::string name;
  bool ok = false;
  std::string detail;
};

struct Recheck {
  std::string run_id;
  std::vector<RecheckItem> checks;
  nlohmann::json recorded;    // run_end's "attribution"
  nlohmann::json recomputed;  // the same, computed again from the recorded answers
  nlohmann::json plan;        // the recorded plan (the models and options the verdict rests on)
  std::vector<std::string> requeried;  // the model ids asked again (RecheckOptions::requery)
  std::vector<std::string> other_runs;  // other attribution runs of the same suspect in this ledger
  bool ok() const;
  nlohmann::json ToJson() const;  // {run, verified, checks: [{name, ok, detail}], plan, recorded, recomputed}
};

// Re-checks a recorded attribution from the ledger alone (the ledger's own
// signatures and tree are Fsck's, checked by the caller): the plan hashes to
// the run's job_sha256; the decision and run_start come before the first
// query; the prompts asked rebuild the pre-registered probe sets (same
// hashes); every model answered every probe once; the recorded outcome is
// what the recorded answers give. With `corpus`, also that the probe sets are
// the ones the seed draws from it (not chosen after the fact).
//
// With `requery`, the models named there are asked the recorded prompts
// again (at the endpoint given, or the recorded one) and their answers are
// compared with the recorded ones (check "requery:ID": every text the same,
// every reported probability within 1e-6) — an auditor's check that the
// record is what the public endpoint answers (deterministic endpoints:
// greedy decoding at temperature 0). IoError when an endpoint fails.
struct RecheckOptions {
  const ProbeCorpus* corpus = nullptr;
  std::vector<ModelRef> requery;  // id: the plan's id; base_url/model empty: the recorded endpoint
  QueryOptions query;             // timeout, retries, API key for requery
};
StatusOr<Recheck> RecheckAttribution(Ledger& ledger, const std::string& run_id, const RecheckOptions& options);

}  // namespace dg::attribute

#endif  // DISTILLGATE_ATTRIBUTE_ATTRIBUTION_RUN_H_
