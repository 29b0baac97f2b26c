// License knowledge base and policy evaluation: the public scenario suite
// (tests/scenarios/*), properties of the evaluator, SPDX expressions and
// malformed inputs.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "core/canonical_json.h"
#include "core/file_util.h"
#include "core/json_schema.h"
#include "license/detect.h"
#include "license/knowledge_base.h"
#include "license/spdx.h"
#include "policy/evaluate.h"
#include "test_util.h"

namespace dg {
namespace {

using nlohmann::json;

const KnowledgeBase& Kb() { return **KnowledgeBase::Builtin(); }

std::vector<std::string> ScenarioDirs() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(DG_SOURCE_DIR) + "/tests/scenarios")) {
    if (e.is_directory()) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Policy PolicyFor(const std::string& dir) {
  const std::string p = dir + "/policy.json";
  return FileExists(p) ? *LoadPolicy(p) : *DefaultPolicy();
}

class Scenario : public ::testing::TestWithParam<std::string> {};

TEST_P(Scenario, MatchesExpectedDecision) {
  const std::string dir = GetParam();
  auto job = LoadJob(dir + "/job.json");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  json expected = json::parse(testing::ReadAll(dir + "/expected.json"));
  auto dec = Evaluate(*job, PolicyFor(dir), Kb(), "2026-11-29");
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  json got = ToJson(*dec);
  SCOPED_TRACE(expected.value("description", "") + "\n" + got.dump(2));
  EXPECT_EQ(got["verdict"], expected["verdict"]);
  std::vector<std::string> rules, kinds;
  for (const auto& f : got["findings"]) {
    if (!f["waived"].get<bool>()) rules.push_back(f["rule"]);
  }
  for (const auto& o : got["obligations"]) kinds.push_back(o["kind"]);
  for (const auto& r : expected["rules"]) {
    EXPECT_NE(std::find(rules.begin(), rules.end(), r.get<std::string>()), rules.end()) << "missing finding " << r;
  }
  for (const auto& r : expected.value("absent_rules", json::array())) {
    EXPECT_EQ(std::find(rules.begin(), rules.end(), r.get<std::string>()), rules.end()) << "unexpected finding " << r;
  }
  for (const auto& k : expected["obligations"]) {
    EXPECT_NE(std::find(kinds.begin(), kinds.end(), k.get<std::string>()), kinds.end()) << "missing obligation " << k;
  }
  if (expected.contains("student_licenses")) EXPECT_EQ(got["student_licenses"], expected["student_licenses"]);
  if (expected.contains("exit_code")) EXPECT_EQ(dec->ExitCode(), expected["exit_code"].get<int>());
}

INSTANTIATE_TEST_SUITE_P(Public, Scenario, ::testing::ValuesIn(ScenarioDirs()), [](const auto& info) {
  std::string name = std::filesystem::path(info.param).filename().string();
  std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
});

TEST(Scenarios, ThereAreAtLeast25) { EXPECT_GE(ScenarioDirs().size(), 25u); }

TEST(Scenarios, CliCheckExitCodesFollowVerdicts) {
  for (const auto& dir : ScenarioDirs()) {
    json expected = json::parse(testing::ReadAll(dir + "/expected.json"));
    std::vector<std::string> args = {"check", "--job", dir + "/job.json", "--json"};
    if (FileExists(dir + "/policy.json")) {
      args.push_back("--policy");
      args.push_back(dir + "/policy.json");
    }
    auto r = testing::RunCli(args);
    const std::string v = expected["verdict"];
    int want = expected.contains("exit_code") ? expected["exit_code"].get<int>()
               : v == "deny"                  ? 1
               : v == "needs_review"          ? 4
                                              : 0;
    EXPECT_EQ(r.exit_code, want) << dir << "\n" << r.err;
    auto j = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << dir << ": " << r.out;
    EXPECT_EQ(j["verdict"], expected["verdict"]) << dir;
    Status valid = (*JsonSchema::Builtin("decision.schema.json"))->Validate(j, dir);
    EXPECT_TRUE(valid.ok()) << valid.ToString();
  }
}

// Every finding cites a clause that exists, verbatim, in its profile.
TEST(Properties, EveryFindingCitesItsProfile) {
  for (const auto& dir : ScenarioDirs()) {
    auto dec = *Evaluate(*LoadJob(dir + "/job.json"), PolicyFor(dir), Kb(), "2026-11-29");
    for (const auto& f : dec.findings) {
      const LicenseProfile* p = Kb().Find(f.license);
      if (f.rule == "unknown-license") {
        EXPECT_EQ(p, nullptr);
        continue;
      }
      ASSERT_NE(p, nullptr) << f.license;
      ASSERT_TRUE(f.clause.is_object()) << dir << " " << f.rule;
      bool found = false;
      for (const auto& [name, term] : p->doc["terms"].items()) {
        if (term["citation"] == f.clause) found = true;
      }
      EXPECT_TRUE(found) << dir << ": " << f.rule << " cites a clause not in " << p->id;
    }
  }
}

// MIT's terms rest on MIT's text: the profile once cited the DeepSeek-R1
// README for output use, which then showed as MIT's source for any MIT teacher.
TEST(KnowledgeBaseFacts, TheMitProfileCitesOnlyTheMitLicense) {
  const LicenseProfile* mit = Kb().Find("MIT");
  ASSERT_NE(mit, nullptr);
  for (const auto& src : mit->doc["sources"]) EXPECT_EQ(src, "https://opensource.org/license/mit");
  for (const auto& [name, term] : mit->doc["terms"].items()) {
    if (!term.contains("citation") || !term["citation"].is_object()) continue;
    EXPECT_EQ(term["citation"]["source"], "https://opensource.org/license/mit") << name;
    EXPECT_EQ(term["citation"].dump().find("DeepSeek"), std::string::npos) << name;
  }
}

// Duties go with what is distributed: an Apache-2.0 base model's Notice file and
// license copy are owed for open weights (copies), not for a student served
// as an API, which distributes no copy.
TEST(Decisions, CopyDutiesAttachOnlyToDistributedCopies) {
  auto obligations = [](const std::string& distribution) {
    nlohmann::json doc = {{"name", "apache"},
                          {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", "MIT"}, {"model_file", "t.pt"}}}},
                          {"student", {{"name", "s"}, {"model_type", "classifier"}, {"base_model", {{"name", "b"}, {"license", "Apache-2.0"}}}}},
                          {"use", {{"commercial", true}, {"distribution", distribution}, {"purpose", "production"}}}};
    std::set<std::string> kinds;
    auto dec = Evaluate(*ParseJob(doc, "apache.json"), *DefaultPolicy(), Kb(), "2026-11-29");
    EXPECT_TRUE(dec.ok());
    for (const auto& ob : dec->obligations) kinds.insert(ob.kind);
    return kinds;
  };
  const std::set<std::string> open = obligations("open_weights"), api = obligations("api_service");
  EXPECT_EQ(open, (std::set<std::string>{"license_copy", "notice"}));  // the student's weights are an Apache-2.0 base's
  EXPECT_EQ(api.count("notice") + api.count("license_copy"), 0u);
}

// A typo of a known license id is still needs review (never allow), and the
// finding says which license it is near; a name near nothing gets no guess.
TEST(Decisions, ALicenseTypoNeedsReviewAndNamesTheNearestLicense) {
  for (const auto& [declared, nearest] : std::vector<std::pair<std::string, std::string>>{{"llama3.l", "llama3.1"}, {"Apache-2.O", "Apache-2.0"},
                                                                                         {"zz-house-terms", ""}}) {
    nlohmann::json doc = {{"name", "typo"},
                          {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", declared}, {"model_file", "t.pt"}}}},
                          {"student", {{"name", "s"}, {"model_type", "classifier"}}},
                          {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
    auto job = ParseJob(doc, "typo.json");
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    auto dec = Evaluate(*job, *DefaultPolicy(), Kb(), "2026-11-29");
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ(dec->verdict, Verdict::kNeedsReview) << declared;
    bool found = false;
    for (const auto& f : dec->findings) {
      if (f.rule != "unknown-license") continue;
      found = true;
      if (nearest.empty()) {
        EXPECT_EQ(f.message.find("did you mean"), std::string::npos) << f.message;
      } else {
        EXPECT_NE(f.message.find("did you mean \"" + nearest + "\"?"), std::string::npos) << f.message;
        EXPECT_NE(f.fix.find("declare \"" + nearest + "\""), std::string::npos) << f.fix;
      }
      EXPECT_NE(f.fix.find("--licenses DIR"), std::string::npos) << f.fix;  // not files compiled into the binary
      EXPECT_EQ(f.fix.find("policies/licenses/"), std::string::npos) << f.fix;
    }
    EXPECT_TRUE(found) << declared;
  }
}

// Adding a teacher or dataset never makes a verdict more permissive, and the
// order of teachers never changes it.
TEST(Properties, MonotoneAndOrderInvariant) {
  std::vector<json> jobs;
  for (const auto& dir : ScenarioDirs()) jobs.push_back(json::parse(testing::ReadAll(dir + "/job.json")));
  const Policy policy = *DefaultPolicy();
  std::mt19937 rng(3);
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto base = *Evaluate(*ParseJob(jobs[i], "a"), policy, Kb(), "2026-11-29");
    for (size_t k = 0; k < jobs.size(); ++k) {
      json more = jobs[i];
      for (const auto& t : jobs[k]["teachers"]) {
        json t2 = t;
        t2["id"] = t["id"].get<std::string>() + "-extra";
        more["teachers"].push_back(t2);
      }
      if (jobs[k].contains("datasets")) {
        for (const auto& d : jobs[k]["datasets"]) {
          json d2 = d;
          d2["id"] = d["id"].get<std::string>() + "-extra";
          more["datasets"].push_back(d2);
        }
      }
      const auto bigger = *Evaluate(*ParseJob(more, "b"), policy, Kb(), "2026-11-29");
      EXPECT_GE(VerdictRank(bigger.verdict), VerdictRank(base.verdict)) << i << " + " << k;
      json shuffled = more;
      std::shuffle(shuffled["teachers"].begin(), shuffled["teachers"].end(), rng);
      const auto again = *Evaluate(*ParseJob(shuffled, "c"), policy, Kb(), "2026-11-29");
      EXPECT_EQ(ToJson(again)["verdict"], ToJson(bigger)["verdict"]);
      EXPECT_EQ(ToJson(again)["findings"], ToJson(bigger)["findings"]);
      EXPECT_EQ(ToJson(again)["obligations"], ToJson(bigger)["obligations"]);
    }
  }
}

TEST(Spdx, ExpressionsExpandToAlternatives) {
  auto a = *ParseSpdxExpression("MIT");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].licenses, std::vector<std::string>{"MIT"});
  a = *ParseSpdxExpression("(MIT OR Apache-2.0) AND LicenseRef-Llama-3.1-Community");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].licenses, (std::vector<std::string>{"MIT", "LicenseRef-Llama-3.1-Community"}));
  EXPECT_EQ(a[1].licenses, (std::vector<std::string>{"Apache-2.0", "LicenseRef-Llama-3.1-Community"}));
  a = *ParseSpdxExpression("GPL-2.0-or-later WITH Classpath-exception-2.0 OR MIT");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].exceptions, std::vector<std::string>{"Classpath-exception-2.0"});
  a = *ParseSpdxExpression("A OR B AND C");  // AND binds tighter
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1].licenses, (std::vector<std::string>{"B", "C"}));
  EXPECT_EQ(ParseSpdxExpression("Apache-2.0+")->at(0).licenses[0], "Apache-2.0");
  for (const char* bad : {"", "MIT AND", "(MIT", "MIT)", "AND MIT", "MIT OR OR Apache-2.0", "MIT WITH", "M!T"}) {
    auto r = ParseSpdxExpression(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_NE(r.status().message().find("at character"), std::string::npos);
  }
}

TEST(KnowledgeBase, ProfilesLoadAndResolveByAlias) {
  EXPECT_GE(Kb().profiles().size(), 25u);
  EXPECT_EQ(Kb().Find("llama3.1")->id, "LicenseRef-Llama-3.1-Community");
  EXPECT_EQ(Kb().Find("APACHE-2.0")->id, "Apache-2.0");
  EXPECT_EQ(Kb().Find("mrl")->id, "LicenseRef-Mistral-MRL-0.1");
  EXPECT_EQ(Kb().Find("qwen-research")->id, "LicenseRef-Qwen-Research-2024");
  EXPECT_EQ(Kb().Find("nope"), nullptr);
  // The directory loader reads the same files the binary embeds.
  auto dir = KnowledgeBase::LoadDirectory(std::string(DG_SOURCE_DIR) + "/policies/licenses");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  ASSERT_EQ((*dir)->profiles().size(), Kb().profiles().size());
  for (size_t i = 0; i < Kb().profiles().size(); ++i) EXPECT_EQ((*dir)->profiles()[i].sha256, Kb().profiles()[i].sha256);
  // The default policy file is the one compiled in.
  auto file = LoadPolicy(std::string(DG_SOURCE_DIR) + "/policies/default-policy.json");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->sha256, DefaultPolicy()->sha256);
}

TEST(MalformedInputs, ProfilesPoliciesAndJobsNameFileAndPointer) {
  testing::TempDir dir;
  // A profile missing its citation.
  json p = Kb().Find("MIT")->doc;
  p["terms"]["output_use"].erase("citation");
  testing::WriteAll(dir.File("bad.json"), p.dump());
  auto kb = KnowledgeBase::LoadDirectory(dir.path());
  ASSERT_FALSE(kb.ok());
  EXPECT_EQ(kb.status().ExitCode(), 2);
  EXPECT_NE(kb.status().message().find("bad.json"), std::string::npos);
  EXPECT_NE(kb.status().message().find("/terms/output_use"), std::string::npos) << kb.status().message();

  json job = json::parse(testing::ReadAll(ScenarioDirs()[0] + "/job.json"));
  job["use"]["distribution"] = "everywhere";
  job["teachers"][0].erase("license");
  testing::WriteAll(dir.File("job.json"), job.dump());
  auto r = testing::RunCli({"check", "--job", dir.File("job.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/use/distribution"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/teachers/0/license"), std::string::npos) << r.err;

  testing::WriteAll(dir.File("policy.json"), R"({"mode":"lenient","waivers":[{"rule":"x"}]})");
  r = testing::RunCli({"check", "--job", ScenarioDirs()[0] + "/job.json", "--policy", dir.File("policy.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/mode"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/waivers/0/"), std::string::npos) << r.err;

  job = json::parse(testing::ReadAll(ScenarioDirs()[0] + "/job.json"));
  job["teachers"][0]["license"] = "MIT AND (Apache-2.0";
  testing::WriteAll(dir.File("job2.json"), job.dump());
  r = testing::RunCli({"check", "--job", dir.File("job2.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("SPDX expression"), std::string::npos) << r.err;

  // Two teachers under one id (one MIT, one non-commercial) would share
  // their findings, waivers and recorded calls: refused, naming both.
  job = json::parse(testing::ReadAll(ScenarioDirs()[0] + "/job.json"));
  json twin = job["teachers"][0];
  twin["license"] = "CC-BY-NC-4.0";
  job["teachers"].push_back(twin);
  testing::WriteAll(dir.File("twins.json"), job.dump());
  r = testing::RunCli({"check", "--job", dir.File("twins.json")});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("/teachers/" + std::to_string(job["teachers"].size() - 1) + "/id: \"" + twin["id"].get<std::string>() +
                       "\" is already the id of /teachers/0"), std::string::npos) << r.err;

  testing::WriteAll(dir.File("job3.json"), "{\"name\": ");
  r = testing::RunCli({"check", "--job", dir.File("job3.json")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("malformed JSON"), std::string::npos);
}

TEST(CheckCommand, RecordsTheDecisionInTheLedger) {
  testing::TempDir dir;
  ASSERT_EQ(testing::RunCli({"keys", "generate", "--out", dir.File("k"), "--name", "c.example/log"}).exit_code, 0);
  ASSERT_EQ(testing::RunCli({"ledger", "init", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"),
                             "--origin", "c.example/log"}).exit_code, 0);
  const std::string job = ScenarioDirs()[0] + "/job.json";  // a denied job
  auto r = testing::RunCli({"check", "--job", job, "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key")});
  EXPECT_EQ(r.exit_code, 1);
  r = testing::RunCli({"ledger", "show", "--ledger", dir.File("l.db"), "--json"});
  ASSERT_EQ(r.exit_code, 0);
  auto line = json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(line["kind"], "decision");
  EXPECT_EQ(line["entry"]["body"]["verdict"], "deny");
  EXPECT_EQ(line["entry"]["body"]["inputs"]["job_sha256"].get<std::string>().size(), 64u);
  // An unwritable ledger fails closed: no decision is reported as made.
  r = testing::RunCli({"check", "--job", job, "--ledger", dir.File("absent.db"), "--key", dir.File("k/ledger.key")});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace dg

namespace dg {
namespace {

TEST(Detect, ModelCardFrontMatter) {
  const std::string card =
      "---\nlicense: other\nlicense_name: qwen-research\nlicense_link: https://huggingface.co/Qwen/Qwen2.5-3B/blob/main/LICENSE\n"
      "base_model:\n  - Qwen/Qwen2.5-3B\ntags: [text-generation]\n---\n# Qwen2.5-3B\n";
  auto d = DetectFromModelCard(card, "README.md", Kb());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->license, "LicenseRef-Qwen-Research-2024");
  EXPECT_EQ(d->status, DetectionStatus::kIdentified);
  EXPECT_EQ(d->base_models, std::vector<std::string>{"Qwen/Qwen2.5-3B"});
  d = DetectFromModelCard("---\nlicense: llama3.1\n---\n", "c", Kb());
  EXPECT_EQ(d->license, "LicenseRef-Llama-3.1-Community");
  d = DetectFromModelCard("---\nlicense: something-new\n---\n", "c", Kb());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->license.empty());
  auto bad = DetectFromModelCard("---\nlicense: [unclosed\n---\n", "card.md", Kb());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("card.md: line"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(DetectFromModelCard("# no front matter\n", "c", Kb()).ok());
  EXPECT_FALSE(DetectFromModelCard("---\nlicense: mit\n", "c", Kb()).ok());
}

TEST(Detect, LicenseTexts) {
  // Debian ships the Apache-2.0 text: identified by matching it whole.
  const std::string apache = testing::ReadAll("/usr/share/common-licenses/Apache-2.0");
  if (!apache.empty()) {
    Detection d = DetectFromText(apache, "Apache-2.0", Kb());
    EXPECT_EQ(d.license, "Apache-2.0");
    EXPECT_EQ(d.status, DetectionStatus::kIdentified) << ToJson(d).dump();
    EXPECT_EQ(d.coverage, 1.0);
  }
  // Phrases of a license — its title, a clause, its notice — identify
  // nothing (issue 14 §3: this fragment was "Llama 3.1 at confidence 1.00").
  Detection d = DetectFromText(
      "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024\n“Agreement” means the terms…\n"
      "Llama 3.1 is licensed under the Llama 3.1 Community\n   License, Copyright © Meta Platforms, Inc.",
      "LICENSE", Kb());
  EXPECT_TRUE(d.license.empty()) << ToJson(d).dump();
  EXPECT_EQ(d.status, DetectionStatus::kNotIdentified);
  d = DetectFromText("Qwen RESEARCH LICENSE AGREEMENT ... FOR NON-COMMERCIAL PURPOSES ONLY ... \"Built with Qwen\"", "L", Kb());
  EXPECT_EQ(d.status, DetectionStatus::kNotIdentified);
  d = DetectFromText("This is a bespoke license nobody has seen.", "L", Kb());
  EXPECT_TRUE(d.license.empty());
  EXPECT_EQ(d.coverage, 0);
}

TEST(Detect, JobEvidenceMustAgreeWithDeclaration) {
  testing::TempDir dir;
  ::mkdir(dir.File("teacher").c_str(), 0755);
  testing::WriteAll(dir.File("teacher/README.md"), "---\nlicense: llama2\n---\n# a teacher\n");
  json job = {{"name", "evidence"},
              {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", "MIT"}, {"model_card", "teacher"}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
  testing::WriteAll(dir.File("job.json"), job.dump());
  auto dec = Evaluate(*LoadJob(dir.File("job.json")), *DefaultPolicy(), Kb(), "2026-11-29");
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(dec->verdict, Verdict::kNeedsReview);
  EXPECT_EQ(ToJson(*dec)["findings"][0]["rule"], "declared-license-mismatch");
  // Agreeing evidence adds nothing.
  testing::WriteAll(dir.File("teacher/README.md"), "---\nlicense: mit\n---\n");
  dec = Evaluate(*LoadJob(dir.File("job.json")), *DefaultPolicy(), Kb(), "2026-11-29");
  EXPECT_EQ(dec->verdict, Verdict::kAllow);
  // Evidence that identifies nothing needs review.
  testing::WriteAll(dir.File("teacher/README.md"), "---\nlicense: other\n---\n");
  dec = Evaluate(*LoadJob(dir.File("job.json")), *DefaultPolicy(), Kb(), "2026-11-29");
  EXPECT_EQ(dec->verdict, Verdict::kNeedsReview);
  // Missing evidence is bad input.
  job["teachers"][0]["model_card"] = "nowhere";
  testing::WriteAll(dir.File("job.json"), job.dump());
  EXPECT_EQ(Evaluate(*LoadJob(dir.File("job.json")), *DefaultPolicy(), Kb(), "2026-11-29").status().code(),
            Status::Code::kInvalidInput);
  // The CLI: identified → 0, not identified → 4.
  testing::WriteAll(dir.File("teacher/README.md"), "---\nlicense: gemma\nbase_model: google/gemma-2-9b\n---\n");
  auto r = testing::RunCli({"license", "detect", dir.File("teacher")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("LicenseRef-Gemma-ToU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("base_model: google/gemma-2-9b"), std::string::npos) << r.out;
  testing::WriteAll(dir.File("LICENSE"), "all rights reserved, bespoke terms");
  EXPECT_EQ(testing::RunCli({"license", "detect", dir.File("LICENSE")}).exit_code, 4);
}

}  // namespace
}  // namespace dg
