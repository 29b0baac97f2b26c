// Issue 14, "No false yes": each way that main once gave a wrong allow or
// VERIFIED, crashed, or poisoned a ledger, as a test that failed there and
// holds now. Sections follow the items.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "attest/attestation.h"
#include "attest/claim_verify.h"
#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "ledger/fsck.h"
#include "ledger/ledger.h"
#include "ledger/merkle.h"
#include "license/detect.h"
#include "license/knowledge_base.h"
#include "license/text_match.h"
#include "policy/evaluate.h"
#include "policy/gate.h"
#include "policy/job.h"
#include "record/recorded_run.h"
#include "record/run_record.h"
#include "claim_checks.h"
#include "synthetic_run.h"
#include "test_util.h"

namespace dg {
namespace {

using json = nlohmann::json;
using testing::RunCli;
using testing::TempDir;

const KnowledgeBase& Kb() { return **KnowledgeBase::Builtin(); }

json UseFacts(json extra = json::object()) {
  json use = {{"commercial", true}, {"distribution", "open_weights"}, {"purpose", "production"}};
  for (auto it = extra.begin(); it != extra.end(); ++it) use[it.key()] = it.value();
  return use;
}

StatusOr<Decision> Decide(const json& doc) {
  DG_ASSIGN_OR_RETURN(Job job, ParseJob(doc, "job.json"));
  DG_ASSIGN_OR_RETURN(Policy policy, DefaultPolicy());
  return Evaluate(job, policy, Kb(), "2026-12-01");
}

std::set<std::string> Rules(const Decision& d) {
  std::set<std::string> out;
  for (const auto& f : d.findings) out.insert(f.rule);
  return out;
}

// ---- 1. Unknown keys are errors, and unstated facts are not the permissive case ----

TEST(UnknownKeys, ATypoIsAnErrorWithTheNearestKey) {
  TempDir dir;
  json job = {{"name", "typo"},
              {"teachers", {{{"id", "llama"}, {"kind", "local"}, {"license", "llama3.1"}}}},
              {"student", {{"name", "Llama-s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mua", 900000000}})}};
  testing::WriteAll(dir.File("job.json"), job.dump());
  auto r = RunCli({"check", "--job", dir.File("job.json")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;  // was allow_with_obligations: the 700M-MAU deny was missed
  EXPECT_NE(r.err.find(dir.File("job.json")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/use/expected_mua: unknown key: did you mean `expected_mau`?"), std::string::npos) << r.err;

  job["use"] = UseFacts({{"product_categry", "general_assistant"}, {"expected_mau", 1}});
  job["teachers"] = {{{"id", "gpt"}, {"kind", "api"}, {"provider", "OpenAI"}, {"license", "LicenseRef-OpenAI-Services-Agreement"}}};
  testing::WriteAll(dir.File("job.json"), job.dump());
  r = RunCli({"check", "--job", dir.File("job.json")});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("did you mean `product_category`?"), std::string::npos) << r.err;
  // Every level is closed: a teacher, a base model, the training section.
  for (const auto& [pointer, doc] : std::vector<std::pair<std::string, json>>{
           {"/teachers/0/licence", {{"id", "t"}, {"kind", "local"}, {"license", "MIT"}, {"licence", "MIT"}}},
           {"/teachers/0/base_model/nmae", {{"id", "t"}, {"kind", "local"}, {"license", "MIT"}, {"base_model", {{"nmae", "x"}}}}}}) {
    json j = {{"name", "t"}, {"teachers", {doc}}, {"student", {{"name", "s"}, {"model_type", "llm"}}}, {"use", UseFacts()}};
    auto parsed = ParseJob(j, "job.json");
    ASSERT_FALSE(parsed.ok()) << pointer;
    EXPECT_NE(parsed.status().message().find(pointer), std::string::npos) << parsed.status().message();
  }
  json j = {{"name", "t"}, {"teachers", json::array()}, {"student", {{"name", "s"}, {"model_type", "llm"}}},
            {"use", UseFacts()}, {"training", {{"epochs", 1}, {"epoch", 2}}}};
  EXPECT_FALSE(ParseJob(j, "job.json").ok());
  j.erase("training");
  j["metadata"] = {{"ticket", "ML-42"}, {"anything", {{"goes", true}}}};  // the one free-form object
  EXPECT_TRUE(ParseJob(j, "job.json").ok());
}

TEST(UnknownKeys, PoliciesAndProfilesAreClosedToo) {
  auto p = ParsePolicy({{"mode", "enforce"}, {"unkown_license", "deny"}}, "policy.json");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("/unkown_license: unknown key: did you mean `unknown_license`?"), std::string::npos)
      << p.status().message();
  TempDir dir;
  json profile = Kb().Find("MIT")->doc;
  profile["terms"]["output_use"]["vaule"] = "allowed";
  profile.erase("texts");
  testing::WriteAll(dir.File("mit.json"), profile.dump());
  auto r = RunCli({"license", "list", "--licenses", dir.path()});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("/terms/output_use/vaule: unknown key: did you mean `value`?"), std::string::npos) << r.err;
}

TEST(Facts, AnUnstatedMauIsNotBelowTheLimit) {
  json job = {{"name", "mau"},
              {"teachers", {{{"id", "llama"}, {"kind", "local"}, {"license", "llama3.1"}}}},
              {"student", {{"name", "Llama-s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"competes_with", json::array()}})}};
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->verdict, Verdict::kNeedsReview);
  EXPECT_TRUE(Rules(*d).count("fact-not-stated"));
  ASSERT_FALSE(d->assumptions.empty());
  EXPECT_EQ(d->assumptions[0].fact, "/use/expected_mau");
  EXPECT_EQ(ToJson(*d)["assumed_facts"][0]["fact"], "/use/expected_mau");
  job["use"]["expected_mau"] = 900000000;
  d = Decide(job);
  EXPECT_EQ(d->verdict, Verdict::kDeny);
  EXPECT_TRUE(Rules(*d).count("mau-limit"));
  job["use"]["expected_mau"] = 1000;
  d = Decide(job);
  EXPECT_EQ(d->verdict, Verdict::kAllowWithObligations);
  EXPECT_TRUE(d->assumptions.empty());
}

TEST(Facts, AnUnstatedCompetingUseIsNotNonCompeting) {
  json job = {{"name", "competing"},
              {"teachers", {{{"id", "gpt"}, {"kind", "api"}, {"provider", "OpenAI"}, {"license", "LicenseRef-OpenAI-Services-Agreement"}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts()}};
  auto d = Decide(job);  // was allow: a missing product_category read as "does not compete"
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_NE(d->verdict, Verdict::kAllow);
  EXPECT_FALSE(d->AllowsTraining());
  EXPECT_TRUE(Rules(*d).count("fact-not-stated"));
  job["use"]["competes_with"] = {"OpenAI"};  // a provider
  EXPECT_EQ(Decide(job)->verdict, Verdict::kDeny);
  job["use"]["competes_with"] = {"general_assistant"};  // a product category
  EXPECT_EQ(Decide(job)->verdict, Verdict::kDeny);
  job["use"]["competes_with"] = json::array();  // stated: competes with nobody
  EXPECT_TRUE(Decide(job)->AllowsTraining());
}

TEST(Facts, DomicileAndMarketsAreSeparate) {
  // Llama 3.2's multimodal models: no rights for licensees domiciled in the EU.
  json job = {{"name", "geo"},
              {"teachers", {{{"id", "vision"}, {"kind", "local"}, {"license", "llama3.2"}, {"multimodal", true}}}},
              {"student", {{"name", "Llama-s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->verdict, Verdict::kNeedsReview) << "where the licensee is must be stated";
  job["use"]["domicile"] = {"US"};
  job["use"]["markets"] = {"US", "EU"};  // a US company with EU users
  d = Decide(job);
  EXPECT_FALSE(Rules(*d).count("fact-not-stated")) << ToJson(*d).dump();
  job["use"]["domicile"] = {"EU"};
  EXPECT_EQ(Decide(job)->verdict, Verdict::kDeny);
}

// ---- 2. A teacher's lineage ----

TEST(Lineage, AFineTuneDeclaredMoreFreelyThanItsBaseIsNotAllowed) {
  // "license: mit" on a fine-tune of Llama 3.1: once allowed with no duties.
  json job = {{"name", "lineage"},
              {"teachers", {{{"id", "ft"}, {"kind", "local"}, {"license", "MIT"},
                             {"base_model", {{"name", "meta-llama/Llama-3.1-8B-Instruct"}, {"license", "llama3.1"}, {"relation", "finetune"}}}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->AllowsTraining());
  EXPECT_TRUE(Rules(*d).count("declared-license-conflicts-with-base")) << ToJson(*d).dump();
  EXPECT_TRUE(Rules(*d).count("name-prefix"));  // Llama's naming clause binds the student
  bool cited = false;
  for (const auto& f : d->findings) {
    if (f.rule == "declared-license-conflicts-with-base") cited = f.clause.is_object() && f.license == "LicenseRef-Llama-3.1-Community";
  }
  EXPECT_TRUE(cited) << "the finding cites the ancestor's clause";
  // Renamed as the base requires, the conflict still needs review.
  job["student"]["name"] = "Llama-s";
  d = Decide(job);
  EXPECT_EQ(d->verdict, Verdict::kNeedsReview);
}

TEST(Lineage, GemmaPassThroughTermsSurviveAMitFineTune) {
  json job = {{"name", "gemma"},
              {"teachers", {{{"id", "ft"}, {"kind", "local"}, {"license", "MIT"},
                             {"base_model", {{"name", "google/gemma-2-9b-it"}, {"license", "gemma"}}}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  bool use_policy = false;
  for (const auto& o : d->obligations) use_policy |= o.kind == "use_policy" && o.license == "LicenseRef-Gemma-ToU";
  EXPECT_TRUE(use_policy) << ToJson(*d).dump();
  EXPECT_TRUE(d->student_licenses.count("LicenseRef-Gemma-ToU"));
}

TEST(Lineage, AnUnknownAncestorNeedsReviewAndChainsAnyDepth) {
  json job = {{"name", "deep"},
              {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", "Apache-2.0"},
                             {"base_model", {{"name", "acme/merge-v2"}, {"license", "Apache-2.0"},
                                             {"base_model", {{{"name", "acme/ft-v1"}, {"license", "MIT"},
                                                              {"base_model", {{"name", "someone/unknown-base"}}}}}}}}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->verdict, Verdict::kNeedsReview);
  bool found = false;
  for (const auto& f : d->findings) {
    found |= f.rule == "unknown-ancestor-license" && f.subject == "teacher:t/base:acme/merge-v2/base:acme/ft-v1/base:someone/unknown-base";
  }
  EXPECT_TRUE(found) << ToJson(*d).dump();
}

TEST(Lineage, TheModelCardsBaseModelIsRead) {
  TempDir dir;
  ::mkdir(dir.File("teacher").c_str(), 0755);
  testing::WriteAll(dir.File("teacher/README.md"),
                    "---\nlicense: mit\nbase_model: some-org/mystery-base-7b\nbase_model_relation: finetune\n---\n# a fine-tune\n");
  json job = {{"name", "card"},
              {"teachers", {{{"id", "ft"}, {"kind", "local"}, {"license", "MIT"}, {"model_card", "teacher"}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  testing::WriteAll(dir.File("job.json"), job.dump());
  auto r = RunCli({"check", "--job", dir.File("job.json"), "--json"});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;  // was 0: the card's base_model was ignored
  EXPECT_NE(r.out.find("unknown-ancestor-license"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("some-org/mystery-base-7b"), std::string::npos);
}

// ---- 3. No license text is identified from a phrase ----

constexpr const char* kMit =
    "MIT License\n\nCopyright (c) 2025 Example Corp\n\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    "of this software and associated documentation files (the \"Software\"), to deal\n"
    "in the Software without restriction, including without limitation the rights\n"
    "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
    "copies of the Software, and to permit persons to whom the Software is\n"
    "furnished to do so, subject to the following conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all\n"
    "copies or substantial portions of the Software.\n\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
    "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
    "FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n"
    "AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n"
    "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
    "OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\n"
    "SOFTWARE.\n";

TEST(Detection, TheMitTextIsIdentifiedWholeAndAModifiedOneIsNot) {
  Detection d = DetectFromText(kMit, "LICENSE", Kb());
  ASSERT_EQ(d.status, DetectionStatus::kIdentified) << ToJson(d).dump();
  EXPECT_EQ(d.license, "MIT");
  // Reflowed, re-cased, with a different holder and typographic quotes: the same license.
  std::string variant = kMit;
  variant.replace(variant.find("2025 Example Corp"), 17, "2019-2024 Someone Else <a@b.c>");
  for (size_t at; (at = variant.find("\"Software\"")) != std::string::npos;) variant.replace(at, 10, "\xE2\x80\x9CSoftware\xE2\x80\x9D");
  for (char& c : variant) {
    if (c == '\n') c = ' ';
  }
  EXPECT_EQ(DetectFromText(variant, "LICENSE", Kb()).status, DetectionStatus::kIdentified);
  // A "Modified MIT License" (issue 14 §3): MIT plus a display duty. A KB
  // without its own reference must call it a modified MIT, never MIT.
  const std::string modified = std::string(kMit) +
                               "\nOur only modification part is that, if the Software (or any derivative works thereof) is used for "
                               "any of your commercial products or services that have more than 100 million monthly active users, "
                               "you shall prominently display \"Example\" on the user interface of such product or service.\n";
  TempDir dir;
  ::mkdir(dir.File("texts").c_str(), 0755);
  json mit = Kb().Find("MIT")->doc;
  ASSERT_TRUE(mit.contains("texts")) << "the MIT profile must ship its reference text";
  for (const auto& t : Kb().Find("MIT")->texts) testing::WriteAll(dir.File("texts/" + t.file), t.content);
  testing::WriteAll(dir.File("mit.json"), mit.dump());
  auto only_mit = KnowledgeBase::LoadDirectory(dir.path());
  ASSERT_TRUE(only_mit.ok()) << only_mit.status().ToString();
  d = DetectFromText(modified, "LICENSE", **only_mit);
  EXPECT_EQ(d.status, DetectionStatus::kModified) << ToJson(d).dump();
  EXPECT_EQ(d.license, "MIT");
  EXPECT_GE(d.coverage, 0.99);
  ASSERT_FALSE(d.differences.empty());
  EXPECT_NE(d.differences[0].find("adds"), std::string::npos);
  EXPECT_NE(d.differences[0].find("our only modification part is that"), std::string::npos) << d.differences[0];
  // The CLI: exit 4, the coverage and what differs printed.
  testing::WriteAll(dir.File("LICENSE"), modified);
  auto r = RunCli({"license", "detect", dir.File("LICENSE"), "--licenses", dir.path()});
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_NE(r.out.find("MODIFIED version of MIT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("adds"), std::string::npos) << r.out;
}

TEST(Detection, PhrasesTitlesAndInventionsIdentifyNothing) {
  for (const std::string& text : std::vector<std::string>{
           "This model is released for research purposes only under our research license.",  // was Mistral MRL
           "Licensed under terms based on the Apache License, Version 2.0, with additional restrictions.",  // was Apache-2.0
           "Free Model License\nYou may use this model.\nNo warranty.",  // three made-up lines: was 1.00
           "Llama 3.1 Community License Agreement\nLlama 3.1 Version Release Date: July 23, 2024"}) {
    Detection d = DetectFromText(text, "LICENSE", Kb());
    EXPECT_NE(d.status, DetectionStatus::kIdentified) << text << "\n" << ToJson(d).dump();
    EXPECT_TRUE(d.license.empty() || d.status == DetectionStatus::kModified) << text;
  }
  TempDir dir;
  testing::WriteAll(dir.File("LICENSE"), "Licensed under terms based on the Apache License, Version 2.0.");
  EXPECT_EQ(RunCli({"license", "detect", dir.File("LICENSE")}).exit_code, 4);
}

TEST(Detection, EveryShippedReferenceTextIsPinnedAndIdentifiesItself) {
  size_t texts = 0;
  for (const auto& p : Kb().profiles()) {
    for (const auto& t : p.texts) {
      ++texts;
      EXPECT_EQ(HexEncode(Sha256(t.content)), t.sha256) << t.file;
      ASSERT_TRUE(t.Compiled().ok()) << t.file << ": " << t.Compiled().status().ToString();
      if (t.spdx_template) continue;  // a template is matched by the texts it stands for
      Detection d = DetectFromText(t.content, t.file, Kb(), EvidenceRole::kWeightsLicense);
      // Identified as its profile — or, where two profiles ship the same
      // text, as neither (several match equally).
      if (d.status == DetectionStatus::kIdentified) {
        EXPECT_EQ(d.license, p.id) << t.file;
      } else {
        EXPECT_FALSE(d.runners_up.empty()) << t.file << " does not identify itself: " << ToJson(d).dump();
      }
    }
  }
  EXPECT_GE(texts, 10u);
}

// Every quote a profile cites must be in a shipped reference text (word for
// word once normalised; "..." separates the parts of an elided quote) — for
// the profiles whose publisher's text is shipped. A citation of a model card
// or README, or a paraphrase, is not a quote of the license text.
// Words of a text as written: lower case, every run of other characters one space.
// (Typographic quotes, dashes and the copyright sign, E2 80 xx and C2 A9, count as punctuation.)
std::string PlainWords(const std::string& s) {
  std::string out = " ";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    const bool typographic = (ch == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) ||
                             (ch == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA9);
    if (typographic) {
      i += ch == 0xE2 ? 2 : 1;
      if (out.back() != ' ') out.push_back(' ');
    } else if (std::isalnum(ch) || ch >= 0x80) {
      out.push_back(static_cast<char>(std::tolower(ch)));
    } else if (out.back() != ' ') {
      out.push_back(' ');
    }
  }
  if (out.back() != ' ') out.push_back(' ');
  return out;
}

TEST(Detection, CitedQuotesAreInTheShippedTexts) {
  std::vector<std::string> all;
  for (const auto& p : Kb().profiles()) {
    for (const auto& t : p.texts) all.push_back(PlainWords(t.content));
  }
  auto contains = [&all](const std::string& part) {
    for (const auto& text : all) {
      if (text.find(part) != std::string::npos) return true;
    }
    return false;
  };
  size_t checked = 0;
  for (const auto& p : Kb().profiles()) {
    if (p.texts.empty()) continue;
    for (auto it = p.doc["terms"].begin(); it != p.doc["terms"].end(); ++it) {
      const json& c = it.value()["citation"];
      const std::string source = c.value("source", "");
      if (c.value("paraphrase", false) || source.find("MODEL_CARD") != std::string::npos || source.find("README") != std::string::npos ||
          source.find("huggingface.co") != std::string::npos) {
        continue;
      }
      std::string quote = c.value("quote", "");
      for (size_t at; (at = quote.find("\xE2\x80\xA6")) != std::string::npos;) quote.replace(at, 3, "...");
      size_t from = 0;
      while (from <= quote.size()) {
        size_t dots = quote.find("...", from);
        const std::string part = quote.substr(from, dots == std::string::npos ? std::string::npos : dots - from);
        const std::string words = PlainWords(part);
        if (words != " ") {
          ++checked;
          EXPECT_TRUE(contains(words)) << p.id << " /terms/" << it.key() << ": \"" << part << "\" is not in any shipped text";
        }
        if (dots == std::string::npos) break;
        from = dots + 3;
      }
    }
  }
  EXPECT_GT(checked, 50u);
}

TEST(Detection, ModelDirectoriesWeightsLicenseDecides) {
  TempDir dir;
  const std::string m = dir.File("model");
  ::mkdir(m.c_str(), 0755);
  testing::WriteAll(m + "/LICENSE-CODE", kMit);
  testing::WriteAll(m + "/LICENSE-MODEL", "Our own model license. You may use the model for anything we like.");
  auto found = DetectPath(m, Kb());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 2u);
  std::map<std::string, const Detection*> by_role;
  for (const auto& d : *found) by_role[EvidenceRoleName(d.role)] = &d;
  ASSERT_TRUE(by_role.count("code_license") && by_role.count("weights_license"));
  EXPECT_EQ(by_role["code_license"]->license, "MIT");  // shown…
  EXPECT_EQ(GoverningLicense(*found), "");            // …but the weights' license decides, and it is unknown
  EXPECT_EQ(RunCli({"license", "detect", m}).exit_code, 4);
  // A card's `license: other` + `license_name` is the hub's way to name one.
  testing::WriteAll(m + "/README.md", "---\nlicense: other\nlicense_name: falcon-llm-license\n---\n");
  ::unlink((m + "/LICENSE-MODEL").c_str());
  found = DetectPath(m, Kb());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(GoverningLicense(*found), "LicenseRef-TII-Falcon-2.0");
}

// ---- 5. verify accepts neither incomplete nor forged claims ----

class ForgedClaims : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = testing::MakeSyntheticRun(dir_.path());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    run_ = *r;
    key_ = std::make_unique<PrivateKey>(*PrivateKey::LoadPemFile(run_.key));
    vkey_ = *NoteVerifier::Parse(*ReadFile(run_.vkey));
  }
  ClaimReport Verify(const json& envelope, Ledger* ledger = nullptr) {
    auto r = VerifyClaim({{run_.model}, envelope, "bundle.json", vkey_, nullptr, ledger});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClaimReport{};
  }
  static std::set<std::string> Failed(const ClaimReport& r) { return testing::FailedChecks(r); }
  TempDir dir_;
  testing::SyntheticRun run_;
  std::unique_ptr<PrivateKey> key_;
  NoteVerifier vkey_;
};

TEST_F(ForgedClaims, ABundleWithoutItsManifestsFails) {
  auto ledger = std::move(Ledger::Open(run_.ledger, Ledger::Mode::kReadOnly)).value();
  json st = *BuildStatement(*ledger, {run_.run_id, {run_.model}});
  ASSERT_TRUE(Verify(*SignStatement(st, *key_, DsseKeyId(vkey_))).ok());
  // The key holder re-signs the statement with every dataset_manifest left
  // out (and the predicate's datasets with them): it once verified.
  json& entries = st["predicate"]["ledger"]["entries"];
  json kept = json::array();
  for (const json& e : entries) {
    if (e["role"] != "dataset_manifest") kept.push_back(e);
  }
  ASSERT_LT(kept.size(), entries.size());
  entries = kept;
  st["predicate"]["datasets"] = json::array();
  for (auto it = st["predicate"]["buildDefinition"]["resolvedDependencies"].begin();
       it != st["predicate"]["buildDefinition"]["resolvedDependencies"].end();) {
    it = (*it)["name"].get<std::string>().rfind("dataset:", 0) == 0 ? st["predicate"]["buildDefinition"]["resolvedDependencies"].erase(it) : it + 1;
  }
  ClaimReport r = Verify(*SignStatement(st, *key_, DsseKeyId(vkey_)));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Failed(r).count("facts")) << r.ToJson().dump(2);
  r = Verify(*SignStatement(st, *key_, DsseKeyId(vkey_)), ledger.get());
  EXPECT_FALSE(r.ok());
}

TEST_F(ForgedClaims, TheCommandLineWritesNoDecisionOrRunEntry) {
  for (const char* kind : {"decision", "run_start", "dataset_manifest", "teacher_call", "model", "run_end"}) {
    auto r = RunCli({"ledger", "append", "--ledger", run_.ledger, "--key", run_.key, "--kind", kind}, "{\"run\":\"x\"}");
    EXPECT_EQ(r.exit_code, 2) << kind << ": " << r.err;
    EXPECT_NE(r.err.find("written only by distillgate"), std::string::npos) << r.err;
  }
}

TEST_F(ForgedClaims, AForgedAllowIsCaughtByTheVerifiersOwnEvaluation) {
  // A key holder with their own code writes a decision that "allows" OpenAI
  // outputs into a competing general assistant, a run, and attests it.
  auto ledger = std::move(Ledger::Open(run_.ledger, Ledger::Mode::kReadWrite)).value();
  json job = {{"name", "forged"},
              {"teachers", {{{"id", "gpt"}, {"kind", "api"}, {"provider", "OpenAI"}, {"license", "LicenseRef-OpenAI-Services-Agreement"}}}},
              {"student", {{"name", "assistant"}, {"model_type", "llm"}}},
              {"use", {{"commercial", true}, {"distribution", "api_service"}, {"purpose", "production"},
                       {"product_category", "general_assistant"}, {"competes_with", {"OpenAI"}}}}};
  Job parsed = *ParseJob(job, "forged.json");
  Policy lax = *ParsePolicy({{"mode", "enforce"}, {"waivers", {{{"rule", "competing-model-ban"}, {"subject", "teacher:gpt"},
                                                                 {"reason", "we say so"}, {"approver", "us"}, {"expires", "2099-01-01"}}}}},
                            "lax.json");
  GateResult gate = *Gate::Decide(parsed, lax, Kb(), *ledger, *key_, "2026-12-01");
  ASSERT_TRUE(gate.permit.has_value()) << "the waiver lets the forger's own gate allow it";
  auto run = std::move(RecordedRun::Begin(*gate.permit, parsed, *ledger, *key_, {"distill", json::object(), 8})).value();
  ASSERT_TRUE(run->Append("model", {{"sha256", HexEncode(*Sha256File(run_.model))}, {"student", "assistant"}, {"metrics", json::object()}}).ok());
  ASSERT_TRUE(run->Complete({{"teacher_calls", 0}, {"teacher_calls_root", Base64Encode(EmptyRootHash())},
                             {"model_sha256", HexEncode(*Sha256File(run_.model))}}).ok());
  json st = *BuildStatement(*ledger, {run->id(), {run_.model}});
  ClaimReport r = Verify(*SignStatement(st, *key_, DsseKeyId(vkey_)));
  EXPECT_FALSE(r.ok());  // signed, included, consistent — and still not allowed
  EXPECT_TRUE(Failed(r).count("policy")) << r.ToJson().dump(2);
  bool listed = false;
  for (const auto& c : r.checks) listed |= c.name == "declared-facts" && c.detail.find("/use/competes_with") != std::string::npos;
  EXPECT_TRUE(listed) << "verify says which facts it took on the key holder's word";
}

// ---- 6. Inputs that crashed the tool or poisoned the ledger ----

TEST(HostileInput, DeepJsonIsRefusedEverywhere) {
  TempDir dir;
  const std::string deep = std::string(40000, '[') + std::string(40000, ']');
  const std::string deep_obj = "{\"a\":" + deep + "}";
  testing::WriteAll(dir.File("deep.json"), deep_obj);
  ASSERT_EQ(RunCli({"keys", "generate", "--out", dir.File("k"), "--name", "deep.example/l"}).exit_code, 0);
  ASSERT_EQ(RunCli({"ledger", "init", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"), "--origin", "deep.example/l"}).exit_code, 0);
  const std::vector<std::vector<std::string>> commands = {
      {"ledger", "append", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"), "--kind", "note", "--json", dir.File("deep.json")},
      {"check", "--job", dir.File("deep.json")},
      {"check", "--job", dir.File("deep.json"), "--policy", dir.File("deep.json")},
      {"proof", "verify", "--proof", dir.File("deep.json"), "--vkey", dir.File("k/ledger.vkey")},
      {"verify", "--model", dir.File("deep.json"), "--bundle", dir.File("deep.json"), "--vkey", dir.File("k/ledger.vkey")},
  };
  for (const auto& c : commands) {
    auto r = RunCli(c);
    EXPECT_FALSE(r.signaled) << c[0] << " " << c[1] << " crashed";
    EXPECT_EQ(r.exit_code, 2) << c[0] << " " << c[1] << ": " << r.err;
  }
  EXPECT_FALSE(Canonicalize(json::parse(std::string(300, '[') + std::string(300, ']'))).ok());
  EXPECT_FALSE(IsCanonicalJson(std::string(300, '[') + std::string(300, ']')));
  EXPECT_TRUE(IsCanonicalJson(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']')));
  EXPECT_TRUE(ParseJsonStrict(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']'), "d").ok());
  EXPECT_FALSE(ParseJsonStrict(std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'), "d").ok());
}

TEST(HostileInput, NumbersThatCannotBeCanonicalAreRefusedNotRecorded) {
  TempDir dir;
  ASSERT_EQ(RunCli({"keys", "generate", "--out", dir.File("k"), "--name", "num.example/l"}).exit_code, 0);
  ASSERT_EQ(RunCli({"ledger", "init", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"), "--origin", "num.example/l"}).exit_code, 0);
  for (const char* body : {"{\"x\":1e17}", "{\"x\":84888848444444444.8}", "{\"x\":-9007199254740993.0}", "{\"x\":9007199254740992}"}) {
    auto r = RunCli({"ledger", "append", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"), "--kind", "note"}, body);
    EXPECT_EQ(r.exit_code, 2) << body << ": " << r.out;
  }
  // Exact ones are fine, and every entry that was appended verifies.
  for (const char* body : {"{\"x\":1e21}", "{\"x\":9007199254740991}", "{\"x\":0.1}", "{\"x\":-5e-324}"}) {
    EXPECT_EQ(RunCli({"ledger", "append", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"), "--kind", "note"}, body).exit_code, 0) << body;
  }
  EXPECT_EQ(RunCli({"ledger", "verify", "--ledger", dir.File("l.db"), "--pubkey", dir.File("k/ledger.vkey")}).exit_code, 0);
  // check --ledger records the job document: a number in it is held to the same rule.
  json job = {{"name", "n"}, {"metadata", {{"budget", 1e17}}}, {"teachers", json::array()},
              {"student", {{"name", "s"}, {"model_type", "llm"}}}, {"use", UseFacts()}};
  testing::WriteAll(dir.File("job.json"), job.dump());
  EXPECT_EQ(RunCli({"check", "--job", dir.File("job.json"), "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key")}).exit_code, 2);
  EXPECT_EQ(RunCli({"ledger", "verify", "--ledger", dir.File("l.db"), "--pubkey", dir.File("k/ledger.vkey")}).exit_code, 0);
}

TEST(HostileInput, TrailingBytesAfterANulAreRefused) {
  std::string text = "{\"a\":1}";
  text.push_back('\0');
  text += "junk";
  EXPECT_FALSE(ParseJsonStrict(text, "x").ok());
  TempDir dir;
  testing::WriteAll(dir.File("p.json"), text);
  testing::WriteAll(dir.File("v"), "x+00000000+AAAA\n");
  EXPECT_EQ(RunCli({"proof", "verify", "--proof", dir.File("p.json"), "--vkey", dir.File("v")}).exit_code, 2);
}

TEST(HostileInput, IntegerArgumentsAreRangeChecked) {
  TempDir dir;
  ASSERT_EQ(RunCli({"keys", "generate", "--out", dir.File("k"), "--name", "arg.example/l"}).exit_code, 0);
  ASSERT_EQ(RunCli({"ledger", "init", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"), "--origin", "arg.example/l"}).exit_code, 0);
  ASSERT_EQ(RunCli({"ledger", "append", "--ledger", dir.File("l.db"), "--key", dir.File("k/ledger.key"), "--kind", "note"}, "{\"a\":1}").exit_code, 0);
  for (const char* index : {"-1", "18446744073709551616", "18446744073709551615", "1e3", " 1"}) {
    auto r = RunCli({"ledger", "prove", "--ledger", dir.File("l.db"), "--index", index});
    EXPECT_EQ(r.exit_code, 2) << index;
    EXPECT_NE(r.err.find("expected an integer"), std::string::npos) << index << ": " << r.err;
  }
  auto show = RunCli({"ledger", "show", "--ledger", dir.File("l.db"), "--from", "9223372036854775807"});
  EXPECT_EQ(show.exit_code, 2) << show.out;  // once listed from 0
  EXPECT_NE(show.err.find("past the end"), std::string::npos);
  EXPECT_EQ(show.out.find("note"), std::string::npos);
  EXPECT_EQ(RunCli({"ledger", "show", "--ledger", dir.File("l.db"), "--from", "18446744073709551615"}).exit_code, 2);
  for (const char* port : {"99999", "-1", "65536"}) {
    auto r = RunCli({"serve-teacher", "--model", dir.File("none.pt"), "--port", port});
    // Built without the trainer, serve-teacher is not there at all (exit 3).
    if (r.err.find("this build has no trainer") != std::string::npos) break;
    EXPECT_EQ(r.exit_code, 2) << port << ": " << r.err;
  }
  testing::WriteAll(dir.File("empty"), "");
  EXPECT_EQ(RunCli({"ledger", "verify", "--ledger", dir.File("l.db"), "--pubkey", dir.File("k/ledger.vkey"), "--since", dir.File("empty")}).exit_code, 2);
}

TEST(HostileInput, MerkleArithmeticAtTheTopOfTheRange) {
  // Sizes of 2^63 and more once shifted by 64 (undefined; UBSan in CI).
  const uint64_t top = std::numeric_limits<uint64_t>::max();
  const Hash h = Sha256("x");
  EXPECT_FALSE(VerifyInclusion(uint64_t{1} << 63, top, h, {}, h).ok());
  EXPECT_FALSE(VerifyInclusion(0, top, h, std::vector<Hash>(64, h), h).ok());
  EXPECT_FALSE(VerifyConsistency(uint64_t{1} << 63, top, {h}, h, h).ok());
  EXPECT_FALSE(VerifyConsistency(1, top, std::vector<Hash>(64, h), h, h).ok());
}

class TranscriptInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(RunCli({"keys", "generate", "--out", dir_.File("k"), "--name", "tr.example/l"}).exit_code, 0);
    ASSERT_EQ(RunCli({"ledger", "init", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--origin", "tr.example/l"}).exit_code, 0);
    json job = {{"name", "api"},
                {"teachers", {{{"id", "oai"}, {"kind", "api"}, {"provider", "OpenAI"}, {"model", "gpt-4o"}, {"license", "MIT"},
                               {"transcript", {{"format", "exchanges"}, {"path", "ex.jsonl"}}}}}},
                {"student", {{"name", "s"}, {"model_type", "llm"}}},
                {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
    testing::WriteAll(dir_.File("job.json"), job.dump());
  }
  testing::CommandResult Record() {
    return RunCli({"transcripts", "record", "--job", dir_.File("job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--json"});
  }
  uint64_t Size() { return *(*Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly))->Size(); }
  TempDir dir_;
};

TEST_F(TranscriptInput, AnEmptyTranscriptRecordsNothing) {
  testing::WriteAll(dir_.File("ex.jsonl"), "");
  auto r = Record();  // once: a completed run of 0 calls, and VERIFIED for it
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no exchange"), std::string::npos) << r.err;
  EXPECT_EQ(Size(), 0u) << "nothing is written";
}

TEST_F(TranscriptInput, ADeepLineIsABadLineNotACrash) {
  testing::WriteAll(dir_.File("ex.jsonl"), "{\"request\":" + std::string(40000, '[') + std::string(40000, ']') + "}\n");
  auto r = Record();
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Size(), 0u);
}

TEST_F(TranscriptInput, AFailedCallIsNeverAllowed) {
  json request = {{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  json response = {{"id", "c1"}, {"object", "chat.completion"}, {"created", 1764400000}, {"model", "gpt-4o"},
                   {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "hello"}}}, {"finish_reason", "stop"}}}}};
  std::string in, out;
  for (int i = 0; i < 2; ++i) {
    in += json{{"custom_id", "r" + std::to_string(i)}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", request}}.dump() + "\n";
  }
  out += json{{"id", "b0"}, {"custom_id", "r0"}, {"response", {{"status_code", 200}, {"request_id", "q"}, {"body", response}}}, {"error", nullptr}}.dump() + "\n";
  out += json{{"id", "b1"}, {"custom_id", "r1"}, {"response", nullptr}, {"error", {{"code", "rate_limit"}, {"message", "Rate limit exceeded"}}}}.dump() + "\n";
  testing::WriteAll(dir_.File("in.jsonl"), in);
  testing::WriteAll(dir_.File("out.jsonl"), out);
  json job = json::parse(testing::ReadAll(dir_.File("job.json")));
  job["teachers"][0]["transcript"] = {{"format", "openai-batch"}, {"path", "in.jsonl"}, {"output", "out.jsonl"}};
  testing::WriteAll(dir_.File("job.json"), job.dump());
  auto r = Record();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto ledger = std::move(Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly)).value();
  int calls = 0;
  for (uint64_t i = 0; i < *ledger->Size(); ++i) {
    auto leaf = *ledger->GetLeaf(i);
    if (leaf.kind != "teacher_call") continue;
    const json body = json::parse(leaf.data)["body"];
    ++calls;
    EXPECT_EQ(body["allowed"], body["status"] == "ok") << body.dump();  // once: a failed call recorded allowed: true
  }
  EXPECT_EQ(calls, 2);
}

// ---- 7. The ledger file replaced during a run ----

TEST(LedgerIdentity, AReplacedLedgerStopsAppendsAndLosesNothing) {
  TempDir dir;
  const PrivateKey key = *PrivateKey::FromSeed(std::string(32, 'r'));
  ASSERT_TRUE(Ledger::Init(dir.File("run.ledger"), key, "id.example/l").ok());
  ASSERT_TRUE(Ledger::Init(dir.File("other.db"), key, "id.example/l").ok());
  auto ledger = std::move(Ledger::Open(dir.File("run.ledger"), Ledger::Mode::kReadWrite)).value();
  ASSERT_TRUE(ledger->Append({*LedgerEntry::Make("note", {{"n", 1}})}, key).ok());
  ASSERT_TRUE(ledger->Append({*LedgerEntry::Make("note", {{"n", 2}})}, key).ok());
  ASSERT_EQ(::rename(dir.File("other.db").c_str(), dir.File("run.ledger").c_str()), 0);  // mv other.db run.ledger
  auto r = ledger->Append({*LedgerEntry::Make("note", {{"n", 3}})}, key);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIoError);
  EXPECT_EQ(r.status().ExitCode(), 3);
  EXPECT_NE(r.status().message().find("replaced"), std::string::npos) << r.status().message();
  // What was committed before is saved beside the path, and verifies.
  const std::string marker = "saved in ";
  const size_t at = r.status().message().find(marker);
  ASSERT_NE(at, std::string::npos) << r.status().message();
  const std::string rescued = r.status().message().substr(at + marker.size());
  auto copy = Ledger::Open(rescued, Ledger::Mode::kReadOnly);
  ASSERT_TRUE(copy.ok()) << rescued << ": " << copy.status().ToString();
  EXPECT_EQ(*(*copy)->Size(), 2u);
  auto report = Fsck(**copy, *NoteVerifier::Make("id.example/l", key.public_key()), {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->problem_count, 0u);
  // The file now at the path is the other ledger, and stays so once the
  // old connection is gone: its write-ahead log (named by the path) must not
  // be read as the newcomer's.
  ledger.reset();
  {
    auto now = Ledger::Open(dir.File("run.ledger"), Ledger::Mode::kReadOnly);
    ASSERT_TRUE(now.ok()) << now.status().ToString();
    EXPECT_EQ(*(*now)->Size(), 0u);
  }
  {
    auto now = Ledger::Open(dir.File("run.ledger"), Ledger::Mode::kReadWrite);
    ASSERT_TRUE(now.ok()) << now.status().ToString();
    EXPECT_EQ(*(*now)->Size(), 0u);
    auto report = Fsck(**now, *NoteVerifier::Make("id.example/l", key.public_key()), {});
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->problem_count, 0u);
  }
  // A removed file stops appends just as well.
  auto fresh = std::move(Ledger::Open(dir.File("run.ledger"), Ledger::Mode::kReadWrite)).value();
  ASSERT_EQ(::unlink(dir.File("run.ledger").c_str()), 0);
  EXPECT_EQ(fresh->Append({*LedgerEntry::Make("note", {{"n", 4}})}, key).status().code(), Status::Code::kIoError);
}

TEST(KeyFiles, KeysOthersCouldReplaceAreRefused) {
  TempDir dir;
  const PrivateKey key = *PrivateKey::FromSeed(std::string(32, 'q'));
  ::mkdir(dir.File("shared").c_str(), 0775);
  ::chmod(dir.File("shared").c_str(), 0777);  // group- and world-writable, no sticky bit
  ASSERT_TRUE(key.SavePemFile(dir.File("shared/ledger.key")).ok());
  auto k = PrivateKey::LoadPemFile(dir.File("shared/ledger.key"));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("group or others may write"), std::string::npos) << k.status().message();
  ::chmod(dir.File("shared").c_str(), 01777);  // like /tmp: others cannot replace our files
  EXPECT_TRUE(PrivateKey::LoadPemFile(dir.File("shared/ledger.key")).ok());
  if (::geteuid() != 0) {
    GTEST_SKIP() << "not root: a key file owned by another user cannot be made here (the directory checks above ran)";
  }
  ::chmod(dir.File("shared").c_str(), 0755);
  ASSERT_EQ(::chown(dir.File("shared/ledger.key").c_str(), 4242, 4242), 0);
  k = PrivateKey::LoadPemFile(dir.File("shared/ledger.key"));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("owned by uid 4242"), std::string::npos) << k.status().message();
}

// ---- 8. A second red-team pass ----

TEST(SecondPass, AClauseHiddenInACopyrightLineIsNotIgnored) {
  // SPDX guideline 9 lets a copyright notice differ; a "notice" that says
  // what the licensee may not do is a clause.
  for (const std::string& notice : {std::string("Copyright (c) 2025 Example Corp. You may not use the Software to train models."),
                                    std::string("(c) 2025 Example Corp; outputs may not be used for distillation")}) {
    std::string text = kMit;
    text.replace(text.find("Copyright (c) 2025 Example Corp"), 31, notice);
    Detection d = DetectFromText(text, "LICENSE", Kb());
    EXPECT_NE(d.status, DetectionStatus::kIdentified) << notice << "\n" << ToJson(d).dump();
  }
  // A long holder line with no operative word is still a notice.
  std::string text = kMit;
  text.replace(text.find("Copyright (c) 2025 Example Corp"), 31,
               "Copyright (c) 2019, 2020, 2021 The Example Authors, Example Corp and contributors");
  EXPECT_EQ(DetectFromText(text, "LICENSE", Kb()).status, DetectionStatus::kIdentified);
}

TEST(SecondPass, ReplaceablePartsOfATemplateHoldNoClause) {
  // Apache-2.0's appendix has replaceable parts ([yyyy] [name of copyright
  // owner]): they stand for a name and a date, not for a sentence.
  const LicenseProfile* apache = Kb().Find("Apache-2.0");
  ASSERT_NE(apache, nullptr);
  std::string ref;
  for (const auto& t : apache->texts) {
    if (t.file == "apache-2.0.txt") ref = t.content;
  }
  ASSERT_FALSE(ref.empty()) << "Apache-2.0 ships the ASF's text";
  ASSERT_EQ(DetectFromText(ref, "LICENSE", Kb()).status, DetectionStatus::kIdentified);
  const size_t at = ref.find("[yyyy] [name of copyright owner]");
  ASSERT_NE(at, std::string::npos);
  std::string filled = ref;
  filled.replace(at, 32, "2025 Example Corp");
  EXPECT_EQ(DetectFromText(filled, "LICENSE", Kb()).status, DetectionStatus::kIdentified);
  std::string hidden = ref;
  hidden.replace(at, 32, "2025 Example Corp, and you may not use the Work or its outputs to train any other model");
  Detection d = DetectFromText(hidden, "LICENSE", Kb());
  EXPECT_NE(d.status, DetectionStatus::kIdentified) << ToJson(d).dump();
}

json GeoJob(const std::string& license, json domicile) {
  return {{"name", "geo"},
          {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", license}}}},
          {"student", {{"name", "s"}, {"model_type", "llm"}}},
          {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}, {"domicile", domicile}, {"markets", {"US"}}})}};
}

TEST(SecondPass, ACountryIsInItsUnion) {
  // Hunyuan's territory excludes the EU, the UK and South Korea: a licensee
  // in Germany or Great Britain was once "not in the EU / UK".
  for (const char* where : {"DE", "de", "GB", "United Kingdom", "KR", "EU"}) {
    auto d = Decide(GeoJob("LicenseRef-Tencent-Hunyuan-Community", {where}));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->verdict, Verdict::kDeny) << where << ": " << ToJson(*d).dump();
    EXPECT_TRUE(Rules(*d).count("geographic-restriction")) << where;
  }
  auto d = Decide(GeoJob("LicenseRef-Tencent-Hunyuan-Community", {"US"}));
  EXPECT_FALSE(Rules(*d).count("geographic-restriction")) << ToJson(*d).dump();
}

TEST(SecondPass, AnUnstatedMultimodalFlagIsNotTextOnly) {
  // Llama 3.2's multimodal models grant no rights to EU licensees; a teacher
  // the job does not say is text-only may be one of them.
  json job = GeoJob("llama3.2", {"DE"});
  job["student"]["name"] = "Llama-s";
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->AllowsTraining()) << ToJson(*d).dump();  // was allow: multimodal defaulted to false
  EXPECT_TRUE(Rules(*d).count("fact-not-stated"));
  bool named = false;
  for (const auto& a : d->assumptions) named |= a.fact == "/teachers/0/multimodal";
  EXPECT_TRUE(named) << ToJson(*d).dump();
  job["teachers"][0]["multimodal"] = false;
  d = Decide(job);
  EXPECT_TRUE(d->AllowsTraining()) << ToJson(*d).dump();
  job["teachers"][0]["multimodal"] = true;
  d = Decide(job);
  EXPECT_EQ(d->verdict, Verdict::kDeny);
  EXPECT_TRUE(Rules(*d).count("geographic-restriction"));
  // Outside the EU the flag does not matter, stated or not.
  job["teachers"][0].erase("multimodal");
  job["use"]["domicile"] = {"US"};
  EXPECT_TRUE(Decide(job)->AllowsTraining());
}

TEST(SecondPass, PolicyListsNameLicensesByAliasAndUnknownNamesAreFindings) {
  json job = {{"name", "deny"},
              {"teachers", {{{"id", "llama"}, {"kind", "local"}, {"license", "LicenseRef-Llama-3.1-Community"}}}},
              {"student", {{"name", "Llama-s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  Job parsed = *ParseJob(job, "job.json");
  ASSERT_TRUE(Evaluate(parsed, *DefaultPolicy(), Kb(), "2026-12-01")->AllowsTraining());
  // "llama3.1" is how the hub and the job name it: the denial once missed the id.
  auto d = Evaluate(parsed, *ParsePolicy({{"mode", "enforce"}, {"denied_licenses", {"llama3.1"}}}, "p.json"), Kb(), "2026-12-01");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->verdict, Verdict::kDeny);
  EXPECT_TRUE(Rules(*d).count("policy-denied-license"));
  d = Evaluate(parsed, *ParsePolicy({{"mode", "enforce"}, {"allowed_licenses", {"llama-3.1"}}}, "p.json"), Kb(), "2026-12-01");
  EXPECT_TRUE(d->AllowsTraining()) << ToJson(*d).dump();
  // A denial of a name no profile has would deny nothing, silently.
  d = Evaluate(parsed, *ParsePolicy({{"mode", "enforce"}, {"denied_licenses", {"lama3.1"}}}, "p.json"), Kb(), "2026-12-01");
  EXPECT_EQ(d->verdict, Verdict::kNeedsReview);
  ASSERT_TRUE(Rules(*d).count("policy-names-unknown-license"));
  for (const auto& f : d->findings) {
    if (f.rule == "policy-names-unknown-license") EXPECT_NE(f.message.find("did you mean"), std::string::npos) << f.message;
  }
}

TEST(SecondPass, CompetingWithAModelFamilyIsCompeting) {
  // Llama 2 (1.b.v): outputs may not improve any other large language model.
  // A job that says it competes with "Llama" competes with the teacher.
  json job = {{"name", "family"},
              {"teachers", {{{"id", "gpt"}, {"kind", "api"}, {"provider", "OpenAI"}, {"license", "LicenseRef-OpenAI-Services-Agreement"}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"competes_with", {"gpt"}}})}};
  const LicenseProfile* openai = Kb().Find("LicenseRef-OpenAI-Services-Agreement");
  ASSERT_NE(openai, nullptr);
  ASSERT_FALSE(openai->family.empty());
  job["use"]["competes_with"] = {openai->family};
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->verdict, Verdict::kDeny) << ToJson(*d).dump();  // was allow: only the provider's name counted
  EXPECT_TRUE(Rules(*d).count("competing-model-ban"));
}

TEST(SecondPass, AnOrDoesNotShedTheBasesTerms) {
  // "MIT OR Apache-2.0" on a Llama 3.1 fine-tune: neither alternative
  // carries the base's license, and one with it (llama3.1 OR MIT) lets the
  // licensee pick MIT — not covered either.
  for (const char* declared : {"MIT OR Apache-2.0", "LicenseRef-Llama-3.1-Community OR MIT"}) {
    json job = {{"name", "or"},
                {"teachers", {{{"id", "ft"}, {"kind", "local"}, {"license", declared},
                               {"base_model", {{"name", "meta-llama/Llama-3.1-8B-Instruct"}, {"license", "llama3.1"}}}}}},
                {"student", {{"name", "Llama-s"}, {"model_type", "llm"}}},
                {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
    auto d = Decide(job);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_FALSE(d->AllowsTraining()) << declared << ": " << ToJson(*d).dump();
    EXPECT_TRUE(Rules(*d).count("declared-license-conflicts-with-base")) << declared;
  }
}

TEST(SecondPass, AHubIdTheKnowledgeBaseKnowsKeepsItsLicense) {
  // meta-llama's own model declared MIT: the publisher's license applies.
  json job = {{"name", "hub"},
              {"teachers", {{{"id", "llama"}, {"kind", "local"}, {"license", "MIT"}, {"model", "meta-llama/Llama-3.1-8B-Instruct"}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  auto d = Decide(job);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->AllowsTraining()) << ToJson(*d).dump();  // was allow, no obligations
  EXPECT_TRUE(Rules(*d).count("declared-license-mismatch"));
  EXPECT_TRUE(Rules(*d).count("name-prefix")) << "Llama 3.1's terms are applied";
  // The same for a student's base model and a dataset's generator.
  json base = {{"name", "base"},
               {"teachers", json::array()},
               {"student", {{"name", "s"}, {"model_type", "llm"},
                            {"base_model", {{"name", "meta-llama/Llama-3.1-8B"}, {"license", "Apache-2.0"}}}}},
               {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  d = Decide(base);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(Rules(*d).count("declared-license-mismatch")) << ToJson(*d).dump();
  json gen = {{"name", "gen"},
              {"teachers", json::array()},
              {"datasets", {{{"id", "synth"}, {"license", "MIT"},
                             {"generated_by", {{"model", "meta-llama/Llama-3.1-70B-Instruct"}, {"license", "MIT"}}}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  d = Decide(gen);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(Rules(*d).count("declared-license-mismatch")) << ToJson(*d).dump();
}

TEST(SecondPass, EvidenceTheCardDisagreesWithIsNotRead) {
  // A byte-order mark before the front matter: the card was once "no front matter".
  auto d = DetectFromModelCard("\xEF\xBB\xBF---\nlicense: llama3.1\n---\n# model\n", "README.md", Kb());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->status, DetectionStatus::kIdentified);
  EXPECT_EQ(d->license, "LicenseRef-Llama-3.1-Community");
  // The same key twice: YAML readers differ on which one wins.
  d = DetectFromModelCard("---\nlicense: mit\nlicense: llama3.1\n---\n", "README.md", Kb());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("`license` twice"), std::string::npos) << d.status().message();
  // Several licenses: which governs is for a person to say.
  d = DetectFromModelCard("---\nlicense:\n- mit\n- llama3.1\n---\n", "README.md", Kb());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_NE(d->status, DetectionStatus::kIdentified) << ToJson(*d).dump();
  // A FIFO named LICENSE would block a read forever.
  TempDir dir;
  const std::string m = dir.File("model");
  ::mkdir(m.c_str(), 0755);
  ASSERT_EQ(::mkfifo((m + "/LICENSE").c_str(), 0644), 0);
  auto found = DetectPath(m, Kb());
  ASSERT_FALSE(found.ok());
  EXPECT_NE(found.status().message().find("not a regular file"), std::string::npos) << found.status().message();
  ::unlink((m + "/LICENSE").c_str());
  // `license: mit` beside Llama's NOTICE: the directory contradicts itself.
  testing::WriteAll(m + "/README.md", "---\nlicense: mit\n---\n");
  found = DetectPath(m, Kb());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(GoverningLicense(*found), "MIT");
  testing::WriteAll(m + "/NOTICE",
                    "Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright \xC2\xA9 Meta Platforms, Inc. All Rights Reserved.\n");
  found = DetectPath(m, Kb());
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(GoverningLicense(*found), "");
  bool notice = false;
  for (const auto& e : *found) notice |= e.role == EvidenceRole::kNotice && e.license == "LicenseRef-Llama-3.1-Community";
  EXPECT_TRUE(notice);
}

TEST(SecondPass, TheEvidenceNarrowsAnOr) {
  // "llama3.1 OR MIT" for a model whose card says llama3.1: the MIT
  // alternative is not offered, and Llama's naming clause binds.
  TempDir dir;
  ::mkdir(dir.File("teacher").c_str(), 0755);
  testing::WriteAll(dir.File("teacher/README.md"), "---\nlicense: llama3.1\n---\n");
  json job = {{"name", "narrow"},
              {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", "LicenseRef-Llama-3.1-Community OR MIT"}, {"model_card", "teacher"}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", UseFacts({{"expected_mau", 10}, {"competes_with", json::array()}})}};
  testing::WriteAll(dir.File("job.json"), job.dump());
  auto parsed = LoadJob(dir.File("job.json"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto d = Evaluate(*parsed, *DefaultPolicy(), Kb(), "2026-12-01");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(Rules(*d).count("name-prefix")) << ToJson(*d).dump();
  EXPECT_FALSE(d->AllowsTraining());
}

TEST_F(ForgedClaims, ARunOfAnotherTeacherDatasetOrStudentIsNotTheDecidedOne) {
  // The key holder's own code opens a run from a real permit and records a
  // teacher, a dataset or a student the decision never judged.
  struct Forgery {
    const char* what;
    json teacher;
    std::string manifest_license, student;
  };
  const std::string sha = HexEncode(*Sha256File(run_.teacher));
  const std::vector<Forgery> forgeries = {
      {"another teacher", {{"id", "gpt"}, {"sha256", sha}, {"license", "LicenseRef-OpenAI-Services-Agreement"}}, "MIT", "acme-student"},
      {"the teacher relabelled", {{"id", "teacher-1"}, {"sha256", sha}, {"license", "MIT OR Apache-2.0"}}, "MIT", "acme-student"},
      {"the data relabelled", {{"id", "teacher-1"}, {"sha256", sha}, {"license", "MIT"}}, "CC-BY-NC-4.0", "acme-student"},
      {"the student renamed", {{"id", "teacher-1"}, {"sha256", sha}, {"license", "MIT"}}, "MIT", "other-student"},
  };
  auto ledger = std::move(Ledger::Open(run_.ledger, Ledger::Mode::kReadWrite)).value();
  Job parsed = *LoadJob(run_.job);
  for (const Forgery& f : forgeries) {
    GateResult gate = *Gate::Decide(parsed, *LoadPolicy(""), Kb(), *ledger, *key_, "2026-12-01");
    ASSERT_TRUE(gate.permit.has_value());
    auto run = std::move(RecordedRun::Begin(*gate.permit, parsed, *ledger, *key_,
                                            {"distill", {{"training", {{"loss", "kd"}}}, {"runtime", "synthetic"}, {"teacher", f.teacher}}, 8}))
                   .value();
    DatasetManifest m = *ManifestJsonLines("corpus", f.manifest_license, run_.data);
    ASSERT_TRUE(run->Append("dataset_manifest", m.ToEntryBody()).ok());
    const std::string model_sha = HexEncode(*Sha256File(run_.model));
    ASSERT_TRUE(run->Append("model", {{"sha256", model_sha}, {"student", f.student}, {"metrics", json::object()}}).ok());
    ASSERT_TRUE(run->Complete({{"teacher_calls", 0}, {"teacher_calls_root", Base64Encode(EmptyRootHash())}, {"model_sha256", model_sha}}).ok());
    json st = *BuildStatement(*ledger, {run->id(), {run_.model}});
    ClaimReport r = Verify(*SignStatement(st, *key_, DsseKeyId(vkey_)));
    EXPECT_FALSE(r.ok()) << f.what;
    EXPECT_TRUE(Failed(r).count("run-matches-job")) << f.what << ": " << r.ToJson().dump(2);
  }
  // The honest run passes the same check.
  json st = *BuildStatement(*ledger, {run_.run_id, {run_.model}});
  ClaimReport honest = Verify(*SignStatement(st, *key_, DsseKeyId(vkey_)));
  EXPECT_TRUE(honest.ok()) << honest.ToJson().dump(2);
}

TEST_F(ForgedClaims, ADecisionThatOmitsAnObligationFailsPolicy) {
  // The key holder decides with a knowledge base of their own, whose Llama
  // 3.1 profile has no naming duty ("Llama" at the start of the name).
  TempDir kbdir;
  ::mkdir(kbdir.File("texts").c_str(), 0755);
  for (const auto& p : Kb().profiles()) {
    json doc = p.doc;
    if (p.id == "LicenseRef-Llama-3.1-Community") {
      ASSERT_TRUE(doc["terms"].contains("name_prefix"));
      doc["terms"].erase("name_prefix");
    }
    for (const auto& t : p.texts) testing::WriteAll(kbdir.File("texts/" + t.file), t.content);
    testing::WriteAll(kbdir.File(p.id + ".json"), doc.dump());
  }
  auto own_kb = KnowledgeBase::LoadDirectory(kbdir.path());
  ASSERT_TRUE(own_kb.ok()) << own_kb.status().ToString();
  auto ledger = std::move(Ledger::Open(run_.ledger, Ledger::Mode::kReadWrite)).value();
  json job = json::parse(*ReadFile(run_.job));
  job["teachers"][0]["license"] = "llama3.1";
  job["student"]["name"] = "Llama-acme";        // the naming duty is met…
  job["use"]["distribution"] = "open_weights";  // …and applies: the student is distributed
  job["datasets"][0]["license"] = "CC-BY-4.0";  // a duty the forged decision keeps: attribution
  job["use"]["commercial"] = true;
  job["use"]["purpose"] = "production";
  testing::WriteAll(run_.job, job.dump());
  Job parsed = *LoadJob(run_.job);
  GateResult gate = *Gate::Decide(parsed, *LoadPolicy(""), **own_kb, *ledger, *key_, "2026-12-01");
  ASSERT_TRUE(gate.permit.has_value()) << ToJson(gate.decision).dump();
  ASSERT_FALSE(gate.decision.obligations.empty()) << "other duties remain: the verdict's rank is the same as this build's";
  for (const auto& o : gate.decision.obligations) ASSERT_NE(o.kind, "name_prefix");
  const std::string sha = HexEncode(*Sha256File(run_.teacher));
  auto run = std::move(RecordedRun::Begin(*gate.permit, parsed, *ledger, *key_,
                                          {"distill", {{"runtime", "synthetic"}, {"teacher", {{"id", "teacher-1"}, {"sha256", sha}, {"license", "llama3.1"}}}}, 8}))
                 .value();
  ASSERT_TRUE(run->Append("dataset_manifest", ManifestJsonLines("corpus", "CC-BY-4.0", run_.data)->ToEntryBody()).ok());
  const std::string model_sha = HexEncode(*Sha256File(run_.model));
  ASSERT_TRUE(run->Append("model", {{"sha256", model_sha}, {"student", "Llama-acme"}, {"metrics", json::object()}}).ok());
  ASSERT_TRUE(run->Complete({{"teacher_calls", 0}, {"teacher_calls_root", Base64Encode(EmptyRootHash())}, {"model_sha256", model_sha}}).ok());
  json st = *BuildStatement(*ledger, {run->id(), {run_.model}});
  ClaimReport r = Verify(*SignStatement(st, *key_, DsseKeyId(vkey_)));
  EXPECT_FALSE(r.ok());  // same verdict rank as this build's — but a duty is missing
  EXPECT_TRUE(Failed(r).count("policy")) << r.ToJson().dump(2);
  bool said = false;
  for (const auto& c : r.checks) said |= c.name == "policy" && c.detail.find("omits obligations: name_prefix") != std::string::npos;
  EXPECT_TRUE(said) << r.ToJson().dump(2);
}

TEST(KeyFiles, ALinkDoesNotLaunderAWritableDirectory) {
  TempDir dir;
  const PrivateKey key = *PrivateKey::FromSeed(std::string(32, 'l'));
  ::mkdir(dir.File("shared").c_str(), 0777);
  ::chmod(dir.File("shared").c_str(), 0777);
  ::mkdir(dir.File("safe").c_str(), 0700);
  ASSERT_TRUE(key.SavePemFile(dir.File("shared/ledger.key")).ok());
  ASSERT_EQ(::symlink(dir.File("shared/ledger.key").c_str(), dir.File("safe/ledger.key").c_str()), 0);
  auto k = PrivateKey::LoadPemFile(dir.File("safe/ledger.key"));  // the link is in a safe place; the key is not
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("group or others may write"), std::string::npos) << k.status().message();
  // A group-writable directory higher up lets its group replace the whole subtree.
  ::mkdir(dir.File("team").c_str(), 0775);
  ::chmod(dir.File("team").c_str(), 0775);
  ::mkdir(dir.File("team/mine").c_str(), 0700);
  ASSERT_TRUE(key.SavePemFile(dir.File("team/mine/ledger.key")).ok());
  k = PrivateKey::LoadPemFile(dir.File("team/mine/ledger.key"));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("group or others may write"), std::string::npos) << k.status().message();
  ::chmod(dir.File("team").c_str(), 0755);
  EXPECT_TRUE(PrivateKey::LoadPemFile(dir.File("team/mine/ledger.key")).ok());
}

}  // namespace
}  // namespace dg
