// Records teacher calls in the ledger: one "teacher_call" entry per call
// (teacher id and model hash, hashes of the input batch and of the outputs,
// item count, time), appended in batches with one signed checkpoint each, so
// recording stays cheap. Also keeps the Merkle root of the calls' entries.
#ifndef DISTILLGATE_LINEAGE_CALL_RECORDER_H_
#define DISTILLGATE_LINEAGE_CALL_RECORDER_H_

#include <cstdint>
#include <future>
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
};

class CallRecorder {
 public:
  CallRecorder(Ledger& ledger, const PrivateKey& key, std::string run_id, size_t flush_every);
  ~CallRecorder();  // waits for a background append (its result is dropped: Flush() reports it)
  CallRecorder(const CallRecorder&) = delete;
  CallRecorder& operator=(const CallRecorder&) = delete;

  // Buffers the call; appends a batch when `flush_every` are pending.
  Status Record(const TeacherCall& call);
  // Buffers any entry of the run (its body gets "run"); kind "teacher_call"
  // entries count as calls (recorded(), calls_root()), others do not.
  Status RecordEntry(const std::string& kind, nlohmann::json body);
  // Buffers an entry prepared by the caller (its body must already name this
  // run); `is_call` counts it as a teacher call.
  Status RecordPrepared(LedgerEntry entry, bool is_call);
  // Appends whatever is pending (a no-op when nothing is), after waiting for
  // a background append; its error, if any, is returned here.
  Status Flush();

  // From now on a full batch is appended on a helper thread while the caller
  // goes on buffering the next: one batch in flight, so entries keep their
  // order, and the next full batch (or Flush) waits for it. For callers
  // whose calls wait on the network: the append and its fsync overlap the
  // next calls instead of delaying them. The ledger must not be used by
  // anyone else until Flush() returns.
  void AppendInBackground();
  // Takes the result of a background append that has finished (without
  // waiting), so recorded() counts its calls; its error is returned.
  Status Poll();

  uint64_t recorded() const { return recorded_; }    // calls appended to the ledger
  uint64_t pending() const { return pending_.size() + flying_.size(); }  // entries not yet appended
  Hash calls_root() const { return calls_.Root(); }   // RFC 6962 root of the appended calls' leaf hashes

 private:
  Status Landed(std::vector<LedgerEntry>& entries, std::vector<bool>& is_call);
  Status Await();  // waits for the background append, if any, and takes its result

  Ledger& ledger_;
  const PrivateKey& key_;
  std::string run_id_;
  size_t flush_every_;
  std::vector<LedgerEntry> pending_;
  std::vector<bool> pending_is_call_;
  bool background_ = false;
  std::future<StatusOr<AppendResult>> in_flight_;  // appending flying_
  std::vector<LedgerEntry> flying_;
  std::vector<bool> flying_is_call_;
  Status failed_;  // a background append's error: every later call returns it
  CompactRange calls_;
  uint64_t recorded_ = 0;
};

std::string NowRfc3339();

}  // namespace dg

#endif  // DISTILLGATE_LINEAGE_CALL_RECORDER_H_
