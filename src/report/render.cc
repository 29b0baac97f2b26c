#include "report/render.h"

#include "core/file_util.h"
#include "policy/evaluate.h"
#include "record/run_status.h"
#include "report/member_text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>

namespace dg {

using json = nlohmann::json;

namespace {

using report_internal::Str;

std::string Percent(const json& v) {
  if (!v.is_number()) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %%", 100.0 * v.get<double>());
  return buf;
}

std::string Num(const json& v) {
  if (!v.is_number()) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v.get<double>());
  return buf;
}

std::string Html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Markdown table cells: no newlines or pipes.
std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out.push_back(c);
  }
  return out;
}

std::string ObligationState(const json& o) {
  if (o.value("met", json()).is_boolean()) return o["met"].get<bool>() ? "met" : "NOT MET";
  return "to do (not checkable from the ledger)";
}

std::vector<double> EpochSeries(const json& report, const char* key) {
  std::vector<double> v;
  if (!report.contains("model")) return v;
  for (const json& e : report["model"].value("epochs", json::array())) {
    if (e.contains(key) && e[key].is_number()) v.push_back(e[key].get<double>());
  }
  return v;
}

std::string VerdictOf(const json& r) { return r["decision"].value("verdict", ""); }

// The heading of the section that says why a run did not complete, or null.
const char* EndTitle(const json& r) {
  if (!r.contains("run_end")) return nullptr;
  const std::optional<RunStatus> status = ParseRunStatus(r["run_end"].value("status", ""));
  if (status == RunStatus::kFailed) return "Failure";
  if (status == RunStatus::kInterrupted) return "Interrupted";
  return nullptr;
}

// An object's members as rows "a.b" → value (strings bare, the rest as
// JSON); arrays of scalars joined with ", ".
void FlatRows(const json& j, const std::string& prefix, std::vector<std::pair<std::string, std::string>>* rows) {
  if (j.is_object() && !j.empty()) {
    for (const auto& [k, v] : j.items()) FlatRows(v, prefix.empty() ? k : prefix + "." + k, rows);
    return;
  }
  std::string value;
  if (j.is_string()) {
    value = j.get<std::string>();
  } else if (j.is_array() && std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_primitive(); })) {
    for (const json& e : j) value += (value.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
  } else {
    value = j.dump();
  }
  rows->emplace_back(prefix.empty() ? "(value)" : prefix, value);
}

std::vector<std::pair<std::string, std::string>> Rows(const json& j) {
  std::vector<std::pair<std::string, std::string>> rows;
  if (j.is_object() && j.empty()) return rows;
  FlatRows(j, "", &rows);
  return rows;
}

// "name (license, relation) ← name (license) ← …", or "none declared".
std::string ChainText(const json& chain) {
  std::string out;
  for (const json& b : chain) {
    out += (out.empty() ? "" : " ← ") + Str(b, "name") + " (" + Str(b, "license") + (b.contains("relation") ? ", " + Str(b, "relation") : "") + ")";
  }
  return out.empty() ? "none declared" : out;
}

// What a teacher is: its model id (provider/model), or its file.
std::string TeacherModel(const json& t) {
  if (t.contains("model")) return (t.contains("provider") ? Str(t, "provider") + "/" : "") + Str(t, "model");
  if (t.contains("model_file")) return Str(t, "model_file");
  return "–";
}

std::string DecidedText(const json& d) {
  return d["decided_at"].is_string() ? d["decided_at"].get<std::string>() : "not recorded (a decision from before distillgate recorded it)";
}

std::string OperatorText(const json& d) {
  if (!d["operator"].is_object()) return "not recorded";
  return Str(d["operator"], "name") + (Str(d["operator"], "source") == "given" ? " (as given to --operator)" : " (the system user)");
}

// The project configuration the deciding command applied (distillgate.toml).
std::string ConfigText(const json& d) {
  if (!d.contains("config")) return "not recorded";
  if (!d["config"].is_object()) return "none";
  return Str(d["config"], "path") + " (sha256 " + Str(d["config"], "sha256") + ")";
}

// The approvals a decision ran on, or that a needs-review run received.
struct ApprovalView {
  const char* intro;
  const json* list;
};
ApprovalView Approvals(const json& r) {
  const json& d = r["decision"];
  if (d.value("approved", false)) {
    return {"This job needed review. It ran on the approvals the policy requires, each signed by the approver and recorded in the "
            "ledger before this decision:",
            &d["approvals"]};
  }
  if (r.contains("approvals_received") && !r["approvals_received"].empty()) {
    return {"Approval entries recorded for this decision. The report does not check them; the job's next decision under the same policy "
            "and findings counts each one whose signature verifies under the policy's approver key:",
            &r["approvals_received"]};
  }
  return {nullptr, nullptr};
}

const char* kNotReached = "not reached: the decision did not allow the run, so nothing was read, called or trained";

}  // namespace

std::string SvgCallsChart(const json& timeline) {
  // Calls per time slice, one line per teacher, on one time axis.
  const double W = 560, H = 220, L = 50, R = 12, T = 28, B = 44;
  static const char* kColours[] = {"#1f6feb", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4"};
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
    << "\" role=\"img\" aria-label=\"Teacher calls over time\" id=\"calls-over-time\">";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"#ccc\"/>";
  s << "<text x=\"" << W / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-family=\"sans-serif\">Teacher calls over time</text>";
  if (!timeline.is_object()) {
    s << "<text x=\"" << W / 2 << "\" y=\"" << H / 2 << "\" text-anchor=\"middle\" font-size=\"12\">no timed calls</text></svg>";
    return s.str();
  }
  const size_t n = timeline.value("buckets", size_t{1});
  uint64_t top = 1;
  for (const json& ser : timeline["series"]) {
    for (const json& c : ser["counts"]) top = std::max(top, c.get<uint64_t>());
  }
  auto x = [&](size_t i) { return L + (W - R - L) * (double(i) + 0.5) / double(n); };
  auto y = [&](double v) { return H - B - (H - B - T - 8) * v / double(top); };
  s << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>";
  s << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>";
  s << "<text x=\"" << L - 4 << "\" y=\"" << y(double(top)) + 4 << "\" text-anchor=\"end\" font-size=\"10\" font-family=\"sans-serif\">" << top
    << "</text><text x=\"" << L - 4 << "\" y=\"" << H - B + 4 << "\" text-anchor=\"end\" font-size=\"10\" font-family=\"sans-serif\">0</text>";
  s << "<text x=\"" << L << "\" y=\"" << H - B + 14 << "\" font-size=\"10\" font-family=\"sans-serif\">" << Html(Str(timeline, "start"))
    << "</text><text x=\"" << W - R << "\" y=\"" << H - B + 14 << "\" text-anchor=\"end\" font-size=\"10\" font-family=\"sans-serif\">"
    << Html(Str(timeline, "end")) << "</text>";
  char buf[64];
  size_t k = 0;
  for (const json& ser : timeline["series"]) {
    const char* colour = kColours[k % 6];
    s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\"";
    size_t i = 0;
    for (const json& c : ser["counts"]) {
      std::snprintf(buf, sizeof buf, "%s%.1f,%.1f", i ? " " : "", x(i), y(c.get<double>()));
      s << buf;
      ++i;
    }
    s << "\"><title>" << Html(Str(ser, "teacher")) << "</title></polyline>";
    s << "<text x=\"" << L + 8 + 120 * double(k) << "\" y=\"" << H - 8 << "\" font-size=\"11\" font-family=\"sans-serif\" fill=\"" << colour << "\">"
      << Html(Str(ser, "teacher")) << "</text>";
    ++k;
  }
  s << "<text x=\"" << W - R << "\" y=\"" << H - 8 << "\" text-anchor=\"end\" font-size=\"10\" font-family=\"sans-serif\">calls per "
    << Num(json(timeline.value("seconds", 1.0) / double(n))) << " s</text>";
  s << "</svg>";
  return s.str();
}

std::string SvgLineChart(const std::string& title, const std::vector<double>& values, const std::string& y_label) {
  const double W = 360, H = 200, L = 50, R = 12, T = 28, B = 36;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " "
    << H << "\" role=\"img\" aria-label=\"" << Html(title) << "\">";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"#ccc\"/>";
  s << "<text x=\"" << W / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-family=\"sans-serif\">" << Html(title) << "</text>";
  s << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>";
  s << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B << "\" stroke=\"#333\"/>";
  s << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 6 << "\" text-anchor=\"middle\" font-size=\"11\" font-family=\"sans-serif\">epoch</text>";
  s << "<text x=\"12\" y=\"" << (T + H - B) / 2 << "\" text-anchor=\"middle\" font-size=\"11\" font-family=\"sans-serif\" transform=\"rotate(-90 12 "
    << (T + H - B) / 2 << ")\">" << Html(y_label) << "</text>";
  if (values.empty()) {
    s << "<text x=\"" << W / 2 << "\" y=\"" << H / 2 << "\" text-anchor=\"middle\" font-size=\"12\">no data</text></svg>";
    return s.str();
  }
  double lo = *std::min_element(values.begin(), values.end()), hi = *std::max_element(values.begin(), values.end());
  if (hi - lo < 1e-12) {
    lo -= 0.5 * std::max(std::fabs(lo), 1e-3);
    hi += 0.5 * std::max(std::fabs(hi), 1e-3);
  }
  auto x = [&](size_t i) { return values.size() == 1 ? (L + W - R) / 2 : L + 8 + (W - R - L - 16) * double(i) / double(values.size() - 1); };
  auto y = [&](double v) { return T + 6 + (H - B - T - 12) * (1.0 - (v - lo) / (hi - lo)); };
  char buf[64];
  for (double v : {lo, hi}) {
    std::snprintf(buf, sizeof buf, "%.4g", v);
    s << "<text x=\"" << L - 4 << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"end\" font-size=\"10\" font-family=\"sans-serif\">" << buf << "</text>";
  }
  s << "<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\" points=\"";
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.1f,%.1f", i ? " " : "", x(i), y(values[i]));
    s << buf;
  }
  s << "\"/>";
  for (size_t i = 0; i < values.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.1f", x(i));
    s << "<circle cx=\"" << buf << "\" cy=\"" << y(values[i]) << "\" r=\"3\" fill=\"#1f6feb\"><title>epoch " << i + 1 << ": " << values[i]
      << "</title></circle>";
    s << "<text x=\"" << buf << "\" y=\"" << H - B + 14 << "\" text-anchor=\"middle\" font-size=\"10\" font-family=\"sans-serif\">" << i + 1 << "</text>";
  }
  s << "</svg>";
  return s.str();
}

std::string SvgNullPlot(const std::string& title, const json& candidates) {
  // One row per candidate: the references' statistics (the null) as grey
  // dots, the suspect's as a red diamond; smaller is closer to the candidate.
  const double W = 560, L = 130, R = 16, T = 30, row = 28, B = 34;
  const double H = T + row * std::max<size_t>(1, candidates.size()) + B;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
    << "\" role=\"img\" aria-label=\"" << Html(title) << "\">";
  s << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\" stroke=\"#ccc\"/>";
  s << "<text x=\"" << W / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-family=\"sans-serif\">" << Html(title) << "</text>";
  double lo = 0, hi = 0;
  bool any = false;
  for (const json& c : candidates) {
    std::vector<double> v = {c.value("statistic", 0.0)};
    for (const json& n : c.value("null", json::array())) v.push_back(n.get<double>());
    for (double x : v) {
      lo = any ? std::min(lo, x) : x;
      hi = any ? std::max(hi, x) : x;
      any = true;
    }
  }
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  }
  const double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  auto x = [&](double v) { return L + (W - R - L) * (v - lo) / (hi - lo); };
  char buf[96];
  for (size_t i = 0; i < candidates.size(); ++i) {
    const json& c = candidates[i];
    const double y = T + row * (double(i) + 0.5);
    s << "<text x=\"" << L - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\" font-size=\"11\" font-family=\"sans-serif\">"
      << Html(Str(c, "id")) << "</text>";
    s << "<line x1=\"" << L << "\" y1=\"" << y << "\" x2=\"" << W - R << "\" y2=\"" << y << "\" stroke=\"#eee\"/>";
    for (const json& n : c.value("null", json::array())) {
      std::snprintf(buf, sizeof buf, "%.1f", x(n.get<double>()));
      s << "<circle cx=\"" << buf << "\" cy=\"" << y << "\" r=\"4\" fill=\"#8c959f\" fill-opacity=\"0.7\"><title>a reference: "
        << n.get<double>() << "</title></circle>";
    }
    const double sx = x(c.value("statistic", 0.0));
    std::snprintf(buf, sizeof buf, "%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f", sx, y - 7, sx + 7, y, sx, y + 7, sx - 7, y);
    s << "<polygon class=\"suspect\" points=\"" << buf << "\" fill=\"" << (c.value("significant", false) ? "#cf222e" : "#1f6feb")
      << "\"><title>the suspect: " << c.value("statistic", 0.0) << ", Holm p " << c.value("p_holm", 1.0) << "</title></polygon>";
  }
  const double axis = H - B + 6;
  s << "<line x1=\"" << L << "\" y1=\"" << axis << "\" x2=\"" << W - R << "\" y2=\"" << axis << "\" stroke=\"#333\"/>";
  for (double v : {lo + pad, hi - pad}) {
    std::snprintf(buf, sizeof buf, "%.4g", v);
    s << "<text x=\"" << x(v) << "\" y=\"" << axis + 14 << "\" text-anchor=\"middle\" font-size=\"10\" font-family=\"sans-serif\">" << buf
      << "</text>";
  }
  s << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 4 << "\" text-anchor=\"middle\" font-size=\"10\" font-family=\"sans-serif\">"
       "statistic (smaller: closer to the candidate); grey: references, diamond: suspect (red: significant)</text>";
  s << "</svg>";
  return s.str();
}

namespace {

std::string ModelSpec(const json& m) { return Str(m, "endpoint") + "#" + Str(m, "model"); }

// The attribution section (Markdown).
void AttributionMarkdown(std::ostringstream& s, const json& a) {
  const json plan = a.value("plan", json::object());
  const json out = a.value("outcome", json());
  s << "\n## Attribution\n\n";
  if (out.is_object()) {
    s << "**" << (out.value("identified", json()).is_string() ? "Identified: " + out["identified"].get<std::string>() : std::string("None identified"))
      << "** at α = " << Num(out.value("alpha", json())) << " — " << Str(out, "reason") << "\n\n";
  } else {
    s << "The run did not complete: no outcome was recorded.\n\n";
  }
  s << "| Role | Id | Endpoint#model |\n|---|---|---|\n";
  s << "| suspect | " << Cell(Str(plan.value("suspect", json::object()), "id")) << " | " << Cell(ModelSpec(plan.value("suspect", json::object()))) << " |\n";
  for (const json& m : plan.value("candidates", json::array())) s << "| candidate | " << Cell(Str(m, "id")) << " | " << Cell(ModelSpec(m)) << " |\n";
  for (const json& m : plan.value("references", json::array())) s << "| reference | " << Cell(Str(m, "id")) << " | " << Cell(ModelSpec(m)) << " |\n";
  s << "\nProbe sets, pre-registered in the decision before the first query:\n\n| Kind | Seed | Count | Bytes | sha256 |\n|---|---|---|---|---|\n";
  for (const json& p : plan.value("probe_sets", json::array())) {
    s << "| " << Str(p, "kind") << " | " << Str(p, "seed") << " | " << Str(p, "count") << " | " << Str(p, "length") << " | `" << Str(p, "sha256") << "` |\n";
  }
  s << "\nOptions: `" << plan.value("options", json::object()).dump() << "`\n";
  if (!out.is_object()) return;
  for (const json* set : {&out, out.contains("random_baseline") ? &out.at("random_baseline") : nullptr}) {
    if (set == nullptr) continue;
    s << "\n" << (set == &out ? "Data probes (the test)" : "Random probes (the baseline, not the test)")
      << ":\n\n| Candidate | Statistic | References (mean ± sd) | p | Holm p | Significant |\n|---|---|---|---|---|---|\n";
    for (const json& c : set->value("candidates", json::array())) {
      s << "| " << Cell(Str(c, "id")) << " | " << Num(c.value("statistic", json())) << " | " << Num(c.value("null_mean", json())) << " ± " << Num(c.value("null_sd", json())) << " | "
        << Num(c.value("p", json())) << " | " << Num(c.value("p_holm", json())) << " | " << (c.value("significant", false) ? "yes" : "no") << " |\n";
    }
  }
  s << "\nQueries: " << Str(out, "queries") << ". An identification is evidence of imitation, not of a breach of terms; none identified is "
       "not proof of independence (docs/attribution.md). Re-check offline: `distillgate attribute verify --ledger L --run "
    << Str(out, "run") << " --pubkey KEY.pub`.\n";
}

void AttributionHtml(std::ostringstream& s, const json& a) {
  const json plan = a.value("plan", json::object());
  const json out = a.value("outcome", json());
  s << "<h2>Attribution</h2>\n";
  if (out.is_object()) {
    s << "<p id=\"attribution-verdict\"><b>" << (out.value("identified", json()).is_string() ? "Identified: " + Html(out["identified"].get<std::string>()) : std::string("None identified"))
      << "</b> at α = " << Num(out.value("alpha", json())) << " — " << Html(Str(out, "reason")) << "</p>\n";
  } else {
    s << "<p>The run did not complete: no outcome was recorded.</p>\n";
  }
  s << "<table><tr><th>Role</th><th>Id</th><th>Endpoint#model</th></tr><tr><td>suspect</td><td>" << Html(Str(plan.value("suspect", json::object()), "id")) << "</td><td>"
    << Html(ModelSpec(plan.value("suspect", json::object()))) << "</td></tr>";
  for (const json& m : plan.value("candidates", json::array())) s << "<tr><td>candidate</td><td>" << Html(Str(m, "id")) << "</td><td>" << Html(ModelSpec(m)) << "</td></tr>";
  for (const json& m : plan.value("references", json::array())) s << "<tr><td>reference</td><td>" << Html(Str(m, "id")) << "</td><td>" << Html(ModelSpec(m)) << "</td></tr>";
  s << "</table>\n<p>Probe sets, pre-registered in the decision before the first query:</p><table><tr><th>Kind</th><th>Seed</th><th>Count</th><th>Bytes</th><th>sha256</th></tr>";
  for (const json& p : plan.value("probe_sets", json::array())) {
    s << "<tr><td>" << Html(Str(p, "kind")) << "</td><td>" << Html(Str(p, "seed")) << "</td><td>" << Html(Str(p, "count")) << "</td><td>" << Html(Str(p, "length"))
      << "</td><td><code>" << Html(Str(p, "sha256")) << "</code></td></tr>";
  }
  s << "</table>\n";
  if (!out.is_object()) return;
  s << "<div class=\"charts\">" << SvgNullPlot("Data probes (the test)", out.value("candidates", json::array()));
  if (out.contains("random_baseline")) s << SvgNullPlot("Random probes (baseline)", out.at("random_baseline").value("candidates", json::array()));
  s << "</div>\n<table><tr><th>Probes</th><th>Candidate</th><th>Statistic</th><th>References (mean ± sd)</th><th>p</th><th>Holm p</th><th>Significant</th></tr>";
  for (const json* set : {&out, out.contains("random_baseline") ? &out.at("random_baseline") : nullptr}) {
    if (set == nullptr) continue;
    for (const json& c : set->value("candidates", json::array())) {
      s << "<tr><td>" << (set == &out ? "data (test)" : "random (baseline)") << "</td><td>" << Html(Str(c, "id")) << "</td><td>" << Num(c.value("statistic", json()))
        << "</td><td>" << Num(c.value("null_mean", json())) << " ± " << Num(c.value("null_sd", json())) << "</td><td>" << Num(c.value("p", json())) << "</td><td>" << Num(c.value("p_holm", json()))
        << "</td><td>" << (c.value("significant", false) ? "yes" : "no") << "</td></tr>";
    }
  }
  s << "</table>\n<p>Queries: " << Html(Str(out, "queries")) << ". An identification is evidence of imitation, not of a breach of terms; none identified is not "
       "proof of independence.</p>\n";
}

}  // namespace

std::string RenderMarkdown(const json& r) {
  std::ostringstream s;
  const json& d = r["decision"];
  s << "# distillgate audit report: run " << Str(r, "run") << "\n\n";
  s << "| | |\n|---|---|\n";
  s << "| Job | " << Cell(Str(r["job"], "name")) << " (sha256 `" << Str(r["job"], "sha256") << "`) |\n";
  const bool attribution = r.contains("attribution");
  if (!attribution) {
    s << "| Student | " << Cell(Str(r["job"]["student"], "name")) << " |\n";
    s << "| Student's base model | " << Cell(ChainText(r["job"].value("student_base_chain", json::array()))) << " |\n";
  }
  s << "| Decision | **" << VerdictOf(r) << "**" << (d.value("approved", false) ? ", **approved**" : "") << " (" << Str(d, "mode")
    << " mode, ledger entry " << Str(d, "ledger_index") << ") |\n";
  s << "| Decided | " << Cell(DecidedText(d)) << " |\n";
  s << "| Operator | " << Cell(OperatorText(d)) << " |\n";
  s << "| Project config | " << Cell(ConfigText(d)) << " |\n";
  s << "| Run status | " << Str(r, "status") << " |\n";
  s << "| Policy | sha256 `" << Str(d, "policy_sha256") << "` |\n";
  s << "| Generated | " << Str(r, "generated_at") << " |\n\n";
  if (d.value("rests_on_unverified_facts", false)) s << "> Note: the verdict rests partly on license facts from secondary sources.\n\n";
  const bool reached = r.value("run_started", true);
  if (!attribution) {
    s << "## Intended use\n\n";
    const auto use = Rows(r["job"].value("use", json::object()));
    if (use.empty()) s << "Not stated: every license condition is read the restrictive way.\n\n";
    else s << "| Fact | Stated |\n|---|---|\n";
    for (const auto& [k, v] : use) s << "| " << Cell(k) << " | " << Cell(v) << " |\n";
    s << "\n";
  }

  s << "## Findings\n\n";
  if (d["findings"].empty()) s << "None.\n\n";
  for (const json& f : d["findings"]) {
    s << "- **" << Str(f, "severity") << "** `" << Str(f, "rule") << "` on " << Str(f, "subject") << " (" << Str(f, "license")
      << ")" << (f.value("waived", false) ? " — waived: " + Str(f, "waiver") : "") << "\n  " << Str(f, "message") << "\n";
    if (f["clause"].is_object()) {
      s << "  > " << Cell(Str(f["clause"], "quote")) << " — " << Str(f["clause"], "section") << ", <" << Str(f["clause"], "source") << ">\n";
    }
    if (!Str(f, "fix").empty()) s << "  How to fix: " << Str(f, "fix") << "\n";
  }
  if (const ApprovalView ap = Approvals(r); ap.list != nullptr) {
    s << "\n## Approvals\n\n" << ap.intro << "\n\n| Approver | Role | Approved at | Note | Ledger entry |\n|---|---|---|---|---|\n";
    for (const json& a : *ap.list) {
      s << "| " << Cell(Str(a, "approver")) << " | " << Cell(Str(a, "role")) << " | " << Cell(Str(a, "approved_at")) << " | " << Cell(Str(a, "note"))
        << " | " << Cell(Str(a, "ledger_index")) << " (leaf hash `" << Cell(Str(a, "leaf_hash")) << "`) |\n";
    }
  }
  s << "\n## Obligations\n\n";
  if (d["obligations"].empty()) s << "None.\n\n";
  else s << "| Kind | Duty | License | State |\n|---|---|---|---|\n";
  for (const json& o : d["obligations"]) {
    s << "| " << Str(o, "kind") << " | " << Cell(Str(o, "text")) << " | " << Str(o, "license") << " | " << ObligationState(o) << " |\n";
  }
  if (attribution) AttributionMarkdown(s, r["attribution"]);
  if (!attribution) {
    s << "\n## Teachers\n\n";
    if (r["teachers"].empty()) s << "None: the job trains on data alone.\n";
    else s << "| Id | Kind | Model | Declared license | Profile | Verified source | Base model | Model sha256 |\n|---|---|---|---|---|---|---|---|\n";
  }
  for (const json& t : attribution ? json::array() : r["teachers"]) {
    const json& e = t["evidence"];
    s << "| " << Cell(Str(t, "id")) << " | " << Cell(Str(t, "kind")) << " | " << Cell(TeacherModel(t)) << " | " << Cell(Str(t, "declared_license")) << " | "
      << (e.value("known", false) ? Cell(Str(e, "name")) + " (`" + Str(e, "profile_sha256").substr(0, 16) + "…`)" : "unknown") << " | "
      << (e.value("known", false) ? (e.value("verified", false) ? "yes" : "secondary") : "–") << " | "
      << Cell(ChainText(t.value("base_model_chain", json::array()))) << " | `" << Str(t, "sha256", "–") << "` |\n";
  }
  if (!attribution) {
    s << "\n## Datasets\n\n";
    if (!reached) s << "Datasets: " << kNotReached << ".\n";
    else if (r["datasets"].empty()) s << "None recorded.\n";
    else s << "| Dataset | License | Records | Records root (RFC 6962) | Files |\n|---|---|---|---|---|\n";
  }
  for (const json& ds : attribution ? json::array() : r["datasets"]) {
    std::string files;
    for (const json& f : ds["files"]) files += (files.empty() ? "" : "<br>") + Cell(Str(f, "path")) + " `" + Str(f, "sha256").substr(0, 16) + "…`";
    s << "| " << Cell(Str(ds, "dataset")) << " | " << Cell(Str(ds, "license")) << " | " << Str(ds, "records") << " | `"
      << Str(ds, "records_root") << "` | " << (files.empty() ? "–" : files) << " |\n";
  }
  const json& c = r["teacher_calls"];
  s << "\n## Teacher calls\n\n";
  if (!reached) {
    s << "Teacher calls: " << kNotReached << ".\n";
  } else {
    s << Str(c, "count") << " calls recorded in the ledger";
    if (!c["first"].is_null()) s << " (" << Str(c, "first") << " – " << Str(c, "last") << ")";
    s << "; Merkle root of their entries `" << Str(c, "root") << "`";
    if (c.contains("matches")) s << (c["matches"].get<bool>() ? "; matches the run's end record." : "; **does not match** the run's end record.");
    s << "\n";
    if (!attribution && !r["teachers"].empty()) {
      s << "\n| Teacher | Calls | Items | Tokens | Failed | First call | Last call |\n|---|---|---|---|---|---|---|\n";
      for (const json& t : r["teachers"]) {
        const json& n = t.value("calls", json::object());
        s << "| " << Cell(Str(t, "id")) << " | " << Str(n, "count", "0") << " | " << Str(n, "items", "0") << " | " << Str(n, "tokens", "0") << " | "
          << Str(n, "failed", "0") << " | " << Str(n, "first", "–") << " | " << Str(n, "last", "–") << " |\n";
      }
    }
  }
  if (r.contains("transcripts")) {
    const json& t = r["transcripts"];
    s << "\n## Transcripts\n\n| Teacher | Format | File | sha256 | Bytes |\n|---|---|---|---|---|\n";
    for (const json& f : t["files"]) {
      s << "| " << Cell(Str(f, "teacher")) << " | " << Str(f, "format") << " | " << Cell(Str(f, "path")) << " | `" << Str(f, "sha256") << "` | "
        << Str(f, "bytes") << " |\n";
    }
    s << "\nFailed calls: " << Str(t, "failed_calls", "–") << "; skipped lines: " << Str(t, "skipped_lines", "–")
      << "; calls to models the job does not name: " << Str(t, "disallowed_calls", "–") << ".\n";
    for (const json& f : t["findings"]) s << "- " << f.get<std::string>() << "\n";
  }
  if (r.contains("training")) {
    s << "\n## Training\n\nRuntime: " << Str(r["training"], "runtime") << "\n\n";
    if (r["training"]["init_from"].is_object()) {
      s << "Started from: " << Cell(Str(r["training"]["init_from"], "path")) << " (sha256 `" << Str(r["training"]["init_from"], "sha256") << "`)\n\n";
    }
    const auto params = Rows(r["training"]["parameters"]);
    if (params.empty()) s << "Hyper-parameters: the defaults (none stated in the job).\n";
    else s << "| Hyper-parameter | Value |\n|---|---|\n";
    for (const auto& [k, v] : params) s << "| " << Cell(k) << " | " << Cell(v) << " |\n";
  } else if (!attribution && !reached) {
    s << "\n## Training\n\nTraining: " << kNotReached << ".\n";
  }
  if (r.contains("model")) {
    const json& m = r["model"];
    s << "\n## Model\n\n| | |\n|---|---|\n| File | " << Cell(Str(m, "path")) << " |\n| sha256 | `" << Str(m, "sha256") << "` |\n| Architecture | "
      << Str(m, "arch") << " |\n| Test accuracy | " << Percent(m.value("test_accuracy", json())) << " |\n";
    if (r.contains("run_end") && r["run_end"].contains("teacher_accuracy")) {
      s << "| Teacher accuracy | " << Percent(r["run_end"]["teacher_accuracy"]) << " |\n";
    }
    s << "\n| Epoch | Loss | Test accuracy | Seconds |\n|---|---|---|---|\n";
    for (const json& e : m["epochs"]) {
      s << "| " << Str(e, "epoch") << " | " << Str(e, "loss") << " | " << Percent(e.value("test_accuracy", json())) << " | " << Str(e, "seconds") << " |\n";
    }
  }
  if (const char* title = EndTitle(r)) s << "\n## " << title << "\n\n" << Str(r["run_end"], "error") << "\n";
  const json& l = r["ledger"];
  s << "\n## Ledger\n\n" << Cell(Str(l, "path")) << " (" << Str(l, "origin") << ", " << Str(l, "tree_size") << " entries): "
    << (l["verifies"].get<bool>() ? "**verifies**" : "**DOES NOT VERIFY**") << " under "
    << (l["key_pinned"].get<bool>() ? "the pinned key" : "the key recorded in the file (not a pinned key)") << " `" << Str(l, "key") << "`.\n\n";
  for (const json& p : l["problems"]) s << "- " << p.get<std::string>() << "\n";
  s << "Signed checkpoint:\n\n```\n" << Str(l, "checkpoint") << "```\n";
  return s.str();
}

std::string RenderHtml(const json& r) {
  // The Markdown sections as HTML, with the curves as inline SVG.
  std::ostringstream s;
  const json& d = r["decision"];
  const std::string verdict = VerdictOf(r);
  const std::optional<Verdict> parsed = ParseVerdict(verdict);
  const bool approved = parsed == Verdict::kNeedsReview && d.value("approved", false);
  const bool good = parsed && (VerdictAllows(*parsed) || approved);
  s << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>distillgate report " << Html(Str(r, "run"))
    << "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
       "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}code,pre{font-family:monospace;font-size:90%}"
       "pre{background:#f6f8fa;padding:.6em;white-space:pre-wrap;word-break:break-all}.verdict{display:inline-block;padding:.2em .6em;border-radius:4px;color:#fff}"
       ".ok{background:#1a7f37}.bad{background:#cf222e}blockquote{color:#555;border-left:3px solid #ccc;margin:.3em 0;padding-left:.8em}"
       ".charts svg{margin-right:1em}</style></head><body>\n";
  s << "<h1>distillgate audit report</h1>\n<p>Run <code>" << Html(Str(r, "run")) << "</code> of job <b>" << Html(Str(r["job"], "name"))
    << "</b>: <span class=\"verdict " << (good ? "ok" : "bad") << "\" id=\"verdict\">" << Html(verdict) << "</span>"
    << (approved ? " <b id=\"approved\">approved</b>" : "") << " ("
    << Html(Str(d, "mode")) << " mode), run " << Html(Str(r, "status")) << ".</p>\n";
  const bool attribution = r.contains("attribution");
  const bool reached = r.value("run_started", true);
  s << "<table id=\"summary\">";
  if (!attribution) {
    s << "<tr><th>Student</th><td>" << Html(Str(r["job"]["student"], "name")) << "</td></tr><tr><th>Student's base model</th><td>"
      << Html(ChainText(r["job"].value("student_base_chain", json::array()))) << "</td></tr>";
  }
  s << "<tr><th>Decided</th><td id=\"decided-at\">" << Html(DecidedText(d)) << "</td></tr><tr><th>Operator</th><td id=\"operator\">"
    << Html(OperatorText(d)) << "</td></tr><tr><th>Project config</th><td id=\"config\">" << Html(ConfigText(d))
    << "</td></tr><tr><th>Decision entry</th><td>" << Html(Str(d, "ledger_index")) << " (leaf hash <code>"
    << Html(Str(d, "leaf_hash")) << "</code>)</td></tr><tr><th>Job sha256</th><td><code>" << Html(Str(r["job"], "sha256"))
    << "</code></td></tr><tr><th>Policy sha256</th><td><code>" << Html(Str(d, "policy_sha256")) << "</code></td></tr><tr><th>Generated</th><td>"
    << Html(Str(r, "generated_at")) << "</td></tr></table>\n";
  if (!attribution) {
    s << "<h2>Intended use</h2>\n";
    const auto use = Rows(r["job"].value("use", json::object()));
    if (use.empty()) s << "<p>Not stated: every license condition is read the restrictive way.</p>\n";
    else s << "<table id=\"use\"><tr><th>Fact</th><th>Stated</th></tr>";
    for (const auto& [k, v] : use) s << "<tr><td>" << Html(k) << "</td><td>" << Html(v) << "</td></tr>";
    if (!use.empty()) s << "</table>\n";
  }
  s << "<h2>Findings</h2>\n";
  if (d["findings"].empty()) s << "<p>None.</p>\n";
  for (const json& f : d["findings"]) {
    s << "<div class=\"finding\"><p><b>" << Html(Str(f, "severity")) << "</b> <code>" << Html(Str(f, "rule")) << "</code> on "
      << Html(Str(f, "subject")) << " (" << Html(Str(f, "license")) << ")" << (f.value("waived", false) ? " — waived: " + Html(Str(f, "waiver")) : "")
      << "<br>" << Html(Str(f, "message")) << "</p>";
    if (f["clause"].is_object()) {
      s << "<blockquote>" << Html(Str(f["clause"], "quote")) << " — " << Html(Str(f["clause"], "section")) << ", <a href=\""
        << Html(Str(f["clause"], "source")) << "\">" << Html(Str(f["clause"], "source")) << "</a></blockquote>";
    }
    if (!Str(f, "fix").empty()) s << "<p>How to fix: " << Html(Str(f, "fix")) << "</p>";
    s << "</div>\n";
  }
  if (const ApprovalView ap = Approvals(r); ap.list != nullptr) {
    s << "<h2>Approvals</h2>\n<p>" << Html(ap.intro) << "</p><table id=\"approvals\"><tr><th>Approver</th><th>Role</th><th>Approved at</th><th>Note</th><th>Ledger entry</th></tr>";
    for (const json& a : *ap.list) {
      s << "<tr><td>" << Html(Str(a, "approver")) << "</td><td>" << Html(Str(a, "role")) << "</td><td>" << Html(Str(a, "approved_at")) << "</td><td>"
        << Html(Str(a, "note")) << "</td><td>" << Html(Str(a, "ledger_index")) << " (leaf hash <code>" << Html(Str(a, "leaf_hash")) << "</code>)</td></tr>";
    }
    s << "</table>\n";
  }
  s << "<h2>Obligations</h2>\n";
  if (d["obligations"].empty()) s << "<p>None.</p>\n";
  else s << "<table><tr><th>Kind</th><th>Duty</th><th>License</th><th>State</th></tr>";
  for (const json& o : d["obligations"]) {
    s << "<tr><td>" << Html(Str(o, "kind")) << "</td><td>" << Html(Str(o, "text")) << "</td><td>" << Html(Str(o, "license")) << "</td><td>"
      << Html(ObligationState(o)) << "</td></tr>";
  }
  if (!d["obligations"].empty()) s << "</table>\n";
  if (attribution) AttributionHtml(s, r["attribution"]);
  if (!attribution) {
    s << "<h2>Teachers</h2>\n";
    if (r["teachers"].empty()) s << "<p>None: the job trains on data alone.</p>\n";
    else s << "<table id=\"teachers\"><tr><th>Id</th><th>Kind</th><th>Model</th><th>Declared license</th><th>Profile</th><th>Sources</th><th>Base model</th><th>Model sha256</th></tr>";
    for (const json& t : r["teachers"]) {
      const json& e = t["evidence"];
      std::string sources;
      for (const json& u : e.value("sources", json::array())) sources += "<a href=\"" + Html(u.get<std::string>()) + "\">" + Html(u.get<std::string>()) + "</a><br>";
      s << "<tr><td>" << Html(Str(t, "id")) << "</td><td>" << Html(Str(t, "kind")) << "</td><td>" << Html(TeacherModel(t)) << "</td><td>"
        << Html(Str(t, "declared_license")) << "</td><td>"
        << (e.value("known", false) ? Html(Str(e, "name")) + (e.value("verified", false) ? "" : " (secondary sources)") : "unknown") << "</td><td>"
        << sources << "</td><td>" << Html(ChainText(t.value("base_model_chain", json::array()))) << "</td><td><code>" << Html(Str(t, "sha256", "–"))
        << "</code></td></tr>";
    }
    if (!r["teachers"].empty()) s << "</table>\n";
    s << "<h2>Datasets</h2>\n";
    if (!reached) s << "<p class=\"not-reached\">Datasets: " << kNotReached << ".</p>\n";
    else if (r["datasets"].empty()) s << "<p>None recorded.</p>\n";
    else s << "<table id=\"datasets\"><tr><th>Dataset</th><th>License</th><th>Records</th><th>Records root</th><th>Files</th></tr>";
    for (const json& ds : r["datasets"]) {
      std::string files;
      for (const json& f : ds["files"]) files += Html(Str(f, "path")) + " <code>" + Html(Str(f, "sha256").substr(0, 16)) + "…</code><br>";
      s << "<tr><td>" << Html(Str(ds, "dataset")) << "</td><td>" << Html(Str(ds, "license")) << "</td><td>" << Html(Str(ds, "records"))
        << "</td><td><code>" << Html(Str(ds, "records_root")) << "</code></td><td>" << files << "</td></tr>";
    }
    if (reached && !r["datasets"].empty()) s << "</table>\n";
  }
  const json& c = r["teacher_calls"];
  s << "<h2>Teacher calls</h2>\n";
  if (!reached) {
    s << "<p class=\"not-reached\">Teacher calls: " << kNotReached << ".</p>\n";
  } else {
    s << "<p>" << Html(Str(c, "count")) << " calls recorded; Merkle root <code>" << Html(Str(c, "root")) << "</code>";
    if (c.contains("matches")) s << (c["matches"].get<bool>() ? " — matches the run's end record." : " — <b>does not match</b> the run's end record.");
    s << "</p>\n";
    if (!attribution && !r["teachers"].empty()) {
      s << "<table id=\"calls\"><tr><th>Teacher</th><th>Calls</th><th>Items</th><th>Tokens</th><th>Failed</th><th>First call</th><th>Last call</th></tr>";
      for (const json& t : r["teachers"]) {
        const json& n = t.value("calls", json::object());
        s << "<tr><td>" << Html(Str(t, "id")) << "</td><td>" << Html(Str(n, "count", "0")) << "</td><td>" << Html(Str(n, "items", "0")) << "</td><td>"
          << Html(Str(n, "tokens", "0")) << "</td><td>" << Html(Str(n, "failed", "0")) << "</td><td>" << Html(Str(n, "first", "–")) << "</td><td>"
          << Html(Str(n, "last", "–")) << "</td></tr>";
      }
      s << "</table>\n<div class=\"charts\">" << SvgCallsChart(c.value("timeline", json())) << "</div>\n";
    }
  }
  if (r.contains("transcripts")) {
    const json& t = r["transcripts"];
    s << "<h2>Transcripts</h2>\n<table><tr><th>Teacher</th><th>Format</th><th>File</th><th>sha256</th><th>Bytes</th></tr>";
    for (const json& f : t["files"]) {
      s << "<tr><td>" << Html(Str(f, "teacher")) << "</td><td>" << Html(Str(f, "format")) << "</td><td>" << Html(Str(f, "path"))
        << "</td><td><code>" << Html(Str(f, "sha256")) << "</code></td><td>" << Html(Str(f, "bytes")) << "</td></tr>";
    }
    s << "</table>\n<p>Failed calls: " << Html(Str(t, "failed_calls", "–")) << "; skipped lines: " << Html(Str(t, "skipped_lines", "–"))
      << "; calls to models the job does not name: " << Html(Str(t, "disallowed_calls", "–")) << ".</p>\n";
    for (const json& f : t["findings"]) s << "<p>" << Html(f.get<std::string>()) << "</p>\n";
  }
  if (r.contains("training")) {
    s << "<h2>Training</h2>\n<p>Runtime: " << Html(Str(r["training"], "runtime")) << "</p>\n";
    if (r["training"]["init_from"].is_object()) {
      s << "<p>Started from: " << Html(Str(r["training"]["init_from"], "path")) << " (sha256 <code>" << Html(Str(r["training"]["init_from"], "sha256"))
        << "</code>)</p>\n";
    }
    const auto params = Rows(r["training"]["parameters"]);
    if (params.empty()) s << "<p>Hyper-parameters: the defaults (none stated in the job).</p>\n";
    else s << "<table id=\"hyper-parameters\"><tr><th>Hyper-parameter</th><th>Value</th></tr>";
    for (const auto& [k, v] : params) s << "<tr><td>" << Html(k) << "</td><td>" << Html(v) << "</td></tr>";
    if (!params.empty()) s << "</table>\n";
  } else if (!attribution && !reached) {
    s << "<h2>Training</h2>\n<p class=\"not-reached\">Training: " << kNotReached << ".</p>\n";
  }
  if (r.contains("model")) {
    const json& m = r["model"];
    s << "<h2>Model</h2>\n<table><tr><th>File</th><td>" << Html(Str(m, "path")) << "</td></tr><tr><th>sha256</th><td><code>" << Html(Str(m, "sha256"))
      << "</code></td></tr><tr><th>Architecture</th><td>" << Html(Str(m, "arch")) << "</td></tr><tr><th>Test accuracy</th><td>"
      << Percent(m.value("test_accuracy", json())) << "</td></tr></table>\n<div class=\"charts\">"
      << SvgLineChart("Training loss", EpochSeries(r, "loss"), "loss")
      << SvgLineChart("Test accuracy", EpochSeries(r, "test_accuracy"), "accuracy") << "</div>\n";
  }
  if (const char* title = EndTitle(r)) s << "<h2>" << title << "</h2>\n<p>" << Html(Str(r["run_end"], "error")) << "</p>\n";
  const json& l = r["ledger"];
  s << "<h2>Ledger</h2>\n<p>" << Html(Str(l, "path")) << " (" << Html(Str(l, "origin")) << ", " << Html(Str(l, "tree_size")) << " entries): <b>"
    << (l["verifies"].get<bool>() ? "verifies" : "DOES NOT VERIFY") << "</b> under "
    << (l["key_pinned"].get<bool>() ? "the pinned key" : "the key recorded in the file (not a pinned key)") << " <code>" << Html(Str(l, "key")) << "</code>.</p>\n";
  for (const json& p : l["problems"]) s << "<p>" << Html(p.get<std::string>()) << "</p>\n";
  s << "<pre>" << Html(Str(l, "checkpoint")) << "</pre>\n</body></html>\n";
  return s.str();
}

// A result's locations: in the job file when `report --job` located the
// subject there (line and column of its entry), and always the logical one.
json SarifLocations(const json& r, const std::string& subject) {
  json location = {{"logicalLocations", {{{"fullyQualifiedName", Str(r["job"], "name") + "/" + subject}, {"kind", "object"}}}}};
  const json source = r["job"].value("source", json());
  if (source.is_object() && source["locations"].contains(subject)) {
    const json& at = source["locations"][subject];
    location["physicalLocation"] = {{"artifactLocation", {{"uri", Str(source, "uri")}}},
                                    {"region", {{"startLine", at["line"]}, {"startColumn", at["column"]}}}};
  }
  return json::array({location});
}

json RenderSarif(const json& r) {
  json rules = json::array(), results = json::array();
  std::vector<std::string> seen;
  for (const json& f : r["decision"]["findings"]) {
    const std::string rule = Str(f, "rule");
    if (std::find(seen.begin(), seen.end(), rule) == seen.end()) {
      seen.push_back(rule);
      rules.push_back({{"id", rule},
                       {"name", rule},
                       {"shortDescription", {{"text", "distillgate license rule " + rule}}},
                       {"helpUri", "https://distillgate.dev/docs/licenses-and-policy#" + rule}});
    }
    const std::string sev = Str(f, "severity");
    json result = {{"ruleId", rule},
                   {"ruleIndex", std::find(seen.begin(), seen.end(), rule) - seen.begin()},
                   {"level", sev == "deny" ? "error" : sev == "review" ? "warning" : "note"},
                   {"message", {{"text", Str(f, "message") + (Str(f, "fix").empty() ? "" : " How to fix: " + Str(f, "fix"))}}},
                   {"locations", SarifLocations(r, Str(f, "subject"))},
                   {"properties", {{"license", Str(f, "license")}, {"subject", Str(f, "subject")}, {"clause", f.value("clause", json())}}}};
    if (f.value("waived", false)) result["suppressions"] = {{{"kind", "external"}, {"justification", Str(f, "waiver")}}};
    results.push_back(std::move(result));
  }
  for (const json& o : r["decision"]["obligations"]) {
    if (!o.value("met", json()).is_boolean() || o["met"].get<bool>()) continue;
    if (std::find(seen.begin(), seen.end(), "obligation-unmet") == seen.end()) {
      seen.push_back("obligation-unmet");
      rules.push_back({{"id", "obligation-unmet"}, {"name", "obligation-unmet"}, {"shortDescription", {{"text", "a license obligation is not met"}}}});
    }
    results.push_back({{"ruleId", "obligation-unmet"},
                       {"ruleIndex", std::find(seen.begin(), seen.end(), "obligation-unmet") - seen.begin()},
                       {"level", "error"},
                       {"message", {{"text", Str(o, "text") + " (" + Str(o, "license") + ")"}}},
                       {"locations", SarifLocations(r, Str(o, "subject"))}});
  }
  return {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
          {"version", "2.1.0"},
          {"runs",
           {{{"tool", {{"driver", {{"name", "distillgate"}, {"semanticVersion", "0.1.0"}, {"informationUri", "https://distillgate.dev/"}, {"rules", rules}}}}},
             {"automationDetails", {{"id", "distillgate/" + Str(r, "run")}}},
             {"columnKind", "utf16CodeUnits"},
             {"results", results},
             {"properties", {{"run", Str(r, "run")}, {"verdict", VerdictOf(r)}, {"ledger_verifies", r["ledger"]["verifies"]}}}}}}};
}

StatusOr<std::vector<std::string>> WriteReportFiles(const json& report, const std::string& dir,
                                                    const std::vector<std::string>& formats) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& f : formats) {
    if (f == "md") files.emplace_back("report.md", RenderMarkdown(report));
    else if (f == "html") files.emplace_back("report.html", RenderHtml(report));
    else if (f == "json") files.emplace_back("report.json", report.dump(2) + "\n");
    else if (f == "sarif") files.emplace_back("report.sarif", RenderSarif(report).dump(2) + "\n");
    else return Status::InvalidInput("--format: unknown format \"" + f + "\" (expected md, html, json, sarif)");
  }
  DG_RETURN_IF_ERROR(MakeDirectories(dir));
  std::vector<std::string> written;
  for (const auto& [name, text] : files) {
    DG_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + name, text, 0644, false));
    written.push_back(dir + "/" + name);
  }
  return written;
}

}  // namespace dg
