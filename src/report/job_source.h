// Where in the job file each subject of a decision is written, so that SARIF
// results carry a physical location (line and column) a code-scanning view
// can point at. The file must be the decided job: its RFC 8785 canonical
// SHA-256 must be the decision's job_sha256.
//
// Errors: InvalidInput when the file cannot be read or parsed as a job, or
// is another job than the decided one (naming both hashes). A file that is
// the job but whose positions cannot be read (yaml-cpp refuses a JSON
// construct) gives no locations, not an error. Pure apart from reading the
// file; safe on any thread.
#ifndef DISTILLGATE_REPORT_JOB_SOURCE_H_
#define DISTILLGATE_REPORT_JOB_SOURCE_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// {path, uri, sha256, locations: {SUBJECT: {pointer, line, column}}} for
// `subjects` (teacher:ID, dataset:ID, generator:ID, base_model, each with
// any /base:… suffix — located at the entry of the ancestor's child; other
// subjects, such as "policy", are not in the job and get none). Lines and
// columns count from 1; a column counts UTF-16 code units (SARIF's default
// columnKind, which RenderSarif states), a tab as one; `uri` is `path` as given when relative (to the
// repository root, as a code-scanning upload expects), else a file:// URI.
StatusOr<nlohmann::json> LocateJobSource(const std::string& path, const std::string& job_sha256,
                                         const std::vector<std::string>& subjects);

// Places those locations in `report` (report.job.source), for RenderSarif
// and the Markdown/HTML job section.
Status AddJobSource(nlohmann::json* report, const std::string& path);

}  // namespace dg

#endif  // DISTILLGATE_REPORT_JOB_SOURCE_H_
