// The attribution test (docs/attribution.md): given, for one probe set, the
// per-probe distances between a suspect model and each candidate teacher,
// and between independent reference models and each candidate, decides
// which candidate — if any — the suspect imitates, at family-wise level
// alpha. How the distances are obtained (softened-output JSD, disagreement
// of top-1 answers, next-byte distributions) is the caller's; this file is
// the statistics, and pure.
//
// The test, per candidate c:
//   statistic  S(suspect, c) = the mean over probes of d(suspect, c);
//   null       S(r, c) for each reference r: models trained without any
//              candidate, so their closeness to c is what independence gives;
//   p-value    PredictionPValueBelow(S(suspect, c), {S(r, c)}): how unlikely
//              an independent model is to be this close to c;
//   then Holm–Bonferroni over the candidates. A candidate is identified when
//   it is the only one significant, or, when several are, when the suspect is
//   closer to it than to each other significant candidate on significantly
//   many probes (a paired sign test, Holm-corrected). Otherwise none is.
//
// Errors: InvalidInput for fewer than 2 references, a probe count that
// differs between vectors, no probes, no candidates, an alpha outside (0, 1),
// or a distance that is not finite. Thread safety: reentrant.
#ifndef DISTILLGATE_ATTRIBUTE_ATTRIBUTION_H_
#define DISTILLGATE_ATTRIBUTE_ATTRIBUTION_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg::attribute {

struct CandidateEvidence {
  std::string id;                               // the candidate teacher's id (ID of --teacher ID=MODEL)
  std::vector<double> suspect;                  // per probe: d(suspect, candidate)
  std::vector<std::vector<double>> references;  // per reference, per probe: d(reference, candidate)
  // Optional (the relative statistic): per probe, what is subtracted from
  // each distance above — for the suspect, its mean distance to the
  // references; for reference r, its mean distance to the other references.
  // Then the statistic says how much closer a model is to the candidate than
  // to independent models, which a model that is far from everyone (a
  // student distilled at a high temperature) does not hide. Empty: none.
  std::vector<double> suspect_baseline;
  std::vector<std::vector<double>> reference_baselines;
};

struct CandidateResult {
  std::string id;
  double statistic = 0;              // mean d(suspect, candidate)
  std::vector<double> null;          // mean d(reference, candidate), one per reference
  double null_mean = 0, null_sd = 0;
  double p = 1, p_holm = 1;          // one-sided prediction p-value, and Holm-adjusted
  bool significant = false;          // p_holm <= alpha
};

struct Attribution {
  double alpha = 0.05;
  size_t probes = 0, references = 0;
  std::vector<CandidateResult> candidates;  // in the input's order
  std::string identified;                   // "" when none is
  std::string reason;                       // why (one sentence)
  // When several candidates are significant: the sign-test p-values of the
  // closest against each other significant one, Holm-adjusted.
  std::vector<std::pair<std::string, double>> versus;
};

StatusOr<Attribution> Attribute(const std::vector<CandidateEvidence>& candidates, double alpha);

// The regression statistic (docs/attribution.md, "The regression
// statistic"). Every model's answers are embedded as one vector of the same
// length (the caller's embedding: per probe, the centred log-probabilities
// of the first answer position over the tokens any model reported there).
// With mu the mean of the references' vectors, the suspect's deviation
// y = s - mu is regressed, by least squares, on every candidate's deviation
// c - mu at once, each of them and y scaled to unit length: candidate c's
// coefficient beta_c is how much of the suspect's own way of answering is c's
// own way, given the other candidates'. Its null is the same coefficient for
// each reference r, with mu the mean of the other references; the suspect's
// beta_c is, alike, the average of its coefficients over those k means of
// k - 1 references (so that its deviations hold as much of mu's noise). The
// p-value is one-sided (a larger beta is closer): (beta_c - mean_r beta_rc) /
// (s * sqrt(1 + 1/k)) against Student's t, where s is pooled over the
// candidates (m candidates, k references: m(k - 1) degrees of freedom; the
// coefficients are on one scale, so they share a spread). Holm over the
// candidates as above; with several significant, the largest beta is
// identified when its lead over each other one is significant against the
// references' own differences (Holm). CandidateResult::statistic is beta_c,
// null the references' coefficients.
struct RegressionEvidence {
  std::vector<std::string> ids;                // the candidates
  std::vector<double> suspect;                 // the suspect's embedded answers
  std::vector<std::vector<double>> candidates;  // per candidate, as long as `suspect`
  std::vector<std::vector<double>> references;  // per reference (at least 3), as long
};
StatusOr<Attribution> AttributeByRegression(const RegressionEvidence& e, double alpha);

// {alpha, probes, references, identified, reason, candidates: [{id,
// statistic, null, null_mean, null_sd, p, p_holm, significant}], versus:
// [{candidate, p_holm}]} (schemas/attribution.schema.json).
nlohmann::json ToJson(const Attribution& a);

}  // namespace dg::attribute

#endif  // DISTILLGATE_ATTRIBUTE_ATTRIBUTION_H_
