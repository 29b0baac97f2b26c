// The student's lineage in SBOM formats, from a run report
// (report/run_report.h): CycloneDX 1.6 ML-BOM and SPDX 3.0.1 (AI and
// Dataset profiles, JSON-LD). Neither format has a "distilled from"
// relation; docs/attestation.md §Exports says how distillation is encoded.
#ifndef DISTILLGATE_REPORT_EXPORT_H_
#define DISTILLGATE_REPORT_EXPORT_H_

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// Only for a completed run (there is no student otherwise).
StatusOr<nlohmann::json> ExportCycloneDx(const nlohmann::json& report);
StatusOr<nlohmann::json> ExportSpdx3(const nlohmann::json& report);

}  // namespace dg

#endif  // DISTILLGATE_REPORT_EXPORT_H_
