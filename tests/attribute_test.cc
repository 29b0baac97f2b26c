// Issue 15: the statistics of teacher attribution, against closed forms,
// published table values and exact sums, and the attribution test's
// calibration under its null (controls do not get small p-values more often
// than alpha says).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "attribute/attribution.h"
#include "attribute/attribution_run.h"
#include "attribute/endpoint.h"
#include "attribute/probes.h"
#include "attribute/statistics.h"
#include "core/encoding.h"
#include "core/canonical_json.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"
#include "ledger/entry.h"
#include "ledger/fsck.h"
#include "ledger/ledger.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "test_util.h"

namespace dg::attribute {
namespace {

constexpr double kPi = 3.14159265358979323846;

TEST(Statistics, SoftmaxAndJensenShannon) {
  auto p = Softmax({0.0, std::log(3.0)}, 1.0);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_NEAR(p[0], 0.25, 1e-15);
  EXPECT_NEAR(p[1], 0.75, 1e-15);
  p = Softmax({1000.0, 1000.0 + 2 * std::log(3.0)}, 2.0);  // stable for large logits; T softens
  EXPECT_NEAR(p[1], 0.75, 1e-12);
  EXPECT_TRUE(std::isnan(Softmax({1.0}, 0.0)[0]));
  EXPECT_EQ(JensenShannon({0.2, 0.8}, {0.2, 0.8}), 0.0);
  EXPECT_NEAR(JensenShannon({1, 0}, {0, 1}), 1.0, 1e-15);
  // M = (0.75, 0.25): ½·[½log2(⅔) + ½log2(2)] + ½·log2(4/3)
  const double expected = 0.5 * (0.5 * std::log2(0.5 / 0.75) + 0.5 * 1.0) + 0.5 * std::log2(1 / 0.75);
  EXPECT_NEAR(JensenShannon({0.5, 0.5}, {1, 0}), expected, 1e-15);
  EXPECT_NEAR(expected, 0.311278, 1e-6);
  EXPECT_TRUE(std::isnan(JensenShannon({1}, {0.5, 0.5})));
}

TEST(Statistics, IncompleteBetaClosedForms) {
  for (double x : {0.0, 1e-9, 0.1, 0.37, 0.5, 0.9, 1.0}) {
    EXPECT_NEAR(RegularizedIncompleteBeta(1, 1, x), x, 1e-13) << x;
    EXPECT_NEAR(RegularizedIncompleteBeta(3.5, 1, x), std::pow(x, 3.5), 1e-13) << x;
    EXPECT_NEAR(RegularizedIncompleteBeta(1, 7, x), 1 - std::pow(1 - x, 7), 1e-13) << x;
  }
  for (double a : {0.5, 2.0, 40.0}) EXPECT_NEAR(RegularizedIncompleteBeta(a, a, 0.5), 0.5, 1e-13) << a;
  EXPECT_NEAR(RegularizedIncompleteBeta(2500, 2500, 0.5), 0.5, 1e-10);  // lgamma of large arguments costs digits
  EXPECT_TRUE(std::isnan(RegularizedIncompleteBeta(0, 1, 0.5)));
  EXPECT_TRUE(std::isnan(RegularizedIncompleteBeta(1, 1, 1.5)));
}

TEST(Statistics, StudentTAgainstClosedFormsAndTables) {
  for (double t : {-30.0, -2.0, -0.3, 0.0, 0.7, 4.0, 100.0}) {
    EXPECT_NEAR(StudentTCdf(t, 1), 0.5 + std::atan(t) / kPi, 1e-13) << t;                  // Cauchy
    EXPECT_NEAR(StudentTCdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-13) << t;      // closed form
  }
  // Critical values as printed in every t table (3 decimals).
  EXPECT_NEAR(StudentTCdf(2.228, 10), 0.975, 1e-4);
  EXPECT_NEAR(StudentTCdf(2.015, 5), 0.95, 1e-4);
  EXPECT_NEAR(StudentTCdf(-2.750, 30), 0.005, 1e-4);
  EXPECT_NEAR(StudentTCdf(1.959964, 1e7), 0.975, 1e-6);  // the normal limit
  EXPECT_EQ(StudentTCdf(INFINITY, 3), 1.0);
  EXPECT_TRUE(std::isnan(StudentTCdf(1, 0)));
}

TEST(Statistics, BinomialTailIsExact) {
  // P(X >= 15), X ~ Bin(20, 1/2) = (C(20,15)+…+C(20,20)) / 2^20.
  EXPECT_NEAR(BinomialUpperTail(15, 20, 0.5), (15504 + 4845 + 1140 + 190 + 20 + 1) / 1048576.0, 1e-15);
  EXPECT_EQ(BinomialUpperTail(0, 5, 0.3), 1.0);
  EXPECT_EQ(BinomialUpperTail(6, 5, 0.3), 0.0);
  // Against a direct sum in log space, far into the tail.
  for (const auto& [k, n, p] : std::vector<std::tuple<uint64_t, uint64_t, double>>{{130, 1000, 0.1}, {60, 100, 0.5}, {3, 5000, 0.0001}}) {
    long double sum = 0;
    for (uint64_t i = k; i <= n; ++i) {
      sum += std::exp(std::lgamma(n + 1.0L) - std::lgamma(i + 1.0L) - std::lgamma(n - i + 1.0L) + i * std::log((long double)p) +
                      (n - i) * std::log1p(-(long double)p));
    }
    EXPECT_NEAR(BinomialUpperTail(k, n, p) / static_cast<double>(sum), 1.0, 1e-9) << k << "/" << n;
  }
}

TEST(Statistics, HolmStepDown) {
  const auto adj = HolmAdjust({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_DOUBLE_EQ(adj[3], 0.02);  // 4 × 0.005
  EXPECT_DOUBLE_EQ(adj[0], 0.03);  // 3 × 0.01
  EXPECT_DOUBLE_EQ(adj[2], 0.06);  // 2 × 0.03
  EXPECT_DOUBLE_EQ(adj[1], 0.06);  // max(0.06, 1 × 0.04): monotone
  EXPECT_DOUBLE_EQ(HolmAdjust({0.9, 0.8})[0], 1.0);
  const auto with_nan = HolmAdjust({NAN, 0.01});
  EXPECT_TRUE(std::isnan(with_nan[0]));
  EXPECT_DOUBLE_EQ(with_nan[1], 0.02);
}

TEST(Statistics, SignTestAndAuc) {
  std::vector<double> a(20, 0.1), b(20, 0.2);
  a[0] = 0.3, a[1] = 0.3, a[2] = 0.2;  // 17 wins, 2 losses, 1 tie
  EXPECT_NEAR(SignTestPValue(a, b), BinomialUpperTail(17, 19, 0.5), 1e-15);
  EXPECT_TRUE(std::isnan(SignTestPValue({1}, {1, 2})));
  EXPECT_DOUBLE_EQ(RocAuc({3, 4}, {1, 2}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc({1, 2}, {3, 4}), 0.0);
  EXPECT_DOUBLE_EQ(RocAuc({2}, {2}), 0.5);
  EXPECT_DOUBLE_EQ(RocAuc({1, 3}, {2}), 0.5);
}

TEST(Statistics, ThePredictionPValueIsUniformUnderItsNull) {
  // Draw k + 1 values from one normal; the p-value of the last against the
  // first k must be uniform. 4,000 trials; the bounds are 99.9 % binomial
  // intervals, so a correct implementation fails this about once in 500 seeds
  // (the seed is fixed).
  std::mt19937_64 rng(15);
  std::normal_distribution<double> draw(0.2, 0.03);
  for (size_t k : {2u, 5u, 20u}) {
    int below_05 = 0, below_50 = 0;
    const int trials = 4000;
    for (int t = 0; t < trials; ++t) {
      std::vector<double> null(k);
      for (double& v : null) v = draw(rng);
      const double p = PredictionPValueBelow(draw(rng), null);
      ASSERT_FALSE(std::isnan(p));
      below_05 += p <= 0.05;
      below_50 += p <= 0.5;
    }
    EXPECT_NEAR(below_05 / double(trials), 0.05, 0.0115) << "k=" << k;
    EXPECT_NEAR(below_50 / double(trials), 0.5, 0.026) << "k=" << k;
  }
  EXPECT_TRUE(std::isnan(PredictionPValueBelow(0.1, {0.2})));
  EXPECT_TRUE(std::isnan(PredictionPValueBelow(0.1, {0.2, 0.2})));
}

// A simulated zoo: every model has its own offset from a candidate (model
// variation) plus per-probe noise; a student of candidate c sits `gain`
// closer to c.
struct Zoo {
  std::mt19937_64 rng;
  size_t probes = 200;
  explicit Zoo(uint64_t seed) : rng(seed) {}
  std::vector<double> Model(double mean) {
    std::normal_distribution<double> offset(0, 0.01), noise(0, 0.05);
    const double m = mean + offset(rng);
    std::vector<double> d(probes);
    for (double& v : d) v = std::max(0.0, m + noise(rng));
    return d;
  }
  CandidateEvidence Candidate(const std::string& id, double suspect_mean, size_t refs) {
    CandidateEvidence c;
    c.id = id;
    c.suspect = Model(suspect_mean);
    for (size_t r = 0; r < refs; ++r) c.references.push_back(Model(0.3));
    return c;
  }
};

TEST(Attribution, AStudentIsAttributedToItsTeacherAndAControlIsNot) {
  Zoo zoo(1);
  auto a = Attribute({zoo.Candidate("t1", 0.3, 6), zoo.Candidate("t2", 0.22, 6), zoo.Candidate("t3", 0.3, 6)}, 0.05);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->identified, "t2") << ToJson(*a).dump(2);
  EXPECT_TRUE(a->candidates[1].significant);
  EXPECT_FALSE(a->candidates[0].significant);
  EXPECT_EQ(a->probes, 200u);
  EXPECT_EQ(a->references, 6u);
  EXPECT_EQ(ToJson(*a)["identified"], "t2");
  auto control = Attribute({zoo.Candidate("t1", 0.3, 6), zoo.Candidate("t2", 0.3, 6), zoo.Candidate("t3", 0.3, 6)}, 0.05);
  ASSERT_TRUE(control.ok());
  EXPECT_EQ(control->identified, "") << ToJson(*control).dump(2);
  EXPECT_TRUE(ToJson(*control)["identified"].is_null());
}

TEST(Attribution, ControlsAreIdentifiedAtMostAlphaOfTheTime) {
  // 400 independent controls against 4 candidates: the family-wise error is
  // at most alpha, so at most ~5 % name a teacher (99.9 % binomial bound).
  Zoo zoo(2);
  int named = 0;
  double p_sum = 0;
  const int trials = 400;
  for (int t = 0; t < trials; ++t) {
    std::vector<CandidateEvidence> cs;
    for (int c = 0; c < 4; ++c) cs.push_back(zoo.Candidate("t" + std::to_string(c), 0.3, 5));
    auto a = Attribute(cs, 0.05);
    ASSERT_TRUE(a.ok());
    named += !a->identified.empty();
    p_sum += a->candidates[0].p;
  }
  EXPECT_LE(named / double(trials), 0.05 + 0.036);
  EXPECT_NEAR(p_sum / trials, 0.5, 0.05) << "a control's p-values are not systematically small";
}

TEST(Attribution, SeveralCloseCandidatesNeedAPairedWin) {
  Zoo zoo(3);
  // Both far closer than references; the suspect is closer to t2 on most probes.
  CandidateEvidence t1 = zoo.Candidate("t1", 0.15, 6), t2 = zoo.Candidate("t2", 0.15, 6);
  for (size_t i = 0; i < t2.suspect.size(); ++i) t2.suspect[i] = t1.suspect[i] - 0.02;
  auto a = Attribute({t1, t2}, 0.05);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->candidates[0].significant && a->candidates[1].significant) << ToJson(*a).dump(2);
  EXPECT_EQ(a->identified, "t2");
  ASSERT_EQ(a->versus.size(), 1u);
  EXPECT_LT(a->versus[0].second, 1e-10);
  // Equally close on every probe: no single teacher.
  t2.suspect = t1.suspect;
  a = Attribute({t1, t2}, 0.05);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->identified, "");
  EXPECT_NE(a->reason.find("no single teacher"), std::string::npos) << a->reason;
}

TEST(Attribution, BadInputIsRefused) {
  Zoo zoo(4);
  auto one_ref = Attribute({zoo.Candidate("t1", 0.2, 1)}, 0.05);
  ASSERT_FALSE(one_ref.ok());
  EXPECT_EQ(one_ref.status().code(), Status::Code::kInvalidInput);
  EXPECT_NE(one_ref.status().message().find("at least 2 reference models"), std::string::npos);
  EXPECT_FALSE(Attribute({}, 0.05).ok());
  EXPECT_FALSE(Attribute({zoo.Candidate("t1", 0.2, 3)}, 0.0).ok());
  EXPECT_FALSE(Attribute({zoo.Candidate("t1", 0.2, 3)}, 1.0).ok());
  auto c = zoo.Candidate("t1", 0.2, 3);
  c.references[1].pop_back();
  EXPECT_FALSE(Attribute({c}, 0.05).ok());
  c = zoo.Candidate("t1", 0.2, 3);
  c.suspect[5] = NAN;
  EXPECT_FALSE(Attribute({c}, 0.05).ok());
  auto d = zoo.Candidate("t2", 0.2, 4);
  EXPECT_FALSE(Attribute({zoo.Candidate("t1", 0.2, 3), d}, 0.05).ok()) << "references differ between candidates";
}

TEST(Attribution, TheRelativeStatisticSeesAStudentThatIsFarFromEveryone) {
  // A student distilled at a high temperature is flatter than everyone: its
  // distances to every model are larger, its teacher's the least so.
  Zoo zoo(5);
  std::vector<CandidateEvidence> cs;
  for (int c = 0; c < 3; ++c) {
    CandidateEvidence e = zoo.Candidate("t" + std::to_string(c), c == 1 ? 0.38 : 0.45, 6);
    e.suspect_baseline.assign(e.suspect.size(), 0.45);  // its mean distance to the references
    for (size_t r = 0; r < e.references.size(); ++r) e.reference_baselines.push_back(std::vector<double>(e.suspect.size(), 0.3));
    cs.push_back(e);
  }
  auto absolute = cs;
  for (auto& e : absolute) {
    e.suspect_baseline.clear();
    e.reference_baselines.clear();
  }
  auto a = Attribute(absolute, 0.05);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->identified, "") << "absolutely, the student is farther from t1 than independent models are";
  a = Attribute(cs, 0.05);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->identified, "t1") << ToJson(*a).dump(2);
  cs[0].reference_baselines.pop_back();
  EXPECT_FALSE(Attribute(cs, 0.05).ok()) << "baselines must cover every reference";
}

// The regression statistic on a simulated zoo of embedded answers: every
// model is a shared consensus plus its own idiosyncrasy (and per-entry
// noise); a student takes part of its teacher's idiosyncrasy.
struct EmbeddedZoo {
  std::mt19937_64 rng;
  size_t length = 2000;
  std::vector<double> consensus;
  explicit EmbeddedZoo(uint64_t seed) : rng(seed), consensus(length) {
    std::normal_distribution<double> n(0, 1);
    for (double& v : consensus) v = n(rng);
  }
  std::vector<double> Model(const std::vector<double>* teacher = nullptr, double gain = 0) {
    std::normal_distribution<double> own(0, 0.3);
    std::vector<double> v(length);
    for (size_t t = 0; t < length; ++t) v[t] = consensus[t] + own(rng) + (teacher ? gain * ((*teacher)[t] - consensus[t]) : 0.0);
    return v;
  }
  RegressionEvidence Evidence(const std::vector<double>& suspect, const std::vector<std::vector<double>>& candidates, size_t refs) {
    RegressionEvidence e;
    e.suspect = suspect;
    e.candidates = candidates;
    for (size_t c = 0; c < candidates.size(); ++c) e.ids.push_back("t" + std::to_string(c));
    for (size_t r = 0; r < refs; ++r) e.references.push_back(Model());
    return e;
  }
};

TEST(Regression, AStudentIsAttributedToItsTeacherAndAControlIsNot) {
  EmbeddedZoo zoo(11);
  std::vector<std::vector<double>> teachers = {zoo.Model(), zoo.Model(), zoo.Model()};
  // A twin of t1: t2 shares most of t1's idiosyncrasy (same architecture, another seed).
  teachers.push_back(zoo.Model(&teachers[1], 0.7));
  auto a = AttributeByRegression(zoo.Evidence(zoo.Model(&teachers[1], 0.4), teachers, 6), 0.05);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->identified, "t1") << ToJson(*a).dump(2);
  EXPECT_GT(a->candidates[1].statistic, a->candidates[3].statistic) << "the twin explains less than the teacher itself";
  EXPECT_EQ(a->references, 6u);
  auto twin = AttributeByRegression(zoo.Evidence(zoo.Model(&teachers[3], 0.4), teachers, 6), 0.05);
  ASSERT_TRUE(twin.ok());
  EXPECT_EQ(twin->identified, "t3") << "the twin's own student is told from the teacher's: " << ToJson(*twin).dump(2);
  auto control = AttributeByRegression(zoo.Evidence(zoo.Model(), teachers, 6), 0.05);
  ASSERT_TRUE(control.ok());
  EXPECT_EQ(control->identified, "") << ToJson(*control).dump(2);
}

TEST(Regression, ControlsAreIdentifiedAtMostAlphaOfTheTimeAndTheirPValuesAreNotSmall) {
  EmbeddedZoo zoo(12);
  zoo.length = 500;
  zoo.consensus.resize(zoo.length);
  int named = 0, small = 0, ps = 0;
  const int trials = 300;
  for (int t = 0; t < trials; ++t) {
    std::vector<std::vector<double>> teachers = {zoo.Model(), zoo.Model(), zoo.Model(), zoo.Model()};
    auto a = AttributeByRegression(zoo.Evidence(zoo.Model(), teachers, 5), 0.05);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    named += !a->identified.empty();
    for (const auto& c : a->candidates) {
      small += c.p < 0.05;
      ++ps;
    }
  }
  EXPECT_LE(named / double(trials), 0.05 + 0.04);
  EXPECT_NEAR(small / double(ps), 0.05, 0.03) << "a control's p-values are uniform, not systematically small";
}

TEST(Regression, BadInputIsRefused) {
  EmbeddedZoo zoo(13);
  std::vector<std::vector<double>> teachers = {zoo.Model(), zoo.Model()};
  auto two_refs = AttributeByRegression(zoo.Evidence(zoo.Model(), teachers, 2), 0.05);
  ASSERT_FALSE(two_refs.ok());
  EXPECT_NE(two_refs.status().message().find("at least 3 reference models"), std::string::npos) << two_refs.status().message();
  auto same = teachers;
  same.push_back(teachers[0]);  // a candidate given twice cannot be told apart
  auto collinear = AttributeByRegression(zoo.Evidence(zoo.Model(), same, 4), 0.05);
  ASSERT_FALSE(collinear.ok());
  EXPECT_NE(collinear.status().message().find("cannot tell them apart"), std::string::npos) << collinear.status().message();
  auto e = zoo.Evidence(zoo.Model(), teachers, 4);
  e.references[2].pop_back();
  EXPECT_FALSE(AttributeByRegression(e, 0.05).ok());
  e = zoo.Evidence(zoo.Model(), teachers, 4);
  e.suspect[3] = NAN;
  EXPECT_FALSE(AttributeByRegression(e, 0.05).ok());
  EXPECT_FALSE(AttributeByRegression(zoo.Evidence(zoo.Model(), teachers, 4), 1.0).ok());
}

// ---- probes, answers, and the command against a zoo of endpoints ----

TEST(Probes, TheSeedFixesTheSetAndItsHash) {
  std::string corpus;
  for (int i = 0; i < 200; ++i) corpus += "line " + std::to_string(i) + " of the probe corpus\n";
  auto a = MakeProbes(corpus, ProbeKind::kData, 50, 16, 7);
  auto b = MakeProbes(corpus, ProbeKind::kData, 50, 16, 7);
  auto c = MakeProbes(corpus, ProbeKind::kData, 50, 16, 8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status().ToString();
  EXPECT_EQ(a->probes, b->probes);
  EXPECT_EQ(*a->Sha256(), *b->Sha256());
  EXPECT_NE(*a->Sha256(), *c->Sha256());
  for (const auto& p : a->probes) {
    EXPECT_EQ(p.size(), 16u);
    EXPECT_NE(corpus.find(p), std::string::npos) << "a data probe is a window of the corpus";
  }
  auto r = MakeProbes(corpus, ProbeKind::kRandom, 50, 16, 7);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(*r->Sha256(), *a->Sha256());
  for (const auto& p : r->probes) {
    for (char ch : p) EXPECT_NE(corpus.find(ch), std::string::npos);
  }
  // SplitMix64's published first outputs for seed 0 (Vigna's reference code).
  uint64_t state = 0;
  EXPECT_EQ(SplitMix64(&state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(SplitMix64(&state), 0x6E789E6AA1B965F4ull);
  EXPECT_FALSE(MakeProbes("short", ProbeKind::kData, 5, 16, 1).ok());
  EXPECT_FALSE(MakeProbes(corpus, ProbeKind::kData, 0, 16, 1).ok());
  auto bin = MakeProbes(std::string(100, 'a') + "\xC3\xA9" + std::string(100, 'b'), ProbeKind::kData, 5, 16, 1);
  ASSERT_FALSE(bin.ok());
  EXPECT_NE(bin.status().message().find("byte 100"), std::string::npos) << bin.status().message();
}

TEST(Probes, ImageProbesAreMixupsAndNoiseFixedByTheSeed) {
  std::string pixels(3 * 784, '\0');
  for (size_t i = 0; i < 784; ++i) {
    pixels[i] = 0;                                   // image 0: black
    pixels[784 + i] = static_cast<char>(200);        // image 1: grey 200
    pixels[2 * 784 + i] = static_cast<char>(i % 256);  // image 2: a ramp
  }
  auto a = MakeImageProbes(pixels, ProbeKind::kData, 50, 9);
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto b = MakeImageProbes(pixels, ProbeKind::kData, 50, 9);
  EXPECT_EQ(*a->Sha256(), *b->Sha256());
  EXPECT_NE(*a->Sha256(), *MakeImageProbes(pixels, ProbeKind::kData, 50, 10)->Sha256());
  EXPECT_EQ(a->ToJson()["modality"], "image");
  bool mixed = false;
  for (const auto& p : a->probes) {
    auto bytes = Base64Decode(p);
    ASSERT_TRUE(bytes && bytes->size() == 784u);
    // A mixup of black and grey 200 with lambda in [0.25, 0.75] is uniform in [50, 150].
    const unsigned char v = static_cast<unsigned char>((*bytes)[0]), w = static_cast<unsigned char>((*bytes)[1]);
    if (v == w && v >= 50 && v <= 150) mixed = true;
  }
  EXPECT_TRUE(mixed) << "some probe mixes image 0 and image 1";
  auto noise = MakeImageProbes(pixels, ProbeKind::kRandom, 5, 9);
  ASSERT_TRUE(noise.ok());
  std::set<char> seen;
  const std::optional<std::string> first_noise = Base64Decode(noise->probes[0]);
  ASSERT_TRUE(first_noise.has_value());
  for (char c : *first_noise) seen.insert(c);
  EXPECT_GT(seen.size(), 150u) << "uniform pixels";
  EXPECT_FALSE(MakeImageProbes(std::string(784, 'x'), ProbeKind::kData, 5, 1).ok()) << "one image cannot be mixed";
  EXPECT_FALSE(MakeImageProbes(std::string(1000, 'x'), ProbeKind::kData, 5, 1).ok()) << "not whole images";
  // A text probe set's JSON has no modality member (its hash is unchanged by image support).
  EXPECT_FALSE(MakeProbes(std::string(100, 'a'), ProbeKind::kData, 3, 5, 1)->ToJson().contains("modality"));
  // A classifier's probabilities become answers: the top class and its distribution.
  auto answers = AnswersFromProbabilities({{"probabilities", {{0.1, 0.7, 0.2}, {0.5, 0.25, 0.25}}}}, 2);
  ASSERT_TRUE(answers.ok());
  EXPECT_EQ((*answers)[0].text, "1");
  EXPECT_EQ((*answers)[1].text, "0");
  EXPECT_DOUBLE_EQ((*answers)[0].positions[0].at("2"), 0.2);
  EXPECT_FALSE(AnswersFromProbabilities({{"probabilities", {{0.1, 0.9}}}}, 2).ok()) << "one row per probe";
  EXPECT_FALSE(AnswersFromProbabilities({{"probabilities", {{0.1, 1.9}}}}, 1).ok()) << "probabilities";
}

TEST(Probes, AnswerDistanceIsThePrefixShared) {
  EXPECT_DOUBLE_EQ(AnswerDistance("abcd", "abcd", 8), 0.0);
  EXPECT_DOUBLE_EQ(AnswerDistance("abcd", "abxx", 8), 0.5);
  EXPECT_DOUBLE_EQ(AnswerDistance("abcd", "xbcd", 8), 1.0);  // a prefix, not a bag of letters
  EXPECT_DOUBLE_EQ(AnswerDistance("ab", "abcd", 8), 0.5);
  EXPECT_DOUBLE_EQ(AnswerDistance("abcdef", "abcxyz", 3), 0.0);  // only the first max_bytes count
  EXPECT_DOUBLE_EQ(AnswerDistance("", "", 8), 0.0);
  EXPECT_DOUBLE_EQ(AnswerDistance("a", "", 8), 1.0);
  auto m = ParseModelRef("teacher-a=http://127.0.0.1:9/v1#model-a", true, "--teacher");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->id, "teacher-a");
  EXPECT_EQ(m->base_url, "http://127.0.0.1:9");
  EXPECT_EQ(m->model, "model-a");
  EXPECT_FALSE(ParseModelRef("http://127.0.0.1:9/v1", false, "--suspect").ok()) << "no #model";
  auto file = ParseModelRef("student.pt", false, "--suspect");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("serve-teacher"), std::string::npos);
  EXPECT_FALSE(ParseModelRef("http://x/v1#m", true, "--teacher").ok()) << "no ID=";
}

class EndpointZoo : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(FileExists("/usr/bin/python3")) << "python3 is needed for the loopback zoo (scripts/setup.sh installs it)";
    std::string corpus;
    for (int i = 0; i < 400; ++i) corpus += "the quick brown fox " + std::to_string(i * 7919 % 1000) + " jumps over the lazy dog\n";
    testing::WriteAll(dir_.File("probes.txt"), corpus);
  }
  void TearDown() override {
    if (server_.pid > 0) {
      ::kill(server_.pid, SIGKILL);
      ::waitpid(server_.pid, nullptr, 0);
      ::close(server_.out);
    }
  }
  void Start(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {"/usr/bin/python3", std::string(DG_SOURCE_DIR) + "/tests/tools/fake_zoo_server.py"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    server_ = testing::Spawn(argv, false, false);
    std::string port;
    char c;
    while (::read(server_.out, &c, 1) == 1 && c != '\n') port.push_back(c);
    ASSERT_FALSE(port.empty()) << "the zoo server did not start";
    url_ = "http://127.0.0.1:" + port + "/v1#";
  }
  std::vector<std::string> Args(const std::string& suspect, int references = 4) {
    std::vector<std::string> a = {"attribute", "--suspect", url_ + suspect, "--probe-data", dir_.File("probes.txt"),
                                  "--probes", "100", "--seed", "3", "--json"};
    for (const char* t : {"teacher-a", "teacher-b", "teacher-c"}) {
      a.push_back("--teacher");
      a.push_back(std::string(t) + "=" + url_ + t);
    }
    for (int r = 1; r <= references; ++r) {
      a.push_back("--reference");
      a.push_back(url_ + "ref-" + std::to_string(r));
    }
    return a;
  }
  std::vector<std::string> Models() {
    return {"--model", "teacher-a", "--model", "teacher-b", "--model", "teacher-c", "--model", "ref-1", "--model", "ref-2",
            "--model", "ref-3", "--model", "ref-4", "--model", "control", "--student", "student-b=teacher-b:0.5"};
  }
  testing::TempDir dir_;
  testing::Child server_;
  std::string url_;
};

TEST_F(EndpointZoo, AStudentIsAttributedAndAControlIsNot) {
  Start(Models());
  auto r = testing::RunCli(Args("student-b"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["identified"], "teacher-b") << j.dump(2);
  EXPECT_EQ(j["probe_set"]["count"], 100);
  EXPECT_EQ(j["probe_set"]["kind"], "data");
  EXPECT_EQ(j["random_baseline"]["probe_set"]["kind"], "random");
  EXPECT_EQ(j["queries"], 8 * 200);
  EXPECT_EQ(j["probe_set"]["sha256"].get<std::string>().size(), 64u);
  // The same seed, the same probe set: a third party can re-run it.
  auto again = testing::RunCli(Args("student-b"));
  EXPECT_EQ(nlohmann::json::parse(again.out)["probe_set"]["sha256"], j["probe_set"]["sha256"]);

  r = testing::RunCli(Args("control"));
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["identified"].is_null()) << j.dump(2);
  for (const auto& c : j["candidates"]) EXPECT_GT(c["p_holm"].get<double>(), 0.05) << j.dump(2);
  // Human-readable output says what a result does not prove.
  auto text = testing::RunCli({"attribute", "--suspect", url_ + "student-b", "--probe-data", dir_.File("probes.txt"), "--probes", "60",
                               "--teacher", "b=" + url_ + "teacher-b", "--reference", url_ + "ref-1", "--reference", url_ + "ref-2",
                               "--reference", url_ + "ref-3"});
  EXPECT_NE(text.out.find("random probes (baseline, not the test)"), std::string::npos) << text.out << text.err;
  EXPECT_NE(text.out.find("not of a breach of terms"), std::string::npos);
}

TEST_F(EndpointZoo, BadInputAndDeadEndpointsAreClear) {
  Start(Models());
  auto one_ref = testing::RunCli(Args("student-b", 1));
  EXPECT_EQ(one_ref.exit_code, 2) << one_ref.err;
  EXPECT_NE(one_ref.err.find("at least 2 independent reference models"), std::string::npos) << one_ref.err;
  auto file = Args("student-b");
  file[2] = dir_.File("student.pt");
  auto r = testing::RunCli(file);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("neither an endpoint URL#model nor an existing model file"), std::string::npos) << r.err;
  auto twice = testing::RunCli(Args("teacher-b"));  // the suspect is also a candidate
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
  EXPECT_NE(twice.err.find("must be distinct models"), std::string::npos) << twice.err;
  auto missing = Args("student-b");
  missing[4] = dir_.File("no-such.txt");
  EXPECT_EQ(testing::RunCli(missing).exit_code, 2);
  auto unknown = Args("nobody");  // the endpoint has no such model: 404
  r = testing::RunCli(unknown);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("suspect"), std::string::npos) << r.err;
  auto unreachable = Args("student-b");
  unreachable[2] = "http://127.0.0.1:1/v1#student-b";
  unreachable.insert(unreachable.end(), {"--timeout", "2"});
  r = testing::RunCli(unreachable);
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

TEST_F(EndpointZoo, ReportedDistributionsAreComparedWhereTheContextsAgree) {
  std::vector<std::string> flags = Models();
  flags.insert(flags.end(), {"--no-logprobs", "ref-4"});
  Start(flags);
  auto with = [this](const std::string& suspect, int refs) {
    auto a = Args(suspect, refs);
    a.insert(a.end(), {"--distance", "jsd"});
    return testing::RunCli(a);
  };
  auto r = with("student-b", 3);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["identified"], "teacher-b");
  EXPECT_EQ(j["distance"], "jsd");
  r = with("control", 3);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  // An endpoint that reports no distributions cannot be compared so.
  r = with("student-b", 4);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("no logprobs"), std::string::npos) << r.err;
  Answer x{"ab", {{{"a", 0.5}, {"b", 0.5}, {"", 0.0}}, {{"b", 1.0}, {"", 0.0}}}};
  Answer y{"ab", {{{"a", 0.5}, {"b", 0.5}, {"", 0.0}}, {{"c", 1.0}, {"", 0.0}}}};
  EXPECT_DOUBLE_EQ(NextTokenDistance(x, y), 0.5);  // position 0 equal, position 1 disjoint
  y.text = "xb";
  EXPECT_DOUBLE_EQ(NextTokenDistance(x, y), 0.0);  // the texts part after position 0: only it is compared
  EXPECT_TRUE(std::isnan(NextTokenDistance(x, Answer{"ab", {}})));
  // Softening at T = 2: (0.9, 0.1) and (0.1, 0.9) become (0.75, 0.25) and (0.25, 0.75), closer.
  Answer s1{"a", {{{"a", 0.9}, {"b", 0.1}}}}, s2{"a", {{{"a", 0.1}, {"b", 0.9}}}};
  EXPECT_NEAR(NextTokenDistance(s1, s2, 2.0), JensenShannon({0.75, 0.25}, {0.25, 0.75}), 1e-12);
  EXPECT_LT(NextTokenDistance(s1, s2, 2.0), NextTokenDistance(s1, s2, 1.0));
}

// `--positions probe`: every model scores the probe itself (legacy
// completions with echo and logprobs), the same contexts for all; an
// endpoint that cannot score a prompt, or whose tokens are not bytes, fails.
TEST_F(EndpointZoo, ProbesScoredTeacherForcedAttributeTheStudentAndNotTheControl) {
  std::vector<std::string> flags = Models();
  flags.insert(flags.end(), {"--model", "mute", "--no-echo", "mute", "--model", "wide", "--wide-tokens", "wide", "--model", "bos", "--bos",
                             "bos", "--model", "other", "--bad-echo", "other"});
  Start(flags);
  auto scored = [this](const std::string& suspect, const std::string& statistic) {
    auto a = Args(suspect);
    a.insert(a.end(), {"--distance", "jsd", "--positions", "probe", "--statistic", statistic, "--probe-length", "12"});
    return testing::RunCli(a);
  };
  for (const char* statistic : {"relative", "regression"}) {
    auto r = scored("student-b", statistic);
    ASSERT_EQ(r.exit_code, 0) << statistic << r.out << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["identified"], "teacher-b") << j.dump(2);
    EXPECT_EQ(j["positions"], "probe");
    EXPECT_EQ(j["queries"], 8 * 200);
    r = scored("control", statistic);
    EXPECT_EQ(r.exit_code, 1) << statistic << r.out << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j["identified"].is_null()) << j.dump(2);
  }
  auto r = scored("mute", "relative");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("no echoed logprobs"), std::string::npos) << r.err;
  r = scored("wide", "relative");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("not single bytes"), std::string::npos) << r.err;
  // A token of the endpoint's own before the probe shifts every context: refused, saying so.
  r = scored("bos", "relative");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("token 0 is \"<s>\", not the probe's byte 0"), std::string::npos) << r.err;
  // An endpoint that scored another text than the probe sent.
  r = scored("other", "relative");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("does not begin with the probe"), std::string::npos) << r.err;
  // Nothing is generated in probe mode: an answer length is refused, not ignored.
  auto bytes = Args("student-b");
  bytes.insert(bytes.end(), {"--distance", "jsd", "--positions", "probe", "--answer-bytes", "4"});
  r = testing::RunCli(bytes);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("nothing is generated"), std::string::npos) << r.err;
  // Without distributions there is nothing to score with.
  auto prefix = Args("student-b");
  prefix.insert(prefix.end(), {"--positions", "probe"});
  r = testing::RunCli(prefix);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--distance jsd"), std::string::npos) << r.err;
  // A one-byte probe has no scored byte.
  auto one = Args("student-b");
  one.insert(one.end(), {"--distance", "jsd", "--positions", "probe", "--probe-length", "1"});
  r = testing::RunCli(one);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("at least 2 bytes"), std::string::npos) << r.err;
}

// Issue 15, recorded runs: `attribute --ledger` pre-registers the plan and
// records every query; `attribute verify` re-checks it offline.
class RecordedZoo : public EndpointZoo {
 protected:
  void SetUp() override {
    EndpointZoo::SetUp();
    ASSERT_EQ(testing::RunCli({"keys", "generate", "--out", dir_.File("keys")}).exit_code, 0);
    ASSERT_EQ(testing::RunCli({"ledger", "init", "--ledger", Ledger(), "--key", Key(), "--origin", "accuser.example/ledger"}).exit_code, 0);
  }
  std::string Ledger() const { return dir_.File("l.db"); }
  std::string Key() const { return dir_.File("keys/ledger.key"); }
  std::string Pub() const { return dir_.File("keys/ledger.pub"); }
  std::vector<std::string> Recorded(const std::string& suspect) {
    auto a = Args(suspect);
    a.insert(a.end(), {"--ledger", Ledger(), "--key", Key()});
    return a;
  }
  // One definition of schemas/attribution.schema.json as a schema of its
  // own (with the definitions it refers to).
  std::shared_ptr<const JsonSchema> Definition(const std::string& name) {
    nlohmann::json whole = nlohmann::json::parse(testing::ReadAll(std::string(DG_SOURCE_DIR) + "/schemas/attribution.schema.json"));
    nlohmann::json part = whole["definitions"][name];
    part["$schema"] = whole["$schema"];
    part["definitions"] = whole["definitions"];
    testing::WriteAll(dir_.File(name + ".schema.json"), part.dump());
    auto s = JsonSchema::FromFile(dir_.File(name + ".schema.json"));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? *s : nullptr;
  }
};

TEST_F(RecordedZoo, TheProbesArePreRegisteredEveryQueryIsRecordedAndTheRunVerifiesOffline) {
  Start(Models());
  auto r = testing::RunCli(Recorded("student-b"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["identified"], "teacher-b");
  auto outcome_schema = JsonSchema::FromFile(std::string(DG_SOURCE_DIR) + "/schemas/attribution.schema.json");
  ASSERT_TRUE(outcome_schema.ok()) << outcome_schema.status().message();
  EXPECT_TRUE((*outcome_schema)->Validate(j, "attribute --json").ok()) << (*outcome_schema)->Validate(j, "attribute --json").message();
  const std::string run = j["run"];
  EXPECT_EQ(testing::RunCli({"ledger", "verify", "--ledger", Ledger(), "--pubkey", Pub()}).exit_code, 0);

  // The ledger: the plan (with both probe hashes) first, then run_start, then the queries.
  auto ledger = dg::Ledger::Open(Ledger(), dg::Ledger::Mode::kReadOnly);
  ASSERT_TRUE(ledger.ok());
  auto plan_schema = Definition("plan");
  auto call_schema = Definition("call");
  ASSERT_TRUE(plan_schema && call_schema);
  auto size = (*ledger)->Size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 3u + 8 * 200);  // decision, run_start, 1600 calls, run_end
  std::vector<nlohmann::json> bodies;
  for (uint64_t i = 0; i < *size; ++i) {
    auto leaf = (*ledger)->GetLeaf(i);
    ASSERT_TRUE(leaf.ok());
    nlohmann::json doc = nlohmann::json::parse(leaf->data);
    bodies.push_back(doc["body"]);
    const std::string want = i == 0 ? "decision" : i == 1 ? "run_start" : i + 1 == *size ? "run_end" : "teacher_call";
    ASSERT_EQ(doc["kind"], want) << "entry " << i;
    if (want == "teacher_call") {
      Status st = call_schema->Validate(doc["body"], "entry " + std::to_string(i));
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_EQ(doc["body"]["sequence"], i - 2);
    }
  }
  EXPECT_EQ(bodies[0]["kind"], "attribution");
  Status plan_ok = plan_schema->Validate(bodies[0]["plan"], "the plan");
  EXPECT_TRUE(plan_ok.ok()) << plan_ok.message();
  EXPECT_EQ(bodies[0]["plan"]["probe_sets"][0]["sha256"], j["probe_set"]["sha256"]);
  EXPECT_EQ(bodies[0]["plan"]["probe_sets"][1]["sha256"], j["random_baseline"]["probe_set"]["sha256"]);
  EXPECT_EQ(bodies[1]["mode"], "attribution");
  EXPECT_EQ(bodies[1]["job_sha256"], bodies[0]["inputs"]["job_sha256"]);
  EXPECT_EQ(bodies.back()["status"], "completed");
  EXPECT_EQ(bodies.back()["teacher_calls"], 1600);
  EXPECT_EQ(bodies.back()["attribution"]["identified"], "teacher-b");
  ledger->reset();

  // The offline re-check, with and without the corpus; another corpus is not the probes' source.
  auto v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub(), "--probe-data", dir_.File("probes.txt"), "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  nlohmann::json checks = nlohmann::json::parse(v.out);
  EXPECT_TRUE(checks["verified"].get<bool>());
  std::set<std::string> names;
  for (const auto& c : checks["checks"]) {
    EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();
    names.insert(c["name"].get<std::string>());
  }
  for (const char* n : {"ledger", "plan", "run-end", "calls", "pre-registered", "complete", "probes", "outcome", "probes-drawn"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  EXPECT_EQ(checks["recomputed"]["identified"], "teacher-b");
  testing::WriteAll(dir_.File("other.txt"), std::string(4000, 'x') + "\n");
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub(), "--probe-data", dir_.File("other.txt")});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("FAIL  probes-drawn"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("FAILED"), std::string::npos) << v.out;
  // A second attribution of the same suspect is listed beside either.
  ASSERT_EQ(testing::RunCli(Recorded("student-b")).exit_code, 0);
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub()});
  EXPECT_NE(v.out.find("1 other attribution run(s) of the same suspect"), std::string::npos) << v.out;
  // Asked again, the endpoints give the recorded answers; a model that now answers otherwise does not.
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub(), "--requery", "suspect", "--requery",
                       "teacher-b", "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  checks = nlohmann::json::parse(v.out);
  bool asked = false;
  for (const auto& c : checks["checks"]) {
    if (c["name"] == "requery:suspect") {
      asked = true;
      EXPECT_NE(c["detail"].get<std::string>().find("200 of 200"), std::string::npos) << c.dump();
    }
  }
  EXPECT_TRUE(asked) << checks.dump(2);
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub(), "--requery", "suspect=" + url_ + "control"});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("FAIL  requery:suspect"), std::string::npos) << v.out;
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub(), "--requery", "nobody"});
  EXPECT_EQ(v.exit_code, 2) << v.out << v.err;
  // Asking one model again says nothing of the others: they stay "not checked".
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub(), "--requery", "teacher-b"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("not checked: that suspect, teacher-a, teacher-c, reference-1"), std::string::npos) << v.out;
  // Another key is not the ledger's.
  ASSERT_EQ(testing::RunCli({"keys", "generate", "--out", dir_.File("other-keys")}).exit_code, 0);
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", dir_.File("other-keys/ledger.pub")});
  EXPECT_NE(v.exit_code, 0) << v.out;

  // The report shows the plan, the outcome and the null beside the suspect.
  auto rep = testing::RunCli({"report", "--ledger", Ledger(), "--run", run, "--out", dir_.File("rep"), "--format", "json,html,md"});
  ASSERT_EQ(rep.exit_code, 0) << rep.out << rep.err;
  nlohmann::json report = nlohmann::json::parse(testing::ReadAll(dir_.File("rep/report.json")));
  EXPECT_EQ(report["attribution"]["outcome"]["identified"], "teacher-b");
  EXPECT_FALSE(report.contains("training"));
  const std::string html = testing::ReadAll(dir_.File("rep/report.html"));
  EXPECT_NE(html.find("<h2>Attribution</h2>"), std::string::npos);
  EXPECT_NE(html.find("class=\"suspect\""), std::string::npos);
  EXPECT_NE(testing::ReadAll(dir_.File("rep/report.md")).find("Identified: teacher-b"), std::string::npos);
}

TEST_F(RecordedZoo, AFailedEndpointClosesTheRunAsFailedAndBadInputWritesNothing) {
  Start(Models());
  auto missing_key = Args("student-b");
  missing_key.insert(missing_key.end(), {"--ledger", Ledger()});
  auto r = testing::RunCli(missing_key);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  auto one_ref = Args("student-b", 1);
  one_ref.insert(one_ref.end(), {"--ledger", Ledger(), "--key", Key()});
  r = testing::RunCli(one_ref);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  auto empty = dg::Ledger::Open(Ledger(), dg::Ledger::Mode::kReadOnly);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*(*empty)->Size(), 0u) << "bad input writes nothing";
  empty->reset();

  r = testing::RunCli(Recorded("nobody"));  // the suspect's endpoint has no such model
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_EQ(testing::RunCli({"ledger", "verify", "--ledger", Ledger(), "--pubkey", Pub()}).exit_code, 0);
  auto ledger = dg::Ledger::Open(Ledger(), dg::Ledger::Mode::kReadOnly);
  ASSERT_TRUE(ledger.ok());
  auto size = (*ledger)->Size();
  ASSERT_TRUE(size.ok());
  auto last = (*ledger)->GetLeaf(*size - 1);
  ASSERT_TRUE(last.ok());
  nlohmann::json end = nlohmann::json::parse(last->data);
  EXPECT_EQ(end["kind"], "run_end");
  EXPECT_EQ(end["body"]["status"], "failed");
  EXPECT_NE(end["body"]["error"].get<std::string>().find("suspect"), std::string::npos) << end.dump();
  const std::string run = end["body"]["run"];
  ledger->reset();
  auto v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", run, "--pubkey", Pub()});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("FAIL  run-end"), std::string::npos) << v.out;
  // A distillation decision is not an attribution: a clear error, not a pass.
  auto check = testing::RunCli({"check", "--job", std::string(DG_SOURCE_DIR) + "/tests/scenarios/02-deepseek-r1-mit/job.json", "--ledger", Ledger(),
                                "--key", Key()});
  ASSERT_NE(check.exit_code, 2) << check.err;
  v = testing::RunCli({"attribute", "verify", "--ledger", Ledger(), "--run", std::to_string(*size), "--pubkey", Pub()});
  EXPECT_EQ(v.exit_code, 2) << v.out << v.err;
  EXPECT_NE(v.err.find("not an attribution"), std::string::npos) << v.err;
}

// The recheck catches a record its key holder forged: each forgery below is
// re-signed with the ledger's key (the accuser holds it), so the ledger
// itself verifies; the calls' root in run_end is fixed up too, so only the
// check under test can catch it.
class ForgedAttribution : public EndpointZoo {
 protected:
  void SetUp() override {
    EndpointZoo::SetUp();
    auto k = PrivateKey::Generate();
    ASSERT_TRUE(k.ok());
    key_ = std::make_unique<PrivateKey>(std::move(*k));
  }
  // Runs a recorded attribution of student-b into l.db; returns its run id.
  std::string RecordOne(const std::string& distance = "prefix") {
    EXPECT_TRUE(dg::Ledger::Init(dir_.File("l.db"), *key_, "accuser.example/ledger").ok());
    auto ledger = dg::Ledger::Open(dir_.File("l.db"), dg::Ledger::Mode::kReadWrite);
    EXPECT_TRUE(ledger.ok());
    auto corpus = ReadFile(dir_.File("probes.txt"));
    Plan plan;
    auto ref = [this](const std::string& id, const std::string& model) {
      return *ParseModelRef(id + "=" + url_ + model, true, "test");
    };
    plan.suspect = ref("suspect", "student-b");
    plan.candidates = {ref("teacher-a", "teacher-a"), ref("teacher-b", "teacher-b")};
    plan.references = {ref("reference-1", "ref-1"), ref("reference-2", "ref-2"), ref("reference-3", "ref-3")};
    plan.probe_length = 32;
    plan.test = *MakeProbes(*corpus, ProbeKind::kData, 60, 32, 5);
    plan.baseline = *MakeProbes(*corpus, ProbeKind::kRandom, 60, 32, 5);
    plan.options.distance = distance;
    auto out = RunRecordedAttribution(plan, QueryOptions{}, **ledger, *key_);
    EXPECT_TRUE(out.ok()) << out.status().message();
    if (!out.ok()) return "";
    EXPECT_EQ(out->test.result.identified, "teacher-b");
    return out->run_id;
  }
  // Copies l.db to `name`, passing each entry's body through `edit`
  // (which may return false to drop it), and re-signs.
  std::string Forge(const std::string& name, const std::function<bool(const std::string& kind, nlohmann::json& body)>& edit) {
    auto from = dg::Ledger::Open(dir_.File("l.db"), dg::Ledger::Mode::kReadOnly);
    EXPECT_TRUE(dg::Ledger::Init(dir_.File(name), *key_, "accuser.example/ledger").ok());
    auto to = dg::Ledger::Open(dir_.File(name), dg::Ledger::Mode::kReadWrite);
    EXPECT_TRUE(from.ok() && to.ok());
    std::vector<LedgerEntry> entries;
    CompactRange calls, others;  // the run's teacher calls; its other entries before run_end
    const uint64_t n = *(*from)->Size();
    for (uint64_t i = 0; i < n; ++i) {
      nlohmann::json doc = nlohmann::json::parse((*(*from)->GetLeaf(i)).data);
      const std::string kind = doc["kind"];
      nlohmann::json body = doc["body"];
      if (!edit(kind, body)) continue;
      if (kind == "run_end") {
        body["teacher_calls"] = calls.size();
        body["teacher_calls_root"] = Base64Encode(calls.Root());
        body["entries"] = {{"count", others.size()}, {"root", Base64Encode(others.Root())}};
      }
      auto e = LedgerEntry::Make(kind, body);
      EXPECT_TRUE(e.ok());
      if (kind == "teacher_call") calls.Append(e->leaf_hash(), nullptr);
      else if (kind != "run_end" && body.contains("run")) others.Append(e->leaf_hash(), nullptr);
      entries.push_back(*e);
    }
    EXPECT_TRUE((*to)->Append(entries, *key_).ok());
    return dir_.File(name);
  }
  // l.db re-planned consistently as `name`: the plan (entry 0) passed
  // through `edit`, its hash, the run id and every entry naming them, and
  // each entry's body through `also`. Returns {path, the forged run id}.
  std::pair<std::string, std::string> Replan(const std::string& name, const std::function<void(nlohmann::json&)>& edit,
                                             const std::function<void(const std::string&, nlohmann::json&)>& also = nullptr) {
    auto l = dg::Ledger::Open(dir_.File("l.db"), dg::Ledger::Mode::kReadOnly);
    nlohmann::json plan = nlohmann::json::parse((*(*l)->GetLeaf(0)).data)["body"]["plan"];
    l->reset();
    edit(plan);
    const std::string sha = HexEncode(Sha256(*Canonicalize(plan)));
    const std::string new_run = sha.substr(0, 16) + "-0";
    const std::string path = Forge(name, [&](const std::string& kind, nlohmann::json& b) {
      if (kind == "decision") {
        b["plan"] = plan;
        b["inputs"]["job_sha256"] = sha;
      }
      if (b.contains("run")) b["run"] = new_run;
      if (kind == "run_start") b["job_sha256"] = b["plan_sha256"] = sha;
      if (also) also(kind, b);
      return true;
    });
    return {path, new_run};
  }
  // The names of the failed checks of a forged ledger's recheck.
  std::set<std::string> Failed(const std::string& path, const std::string& run) {
    auto ledger = dg::Ledger::Open(path, dg::Ledger::Mode::kReadOnly);
    EXPECT_TRUE(ledger.ok());
    auto fsck = Fsck(**ledger, *NoteVerifier::Make("accuser.example/ledger", key_->public_key()), FsckOptions{});
    EXPECT_TRUE(fsck.ok() && fsck->problem_count == 0) << "the forged ledger itself verifies";
    auto corpus = LoadProbeCorpus(dir_.File("probes.txt"));
    RecheckOptions options;
    options.corpus = &*corpus;
    auto r = RecheckAttribution(**ledger, run, options);
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::set<std::string> failed;
    if (r.ok()) {
      for (const auto& c : r->checks) {
        if (!c.ok) failed.insert(c.name);
      }
    }
    return failed;
  }
  std::unique_ptr<PrivateKey> key_;
};

TEST_F(ForgedAttribution, EachForgeryFailsTheCheckThatCoversIt) {
  Start(Models());
  const std::string run = RecordOne();
  ASSERT_FALSE(run.empty());
  EXPECT_EQ(Failed(dir_.File("l.db"), run), std::set<std::string>{}) << "the genuine record re-checks";
  EXPECT_EQ(Failed(Forge("same.db", [](const std::string&, nlohmann::json&) { return true; }), run), std::set<std::string>{});

  // The suspect's answers made the teacher's on data probes: the outcome recorded no longer follows.
  std::map<uint64_t, nlohmann::json> teacher_b;
  {
    auto l = dg::Ledger::Open(dir_.File("l.db"), dg::Ledger::Mode::kReadOnly);
    for (uint64_t i = 0; i < *(*l)->Size(); ++i) {
      nlohmann::json doc = nlohmann::json::parse((*(*l)->GetLeaf(i)).data);
      if (doc["kind"] == "teacher_call" && doc["body"]["teacher"] == "teacher-b" && doc["body"]["probe_set"] == "data") {
        teacher_b[doc["body"]["probe"].get<uint64_t>()] = doc["body"]["answer"];
      }
    }
  }
  ASSERT_EQ(teacher_b.size(), 60u);
  auto copied = Forge("answers.db", [&](const std::string& kind, nlohmann::json& b) {
    if (kind == "teacher_call" && b["teacher"] == "suspect" && b["probe_set"] == "data" && b["probe"].get<uint64_t>() < 20) {
      b["answer"] = teacher_b[b["probe"].get<uint64_t>()];
    }
    return true;
  });
  EXPECT_EQ(Failed(copied, run), std::set<std::string>{"outcome"});

  // Another verdict written into run_end.
  auto verdict = Forge("verdict.db", [](const std::string& kind, nlohmann::json& b) {
    if (kind == "run_end") b["attribution"]["identified"] = "teacher-a";
    return true;
  });
  EXPECT_EQ(Failed(verdict, run), std::set<std::string>{"outcome"});

  // Probes swapped after the fact, for every model alike: not the pre-registered set, nor the seed's draws.
  auto swapped = Forge("swapped.db", [](const std::string& kind, nlohmann::json& b) {
    if (kind == "teacher_call" && b["probe_set"] == "data" && b["probe"] == 3) b["prompt"] = "a probe chosen after the fact";
    return true;
  });
  EXPECT_EQ(Failed(swapped, run), (std::set<std::string>{"probes"}));

  // A reference's unhelpful answer left out.
  auto dropped = Forge("dropped.db", [](const std::string& kind, nlohmann::json& b) {
    return !(kind == "teacher_call" && b["teacher"] == "reference-2" && b["probe_set"] == "data" && b["probe"] == 7);
  });
  EXPECT_EQ(Failed(dropped, run), std::set<std::string>{"complete"});

  // A genuine identification hidden: the outcome check fails (not an error).
  auto hidden = Forge("hidden.db", [](const std::string& kind, nlohmann::json& b) {
    if (kind == "run_end") b["attribution"]["identified"] = nullptr;
    return true;
  });
  EXPECT_EQ(Failed(hidden, run), std::set<std::string>{"outcome"});

  // A member of another type than distillgate writes: a failed check, not a crash.
  auto typed = Forge("typed.db", [](const std::string& kind, nlohmann::json& b) {
    if (kind == "teacher_call" && b["sequence"] == 5) b["teacher"] = 7;
    return true;
  });
  EXPECT_FALSE(Failed(typed, run).empty());
}

// A plan the recheck would not have made — an id given twice, a level of
// 0.9 — is refused, consistently forged or not, and never indexes past its models.
TEST_F(ForgedAttribution, APlanDistillgateWouldNotMakeFailsTheRecheck) {
  Start(Models());
  const std::string run = RecordOne();
  ASSERT_FALSE(run.empty());
  for (const auto& edit : std::vector<std::function<void(nlohmann::json&)>>{
           [](nlohmann::json& plan) { plan["references"][1]["id"] = "suspect"; },
           [](nlohmann::json& plan) { plan["options"]["alpha"] = 0.9; },
           // The default written out: a second serialisation, a second hash, of one plan.
           [](nlohmann::json& plan) { plan["options"]["positions"] = "answer"; },
           [](nlohmann::json& plan) { plan["candidates"][0] = plan["suspect"]; plan["candidates"][0]["id"] = "teacher-a"; }}) {
    nlohmann::json plan;
    const auto [path, new_run] = Replan("plan.db", [&](nlohmann::json& p) {
      edit(p);
      plan = p;
    });
    EXPECT_EQ(Failed(path, new_run), std::set<std::string>{"plan-format"}) << plan.dump();
    ::unlink(path.c_str());
  }
  // Nor does the runner make one.
  auto ledger = dg::Ledger::Open(dir_.File("l.db"), dg::Ledger::Mode::kReadWrite);
  Plan plan;
  plan.suspect = *ParseModelRef(url_ + "student-b", false, "t");
  plan.candidates = {*ParseModelRef("b=" + url_ + "teacher-b", true, "t")};
  plan.references = {*ParseModelRef("r1=" + url_ + "ref-1", true, "t"), *ParseModelRef("r2=" + url_ + "ref-2", true, "t")};
  auto corpus = ReadFile(dir_.File("probes.txt"));
  plan.test = *MakeProbes(*corpus, ProbeKind::kData, 10, 32, 1);
  plan.baseline = *MakeProbes(*corpus, ProbeKind::kRandom, 10, 32, 1);
  plan.options.alpha = 0.9;
  auto size = (*ledger)->Size();
  EXPECT_FALSE(RunRecordedAttribution(plan, QueryOptions{}, **ledger, *key_).ok());
  plan.options.alpha = 0.05;
  plan.references[1] = *ParseModelRef("r2=" + url_ + "teacher-b", true, "t");  // a candidate as a reference
  EXPECT_FALSE(RunRecordedAttribution(plan, QueryOptions{}, **ledger, *key_).ok());
  EXPECT_EQ(*(*ledger)->Size(), *size) << "nothing written";
}

// A run whose answers were generated (chat, --positions answer) relabelled,
// consistently and re-signed, as one that scored the probes teacher-forced:
// its outcome still follows from the answers, but the answers are not
// scorings of the probes, and the recheck says so.
TEST_F(ForgedAttribution, AnAnswerRunRelabelledAsProbeScoringFailsTheRecheck) {
  Start(Models());
  const std::string run = RecordOne("jsd");
  ASSERT_FALSE(run.empty());
  EXPECT_EQ(Failed(dir_.File("l.db"), run), std::set<std::string>{}) << "the genuine record re-checks";
  const auto [path, new_run] = Replan(
      "relabelled.db", [](nlohmann::json& plan) { plan["options"]["positions"] = "probe"; },
      [](const std::string& kind, nlohmann::json& b) {
        if (kind == "run_end") {
          b["attribution"]["positions"] = "probe";
          b["attribution"]["run"] = b["run"];
        }
      });
  EXPECT_EQ(Failed(path, new_run), std::set<std::string>{"scored"});
}

}  // namespace
}  // namespace dg::attribute
