// `transcripts verify`: re-read a run's transcripts and rebuild every
// teacher_call entry it recorded.
#include <map>
#include <vector>

#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "record/run_record.h"
#include "transcripts/call_entry.h"
#include "transcripts/transcript_run.h"

namespace dg {

using json = nlohmann::json;
using namespace transcripts_internal;

namespace {

// The directory every one of `paths` is in (the longest common directory).
std::string CommonDirectory(const std::vector<std::string>& paths) {
  if (paths.empty()) return "";
  std::string common = paths[0].substr(0, paths[0].rfind('/'));
  for (const std::string& p : paths) {
    while (!common.empty() && !(p.size() > common.size() && p.compare(0, common.size(), common) == 0 && p[common.size()] == '/')) {
      common = common.substr(0, common.rfind('/') == std::string::npos ? 0 : common.rfind('/'));
    }
  }
  return common;
}

}  // namespace

StatusOr<TranscriptCheck> VerifyTranscripts(Ledger& ledger, const std::string& run_id, const std::string& data_dir) {
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger, run_id));
  if (!r.run_start || r.run_start->body.value("mode", "") != "transcripts") {
    return Status::InvalidInput("run " + r.run_id + " recorded no transcripts");
  }
  if (r.status() == RunStatus::kRefused && r.teacher_calls == 0) {
    return Status::InvalidInput("run " + r.run_id + " was refused before any call was recorded: nothing to verify (its run_end lists why)");
  }
  const bool stopped = r.status() == RunStatus::kInterrupted || r.status() == RunStatus::kFailed || r.status() == RunStatus::kIncomplete;
  if (r.teacher_call_leaves.empty() && !stopped) {
    return Status::InvalidInput("run " + r.run_id + " recorded no exchange: there is nothing to verify");
  }
  TranscriptCheck c;
  const json& start = r.run_start->body;
  // A run that stopped part-way (interrupted, failed, or killed: incomplete)
  // recorded a prefix of the transcripts: those calls are checked, the rest
  // were never recorded, and a pinned file may have grown since (a resumed
  // collect appends to it): its first `bytes` bytes must be the pinned ones.
  const bool partial = stopped;
  if (partial) {
    c.notes.push_back("run " + r.run_id + " is " + RunStatusName(r.status()) + ": only the " +
                      std::to_string(r.teacher_call_leaves.size()) +
                      " exchanges it recorded are checked, and of a pinned file that grew since, the bytes it pinned");
  }
  // Transcripts moved since the run: each recorded file is looked for under
  // data_dir at its path relative to the directory all of them were in.
  std::vector<std::string> recorded;
  for (const json& sj : start.value("transcripts", json::array())) {
    recorded.push_back(sj.value("path", ""));
    if (sj.contains("output")) recorded.push_back(sj.value("output", ""));
  }
  for (const json& f : r.PinnedFiles()) recorded.push_back(f.value("path", ""));
  const std::string common = CommonDirectory(recorded);
  std::map<std::string, std::string> moved_to_recorded;
  auto where = [&](const std::string& path) -> std::string {
    if (data_dir.empty() || path.empty()) return path;
    const std::string now = data_dir + "/" + path.substr(common.size() + 1);
    moved_to_recorded[now] = path;
    return now;
  };
  if (!data_dir.empty()) {
    c.notes.push_back("the transcripts were read from " + data_dir + " in place of " + (common.empty() ? "/" : common) +
                      ", where the run recorded them");
  }
  for (const json& f : r.PinnedFiles()) {
    ++c.files_checked;
    StatusOr<Hash> h = Sha256File(where(f.value("path", "")));
    auto size = FileSize(where(f.value("path", "")));
    const uint64_t pinned_bytes = f.value("bytes", uint64_t{0});
    if (partial && h.ok() && size.ok() && *size > pinned_bytes && f.contains("bytes")) {
      auto text = ReadFile(where(f.value("path", "")));
      if (text.ok()) h = Sha256(std::string_view(*text).substr(0, pinned_bytes));
    }
    if (!h.ok()) {
      c.problems.push_back(where(f.value("path", "")) + ": " + h.status().message());
    } else if (HexEncode(*h) != f.value("sha256", "")) {
      c.problems.push_back(where(f.value("path", "")) + ": its SHA-256 is no longer the recorded " + f.value("sha256", ""));
    }
  }
  std::map<std::string, TeacherMeta> metas;
  for (const json& t : start.value("api_teachers", json::array())) metas[t.value("id", "")] = TeacherMeta::FromJson(t);
  uint64_t sequence = 0;
  size_t reported = 0;
  for (const json& sj : start.value("transcripts", json::array())) {
    TranscriptSource src{sj.value("teacher", ""), sj.value("format", ""), where(sj.value("path", "")), where(sj.value("output", ""))};
    const TeacherMeta& t = metas[src.teacher_id];
    TranscriptReadOptions read_options = PreparingCalls(t, r.run_id);
    if (!data_dir.empty()) {
      // The entries name the files where they were recorded.
      read_options.prepare = [prepare = read_options.prepare, &moved_to_recorded](TranscriptItem& it) {
        auto at = moved_to_recorded.find(it.exchange.file);
        if (at != moved_to_recorded.end()) it.exchange.file = at->second;
        return prepare(it);
      };
    }
    Status st = ReadTranscript(
        src,
        [&](TranscriptItem& it) -> Status {
          // Skipped when recorded, or malformed now: the count of exchanges shows it.
          if (it.kind == TranscriptItem::Kind::kProblem) return Status::Ok();
          const uint64_t seq = sequence++;
          DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(it.prepared, seq));
          if (!(partial && seq >= r.teacher_call_leaves.size())) ++c.exchanges_checked;
          if (partial && seq >= r.teacher_call_leaves.size()) return Status::Ok();  // never recorded
          if (seq >= r.teacher_call_leaves.size() || entry.leaf_hash() != r.teacher_call_leaves[seq]) {
            if (reported++ < 20) {
              c.problems.push_back(it.exchange.file + ":" + std::to_string(it.exchange.line) +
                                   ": the exchange no longer hashes to recorded teacher call " + std::to_string(seq) +
                                   " (edited, inserted or removed since the run)");
            }
          }
          return Status::Ok();
        },
        read_options);
    if (!st.ok()) c.problems.push_back(st.message());
  }
  if (partial ? sequence < r.teacher_call_leaves.size() : sequence != r.teacher_call_leaves.size()) {
    c.problems.push_back("the transcripts now hold " + std::to_string(sequence) + " exchanges; the run recorded " +
                         std::to_string(r.teacher_call_leaves.size()));
  }
  c.ok = c.problems.empty();
  return c;
}

}  // namespace dg
