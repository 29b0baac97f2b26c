// The student's lineage in SBOM formats, from a run report
// (report/run_report.h): CycloneDX 1.6 ML-BOM and SPDX 3.0.1 (AI and
// Dataset profiles, JSON-LD). Neither format has a "distilled from"
// relation; docs/attestation.md §Exports says how distillation is encoded.
//
// Pure functions of the report (no I/O), safe on any thread.
#ifndef DISTILLGATE_REPORT_EXPORT_H_
#define DISTILLGATE_REPORT_EXPORT_H_

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// Only for a completed run (there is no student otherwise).
StatusOr<nlohmann::json> ExportCycloneDx(const nlohmann::json& report);
StatusOr<nlohmann::json> ExportSpdx3(const nlohmann::json& report);

// A Hugging Face model card (README.md: YAML front matter + text) for the
// student. `license` is the student's license (SPDX id, Hub id or a profile
// alias); "" takes the decision's student_licenses, and with none the card
// says `license: other` / `license_name: unspecified` and the text asks for
// one. The front matter has the Hub fields (license, license_name,
// license_link, datasets, tags: [distillation]) plus a `distillation` block
// with the teachers, their licenses and hashes and the run's ledger facts.
StatusOr<std::string> ExportHfModelCard(const nlohmann::json& report, const std::string& license);

}  // namespace dg

#endif  // DISTILLGATE_REPORT_EXPORT_H_
