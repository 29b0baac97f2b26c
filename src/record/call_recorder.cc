#include "record/call_recorder.h"

#include <ctime>

#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/file_util.h"

namespace dg {

CallRecorder::CallRecorder(Ledger& ledger, const PrivateKey& key, std::string run_id, size_t flush_every)
    : ledger_(ledger), key_(key), run_id_(std::move(run_id)), flush_every_(flush_every == 0 ? 1 : flush_every) {}

Status CallRecorder::Record(const TeacherCall& call) {
  nlohmann::json body = {{"run", run_id_},
                         {"teacher", call.teacher_id},
                         {"teacher_sha256", call.teacher_sha256},
                         {"sequence", call.sequence},
                         {"input_sha256", HexEncode(call.input_sha256)},
                         {"output_sha256", HexEncode(call.output_sha256)},
                         {"items", call.items},
                         {"time", call.time}};
  if (call.rank >= 0) body["rank"] = call.rank;
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
  if (pending_.size() >= flush_every_) return Flush();
  return Status::Ok();
}

Status CallRecorder::Flush() {
  if (pending_.empty()) return Status::Ok();
  DG_ASSIGN_OR_RETURN(AppendResult r, ledger_.Append(pending_, key_));
  (void)r;
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (!pending_is_call_[i]) {
      others_.Append(pending_[i].leaf_hash(), nullptr);
      continue;
    }
    calls_.Append(pending_[i].leaf_hash(), nullptr);
    ++recorded_;
  }
  pending_.clear();
  pending_is_call_.clear();
  return Status::Ok();
}

void CallRecorder::Restore(const Appended& state) {
  pending_.clear();
  pending_is_call_.clear();
  calls_ = state.calls;
  others_ = state.others;
  recorded_ = state.recorded;
}

}  // namespace dg
