#include "report/run_report.h"

#include <algorithm>
#include <climits>
#include <map>

#include "core/clock.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "ledger/fsck.h"
#include "license/knowledge_base.h"
#include "policy/approval.h"
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

// A base-model chain ({name, license, relation, base_model: …}) as a list,
// nearest first.
json BaseChain(const json& base) {
  json chain = json::array();
  const json* b = &base;
  for (int depth = 0; b->is_object() && depth < 64; ++depth) {
    json link = {{"name", b->value("name", "")}, {"license", b->value("license", "")}};
    if (b->contains("relation")) link["relation"] = (*b)["relation"];
    chain.push_back(std::move(link));
    if (!b->contains("base_model")) break;
    b = &(*b)["base_model"];
  }
  return chain;
}

// The calls per teacher over the run's time span, in `kBuckets` equal slices:
// what the report's calls-over-time plot draws.
constexpr int kBuckets = 24;
json Timeline(const std::map<std::string, TeacherCallTally>& tally) {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const auto& [id, t] : tally) {
    for (int64_t x : t.times) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  if (lo > hi) return nullptr;
  const int64_t span = hi - lo + 1;
  json series = json::array();
  for (const auto& [id, t] : tally) {
    std::vector<uint64_t> counts(kBuckets, 0);
    for (int64_t x : t.times) ++counts[static_cast<size_t>((x - lo) * kBuckets / span)];
    series.push_back({{"teacher", id}, {"counts", counts}});
  }
  return {{"start", Rfc3339Utc(lo)}, {"end", Rfc3339Utc(hi)}, {"seconds", span}, {"buckets", kBuckets}, {"series", series}};
}

json Pointer(const RecordedEntry& e) {
  return {{"ledger_index", e.index}, {"kind", e.kind}, {"leaf_hash", Base64Encode(e.leaf_hash)}};
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

  // Teachers: what the job declared, the license evidence, the hashes the run
  // recorded, the calls made to each.
  DG_ASSIGN_OR_RETURN(auto tally, TallyTeacherCalls(ledger, r));
  json teachers = json::array();
  for (const json& t : job.value("teachers", json::array())) {
    json tj = {{"id", t.value("id", "")},
               {"kind", t.value("kind", "")},
               {"declared_license", t.value("license", "")},
               {"evidence", LicenseEvidence(*kb, t.value("license", ""), profiles)}};
    for (const char* f : {"provider", "model", "model_file", "model_card", "base_url"}) {
      if (t.contains(f)) tj[f] = t[f];
    }
    tj["base_model_chain"] = t.contains("base_model") ? BaseChain(t["base_model"]) : json::array();
    const auto tallied = tally.find(tj["id"].get<std::string>());
    const TeacherCallTally none;
    const TeacherCallTally& c = tallied == tally.end() ? none : tallied->second;
    tj["calls"] = {{"count", c.calls}, {"failed", c.failed}, {"items", c.items}, {"tokens", c.tokens},
                   {"first", c.first_time.empty() ? json() : json(c.first_time)},
                   {"last", c.last_time.empty() ? json() : json(c.last_time)}};
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
    json declared = json::object();  // the job's entry for this dataset
    for (const json& d : job.value("datasets", json::array())) {
      if (d.value("id", "") == m.body.value("dataset", "")) declared = d;
    }
    datasets.push_back({{"dataset", m.body.value("dataset", "")},
                        {"generated_by", declared.value("generated_by", json())},
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
  calls["timeline"] = Timeline(tally);
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
                 {"run_started", r.run_start.has_value()},
                 {"job", {{"name", dec.value("job", "")},
                          {"sha256", dec.contains("inputs") ? dec["inputs"].value("job_sha256", "") : ""},
                          {"student", job.value("student", json::object())},
                          {"student_base_chain", BaseChain(job.value("student", json::object()).value("base_model", json()))},
                          {"use", job.value("use", json::object())}}},
                 {"decision", {{"ledger_index", r.decision.index},
                               {"leaf_hash", Base64Encode(r.decision.leaf_hash)},
                               {"decided_at", dec.value("decided_at", json())},
                               {"approved", DecisionApproved(dec)},
                               {"approvals", dec.contains("approvals") && dec["approvals"].is_array() ? dec["approvals"] : json::array()},
                               {"operator", dec.value("operator", json())},
                               {"config", dec.value("config", json())},
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
  // Approvals of this (needs-review) run, recorded after its decision; the
  // job's next decision counts them (policy/approval.h).
  json received = json::array();
  for (const RecordedEntry& e : r.others) {
    if (e.kind != "approval" || !e.body.contains("statement") || !e.body["statement"].is_object()) continue;
    const json& st = e.body["statement"];
    auto text = [&st](const char* k) { return st.contains(k) && st[k].is_string() ? st[k].get<std::string>() : std::string(); };
    received.push_back({{"ledger_index", e.index}, {"leaf_hash", Base64Encode(e.leaf_hash)}, {"approver", text("approver")},
                        {"role", text("role")}, {"note", text("note")}, {"approved_at", text("approved_at")}});
  }
  report["approvals_received"] = received;
  // Every entry of the run but its teacher calls, with its leaf hash: what a
  // field of a report or an export points at (ledger prove --index proves it).
  json entries = json::array({Pointer(r.decision)});
  for (const auto* e : {&r.run_start}) {
    if (e->has_value()) entries.push_back(Pointer(**e));
  }
  for (const RecordedEntry& m : r.manifests) entries.push_back(Pointer(m));
  for (const RecordedEntry& other : r.others) entries.push_back(Pointer(other));
  for (const auto* e : {&r.model, &r.run_end}) {
    if (e->has_value()) entries.push_back(Pointer(**e));
  }
  std::sort(entries.begin(), entries.end(), [](const json& a, const json& b) { return a["ledger_index"] < b["ledger_index"]; });
  report["entries"] = entries;
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
                          {"init_from", r.run_start->body.value("init_from", json())},
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
