#include "transcripts/reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <vector>
#include <unordered_map>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/hash.h"
#include "core/json_schema.h"
#include "core/parallel_lines.h"

namespace dg {

using json = nlohmann::json;

std::string TranscriptProblem::ToString() const {
  return file + ":" + std::to_string(line) + ": " + (pointer.empty() ? "" : pointer + ": ") + what;
}

namespace {

constexpr char kCompletionsPath[] = "/v1/completions";

// The first violation of `doc` against `schema`, as a problem (false when it matches).
bool SchemaProblem(const JsonSchema& schema, const json& doc, const std::string& prefix, TranscriptProblem* p) {
  const auto violations = schema.Violations(doc);
  if (violations.empty()) return false;
  p->pointer = prefix + (violations[0].pointer == "/" && !prefix.empty() ? "" : violations[0].pointer);
  p->what = violations[0].what;
  return true;
}

bool Blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

// A problem at `line` of `file`, pinned by the hash of the line's bytes.
TranscriptProblem ProblemAt(const std::string& file, const LineRef& line, std::string pointer, std::string what) {
  TranscriptProblem p;
  p.file = file;
  p.line = line.number;
  p.pointer = std::move(pointer);
  p.what = std::move(what);
  p.line_sha256 = HexEncode(Sha256(line.text));
  return p;
}

TranscriptItem ProblemItem(TranscriptProblem p) {
  TranscriptItem it;
  it.kind = TranscriptItem::Kind::kProblem;
  it.problem = std::move(p);
  return it;
}

// Parses and validates one line; false (and `problem` filled) when it is bad.
// `alternative`, when given, is the schema of batch input lines whose url is
// the (legacy) completions endpoint.
bool ParseLine(const LineRef& line, const std::string& file, const JsonSchema& schema, json* out, TranscriptProblem* problem,
               const JsonSchema* completion_input = nullptr) {
  auto doc = ParseJsonStrict(line.text, file + ":" + std::to_string(line.number));
  if (!doc.ok()) {
    *problem = ProblemAt(file, line, "", "not valid JSON: " + doc.status().message());
    return false;
  }
  TranscriptProblem p;
  const bool completion = completion_input != nullptr && doc->is_object() && doc->value("url", json()) == kCompletionsPath;
  if (SchemaProblem(completion ? *completion_input : schema, *doc, "", &p)) {
    *problem = ProblemAt(file, line, p.pointer, p.what);
    return false;
  }
  *out = std::move(doc).value();
  return true;
}

// Runs the caller's `prepare` on a good exchange; its error makes the line a problem.
void Prepare(const TranscriptReadOptions& o, const std::string& file, const LineRef& line, TranscriptItem* item) {
  if (!o.prepare) return;
  Status s = o.prepare(*item);
  if (s.ok()) return;
  *item = ProblemItem(ProblemAt(file, line, "", s.message()));
}

ParallelLinesOptions LinesOptions(const TranscriptReadOptions& o) {
  ParallelLinesOptions p;
  p.threads = o.threads;
  return p;
}

// One line's result; blank lines are none.
struct LineItem {
  bool blank = false;
  TranscriptItem item;
};

Status ReadExchanges(const TranscriptSource& src, const std::function<Status(TranscriptItem&)>& consume,
                     const TranscriptReadOptions& o) {
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("transcript-exchange.schema.json"));
  Hash sha{};
  DG_RETURN_IF_ERROR(ForEachLineParallel<LineItem>(
      src.path,
      [&](const LineRef& line, LineItem* r) {
        if ((r->blank = Blank(line.text))) return;
        TranscriptItem& it = r->item;
        json doc;
        if (!ParseLine(line, src.path, *schema, &doc, &it.problem)) {
          it.kind = TranscriptItem::Kind::kProblem;
          return;
        }
        Exchange& e = it.exchange;
        e.file = src.path;
        e.line = line.number;
        e.request = std::move(doc["request"]);
        e.response = std::move(doc["response"]);
        e.model = e.response["model"].get<std::string>();
        Prepare(o, src.path, line, &it);
      },
      [&](const LineRef&, LineItem& r) { return r.blank ? Status::Ok() : consume(r.item); }, &sha, LinesOptions(o)));
  if (o.files_read != nullptr) o.files_read->emplace_back(src.path, sha);
  return Status::Ok();
}

class PreadFile {
 public:
  explicit PreadFile(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~PreadFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Exactly `length` bytes at `offset`; false when the file has fewer.
  bool Read(uint64_t offset, size_t length, std::string* out) const {
    out->resize(length);
    size_t got = 0;
    while (got < length) {
      const ssize_t n = ::pread(fd_, &(*out)[got], length - got, static_cast<off_t>(offset + got));
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

 private:
  int fd_;
};

Status ReadBatch(const TranscriptSource& src, const std::function<Status(TranscriptItem&)>& consume,
                 const TranscriptReadOptions& o) {
  DG_ASSIGN_OR_RETURN(auto input_schema, JsonSchema::Builtin("openai-batch-input.schema.json"));
  DG_ASSIGN_OR_RETURN(auto output_schema, JsonSchema::Builtin("openai-batch-output.schema.json"));
  DG_ASSIGN_OR_RETURN(auto body_schema, JsonSchema::Builtin("chat-completion-response.schema.json"));
  // Lines whose url is /v1/completions (completion.schema.json).
  DG_ASSIGN_OR_RETURN(auto completion_input_schema, JsonSchema::Builtin("completion-batch-input.schema.json"));
  DG_ASSIGN_OR_RETURN(auto completion_body_schema, JsonSchema::Builtin("completion-response.schema.json"));
  // Index the input file: custom_id → where its line is. Bad input lines are problems.
  struct Where {
    uint64_t offset, line;
    size_t length, ordinal;
  };
  std::unordered_map<std::string, Where> index;
  struct InputLine {
    bool blank = false, ok = false;
    std::string custom_id;
    TranscriptProblem problem;
  };
  Hash input_sha{};
  DG_RETURN_IF_ERROR(ForEachLineParallel<InputLine>(
      src.path,
      [&](const LineRef& line, InputLine* r) {
        if ((r->blank = Blank(line.text))) return;
        json doc;
        if ((r->ok = ParseLine(line, src.path, *input_schema, &doc, &r->problem, completion_input_schema.get()))) {
          r->custom_id = doc["custom_id"].get<std::string>();
        }
      },
      [&](const LineRef& line, InputLine& r) -> Status {
        if (r.blank) return Status::Ok();
        if (!r.ok) {
          TranscriptItem it = ProblemItem(std::move(r.problem));
          return consume(it);
        }
        const size_t ordinal = index.size();
        auto [it, inserted] = index.emplace(r.custom_id, Where{line.offset, line.number, line.text.size(), ordinal});
        if (inserted) return Status::Ok();
        TranscriptItem item = ProblemItem(ProblemAt(src.path, line, "/custom_id",
                                                    "custom_id \"" + r.custom_id + "\" repeats line " + std::to_string(it->second.line)));
        return consume(item);
      },
      &input_sha, LinesOptions(o)));

  // The output file, each answer joined with its request (read back by
  // offset; the index is not changed while the workers read it).
  PreadFile input(src.path);
  if (!input.ok()) return Status::IoError(src.path + ": cannot open the batch input file again");
  std::vector<bool> used(index.size(), false);
  struct OutputLine {
    bool blank = false;
    size_t ordinal = 0;
    TranscriptItem item;
  };
  Hash output_sha{};
  DG_RETURN_IF_ERROR(ForEachLineParallel<OutputLine>(
      src.output_path,
      [&](const LineRef& line, OutputLine* r) {
        if ((r->blank = Blank(line.text))) return;
        TranscriptItem& it = r->item;
        auto fail = [&](std::string pointer, std::string what) {
          it = ProblemItem(ProblemAt(src.output_path, line, std::move(pointer), std::move(what)));
        };
        json doc;
        if (!ParseLine(line, src.output_path, *output_schema, &doc, &it.problem)) {
          it.kind = TranscriptItem::Kind::kProblem;
          return;
        }
        const std::string id = doc["custom_id"];
        auto found = index.find(id);
        if (found == index.end()) return fail("/custom_id", "custom_id \"" + id + "\" is not in the batch input file " + src.path);
        r->ordinal = found->second.ordinal;
        std::string request_text;
        json request_line;
        if (input.Read(found->second.offset, found->second.length, &request_text)) {
          auto parsed = ParseJsonStrict(request_text, src.path);
          if (parsed.ok()) request_line = std::move(parsed).value();
        }
        if (!request_line.is_object() || !request_line.contains("body")) {
          return fail("/custom_id", src.path + " changed while it was being read (line " + std::to_string(found->second.line) + ")");
        }
        Exchange& e = it.exchange;
        e.file = src.output_path;
        e.line = line.number;
        e.custom_id = id;
        if (request_line.value("url", json()) == kCompletionsPath) e.endpoint = kCompletionsPath;
        e.request = std::move(request_line["body"]);  // validated while indexing
        json resp = doc.contains("response") ? std::move(doc["response"]) : json();
        if (resp.is_object() && resp["status_code"] == 200) {
          TranscriptProblem p;
          if (SchemaProblem(e.endpoint.empty() ? *body_schema : *completion_body_schema, resp["body"], "/response/body", &p)) {
            return fail(p.pointer, p.what);
          }
          e.response = std::move(resp["body"]);
          e.model = e.response["model"].get<std::string>();
        } else {
          // A failed call: recorded as failed, never trained on.
          e.failed = true;
          const json err = doc.value("error", json());
          e.error = err.is_object() ? err.value("message", err.dump())
                                    : "HTTP " + (resp.is_object() ? resp["status_code"].dump() : std::string("error")) +
                                          (resp.is_object() && resp["body"].contains("error") ? ": " + resp["body"]["error"].dump() : "");
          e.model = e.request.value("model", "");
        }
        Prepare(o, src.output_path, line, &it);
      },
      [&](const LineRef& line, OutputLine& r) -> Status {
        if (r.blank) return Status::Ok();
        if (r.item.kind == TranscriptItem::Kind::kExchange) {
          if (used[r.ordinal]) {
            TranscriptItem it = ProblemItem(
                ProblemAt(src.output_path, line, "/custom_id", "custom_id \"" + r.item.exchange.custom_id + "\" was answered twice"));
            return consume(it);
          }
          used[r.ordinal] = true;
        }
        return consume(r.item);
      },
      &output_sha, LinesOptions(o)));
  // The requests were read twice: the bytes joined must be the bytes hashed.
  DG_ASSIGN_OR_RETURN(Hash input_again, Sha256File(src.path));
  if (input_again != input_sha) return Status::IoError(src.path + " changed while it was being read");

  std::vector<std::pair<uint64_t, std::string>> unanswered;
  for (const auto& [id, where] : index) {
    if (!used[where.ordinal]) unanswered.emplace_back(where.line, id);
  }
  std::sort(unanswered.begin(), unanswered.end());
  for (const auto& [line, id] : unanswered) {
    TranscriptProblem p;
    p.file = src.path;
    p.line = line;
    p.pointer = "/custom_id";
    p.what = "custom_id \"" + id + "\" has no line in the output file " + src.output_path;
    // Unanswered requests are not calls: reported, not recorded as exchanges.
    TranscriptItem it = ProblemItem(std::move(p));
    DG_RETURN_IF_ERROR(consume(it));
  }
  if (o.files_read != nullptr) {
    o.files_read->emplace_back(src.path, input_sha);
    o.files_read->emplace_back(src.output_path, output_sha);
  }
  return Status::Ok();
}

}  // namespace

Status ReadTranscript(const TranscriptSource& source, const std::function<Status(TranscriptItem&)>& consume,
                      const TranscriptReadOptions& options) {
  if (source.format == "exchanges") return ReadExchanges(source, consume, options);
  if (source.format == "openai-batch") return ReadBatch(source, consume, options);
  return Status::InvalidInput("unknown transcript format \"" + source.format + "\" (expected exchanges or openai-batch)");
}

Status ReadTranscript(const TranscriptSource& source, const std::function<Status(Exchange&)>& on_exchange,
                      const std::function<Status(const TranscriptProblem&)>& on_problem) {
  return ReadTranscript(source, [&](TranscriptItem& it) {
    return it.kind == TranscriptItem::Kind::kExchange ? on_exchange(it.exchange) : on_problem(it.problem);
  });
}

}  // namespace dg
