// Audit reports (JSON, Markdown, HTML, SARIF) and SBOM exports (CycloneDX,
// SPDX 3), validated against the official schemas where ../shared has them,
// and the HTML rendered in headless Chromium.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/model_dir.h"
#include <zlib.h>

#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/json_schema.h"
#include "license/detect.h"
#include "license/knowledge_base.h"
#include "core/canonical_json.h"
#include "core/dsse.h"
#include "core/encoding.h"
#include "ledger/entry.h"
#include "policy/approval.h"
#include "policy/job.h"
#include "report/eu_summary.h"
#include "report/export.h"
#include "report/job_source.h"
#include "report/render.h"
#include "report/run_report.h"
#include "synthetic_run.h"
#include "test_util.h"

namespace dg {
namespace {

using json = nlohmann::json;
using testing::MakeSyntheticRun;
using testing::SyntheticRunOptions;
using testing::TempDir;

json Report(const testing::SyntheticRun& run) {
  auto ledger = Ledger::Open(run.ledger, Ledger::Mode::kReadOnly);
  EXPECT_TRUE(ledger.ok());
  auto r = BuildRunReport(**ledger, {run.run_id, nullptr, "2026-11-29T12:00:00Z"});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*JsonSchema::Builtin("run-report.schema.json"))->Validate(*r, "report").ok());
  return r.ok() ? *r : json();
}

struct Runs {
  TempDir ok_dir, deny_dir, llama_dir;
  testing::SyntheticRun ok, deny, llama;
  Runs() {
    ok = *MakeSyntheticRun(ok_dir.path());
    SyntheticRunOptions d;
    d.teacher_license = "CC-BY-NC-4.0";
    d.commercial = true;
    d.distribution = "open_weights";
    d.purpose = "production";
    deny = *MakeSyntheticRun(deny_dir.path(), d);
    llama = *MakeSyntheticRun(llama_dir.path(), testing::LlamaPrefixedOptions());
  }
};

Runs& R() {
  static Runs runs;  // built once per process, its directories removed at exit
  return runs;
}

TEST(Report, CompletedRun) {
  json r = Report(R().ok);
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["decision"]["verdict"], "allow");
  EXPECT_EQ(r["teacher_calls"]["count"], 40);
  EXPECT_TRUE(r["teacher_calls"]["matches"].get<bool>());
  EXPECT_TRUE(r["ledger"]["verifies"].get<bool>());
  EXPECT_FALSE(r["ledger"]["key_pinned"].get<bool>());
  EXPECT_EQ(r["teachers"][0]["evidence"]["profile"], "MIT");
  EXPECT_EQ(r["teachers"][0]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(r["datasets"][0]["records"], 50);
  EXPECT_EQ(r["model"]["epochs"].size(), 2u);
  // When and by whom, and where each entry of the run is (index, leaf hash).
  EXPECT_EQ(r["decision"]["decided_at"].get<std::string>().size(), 20u);
  EXPECT_FALSE(r["decision"]["operator"]["name"].get<std::string>().empty());
  EXPECT_EQ(r["entries"][0]["ledger_index"], r["decision"]["ledger_index"]);
  EXPECT_EQ(r["entries"][0]["leaf_hash"], r["decision"]["leaf_hash"]);
  EXPECT_EQ(r["entries"].back()["kind"], "run_end");
  // The calls per teacher and over time add up to the calls recorded.
  EXPECT_EQ(r["teachers"][0]["calls"]["count"], 40);
  EXPECT_EQ(r["teachers"][0]["calls"]["items"], 40 * 8);
  uint64_t timed = 0;
  for (const json& c : r["teacher_calls"]["timeline"]["series"][0]["counts"]) timed += c.get<uint64_t>();
  EXPECT_EQ(timed, 40u);
  const std::string md = RenderMarkdown(r);
  for (const char* s : {"**allow**", "| teacher-1 | local | teacher.pt | MIT |", "40 calls recorded", "matches the run's end record", "**verifies**",
                        "not a pinned key", "81.25 %", "| Operator | ", "| Decided | 20", "## Intended use", "| distribution | internal |",
                        "| domicile | US |", "| Teacher | Calls | Items |", "| teacher-1 | 40 | 320 | 0 | 0 | 20", "| Student's base model | none declared |"}) {
    EXPECT_NE(md.find(s), std::string::npos) << s << "\n" << md;
  }
  EXPECT_EQ(md.find("not reached"), std::string::npos);
}

TEST(Report, ARefusedRunSaysNotReachedInsteadOfEmptyTables) {
  json r = Report(R().deny);
  EXPECT_FALSE(r["run_started"].get<bool>());
  const std::string md = RenderMarkdown(r);
  for (const char* s : {"Datasets: not reached", "Teacher calls: not reached", "Training: not reached"}) {
    EXPECT_NE(md.find(s), std::string::npos) << s;
  }
  EXPECT_EQ(md.find("| Dataset |"), std::string::npos);
  EXPECT_EQ(md.find("Merkle root of their entries"), std::string::npos);  // the root of no calls says nothing
  const std::string html = RenderHtml(r);
  EXPECT_NE(html.find("<p class=\"not-reached\">Teacher calls: not reached"), std::string::npos);
}

TEST(Report, DeniedRunCitesTheClauseAndTheFix) {
  json r = Report(R().deny);
  EXPECT_EQ(r["status"], "refused");
  EXPECT_EQ(r["decision"]["verdict"], "deny");
  EXPECT_FALSE(r.contains("model"));
  EXPECT_EQ(r["teacher_calls"]["count"], 0);
  bool deny_finding = false;
  for (const json& f : r["decision"]["findings"]) {
    if (f["severity"] != "deny") continue;
    deny_finding = true;
    EXPECT_TRUE(f["clause"].is_object());
    EXPECT_FALSE(f["fix"].get<std::string>().empty());
  }
  EXPECT_TRUE(deny_finding);
  const std::string md = RenderMarkdown(r);
  EXPECT_NE(md.find("**deny**"), std::string::npos);
  EXPECT_NE(md.find("How to fix:"), std::string::npos);
  EXPECT_NE(md.find("> "), std::string::npos);  // the quoted clause
  const json sarif = RenderSarif(r);
  bool error = false;
  for (const json& res : sarif["runs"][0]["results"]) error |= res["level"] == "error";
  EXPECT_TRUE(error);
}

TEST(Report, ObligationsSayWhetherTheyAreMet) {
  json r = Report(R().llama);
  EXPECT_EQ(r["decision"]["verdict"], "allow_with_obligations");
  bool prefix = false;
  for (const json& o : r["decision"]["obligations"]) {
    if (o["kind"] == "name_prefix") {
      prefix = true;
      EXPECT_EQ(o["met"], true);
    }
  }
  EXPECT_TRUE(prefix);
  EXPECT_NE(RenderMarkdown(r).find("| name_prefix |"), std::string::npos);
}

TEST(Report, HtmlIsSelfContained) {
  for (const auto* run : {&R().ok, &R().deny}) {
    const std::string html = RenderHtml(Report(*run));
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    for (const char* banned : {"<script", "<link", "src=\"http", "url(http", "@import"}) {
      EXPECT_EQ(html.find(banned), std::string::npos) << banned;
    }
  }
  const std::string html = RenderHtml(Report(R().ok));
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Training loss"), std::string::npos);
  EXPECT_NE(html.find("<polyline"), std::string::npos);
}

TEST(Report, HtmlEscapesRecordedText) {
  json r = Report(R().ok);
  r["job"]["name"] = "<img src=x onerror=alert(1)>";
  const std::string html = RenderHtml(r);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("&lt;img"), std::string::npos);
}

TEST(Report, SvgChartPlotsEveryEpoch) {
  const std::string svg = SvgLineChart("loss", {2.0, 1.0, 0.5}, "loss");
  size_t circles = 0;
  for (size_t p = svg.find("<circle"); p != std::string::npos; p = svg.find("<circle", p + 1)) ++circles;
  EXPECT_EQ(circles, 3u);
  EXPECT_NE(SvgLineChart("x", {}, "y").find("no data"), std::string::npos);
}

// ---- official schemas (../shared/schemas) ----

std::shared_ptr<const JsonSchema> Official(const std::string& rel) {
  const std::string path = testing::SharedSchema(rel);
  if (path.empty()) return nullptr;
  auto s = JsonSchema::FromFile(path);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : nullptr;
}

// SARIF's columns count UTF-16 code units (its default columnKind, which the
// log states): a non-ASCII character before an entry on its line moves the
// column by one (two for one outside the BMP), not by its UTF-8 bytes; a tab
// is one; CRLF and lone CR line ends count as line ends.
TEST(Report, JobSourceColumnsAreUtf16CodeUnits) {
  TempDir dir;
  const std::string tail =
      R"("name":"j","datasets":[{"id":"d","license":"MIT","path":"d.txt"}],"student":{"name":"s","model_type":"classifier"},)"
      R"("use":{"commercial":false,"distribution":"internal","purpose":"research"}})";
  // Counted by hand: {"metadata":{"note":"é😀"},<TAB>"teachers":[ is 40 units
  // (é one, 😀 two), so the teacher's object starts at column 41 (44 in bytes).
  const std::string one_line = "{\"metadata\":{\"note\":\"\xC3\xA9\xF0\x9F\x98\x80\"},\t\"teachers\":[{\"id\":\"t\",\"kind\":\"local\",\"license\":\"MIT\"}]," + tail;
  // Line 3: a tab and a first teacher whose id is "ü" (one unit, two bytes)
  // take 43 units, so teacher t starts at column 44 (45 in bytes).
  const std::string crlf = "{\r\n\"metadata\":{\"note\":\"\xF0\x9F\x98\x80\"},\"teachers\":[\r\n"
                           "\t{\"id\":\"\xC3\xBC\",\"kind\":\"local\",\"license\":\"MIT\"},{\"id\":\"t\",\"kind\":\"local\",\"license\":\"MIT\"}]," + tail;
  // The same with old Mac line ends (a lone CR): the same line and column.
  std::string cr = crlf;
  for (size_t at = cr.find("\r\n"); at != std::string::npos; at = cr.find("\r\n", at)) cr.erase(at + 1, 1);
  for (const auto& [text, pointer, line, column] :
       {std::tuple{one_line, "/teachers/0", 1, 41}, std::tuple{crlf, "/teachers/1", 3, 44}, std::tuple{cr, "/teachers/1", 3, 44}}) {
    ASSERT_TRUE(testing::WriteText(dir.File("job.json"), text).ok());
    auto job = ParseJob(json::parse(text), "job.json");
    ASSERT_TRUE(job.ok()) << job.status().message();
    auto located = LocateJobSource(dir.File("job.json"), job->sha256, {"teacher:t"});
    ASSERT_TRUE(located.ok()) << located.status().message();
    const json& at = (*located)["locations"]["teacher:t"];
    EXPECT_EQ(at["pointer"], pointer);
    EXPECT_EQ(at["line"], line) << text;
    EXPECT_EQ(at["column"], column) << text;
  }
  // RenderSarif says which kind of column it writes.
  EXPECT_EQ(RenderSarif(Report(R().deny))["runs"][0]["columnKind"], "utf16CodeUnits");
}

TEST(Report, SarifValidatesAgainstSarif210) {
  auto schema = Official("sarif/sarif-schema-2.1.0.json");
  if (!schema) GTEST_SKIP() << "../shared/schemas/sarif is absent (a user's clone has no ../shared)";
  for (const auto* run : {&R().ok, &R().deny, &R().llama}) {
    const json sarif = RenderSarif(Report(*run));
    Status s = schema->Validate(sarif, "report.sarif");
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  // With physical locations in the job file (report --job).
  json located = Report(R().deny);
  ASSERT_TRUE(AddJobSource(&located, R().deny.job).ok());
  const json with_regions = RenderSarif(located);
  ASSERT_TRUE(with_regions["runs"][0]["results"][0]["locations"][0].contains("physicalLocation")) << with_regions.dump(2);
  Status physical = schema->Validate(with_regions, "report.sarif");
  EXPECT_TRUE(physical.ok()) << physical.ToString();
  // The validator does reject a broken document.
  json broken = RenderSarif(Report(R().deny));
  broken["runs"][0]["results"][0]["level"] = "fatal";
  EXPECT_FALSE(schema->Validate(broken, "broken.sarif").ok());
}

TEST(Export, CycloneDxValidatesAgainstBom16) {
  auto schema = Official("cyclonedx/bom-1.6.schema.json");
  if (!schema) GTEST_SKIP() << "../shared/schemas/cyclonedx is absent (a user's clone has no ../shared)";
  for (const auto* run : {&R().ok, &R().llama}) {
    auto bom = ExportCycloneDx(Report(*run));
    ASSERT_TRUE(bom.ok()) << bom.status().ToString();
    Status s = schema->Validate(*bom, "bom.json");
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  json bom = *ExportCycloneDx(Report(R().ok));
  EXPECT_EQ(bom["metadata"]["component"]["type"], "machine-learning-model");
  EXPECT_EQ(bom["metadata"]["component"]["pedigree"]["ancestors"][0]["name"], "teacher-1");
  EXPECT_EQ(bom["components"][0]["licenses"][0]["license"]["id"], "MIT");
  json llama = *ExportCycloneDx(Report(R().llama));
  EXPECT_EQ(llama["components"][0]["licenses"][0]["license"]["name"], "LicenseRef-Llama-3.1-Community");
  bom["components"][0]["licenses"][0]["license"]["id"] = "Not-An-SPDX-Id";
  EXPECT_FALSE(schema->Validate(bom, "bom.json").ok());
}

TEST(Export, Spdx3AiProfileIsWellFormed) {
  json doc = *ExportSpdx3(Report(R().llama));
  EXPECT_EQ(doc["@context"], "https://spdx.org/rdf/3.0.1/spdx-context.jsonld");
  std::set<std::string> ids;
  std::map<std::string, json> by_id;
  for (const json& e : doc["@graph"]) {
    if (e.contains("spdxId")) {
      EXPECT_TRUE(ids.insert(e["spdxId"].get<std::string>()).second) << "duplicate " << e["spdxId"];
      by_id[e["spdxId"]] = e;
    }
  }
  std::map<std::string, int> concluded, declared;
  bool trained_on = false, descendant = false;
  for (const json& e : doc["@graph"]) {
    if (e["type"] != "Relationship") continue;
    EXPECT_TRUE(ids.count(e["from"].get<std::string>())) << e.dump();
    for (const json& to : e["to"]) EXPECT_TRUE(ids.count(to.get<std::string>())) << e.dump();
    if (e["relationshipType"] == "hasConcludedLicense") ++concluded[e["from"]];
    if (e["relationshipType"] == "hasDeclaredLicense") ++declared[e["from"]];
    trained_on |= e["relationshipType"] == "trainedOn";
    descendant |= e["relationshipType"] == "descendantOf";
  }
  EXPECT_TRUE(trained_on);
  EXPECT_TRUE(descendant);
  // SPDX 3 AI profile: the student AIPackage has exactly one concluded and one declared license.
  for (const auto& [id, e] : by_id) {
    if (e["type"] != "ai_AIPackage" || e.value("comment", "") == "distillation teacher") continue;
    EXPECT_EQ(concluded[id], 1) << id;
    EXPECT_EQ(declared[id], 1) << id;
    for (const char* f : {"suppliedBy", "software_downloadLocation", "software_packageVersion", "software_primaryPurpose", "releaseTime"}) {
      EXPECT_TRUE(e.contains(f)) << f;
    }
  }
  EXPECT_EQ(ExportSpdx3(Report(R().deny)).status().code(), Status::Code::kInvalidInput);
}

TEST(Export, HuggingFaceModelCardIsReadBackByTheDetector) {
  auto kb = *KnowledgeBase::Builtin();
  TempDir dir;
  struct Case {
    const testing::SyntheticRun* run;
    std::string license, expect_detected, expect_text;
  } cases[] = {
      {&R().ok, "MIT", "MIT", "license: mit"},
      {&R().llama, "llama3.1", "LicenseRef-Llama-3.1-Community", "license: llama3.1"},
      {&R().ok, "LicenseRef-Qwen-Research-2024", "LicenseRef-Qwen-Research-2024", "license_name: LicenseRef-Qwen-Research-2024"},
  };
  for (const auto& c : cases) {
    auto card = ExportHfModelCard(Report(*c.run), c.license);
    ASSERT_TRUE(card.ok()) << card.status().ToString();
    EXPECT_EQ(card->rfind("---\n", 0), 0u);
    EXPECT_NE(card->find(c.expect_text), std::string::npos) << *card;
    EXPECT_NE(card->find("tags: [distillation, distillgate]"), std::string::npos);
    EXPECT_NE(card->find("teacher_calls_root: "), std::string::npos);
    ASSERT_TRUE(testing::WriteText(dir.File("README.md"), *card).ok());
    auto detected = DetectPath(dir.File("README.md"), *kb);
    ASSERT_TRUE(detected.ok()) << detected.status().ToString();
    ASSERT_FALSE(detected->empty());
    EXPECT_EQ((*detected)[0].license, c.expect_detected) << *card;
  }
  // The name-prefix duty of the Llama teacher is listed for whoever publishes the card.
  EXPECT_NE(ExportHfModelCard(Report(R().llama), "llama3.1")->find("must begin with \"Llama\""), std::string::npos);
  // No license chosen and none required: the card says so instead of guessing.
  auto open = *ExportHfModelCard(Report(R().ok), "");
  EXPECT_NE(open.find("license_name: unspecified"), std::string::npos);
  EXPECT_NE(open.find("license is not set"), std::string::npos);
  EXPECT_EQ(ExportHfModelCard(Report(R().deny), "MIT").status().code(), Status::Code::kInvalidInput);
}

// The card's metadata as the Hub reads it (the YAML block, read back by the
// model-directory reader): a Hub license id, base_model with a relation the
// Hub knows, datasets; the lineage section names the teachers, their terms
// and the ledger checkpoint.
// ---- the EU public summary of training content ----

const json* FindField(const json& sum, const std::string& id) {
  for (const json& sec : sum["sections"]) {
    for (const json& f : sec["fields"]) {
      if (f["id"] == id) return &f;
    }
  }
  for (const json& f : sum["code_of_practice"]["fields"]) {
    if (f["id"] == id) return &f;
  }
  return nullptr;
}

TEST(EuSummary, NamesTheTeacherWithProofPointersThatAreTheLedgersLeaves) {
  const json r = Report(R().ok);
  auto sum = ExportEuGpaiSummary(r);
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  Status valid = (*JsonSchema::Builtin("eu-gpai-summary.schema.json"))->Validate(*sum, "summary");
  EXPECT_TRUE(valid.ok()) << valid.ToString();
  const json* used = FindField(*sum, "2.5.synthetic_used");
  ASSERT_NE(used, nullptr);
  EXPECT_EQ((*used)["value"], "yes");
  const json* models = FindField(*sum, "2.5.generating_models");
  ASSERT_NE(models, nullptr);
  EXPECT_EQ((*models)["status"], "filled");
  EXPECT_EQ((*models)["value"][0]["id"], "teacher-1");
  EXPECT_EQ((*models)["value"][0]["model"], "teacher.pt");
  EXPECT_EQ((*models)["value"][0]["calls"]["count"], 40);
  EXPECT_EQ((*models)["value"][0]["sha256"], r["teachers"][0]["sha256"]);
  std::set<std::string> kinds;
  for (const json& e : (*models)["evidence"]) kinds.insert(e["kind"].get<std::string>());
  EXPECT_EQ(kinds, (std::set<std::string>{"decision", "run_start", "run_end"}));
  const json* auth = FindField(*sum, "MDF-1.3");
  ASSERT_NE(auth, nullptr);
  EXPECT_EQ((*auth)["value"]["sha256"], r["model"]["sha256"]);
  // What the ledger does not hold is said, never filled in.
  for (const char* id : {"1.1.provider", "1.2.market_date", "2.1.public_datasets", "3.1.tdm_measures"}) {
    EXPECT_NE(std::find((*sum)["not_recorded"].begin(), (*sum)["not_recorded"].end(), id), (*sum)["not_recorded"].end()) << id;
    EXPECT_TRUE((*FindField(*sum, id))["value"].is_null()) << id;
  }
  // Every pointer is the ledger's own leaf at that index.
  auto ledger = Ledger::Open(R().ok.ledger, Ledger::Mode::kReadOnly);
  ASSERT_TRUE(ledger.ok());
  size_t pointers = 0;
  auto check = [&](const json& f) {
    for (const json& e : f["evidence"]) {
      auto leaf = (*ledger)->GetLeaf(e["ledger_index"].get<uint64_t>());
      ASSERT_TRUE(leaf.ok());
      EXPECT_EQ(leaf->kind, e["kind"]) << f["id"];
      EXPECT_EQ(Base64Encode(leaf->leaf_hash), e["leaf_hash"]) << f["id"];
      ++pointers;
    }
  };
  for (const json& sec : (*sum)["sections"]) {
    for (const json& f : sec["fields"]) check(f);
  }
  for (const json& f : (*sum)["code_of_practice"]["fields"]) check(f);
  EXPECT_GT(pointers, 10u);
  const std::string md = RenderEuGpaiSummaryMarkdown(*sum);
  for (const char* s : {"## 2. List of data sources", "teacher-1", "Proof: ledger entry", "*Not recorded*", "C(2025) 8311"}) {
    EXPECT_NE(md.find(s), std::string::npos) << s;
  }
  // The schema holds the rule: a filled field has a proof.
  json bad = *sum;
  bad["sections"][1]["fields"][0]["evidence"] = json::array();
  EXPECT_FALSE((*JsonSchema::Builtin("eu-gpai-summary.schema.json"))->Validate(bad, "summary").ok());
}

TEST(EuSummary, OnlyATrainedModelHasOne) {
  auto sum = ExportEuGpaiSummary(Report(R().deny));
  ASSERT_FALSE(sum.ok());
  EXPECT_EQ(sum.status().code(), Status::Code::kInvalidInput);
}

TEST(EuSummary, TheCliWritesMarkdownJsonOrStdoutAndRefusesAnExistingFile) {
  const auto& run = R().ok;
  TempDir out;
  auto md = testing::RunCli({"export", "--ledger", run.ledger, "--run", run.run_id, "--format", "eu-gpai-summary", "--out", out.File("s.md")});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(ReadFile(out.File("s.md"))->find("# Public summary of training content"), std::string::npos);
  auto js = testing::RunCli({"export", "--ledger", run.ledger, "--run", run.run_id, "--format", "eu-gpai-summary", "--out", out.File("s.json")});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  EXPECT_EQ(json::parse(*ReadFile(out.File("s.json")))["format"], "distillgate-eu-gpai-summary-v1");
  auto std_out = testing::RunCli({"export", "--ledger", run.ledger, "--run", run.run_id, "--format", "eu-gpai-summary", "--out", "-", "--json"});
  ASSERT_EQ(std_out.exit_code, 0) << std_out.err;
  EXPECT_EQ(json::parse(std_out.out)["run"], run.run_id);
  auto again = testing::RunCli({"export", "--ledger", run.ledger, "--run", run.run_id, "--format", "eu-gpai-summary", "--out", out.File("s.md")});
  EXPECT_EQ(again.exit_code, 2);
}

TEST(Export, HuggingFaceCardNamesTheBaseModelAndTheLineage) {
  json report = Report(R().ok);
  report["job"]["student"]["base_model"] = {{"name", "Qwen/Qwen2.5-0.5B"}, {"license", "Apache-2.0"}};
  auto card = ExportHfModelCard(report, "Apache-2.0");
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  TempDir dir;
  ASSERT_TRUE(testing::WriteText(dir.File("README.md"), *card).ok());
  auto m = HashModel(dir.path());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const json& meta = m->card;
  EXPECT_EQ(meta["license"], "apache-2.0");
  EXPECT_EQ(meta["base_model"], "Qwen/Qwen2.5-0.5B");
  const std::set<std::string> hub_relations = {"adapter", "merge", "quantized", "finetune"};
  EXPECT_TRUE(hub_relations.count(meta["base_model_relation"].get<std::string>()));
  ASSERT_TRUE(meta["datasets"].is_array());
  EXPECT_EQ(meta["distillation"]["teachers"][0]["id"], report["teachers"][0]["id"]);
  EXPECT_EQ(meta["distillation"]["ledger_tree_size"], std::to_string(report["ledger"]["tree_size"].get<uint64_t>()));
  EXPECT_NE(card->find("## Distillation lineage"), std::string::npos);
  EXPECT_NE(card->find("| " + report["teachers"][0]["id"].get<std::string>() + " | "), std::string::npos) << *card;
  EXPECT_NE(card->find(report["ledger"]["checkpoint"].get<std::string>()), std::string::npos) << *card;
  // Without a declared base there is no base_model (teachers are not bases).
  auto plain = ExportHfModelCard(Report(R().ok), "MIT");
  EXPECT_EQ(plain->find("base_model"), std::string::npos);
}

// ---- HTML in a real browser ----

// Decodes an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) and
// returns the fraction of pixels that are not near-white; -1 if undecodable.
double NonWhiteFraction(const std::string& png) {
  if (png.size() < 8 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return -1;
  uint32_t w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  std::string idat;
  for (size_t p = 8; p + 12 <= png.size();) {
    auto be32 = [&](size_t at) { return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) | (uint32_t(uint8_t(png[at + 2])) << 8) | uint8_t(png[at + 3]); };
    const uint32_t len = be32(p);
    const std::string type = png.substr(p + 4, 4);
    if (type == "IHDR") {
      w = be32(p + 8);
      h = be32(p + 12);
      depth = uint8_t(png[p + 16]);
      color = uint8_t(png[p + 17]);
      interlace = uint8_t(png[p + 20]);
    } else if (type == "IDAT") {
      idat += png.substr(p + 8, len);
    }
    p += 12 + len;
  }
  if (depth != 8 || (color != 2 && color != 6) || interlace != 0 || w == 0 || h == 0) return -1;
  const size_t bpp = color == 6 ? 4 : 3, stride = w * bpp;
  std::string raw((stride + 1) * h, '\0');
  uLongf raw_len = raw.size();
  if (uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK) return -1;
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  size_t non_white = 0;
  for (uint32_t y = 0; y < h; ++y) {
    const uint8_t filter = uint8_t(raw[y * (stride + 1)]);
    const uint8_t* in = reinterpret_cast<const uint8_t*>(raw.data()) + y * (stride + 1) + 1;
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int pp = a + b - c, pa = std::abs(pp - a), pb = std::abs(pp - b), pc = std::abs(pp - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: break;
      }
      cur[i] = uint8_t(in[i] + pred);
    }
    for (size_t x = 0; x < w; ++x) {
      const uint8_t* px = &cur[x * bpp];
      if (px[0] < 200 || px[1] < 200 || px[2] < 200) ++non_white;
    }
    prev.swap(cur);
  }
  return double(non_white) / (double(w) * h);
}

TEST(Report, HtmlRendersInHeadlessChromium) {
  const std::string chromium = "/usr/bin/chromium";
  if (!FileExists(chromium)) GTEST_SKIP() << "Debian's chromium is not installed (scripts/setup.sh installs it)";
  TempDir dir;
  ASSERT_TRUE(testing::WriteText(dir.File("report.html"), RenderHtml(Report(R().deny))).ok());
  ASSERT_TRUE(testing::WriteText(dir.File("blank.html"), "<!DOCTYPE html><html><body></body></html>").ok());
  auto shoot = [&](const std::string& page, const std::string& png) {
    auto r = testing::Run({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + dir.File("profile"),
                           "--window-size=1000,1400", "--screenshot=" + png, "file://" + page});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return NonWhiteFraction(*ReadFile(png));
  };
  const double blank = shoot(dir.File("blank.html"), dir.File("blank.png"));
  const double report = shoot(dir.File("report.html"), dir.File("report.png"));
  ASSERT_GE(blank, 0.0) << "could not decode Chromium's PNG";
  EXPECT_LT(blank, 0.001);   // the decoder sees a blank page as blank
  EXPECT_GT(report, 0.01);   // the report is not
  // The DOM Chromium built carries the verdict.
  auto dom = testing::Run({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + dir.File("profile"), "--dump-dom",
                           "file://" + dir.File("report.html")});
  EXPECT_NE(dom.out.find("id=\"verdict\">deny<"), std::string::npos);
}

// ---- the CLI ----

// SARIF results point at the job file: the line and column of the teacher
// entry a finding is about, so a code-scanning view can show it there.
TEST(ReportCli, SarifResultsPointAtTheTeacherEntryInTheJobFile) {
  const auto& run = R().deny;
  const std::string text = *ReadFile(run.job);
  // Where the first teacher's object starts, counted here from the text.
  const size_t brace = text.find('{', text.find("\"teachers\""));
  ASSERT_NE(brace, std::string::npos);
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(brace), '\n'));
  const size_t line_start = text.rfind('\n', brace);
  const int column = static_cast<int>(brace - (line_start == std::string::npos ? 0 : line_start + 1)) + 1;
  const std::string dir = run.job.substr(0, run.job.rfind('/')), name = run.job.substr(run.job.rfind('/') + 1);
  TempDir out;
  // Run from the job's directory with a relative path: the uri a code-scanning upload wants.
  auto r = testing::Run({"/usr/bin/env", "-C", dir, testing::CliPath(), "report", "--ledger", run.ledger, "--run", run.run_id, "--format",
                         "sarif,json", "--job", name, "--out", out.File("rep")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json sarif = json::parse(*ReadFile(out.File("rep/report.sarif")));
  size_t located = 0;
  for (const json& res : sarif["runs"][0]["results"]) {
    const json& loc = res["locations"][0];
    ASSERT_TRUE(loc.contains("logicalLocations"));
    if (res["properties"]["subject"].get<std::string>().rfind("teacher:", 0) != 0) continue;
    ASSERT_TRUE(loc.contains("physicalLocation")) << res.dump(2);
    EXPECT_EQ(loc["physicalLocation"]["artifactLocation"]["uri"], name);
    EXPECT_EQ(loc["physicalLocation"]["region"]["startLine"], line) << text;
    EXPECT_EQ(loc["physicalLocation"]["region"]["startColumn"], column) << text;
    ++located;
  }
  EXPECT_GT(located, 0u) << sarif.dump(2);
  const json report = json::parse(*ReadFile(out.File("rep/report.json")));
  EXPECT_EQ(report["job"]["source"]["locations"][std::string("teacher:") + json::parse(text)["teachers"][0]["id"].get<std::string>()]["pointer"],
            "/teachers/0");
  // Another job than the decided one (edited since) points at nothing: refused, nothing written.
  json edited = json::parse(text);
  edited["student"]["name"] = "edited-student";
  ASSERT_TRUE(testing::WriteText(out.File("edited.json"), edited.dump(2)).ok());
  auto wrong = testing::RunCli({"report", "--ledger", run.ledger, "--run", run.run_id, "--job", out.File("edited.json"), "--out", out.File("rep2")});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("not the decided job"), std::string::npos) << wrong.err;
  EXPECT_FALSE(FileExists(out.File("rep2")));
  // An absolute path becomes a file:// uri.
  auto absolute = testing::RunCli({"report", "--ledger", run.ledger, "--run", run.run_id, "--format", "sarif", "--job", run.job, "--out", out.File("rep3")});
  ASSERT_EQ(absolute.exit_code, 0) << absolute.err;
  const json abs_sarif = json::parse(*ReadFile(out.File("rep3/report.sarif")));
  bool file_uri = false;
  for (const json& res : abs_sarif["runs"][0]["results"]) {
    if (res["locations"][0].contains("physicalLocation")) file_uri |= res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "file://" + run.job;
  }
  EXPECT_TRUE(file_uri);
}

TEST(ReportCli, WritesEveryFormatAndRefusesBadInput) {
  const auto& run = R().ok;
  TempDir out;
  auto r = testing::RunCli({"report", "--ledger", run.ledger, "--run", run.run_id, "--vkey", run.vkey, "--out", out.File("rep")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"report.md", "report.html", "report.json", "report.sarif"}) EXPECT_TRUE(FileExists(out.File("rep/") + f)) << f;
  json j = json::parse(*ReadFile(out.File("rep/report.json")));
  EXPECT_TRUE(j["ledger"]["key_pinned"].get<bool>());
  auto as_json = testing::RunCli({"report", "--ledger", run.ledger, "--run", run.run_id, "--vkey", run.vkey, "--out", out.File("rep2"), "--json"});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  const json printed = json::parse(as_json.out);
  EXPECT_EQ(printed["run"], run.run_id);
  EXPECT_TRUE(printed["ledger_verifies"].get<bool>());
  EXPECT_EQ(printed["written"].size(), 4u);
  auto bad = testing::RunCli({"report", "--ledger", run.ledger, "--run", run.run_id, "--format", "md,pdf", "--out", out.File("bad")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("pdf"), std::string::npos);
  EXPECT_FALSE(FileExists(out.File("bad")));
  auto unknown = testing::RunCli({"report", "--ledger", run.ledger, "--run", "0123456789abcdef-0", "--out", out.File("u")});
  EXPECT_EQ(unknown.exit_code, 2);
  auto exp = testing::RunCli({"export", "--ledger", run.ledger, "--run", run.run_id, "--format", "cyclonedx", "--out", out.File("bom.json")});
  EXPECT_EQ(exp.exit_code, 0) << exp.err;
  auto refused = testing::RunCli({"export", "--ledger", R().deny.ledger, "--run", R().deny.run_id, "--format", "spdx", "--out", out.File("s.json")});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_FALSE(FileExists(out.File("s.json")));
}

// Who decided: --operator after the command (or before it) is recorded in the
// decision and shown by the report; without it, the system user.
TEST(ReportCli, TheOperatorIsRecordedInTheDecisionAndShown) {
  TempDir dir;
  auto run = MakeSyntheticRun(dir.path());
  ASSERT_TRUE(run.ok());
  ::unsetenv("DISTILLGATE_OPERATOR");
  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"check", "--job", run->job, "--ledger", run->ledger, "--key", run->key, "--json", "--operator", "alice@example.org"},
            "alice@example.org (as given to --operator)"},
           {{"--operator=bob", "check", "--job", run->job, "--ledger", run->ledger, "--key", run->key, "--json"}, "bob (as given to --operator)"},
           {{"check", "--job", run->job, "--ledger", run->ledger, "--key", run->key, "--json"}, "(the system user)"}}) {
    auto c = testing::RunCli(args);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const std::string id = json::parse(c.out)["run"];
    auto ledger = Ledger::Open(run->ledger, Ledger::Mode::kReadOnly);
    auto r = BuildRunReport(**ledger, {id, nullptr, ""});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)["status"], "decided");
    const std::string md = RenderMarkdown(*r);
    EXPECT_NE(md.find(expected), std::string::npos) << md.substr(0, 800);
    EXPECT_NE(RenderHtml(*r).find(expected), std::string::npos);
  }
}

TEST(ReportCli, RunsListsEveryDecision) {
  TempDir dir;
  auto run = MakeSyntheticRun(dir.path());
  ASSERT_TRUE(run.ok());
  auto r = testing::RunCli({"runs", "--ledger", run->ledger, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json runs = json::parse(r.out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["run"], run->run_id);
  EXPECT_EQ(runs[0]["status"], "completed");
  EXPECT_EQ(runs[0]["teacher_calls"], 40);
  EXPECT_EQ(runs[0]["model_sha256"], HexEncode(*Sha256File(run->model)));
  EXPECT_EQ(runs[0]["decided_at"].get<std::string>().size(), 20u);
  // The human form is a table with a header and the decision's time.
  auto human = testing::RunCli({"runs", "--ledger", run->ledger});
  EXPECT_EQ(human.out.rfind("RUN", 0), 0u) << human.out;
  for (const char* col : {"DECIDED", "JOB", "VERDICT", "STATUS", "TEACHER CALLS"}) EXPECT_NE(human.out.find(col), std::string::npos) << col;
  const std::string row = human.out.substr(human.out.find('\n') + 1);
  EXPECT_EQ(row.rfind(run->run_id + "  " + runs[0]["decided_at"].get<std::string>() + "  synthetic-acme-student  allow    completed (distill)  40", 0), 0u)
      << human.out;
  // --vkey is accepted where --pubkey was the only name.
  auto v = testing::RunCli({"ledger", "verify", "--ledger", run->ledger, "--vkey", run->vkey});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST(ReportCli, ATamperedLedgerIsReportedAndNotExported) {
  TempDir dir;
  auto run = MakeSyntheticRun(dir.path());
  ASSERT_TRUE(run.ok());
  // Flip one byte of a stored entry (a teacher call) behind the ledger's back.
  auto db = testing::Run({"/usr/bin/sqlite3", run->ledger,
                          "DROP TRIGGER leaf_append_only_u; UPDATE leaf SET data = replace(data, 'output', 'outpuT') WHERE idx = 5;"});
  ASSERT_EQ(db.exit_code, 0) << db.err;
  auto r = testing::RunCli({"report", "--ledger", run->ledger, "--run", run->run_id, "--format", "json", "--out", dir.File("rep")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("DOES NOT VERIFY"), std::string::npos);
  json j = json::parse(*ReadFile(dir.File("rep/report.json")));
  EXPECT_FALSE(j["ledger"]["verifies"].get<bool>());
  EXPECT_FALSE(j["ledger"]["problems"].empty());
  auto exp = testing::RunCli({"export", "--ledger", run->ledger, "--run", run->run_id, "--format", "cyclonedx", "--out", dir.File("bom.json")});
  EXPECT_EQ(exp.exit_code, 1);
  EXPECT_FALSE(FileExists(dir.File("bom.json")));
}

// ---- approvals ----

// A job the gate sent to review runs only when the approvers the policy names
// have signed approvals of it: the reviewer's flow, end to end on the CLI.
class Approvals : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = *MakeSyntheticRun(dir_.path());
    for (const char* who : {"alice", "bob", "mallory"}) {
      auto k = testing::RunCli({"keys", "generate", "--out", dir_.File(who), "--name", std::string("approvers.example/") + who});
      ASSERT_EQ(k.exit_code, 0) << k.err;
    }
    auto vkey = [&](const char* who) {
      std::string v = *ReadFile(dir_.File(std::string(who) + "/ledger.vkey"));
      while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
      return v;
    };
    const json policy = {{"mode", "enforce"},
                         {"approvers", {{{"vkey", vkey("alice")}, {"role", "legal"}}, {{"vkey", vkey("bob")}, {"role", "security"}}}},
                         {"require_approval", {{"needs_review", 2}}}};
    ASSERT_TRUE(testing::WriteText(dir_.File("policy.json"), policy.dump(2)).ok());
    json job = json::parse(*ReadFile(run_.job));
    job["teachers"][0]["license"] = "LicenseRef-house-terms-unknown";  // not in the knowledge base: needs review
    ASSERT_TRUE(testing::WriteText(dir_.File("review.json"), job.dump(2)).ok());
  }
  testing::CommandResult Check(const std::string& job) {
    return testing::RunCli({"check", "--job", job, "--policy", dir_.File("policy.json"), "--ledger", run_.ledger, "--key", run_.key, "--json"});
  }
  testing::CommandResult Approve(const std::string& run, const char* who, const char* role) {
    return testing::RunCli({"approve", "--ledger", run_.ledger, "--ledger-key", run_.key, "--run", run, "--key", dir_.File(std::string(who) + "/ledger.key"),
                            "--role", role, "--note", std::string("reviewed by ") + who, "--policy", dir_.File("policy.json")});
  }
  json Report(const std::string& run) {
    auto ledger = Ledger::Open(run_.ledger, Ledger::Mode::kReadOnly);
    auto r = BuildRunReport(**ledger, {run, nullptr, ""});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : json();
  }
  // The reviewer's flow in short: a needs-review check, both approvers sign,
  // the check again; the approved decision's report.
  json ApprovedReport() {
    auto first = Check(dir_.File("review.json"));
    EXPECT_EQ(first.exit_code, 4) << first.out << first.err;
    const std::string review_run = json::parse(first.out)["run"];
    EXPECT_EQ(Approve(review_run, "alice", "legal").exit_code, 0);
    EXPECT_EQ(Approve(review_run, "bob", "security").exit_code, 0);
    auto two = Check(dir_.File("review.json"));
    EXPECT_EQ(two.exit_code, 0) << two.out << two.err;
    return Report(json::parse(two.out)["run"]);
  }
  TempDir dir_;
  testing::SyntheticRun run_;
};

TEST_F(Approvals, ANeedsReviewJobRunsOnlyOnceTheRequiredApproversHaveSigned) {
  auto first = Check(dir_.File("review.json"));
  ASSERT_EQ(first.exit_code, 4) << first.out << first.err;
  const std::string review_run = json::parse(first.out)["run"];
  // Not an approver, or not in their role: nothing is recorded.
  auto mallory = Approve(review_run, "mallory", "legal");
  EXPECT_EQ(mallory.exit_code, 2);
  EXPECT_NE(mallory.err.find("not one of the policy's approvers"), std::string::npos) << mallory.err;
  auto wrong_role = Approve(review_run, "alice", "security");
  EXPECT_EQ(wrong_role.exit_code, 2);
  EXPECT_NE(wrong_role.err.find("role in the policy is legal"), std::string::npos) << wrong_role.err;
  // A note of blanks says nothing: refused (red-team).
  auto blank = testing::RunCli({"approve", "--ledger", run_.ledger, "--ledger-key", run_.key, "--run", review_run, "--key", dir_.File("alice/ledger.key"),
                                "--role", "legal", "--note", " \t ", "--policy", dir_.File("policy.json")});
  EXPECT_EQ(blank.exit_code, 2);
  EXPECT_NE(blank.err.find("--note: say why"), std::string::npos) << blank.err;
  // One of two: still needs review.
  ASSERT_EQ(Approve(review_run, "alice", "legal").exit_code, 0);
  ASSERT_EQ(Approve(review_run, "alice", "legal").exit_code, 0);  // the same approver twice counts once
  auto one = Check(dir_.File("review.json"));
  EXPECT_EQ(one.exit_code, 4) << one.out;
  EXPECT_FALSE(json::parse(one.out).value("approved", false));
  // Two of two: the job may run, and the decision says on whose approvals.
  ASSERT_EQ(Approve(review_run, "bob", "security").exit_code, 0);
  auto two = Check(dir_.File("review.json"));
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  const json approved = json::parse(two.out);
  EXPECT_EQ(approved["verdict"], "needs_review");  // the verdict is not rewritten
  EXPECT_TRUE(approved["approved"].get<bool>());
  ASSERT_EQ(approved["approvals"].size(), 2u);
  EXPECT_EQ(approved["approvals"][0]["approver"], "approvers.example/alice");
  EXPECT_EQ(approved["approvals"][1]["role"], "security");
  // The reports: the approved run shows who approved what and when; the
  // reviewed one, the approvals it received.
  const json rep = Report(approved["run"]);
  EXPECT_EQ(rep["status"], "decided");
  const std::string md = RenderMarkdown(rep), html = RenderHtml(rep);
  for (const char* s : {"## Approvals", "| approvers.example/alice | legal |", "| approvers.example/bob | security |", "reviewed by bob", "**approved**"}) {
    EXPECT_NE(md.find(s), std::string::npos) << s;
  }
  EXPECT_NE(html.find("<table id=\"approvals\">"), std::string::npos);
  EXPECT_EQ(Report(review_run)["approvals_received"].size(), 3u);
  // An approved decision takes no further approval (its run's entries would
  // gain one).
  auto again = Approve(approved["run"], "alice", "legal");
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already ran on approvals"), std::string::npos) << again.err;
  // Another job (a changed student name), or the same job under another
  // policy, is not what was approved.
  json other = json::parse(*ReadFile(dir_.File("review.json")));
  other["student"]["name"] = "another-student";
  ASSERT_TRUE(testing::WriteText(dir_.File("other.json"), other.dump(2)).ok());
  EXPECT_EQ(Check(dir_.File("other.json")).exit_code, 4);
  json looser = json::parse(*ReadFile(dir_.File("policy.json")));
  looser["require_approval"]["needs_review"] = 1;
  ASSERT_TRUE(testing::WriteText(dir_.File("policy.json"), looser.dump(2)).ok());
  EXPECT_EQ(Check(dir_.File("review.json")).exit_code, 4);  // the approvals were given under the first policy
  auto v = testing::RunCli({"ledger", "verify", "--ledger", run_.ledger, "--pubkey", run_.vkey});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // Each approval entry is what schemas/approval.schema.json says.
  auto ledger = Ledger::Open(run_.ledger, Ledger::Mode::kReadOnly);
  size_t approvals = 0;
  for (uint64_t i = 0; i < *(*ledger)->Size(); ++i) {
    auto leaf = (*ledger)->GetLeaf(i);
    if (leaf->kind != "approval") continue;
    ++approvals;
    Status valid = (*JsonSchema::Builtin("approval.schema.json"))->Validate(json::parse(leaf->data)["body"], "approval");
    EXPECT_TRUE(valid.ok()) << valid.ToString();
  }
  EXPECT_EQ(approvals, 3u);
}

// What a reviewer signs: the three reports (denied, approved after review,
// allowed) as headless Chromium lays them out, each with its sections.
TEST_F(Approvals, TheThreeReportsAReviewerSignsRenderInHeadlessChromium) {
  const std::string chromium = "/usr/bin/chromium";
  if (!FileExists(chromium)) GTEST_SKIP() << "Debian's chromium is not installed (scripts/setup.sh installs it)";
  const json rep = ApprovedReport();
  ASSERT_TRUE(rep["decision"].value("approved", false)) << rep.dump(2).substr(0, 2000);
  const std::vector<std::pair<json, std::vector<std::string>>> pages = {
      {::dg::Report(R().deny), {"id=\"verdict\">deny<", "Operator", "Teacher calls: not reached", "Intended use"}},
      {rep, {"id=\"verdict\">needs_review<", "id=\"approved\">approved<", "Approvals", "approvers.example/bob", "Decided"}},
      {::dg::Report(R().ok), {"id=\"verdict\">allow<", "id=\"calls-over-time\"", "Hyper-parameter", "Student's base model"}}};
  for (size_t i = 0; i < pages.size(); ++i) {
    const std::string page = dir_.File("page" + std::to_string(i) + ".html");
    ASSERT_TRUE(testing::WriteText(page, RenderHtml(pages[i].first)).ok());
    auto dom = testing::Run({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + dir_.File("profile"), "--dump-dom",
                             "file://" + page});
    for (const std::string& s : pages[i].second) EXPECT_NE(dom.out.find(s), std::string::npos) << i << ": " << s;
  }
}

TEST_F(Approvals, ADenialIsNeverApprovableAndAForgedApprovalNeverCounts) {
  json denied = json::parse(*ReadFile(run_.job));
  denied["teachers"][0]["license"] = "CC-BY-NC-4.0";
  denied["use"]["commercial"] = true;
  denied["use"]["distribution"] = "open_weights";
  denied["use"]["purpose"] = "production";
  ASSERT_TRUE(testing::WriteText(dir_.File("denied.json"), denied.dump(2)).ok());
  auto d = Check(dir_.File("denied.json"));
  ASSERT_EQ(d.exit_code, 1) << d.out;
  auto no = Approve(json::parse(d.out)["run"], "alice", "legal");
  EXPECT_EQ(no.exit_code, 2);
  EXPECT_NE(no.err.find("never approvable"), std::string::npos) << no.err;
  // Mallory signs statements naming alice and bob as approvers and appends
  // them with the ledger key (an insider): the signatures do not verify
  // under the policy's keys, so they are not approvals.
  auto first = Check(dir_.File("review.json"));
  ASSERT_EQ(first.exit_code, 4);
  const json dec = json::parse(first.out);
  auto policy = LoadPolicy(dir_.File("policy.json"));
  ASSERT_TRUE(policy.ok());
  auto mallory = PrivateKey::LoadPemFile(dir_.File("mallory/ledger.key"));
  auto ledger_key = PrivateKey::LoadPemFile(run_.key);
  ASSERT_TRUE(mallory.ok() && ledger_key.ok());
  {
    auto ledger = Ledger::Open(run_.ledger, Ledger::Mode::kReadWrite);
    ASSERT_TRUE(ledger.ok());
    auto leaf = (*ledger)->GetLeaf(dec["ledger_index"].get<uint64_t>());
    ASSERT_TRUE(leaf.ok());
    auto statement = [&](const Approver& a, const std::string& name, const std::string& origin) {
      return json{{"type", "distillgate-approval-v1"}, {"ledger_origin", origin}, {"decision_index", dec["ledger_index"]},
                  {"decision_leaf_hash", Base64Encode(leaf->leaf_hash)}, {"run", dec["run"]}, {"job_sha256", dec["inputs"]["job_sha256"]},
                  {"policy_sha256", policy->sha256}, {"verdict", "needs_review"}, {"approver", name}, {"approver_vkey", a.vkey},
                  {"role", a.role}, {"note", "forged"}, {"approved_at", "2026-12-03T00:00:00Z"}};
    };
    auto append = [&](const json& st, const PrivateKey& signer) {
      const json env = DsseSign(kApprovalPayloadType, *Canonicalize(st), signer, st.value("approver_vkey", ""));
      auto e = LedgerEntry::Make("approval", {{"run", dec["run"]}, {"statement", st}, {"envelope", env}});
      ASSERT_TRUE(e.ok());
      ASSERT_TRUE((*ledger)->Append({*e}, *ledger_key).ok());
    };
    for (const Approver& a : policy->approvers) append(statement(a, a.name, (*ledger)->origin()), *mallory);
    // Alice (who holds her key, and here the ledger key) signs as many
    // "approvers" under other names, and once for another ledger; and a
    // malformed approval entry is appended. None of it is a second approver.
    auto alice = PrivateKey::LoadPemFile(dir_.File("alice/ledger.key"));
    ASSERT_TRUE(alice.ok());
    for (const char* name : {"approvers.example/bob", "approvers.example/carol", "x1"}) append(statement(policy->approvers[0], name, (*ledger)->origin()), *alice);
    append(statement(policy->approvers[0], policy->approvers[0].name, "staging.example/other-ledger"), *alice);
    auto junk = LedgerEntry::Make("approval", {{"run", dec["run"]}, {"statement", {{"type", 1}, {"ledger_origin", json::array()}}}, {"envelope", 7}});
    ASSERT_TRUE(junk.ok());
    ASSERT_TRUE((*ledger)->Append({*junk}, *ledger_key).ok());
    auto found = FindApprovals(**ledger, *policy, dec["inputs"]["job_sha256"], dec["findings"]);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_TRUE(found->empty()) << found->dump();
    // Alice's one genuine approval counts once, as hers.
    append(statement(policy->approvers[0], policy->approvers[0].name, (*ledger)->origin()), *alice);
    found = FindApprovals(**ledger, *policy, dec["inputs"]["job_sha256"], dec["findings"]);
    ASSERT_TRUE(found.ok());
    ASSERT_EQ(found->size(), 1u);
    EXPECT_EQ((*found)[0]["approver"], "approvers.example/alice");
  }
  EXPECT_EQ(Check(dir_.File("review.json")).exit_code, 4);  // 1 of the 2 required
  // One key listed under two names is refused: it would be two approvers.
  json twice = json::parse(*ReadFile(dir_.File("policy.json")));
  auto alice_key = NoteVerifier::Parse(twice["approvers"][0]["vkey"].get<std::string>());
  ASSERT_TRUE(alice_key.ok());
  twice["approvers"][1]["vkey"] = NoteVerifier::Make("approvers.example/alias", alice_key->key())->ToString();
  auto parsed = ParsePolicy(twice, "twice.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("listed under another name"), std::string::npos) << parsed.status().message();
}

}  // namespace
}  // namespace dg
