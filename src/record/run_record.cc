#include "record/run_record.h"

#include <cctype>

#include "core/canonical_json.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "ledger/merkle.h"
#include "policy/approval.h"

namespace dg {

using json = nlohmann::json;

bool IsReservedEntryKind(std::string_view kind) {
  for (std::string_view k : {"decision", "run_start", "run_end", "dataset_manifest", "model", "teacher_call",
                             "transcript_line_skipped", "dataset_file", "approval", "attribution"}) {
    if (kind == k) return true;
  }
  return false;
}

const char* RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kDecided: return "decided";
    case RunStatus::kRefused: return "refused";
    case RunStatus::kIncomplete: return "incomplete";
    case RunStatus::kCompleted: return "completed";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kInterrupted: return "interrupted";
  }
  return "incomplete";
}

std::optional<RunStatus> ParseRunStatus(std::string_view name) {
  for (RunStatus s : {RunStatus::kDecided, RunStatus::kRefused, RunStatus::kIncomplete, RunStatus::kCompleted,
                      RunStatus::kFailed, RunStatus::kInterrupted}) {
    if (name == RunStatusName(s)) return s;
  }
  return std::nullopt;
}

std::string RunRecord::verdict_name() const { return decision.body.value("verdict", ""); }

std::optional<Verdict> RunRecord::verdict() const { return ParseVerdict(verdict_name()); }

RunStatus RunRecord::status() const {
  if (run_end) {
    // A run_end whose status distillgate does not write reads as incomplete
    // (never as completed).
    return ParseRunStatus(run_end->body.value("status", "")).value_or(RunStatus::kIncomplete);
  }
  if (!run_start) {
    const std::optional<Verdict> v = verdict();
    return v && (VerdictAllows(*v) || DecisionApproved(decision.body)) ? RunStatus::kDecided : RunStatus::kRefused;
  }
  return RunStatus::kIncomplete;
}

nlohmann::json RunRecord::PinnedFiles() const {
  nlohmann::json files = nlohmann::json::array();
  for (const auto* e : {&run_start, &run_end}) {
    if (!e->has_value()) continue;
    for (const auto& f : (*e)->body.value("files", nlohmann::json::array())) files.push_back(f);
  }
  return files;
}

Hash RunRecord::EntriesRoot() const {
  CompactRange r;
  for (const Hash& h : entry_leaves) r.Append(h, nullptr);
  return r.Root();
}

Hash RunRecord::TeacherCallsRoot() const {
  CompactRange r;
  for (const Hash& h : teacher_call_leaves) r.Append(h, nullptr);
  return r.Root();
}

namespace {

bool AllDigits(const std::string& s) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

StatusOr<RecordedEntry> ToRecorded(const StoredLeaf& leaf) {
  RecordedEntry e;
  e.index = leaf.index;
  e.kind = leaf.kind;
  e.data = leaf.data;
  e.leaf_hash = leaf.leaf_hash;
  auto doc = ParseJsonStrict(leaf.data, "ledger entry " + std::to_string(leaf.index));
  if (!doc.ok() || !doc->is_object() || !(*doc)["body"].is_object()) {
    return Status::VerifyFailed("ledger entry " + std::to_string(leaf.index) + " is not a JSON entry object");
  }
  e.body = std::move((*doc)["body"]);
  return e;
}

}  // namespace

StatusOr<RunRecord> LoadRunRecord(Ledger& ledger, const std::string& run_id) {
  Ledger::ReadSnapshot snap(ledger);
  RunRecord r;
  DG_ASSIGN_OR_RETURN(r.tree_size, ledger.Size());
  std::string prefix;
  std::string index_text = run_id;
  const size_t dash = run_id.rfind('-');
  if (dash != std::string::npos) {
    prefix = run_id.substr(0, dash);
    index_text = run_id.substr(dash + 1);
  }
  if (!AllDigits(index_text) || (dash != std::string::npos && (prefix.size() != 16 || !HexDecode(prefix)))) {
    return Status::InvalidInput("run \"" + run_id +
                                "\": expected a run id as `run` prints it (16 hex digits, '-', the decision's "
                                "entry index) or a decision's entry index");
  }
  const uint64_t index = std::stoull(index_text);
  if (index >= r.tree_size) {
    return Status::InvalidInput("run \"" + run_id + "\": the ledger has no entry " + index_text + " (it holds " +
                                std::to_string(r.tree_size) + ")");
  }
  DG_ASSIGN_OR_RETURN(StoredLeaf dleaf, ledger.GetLeaf(index));
  if (dleaf.kind != "decision") {
    return Status::InvalidInput("run \"" + run_id + "\": entry " + index_text + " is a " + dleaf.kind +
                                " entry, not a decision");
  }
  DG_ASSIGN_OR_RETURN(r.decision, ToRecorded(dleaf));
  const std::string job_sha = r.decision.body.value("inputs", json::object()).value("job_sha256", "");
  r.run_id = RunIdFor(job_sha, index);
  if (!prefix.empty() && r.run_id != run_id) {
    return Status::InvalidInput("run \"" + run_id + "\": entry " + index_text + " decided job " + r.run_id +
                                ", another job");
  }
  // The run's entries follow its decision. Teacher calls are matched on their
  // canonical bytes (their bodies hold only flat strings and numbers); the
  // few other entries are parsed.
  const std::string needle = "\"run\":" + json(r.run_id).dump();
  DG_ASSIGN_OR_RETURN(auto scan, ledger.ScanLeaves(index + 1, r.tree_size));
  StoredLeaf leaf;
  while (true) {
    DG_ASSIGN_OR_RETURN(bool more, scan->Next(&leaf));
    if (!more) break;
    if (leaf.data.find(needle) == std::string::npos) continue;
    if (leaf.kind == "teacher_call") {
      if (r.run_end) ++r.entries_after_end;
      // Only the body's own "run" may match: a nested member named "run"
      // (say, inside a recorded API response) would show a second occurrence.
      if (leaf.data.find("\"run\":\"", leaf.data.find(needle) + 1) != std::string::npos ||
          leaf.data.find("\"run\":\"") != leaf.data.find(needle)) {
        DG_ASSIGN_OR_RETURN(RecordedEntry e, ToRecorded(leaf));
        if (e.body.value("run", "") != r.run_id) continue;
      }
      ++r.teacher_calls;
      r.teacher_call_leaves.push_back(leaf.leaf_hash);
      const size_t t = leaf.data.find("\"time\":\"");
      if (t != std::string::npos) {
        const size_t end = leaf.data.find('"', t + 8);
        std::string time = leaf.data.substr(t + 8, end - t - 8);
        if (r.first_call_time.empty()) r.first_call_time = time;
        r.last_call_time = time;
      }
      continue;
    }
    DG_ASSIGN_OR_RETURN(RecordedEntry e, ToRecorded(leaf));
    if (e.body.value("run", "") != r.run_id) continue;
    if (r.run_end) {
      ++r.entries_after_end;
      continue;
    }
    if (e.kind != "run_end") r.entry_leaves.push_back(e.leaf_hash);
    if (e.kind == "run_start" && !r.run_start) r.run_start = std::move(e);
    else if (e.kind == "dataset_manifest") r.manifests.push_back(std::move(e));
    else if (e.kind == "model" && !r.model) r.model = std::move(e);
    else if (e.kind == "run_end") r.run_end = std::move(e);
    else r.others.push_back(std::move(e));
  }
  return r;
}

StatusOr<std::vector<std::string>> ListRunIds(Ledger& ledger) {
  Ledger::ReadSnapshot snap(ledger);
  DG_ASSIGN_OR_RETURN(uint64_t size, ledger.Size());
  DG_ASSIGN_OR_RETURN(auto scan, ledger.ScanLeaves(0, size));
  std::vector<std::string> ids;
  StoredLeaf leaf;
  while (true) {
    DG_ASSIGN_OR_RETURN(bool more, scan->Next(&leaf));
    if (!more) break;
    if (leaf.kind != "decision") continue;
    DG_ASSIGN_OR_RETURN(RecordedEntry e, ToRecorded(leaf));
    ids.push_back(RunIdFor(e.body.value("inputs", json::object()).value("job_sha256", ""), leaf.index));
  }
  return ids;
}

StatusOr<std::map<std::string, TeacherCallTally>> TallyTeacherCalls(Ledger& ledger, const RunRecord& run) {
  Ledger::ReadSnapshot snap(ledger);
  std::map<std::string, TeacherCallTally> out;
  const std::string needle = "\"run\":" + json(run.run_id).dump();
  DG_ASSIGN_OR_RETURN(auto scan, ledger.ScanLeaves(run.decision.index + 1, run.tree_size));
  StoredLeaf leaf;
  while (true) {
    DG_ASSIGN_OR_RETURN(bool more, scan->Next(&leaf));
    if (!more) break;
    if (leaf.kind != "teacher_call" || leaf.data.find(needle) == std::string::npos) continue;
    DG_ASSIGN_OR_RETURN(RecordedEntry e, ToRecorded(leaf));
    const json& b = e.body;
    if (b.value("run", "") != run.run_id) continue;
    TeacherCallTally& t = out[b.value("teacher", "")];
    ++t.calls;
    if (b.value("status", "") == "failed") ++t.failed;
    if (b.contains("items") && b["items"].is_number_unsigned()) t.items += b["items"].get<uint64_t>();
    if (b.contains("usage") && b["usage"].is_object() && b["usage"].contains("total_tokens") &&
        b["usage"]["total_tokens"].is_number_unsigned()) {
      t.tokens += b["usage"]["total_tokens"].get<uint64_t>();
    }
    if (b.contains("time") && b["time"].is_string()) {
      const std::string time = b["time"];
      if (t.first_time.empty()) t.first_time = time;
      t.last_time = time;
      if (std::optional<int64_t> secs = ParseRfc3339(time)) t.times.push_back(*secs);
    }
  }
  return out;
}

}  // namespace dg
