#include "transcripts/call_entry.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/clock.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "record/run_record.h"

namespace dg {

using json = nlohmann::json;

json TranscriptRunSummary::ToJson() const {
  return {{"verdict", verdict},       {"run", run_id},
          {"status", status ? RunStatusName(*status) : "not_run"}, {"decision_index", decision_index},
          {"exchanges", exchanges},   {"failed_calls", failed_calls},
          {"skipped_lines", skipped_lines}, {"disallowed_calls", disallowed_calls},
          {"findings", findings}, {"call_seconds", call_seconds}, {"recording_seconds", recording_seconds},
          {"carried_over", carried_over}};
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

namespace transcripts_internal {
namespace {

// Hex SHA-256 of the RFC 8785 form of `j`.
StatusOr<std::string> CanonicalSha256(const json& j) {
  thread_local std::string buffer;  // one allocation a thread, not one a value
  buffer.clear();
  DG_RETURN_IF_ERROR(AppendCanonical(j, &buffer));
  return HexEncode(Sha256(buffer));
}

}  // namespace

json TeacherMeta::ToJson() const {
  return {{"id", id}, {"provider", provider}, {"model", model}, {"license", license},
          {"terms", {{"profile", terms_profile.empty() ? json() : json(terms_profile)},
                     {"sha256", terms_sha256.empty() ? json() : json(terms_sha256)}}}};
}

TeacherMeta TeacherMeta::FromJson(const json& j) {
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

StatusOr<std::string> ReadCuttingPartialLastLine(const std::string& path, std::vector<std::string>* repairs) {
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  const size_t last_nl = text.rfind('\n');
  const size_t keep = last_nl == std::string::npos ? 0 : last_nl + 1;
  if (keep < text.size()) {
    if (::truncate(path.c_str(), static_cast<off_t>(keep)) != 0) return Status::IoError(path + ": " + std::strerror(errno));
    repairs->push_back(path + ": cut a last line that was written only in part (" + std::to_string(text.size() - keep) + " bytes)");
    text.resize(keep);
  }
  return text;
}

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
  // A failed call answered nothing: nothing of it may train a student.
  b.Bool("allowed", !e.failed && ModelAllowedFor(t.model, e.model));
  // Only a (legacy) completions exchange names its endpoint, so the entries
  // of chat exchanges are as they always were.
  if (!e.endpoint.empty()) b.String("endpoint", e.endpoint);
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

StatusOr<LedgerEntry> CallEntry(const CanonicalObjectWithHole& body, uint64_t sequence) {
  return LedgerEntry::FromCanonicalObject("teacher_call", body, sequence);
}

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

StatusOr<std::optional<Permit>> DecideTranscriptRun(const Job& job, const Policy& policy, const KnowledgeBase& kb,
                                                    Ledger& ledger, const PrivateKey& key, const std::string& today,
                                                    TranscriptRunSummary* s) {
  DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(job, policy, kb, ledger, key, today.empty() ? TodayUtc() : today));
  s->verdict = VerdictName(gate.decision.verdict);
  s->decision_index = gate.decision_index;
  s->run_id = RunIdFor(job.sha256, gate.decision_index);
  s->exit_code = gate.decision.ExitCode();
  return std::move(gate.permit);
}

}  // namespace transcripts_internal
}  // namespace dg
