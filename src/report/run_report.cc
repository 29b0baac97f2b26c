#include "report/run_report.h"

#include "core/clock.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "ledger/fsck.h"
#include "license/knowledge_base.h"
#include "record/run_record.h"

namespace dg {

using json = nlohmann::json;

namespace {

json LicenseEvidence(const KnowledgeBase& kb, const std::string& license, const json& profiles) {
  const LicenseProfile* p = kb.Find(license);
  if (p == nullptr) return {{"license", license}, {"known", false}};
  json sources = p->doc.value("sources", json::array());
  return {{"license", license},
          {"known", true},
          {"profile", p->id},
          {"name", p->name},
          {"kind", p->kind},
          {"verified", p->verified},
          {"profile_sha256", profiles.value(p->id, p->sha256)},
          {"sources", sources}};
}

}  // namespace

StatusOr<json> BuildRunReport(Ledger& ledger, const RunReportOptions& o) {
  Ledger::ReadSnapshot snap(ledger);
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger, o.run_id));
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::Builtin());
  const json& dec = r.decision.body;
  const json job = dec.value("job_document", json::object());
  const json profiles = dec.contains("inputs") ? dec["inputs"].value("profiles", json::object()) : json::object();

  // Ledger verification.
  DG_ASSIGN_OR_RETURN(NoteVerifier recorded, NoteVerifier::Parse(ledger.recorded_vkey()));
  const NoteVerifier& key = o.trusted != nullptr ? *o.trusted : recorded;
  auto fsck = Fsck(ledger, key, {});
  if (!fsck.ok()) return fsck.status();
  json ledger_j = {{"path", ledger.path()},
                   {"origin", ledger.origin()},
                   {"tree_size", fsck->tree_size},
                   {"checkpoint", fsck->head_note},
                   {"verifies", fsck->problems.empty()},
                   {"key", key.ToString()},
                   {"key_pinned", o.trusted != nullptr},
                   {"problems", fsck->problems},
                   {"checkpoints_checked", fsck->checkpoints_checked}};

  // The decision: findings with their clauses and fixes, obligations.
  json findings = dec.value("findings", json::array());
  json obligations = json::array();
  const std::string student = r.model ? r.model->body.value("student", "") : job.value("student", json::object()).value("name", "");
  for (json ob : dec.value("obligations", json::array())) {
    if (ob.value("kind", "") == "name_prefix" && ob.contains("value")) {
      const std::string prefix = ob["value"];
      ob["met"] = student.compare(0, prefix.size(), prefix) == 0;
    } else {
      ob["met"] = ob.value("status", "") == "met" ? json(true) : ob.value("status", "") == "unmet" ? json(false) : json();
    }
    obligations.push_back(std::move(ob));
  }

  // Teachers: what the job declared, the license evidence, the hashes the run recorded.
  json teachers = json::array();
  for (const json& t : job.value("teachers", json::array())) {
    json tj = {{"id", t.value("id", "")},
               {"kind", t.value("kind", "")},
               {"declared_license", t.value("license", "")},
               {"evidence", LicenseEvidence(*kb, t.value("license", ""), profiles)}};
    for (const char* f : {"provider", "model", "model_file", "model_card"}) {
      if (t.contains(f)) tj[f] = t[f];
    }
    if (r.run_start && r.run_start->body.contains("teacher") && r.run_start->body["teacher"].value("id", "") == tj["id"]) {
      tj["sha256"] = r.run_start->body["teacher"].value("sha256", "");
      if (r.run_start->body["teacher"].contains("model_signing_root")) {
        tj["model_signing_root"] = r.run_start->body["teacher"]["model_signing_root"];
      }
    }
    teachers.push_back(std::move(tj));
  }

  json datasets = json::array();
  for (const auto& m : r.manifests) {
    datasets.push_back({{"dataset", m.body.value("dataset", "")},
                        {"license", m.body.value("license", "")},
                        {"evidence", LicenseEvidence(*kb, m.body.value("license", ""), profiles)},
                        {"record_format", m.body.value("record_format", "")},
                        {"records", m.body.value("records", uint64_t{0})},
                        {"records_root", m.body.value("records_root", "")},
                        {"files", m.body.value("files", json::array())},
                        {"ledger_index", m.index}});
  }

  const std::string calls_root = Base64Encode(r.TeacherCallsRoot());
  json calls = {{"count", r.teacher_calls},
                {"root", calls_root},
                {"first", r.first_call_time.empty() ? json() : json(r.first_call_time)},
                {"last", r.last_call_time.empty() ? json() : json(r.last_call_time)}};
  if (r.run_end && r.run_end->body.contains("teacher_calls")) {
    calls["recorded_count"] = r.run_end->body["teacher_calls"];
    calls["recorded_root"] = r.run_end->body.value("teacher_calls_root", "");
    calls["matches"] = r.run_end->body["teacher_calls"] == r.teacher_calls &&
                       r.run_end->body.value("teacher_calls_root", "") == calls_root;
  }

  json report = {{"format", "distillgate-run-report-v1"},
                 {"generated_at", o.generated_at.empty() ? NowRfc3339() : o.generated_at},
                 {"run", r.run_id},
                 {"status", RunStatusName(r.status())},
                 {"job", {{"name", dec.value("job", "")},
                          {"sha256", dec.contains("inputs") ? dec["inputs"].value("job_sha256", "") : ""},
                          {"student", job.value("student", json::object())},
                          {"use", job.value("use", json::object())}}},
                 {"decision", {{"ledger_index", r.decision.index},
                               {"verdict", dec.value("verdict", "")},
                               {"mode", dec.value("mode", "")},
                               {"enforced", dec.value("enforced", true)},
                               {"rests_on_unverified_facts", dec.value("rests_on_unverified_facts", false)},
                               {"policy_sha256", dec.contains("inputs") ? dec["inputs"].value("policy_sha256", "") : ""},
                               {"findings", findings},
                               {"obligations", obligations},
                               {"student_licenses", dec.value("student_licenses", json::array())}}},
                 {"teachers", teachers},
                 {"datasets", datasets},
                 {"teacher_calls", calls},
                 {"ledger", ledger_j}};
  const std::string mode = r.run_start ? r.run_start->body.value("mode", "") : "";
  if (dec.value("kind", "") == "attribution") {
    // An attribution trains nothing: its plan (pre-registered in the
    // decision) and its outcome (run_end) are the report.
    report["attribution"] = {{"plan", dec.value("plan", json::object())},
                             {"outcome", r.run_end ? r.run_end->body.value("attribution", json()) : json()}};
  } else if (r.run_start && mode != "transcripts") {
    report["training"] = {{"mode", r.run_start->body.value("mode", "")},
                          {"runtime", r.run_start->body.value("runtime", "")},
                          {"parameters", r.run_start->body.value("training", json::object())},
                          {"ledger_index", r.run_start->index}};
  }
  if (r.run_start && r.run_start->body.value("mode", "") == "transcripts") {
    const json end = r.run_end ? r.run_end->body : json::object();
    report["transcripts"] = {{"files", r.PinnedFiles()},
                             {"api_teachers", r.run_start->body.value("api_teachers", json::array())},
                             {"failed_calls", end.value("failed_calls", json())},
                             {"skipped_lines", end.value("skipped_lines", json())},
                             {"disallowed_calls", end.value("disallowed_calls", json())},
                             {"findings", end.value("findings", json::array())}};
  }
  if (r.model) {
    const json metrics = r.model->body.value("metrics", json::object());
    report["model"] = {{"path", r.model->body.value("path", "")},
                       {"sha256", r.model->body.value("sha256", "")},
                       {"model_signing_root", r.model->body.value("model_signing_root", "")},
                       {"arch", r.model->body.value("arch", "")},
                       {"student", r.model->body.value("student", "")},
                       {"test_accuracy", metrics.value("test_accuracy", json())},
                       {"epochs", metrics.value("epochs", json::array())},
                       {"ledger_index", r.model->index}};
  }
  if (r.run_end) {
    json end = r.run_end->body;
    end["ledger_index"] = r.run_end->index;
    end.erase("run");
    report["run_end"] = end;
  }
  return report;
}

}  // namespace dg
