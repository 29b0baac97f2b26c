#include "lineage/transcript.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <vector>
#include <unordered_map>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/hash.h"
#include "core/json_schema.h"

namespace dg {

using json = nlohmann::json;

std::string TranscriptProblem::ToString() const {
  return file + ":" + std::to_string(line) + ": " + (pointer.empty() ? "" : pointer + ": ") + what;
}

namespace {

// The first violation of `doc` against `schema`, as a problem (false when it matches).
bool SchemaProblem(const JsonSchema& schema, const json& doc, const std::string& prefix, TranscriptProblem* p) {
  const auto violations = schema.Violations(doc);
  if (violations.empty()) return false;
  p->pointer = prefix + (violations[0].pointer == "/" && !prefix.empty() ? "" : violations[0].pointer);
  p->what = violations[0].what;
  return true;
}

class LineReader {
 public:
  explicit LineReader(const std::string& path) : in_(path, std::ios::binary) {}
  bool ok() const { return static_cast<bool>(in_); }
  // Next line without its "\n" (and "\r"); false at the end.
  bool Next(std::string* line, uint64_t* number, uint64_t* offset) {
    *offset = pos_;
    if (!std::getline(in_, *line)) return false;
    pos_ += line->size() + 1;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    *number = ++line_;
    return true;
  }
  void Seek(uint64_t offset) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
  }

 private:
  std::ifstream in_;
  uint64_t pos_ = 0, line_ = 0;
};

bool Blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

// Parses and validates one line; on failure fills `problem`.
bool ParseLine(const std::string& text, const std::string& file, uint64_t line, const char* schema_name, json* out,
               TranscriptProblem* problem) {
  problem->file = file;
  problem->line = line;
  problem->line_sha256 = HexEncode(Sha256(text));
  auto doc = ParseJsonStrict(text, file + ":" + std::to_string(line));
  if (!doc.ok()) {
    problem->what = "not valid JSON: " + doc.status().message();
    return false;
  }
  auto schema = JsonSchema::Builtin(schema_name);
  if (!schema.ok()) {  // a broken build, not a bad line
    throw std::runtime_error(schema.status().message());
  }
  if (SchemaProblem(**schema, *doc, "", problem)) return false;
  *out = std::move(doc).value();
  return true;
}

// Every non-blank line of `path` that parses and matches `schema_name` goes
// to on_line (with its number and byte offset, and a problem pre-filled with
// its place); the others to on_problem.
using LineFn = std::function<Status(json& doc, uint64_t line, uint64_t offset, TranscriptProblem& place)>;
Status ForEachValidLine(const std::string& path, const char* what, const char* schema_name, const LineFn& on_line,
                        const std::function<Status(const TranscriptProblem&)>& on_problem) {
  LineReader in(path);
  if (!in.ok()) return Status::InvalidInput(path + ": cannot open the " + what);
  std::string text;
  uint64_t number = 0, offset = 0;
  while (in.Next(&text, &number, &offset)) {
    if (Blank(text)) continue;
    json doc;
    TranscriptProblem p;
    if (!ParseLine(text, path, number, schema_name, &doc, &p)) {
      DG_RETURN_IF_ERROR(on_problem(p));
      continue;
    }
    DG_RETURN_IF_ERROR(on_line(doc, number, offset, p));
  }
  return Status::Ok();
}

Status ReadExchanges(const TranscriptSource& src, const std::function<Status(Exchange&)>& on_exchange,
                     const std::function<Status(const TranscriptProblem&)>& on_problem) {
  return ForEachValidLine(
      src.path, "transcript", "transcript-exchange.schema.json",
      [&](json& doc, uint64_t line, uint64_t, TranscriptProblem&) {
        Exchange e;
        e.file = src.path;
        e.line = line;
        e.request = std::move(doc["request"]);
        e.response = std::move(doc["response"]);
        e.model = e.response["model"].get<std::string>();
        return on_exchange(e);
      },
      on_problem);
}

Status ReadBatch(const TranscriptSource& src, const std::function<Status(Exchange&)>& on_exchange,
                 const std::function<Status(const TranscriptProblem&)>& on_problem) {
  // Index the input file: custom_id → (offset, line). Bad input lines are problems.
  struct Where {
    uint64_t offset, line;
    bool used;
  };
  std::unordered_map<std::string, Where> index;
  DG_RETURN_IF_ERROR(ForEachValidLine(
      src.path, "batch input file", "openai-batch-input.schema.json",
      [&](json& doc, uint64_t line, uint64_t offset, TranscriptProblem& p) {
        const std::string id = doc["custom_id"];
        if (index.emplace(id, Where{offset, line, false}).second) return Status::Ok();
        p.pointer = "/custom_id";
        p.what = "custom_id \"" + id + "\" repeats line " + std::to_string(index[id].line);
        return on_problem(p);
      },
      on_problem));
  LineReader input(src.path);
  std::string request_text;
  uint64_t in_number = 0, in_offset = 0;
  DG_RETURN_IF_ERROR(ForEachValidLine(
      src.output_path, "batch output file", "openai-batch-output.schema.json",
      [&](json& doc, uint64_t number, uint64_t, TranscriptProblem& p) -> Status {
        const std::string id = doc["custom_id"];
        auto it = index.find(id);
        if (it == index.end() || it->second.used) {
          p.pointer = "/custom_id";
          p.what = it == index.end() ? "custom_id \"" + id + "\" is not in the batch input file " + src.path
                                     : "custom_id \"" + id + "\" was answered twice";
          return on_problem(p);
        }
        it->second.used = true;
        input.Seek(it->second.offset);
        input.Next(&request_text, &in_number, &in_offset);
        Exchange e;
        e.file = src.output_path;
        e.line = number;
        e.custom_id = id;
        e.request = json::parse(request_text)["body"];  // validated while indexing
        const json& resp = doc.contains("response") ? doc["response"] : json();
        if (resp.is_object() && resp["status_code"] == 200) {
          auto body_schema = JsonSchema::Builtin("chat-completion-response.schema.json");
          if (!body_schema.ok()) return body_schema.status();
          if (SchemaProblem(**body_schema, resp["body"], "/response/body", &p)) return on_problem(p);
          e.response = resp["body"];
          e.model = e.response["model"].get<std::string>();
        } else {
          // A failed call: recorded as failed, never trained on.
          const json err = doc.value("error", json());
          e.error = err.is_object() ? err.value("message", err.dump())
                                    : "HTTP " + (resp.is_object() ? resp["status_code"].dump() : std::string("error")) +
                                          (resp.is_object() && resp["body"].contains("error") ? ": " + resp["body"]["error"].dump() : "");
          e.model = e.request.value("model", "");
        }
        return on_exchange(e);
      },
      on_problem));
  std::vector<std::pair<uint64_t, std::string>> unanswered;
  for (const auto& [id, where] : index) {
    if (!where.used) unanswered.emplace_back(where.line, id);
  }
  std::sort(unanswered.begin(), unanswered.end());
  for (const auto& [line, id] : unanswered) {
    const Where where{0, line, false};
    TranscriptProblem p;
    p.file = src.path;
    p.line = where.line;
    p.pointer = "/custom_id";
    p.what = "custom_id \"" + id + "\" has no line in the output file " + src.output_path;
    // Unanswered requests are not calls: reported, not recorded as exchanges.
    DG_RETURN_IF_ERROR(on_problem(p));
  }
  return Status::Ok();
}

}  // namespace

Status ReadTranscript(const TranscriptSource& source, const std::function<Status(Exchange&)>& on_exchange,
                      const std::function<Status(const TranscriptProblem&)>& on_problem) {
  if (source.format == "exchanges") return ReadExchanges(source, on_exchange, on_problem);
  if (source.format == "openai-batch") return ReadBatch(source, on_exchange, on_problem);
  return Status::InvalidInput("unknown transcript format \"" + source.format + "\" (expected exchanges or openai-batch)");
}

}  // namespace dg
