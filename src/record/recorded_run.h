// The one lifecycle of every kind of run (docs/architecture.md): a run is
// opened only from a recorded decision that allows it (a Permit, which only
// the Gate mints), appends run_start, then its manifests, teacher calls and
// models, and is always closed with run_end: completed, refused, failed
// (with the error) or interrupted (with the signal). Every run kind —
// train-teacher, run, train-lm, distill-lm, transcripts record and collect —
// goes through it, so a new kind cannot forget a step.
//
// Errors: every method returns the ledger's error when an append fails; the
// run is then still open and Fail() may be called (it will try again).
// Atomicity: each Append() and each flushed batch of calls is one signed
// ledger batch; a crash between them leaves a prefix of the run (RunStatus
// kIncomplete), never a half-written entry.
// Ownership: the RecordedRun refers to `ledger` and `key`, which must outlive
// it. Thread safety: not thread-safe; one thread appends (the recorder may be
// handed to a helper thread as long as no other call is made meanwhile).
#ifndef DISTILLGATE_RECORD_RECORDED_RUN_H_
#define DISTILLGATE_RECORD_RECORDED_RUN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "policy/gate.h"
#include "policy/job.h"
#include "record/call_recorder.h"
#include "record/run_status.h"

namespace dg {

class RecordedRun {
 public:
  // What run_start records besides the fields every run has ("run", "job",
  // "job_sha256", "decision_index", "mode").
  struct Start {
    std::string mode;           // train-teacher | distill | train-lm | distill-lm | transcripts | …
    nlohmann::json fields = nlohmann::json::object();
    size_t calls_per_batch = 256;  // teacher_call entries appended per signed checkpoint
  };

  // Re-checks the permit against `job` and `ledger` (Gate::Verify), then
  // appends run_start. VerifyFailed when the job changed since its decision,
  // the ledger no longer holds it, or the decision already opened a run
  // (one decision, one run); nothing is appended then.
  static StatusOr<std::unique_ptr<RecordedRun>> Begin(const Permit& permit, const Job& job, Ledger& ledger,
                                                     const PrivateKey& key, Start start);
  // The same for a run decided on another subject (Gate::DecideAttribution):
  // run_start's "job" is the subject's name, "job_sha256" its hash.
  static StatusOr<std::unique_ptr<RecordedRun>> Begin(const Permit& permit, const RunSubject& subject, Ledger& ledger,
                                                     const PrivateKey& key, Start start);
  // Re-opens run `run_id` that a process left open (killed before its
  // run_end, e.g. a proxy after `kill -9`; docs/proxy.md): the permit must
  // be for the run's decision (Gate::Admit) and the job still the decided
  // one (Gate::Verify); the run must have a run_start of `mode` and no
  // run_end. The recorder continues from what the ledger holds: its calls
  // and other entries (counts and roots), so run_end commits to the whole
  // run. VerifyFailed otherwise; nothing is appended by resuming.
  static StatusOr<std::unique_ptr<RecordedRun>> Resume(const Permit& permit, const Job& job, Ledger& ledger,
                                                      const PrivateKey& key, const std::string& mode,
                                                      size_t calls_per_batch);
  // Closes the run as failed if it was left open (an exception, an early
  // return): no run stays "incomplete" because its code forgot a path.
  ~RecordedRun();
  RecordedRun(const RecordedRun&) = delete;
  RecordedRun& operator=(const RecordedRun&) = delete;

  const std::string& id() const { return id_; }  // RunIdFor(job, decision index)
  bool closed() const { return closed_; }

  // Appends one entry of the run now, after any buffered calls (its body gets
  // "run"), with its own signed checkpoint.
  Status Append(const std::string& kind, nlohmann::json body);
  // Appends several entries of one kind as one batch (e.g. dataset manifests).
  Status AppendAll(const std::string& kind, std::vector<nlohmann::json> bodies);
  // The run's teacher calls, buffered and appended calls_per_batch at a time.
  CallRecorder& calls() { return recorder_; }

  // Each closes the run with run_end {run, status, …fields} after appending
  // the buffered calls. A closed run takes no more entries. End() takes any
  // run_end status (completed, refused, failed, interrupted); a run whose
  // end failed stays open, so the caller can still Fail() it.
  Status End(RunStatus status, nlohmann::json fields);
  Status Complete(nlohmann::json fields) { return End(RunStatus::kCompleted, std::move(fields)); }
  Status Refuse(nlohmann::json fields) { return End(RunStatus::kRefused, std::move(fields)); }
  // Closes the run as failed — or as interrupted when `why` is an
  // Interrupted status — and returns `why` (with a note added when the
  // ledger could not record the end either). Calls buffered so far are
  // appended first, so every call made is recorded.
  Status Fail(const Status& why);
  // Closes without writing anything: only for a run inside a
  // Ledger::Transaction that the caller is about to roll back whole (bad
  // input found part-way; docs/transcripts.md).
  void Discard() { closed_ = true; }

 private:
  RecordedRun(Ledger& ledger, const PrivateKey& key, std::string id, size_t calls_per_batch)
      : ledger_(ledger), key_(key), id_(std::move(id)), recorder_(ledger, key, id_, calls_per_batch) {}

  Ledger& ledger_;
  const PrivateKey& key_;
  std::string id_;
  CallRecorder recorder_;
  bool closed_ = false;
};

}  // namespace dg

#endif  // DISTILLGATE_RECORD_RECORDED_RUN_H_
