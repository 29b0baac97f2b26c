// Internal to src/transcripts/: what recording, collecting and verifying a
// transcript share — the teacher_call entry of an exchange (a pure function
// of the exchange and what run_start records of its teacher, so `transcripts
// verify` can rebuild it) and the gate of a transcript run. Not a public
// header: nothing outside src/transcripts/ includes it.
#ifndef DISTILLGATE_TRANSCRIPTS_CALL_ENTRY_H_
#define DISTILLGATE_TRANSCRIPTS_CALL_ENTRY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/entry.h"
#include "ledger/ledger.h"
#include "license/knowledge_base.h"
#include "policy/gate.h"
#include "policy/job.h"
#include "policy/policy.h"
#include "transcripts/reader.h"
#include "transcripts/transcript_run.h"

namespace dg::transcripts_internal {

// What run_start records of an API teacher; the teacher_call bodies are a
// pure function of it and the exchange, so verification can rebuild them.
struct TeacherMeta {
  std::string id, provider, model, license, terms_profile, terms_sha256;
  nlohmann::json ToJson() const;
  static TeacherMeta FromJson(const nlohmann::json& j);
};

// The job's teachers by id, each with the terms profile its license names.
std::map<std::string, TeacherMeta> TeacherMetas(const Job& job, const KnowledgeBase& kb);

// What tells a file that changed from one that did not, without reading it.
struct FileStamp {
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp& o) const {
    return device == o.device && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
  }
};
StatusOr<FileStamp> StampOf(const std::string& path);

// A teacher_call body but for its sequence number, which only the reader in
// file order knows, so the rest can be built on a worker thread. Thread-safe.
StatusOr<CanonicalObjectWithHole> PrepareCall(const Exchange& e, const TeacherMeta& t, const std::string& run_id);
// The teacher_call entry of an exchange.
StatusOr<LedgerEntry> CallEntry(const CanonicalObjectWithHole& body, uint64_t sequence);
// Reading options that prepare every exchange's call on the workers and
// then drop its documents (the recorder needs only the prepared parts).
// `t` must outlive the read.
TranscriptReadOptions PreparingCalls(const TeacherMeta& t, const std::string& run_id);

// The text of a transcript file that a killed process may have been
// writing: a last line without its newline (a write that never completed)
// is cut off the file, and `repairs` gets a note saying so.
StatusOr<std::string> ReadCuttingPartialLastLine(const std::string& path, std::vector<std::string>* repairs);

// The gate of a transcript run: records the decision (Gate::Decide, `today`
// "" = today) and fills the summary's verdict, run id and exit code. The
// permit when the decision allows the run.
StatusOr<std::optional<Permit>> DecideTranscriptRun(const Job& job, const Policy& policy, const KnowledgeBase& kb,
                                                    Ledger& ledger, const PrivateKey& key, const std::string& today,
                                                    TranscriptRunSummary* s);

}  // namespace dg::transcripts_internal

#endif  // DISTILLGATE_TRANSCRIPTS_CALL_ENTRY_H_
