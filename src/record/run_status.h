// Where a run stands, as the ledger records it. Strings exist only where
// JSON is read or written (run_end's "status", `runs`, reports).
#ifndef DISTILLGATE_RECORD_RUN_STATUS_H_
#define DISTILLGATE_RECORD_RUN_STATUS_H_

#include <optional>
#include <string_view>

namespace dg {

enum class RunStatus {
  // No run_start: only the decision is recorded.
  kDecided,     // it allowed training, but nothing was run (`check --ledger`)
  kRefused,     // it did not allow training; or (run_end "refused") calls broke the decision's terms
  kIncomplete,  // run_start without run_end: a run in progress, or one killed (kill -9, power loss)
  // What run_end says.
  kCompleted,
  kFailed,       // an error stopped it after run_start; run_end holds the error
  kInterrupted,  // SIGINT or SIGTERM stopped it; run_end names the signal
};

// The entry kinds only distillgate's own code writes (the gate and the run
// lifecycle): `ledger append` refuses them, so that holding the ledger key
// at the command line is not a way to forge a decision or a run.
bool IsReservedEntryKind(std::string_view kind);

// "decided", "refused", "incomplete", "completed", "failed", "interrupted".
const char* RunStatusName(RunStatus status);
std::optional<RunStatus> ParseRunStatus(std::string_view name);

}  // namespace dg

#endif  // DISTILLGATE_RECORD_RUN_STATUS_H_
