// `distillgate report`: the audit report of one run in Markdown, HTML, JSON and SARIF.
#include <sys/stat.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <sstream>
#include <vector>

#include "cli/commands.h"
#include "core/file_util.h"
#include "core/json_schema.h"
#include "report/job_source.h"
#include "ledger/key_files.h"
#include "record/run_record.h"
#include "report/eu_summary.h"
#include "report/export.h"
#include "report/render.h"
#include "report/run_report.h"

namespace dg::cli {
namespace {

// The run's report, the ledger verified under the pinned key when one is given.
StatusOr<nlohmann::json> LoadReport(const std::string& ledger_path, const std::string& run, const std::string& vkey) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(ledger_path, Ledger::Mode::kReadOnly));
  std::optional<NoteVerifier> pinned;
  if (!vkey.empty()) {
    DG_ASSIGN_OR_RETURN(NoteVerifier v, LoadTrustedKey(vkey, ledger->origin()));
    pinned = v;
  }
  RunReportOptions o;
  o.run_id = run;
  o.trusted = pinned ? &*pinned : nullptr;
  return BuildRunReport(*ledger, o);
}

struct ReportArgs {
  std::string ledger, run, formats = "md,html,json,sarif", out, vkey, job;
  bool as_json = false;
};

Status RunReport(const ReportArgs& a) {
  std::vector<std::string> formats;
  std::stringstream ss(a.formats);
  for (std::string f; std::getline(ss, f, ',');) formats.push_back(f);  // WriteReportFiles rejects unknown ones, before writing
  DG_ASSIGN_OR_RETURN(nlohmann::json report, LoadReport(a.ledger, a.run, a.vkey));
  if (!a.job.empty()) DG_RETURN_IF_ERROR(AddJobSource(&report, a.job));
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("run-report.schema.json"));
  DG_RETURN_IF_ERROR(schema->Validate(report, "report").WithContext("internal"));
  const std::string dir = a.out.empty() ? "reports/" + report["run"].get<std::string>() : a.out;
  DG_ASSIGN_OR_RETURN(std::vector<std::string> written, WriteReportFiles(report, dir, formats));
  if (a.as_json) {
    std::cout << nlohmann::json{{"run", report["run"]}, {"verdict", report["decision"]["verdict"]}, {"status", report["status"]},
                                {"ledger_verifies", report["ledger"]["verifies"]}, {"written", written}}.dump(2)
              << "\n";
    return Status::Ok();
  }
  for (const auto& path : written) std::cout << "wrote " << path << "\n";
  std::cout << "run " << report["run"].get<std::string>() << ": " << report["decision"]["verdict"].get<std::string>() << ", "
            << report["status"].get<std::string>() << "; ledger "
            << (report["ledger"]["verifies"].get<bool>() ? "verifies" : "DOES NOT VERIFY") << "\n";
  return Status::Ok();
}

struct ExportArgs {
  std::string ledger, run, format, out, vkey, license;
  bool as_json = false;
};

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

Status RunExport(const ExportArgs& a) {
  const bool to_stdout = a.out == "-";
  if (!to_stdout && FileExists(a.out)) return Status::InvalidInput(a.out + ": exists; choose another --out");
  DG_ASSIGN_OR_RETURN(nlohmann::json report, LoadReport(a.ledger, a.run, a.vkey));
  if (!report["ledger"]["verifies"].get<bool>()) {
    return Status::VerifyFailed(a.ledger + ": the ledger does not verify; refusing to export its claims");
  }
  std::string text;
  const bool eu_json = a.as_json || EndsWith(a.out, ".json");
  if (a.format == "hf-card") {
    DG_ASSIGN_OR_RETURN(text, ExportHfModelCard(report, a.license));
  } else if (a.format == "eu-gpai-summary") {
    DG_ASSIGN_OR_RETURN(nlohmann::json doc, ExportEuGpaiSummary(report));
    text = eu_json ? doc.dump(2) + "\n" : RenderEuGpaiSummaryMarkdown(doc);
  } else {
    DG_ASSIGN_OR_RETURN(nlohmann::json doc, a.format == "cyclonedx" ? ExportCycloneDx(report) : ExportSpdx3(report));
    text = doc.dump(2) + "\n";
  }
  if (to_stdout) {
    std::cout << text;
    return Status::Ok();
  }
  DG_RETURN_IF_ERROR(WriteFileAtomic(a.out, text, 0644, true));
  std::cout << "wrote " << a.out << " ("
            << (a.format == "cyclonedx"         ? "CycloneDX 1.6 ML-BOM"
                : a.format == "spdx"            ? "SPDX 3.0.1 JSON-LD"
                : a.format == "eu-gpai-summary" ? (eu_json ? "EU training-content summary, JSON" : "EU training-content summary, Markdown")
                                                : "Hugging Face model card")
            << ") for run " << report["run"].get<std::string>() << "\n";
  return Status::Ok();
}

struct RunsArgs {
  std::string ledger;
  bool as_json = false;
};

// Every run of the ledger: id, job, verdict, status, teacher calls.
Status RunRuns(const RunsArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  Ledger::ReadSnapshot snap(*ledger);
  DG_ASSIGN_OR_RETURN(std::vector<std::string> ids, ListRunIds(*ledger));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& id : ids) {
    DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(*ledger, id));
    nlohmann::json j = {{"run", r.run_id},
                        {"decision_index", r.decision.index},
                        {"job", r.decision.body.value("job", "")},
                        {"verdict", r.verdict_name()},
                        {"status", RunStatusName(r.status())},
                        {"mode", r.run_start ? r.run_start->body.value("mode", "") : ""},
                        {"teacher_calls", r.teacher_calls},
                        {"decided_at", r.decision.body.value("decided_at", nlohmann::json())}};
    if (r.model) j["model_sha256"] = r.model->body.value("sha256", "");
    out.push_back(std::move(j));
  }
  if (a.as_json) {
    std::cout << out.dump(2) << "\n";
    return Status::Ok();
  }
  if (out.empty()) {
    std::cout << "no runs: the ledger holds no decision\n";
    return Status::Ok();
  }
  // A table: a header, then one row per run, columns padded to their widest.
  std::vector<std::vector<std::string>> rows = {{"RUN", "DECIDED", "JOB", "VERDICT", "STATUS", "TEACHER CALLS"}};
  for (const auto& j : out) {
    rows.push_back({j["run"].get<std::string>(), j["decided_at"].is_string() ? j["decided_at"].get<std::string>() : "-",
                    j["job"].get<std::string>(), j["verdict"].get<std::string>(),
                    j["status"].get<std::string>() + (j["mode"].get<std::string>().empty() ? "" : " (" + j["mode"].get<std::string>() + ")"),
                    std::to_string(j["teacher_calls"].get<uint64_t>())});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) line += row[c] + (c + 1 < row.size() ? std::string(width[c] - row[c].size() + 2, ' ') : "");
    std::cout << line << "\n";
  }
  return Status::Ok();
}

}  // namespace

void RegisterReport(CLI::App& app, Dispatch& d) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* c = app.add_subcommand("report", "Write the audit report of a run (decision, licenses, data, teacher calls, metrics, ledger)");
  c->add_option("--ledger", a->ledger, "Ledger file")->required();
  c->add_option("--run", a->run, "Run id as `run` or `check --ledger` printed it (or the decision's entry index)")->required();
  c->add_option("--format", a->formats, "Comma-separated: md, html, json, sarif (default: all)");
  c->add_option("--out", a->out, "Directory to write (default: reports/<run>)");
  c->add_option("--vkey", a->vkey, "Verify the ledger under this pinned key (default: the key recorded in the file, reported as unpinned)");
  c->add_option("--job", a->job,
                "The decided job's file (its canonical SHA-256 must be the decision's): SARIF results then point at the line and "
                "column of the teacher, dataset or base model each is about; the path as given is the SARIF uri");
  c->add_flag("--json", a->as_json, "Print {run, verdict, status, ledger_verifies, written} as JSON");
  c->callback([&d, a] { d.handler = ExitZeroOr([a] { return RunReport(*a); }); });

  auto ra = std::make_shared<RunsArgs>();
  CLI::App* runs = app.add_subcommand("runs", "List the runs a ledger records (one per decision): id, job, verdict, status");
  runs->add_option("--ledger", ra->ledger, "Ledger file")->required();
  runs->add_flag("--json", ra->as_json, "Print JSON");
  runs->callback([&d, ra] { d.handler = ExitZeroOr([ra] { return RunRuns(*ra); }); });

  auto e = std::make_shared<ExportArgs>();
  CLI::App* x = app.add_subcommand("export", "Write the student's lineage as a CycloneDX 1.6 ML-BOM, an SPDX 3.0.1 document or a Hugging Face model card");
  x->add_option("--ledger", e->ledger, "Ledger file")->required();
  x->add_option("--run", e->run, "Run id (a completed run)")->required();
  x->add_option("--format", e->format,
                "cyclonedx, spdx, hf-card (a README.md model card) or eu-gpai-summary (the EU public summary of training content, "
                "docs/eu-training-summary.md)")
      ->required()
      ->check(CLI::IsMember({"cyclonedx", "spdx", "hf-card", "eu-gpai-summary"}));
  x->add_flag("--json", e->as_json, "eu-gpai-summary: JSON (schemas/eu-gpai-summary.schema.json) instead of Markdown; the default for an --out ending .json");
  x->add_option("--license", e->license, "hf-card: the student's license (default: what the teachers' terms require, else unspecified)");
  x->add_option("--out", e->out, "File to write, which must not exist; - for standard output")->required();
  x->add_option("--vkey", e->vkey, "Verify the ledger under this pinned key first");
  x->callback([&d, e] { d.handler = ExitZeroOr([e] { return RunExport(*e); }); });
}

}  // namespace dg::cli
