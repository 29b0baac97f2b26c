// The statistics of black-box teacher attribution (docs/attribution.md):
// distances between two models' answers to one probe, and the exact or
// closed-form tests that turn many such distances into p-values. Pure
// functions of their arguments, beside test vectors (tests/attribute_test.cc),
// in the manner of ledger/merkle.h.
//
// Errors: none of these fail; inputs outside a function's stated domain give
// NaN (a NaN never compares as significant), never a crash.
// Thread safety: all functions are reentrant.
#ifndef DISTILLGATE_ATTRIBUTE_STATISTICS_H_
#define DISTILLGATE_ATTRIBUTE_STATISTICS_H_

#include <cstdint>
#include <vector>

namespace dg::attribute {

// softmax(logits / temperature), computed stably (the largest logit is
// subtracted first). temperature must be > 0; an empty input gives an empty
// output.
std::vector<double> Softmax(const std::vector<double>& logits, double temperature);

// The Jensen–Shannon divergence of two probability vectors of one size, in
// bits: 0 for equal distributions, 1 for disjoint ones. Entries are used as
// given (callers pass normalised vectors); sizes that differ give NaN.
double JensenShannon(const std::vector<double>& p, const std::vector<double>& q);

// I_x(a, b), the regularized incomplete beta function, for a, b > 0 and
// x in [0, 1] (Lentz's continued fraction; absolute error about 1e-13 for
// small parameters, 1e-11 for parameters in the thousands, where lgamma
// loses digits).
double RegularizedIncompleteBeta(double a, double b, double x);

// P(T <= t) for Student's t distribution with df > 0 degrees of freedom.
double StudentTCdf(double t, double df);

// P(X >= k) for X ~ Binomial(n, p): exact, through the incomplete beta
// function (P(X >= k) = I_p(k, n - k + 1)); 1 for k = 0, 0 for k > n.
double BinomialUpperTail(uint64_t k, uint64_t n, double p);

// Holm–Bonferroni step-down adjusted p-values, in the input's order: the
// i-th smallest p is multiplied by (m - i + 1), the results made monotone
// and capped at 1. Rejecting every hypothesis whose adjusted p is <= alpha
// controls the family-wise error rate at alpha.
std::vector<double> HolmAdjust(const std::vector<double>& p);

// The one-sided prediction p-value of `x` against a sample of the null: the
// probability that a new, independent draw from the (normal) distribution
// that produced `null` is <= x. With sample mean m, standard deviation s and
// size k, (x - m) / (s * sqrt(1 + 1/k)) follows Student's t with k - 1
// degrees of freedom, so the p-value is exactly uniform under the null when
// the null draws are normal. Needs k >= 2 and s > 0: otherwise NaN.
double PredictionPValueBelow(double x, const std::vector<double>& null);

// Mean and sample standard deviation (n - 1); NaN for fewer than 1 / 2 values.
double Mean(const std::vector<double>& v);
double SampleStdDev(const std::vector<double>& v);

// The one-sided sign test on paired values: P(at least `wins` of the pairs
// where a < b, among the pairs that are not tied) under "each untied pair is
// a fair coin". a and b of one size; NaN otherwise.
double SignTestPValue(const std::vector<double>& a, const std::vector<double>& b);

// The area under the ROC curve of scores where `positive` should score
// higher: the Mann–Whitney probability that a random positive outscores a
// random negative (ties count one half). NaN when either set is empty.
double RocAuc(const std::vector<double>& positive, const std::vector<double>& negative);

}  // namespace dg::attribute

#endif  // DISTILLGATE_ATTRIBUTE_STATISTICS_H_
