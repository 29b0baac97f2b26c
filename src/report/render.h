// Renderers of a run report (report/run_report.h): Markdown, one
// self-contained HTML file (inline CSS and SVG, no network), SARIF 2.1.0.
//
// Renderers are pure functions of the report. WriteReportFiles writes each
// file atomically (core/file_util.h) after rendering all of them: an unknown
// format (InvalidInput) or a rendering error writes nothing.
#ifndef DISTILLGATE_REPORT_RENDER_H_
#define DISTILLGATE_REPORT_RENDER_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

std::string RenderMarkdown(const nlohmann::json& report);
std::string RenderHtml(const nlohmann::json& report);
nlohmann::json RenderSarif(const nlohmann::json& report);

// Renders `report` in each of `formats` (md, html, json, sarif) and writes
// DIR/report.<ext> for each, creating DIR; everything is rendered before
// anything is written. Returns the paths written.
StatusOr<std::vector<std::string>> WriteReportFiles(const nlohmann::json& report, const std::string& dir,
                                                    const std::vector<std::string>& formats);

// An SVG line chart of `values` (one point per epoch), with axes and labels.
std::string SvgLineChart(const std::string& title, const std::vector<double>& values, const std::string& y_label);
// An attribution's candidates (schemas/attribution.schema.json's
// "candidates"): per candidate, the references' statistics and the
// suspect's, on one axis.
std::string SvgNullPlot(const std::string& title, const nlohmann::json& candidates);
// A run report's teacher_calls.timeline: calls per time slice, one line per
// teacher; "no timed calls" for null.
std::string SvgCallsChart(const nlohmann::json& timeline);

}  // namespace dg

#endif  // DISTILLGATE_REPORT_RENDER_H_
