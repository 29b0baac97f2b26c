// The EU public summary of training content of a distilled student
// (AI Act Art. 53(1)(d); the Commission's template, Communication
// C(2025) 8311), filled from a run report (report/run_report.h) as far as
// the ledger holds the facts, plus the two fields of the GPAI Code of
// Practice's Model Documentation Form the ledger can answer (1.3 model
// authenticity, 1.6 model dependencies). docs/eu-training-summary.md maps
// every field to the entries it comes from.
//
// Every field is "filled" (from the ledger: its value and the entries that
// prove it, by index and RFC 6962 leaf hash), "partly recorded" (what the
// ledger holds, and a note on what it lacks) or "not recorded" (the provider
// must supply it). Nothing is guessed: a fact the ledger does not hold —
// who the provider is, whether a dataset is public, whether a teacher is on
// the Union market — is "not recorded", never a default.
//
// Pure functions of the report (no I/O), safe on any thread. The JSON form
// follows schemas/eu-gpai-summary.schema.json.
#ifndef DISTILLGATE_REPORT_EU_SUMMARY_H_
#define DISTILLGATE_REPORT_EU_SUMMARY_H_

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// InvalidInput unless the run completed (a summary describes a trained model).
StatusOr<nlohmann::json> ExportEuGpaiSummary(const nlohmann::json& report);
// The same summary as Markdown: the template's sections in order, each
// field with its value and proof pointer or "not recorded".
std::string RenderEuGpaiSummaryMarkdown(const nlohmann::json& summary);

}  // namespace dg

#endif  // DISTILLGATE_REPORT_EU_SUMMARY_H_
