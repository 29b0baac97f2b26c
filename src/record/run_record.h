// Everything the ledger holds about one run, gathered by run id: the
// decision, run_start, dataset manifests, model, run_end and a tally of its
// teacher calls. Reports, attestations and data proofs start from this.
//
// Read-only: everything is read from one ReadSnapshot of the ledger, so a run
// being appended to meanwhile is seen at one consistent size. Errors:
// InvalidInput for a run id that is malformed or names no decision,
// VerifyFailed for an entry that is not distillgate's JSON. Uses the Ledger
// from the calling thread; a RunRecord is a plain value.
#ifndef DISTILLGATE_RECORD_RUN_RECORD_H_
#define DISTILLGATE_RECORD_RUN_RECORD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "policy/evaluate.h"
#include "policy/gate.h"
#include "record/run_status.h"

namespace dg {

struct RecordedEntry {
  uint64_t index = 0;
  std::string kind;
  std::string data;  // the exact leaf bytes
  Hash leaf_hash{};
  nlohmann::json body;
};

struct RunRecord {
  std::string run_id;
  uint64_t tree_size = 0;  // ledger size the record was read at
  RecordedEntry decision;
  std::optional<RecordedEntry> run_start, model, run_end;
  std::vector<RecordedEntry> manifests;  // in ledger order
  std::vector<RecordedEntry> others;     // the run's entries of other kinds (transcript_line_skipped, …), in ledger order
  // Leaf hashes of every entry of the run before its run_end that is not a
  // teacher call (run_start, manifests, others, models), in ledger order:
  // what run_end's `entries` commits to.
  std::vector<Hash> entry_leaves;
  uint64_t entries_after_end = 0;        // entries of the run after its run_end (none in a ledger distillgate wrote)
  uint64_t teacher_calls = 0;            // teacher_call entries of this run found
  std::vector<Hash> teacher_call_leaves; // their leaf hashes, in ledger order
  std::string first_call_time, last_call_time;

  std::string verdict_name() const;      // the decision's verdict as recorded
  std::optional<Verdict> verdict() const;  // nullopt: not a verdict distillgate writes
  // run_end's status when there is one; else decided / refused (no
  // run_start) or incomplete.
  RunStatus status() const;
  // The RFC 6962 root of teacher_call_leaves.
  Hash TeacherCallsRoot() const;
  // The RFC 6962 root of entry_leaves.
  Hash EntriesRoot() const;
  // The files the run pinned ({path, sha256, bytes, …}): run_start's, then
  // run_end's (a live collection pins its output file at the end).
  nlohmann::json PinnedFiles() const;
};

// RunIdFor (a run's id) is the gate's: policy/gate.h.

// Reads the run `run_id` (as printed by `run`, or a decision's index as a
// plain number) from one read snapshot of the ledger. InvalidInput when the
// id is malformed or names no decision.
StatusOr<RunRecord> LoadRunRecord(Ledger& ledger, const std::string& run_id);

// Every run of the ledger (one per decision entry), oldest first.
StatusOr<std::vector<std::string>> ListRunIds(Ledger& ledger);

// The teacher calls of one run, per teacher id, for reports: what
// LoadRunRecord counts cheaply, read in full. Reads (and parses) every
// teacher_call entry of `run` up to run.tree_size; InvalidInput/VerifyFailed
// as LoadRunRecord for an entry that is not distillgate's JSON.
struct TeacherCallTally {
  uint64_t calls = 0;
  uint64_t failed = 0;  // API calls recorded with status "failed"
  uint64_t items = 0;   // a local teacher's examples ("items")
  uint64_t tokens = 0;  // an API teacher's usage.total_tokens
  std::string first_time, last_time;  // as recorded; "" when no call carries a time
  std::vector<int64_t> times;         // seconds since 1970 of the calls with a time, in ledger order
};
StatusOr<std::map<std::string, TeacherCallTally>> TallyTeacherCalls(Ledger& ledger, const RunRecord& run);

}  // namespace dg

#endif  // DISTILLGATE_RECORD_RUN_RECORD_H_
