// Full verification of a ledger file against a key the verifier trusts.
// Read-only: Fsck never writes, and reads one snapshot of the file (appends
// made meanwhile by other processes are not seen). Uses the Ledger from the
// calling thread only.
#ifndef DISTILLGATE_LEDGER_FSCK_H_
#define DISTILLGATE_LEDGER_FSCK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "ledger/ledger.h"
#include "ledger/note.h"

namespace dg {

struct FsckOptions {
  // A checkpoint note the verifier saved earlier: the ledger must extend it
  // (catches truncation, rollback and forks that are internally consistent).
  std::optional<std::string> since_note;
  // Also require every leaf to be canonical JSON of {"body":{…},"kind":…}
  // whose kind matches the kind column. On by default.
  bool check_entry_encoding = true;
  size_t max_problems = 50;  // stop listing (not checking) after this many
};

struct FsckReport {
  uint64_t tree_size = 0;
  uint64_t leaves_checked = 0;
  uint64_t nodes_checked = 0;
  uint64_t checkpoints_checked = 0;
  std::string head_note;
  std::vector<std::string> problems;  // empty when the ledger verifies
  uint64_t problem_count = 0;
};

// Recomputes every leaf hash, every stored interior node, the root of every
// kept checkpoint and every signature, under `trusted`. Returns the report;
// the Status is VerifyFailed when any problem was found and IoError/Internal
// only when the check itself could not run.
StatusOr<FsckReport> Fsck(Ledger& ledger, const NoteVerifier& trusted, const FsckOptions& options);

// Convenience: VerifyFailed carrying the first problems, or OK.
Status FsckStatus(const FsckReport& report);

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_FSCK_H_
