#include "report/job_source.h"

#include <algorithm>
#include <map>
#include <optional>

#include <yaml-cpp/yaml.h>

#include "core/canonical_json.h"
#include "core/file_util.h"
#include "policy/job.h"

namespace dg {

namespace {

using json = nlohmann::json;

// The pointer of the job entry a subject is about: /teachers/N,
// /datasets/N, /datasets/N/generated_by, /student/base_model.
std::optional<std::vector<std::string>> PathOf(const json& doc, const std::string& subject) {
  const std::string head = subject.substr(0, subject.find("/base:"));
  auto indexed = [&doc](const char* array, const std::string& id) -> std::optional<std::vector<std::string>> {
    if (!doc.contains(array) || !doc[array].is_array()) return std::nullopt;
    for (size_t i = 0; i < doc[array].size(); ++i) {
      const json& e = doc[array][i];
      if (e.is_object() && e.value("id", std::string()) == id) return std::vector<std::string>{array, std::to_string(i)};
    }
    return std::nullopt;
  };
  if (head.rfind("teacher:", 0) == 0) return indexed("teachers", head.substr(8));
  if (head.rfind("dataset:", 0) == 0) return indexed("datasets", head.substr(8));
  if (head.rfind("generator:", 0) == 0) {
    auto p = indexed("datasets", head.substr(10));
    if (p && doc["datasets"][std::stoul((*p)[1])].contains("generated_by")) p->push_back("generated_by");
    return p;
  }
  if (head == "base_model" && doc.contains("student") && doc["student"].contains("base_model")) {
    return std::vector<std::string>{"student", "base_model"};
  }
  return std::nullopt;
}

// SARIF's default columnKind, utf16CodeUnits: the column (from 1) of the
// byte `byte_column` bytes into line `line` (from 0) of `text`. yaml-cpp's
// marks count bytes of the UTF-8 text, after a leading byte-order mark; a
// code point of four UTF-8 bytes is two UTF-16 code units, any other one.
int Utf16Column(const std::string& text, int line, int byte_column) {
  size_t start = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  for (int l = 0; l < line && start < text.size(); ++l) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) return byte_column + 1;
    start = nl + 1;
  }
  const size_t end = std::min(text.size(), start + static_cast<size_t>(byte_column));
  int units = 0;
  for (size_t i = start; i < end; ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if ((b & 0xC0) != 0x80) units += b >= 0xF0 ? 2 : 1;
  }
  return units + 1;
}

}  // namespace

StatusOr<json> LocateJobSource(const std::string& path, const std::string& job_sha256, const std::vector<std::string>& subjects) {
  // One read: the job is parsed from the same bytes whose positions are taken.
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  DG_ASSIGN_OR_RETURN(json doc, ParseJsonStrict(text, path));
  DG_ASSIGN_OR_RETURN(Job job, ParseJob(doc, path));
  if (job.sha256 != job_sha256) {
    return Status::InvalidInput(path + ": not the decided job: its canonical SHA-256 is " + job.sha256 + ", the decision's job is " +
                                job_sha256 + " (edited since the decision?)");
  }
  const std::string uri = !path.empty() && path[0] == '/' ? "file://" + path : path;
  json out = {{"path", path}, {"uri", uri}, {"sha256", job.sha256}, {"locations", json::object()}};
  // A lone CR ends a line too (old Mac line ends, which JSON allows as
  // whitespace); yaml-cpp would not see it as one. Replaced by LF, one byte
  // for one, so the positions are those an editor shows.
  std::string lines = text;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == '\r' && (i + 1 == lines.size() || lines[i + 1] != '\n')) lines[i] = '\n';
  }
  YAML::Node root;
  try {
    root = YAML::Load(lines);  // JSON is YAML's flow style: its marks are the JSON text's lines and columns
  } catch (const YAML::Exception&) {
    return out;  // the job is valid JSON yaml-cpp cannot read: no positions
  }
  for (const std::string& subject : subjects) {
    const auto steps = PathOf(job.doc, subject);
    if (!steps) continue;
    try {
      // Node::reset, not assignment (which would write into the tree);
      // const lookups, which add no key.
      YAML::Node n = root;
      std::string pointer;
      for (const std::string& step : *steps) {
        pointer += "/" + step;
        const YAML::Node& here = n;
        YAML::Node next = here.IsSequence() ? here[std::stoul(step)] : here[step];
        n.reset(next);
        if (!n.IsDefined()) break;
      }
      if (!n.IsDefined() || n.Mark().line < 0) continue;
      out["locations"][subject] = {{"pointer", pointer}, {"line", n.Mark().line + 1}, {"column", Utf16Column(lines, n.Mark().line, n.Mark().column)}};
    } catch (const YAML::Exception&) {
      continue;
    }
  }
  return out;
}

Status AddJobSource(json* report, const std::string& path) {
  std::vector<std::string> subjects;
  for (const char* list : {"findings", "obligations"}) {
    for (const json& f : (*report)["decision"].value(list, json::array())) subjects.push_back(f.value("subject", std::string()));
  }
  DG_ASSIGN_OR_RETURN(json source, LocateJobSource(path, (*report)["job"].value("sha256", std::string()), subjects));
  (*report)["job"]["source"] = std::move(source);
  return Status::Ok();
}

}  // namespace dg
