#include "attribute/attribution.h"

#include <algorithm>
#include <cmath>

#include "attribute/statistics.h"

namespace dg::attribute {
namespace {

std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

StatusOr<Attribution> Attribute(const std::vector<CandidateEvidence>& candidates, double alpha) {
  if (!(alpha > 0 && alpha < 1)) return Status::InvalidInput("alpha must be in (0, 1), not " + Fmt(alpha));
  if (candidates.empty()) return Status::InvalidInput("no candidate teacher");
  Attribution a;
  a.alpha = alpha;
  a.probes = candidates[0].suspect.size();
  a.references = candidates[0].references.size();
  if (a.probes == 0) return Status::InvalidInput("no probes");
  if (a.references < 2) {
    return Status::InvalidInput("attribution needs at least 2 reference models (independent of every candidate) for its null; got " +
                                std::to_string(a.references));
  }
  for (const auto& c : candidates) {
    if (c.suspect.size() != a.probes || c.references.size() != a.references) {
      return Status::InvalidInput("candidate " + c.id + ": every candidate needs the same probes and references");
    }
    auto finite = [](const std::vector<double>& v) { return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }); };
    if (!finite(c.suspect)) return Status::InvalidInput("candidate " + c.id + ": a distance is not a finite number");
    const bool relative = !c.suspect_baseline.empty() || !c.reference_baselines.empty();
    if (relative && (c.suspect_baseline.size() != a.probes || c.reference_baselines.size() != a.references ||
                     !finite(c.suspect_baseline))) {
      return Status::InvalidInput("candidate " + c.id + ": the baselines must cover every probe of the suspect and of every reference");
    }
    auto statistic = [](const std::vector<double>& d, const std::vector<double>* base) {
      double sum = 0;
      for (size_t i = 0; i < d.size(); ++i) sum += d[i] - (base ? (*base)[i] : 0.0);
      return sum / static_cast<double>(d.size());
    };
    CandidateResult r;
    r.id = c.id;
    r.statistic = statistic(c.suspect, relative ? &c.suspect_baseline : nullptr);
    for (size_t k = 0; k < c.references.size(); ++k) {
      const auto& ref = c.references[k];
      if (ref.size() != a.probes) return Status::InvalidInput("candidate " + c.id + ": a reference answered another number of probes");
      if (!finite(ref)) return Status::InvalidInput("candidate " + c.id + ": a distance is not a finite number");
      if (relative && (c.reference_baselines[k].size() != a.probes || !finite(c.reference_baselines[k]))) {
        return Status::InvalidInput("candidate " + c.id + ": the baselines must cover every probe of the suspect and of every reference");
      }
      r.null.push_back(statistic(ref, relative ? &c.reference_baselines[k] : nullptr));
    }
    r.null_mean = Mean(r.null);
    r.null_sd = SampleStdDev(r.null);
    r.p = PredictionPValueBelow(r.statistic, r.null);
    // References that all sit at one distance: a suspect closer than every
    // one of them cannot be given a calibrated p-value.
    if (std::isnan(r.p)) r.p = 1;
    a.candidates.push_back(std::move(r));
  }
  std::vector<double> ps;
  for (const auto& r : a.candidates) ps.push_back(r.p);
  const std::vector<double> holm = HolmAdjust(ps);
  std::vector<size_t> significant;
  for (size_t i = 0; i < a.candidates.size(); ++i) {
    a.candidates[i].p_holm = holm[i];
    a.candidates[i].significant = holm[i] <= alpha;
    if (a.candidates[i].significant) significant.push_back(i);
  }
  if (significant.empty()) {
    a.reason = "no candidate is closer to the suspect than independent references are, at family-wise level " + Fmt(alpha);
    return a;
  }
  // The closest significant candidate.
  const size_t best = *std::min_element(significant.begin(), significant.end(), [&a](size_t x, size_t y) {
    return a.candidates[x].statistic < a.candidates[y].statistic;
  });
  if (significant.size() == 1) {
    a.identified = a.candidates[best].id;
    a.reason = "only " + a.identified + " is closer to the suspect than independent references are (Holm-adjusted p = " +
               Fmt(a.candidates[best].p_holm) + ")";
    return a;
  }
  std::vector<double> vs_p;
  std::vector<std::string> vs_id;
  for (size_t i : significant) {
    if (i == best) continue;
    vs_p.push_back(SignTestPValue(candidates[best].suspect, candidates[i].suspect));
    vs_id.push_back(a.candidates[i].id);
  }
  const std::vector<double> vs_holm = HolmAdjust(vs_p);
  bool all = true;
  for (size_t k = 0; k < vs_holm.size(); ++k) {
    a.versus.emplace_back(vs_id[k], vs_holm[k]);
    all &= vs_holm[k] <= alpha;
  }
  if (all) {
    a.identified = a.candidates[best].id;
    a.reason = std::to_string(significant.size()) + " candidates are closer than independent references; the suspect is closer to " +
               a.identified + " than to each of the others on significantly many probes";
  } else {
    a.reason = std::to_string(significant.size()) + " candidates are closer than independent references, and none is closer than " +
               "the others on significantly many probes: no single teacher is identified";
  }
  return a;
}

nlohmann::json ToJson(const Attribution& a) {
  nlohmann::json cands = nlohmann::json::array();
  for (const auto& c : a.candidates) {
    cands.push_back({{"id", c.id}, {"statistic", c.statistic}, {"null", c.null}, {"null_mean", c.null_mean},
                     {"null_sd", c.null_sd}, {"p", c.p}, {"p_holm", c.p_holm}, {"significant", c.significant}});
  }
  nlohmann::json versus = nlohmann::json::array();
  for (const auto& [id, p] : a.versus) versus.push_back({{"candidate", id}, {"p_holm", p}});
  return {{"alpha", a.alpha}, {"probes", a.probes}, {"references", a.references},
          {"identified", a.identified.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.identified)},
          {"reason", a.reason}, {"candidates", cands}, {"versus", versus}};
}

}  // namespace dg::attribute
