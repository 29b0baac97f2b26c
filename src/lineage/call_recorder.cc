#include "lineage/call_recorder.h"

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/file_util.h"

namespace dg {

std::string NowRfc3339() { return UtcNow("%Y-%m-%dT%H:%M:%SZ"); }

CallRecorder::CallRecorder(Ledger& ledger, const PrivateKey& key, std::string run_id, size_t flush_every)
    : ledger_(ledger), key_(key), run_id_(std::move(run_id)), flush_every_(flush_every == 0 ? 1 : flush_every) {}

CallRecorder::~CallRecorder() {
  if (in_flight_.valid()) in_flight_.wait();
}

void CallRecorder::AppendInBackground() { background_ = true; }

Status CallRecorder::Record(const TeacherCall& call) {
  nlohmann::json body = {{"run", run_id_},
                         {"teacher", call.teacher_id},
                         {"teacher_sha256", call.teacher_sha256},
                         {"sequence", call.sequence},
                         {"input_sha256", HexEncode(call.input_sha256)},
                         {"output_sha256", HexEncode(call.output_sha256)},
                         {"items", call.items},
                         {"time", call.time}};
  return RecordEntry("teacher_call", std::move(body));
}

Status CallRecorder::RecordEntry(const std::string& kind, nlohmann::json body) {
  body["run"] = run_id_;
  DG_ASSIGN_OR_RETURN(LedgerEntry e, LedgerEntry::Make(kind, body));
  return RecordPrepared(std::move(e), kind == "teacher_call");
}

Status CallRecorder::RecordPrepared(LedgerEntry entry, bool is_call) {
  pending_.push_back(std::move(entry));
  pending_is_call_.push_back(is_call);
  if (pending_.size() < flush_every_) return Status::Ok();
  if (!background_) return Flush();
  DG_RETURN_IF_ERROR(Await());
  flying_.swap(pending_);
  flying_is_call_.swap(pending_is_call_);
  in_flight_ = std::async(std::launch::async, [this] { return ledger_.Append(flying_, key_); });
  return Status::Ok();
}

// Counts the calls of an appended batch and clears it.
Status CallRecorder::Landed(std::vector<LedgerEntry>& entries, std::vector<bool>& is_call) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!is_call[i]) continue;
    calls_.Append(entries[i].leaf_hash(), nullptr);
    ++recorded_;
  }
  entries.clear();
  is_call.clear();
  return Status::Ok();
}

Status CallRecorder::Await() {
  if (!failed_.ok()) return failed_;
  if (!in_flight_.valid()) return Status::Ok();
  StatusOr<AppendResult> r = in_flight_.get();
  if (!r.ok()) {  // nothing is appended after a batch that failed
    failed_ = r.status();
    return failed_;
  }
  return Landed(flying_, flying_is_call_);
}

Status CallRecorder::Poll() {
  if (!failed_.ok()) return failed_;
  if (!in_flight_.valid() || in_flight_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return Status::Ok();
  return Await();
}

Status CallRecorder::Flush() {
  DG_RETURN_IF_ERROR(Await());
  if (pending_.empty()) return Status::Ok();
  DG_ASSIGN_OR_RETURN(AppendResult r, ledger_.Append(pending_, key_));
  (void)r;
  return Landed(pending_, pending_is_call_);
}

}  // namespace dg
