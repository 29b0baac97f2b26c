#include "attribute/attribution.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "attribute/statistics.h"

namespace dg::attribute {
namespace {

std::string Fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// How a decision is worded for one statistic.
struct Wording {
  std::string none, only, won_suffix, several_won, several_lost;  // "N" + several_won + ID + won_suffix
};

// The decision both statistics share (docs/attribution.md, "The decision"):
// Holm over the candidates' p; none significant: none; one: it; several: the
// closest (the smallest statistic, or the largest when `larger_is_closer`)
// when its lead over each other significant one is significant —
// `lead_p(best, j)`, Holm-adjusted over those comparisons.
void Decide(Attribution* a, bool larger_is_closer, const std::function<double(size_t, size_t)>& lead_p, const Wording& w) {
  std::vector<double> ps;
  for (const auto& r : a->candidates) ps.push_back(r.p);
  const std::vector<double> holm = HolmAdjust(ps);
  std::vector<size_t> significant;
  for (size_t i = 0; i < a->candidates.size(); ++i) {
    a->candidates[i].p_holm = holm[i];
    a->candidates[i].significant = holm[i] <= a->alpha;
    if (a->candidates[i].significant) significant.push_back(i);
  }
  if (significant.empty()) {
    a->reason = w.none + Fmt(a->alpha);
    return;
  }
  const size_t best = *std::min_element(significant.begin(), significant.end(), [a, larger_is_closer](size_t x, size_t y) {
    return larger_is_closer ? a->candidates[x].statistic > a->candidates[y].statistic : a->candidates[x].statistic < a->candidates[y].statistic;
  });
  if (significant.size() == 1) {
    a->identified = a->candidates[best].id;
    a->reason = "only " + a->identified + w.only + Fmt(a->candidates[best].p_holm) + ")";
    return;
  }
  std::vector<double> vs_p;
  std::vector<std::string> vs_id;
  for (size_t j : significant) {
    if (j == best) continue;
    const double p = lead_p(best, j);
    vs_p.push_back(std::isnan(p) ? 1.0 : p);
    vs_id.push_back(a->candidates[j].id);
  }
  const std::vector<double> vs_holm = HolmAdjust(vs_p);
  bool all = true;
  for (size_t k = 0; k < vs_holm.size(); ++k) {
    a->versus.emplace_back(vs_id[k], vs_holm[k]);
    all &= vs_holm[k] <= a->alpha;
  }
  if (all) {
    a->identified = a->candidates[best].id;
    a->reason = std::to_string(significant.size()) + w.several_won + a->identified + w.won_suffix;
  } else {
    a->reason = std::to_string(significant.size()) + w.several_lost;
  }
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
  Decide(&a, /*larger_is_closer=*/false,
         [&candidates](size_t best, size_t j) { return SignTestPValue(candidates[best].suspect, candidates[j].suspect); },
         {"no candidate is closer to the suspect than independent references are, at family-wise level ",
          " is closer to the suspect than independent references are (Holm-adjusted p = ",
          " than to each of the others on significantly many probes",
          " candidates are closer than independent references; the suspect is closer to ",
          " candidates are closer than independent references, and none is closer than the others on significantly many probes: no "
          "single teacher is identified"});
  return a;
}

namespace {

// x / |x|; an all-zero x stays zero (its coefficient is then 0).
void ScaleToUnit(std::vector<double>* x) {
  double n = 0;
  for (double v : *x) n += v * v;
  n = std::sqrt(n);
  if (n > 0) {
    for (double& v : *x) v /= n;
  }
}

// Least squares: the coefficients of y on the columns (each as long as y),
// through the normal equations (Cholesky). InvalidInput when two columns are
// (nearly) the same direction: those candidates cannot be told apart.
StatusOr<std::vector<double>> LeastSquares(const std::vector<std::vector<double>>& cols, const std::vector<double>& y,
                                           const std::vector<std::string>& ids) {
  const size_t m = cols.size();
  std::vector<double> g(m * m, 0.0), b(m, 0.0);
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j <= i; ++j) {
      double dot = 0;
      for (size_t t = 0; t < y.size(); ++t) dot += cols[i][t] * cols[j][t];
      g[i * m + j] = g[j * m + i] = dot;
    }
    for (size_t t = 0; t < y.size(); ++t) b[i] += cols[i][t] * y[t];
  }
  std::vector<double> l(m * m, 0.0);
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j <= i; ++j) {
      double sum = g[i * m + j];
      for (size_t k = 0; k < j; ++k) sum -= l[i * m + k] * l[j * m + k];
      if (i == j) {
        if (!(sum > 1e-9)) {
          return Status::InvalidInput("candidate " + ids[i] +
                                      " answers the probes as a combination of the other candidates do: the regression cannot tell them apart "
                                      "(use --statistic relative, or leave one out)");
        }
        l[i * m + i] = std::sqrt(sum);
      } else {
        l[i * m + j] = sum / l[j * m + j];
      }
    }
  }
  std::vector<double> z(m), x(m);
  for (size_t i = 0; i < m; ++i) {
    double sum = b[i];
    for (size_t k = 0; k < i; ++k) sum -= l[i * m + k] * z[k];
    z[i] = sum / l[i * m + i];
  }
  for (size_t i = m; i-- > 0;) {
    double sum = z[i];
    for (size_t k = i + 1; k < m; ++k) sum -= l[k * m + i] * x[k];
    x[i] = sum / l[i * m + i];
  }
  return x;
}

// The coefficients of `model` on the candidates, deviations from the mean of
// `baseline` (the references in use).
StatusOr<std::vector<double>> Coefficients(const std::vector<double>& model, const RegressionEvidence& e,
                                           const std::vector<const std::vector<double>*>& baseline) {
  const size_t len = model.size();
  std::vector<double> mu(len, 0.0);
  for (const auto* r : baseline) {
    for (size_t t = 0; t < len; ++t) mu[t] += (*r)[t] / static_cast<double>(baseline.size());
  }
  std::vector<double> y(len);
  for (size_t t = 0; t < len; ++t) y[t] = model[t] - mu[t];
  ScaleToUnit(&y);
  std::vector<std::vector<double>> cols(e.candidates.size(), std::vector<double>(len));
  for (size_t c = 0; c < e.candidates.size(); ++c) {
    for (size_t t = 0; t < len; ++t) cols[c][t] = e.candidates[c][t] - mu[t];
    ScaleToUnit(&cols[c]);
  }
  return LeastSquares(cols, y, e.ids);
}

}  // namespace

StatusOr<Attribution> AttributeByRegression(const RegressionEvidence& e, double alpha) {
  if (!(alpha > 0 && alpha < 1)) return Status::InvalidInput("alpha must be in (0, 1), not " + Fmt(alpha));
  const size_t m = e.candidates.size(), k = e.references.size(), len = e.suspect.size();
  if (m == 0 || e.ids.size() != m) return Status::InvalidInput("no candidate teacher");
  if (k < 3) {
    return Status::InvalidInput("the regression statistic needs at least 3 reference models (each reference's null leaves it out of the mean); got " +
                                std::to_string(k));
  }
  if (len == 0) return Status::InvalidInput("no probes");
  auto finite = [len](const std::vector<double>& v) {
    return v.size() == len && std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  if (!finite(e.suspect)) return Status::InvalidInput("the suspect's answers are not finite numbers");
  for (size_t c = 0; c < m; ++c) {
    if (!finite(e.candidates[c])) return Status::InvalidInput("candidate " + e.ids[c] + ": every candidate needs the same probes, as finite numbers");
  }
  for (const auto& r : e.references) {
    if (!finite(r)) return Status::InvalidInput("every reference needs the same probes, as finite numbers");
  }
  // Each reference's coefficients against the mean of the other k - 1; the
  // suspect's, alike, against each such mean of k - 1 references, averaged
  // (a mean of k references would leave less of its noise in the deviations
  // than the null's have: a bias, where this only narrows the suspect's spread).
  std::vector<std::vector<double>> null(k);  // [reference][candidate]
  std::vector<double> beta(m, 0.0);
  for (size_t r = 0; r < k; ++r) {
    std::vector<const std::vector<double>*> others;
    for (size_t o = 0; o < k; ++o) {
      if (o != r) others.push_back(&e.references[o]);
    }
    DG_ASSIGN_OR_RETURN(null[r], Coefficients(e.references[r], e, others));
    DG_ASSIGN_OR_RETURN(std::vector<double> b, Coefficients(e.suspect, e, others));
    for (size_t c = 0; c < m; ++c) beta[c] += b[c] / static_cast<double>(k);
  }
  Attribution a;
  a.alpha = alpha;
  a.probes = 0;  // the caller sets the probe count
  a.references = k;
  double ss = 0;
  std::vector<double> means(m, 0.0);
  for (size_t c = 0; c < m; ++c) {
    for (size_t r = 0; r < k; ++r) means[c] += null[r][c] / static_cast<double>(k);
    for (size_t r = 0; r < k; ++r) ss += (null[r][c] - means[c]) * (null[r][c] - means[c]);
  }
  const double df = static_cast<double>(m * (k - 1));
  const double pooled = std::sqrt(ss / df);
  const double widen = std::sqrt(1.0 + 1.0 / static_cast<double>(k));
  for (size_t c = 0; c < m; ++c) {
    CandidateResult res;
    res.id = e.ids[c];
    res.statistic = beta[c];
    for (size_t r = 0; r < k; ++r) res.null.push_back(null[r][c]);
    res.null_mean = means[c];
    res.null_sd = pooled;
    res.p = pooled > 0 ? 1.0 - StudentTCdf((beta[c] - means[c]) / (pooled * widen), df) : 1.0;
    if (std::isnan(res.p)) res.p = 1;
    a.candidates.push_back(std::move(res));
  }
  // With several significant: the largest coefficient's lead over each other
  // one, against the references' differences of the same two coefficients.
  Decide(&a, /*larger_is_closer=*/true,
         [&null, &beta, k](size_t best, size_t j) {
           std::vector<double> diffs;
           for (size_t r = 0; r < k; ++r) diffs.push_back(null[r][j] - null[r][best]);
           return PredictionPValueBelow(beta[j] - beta[best], diffs);
         },
         {"no candidate explains the suspect's deviation from independent references more than it explains theirs, at family-wise level ",
          " explains the suspect's deviation from independent references (Holm-adjusted p = ",
          " explains significantly more than each of the others",
          " candidates explain the suspect's deviation; ",
          " candidates explain the suspect's deviation, and none significantly more than the others: no single teacher is identified"});
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
