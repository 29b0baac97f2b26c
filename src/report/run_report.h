// The audit report of one run: everything the ledger records about it,
// gathered into one JSON document (schemas/run-report.schema.json) that the
// renderers turn into Markdown, HTML and SARIF.
//
// Read-only: the ledger is read (and verified, fsck) from the calling thread;
// nothing is written. Errors: those of LoadRunRecord and Fsck.
#ifndef DISTILLGATE_REPORT_RUN_REPORT_H_
#define DISTILLGATE_REPORT_RUN_REPORT_H_

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "ledger/ledger.h"
#include "ledger/note.h"

namespace dg {

struct RunReportOptions {
  std::string run_id;
  // Verify the ledger under this pinned key; without one, under the key the
  // file records (and the report says so).
  const NoteVerifier* trusted = nullptr;
  std::string generated_at;  // RFC 3339; "" = now
};

StatusOr<nlohmann::json> BuildRunReport(Ledger& ledger, const RunReportOptions& options);

}  // namespace dg

#endif  // DISTILLGATE_REPORT_RUN_REPORT_H_
