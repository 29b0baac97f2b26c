#include "lineage/transcript_run.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <filesystem>
#include <map>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "ledger/merkle.h"
#include "license/knowledge_base.h"
#include "lineage/call_recorder.h"
#include "lineage/chat_client.h"
#include "core/json_schema.h"
#include "lineage/run_record.h"
#include "policy/evaluate.h"
#include "policy/gate.h"

namespace dg {

using json = nlohmann::json;

json TranscriptRunSummary::ToJson() const {
  return {{"verdict", verdict},       {"run", run_id},
          {"status", status},         {"decision_index", decision_index},
          {"exchanges", exchanges},   {"failed_calls", failed_calls},
          {"skipped_lines", skipped_lines}, {"disallowed_calls", disallowed_calls},
          {"findings", findings}, {"call_seconds", call_seconds}, {"recording_seconds", recording_seconds}};
}

bool ModelAllowedFor(const std::string& job_model, const std::string& model) {
  if (job_model.empty()) return false;
  if (model == job_model) return true;
  if (model.size() <= job_model.size() + 1 || model.compare(0, job_model.size(), job_model) != 0 || model[job_model.size()] != '-') {
    return false;
  }
  for (size_t i = job_model.size() + 1; i < model.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(model[i])) && model[i] != '-') return false;
  }
  return true;
}

std::vector<TranscriptSource> TranscriptSourcesOf(const Job& job) {
  std::vector<TranscriptSource> out;
  for (const json& t : job.doc.value("teachers", json::array())) {
    if (!t.contains("transcript")) continue;
    const json& tr = t["transcript"];
    TranscriptSource s;
    s.teacher_id = t.value("id", "");
    s.format = tr.value("format", "");
    // Absolute, so that `transcripts verify` works from any directory.
    auto absolute = [&](const std::string& p) { return std::filesystem::absolute(job.Resolve(p)).lexically_normal().string(); };
    s.path = absolute(tr.value("path", ""));
    if (tr.contains("output")) s.output_path = absolute(tr["output"].get<std::string>());
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

// What run_start records of an API teacher; the teacher_call bodies are a
// pure function of it and the exchange, so verification can rebuild them.
struct TeacherMeta {
  std::string id, provider, model, license, terms_profile, terms_sha256;
  json ToJson() const {
    return {{"id", id}, {"provider", provider}, {"model", model}, {"license", license},
            {"terms", {{"profile", terms_profile.empty() ? json() : json(terms_profile)},
                       {"sha256", terms_sha256.empty() ? json() : json(terms_sha256)}}}};
  }
  static TeacherMeta FromJson(const json& j) {
    TeacherMeta m;
    m.id = j.value("id", "");
    m.provider = j.value("provider", "");
    m.model = j.value("model", "");
    m.license = j.value("license", "");
    const json terms = j.value("terms", json::object());
    if (terms["profile"].is_string()) m.terms_profile = terms["profile"];
    if (terms["sha256"].is_string()) m.terms_sha256 = terms["sha256"];
    return m;
  }
};

// What tells a file that changed from one that did not, without reading it.
struct FileStamp {
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp& o) const {
    return device == o.device && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
  }
};

StatusOr<FileStamp> StampOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::IoError(path + ": " + std::strerror(errno));
  FileStamp f;
  f.device = static_cast<uint64_t>(st.st_dev);
  f.inode = static_cast<uint64_t>(st.st_ino);
  f.size = static_cast<uint64_t>(st.st_size);
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return f;
}

// Hex SHA-256 of the RFC 8785 form of `j`.
StatusOr<std::string> CanonicalSha256(const json& j) {
  thread_local std::string buffer;  // one allocation a thread, not one a value
  buffer.clear();
  DG_RETURN_IF_ERROR(AppendCanonical(j, &buffer));
  return HexEncode(Sha256(buffer));
}

// A teacher_call body but for its sequence number, which only the reader in
// file order knows, so the rest can be built on a worker thread.
StatusOr<CanonicalObjectWithHole> PrepareCall(const Exchange& e, const TeacherMeta& t, const std::string& run_id) {
  DG_ASSIGN_OR_RETURN(std::string request_sha, CanonicalSha256(e.request));
  std::string response_sha;
  if (!e.failed) {
    DG_ASSIGN_OR_RETURN(response_sha, CanonicalSha256(e.response));
  }
  auto member = [&e](const char* name) -> const json& {
    static const json kNull;
    auto it = e.response.find(name);
    return it == e.response.end() ? kNull : *it;
  };
  // Members in RFC 8785 order (by name).
  CanonicalObjectBuilder b;
  b.Bool("allowed", ModelAllowedFor(t.model, e.model));
  if (e.failed) b.String("error", e.error);
  b.String("model", e.model).String("provider", t.provider).String("request_sha256", request_sha);
  if (e.failed) {
    b.Null("response_sha256");
  } else {
    b.Value("response_id", e.response["id"]).String("response_sha256", response_sha);
  }
  b.String("run", run_id).Hole("sequence");
  CanonicalObjectBuilder source;
  if (!e.custom_id.empty()) source.String("custom_id", e.custom_id);
  source.String("file", e.file).Uint("line", e.line);
  b.Object("source", std::move(source)).String("status", e.failed ? "failed" : "ok");
  if (!e.failed) b.Value("system_fingerprint", member("system_fingerprint"));
  CanonicalObjectBuilder terms;
  t.terms_profile.empty() ? terms.Null("profile") : terms.String("profile", t.terms_profile);
  t.terms_sha256.empty() ? terms.Null("sha256") : terms.String("sha256", t.terms_sha256);
  b.String("teacher", t.id).Object("terms", std::move(terms));
  if (e.failed) {
    b.Null("time").Null("usage");
  } else {
    b.String("time", Rfc3339Utc(e.response["created"].get<int64_t>())).Value("usage", member("usage"));
  }
  return b.FinishWithHole();
}

// The teacher_call entry of an exchange.
StatusOr<LedgerEntry> CallEntry(const CanonicalObjectWithHole& body, uint64_t sequence) {
  return LedgerEntry::FromCanonicalObject("teacher_call", body, sequence);
}

// Reading options that prepare every exchange's call on the workers and
// then drop its documents (the recorder needs only the prepared parts).
TranscriptReadOptions PreparingCalls(const TeacherMeta& t, const std::string& run_id) {
  TranscriptReadOptions ro;
  ro.prepare = [&t, run_id](TranscriptItem& it) -> Status {
    DG_ASSIGN_OR_RETURN(it.prepared, PrepareCall(it.exchange, t, run_id));
    it.exchange.request = nullptr;
    it.exchange.response = nullptr;
    return Status::Ok();
  };
  return ro;
}

std::map<std::string, TeacherMeta> TeacherMetas(const Job& job, const KnowledgeBase& kb) {
  std::map<std::string, TeacherMeta> out;
  for (const auto& t : job.teachers) {
    TeacherMeta m;
    m.id = t.id;
    m.provider = t.provider;
    m.model = t.model;
    m.license = t.license;
    if (const LicenseProfile* p = kb.Find(t.license)) {
      m.terms_profile = p->id;
      m.terms_sha256 = p->sha256;
    }
    out[t.id] = m;
  }
  return out;
}

// The gate for a transcript run: records the decision and fills the
// summary's verdict, run id and exit code; true when the run may go on.
StatusOr<bool> DecideTranscriptRun(const Job& job, const Policy& policy, const KnowledgeBase& kb, Ledger& ledger,
                                   const PrivateKey& key, const std::string& today, TranscriptRunSummary* s) {
  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(job, policy, kb, ledger, key, today.empty() ? TodayUtc() : today));
  s->verdict = VerdictName(gate.decision.verdict);
  s->decision_index = gate.decision_index;
  s->run_id = RunIdFor(job.sha256, gate.decision_index);
  s->exit_code = gate.decision.ExitCode();
  if (!gate.permit) {
    s->status = "not_run";
    return false;
  }
  DG_RETURN_IF_ERROR(Gate::Verify(*gate.permit, job, ledger));
  return true;
}

}  // namespace

StatusOr<TranscriptRunSummary> RecordTranscripts(const Job& job, const Policy& policy, Ledger& ledger,
                                                 const PrivateKey& key, const TranscriptRunOptions& o) {
  const std::vector<TranscriptSource> sources = TranscriptSourcesOf(job);
  if (sources.empty()) {
    return Status::InvalidInput("job " + job.name + ": no teacher has a `transcript` (docs/transcripts.md)");
  }
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::Builtin());
  const auto metas = TeacherMetas(job, *kb);
  TranscriptRunSummary s;

  // Each file as it is before reading: one that changes while it is read is
  // refused. What is pinned (in run_end) is the SHA-256 of the bytes read,
  // computed while reading them, so the files are not read an extra time.
  std::map<std::string, FileStamp> stamps;
  for (const auto& src : sources) {
    for (const std::string& path : {src.path, src.output_path}) {
      if (path.empty()) continue;
      DG_ASSIGN_OR_RETURN(stamps[path], StampOf(path));
    }
  }

  // One pass in one ledger transaction: decide, then read, check and record
  // every line. Whatever stops the run before the end (a malformed line, a
  // file that changed, an error) rolls all of it back, the decision too: bad
  // input writes nothing. Parsing, checking and building the entries run on
  // every core; the ledger appends on this thread, in file order.
  DG_ASSIGN_OR_RETURN(auto transaction, Ledger::Transaction::Begin(ledger, Ledger::Transaction::Writes::kBulk));
  DG_ASSIGN_OR_RETURN(bool permitted, DecideTranscriptRun(job, policy, *kb, ledger, key, o.today, &s));
  json teachers = json::array();
  for (const auto& src : sources) teachers.push_back(metas.at(src.teacher_id).ToJson());
  json sources_j = json::array();
  for (const auto& src : sources) {
    json j = {{"teacher", src.teacher_id}, {"format", src.format}, {"path", src.path}};
    if (!src.output_path.empty()) j["output"] = src.output_path;
    sources_j.push_back(j);
  }
  CallRecorder rec(ledger, key, s.run_id, o.flush_every);
  if (permitted) {
    DG_RETURN_IF_ERROR(rec.RecordEntry("run_start", {{"job", job.name},
                                                     {"job_sha256", job.sha256},
                                                     {"decision_index", s.decision_index},
                                                     {"mode", "transcripts"},
                                                     {"api_teachers", teachers},
                                                     {"transcripts", sources_j},
                                                     {"skip_bad_lines", o.skip_bad_lines}}));
    DG_RETURN_IF_ERROR(rec.Flush());
    DG_RETURN_IF_ERROR(transaction->Mark());  // a refused run keeps only its start (and end)
  }
  bool recording = permitted;  // false once the run cannot complete: lines are still checked and counted
  std::vector<std::string> problems;
  uint64_t problem_count = 0, sequence = 0;
  std::vector<std::pair<std::string, Hash>> files_read;
  for (const auto& src : sources) {
    const TeacherMeta& t = metas.at(src.teacher_id);
    TranscriptReadOptions ro = permitted ? PreparingCalls(t, s.run_id) : TranscriptReadOptions();
    ro.files_read = &files_read;
    DG_RETURN_IF_ERROR(ReadTranscript(
        src,
        [&](TranscriptItem& it) -> Status {
          if (it.kind == TranscriptItem::Kind::kProblem) {
            const TranscriptProblem& p = it.problem;
            ++problem_count;
            if (problems.size() < 20) problems.push_back(p.ToString());
            if (!o.skip_bad_lines) recording = false;
            if (!recording) return Status::Ok();
            return rec.RecordEntry("transcript_line_skipped", {{"teacher", src.teacher_id}, {"file", p.file}, {"line", p.line},
                                                               {"line_sha256", p.line_sha256},
                                                               {"error", (p.pointer.empty() ? "" : p.pointer + ": ") + p.what}});
          }
          const Exchange& e = it.exchange;
          ++s.exchanges;
          const uint64_t seq = sequence++;
          if (e.failed) {
            ++s.failed_calls;
          } else if (!ModelAllowedFor(t.model, e.model)) {
            ++s.disallowed_calls;
            if (s.findings.size() < 20) {
              s.findings.push_back(e.file + ":" + std::to_string(e.line) + ": /response/model: \"" + e.model +
                                   "\" is not a model the job names for teacher " + t.id +
                                   (t.model.empty() ? " (it names none)" : " (\"" + t.model + "\")"));
            }
            if (policy.mode == "enforce") recording = false;
          }
          if (!recording) return Status::Ok();
          DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(it.prepared, seq));
          return rec.RecordPrepared(std::move(entry), true);
        },
        ro));
  }
  // The bytes read, pinned: from files that did not change meanwhile.
  std::map<std::string, Hash> read_sha;
  for (const auto& [path, sha] : files_read) read_sha[path] = sha;
  json files = json::array();
  for (const auto& src : sources) {
    for (const std::string& path : {src.path, src.output_path}) {
      if (path.empty()) continue;
      auto now = StampOf(path);
      if (!now.ok() || !(*now == stamps[path]) || !read_sha.count(path)) {
        return Status::IoError(path + " changed while it was being read; nothing was recorded");
      }
      files.push_back({{"teacher", src.teacher_id}, {"format", src.format}, {"path", path},
                       {"sha256", HexEncode(read_sha[path])}, {"bytes", now->size}});
    }
  }
  if (problem_count > 0 && !o.skip_bad_lines) {
    std::string msg = std::to_string(problem_count) + " malformed transcript line(s); nothing was recorded (give --skip-bad-lines to record them as skipped):";
    for (const auto& p : problems) msg += "\n  " + p;
    if (problem_count > problems.size()) msg += "\n  …";
    return Status::InvalidInput(msg);
  }
  s.skipped_lines = problem_count;
  if (!permitted) {
    DG_RETURN_IF_ERROR(transaction->Commit());  // the decision alone
    return s;
  }
  // The per-call policy: in enforce mode a call to a model the job does not
  // name refuses the run, and none of its calls stays recorded as usable.
  if (s.disallowed_calls > 0 && policy.mode == "enforce") {
    DG_RETURN_IF_ERROR(transaction->RollbackToMark());
    CallRecorder end(ledger, key, s.run_id, 1);
    DG_RETURN_IF_ERROR(end.RecordEntry("run_end", {{"status", "refused"},
                                                   {"reason", "calls to models the decision does not allow"},
                                                   {"disallowed_calls", s.disallowed_calls},
                                                   {"findings", s.findings},
                                                   {"files", files}}));
    DG_RETURN_IF_ERROR(transaction->Commit());
    s.status = "refused";
    s.exit_code = 1;
    return s;
  }
  DG_RETURN_IF_ERROR(rec.Flush());
  DG_RETURN_IF_ERROR(rec.RecordEntry("run_end", {{"status", "completed"},
                                                 {"teacher_calls", rec.recorded()},
                                                 {"teacher_calls_root", Base64Encode(rec.calls_root())},
                                                 {"failed_calls", s.failed_calls},
                                                 {"skipped_lines", s.skipped_lines},
                                                 {"disallowed_calls", s.disallowed_calls},
                                                 {"findings", s.findings},
                                                 {"files", files}}));
  DG_RETURN_IF_ERROR(rec.Flush());
  DG_RETURN_IF_ERROR(transaction->Commit());
  s.status = "completed";
  return s;
}

StatusOr<TranscriptRunSummary> CollectTranscripts(const Job& job, const Policy& policy, Ledger& ledger,
                                                  const PrivateKey& key, const CollectOptions& o) {
  // The teacher and its endpoint.
  const json* teacher = nullptr;
  const json& teachers = job.doc.at("teachers");  // teacher points into it below
  for (const json& t : teachers) {
    if (!t.contains("base_url")) continue;
    if (o.teacher_id.empty() ? teacher == nullptr : t.value("id", "") == o.teacher_id) {
      teacher = &t;
      if (!o.teacher_id.empty()) break;
    } else if (o.teacher_id.empty()) {
      return Status::InvalidInput("job " + job.name + ": several teachers have a base_url; name one with --teacher");
    }
  }
  if (teacher == nullptr) {
    return Status::InvalidInput("job " + job.name + ": no api teacher " + (o.teacher_id.empty() ? "" : "\"" + o.teacher_id + "\" ") +
                                "with a base_url to call (docs/transcripts.md)");
  }
  const std::string teacher_id = teacher->value("id", "");
  std::string api_key;
  if (teacher->contains("api_key_env")) {
    const std::string var = (*teacher)["api_key_env"];
    const char* v = std::getenv(var.c_str());
    if (v == nullptr || *v == '\0') {
      return Status::InvalidInput("teacher " + teacher_id + ": the environment variable " + var + " (its API key) is not set");
    }
    api_key = v;
  }
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::Builtin());
  const auto metas = TeacherMetas(job, *kb);
  const TeacherMeta& meta = metas.at(teacher_id);
  if (meta.model.empty()) return Status::InvalidInput("teacher " + teacher_id + ": name the `model` to call");

  // The prompts, checked before anything is decided or written.
  DG_ASSIGN_OR_RETURN(std::string prompts_text, ReadFile(o.prompts_path));
  DG_ASSIGN_OR_RETURN(auto prompt_schema, JsonSchema::Builtin("chat-prompt.schema.json"));
  std::vector<json> requests;
  {
    size_t pos = 0, line = 0;
    while (pos < prompts_text.size()) {
      const size_t nl = prompts_text.find('\n', pos);
      const std::string text = prompts_text.substr(pos, (nl == std::string::npos ? prompts_text.size() : nl) - pos);
      pos = nl == std::string::npos ? prompts_text.size() : nl + 1;
      ++line;
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = o.prompts_path + ":" + std::to_string(line);
      DG_ASSIGN_OR_RETURN(json req, ParseJsonStrict(text, where));
      DG_RETURN_IF_ERROR(prompt_schema->Validate(req, where));
      if (req.contains("model") && req["model"] != meta.model) {
        return Status::InvalidInput(where + ": /model: \"" + req["model"].get<std::string>() + "\" is not the teacher's model \"" +
                                    meta.model + "\"");
      }
      req["model"] = meta.model;
      requests.push_back(std::move(req));
    }
  }
  if (requests.empty()) return Status::InvalidInput(o.prompts_path + ": no prompts");
  const std::string dir = std::filesystem::absolute(o.out_dir).lexically_normal().string();
  const std::string in_path = dir + "/batch_input.jsonl", out_path = dir + "/batch_output.jsonl";
  for (const auto& p : {in_path, out_path}) {
    if (FileExists(p)) return Status::InvalidInput(p + ": exists; choose another --out-dir");
  }
  DG_RETURN_IF_ERROR(MakeDirectories(dir));
  std::string input_text;
  for (size_t i = 0; i < requests.size(); ++i) {
    input_text += json{{"custom_id", "request-" + std::to_string(i)}, {"method", "POST"}, {"url", "/v1/chat/completions"},
                       {"body", requests[i]}}.dump() + "\n";
  }

  TranscriptRunSummary s;
  DG_ASSIGN_OR_RETURN(bool permitted, DecideTranscriptRun(job, policy, *kb, ledger, key, o.today, &s));
  if (!permitted) return s;
  DG_RETURN_IF_ERROR(WriteFileAtomic(in_path, input_text, 0644, true));
  CallRecorder rec(ledger, key, s.run_id, o.flush_every);
  json live = {{"teacher", teacher_id}, {"base_url", teacher->value("base_url", "")},
               {"api_key_env", teacher->value("api_key_env", json())}, {"timeout_s", o.timeout_s},
               {"max_retries", o.max_retries}, {"min_interval_s", o.min_interval_s}};
  DG_RETURN_IF_ERROR(rec.RecordEntry(
      "run_start", {{"job", job.name},
                    {"job_sha256", job.sha256},
                    {"decision_index", s.decision_index},
                    {"mode", "transcripts"},
                    {"live", live},
                    {"api_teachers", json::array({meta.ToJson()})},
                    {"transcripts", json::array({{{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", in_path}, {"output", out_path}}})},
                    {"files", json::array({{{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", in_path},
                                            {"sha256", HexEncode(Sha256(input_text))}, {"bytes", input_text.size()}}})},
                    {"skip_bad_lines", false}}));
  DG_RETURN_IF_ERROR(rec.Flush());

  // Calls: each is recorded before its output line is written. The calls go
  // on while a helper thread records the previous batch of flush_every
  // (hashes each exchange, builds its entry and output line, appends the
  // batch with its signed checkpoint): one batch in flight, so entries keep
  // their order, and a batch's lines are written once it has landed.
  std::ofstream out(out_path, std::ios::binary);
  if (!out) return Status::IoError(out_path + ": cannot write");
  struct Made {
    Exchange e;
    json line;  // the output line, less an answer's response (moved in once hashed)
    std::string request_id;
  };
  auto record_batch = [&rec, &meta, run_id = s.run_id](std::vector<Made> batch, uint64_t first) -> StatusOr<std::vector<std::string>> {
    std::vector<std::string> lines;
    for (size_t k = 0; k < batch.size(); ++k) {
      Made& m = batch[k];
      DG_ASSIGN_OR_RETURN(CanonicalObjectWithHole call, PrepareCall(m.e, meta, run_id));
      DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(call, first + k));
      DG_RETURN_IF_ERROR(rec.RecordPrepared(std::move(entry), true));
      if (!m.e.failed) {
        m.line["response"] = {{"status_code", 200}, {"request_id", m.request_id}, {"body", std::move(m.e.response)}};
        m.line["error"] = nullptr;
      }
      lines.push_back(m.line.dump());
    }
    DG_RETURN_IF_ERROR(rec.Flush());
    return lines;
  };
  std::future<StatusOr<std::vector<std::string>>> in_flight;  // declared after rec and out: waited for first
  auto write = [&out, &out_path](const std::vector<std::string>& lines) -> Status {
    for (const auto& l : lines) out << l << '\n';
    out.flush();
    return out ? Status::Ok() : Status::IoError(out_path + ": write failed");
  };
  auto land = [&]() -> Status {  // waits for the batch in flight, then writes its lines
    if (!in_flight.valid()) return Status::Ok();
    DG_ASSIGN_OR_RETURN(std::vector<std::string> lines, in_flight.get());
    return write(lines);
  };
  std::vector<Made> batch;
  uint64_t batch_first = 0;
  DG_ASSIGN_OR_RETURN(auto response_schema, JsonSchema::Builtin("chat-completion-response.schema.json"));
  ChatClient client({teacher->value("base_url", ""), api_key, o.timeout_s, o.max_retries, o.backoff_s, o.min_interval_s});
  std::fill(api_key.begin(), api_key.end(), '\0');
  int consecutive_failures = 0;
  std::string stop_reason;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto t_call = std::chrono::steady_clock::now();
    ChatResult res = client.Complete(requests[i]);
    if (res.error.empty()) {  // checking the answer is part of receiving it, not of recording it
      Status valid = response_schema->Validate(res.body, "response");
      if (!valid.ok()) res.error = "HTTP 200 with a malformed response: " + valid.message();
    }
    const auto t_recorded = std::chrono::steady_clock::now();
    s.call_seconds += std::chrono::duration<double>(t_recorded - t_call).count();
    Exchange e;
    e.file = out_path;
    e.line = i + 1;
    e.custom_id = "request-" + std::to_string(i);
    e.request = std::move(requests[i]);  // sent: no longer needed here
    json line = {{"id", "batch_req_" + std::to_string(i)}, {"custom_id", e.custom_id}};
    if (res.error.empty()) {
      e.response = std::move(res.body);
      e.model = e.response["model"].get<std::string>();
      consecutive_failures = 0;
    } else {
      e.failed = true;
      e.error = res.error + " (after " + std::to_string(res.attempts) + " attempt" + (res.attempts == 1 ? "" : "s") + ")";
      e.model = meta.model;
      line["response"] = nullptr;
      line["error"] = {{"code", res.http_status == 0 ? "no_response" : "http_" + std::to_string(res.http_status)}, {"message", e.error}};
      ++s.failed_calls;
      ++consecutive_failures;
    }
    ++s.exchanges;
    const bool allowed = e.failed || ModelAllowedFor(meta.model, e.model);
    const std::string model = e.model;
    batch.push_back({std::move(e), std::move(line), std::move(res.request_id)});
    if (batch.size() >= o.flush_every) {
      DG_RETURN_IF_ERROR(land());
      in_flight = std::async(std::launch::async, record_batch, std::move(batch), batch_first);
      batch_first = i + 1;
      batch.clear();
    }
    s.recording_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_recorded).count();
    if (!allowed) {
      ++s.disallowed_calls;
      s.findings.push_back(out_path + ":" + std::to_string(i + 1) + ": /response/body/model: \"" + model +
                           "\" is not a model the job names for teacher " + teacher_id + " (\"" + meta.model + "\")");
      if (policy.mode == "enforce") {
        stop_reason = "refused";
        break;
      }
    }
    if (consecutive_failures >= o.max_consecutive_failures && i + 1 < requests.size()) {
      stop_reason = "failed";
      break;
    }
  }
  const auto t_final = std::chrono::steady_clock::now();
  DG_RETURN_IF_ERROR(land());
  DG_ASSIGN_OR_RETURN(std::vector<std::string> last_lines, record_batch(std::move(batch), batch_first));
  DG_RETURN_IF_ERROR(write(last_lines));
  out.close();
  s.recording_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_final).count();
  DG_ASSIGN_OR_RETURN(Hash out_sha, Sha256File(out_path));
  DG_ASSIGN_OR_RETURN(uint64_t out_bytes, FileSize(out_path));
  const json out_file = {{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", out_path},
                         {"sha256", HexEncode(out_sha)}, {"bytes", out_bytes}};
  json end = {{"teacher_calls", rec.recorded()},
              {"teacher_calls_root", Base64Encode(rec.calls_root())},
              {"failed_calls", s.failed_calls},
              {"skipped_lines", 0},
              {"disallowed_calls", s.disallowed_calls},
              {"findings", s.findings},
              {"files", json::array({out_file})}};
  if (stop_reason == "refused") {
    end["status"] = "refused";
    end["reason"] = "a call was answered by a model the decision does not allow";
    s.status = "refused";
    s.exit_code = 1;
  } else if (stop_reason == "failed") {
    end["status"] = "failed";
    end["error"] = "the endpoint failed " + std::to_string(consecutive_failures) + " calls in a row; " +
                   std::to_string(requests.size() - s.exchanges) + " prompts were not sent";
    s.status = "failed";
    s.exit_code = 3;
  } else {
    end["status"] = "completed";
    s.status = "completed";
  }
  DG_RETURN_IF_ERROR(rec.RecordEntry("run_end", end));
  DG_RETURN_IF_ERROR(rec.Flush());
  return s;
}

StatusOr<TranscriptCheck> VerifyTranscripts(Ledger& ledger, const std::string& run_id) {
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger, run_id));
  if (!r.run_start || r.run_start->body.value("mode", "") != "transcripts") {
    return Status::InvalidInput("run " + r.run_id + " recorded no transcripts");
  }
  if (r.status() == "refused" && r.teacher_calls == 0) {
    return Status::InvalidInput("run " + r.run_id + " was refused before any call was recorded: nothing to verify (its run_end lists why)");
  }
  TranscriptCheck c;
  const json& start = r.run_start->body;
  for (const json& f : r.PinnedFiles()) {
    auto h = Sha256File(f.value("path", ""));
    if (!h.ok()) {
      c.problems.push_back(f.value("path", "") + ": " + h.status().message());
    } else if (HexEncode(*h) != f.value("sha256", "")) {
      c.problems.push_back(f.value("path", "") + ": its SHA-256 is no longer the recorded " + f.value("sha256", ""));
    }
  }
  std::map<std::string, TeacherMeta> metas;
  for (const json& t : start.value("api_teachers", json::array())) metas[t.value("id", "")] = TeacherMeta::FromJson(t);
  uint64_t sequence = 0;
  size_t reported = 0;
  for (const json& sj : start.value("transcripts", json::array())) {
    TranscriptSource src{sj.value("teacher", ""), sj.value("format", ""), sj.value("path", ""), sj.value("output", "")};
    const TeacherMeta& t = metas[src.teacher_id];
    Status st = ReadTranscript(
        src,
        [&](TranscriptItem& it) -> Status {
          // Skipped when recorded, or malformed now: the count of exchanges shows it.
          if (it.kind == TranscriptItem::Kind::kProblem) return Status::Ok();
          const uint64_t seq = sequence++;
          DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(it.prepared, seq));
          ++c.exchanges_checked;
          if (seq >= r.teacher_call_leaves.size() || entry.leaf_hash() != r.teacher_call_leaves[seq]) {
            if (reported++ < 20) {
              c.problems.push_back(it.exchange.file + ":" + std::to_string(it.exchange.line) +
                                   ": the exchange no longer hashes to recorded teacher call " + std::to_string(seq) +
                                   " (edited, inserted or removed since the run)");
            }
          }
          return Status::Ok();
        },
        PreparingCalls(t, r.run_id));
    if (!st.ok()) c.problems.push_back(st.message());
  }
  if (sequence != r.teacher_call_leaves.size()) {
    c.problems.push_back("the transcripts now hold " + std::to_string(sequence) + " exchanges; the run recorded " +
                         std::to_string(r.teacher_call_leaves.size()));
  }
  c.ok = c.problems.empty();
  return c;
}

}  // namespace dg
