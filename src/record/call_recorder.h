// Records teacher calls in the ledger: one "teacher_call" entry per call
// (teacher id and model hash, hashes of the input batch and of the outputs,
// item count, time), appended in batches with one signed checkpoint each, so
// recording stays cheap. Also keeps the Merkle root of the calls' entries.
//
// Ownership: refers to `ledger` and `key`, which must outlive it. Errors: the
// ledger's, from the Record*() call that fills a batch or from Flush(); the
// failed batch stays pending (nothing of it is appended). Atomicity: each
// batch is one signed ledger append. Thread safety: one thread at a time.
#ifndef DISTILLGATE_RECORD_CALL_RECORDER_H_
#define DISTILLGATE_RECORD_CALL_RECORDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ed25519.h"
#include "core/hash.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "ledger/merkle.h"

namespace dg {

struct TeacherCall {
  std::string teacher_id;
  std::string teacher_sha256;  // hex SHA-256 of the teacher model file (or API model id hash)
  uint64_t sequence = 0;       // call number within the run, from 0
  Hash input_sha256{}, output_sha256{};
  uint64_t items = 0;          // examples in the batch
  std::string time;            // RFC 3339 UTC
  int rank = -1;               // the rank that made the call in a data-parallel run; -1: one process (not recorded)
};

class CallRecorder {
 public:
  CallRecorder(Ledger& ledger, const PrivateKey& key, std::string run_id, size_t flush_every);
  ~CallRecorder() = default;

  // Buffers the call; appends a batch when `flush_every` are pending.
  Status Record(const TeacherCall& call);
  // Buffers any entry of the run (its body gets "run"); kind "teacher_call"
  // entries count as calls (recorded(), calls_root()), others do not.
  Status RecordEntry(const std::string& kind, nlohmann::json body);
  // Buffers an entry prepared by the caller (its body must already name this
  // run); `is_call` counts it as a teacher call.
  Status RecordPrepared(LedgerEntry entry, bool is_call);
  // Appends whatever is pending (a no-op when nothing is).
  Status Flush();
  // What has been appended so far (the counts and roots), to go back to
  // after rolling a Ledger::Transaction back to the same point: Restore()
  // also drops the pending entries.
  struct Appended {
    CompactRange calls, others;
    uint64_t recorded = 0;
  };
  Appended Save() const { return {calls_, others_, recorded_}; }
  void Restore(const Appended& state);

  size_t flush_every() const { return flush_every_; }  // entries per appended batch
  uint64_t recorded() const { return recorded_; }    // calls appended to the ledger
  uint64_t pending() const { return pending_.size(); }
  Hash calls_root() const { return calls_.Root(); }   // RFC 6962 root of the appended calls' leaf hashes
  // The entries appended that are not teacher calls (run_start, manifests,
  // models, skipped lines…): their count and RFC 6962 root, in ledger order.
  uint64_t others() const { return others_.size(); }
  Hash others_root() const { return others_.Root(); }

 private:
  Ledger& ledger_;
  const PrivateKey& key_;
  std::string run_id_;
  size_t flush_every_;
  std::vector<LedgerEntry> pending_;
  std::vector<bool> pending_is_call_;
  CompactRange calls_, others_;
  uint64_t recorded_ = 0;
};

}  // namespace dg

#endif  // DISTILLGATE_RECORD_CALL_RECORDER_H_
