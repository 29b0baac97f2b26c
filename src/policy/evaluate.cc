#include "policy/evaluate.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "core/file_util.h"
#include "core/json_schema.h"
#include "license/detect.h"
#include "license/spdx.h"

namespace dg {
namespace {

using json = nlohmann::json;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ContainsCi(const std::vector<std::string>& v, const std::string& x) {
  const std::string lx = Lower(x);
  return std::any_of(v.begin(), v.end(), [&lx](const std::string& s) { return Lower(s) == lx; });
}

// Whether `region` (as a license names it: EU, UK, KR, or a country code) is
// among the job's regions. EU member states are in the EU; an entry "EU"
// (somewhere in the Union) is taken as any member state; UK and GB are one.
bool RegionIn(const std::vector<std::string>& regions, const std::string& region) {
  static const std::set<std::string> kEu = {"at", "be", "bg", "hr", "cy", "cz", "dk", "ee", "fi", "fr", "de", "gr", "el", "hu",
                                            "ie", "it", "lv", "lt", "lu", "mt", "nl", "pl", "pt", "ro", "sk", "si", "es", "se"};
  auto canon = [](std::string s) {
    s = Lower(s);
    if (s == "gb" || s == "united kingdom" || s == "great britain") return std::string("uk");
    if (s == "european union") return std::string("eu");
    if (s == "south korea" || s == "republic of korea") return std::string("kr");
    return s;
  };
  const std::string want = canon(region);
  for (const std::string& r : regions) {
    const std::string have = canon(r);
    if (have == want) return true;
    if (want == "eu" && kEu.count(have)) return true;
    if (have == "eu" && kEu.count(want)) return true;
  }
  return false;
}

int Rank(const std::string& severity) {
  if (severity == "deny") return 3;
  if (severity == "review") return 2;
  if (severity == "warning") return 1;
  return 0;
}

// One source of terms: a teacher, the student's base model, a dataset, or the
// model that generated a dataset.
struct Source {
  std::string role;  // teacher | base_model | dataset | generator
  std::string subject;
  std::string license_expr;
  std::string provider;
  bool multimodal = false;
  std::string multimodal_fact;  // the JSON pointer of its unstated multimodal flag ("" when stated)
  // An ancestor (a base model the source was derived from): its name, how
  // its license was found, and the license its descendant declares.
  bool ancestor = false;
  std::string ancestor_name, license_found_by, descendant_license;
};

struct Outcome {
  std::vector<Finding> findings;
  std::vector<Obligation> obligations;
  std::set<std::string> student_licenses;
  std::map<std::string, std::string> profiles;
  std::vector<Assumption> assumptions;
  bool unverified = false;
  int Worst() const {
    int w = 0;
    for (const auto& f : findings) w = std::max(w, Rank(f.severity));
    return w;
  }
};

class Evaluator {
 public:
  Evaluator(const Job& job, const Policy& policy, const KnowledgeBase& kb) : job_(job), policy_(policy), kb_(kb) {}

  // Evaluates every alternative of the source's SPDX expression and keeps
  // the most favourable one (OR lets the licensee choose).
  StatusOr<Outcome> EvaluateSource(const Source& src) {
    auto alts = ParseSpdxExpression(src.license_expr);
    if (!alts.ok()) return alts.status().WithContext(src.subject);
    Outcome best;
    bool have = false;
    for (const auto& alt : *alts) {
      Outcome o;
      for (const auto& id : alt.licenses) EvaluateLicense(src, id, &o);
      const bool better = !have || o.Worst() < best.Worst() ||
                          (o.Worst() == best.Worst() && o.obligations.size() < best.obligations.size());
      if (better) {
        best = std::move(o);
        have = true;
      }
    }
    return best;
  }

 private:
  bool Distributed() const { return job_.use.distribution != "internal"; }
  bool OutputsRole(const Source& s) const { return s.role == "teacher" || s.role == "generator"; }

  void Add(Outcome* o, const Source& src, const std::string& license, const std::string& rule,
           const std::string& severity, const json* term, const std::string& message, const std::string& fix) {
    Finding f;
    f.rule = rule;
    f.severity = severity;
    f.subject = src.subject;
    f.license = license;
    f.clause = term != nullptr && term->contains("citation") ? (*term)["citation"] : json();
    f.message = message;
    f.fix = fix;
    o->findings.push_back(std::move(f));
  }

  void Oblige(Outcome* o, const Source& src, const std::string& license, const std::string& kind,
              const std::string& text, const json* term, const std::string& status = "to_do") {
    Obligation ob;
    ob.kind = kind;
    if ((kind == "name_prefix" || kind == "display") && term != nullptr && term->contains("value") &&
        (*term)["value"].is_string()) {
      ob.value = (*term)["value"];
    }
    ob.text = text;
    ob.subject = src.subject;
    ob.license = license;
    ob.status = status;
    ob.clause = term != nullptr && term->contains("citation") ? (*term)["citation"] : json();
    o->obligations.push_back(std::move(ob));
  }

  // True when the student's base model carries one of `ids`.
  bool BaseCarries(const json& ids) const {
    if (!job_.student.base_model) return false;
    auto alts = ParseSpdxExpression(job_.student.base_model->license);
    if (!alts.ok()) return false;
    for (const auto& a : *alts) {
      for (const auto& l : a.licenses) {
        const LicenseProfile* p = kb_.Find(l);
        const std::string id = p ? p->id : l;
        for (const auto& want : ids) {
          if (want.get<std::string>() == id) return true;
        }
      }
    }
    return false;
  }

  // Whether the student competes with the profile's provider: a competing
  // product category, or the provider or a category named in competes_with;
  // nullopt when the job does not say (competes_with unstated).
  std::optional<bool> Competing(const LicenseProfile& p, const json& comp) const {
    if (ContainsCi(policy_.competing_categories, job_.use.product_category)) return true;
    if (!job_.use.competes_with) return std::nullopt;
    for (const std::string& w : *job_.use.competes_with) {
      if (Lower(w) == Lower(p.provider) || (!p.family.empty() && Lower(w) == Lower(p.family)) ||
          ContainsCi(policy_.competing_categories, w) ||
          ContainsCi(comp.value("categories", std::vector<std::string>{}), w)) {
        return true;
      }
    }
    return false;
  }

  // A policy's license list names a profile by id, alias or hub name.
  bool PolicyListHas(const std::vector<std::string>& list, const LicenseProfile& p) const {
    for (const std::string& name : list) {
      const LicenseProfile* q = kb_.Find(name);
      if (q == &p || Lower(name) == Lower(p.id)) return true;
    }
    return false;
  }

  // A fact the job does not state, where its absence could hide a
  // restriction: needs review, and the decision says what was not known.
  void FactNotStated(Outcome* o, const Source& src, const std::string& license, const std::string& fact,
                     const std::string& why, const json* term) {
    Add(o, src, license, "fact-not-stated", "review", term,
        "the job does not state " + fact + ", on which " + why + " turns; an unstated fact is not read as the permissive case",
        "state " + fact + " in the job");
    o->assumptions.push_back({fact, "unknown: needs review", why, src.subject, license});
  }

  // Whether a duty with `applies_above` thresholds applies: above any of
  // them; an unstated fact is taken as above (the duty applies) and listed.
  bool AboveThreshold(Outcome* o, const Source& src, const std::string& license, const json& term, const std::string& duty) {
    if (!term.contains("applies_above")) return true;
    const json& th = term["applies_above"];
    bool above = false;
    std::vector<std::string> unknown;
    if (th.contains("mau")) {
      if (job_.use.expected_mau) above |= *job_.use.expected_mau > th["mau"].get<int64_t>();
      else unknown.push_back("/use/expected_mau");
    }
    if (th.contains("monthly_revenue_usd")) {
      if (job_.use.monthly_revenue_usd) above |= *job_.use.monthly_revenue_usd > th["monthly_revenue_usd"].get<int64_t>();
      else unknown.push_back("/use/monthly_revenue_usd");
    }
    if (th.contains("annual_revenue_usd")) {
      if (job_.use.annual_revenue_usd) above |= *job_.use.annual_revenue_usd > th["annual_revenue_usd"].get<int64_t>();
      else unknown.push_back("/use/annual_revenue_usd");
    }
    if (above) return true;
    for (const std::string& f : unknown) {
      o->assumptions.push_back({f, "above the threshold (" + th.dump() + ")", "the " + duty + " duty applies above it", src.subject, license});
    }
    return !unknown.empty();
  }

  void EvaluateLicense(const Source& src, const std::string& name, Outcome* o) {
    const LicenseProfile* p = kb_.Find(name);
    if (p == nullptr) {
      const bool deny = policy_.unknown_license == "deny";
      const std::string nearest = kb_.NearestId(name);
      Add(o, src, name, "unknown-license", deny ? "deny" : "review", nullptr,
          "license \"" + name + "\" is not in the knowledge base" + (nearest.empty() ? "" : "; did you mean \"" + nearest + "\"?") +
              " Its terms are unknown",
          (nearest.empty() ? std::string() : "if the license is " + nearest + ", declare \"" + nearest + "\"; otherwise ") +
              "identify the license (distillgate license list) and declare its id, or give its profile in a directory with "
              "--licenses DIR (docs/licenses-and-policy.md)");
      return;
    }
    o->profiles[p->id] = p->sha256;
    const std::string id = p->id;
    if (!p->verified) {
      o->unverified = true;
      Add(o, src, id, "unverified-profile", "warning", p->Term("output_use"),
          p->name + ": some facts in this profile rest on unverified or secondary sources",
          "confirm the clauses against the licensor's text before relying on this verdict");
    }
    // Terms read from a --licenses directory are the operator's, not the
    // shipped knowledge base's: the decision says so (a warning: it does not
    // change the verdict, it tells a reviewer where the terms came from).
    if (!p->builtin && !p->replaces_sha256.empty()) {
      Add(o, src, id, "profile-replaces-built-in", "warning", p->Term("output_use"),
          id + ": the profile " + p->origin + " (sha256 " + p->sha256 + ") replaces the built-in profile (sha256 " + p->replaces_sha256 +
              ")",
          "review the differences (distillgate license show " + id + " --json, with and without --licenses) before relying on this verdict");
    } else if (!p->builtin) {
      Add(o, src, id, "profile-not-built-in", "warning", p->Term("output_use"),
          id + ": the terms come from " + p->origin + " (sha256 " + p->sha256 + "), not from the built-in knowledge base",
          "check the profile's clauses against the licensor's text before relying on this verdict");
    }
    if (PolicyListHas(policy_.denied_licenses, *p)) {
      Add(o, src, id, "policy-denied-license", "deny", p->Term("output_use"), "the policy denies " + id, "remove this source");
    }
    if (!policy_.allowed_licenses.empty() && !PolicyListHas(policy_.allowed_licenses, *p)) {
      Add(o, src, id, "policy-license-not-allowed", "deny", p->Term("output_use"),
          id + " is not on the policy's list of allowed licenses", "remove this source or extend the policy");
    }
    // Use restrictions that bind running or deriving from the model.
    const json* commercial = p->Term("commercial_use");
    if (commercial && !(*commercial)["value"].get<bool>()) {
      if (job_.use.commercial) {
        Add(o, src, id, "non-commercial-license", "deny", commercial, p->name + " does not permit commercial use",
            "use this source only for non-commercial work, or obtain a commercial license from " + p->provider);
      } else if (!policy_.accept_non_commercial) {
        Add(o, src, id, "policy-non-commercial", "deny", commercial, "the policy does not accept non-commercial sources",
            "remove this source");
      }
    }
    const json* research = p->Term("research_only");
    if (research && (*research)["value"].get<bool>()) {
      if (job_.use.commercial || job_.use.purpose == "production") {
        Add(o, src, id, "research-only-license", "deny", research,
            p->name + " permits research use only; this job is " + (job_.use.commercial ? "commercial" : "for production"),
            "run the job for research only, or obtain a separate license from " + p->provider);
      } else if (!policy_.accept_research_only) {
        Add(o, src, id, "policy-research-only", "deny", research, "the policy does not accept research-only sources",
            "remove this source");
      }
    }
    const json* mau = p->Term("mau_limit");
    if (mau && (!mau->value("commercial_only", false) || job_.use.commercial)) {
      if (!job_.use.expected_mau) {
        FactNotStated(o, src, id, "/use/expected_mau",
                      p->name + "'s limit of " + std::to_string((*mau)["value"].get<int64_t>()) + " monthly active users", mau);
      } else if (*job_.use.expected_mau > (*mau)["value"].get<int64_t>()) {
        Add(o, src, id, "mau-limit", "deny", mau,
            "expected monthly active users (" + std::to_string(*job_.use.expected_mau) + ") exceed the license's limit of " +
                std::to_string((*mau)["value"].get<int64_t>()),
            "request a license from " + p->provider + " before distilling for this product");
      }
    }
    const json* revenue = p->Term("revenue_limit");
    if (revenue && (!revenue->value("commercial_only", false) || job_.use.commercial)) {
      const int64_t limit = (*revenue)["value"].get<int64_t>();
      if (!job_.use.annual_revenue_usd) {
        FactNotStated(o, src, id, "/use/annual_revenue_usd", p->name + "'s limit of USD " + std::to_string(limit) + " annual revenue", revenue);
      } else if (*job_.use.annual_revenue_usd > limit) {
        Add(o, src, id, "revenue-limit", "deny", revenue,
            "annual revenue (USD " + std::to_string(*job_.use.annual_revenue_usd) + ") exceeds the license's limit of USD " + std::to_string(limit),
            "obtain an enterprise license from " + p->provider + " before distilling");
      }
    }
    if (const json* geo = p->Term("geographic")) {
      for (const auto& g : (*geo)["value"]) {
        const std::string region = g["region"];
        const bool scope_hit = g["scope"] == "all" || src.multimodal || (src.role == "base_model" && job_.student.multimodal);
        const std::string applies = g.value("applies_to", "both");
        const bool by_domicile = applies != "markets", by_markets = applies != "domicile";
        if (region == "available_regions_only") {
          // The terms point to a list of regions they do not contain: no job
          // fact can show it is met. A reviewer checks it (and may waive it).
          Add(o, src, id, "geographic-list-unchecked", "review", geo,
              p->name + " may be used only in the provider's available regions, a list the terms do not contain; the job's "
                        "domicile and markets cannot be checked against it offline",
              "check every market and the domicile against " + p->provider + "'s list of available regions, then record a waiver");
          continue;
        }
        const bool hit = (by_domicile && job_.use.domicile && RegionIn(*job_.use.domicile, region)) ||
                         (by_markets && job_.use.markets && RegionIn(*job_.use.markets, region));
        if (hit && !scope_hit && !src.multimodal_fact.empty()) {
          // A multimodal-only restriction that hits, on a model the job does
          // not say is (or is not) multimodal.
          FactNotStated(o, src, id, src.multimodal_fact, p->name + "'s exclusion of multimodal models in " + region, geo);
          continue;
        }
        if (!scope_hit) continue;
        if (hit) {
          Add(o, src, id, "geographic-restriction", "deny", geo,
              p->name + " grants no rights to " + (g["scope"] == "all" ? "licensees" : "multimodal models for licensees") +
                  " in " + region + (applies == "both" ? "" : " (" + applies + ")"),
              "run the job from an entity outside " + region + ", or choose another source");
        } else if (by_domicile && !job_.use.domicile) {
          FactNotStated(o, src, id, "/use/domicile", p->name + "'s exclusion of " + region, geo);
        } else if (by_markets && !job_.use.markets) {
          FactNotStated(o, src, id, "/use/markets", p->name + "'s exclusion of " + region, geo);
        }
      }
    }
    if (OutputsRole(src)) EvaluateOutputUse(src, *p, o);
    if (src.role == "base_model") EvaluateWeights(src, *p, o);
    if (src.role == "dataset") EvaluateData(src, *p, o);
  }

  void EvaluateOutputUse(const Source& src, const LicenseProfile& p, Outcome* o) {
    const std::string& id = p.id;
    const json* out = p.Term("output_use");
    const std::string use = (*out)["value"];
    if (use == "forbidden") {
      const bool base_exempt = out->contains("except_student_base") && BaseCarries((*out)["except_student_base"]);
      const bool non_llm_ok = out->value("non_llm_students_allowed", false) && job_.student.model_type != "llm";
      if (!base_exempt && !non_llm_ok) {
        Add(o, src, id, "outputs-may-not-train-models", "deny", out,
            p.name + " forbids using its outputs to train or improve this student",
            "drop this source, or (where the terms allow it) build the student on the source's own model family");
      }
    } else if (use == "ambiguous") {
      Add(o, src, id, "output-use-ambiguous", "review", out,
          p.name + ": whether outputs may train another model is not settled" +
              (out->contains("condition") ? " (" + (*out)["condition"].get<std::string>() + ")" : std::string()),
          "have counsel review this source, then record a waiver with the approval");
    }
    const json* comp = p.Term("competing_models");
    const std::optional<bool> competing = comp ? Competing(p, *comp) : std::optional<bool>(false);
    if (comp && !competing && (*comp)["value"] != "allowed") {
      FactNotStated(o, src, id, "/use/competes_with", p.name + "'s clause on models that compete with " + p.provider, comp);
    }
    if (comp && competing.value_or(false)) {
      const std::string v = (*comp)["value"];
      const bool exception = comp->value("permitted_exception", "") == "internal_classifier" &&
                             job_.student.model_type == "classifier" && !Distributed();
      if (v == "forbidden" && !exception) {
        Add(o, src, id, "competing-model-ban", "deny", comp,
            p.name + " forbids using outputs to develop models that compete with " + p.provider + " (this student is a " +
                (job_.use.product_category.empty() ? std::string("competing product") : job_.use.product_category) + ")",
            "do not use " + p.provider + " outputs for this student");
      } else if (v == "ambiguous") {
        Add(o, src, id, "competing-use-ambiguous", "review", comp, p.name + ": competing use is not settled",
            "have counsel review this source");
      }
    }
    const json* deriv = p.Term("student_is_derivative");
    const std::string dv = deriv ? (*deriv)["value"].get<std::string>() : "no";
    if (dv == "yes") {
      const json* inh = p.Term("inherits");
      const std::string lic = inh ? (*inh)["value"].get<std::string>() : id;
      o->student_licenses.insert(lic);
      Oblige(o, src, id, "inherit_license",
             "the student is a derivative under " + p.name + ": distribute it only under terms that carry " + lic, deriv);
      AddDistributionDuties(src, p, o);
    } else if (dv == "ambiguous") {
      Add(o, src, id, "derivative-status-ambiguous", "warning", deriv,
          p.name + ": whether a student trained on its outputs is a derivative is not settled",
          "treat the student as carrying " + id + "'s terms if in doubt");
    }
    // Naming and display duties triggered by outputs.
    AddNamingDuties(src, p, o, /*outputs=*/true);
  }

  void EvaluateWeights(const Source& src, const LicenseProfile& p, Outcome* o) {
    const json* inh = p.Term("inherits");
    const std::string lic = inh ? (*inh)["value"].get<std::string>() : p.id;
    o->student_licenses.insert(lic);
    if (inh) Oblige(o, src, p.id, "inherit_license", "the student's weights derive from " + p.name + ": they carry " + lic, inh);
    AddDistributionDuties(src, p, o);
    AddNamingDuties(src, p, o, /*outputs=*/false);
  }

  void EvaluateData(const Source& src, const LicenseProfile& p, Outcome* o) {
    if (const json* attr = p.Term("attribution"); attr && Distributed() && AboveThreshold(o, src, p.id, *attr, "attribution")) {
      Oblige(o, src, p.id, "attribution", (*attr)["value"], attr);
    }
    if (const json* sa = p.Term("share_alike"); sa && (*sa)["value"].get<bool>()) {
      Add(o, src, p.id, "share-alike-data", "warning", sa,
          p.name + ": if the trained model is Adapted Material it must be shared under the same terms",
          "record counsel's view on whether the model is Adapted Material");
    }
  }

  // Notice file, license copy and use-policy pass-through, when distributed.
  // A Notice file and a copy of the license go with copies (Apache-2.0 §4:
  // "reproduce and distribute copies"): only open weights carry them; a
  // student served as an API distributes no copy.
  void AddDistributionDuties(const Source& src, const LicenseProfile& p, Outcome* o) {
    if (!Distributed()) return;
    const bool copies = job_.use.distribution == "open_weights";
    if (const json* n = p.Term("notice"); copies && n && AboveThreshold(o, src, p.id, *n, "notice")) {
      Oblige(o, src, p.id, "notice", "ship a Notice file containing: " + (*n)["value"].get<std::string>(), n);
    }
    if (const json* a = p.Term("attribution"); a && AboveThreshold(o, src, p.id, *a, "attribution")) {
      Oblige(o, src, p.id, "attribution", (*a)["value"], a);
    }
    if (const json* c = p.Term("license_copy"); copies && c && (*c)["value"].get<bool>()) {
      Oblige(o, src, p.id, "license_copy", "give recipients a copy of " + p.name, c);
    }
    if (const json* u = p.Term("use_policy"); u && u->value("passthrough", false)) {
      Oblige(o, src, p.id, "use_policy",
             "pass the use restrictions (" + (*u)["value"].get<std::string>() + ") on as an enforceable term to recipients", u);
    }
  }

  void AddNamingDuties(const Source& src, const LicenseProfile& p, Outcome* o, bool outputs) {
    if (!Distributed()) return;
    auto triggered = [outputs](const json& term) { return !outputs || term.value("trigger", "") == "materials_or_outputs"; };
    if (const json* np = p.Term("name_prefix"); np && triggered(*np) && AboveThreshold(o, src, p.id, *np, "naming")) {
      const std::string prefix = (*np)["value"];
      const bool met = job_.student.name.compare(0, prefix.size(), prefix) == 0;
      Oblige(o, src, p.id, "name_prefix", "the student's name must begin with \"" + prefix + "\"", np, met ? "met" : "unmet");
      if (!met) {
        Add(o, src, p.id, "name-prefix", "deny", np,
            "the student \"" + job_.student.name + "\" is distributed but its name does not begin with \"" + prefix +
                "\" as " + p.name + " requires",
            "rename the student to \"" + prefix + "-" + job_.student.name + "\" (or another name beginning with \"" + prefix + "\")");
      }
    }
    if (const json* d = p.Term("display"); d && triggered(*d) && AboveThreshold(o, src, p.id, *d, "display")) {
      Oblige(o, src, p.id, "display",
             "prominently display \"" + (*d)["value"].get<std::string>() + "\" on a related website, user interface or product documentation", d);
    }
  }

  const Job& job_;
  const Policy& policy_;
  const KnowledgeBase& kb_;
};

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAllow: return "allow";
    case Verdict::kAllowWithObligations: return "allow_with_obligations";
    case Verdict::kNeedsReview: return "needs_review";
    case Verdict::kDeny: return "deny";
  }
  return "deny";
}

std::optional<Verdict> ParseVerdict(std::string_view name) {
  for (Verdict v : {Verdict::kAllow, Verdict::kAllowWithObligations, Verdict::kNeedsReview, Verdict::kDeny}) {
    if (name == VerdictName(v)) return v;
  }
  return std::nullopt;
}

bool VerdictAllows(Verdict v) { return v == Verdict::kAllow || v == Verdict::kAllowWithObligations; }

int VerdictRank(Verdict v) {
  switch (v) {
    case Verdict::kAllow: return 0;
    case Verdict::kAllowWithObligations: return 1;
    case Verdict::kNeedsReview: return 2;
    case Verdict::kDeny: return 3;
  }
  return 3;
}

int Decision::ExitCode() const {
  if (AllowsTraining()) return 0;
  return verdict == Verdict::kNeedsReview ? 4 : 1;
}

namespace {

// The profile ids an SPDX expression names (unknown names as written).
StatusOr<std::set<std::string>> ProfileIds(const std::string& expr, const KnowledgeBase& kb) {
  DG_ASSIGN_OR_RETURN(auto alts, ParseSpdxExpression(expr));
  std::set<std::string> ids;
  for (const auto& alt : alts) {
    for (const auto& l : alt.licenses) {
      const LicenseProfile* p = kb.Find(l);
      ids.insert(p ? p->id : l);
    }
  }
  return ids;
}

// The alternatives of an SPDX expression, each as the profile ids it names.
StatusOr<std::vector<std::set<std::string>>> ProfileAlternatives(const std::string& expr, const KnowledgeBase& kb) {
  DG_ASSIGN_OR_RETURN(auto alts, ParseSpdxExpression(expr));
  std::vector<std::set<std::string>> out;
  for (const auto& alt : alts) {
    std::set<std::string> ids;
    for (const auto& l : alt.licenses) {
      const LicenseProfile* p = kb.Find(l);
      ids.insert(p ? p->id : l);
    }
    out.push_back(std::move(ids));
  }
  return out;
}

Finding KnowledgeBaseMismatch(const std::string& subject, const std::string& hub_id, const LicenseProfile& known,
                              const std::string& declared) {
  Finding f;
  f.rule = "declared-license-mismatch";
  f.severity = "review";
  f.subject = subject;
  f.license = known.id;
  f.clause = {{"section", "models"}, {"quote", hub_id + " is released under " + known.name}, {"source", known.origin}};
  f.message = "the job declares \"" + declared + "\" for " + hub_id + ", which the knowledge base knows is under " + known.name +
              "; its terms are applied";
  f.fix = "declare " + known.id + " (the license the model is released under)";
  return f;
}

// A model's lineage, ancestors after it, depth first; each ancestor's
// license is the job's, else the knowledge base's by its hub id. Bounded
// (kMaxLineageDepth): a chain deeper than that is a finding, not a loop.
constexpr int kMaxLineageDepth = 16;

void AddLineage(const Source& child, const std::vector<Ancestor>& bases, const KnowledgeBase& kb, int depth,
                std::vector<Source>* out, std::vector<Finding>* findings) {
  for (const Ancestor& a : bases) {
    Source s;
    s.role = child.role;
    s.subject = child.subject + "/base:" + a.name;
    s.multimodal = a.multimodal || child.multimodal;
    s.ancestor = true;
    s.ancestor_name = a.name;
    s.descendant_license = child.license_expr;
    s.multimodal_fact = a.multimodal_stated ? "" : child.multimodal_fact;
    const LicenseProfile* known = kb.FindModel(a.name);
    if (!a.license.empty()) {
      s.license_expr = a.license;
      s.license_found_by = "the job";
      // A hub id the knowledge base knows under another license: the
      // publisher's license applies, whatever the job says.
      auto ids = ProfileIds(a.license, kb);
      if (known != nullptr && (!ids.ok() || !ids->count(known->id))) {
        findings->push_back(KnowledgeBaseMismatch(s.subject, a.name, *known, a.license));
        s.license_expr = known->id;
        s.license_found_by = "the knowledge base (" + known->id + " covers " + a.name + ")";
      }
    } else if (known != nullptr) {
      s.license_expr = known->id;
      s.license_found_by = "the knowledge base (" + known->id + " covers " + a.name + ")";
    }
    if (depth >= kMaxLineageDepth) {
      Finding f;
      f.rule = "lineage-too-deep";
      f.severity = "review";
      f.subject = s.subject;
      f.message = "the lineage is deeper than " + std::to_string(kMaxLineageDepth) + " models; the rest was not evaluated";
      f.fix = "check the lineage by hand";
      findings->push_back(f);
      return;
    }
    out->push_back(s);
    AddLineage(s, a.bases, kb, depth + 1, out, findings);
  }
}

}  // namespace

StatusOr<Decision> Evaluate(const Job& job, const Policy& policy, const KnowledgeBase& kb, const std::string& today) {
  Evaluator ev(job, policy, kb);
  Decision dec;
  dec.mode = policy.mode;
  // Evidence: a teacher's model card or license files must agree with the
  // license the job declares; what cannot be identified needs review, and
  // the bases a card names join the teacher's lineage.
  std::map<std::string, std::vector<Ancestor>> card_bases;  // teacher id → bases its card names
  std::map<std::string, std::string> governing;              // teacher id → the license its evidence identifies
  for (const auto& t : job.teachers) {
    if (t.model_card.empty()) continue;
    DG_ASSIGN_OR_RETURN(auto detections, DetectPath(job.Resolve(t.model_card), kb));
    auto declared_ids = ProfileIds(t.license, kb);
    if (!declared_ids.ok()) return declared_ids.status().WithContext("teacher:" + t.id);
    if (const std::string g = GoverningLicense(detections); !g.empty()) {
      DG_ASSIGN_OR_RETURN(auto alts, ProfileAlternatives(t.license, kb));
      const bool offered = std::any_of(alts.begin(), alts.end(), [&g](const std::set<std::string>& a) { return a.count(g) > 0; });
      if (offered && alts.size() > 1) governing[t.id] = g;
    }
    for (const auto& d : detections) {
      for (const std::string& b : d.base_models) {
        const bool in_job = std::any_of(t.bases.begin(), t.bases.end(), [&b](const Ancestor& a) { return a.name == b; });
        if (!in_job) {
          Ancestor a;
          a.name = b;
          a.relation = d.base_model_relation;
          card_bases[t.id].push_back(a);
        }
      }
      if (!Governs(d.role)) continue;  // code licenses, use policies and notices are shown, not decisive
      Finding f;
      f.subject = "teacher:" + t.id;
      f.clause = {{"section", std::string(EvidenceRoleName(d.role)) + " (" + d.method + ")"},
                  {"quote", d.method == "model_card" ? (d.evidence.empty() ? d.declared : d.evidence.front())
                                                      : (d.reference.empty() ? std::string("no reference text matches")
                                                                             : "compared with " + d.reference)},
                  {"source", d.file}};
      char coverage[32];
      std::snprintf(coverage, sizeof coverage, "%.1f %%", 100 * d.coverage);
      if (d.status == DetectionStatus::kModified) {
        f.rule = "license-text-modified";
        f.severity = "review";
        f.license = d.license;
        f.message = d.file + " is a modified version of " + d.license + " (" + coverage + " of its text";
        for (size_t i = 0; i < d.differences.size() && i < 3; ++i) f.message += "; " + d.differences[i];
        f.message += ")";
        f.fix = "have counsel read what the text adds or omits, then declare the license and record a waiver";
      } else if (d.status == DetectionStatus::kNotIdentified) {
        f.rule = "license-undetected";
        f.severity = "review";
        f.license = d.declared;
        f.message = d.file + " does not identify a known license" +
                    (d.runners_up.empty() ? std::string() : " (several profiles match equally)") +
                    (d.method == "license_text" && !d.reference.empty() ? std::string(" (closest: ") + coverage + " of " + d.reference + ")"
                                                                        : std::string());
        f.fix = "check the evidence by hand and declare the license, or add a profile (with its reference text) with --licenses";
      } else if (!declared_ids->count(d.license)) {
        f.rule = "declared-license-mismatch";
        f.severity = "review";
        f.license = d.license;
        f.message = "the job declares \"" + t.license + "\" but " + d.file + " says " + d.license;
        f.fix = "resolve which license governs this teacher and declare it";
      } else {
        continue;
      }
      dec.findings.push_back(f);
    }
  }
  // A policy list naming no license the knowledge base knows does nothing:
  // a denial that never applies is a policy that needs review.
  {
    std::set<std::string> names;
    for (const auto& p : kb.profiles()) {
      names.insert(p.id);
      for (const auto& a : p.doc.value("aliases", std::vector<std::string>{})) names.insert(a);
    }
    for (const auto* list : {&policy.denied_licenses, &policy.allowed_licenses}) {
      for (const std::string& name : *list) {
        if (kb.Find(name) != nullptr) continue;
        Finding f;
        f.rule = "policy-names-unknown-license";
        f.severity = "review";
        f.subject = "policy";
        f.license = name;
        const std::string near = NearestKey(name, names);
        f.message = std::string("the policy's ") + (list == &policy.denied_licenses ? "denied_licenses" : "allowed_licenses") +
                    " names \"" + name + "\", which is no license the knowledge base knows" +
                    (near.empty() ? std::string() : " (did you mean `" + near + "`?)");
        f.fix = "name the license by its id or an alias (distillgate license list)";
        dec.findings.push_back(f);
      }
    }
  }
  // The sources of terms, each model followed by its lineage.
  std::vector<Source> sources;
  auto with_lineage = [&](Source s, std::vector<Ancestor> bases) {
    sources.push_back(s);
    AddLineage(s, bases, kb, 1, &sources, &dec.findings);
  };
  for (size_t i = 0; i < job.teachers.size(); ++i) {
    const auto& t = job.teachers[i];
    std::vector<Ancestor> bases = t.bases;
    const auto& from_card = card_bases[t.id];
    bases.insert(bases.end(), from_card.begin(), from_card.end());
    Source s;
    s.role = "teacher", s.subject = "teacher:" + t.id, s.license_expr = t.license, s.provider = t.provider, s.multimodal = t.multimodal;
    s.multimodal_fact = t.multimodal_stated ? "" : "/teachers/" + std::to_string(i) + "/multimodal";
    // The license the evidence identifies narrows what the job declares:
    // "llama3.1 OR MIT" for a model whose card and license file say Llama 3.1
    // is Llama 3.1 (the evidence offers no MIT).
    if (auto e = governing.find(t.id); e != governing.end()) s.license_expr = e->second;
    // A teacher named by a hub id the knowledge base knows.
    if (const LicenseProfile* known = t.model.empty() ? nullptr : kb.FindModel(t.model)) {
      DG_ASSIGN_OR_RETURN(auto ids, ProfileIds(t.license, kb));
      if (!ids.count(known->id)) {
        dec.findings.push_back(KnowledgeBaseMismatch(s.subject, t.model, *known, t.license));
        s.license_expr = known->id;
      }
    }
    with_lineage(s, bases);
  }
  if (job.student.base_model) {
    Source s;
    s.role = "base_model", s.subject = "base_model", s.license_expr = job.student.base_model->license;
    s.multimodal = job.student.base_model->multimodal;
    s.multimodal_fact = job.student.base_model->multimodal_stated ? "" : "/student/base_model/multimodal";
    if (const LicenseProfile* known = kb.FindModel(job.student.base_model->name)) {
      DG_ASSIGN_OR_RETURN(auto ids, ProfileIds(s.license_expr, kb));
      if (!ids.count(known->id)) {
        dec.findings.push_back(KnowledgeBaseMismatch(s.subject, job.student.base_model->name, *known, s.license_expr));
        s.license_expr = known->id;
      }
    }
    with_lineage(s, job.student.base_model->bases);
  }
  for (size_t i = 0; i < job.datasets.size(); ++i) {
    const auto& d = job.datasets[i];
    Source s;
    s.role = "dataset", s.subject = "dataset:" + d.id, s.license_expr = d.license;
    sources.push_back(s);
    if (d.generated_by) {
      Source g;
      g.role = "generator", g.subject = "generator:" + d.id, g.license_expr = d.generated_by->license;
      g.multimodal = d.generated_by->multimodal;
      g.multimodal_fact = d.generated_by->multimodal_stated ? "" : "/datasets/" + std::to_string(i) + "/generated_by/multimodal";
      if (const LicenseProfile* known = d.generated_by->name.empty() ? nullptr : kb.FindModel(d.generated_by->name)) {
        DG_ASSIGN_OR_RETURN(auto ids, ProfileIds(g.license_expr, kb));
        if (!ids.count(known->id)) {
          dec.findings.push_back(KnowledgeBaseMismatch(g.subject, d.generated_by->name, *known, g.license_expr));
          g.license_expr = known->id;
        }
      }
      with_lineage(g, d.generated_by->bases);
    }
  }
  // Lineage findings: an ancestor whose license is unknown, and a declared
  // license that drops terms an ancestor makes binding on derivatives.
  std::vector<Source> evaluated;
  for (const Source& s : sources) {
    if (!s.ancestor) {
      evaluated.push_back(s);
      continue;
    }
    if (s.license_expr.empty()) {
      Finding f;
      f.rule = "unknown-ancestor-license";
      f.severity = "review";
      f.subject = s.subject;
      f.license = s.ancestor_name;
      f.message = s.ancestor_name + " is a base of this model, but its license is not stated and the knowledge base does not know it; "
                  "the terms it passes on are unknown";
      f.fix = "give the base model's license in the job (base_model: {name, license})";
      dec.findings.push_back(f);
      continue;
    }
    DG_ASSIGN_OR_RETURN(std::set<std::string> ancestor_ids, ProfileIds(s.license_expr, kb));
    DG_ASSIGN_OR_RETURN(auto descendant_alts, ProfileAlternatives(s.descendant_license, kb));
    // "Covered" only when every alternative the descendant offers carries the
    // license: an OR with a laxer license does not shed the base's terms.
    auto in_every = [&descendant_alts](const std::string& id) {
      return std::all_of(descendant_alts.begin(), descendant_alts.end(), [&id](const std::set<std::string>& alt) { return alt.count(id) > 0; });
    };
    bool same = true;
    for (const std::string& id : ancestor_ids) {
      const LicenseProfile* p = kb.Find(id);
      same &= in_every(id);
      const json* inh = p ? p->Term("inherits") : nullptr;
      if (inh == nullptr) continue;
      const std::string carried = (*inh)["value"];
      if (!in_every(carried) && !in_every(id)) {
        Finding f;
        f.rule = "declared-license-conflicts-with-base";
        f.severity = "review";
        f.subject = s.subject;
        f.license = id;
        f.clause = inh->contains("citation") ? (*inh)["citation"] : json();
        f.message = "its base " + s.ancestor_name + " is under " + p->name + " (license found in " + s.license_found_by +
                    "), whose terms bind derivatives, but the model declares \"" + s.descendant_license +
                    "\": the base's terms apply whatever the declared license says";
        f.fix = "declare the license the base passes on, or show that the base's terms allow relicensing";
        dec.findings.push_back(f);
      }
    }
    if (same) continue;      // the descendant's own license, evaluated already
    evaluated.push_back(s);  // the ancestor's own terms: those that bind the descendant apply
  }
  dec.job_sha256 = job.sha256;
  dec.policy_sha256 = policy.sha256;
  for (const auto& s : evaluated) {
    DG_ASSIGN_OR_RETURN(Outcome o, ev.EvaluateSource(s));
    dec.assumptions.insert(dec.assumptions.end(), o.assumptions.begin(), o.assumptions.end());
    dec.findings.insert(dec.findings.end(), o.findings.begin(), o.findings.end());
    dec.obligations.insert(dec.obligations.end(), o.obligations.begin(), o.obligations.end());
    dec.student_licenses.insert(o.student_licenses.begin(), o.student_licenses.end());
    dec.profiles.insert(o.profiles.begin(), o.profiles.end());
    dec.rests_on_unverified |= o.unverified;
  }
  // Waivers: recorded on the finding; expired ones are not applied.
  for (auto& f : dec.findings) {
    for (const auto& w : policy.waivers) {
      if (w.rule != f.rule || w.subject != f.subject) continue;
      if (w.expires < today) {
        f.message += " (waiver by " + w.approver + " expired on " + w.expires + ")";
        continue;
      }
      f.waived = true;
      f.waiver = w.reason + " (" + w.approver + ", until " + w.expires + ")";
    }
  }
  // Deterministic order, independent of the order of teachers and datasets.
  std::sort(dec.findings.begin(), dec.findings.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.subject, a.rule, a.license, a.message) < std::tie(b.subject, b.rule, b.license, b.message);
  });
  std::sort(dec.obligations.begin(), dec.obligations.end(), [](const Obligation& a, const Obligation& b) {
    return std::tie(a.kind, a.text, a.subject, a.license) < std::tie(b.kind, b.text, b.subject, b.license);
  });
  auto key = [](const Assumption& a) { return std::tie(a.fact, a.subject, a.license, a.assumed, a.because); };
  std::sort(dec.assumptions.begin(), dec.assumptions.end(), [&key](const Assumption& a, const Assumption& b) { return key(a) < key(b); });
  dec.assumptions.erase(std::unique(dec.assumptions.begin(), dec.assumptions.end(),
                                    [&key](const Assumption& a, const Assumption& b) { return key(a) == key(b); }),
                        dec.assumptions.end());
  int worst = 0;
  for (const auto& f : dec.findings) {
    if (!f.waived) worst = std::max(worst, Rank(f.severity));
  }
  if (worst >= 3) dec.verdict = Verdict::kDeny;
  else if (worst == 2) dec.verdict = Verdict::kNeedsReview;
  else if (!dec.obligations.empty()) dec.verdict = Verdict::kAllowWithObligations;
  else dec.verdict = Verdict::kAllow;
  return dec;
}

json ToJson(const Decision& d) {
  json findings = json::array(), obligations = json::array();
  for (const auto& f : d.findings) {
    json j = {{"rule", f.rule}, {"severity", f.severity}, {"subject", f.subject}, {"license", f.license},
              {"clause", f.clause}, {"message", f.message}, {"fix", f.fix}, {"waived", f.waived}};
    if (f.waived) j["waiver"] = f.waiver;
    findings.push_back(j);
  }
  for (const auto& o : d.obligations) {
    json j = {{"kind", o.kind}, {"text", o.text}, {"subject", o.subject}, {"license", o.license},
              {"status", o.status}, {"clause", o.clause}};
    if (!o.value.empty()) j["value"] = o.value;
    obligations.push_back(std::move(j));
  }
  json assumed = json::array();
  for (const auto& a : d.assumptions) {
    assumed.push_back({{"fact", a.fact}, {"assumed", a.assumed}, {"because", a.because}, {"subject", a.subject}, {"license", a.license}});
  }
  json out = {{"verdict", VerdictName(d.verdict)},
          {"mode", PolicyModeName(d.mode)},
          {"enforced", d.mode == PolicyMode::kEnforce},
          {"rests_on_unverified_facts", d.rests_on_unverified},
          {"findings", findings},
          {"obligations", obligations},
          {"assumed_facts", assumed},
          {"student_licenses", d.student_licenses},
          {"inputs", {{"job_sha256", d.job_sha256}, {"policy_sha256", d.policy_sha256}, {"profiles", d.profiles}}}};
  if (d.approved) {
    out["approved"] = true;
    out["approvals"] = d.approvals;
  }
  return out;
}

}  // namespace dg
