#include "attribute/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace dg::attribute {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The continued fraction of I_x(a, b) (modified Lentz), valid and fast for
// x < (a + 1) / (a + b + 2).
double BetaContinuedFraction(double a, double b, double x) {
  constexpr int kMaxIterations = 10000;
  constexpr double kEpsilon = 1e-15, kTiny = 1e-300;
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return h;
}

double XLogX(double p, double q) { return p > 0 ? p * std::log2(p / q) : 0.0; }

}  // namespace

std::vector<double> Softmax(const std::vector<double>& logits, double temperature) {
  std::vector<double> out(logits.size(), kNaN);
  if (logits.empty() || !(temperature > 0)) return out;
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += out[i] = std::exp((logits[i] - top) / temperature);
  for (double& v : out) v /= sum;
  return out;
}

double JensenShannon(const std::vector<double>& p, const std::vector<double>& q) {
  if (p.size() != q.size() || p.empty()) return kNaN;
  double js = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    js += 0.5 * XLogX(p[i], m) + 0.5 * XLogX(q[i], m);
  }
  return std::clamp(js, 0.0, 1.0);
}

double RegularizedIncompleteBeta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return kNaN;
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * BetaContinuedFraction(a, b, x) / a;
  return 1.0 - front * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

double StudentTCdf(double t, double df) {
  if (!(df > 0) || std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double tail = 0.5 * RegularizedIncompleteBeta(df / 2.0, 0.5, df / (df + t * t));  // P(T > |t|)
  return t > 0 ? 1.0 - tail : tail;
}

double BinomialUpperTail(uint64_t k, uint64_t n, double p) {
  if (!(p >= 0) || !(p <= 1)) return kNaN;
  if (k == 0) return 1;
  if (k > n) return 0;
  return RegularizedIncompleteBeta(static_cast<double>(k), static_cast<double>(n - k + 1), p);
}

std::vector<double> HolmAdjust(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  // NaN sorts last and stays NaN: it is never significant.
  std::stable_sort(order.begin(), order.end(), [&p](size_t a, size_t b) {
    if (std::isnan(p[a])) return false;
    if (std::isnan(p[b])) return true;
    return p[a] < p[b];
  });
  std::vector<double> out(m, kNaN);
  double running = 0;
  for (size_t i = 0; i < m; ++i) {
    const double v = p[order[i]];
    if (std::isnan(v)) break;
    running = std::max(running, std::min(1.0, static_cast<double>(m - i) * v));
    out[order[i]] = running;
  }
  return out;
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double SampleStdDev(const std::vector<double>& v) {
  if (v.size() < 2) return kNaN;
  const double m = Mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

double PredictionPValueBelow(double x, const std::vector<double>& null) {
  const double s = SampleStdDev(null);
  if (!(s > 0) || std::isnan(x)) return kNaN;
  const double k = static_cast<double>(null.size());
  return StudentTCdf((x - Mean(null)) / (s * std::sqrt(1.0 + 1.0 / k)), k - 1.0);
}

double SignTestPValue(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return kNaN;
  uint64_t wins = 0, untied = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return kNaN;
    if (a[i] == b[i]) continue;
    ++untied;
    wins += a[i] < b[i];
  }
  return BinomialUpperTail(wins, untied, 0.5);
}

double RocAuc(const std::vector<double>& positive, const std::vector<double>& negative) {
  if (positive.empty() || negative.empty()) return kNaN;
  double sum = 0;
  for (double p : positive) {
    for (double n : negative) sum += p > n ? 1.0 : (p == n ? 0.5 : 0.0);
  }
  return sum / (static_cast<double>(positive.size()) * static_cast<double>(negative.size()));
}

}  // namespace dg::attribute
