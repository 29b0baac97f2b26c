#include "record/recorded_run.h"

#include "core/encoding.h"
#include "core/interrupt.h"
#include "record/run_record.h"

namespace dg {

using json = nlohmann::json;

StatusOr<std::unique_ptr<RecordedRun>> RecordedRun::Begin(const Permit& permit, const Job& job, Ledger& ledger,
                                                         const PrivateKey& key, Start start) {
  return Begin(permit, RunSubject{job.name, job.sha256}, ledger, key, std::move(start));
}

StatusOr<std::unique_ptr<RecordedRun>> RecordedRun::Begin(const Permit& permit, const RunSubject& job, Ledger& ledger,
                                                         const PrivateKey& key, Start start) {
  DG_RETURN_IF_ERROR(Gate::Verify(permit, job, ledger));
  const std::string id = RunIdFor(permit.job_sha256(), permit.decision_index());
  // One decision, one run: a permit used a second time opens nothing (the
  // entries after the decision are read, usually none or a few).
  DG_ASSIGN_OR_RETURN(RunRecord existing, LoadRunRecord(ledger, id));
  if (existing.run_start) {
    return Status::VerifyFailed("decision " + std::to_string(permit.decision_index()) + " already opened run " + id +
                                " (entry " + std::to_string(existing.run_start->index) + "): decide again for another run");
  }
  std::unique_ptr<RecordedRun> run(new RecordedRun(ledger, key, id, start.calls_per_batch));
  json body = std::move(start.fields);
  body["job"] = job.name;
  body["job_sha256"] = job.sha256;
  body["decision_index"] = permit.decision_index();
  body["mode"] = start.mode;
  Status st = run->Append("run_start", std::move(body));
  if (!st.ok()) {
    run->closed_ = true;  // nothing of the run is in the ledger: there is nothing to close
    return st;
  }
  return run;
}

StatusOr<std::unique_ptr<RecordedRun>> RecordedRun::Resume(const Permit& permit, const Job& job, Ledger& ledger,
                                                          const PrivateKey& key, const std::string& mode,
                                                          size_t calls_per_batch) {
  DG_RETURN_IF_ERROR(Gate::Verify(permit, job, ledger));
  const std::string id = RunIdFor(permit.job_sha256(), permit.decision_index());
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger, id));
  if (!r.run_start) return Status::VerifyFailed("run " + id + " was never opened: there is nothing to resume");
  if (r.run_start->body.value("mode", "") != mode) {
    return Status::VerifyFailed("run " + id + " is a " + r.run_start->body.value("mode", "?") + " run, not " + mode);
  }
  if (r.run_end) {
    return Status::VerifyFailed("run " + id + " is closed (" + std::string(RunStatusName(r.status())) +
                                ", entry " + std::to_string(r.run_end->index) + "): a closed run cannot be resumed");
  }
  std::unique_ptr<RecordedRun> run(new RecordedRun(ledger, key, id, calls_per_batch));
  CallRecorder::Appended state;
  for (const Hash& h : r.teacher_call_leaves) state.calls.Append(h, nullptr);
  for (const Hash& h : r.entry_leaves) state.others.Append(h, nullptr);
  state.recorded = r.teacher_call_leaves.size();
  run->recorder_.Restore(state);
  return run;
}

RecordedRun::~RecordedRun() {
  if (closed_) return;
  try {
    Fail(Status::Internal("the run's code returned without closing it")).IgnoreError();
  } catch (...) {  // a destructor must not throw; the run then reads as incomplete
  }
}

Status RecordedRun::Append(const std::string& kind, json body) {
  if (closed_) return Status::Internal("run " + id_ + " is closed: no " + kind + " entry may follow its run_end");
  DG_RETURN_IF_ERROR(recorder_.RecordEntry(kind, std::move(body)));
  return recorder_.Flush();
}

Status RecordedRun::AppendAll(const std::string& kind, std::vector<json> bodies) {
  if (closed_) return Status::Internal("run " + id_ + " is closed: no " + kind + " entry may follow its run_end");
  for (json& b : bodies) DG_RETURN_IF_ERROR(recorder_.RecordEntry(kind, std::move(b)));
  return recorder_.Flush();
}

Status RecordedRun::End(RunStatus status, json fields) {
  if (closed_) return Status::Internal("run " + id_ + " is already closed");
  if (status == RunStatus::kDecided || status == RunStatus::kIncomplete) {
    return Status::Internal(std::string("run_end cannot say ") + RunStatusName(status));
  }
  DG_RETURN_IF_ERROR(recorder_.Flush());
  fields["status"] = RunStatusName(status);
  // The run's complete entry set (docs/ledger-format.md §run_end): every
  // entry before run_end that is not a teacher call, counted and under one
  // root, so no entry can be left out of an attestation unnoticed (the
  // calls have their own root).
  fields["entries"] = {{"count", recorder_.others()}, {"root", Base64Encode(recorder_.others_root())}};
  DG_RETURN_IF_ERROR(recorder_.RecordEntry("run_end", std::move(fields)));
  DG_RETURN_IF_ERROR(recorder_.Flush());
  closed_ = true;
  return Status::Ok();
}

Status RecordedRun::Fail(const Status& why) {
  const bool interrupted = why.code() == Status::Code::kInterrupted;
  json fields = {{"error", why.message()}};
  if (interrupted) fields["signal"] = SignalName(why.signal());
  Status st = End(interrupted ? RunStatus::kInterrupted : RunStatus::kFailed, std::move(fields));
  if (!st.ok()) {
    closed_ = true;  // the ledger refuses appends: the run stays incomplete there
    return why.WithContext("run " + id_ + " (its end could not be recorded either: " + st.message() + ")");
  }
  return why;
}

}  // namespace dg
