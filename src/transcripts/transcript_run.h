// Gating and recording API-teacher transcripts (docs/transcripts.md): the
// job's decision, then every exchange as a teacher_call ledger entry (the
// request's and response's canonical hashes, the model the response reports,
// usage, time, the terms profile and its hash), a per-call policy check, and
// verification that the transcripts still hash to what was recorded.
//
// Every run here is a RecordedRun (record/recorded_run.h): opened from the
// gate's permit, closed with run_end on every path. SIGINT and SIGTERM
// (core/interrupt.h) stop a run between exchanges; it is then closed as
// interrupted with the calls recorded so far, and the functions return the
// Interrupted status. Thread safety: each function uses the ledger from the
// calling thread (collect also from one helper thread of its own, never two
// at once); do not share the Ledger with other threads meanwhile.
#ifndef DISTILLGATE_TRANSCRIPTS_TRANSCRIPT_RUN_H_
#define DISTILLGATE_TRANSCRIPTS_TRANSCRIPT_RUN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "record/run_status.h"
#include "transcripts/reader.h"
#include "policy/job.h"
#include "policy/policy.h"

namespace dg {

// True when a response reporting `model` is allowed for a teacher whose job
// names `job_model`: the same name, or a dated snapshot of it ("<model>-"
// followed by digits and dashes only).
bool ModelAllowedFor(const std::string& job_model, const std::string& model);

struct TranscriptRunOptions {
  bool skip_bad_lines = false;  // record bad lines as skipped instead of refusing the run
  size_t flush_every = 1024;    // teacher_call entries per signed checkpoint
  std::string today;            // YYYY-MM-DD for waivers; "" = today (UTC)
  // No progress line. (It is drawn on a terminal only — lines, rate, elapsed,
  // ETA — and to draw it each file's lines are counted first.)
  bool quiet = false;
};

struct TranscriptRunSummary {
  std::string verdict, run_id;
  // completed, refused (a call broke the decision's terms), failed (collect:
  // the endpoint went down); nullopt when the decision did not allow the run
  // ("not_run" in the JSON).
  std::optional<RunStatus> status;
  uint64_t decision_index = 0;
  uint64_t exchanges = 0, failed_calls = 0, skipped_lines = 0, disallowed_calls = 0;
  uint64_t carried_over = 0;  // collect --resume: exchanges an earlier collect got, recorded by this run
  std::vector<std::string> findings;  // per-call findings (record: the first 20; collect: every one)
  double call_seconds = 0, recording_seconds = 0;  // collect: waiting for the endpoint vs recording
  int exit_code = 0;                  // 0 recorded, 1 denied or refused, 4 needs review
  nlohmann::json ToJson() const;
};

// The transcripts a job names (its api teachers' `transcript`), paths resolved.
std::vector<TranscriptSource> TranscriptSourcesOf(const Job& job);

// Decides and records in one pass over the transcripts, all in one ledger
// transaction: a malformed line is InvalidInput naming file:line and
// pointer, and nothing is written (not even the decision) unless
// skip_bad_lines. A call whose response reports a model the job does not
// name for that teacher is a finding; in enforce mode the run is refused
// (run_end "refused") and none of its calls stays recorded as usable.
StatusOr<TranscriptRunSummary> RecordTranscripts(const Job& job, const Policy& policy, Ledger& ledger,
                                                 const PrivateKey& key, const TranscriptRunOptions& options);

struct CollectOptions {
  std::string teacher_id;        // the job's api teacher to call ("" = the only one with base_url)
  std::string prompts_path;      // JSON Lines of chat-completions request bodies (model optional)
  std::string out_dir;           // writes batch_input.jsonl and batch_output.jsonl here (must not exist, unless resume)
  // Continue the collect that wrote out_dir (interrupted, failed, killed):
  // same prompts; the prompts it answered are not called again (docs/transcripts.md).
  bool resume = false;
  double timeout_s = 60;
  int max_retries = 3;
  double backoff_s = 0.2;
  double min_interval_s = 0;     // rate limit
  int max_consecutive_failures = 3;  // then the endpoint is taken as down and the run ends failed
  size_t flush_every = 64;       // calls per signed checkpoint; outputs are written only once recorded
  std::string today;
  bool quiet = false;            // no progress line (there is none anyway unless stderr is a terminal)
};

// Calls a live OpenAI-compatible endpoint for every prompt, under the gate:
// the prompts are checked first (bad line: InvalidInput, nothing written),
// the job is decided, and each call — failed ones too — is written to the
// transcript as it is answered (an OpenAI Batch API input/output pair, so
// `transcripts verify` and `transcripts record` read it) and becomes a
// teacher_call entry in the batch after it (the file is fdatasync'ed first).
// With `resume`, a new run (decided anew) records the answers an earlier
// collect left in out_dir as its first calls and calls only the rest. The
// API key is read from the environment variable the teacher names and is
// never written.
StatusOr<TranscriptRunSummary> CollectTranscripts(const Job& job, const Policy& policy, Ledger& ledger,
                                                  const PrivateKey& key, const CollectOptions& options);

struct TranscriptCheck {
  bool ok = false;
  uint64_t exchanges_checked = 0;
  uint64_t files_checked = 0;  // pinned files re-hashed
  std::vector<std::string> problems;  // what no longer matches, by file:line
  std::vector<std::string> notes;     // what was not checked, and why
};

// Re-reads the run's transcripts and rebuilds every teacher_call entry: each
// must equal the recorded one, in order, and the files their recorded SHA-256.
// A run that stopped part-way (interrupted, failed) is checked as far as it
// recorded. InvalidInput when the run recorded no transcripts. `data_dir`
// ("" = where the run recorded them): transcripts moved since — each
// recorded file is read from data_dir at its path relative to the directory
// all the run's files were in (for one out dir: data_dir/batch_output.jsonl);
// the entries are still rebuilt with the recorded paths.
StatusOr<TranscriptCheck> VerifyTranscripts(Ledger& ledger, const std::string& run_id, const std::string& data_dir = "");

}  // namespace dg

#endif  // DISTILLGATE_TRANSCRIPTS_TRANSCRIPT_RUN_H_
