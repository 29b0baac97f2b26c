// `distillgate proxy`: gate and record the calls of any OpenAI-compatible
// client (docs/proxy.md).
#include "transcripts/proxy.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/interrupt.h"
#include "core/json_schema.h"
#include "record/recorded_run.h"
#include "record/run_record.h"
#include "transcripts/call_entry.h"
#include "transcripts/stream.h"

namespace dg {

using json = nlohmann::json;
using namespace transcripts_internal;

json ProxySummary::ToJson() const {
  json j = run.ToJson();
  j["resumed"] = resumed;
  j["recovered_calls"] = recovered_calls;
  j["refused_requests"] = refused_requests;
  return j;
}

namespace {

constexpr char kStateFile[] = "proxy-run.json";
constexpr char kStateFormat[] = "distillgate-proxy-run-v1";
constexpr char kChatPath[] = "/v1/chat/completions";
constexpr char kCompletionsPath[] = "/v1/completions";

// What differs between the two endpoints served.
struct Endpoint {
  std::string path;  // kChatPath or kCompletionsPath
  std::shared_ptr<const JsonSchema> request_schema, response_schema;
  StreamAssembler::Kind kind = StreamAssembler::Kind::kChat;
};

struct Upstream {
  std::string scheme_host_port;  // for httplib::Client
  std::string prefix;            // path before /v1 ("" or "/openai")
};

StatusOr<Upstream> ParseUpstream(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return Status::InvalidInput("--upstream \"" + url + "\": expected http://host[:port][/path] or https://…");
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  if (url.find_first_of("?#") != std::string::npos || url.substr(0, path_start).find('@') != std::string::npos) {
    return Status::InvalidInput("--upstream \"" + url + "\": no user:password@, query or fragment (the URL is recorded; keys go in --api-key-env)");
  }
  Upstream u;
  u.scheme_host_port = url.substr(0, path_start);
  if (u.scheme_host_port.size() == scheme_end + 3) return Status::InvalidInput("--upstream \"" + url + "\": no host");
  std::string path = path_start == std::string::npos ? "" : url.substr(path_start);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0) path.resize(path.size() - 3);
  u.prefix = path;
  return u;
}

StatusOr<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return Status::InvalidInput("--listen \"" + listen + "\": expected host:port");
  const std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return Status::InvalidInput("--listen \"" + listen + "\": the port must be a number 0-65535");
  }
  return std::make_pair(host, std::stoi(port));
}

// `text` with every byte sequence that is not UTF-8 replaced by U+FFFD
// (error messages may quote the bytes an upstream sent).
std::string ValidUtf8(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

// What an OpenAI-style error body says ("" when it is not one).
std::string ErrorMessageOf(const json& body) {
  if (!body.is_object() || !body.contains("error") || body["error"].is_null()) return "";
  const json& e = body["error"];
  if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  return e.dump(-1, ' ', false, json::error_handler_t::replace);
}

// OK when `value` can be recorded: it has an RFC 8785 form (no integer
// beyond ±(2^53−1), nothing nested too deep…).
Status Recordable(const json& value, const char* what) {
  thread_local std::string buffer;
  buffer.clear();
  Status st = AppendCanonical(value, &buffer);
  return st.ok() ? st : Status::InvalidInput(std::string(what) + " cannot be recorded: " + st.message());
}

// An OpenAI-style error object, as the SDKs parse it.
std::string ErrorBody(const std::string& message, const std::string& type, const std::string& code) {
  return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}}.dump(-1, ' ', false,
                                                                                                    json::error_handler_t::replace);
}

// The lines of a transcript file, a partial last line cut off it first.
StatusOr<std::vector<std::string>> LinesRepairingTail(const std::string& path, std::vector<std::string>* notes) {
  DG_ASSIGN_OR_RETURN(std::string text, ReadCuttingPartialLastLine(path, notes));
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

class Proxy {
 public:
  Proxy(const Job& job, const Policy& policy, Ledger& ledger, const PrivateKey& key, const ProxyOptions& o)
      : job_(job), policy_(policy), ledger_(ledger), key_(key), o_(o) {}
  ~Proxy() {
    if (in_fd_ >= 0) ::close(in_fd_);
    if (out_fd_ >= 0) ::close(out_fd_);
  }

  StatusOr<ProxySummary> Run();

 private:
  // Setting up.
  Status ChooseTeacher();
  Status OpenFiles(bool create);
  Status WriteState();
  StatusOr<bool> Resume();  // false: nothing to resume here
  Status Recover(const RunRecord& r);
  // Serving.
  void HandleCall(const httplib::Request& req, httplib::Response& res, const Endpoint& ep);
  void HandleModels(const httplib::Request& req, httplib::Response& res);
  void Refuse(httplib::Response& res, int status, const std::string& message, const std::string& code);
  httplib::Headers ForwardHeaders(const httplib::Request& req) const;
  // Writes the exchange's transcript lines and queues its ledger entry. An
  // error means it could not be written: the answer must not be sent.
  // A failed exchange's error is made valid UTF-8 and has the keys in use
  // redacted; `error_code` names it in the output line.
  Status Commit(Exchange e, const std::string& error_code, const json& response_line);
  std::string Redacted(std::string text, const httplib::Headers& forwarded) const;
  // Records an exchange; the decision's terms for its model.
  bool AllowedAnswer(const std::string& model) const { return ModelAllowedFor(meta_.model, model); }
  void NoteDisallowed(const std::string& model, uint64_t line);
  void RecorderLoop();
  Status RecordBatch(std::vector<Exchange> batch);

  const Job& job_;
  const Policy& policy_;
  Ledger& ledger_;
  const PrivateKey& key_;
  const ProxyOptions& o_;

  TeacherMeta meta_;
  std::string api_key_, api_key_env_;
  Upstream upstream_;
  std::string dir_, in_path_, out_path_, state_path_;
  int in_fd_ = -1, out_fd_ = -1;
  ProxySummary summary_;
  std::unique_ptr<RecordedRun> run_;
  Endpoint chat_, completions_;

  // Commit order is transcript order is ledger order.
  std::mutex commit_mu_;
  uint64_t next_ = 0;  // exchanges in the transcript
  std::deque<Exchange> queue_;
  std::condition_variable queue_cv_;
  bool recorder_stop_ = false;
  Status recorder_error_ = Status::Ok();
  uint64_t findings_dropped_ = 0;

  std::atomic<bool> closing_{false}, refused_{false}, failed_{false};
  bool enforce_ = false;  // the decision's mode is enforce (set before serving)
  std::atomic<uint64_t> refused_requests_{0};
  std::string refusal_;  // under commit_mu_
};

Status Proxy::ChooseTeacher() {
  const json* teacher = nullptr;
  for (const json& t : job_.doc.at("teachers")) {
    if (t.value("kind", "") != "api") continue;
    if (!o_.teacher_id.empty()) {
      if (t.value("id", "") == o_.teacher_id) teacher = &t;
      continue;
    }
    if (teacher != nullptr) {
      return Status::InvalidInput("job " + job_.name + ": several api teachers; name the one to serve with --teacher");
    }
    teacher = &t;
  }
  if (teacher == nullptr) {
    return Status::InvalidInput("job " + job_.name + ": no api teacher" + (o_.teacher_id.empty() ? "" : " \"" + o_.teacher_id + "\"") +
                                " to serve (docs/proxy.md)");
  }
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::ForThisProcess());
  const auto metas = TeacherMetas(job_, *kb);
  meta_ = metas.at(teacher->value("id", ""));
  if (meta_.model.empty()) return Status::InvalidInput("teacher " + meta_.id + ": name the `model` the proxy may forward");
  const std::string upstream = o_.upstream.empty() ? teacher->value("base_url", "") : o_.upstream;
  if (upstream.empty()) return Status::InvalidInput("teacher " + meta_.id + " has no base_url: give --upstream URL");
  DG_ASSIGN_OR_RETURN(upstream_, ParseUpstream(upstream));
  api_key_env_ = o_.api_key_env.empty() ? teacher->value("api_key_env", "") : o_.api_key_env;
  if (!api_key_env_.empty()) {
    const char* v = std::getenv(api_key_env_.c_str());
    if (v == nullptr || *v == '\0') {
      return Status::InvalidInput("the environment variable " + api_key_env_ + " (the upstream API key) is not set");
    }
    api_key_ = v;
  }
  return Status::Ok();
}

Status Proxy::OpenFiles(bool create) {
  const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  in_fd_ = ::open(in_path_.c_str(), flags, 0644);
  if (in_fd_ < 0) return Status::IoError(in_path_ + ": " + std::strerror(errno));
  out_fd_ = ::open(out_path_.c_str(), flags, 0644);
  if (out_fd_ < 0) return Status::IoError(out_path_ + ": " + std::strerror(errno));
  return Status::Ok();
}

Status Proxy::WriteState() {
  DG_ASSIGN_OR_RETURN(StoredLeaf leaf, ledger_.GetLeaf(summary_.run.decision_index));
  const json state = {{"format", kStateFormat},
                      {"run", summary_.run.run_id},
                      {"ledger_origin", ledger_.origin()},
                      {"decision_index", summary_.run.decision_index},
                      {"decision_leaf_hash", HexEncode(leaf.leaf_hash)},
                      {"job", job_.name},
                      {"job_sha256", job_.sha256},
                      {"teacher", meta_.id}};
  return WriteFileAtomic(state_path_, state.dump(2) + "\n", 0644, true);
}

StatusOr<bool> Proxy::Resume() {
  if (!FileExists(state_path_)) {
    for (const auto& p : {in_path_, out_path_}) {
      if (FileExists(p)) return Status::InvalidInput(p + ": exists, but " + state_path_ + " does not: choose another --out-dir");
    }
    return false;
  }
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(state_path_));
  DG_ASSIGN_OR_RETURN(json state, ParseJsonStrict(text, state_path_));
  if (!state.is_object() || state.value("format", "") != kStateFormat || !state["decision_index"].is_number_unsigned() ||
      !state["decision_leaf_hash"].is_string() || !state["run"].is_string()) {
    return Status::InvalidInput(state_path_ + ": not a " + std::string(kStateFormat) + " file");
  }
  if (state.value("ledger_origin", "") != ledger_.origin()) {
    return Status::InvalidInput(state_path_ + ": the run is in the ledger \"" + state.value("ledger_origin", "") + "\", not \"" +
                                ledger_.origin() + "\"");
  }
  if (state.value("teacher", "") != meta_.id) {
    return Status::InvalidInput(state_path_ + ": the run serves teacher " + state.value("teacher", "") + ", not " + meta_.id);
  }
  const std::optional<std::string> leaf_bytes = HexDecode(state["decision_leaf_hash"].get<std::string>());
  if (!leaf_bytes || leaf_bytes->size() != 32) return Status::InvalidInput(state_path_ + ": /decision_leaf_hash: expected 64 hex digits");
  Hash leaf_hash;
  std::memcpy(leaf_hash.data(), leaf_bytes->data(), 32);
  const uint64_t index = state["decision_index"];
  DG_ASSIGN_OR_RETURN(Permit permit, Gate::Admit(job_, ledger_, index, leaf_hash));
  DG_ASSIGN_OR_RETURN(run_, RecordedRun::Resume(permit, job_, ledger_, key_, "transcripts", o_.flush_every));
  summary_.run.run_id = run_->id();
  summary_.run.decision_index = index;
  summary_.resumed = true;
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger_, run_->id()));
  summary_.run.verdict = r.verdict_name();  // as decided (a needs-review decision may have run on approvals)
  auto refuse = [&](const std::string& why) {
    run_->Discard();  // nothing was appended: the run stays as it was
    return Status::VerifyFailed(state_path_ + ": " + why);
  };
  if (!r.run_start->body.contains("proxy")) return refuse("run " + run_->id() + " is not a proxy's run");
  if (state["run"] != run_->id()) return refuse("names run " + state["run"].get<std::string>() + ", but its decision opened run " + run_->id());
  const json& ts = r.run_start->body.value("transcripts", json::array());
  if (ts.size() != 1 || ts[0].value("path", "") != in_path_ || ts[0].value("output", "") != out_path_) {
    return refuse("run " + run_->id() + " recorded its transcript elsewhere (" + (ts.empty() ? "none" : ts[0].value("output", "?")) +
                  "), not in this out dir");
  }
  summary_.run.verdict = r.verdict_name();
  // The run goes on under its decision, in the mode that was decided.
  enforce_ = r.decision.body.value("mode", "") == "enforce";
  Status st = Recover(r);
  if (!st.ok()) {
    run_->Discard();  // leave the run as it was: open, for a look at what changed
    return st;
  }
  return true;
}

Status Proxy::Recover(const RunRecord& r) {
  // 1. The transcript as a kill may have left it: a last line cut short, and
  //    a request whose answer was never written (it never reached the client).
  std::vector<std::string> notes;
  DG_ASSIGN_OR_RETURN(std::vector<std::string> in_lines, LinesRepairingTail(in_path_, &notes));
  DG_ASSIGN_OR_RETURN(std::vector<std::string> out_lines, LinesRepairingTail(out_path_, &notes));
  if (out_lines.size() > in_lines.size() || in_lines.size() > out_lines.size() + 1) {
    return Status::VerifyFailed(out_path_ + " has " + std::to_string(out_lines.size()) + " answers to " +
                                std::to_string(in_lines.size()) + " requests in " + in_path_ +
                                ": not what a proxy leaves behind (edited?); the run stays open");
  }
  DG_RETURN_IF_ERROR(OpenFiles(false));
  uint64_t unanswered = 0;
  if (in_lines.size() == out_lines.size() + 1) {
    auto req = ParseJsonStrict(in_lines.back(), in_path_);
    if (!req.ok() || !req->is_object() || !(*req)["custom_id"].is_string()) {
      return Status::VerifyFailed(in_path_ + ":" + std::to_string(in_lines.size()) + ": not a request line the proxy wrote");
    }
    const json line = {{"id", "batch_req_" + std::to_string(out_lines.size())},
                       {"custom_id", (*req)["custom_id"]},
                       {"response", nullptr},
                       {"error", {{"code", "proxy_stopped"}, {"message", "the proxy stopped before the answer reached the client"}}}};
    DG_RETURN_IF_ERROR(WriteAllTo(out_fd_, line.dump() + "\n", out_path_));
    unanswered = 1;
  }
  // The repaired files reach the disk before the ledger names their lines.
  if (::fdatasync(in_fd_) != 0 || ::fdatasync(out_fd_) != 0) return Status::IoError(out_path_ + ": fdatasync: " + std::strerror(errno));
  // 2. Every exchange: those the ledger has must still match it; the rest
  //    are recorded now, in order.
  const TranscriptSource src{meta_.id, "openai-batch", in_path_, out_path_};
  uint64_t seq = 0;
  CallRecorder& rec = run_->calls();
  Status read = ReadTranscript(
      src,
      [&](TranscriptItem& it) -> Status {
        if (it.kind == TranscriptItem::Kind::kProblem) {
          return Status::VerifyFailed(it.problem.ToString() + " (the transcript is not as the proxy wrote it; the run stays open)");
        }
        DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(it.prepared, seq));
        const Exchange& e = it.exchange;
        ++summary_.run.exchanges;
        if (e.failed) ++summary_.run.failed_calls;
        if (!e.failed && !AllowedAnswer(e.model)) NoteDisallowed(e.model, e.line);
        if (seq < r.teacher_call_leaves.size()) {
          if (entry.leaf_hash() != r.teacher_call_leaves[seq]) {
            return Status::VerifyFailed(e.file + ":" + std::to_string(e.line) + ": no longer hashes to recorded teacher call " +
                                        std::to_string(seq) + " (edited since it was recorded); the run stays open");
          }
        } else {
          DG_RETURN_IF_ERROR(rec.RecordPrepared(std::move(entry), true));
          ++summary_.recovered_calls;
        }
        ++seq;
        return Status::Ok();
      },
      PreparingCalls(meta_, run_->id()));
  DG_RETURN_IF_ERROR(read);
  if (seq < r.teacher_call_leaves.size()) {
    return Status::VerifyFailed("the transcript holds " + std::to_string(seq) + " exchanges; the ledger recorded " +
                                std::to_string(r.teacher_call_leaves.size()) + " (cut short since?); the run stays open");
  }
  next_ = seq;
  DG_RETURN_IF_ERROR(rec.Flush());
  // 3. What resuming found, as an entry of the run.
  return run_->Append("proxy_resumed", {{"recovered_calls", summary_.recovered_calls},
                                        {"unanswered_requests", unanswered},
                                        {"repairs", notes},
                                        {"upstream", upstream_.scheme_host_port + upstream_.prefix},
                                        {"listen", o_.listen}});
}

void Proxy::NoteDisallowed(const std::string& model, uint64_t line) {
  ++summary_.run.disallowed_calls;
  const std::string finding = out_path_ + ":" + std::to_string(line) + ": /response/body/model: \"" + model +
                              "\" is not a model the job names for teacher " + meta_.id + " (\"" + meta_.model + "\")";
  if (summary_.run.findings.size() < 100) {
    summary_.run.findings.push_back(finding);
  } else {
    ++findings_dropped_;
  }
  if (enforce_ && !refused_.exchange(true)) refusal_ = finding;
}

void Proxy::Refuse(httplib::Response& res, int status, const std::string& message, const std::string& code) {
  ++refused_requests_;
  res.status = status;
  res.set_content(ErrorBody(message, status == 403 ? "permission_denied" : "invalid_request_error", code), "application/json");
}

httplib::Headers Proxy::ForwardHeaders(const httplib::Request& req) const {
  httplib::Headers h;
  if (req.has_header("Authorization")) {
    h.emplace("Authorization", req.get_header_value("Authorization"));
  } else if (!api_key_.empty()) {
    h.emplace("Authorization", "Bearer " + api_key_);
  }
  for (const char* name : {"OpenAI-Organization", "OpenAI-Project", "api-key", "User-Agent"}) {
    if (req.has_header(name)) h.emplace(name, req.get_header_value(name));
  }
  return h;
}

// Response headers worth passing back: the request id and rate-limit advice.
void CopyResponseHeaders(const httplib::Headers& from, httplib::Response& res) {
  for (const auto& [name, value] : from) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "x-request-id" || lower == "retry-after" || lower.rfind("x-ratelimit-", 0) == 0 || lower.rfind("openai-", 0) == 0) {
      res.set_header(name, value);
    }
  }
}

std::string HeaderValue(const httplib::Headers& h, const std::string& name) {
  auto it = h.find(name);
  return it == h.end() ? "" : it->second;
}

std::string Proxy::Redacted(std::string text, const httplib::Headers& forwarded) const {
  std::vector<std::string> keys = {api_key_};
  const std::string auth = HeaderValue(forwarded, "Authorization");
  if (auth.rfind("Bearer ", 0) == 0) keys.push_back(auth.substr(7));
  keys.push_back(HeaderValue(forwarded, "api-key"));
  for (const std::string& k : keys) {
    if (k.size() < 8) continue;  // not a key worth the name; and "" would match everywhere
    for (size_t at = text.find(k); at != std::string::npos; at = text.find(k, at)) text.replace(at, k.size(), "[redacted]");
  }
  return text;
}

Status Proxy::Commit(Exchange e, const std::string& error_code, const json& response_line) {
  json error_line = nullptr;
  if (e.failed) {
    e.error = ValidUtf8(e.error);
    error_line = {{"code", error_code}, {"message", e.error}};
  }
  std::lock_guard<std::mutex> lock(commit_mu_);
  if (failed_) return Status::IoError("the transcript or ledger can no longer be written");
  const uint64_t n = next_;
  const std::string custom_id = "request-" + std::to_string(n);
  // Both lines are made before either is written: a line that cannot be
  // made leaves neither.
  std::string in_line, out_line;
  try {
    in_line = json{{"custom_id", custom_id}, {"method", "POST"}, {"url", e.endpoint.empty() ? kChatPath : e.endpoint}, {"body", e.request}}
                  .dump() + "\n";
    out_line = json{{"id", "batch_req_" + std::to_string(n)}, {"custom_id", custom_id}, {"response", response_line}, {"error", error_line}}
                   .dump() + "\n";
  } catch (const std::exception& x) {
    return Status::Internal(std::string("the exchange cannot be written as JSON: ") + x.what());
  }
  Status st = WriteAllTo(in_fd_, in_line, in_path_);
  if (st.ok()) st = WriteAllTo(out_fd_, out_line, out_path_);
  if (!st.ok()) {
    failed_ = true;
    recorder_error_ = st;
    queue_cv_.notify_all();
    return st;
  }
  ++next_;
  e.file = out_path_;
  e.line = n + 1;
  e.custom_id = custom_id;
  ++summary_.run.exchanges;
  if (e.failed) ++summary_.run.failed_calls;
  if (!e.failed && !AllowedAnswer(e.model)) NoteDisallowed(e.model, e.line);
  queue_.push_back(std::move(e));
  if (queue_.size() >= o_.flush_every) queue_cv_.notify_all();
  return Status::Ok();
}

Status Proxy::RecordBatch(std::vector<Exchange> batch) {
  // The transcript reaches the disk before the ledger names its lines.
  if (::fdatasync(in_fd_) != 0) return Status::IoError(in_path_ + ": fdatasync: " + std::strerror(errno));
  if (::fdatasync(out_fd_) != 0) return Status::IoError(out_path_ + ": fdatasync: " + std::strerror(errno));
  CallRecorder& rec = run_->calls();
  for (Exchange& e : batch) {
    DG_ASSIGN_OR_RETURN(CanonicalObjectWithHole call, PrepareCall(e, meta_, run_->id()));
    DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(call, e.line - 1));
    DG_RETURN_IF_ERROR(rec.RecordPrepared(std::move(entry), true));
  }
  return rec.Flush();
}

void Proxy::RecorderLoop() {
  const auto interval = std::chrono::duration<double>(o_.flush_interval_s);
  std::unique_lock<std::mutex> lock(commit_mu_);
  while (true) {
    queue_cv_.wait_for(lock, interval, [&] { return recorder_stop_ || failed_ || queue_.size() >= o_.flush_every; });
    if (failed_) return;
    if (!queue_.empty()) {
      std::vector<Exchange> batch(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
      lock.unlock();
      Status st = RecordBatch(std::move(batch));
      lock.lock();
      if (!st.ok()) {
        recorder_error_ = st;
        failed_ = true;
        return;
      }
      continue;  // more may have come meanwhile
    }
    if (recorder_stop_) return;
  }
}

void Proxy::HandleModels(const httplib::Request& req, httplib::Response& res) {
  // The upstream's list, less every model the job does not allow.
  httplib::Client client(upstream_.scheme_host_port);
  client.set_read_timeout(static_cast<time_t>(o_.upstream_timeout_s));
  auto r = client.Get(upstream_.prefix + "/v1/models", ForwardHeaders(req));
  if (!r) {
    res.status = 502;
    res.set_content(ErrorBody("the upstream did not answer: " + httplib::to_string(r.error()), "upstream_error", "upstream_unreachable"),
                    "application/json");
    return;
  }
  CopyResponseHeaders(r->headers, res);
  auto parsed = ParseJsonStrict(r->body, "upstream /v1/models");
  if (r->status != 200 || !parsed.ok() || !parsed->is_object() || !(*parsed)["data"].is_array()) {
    res.status = r->status == 200 ? 502 : r->status;
    res.set_content(r->status == 200 ? ErrorBody("the upstream's model list is not an OpenAI list object", "upstream_error", "bad_upstream_response")
                                     : r->body,
                    "application/json");
    return;
  }
  json kept = json::array();
  for (const json& m : (*parsed)["data"]) {
    if (m.is_object() && m["id"].is_string() && AllowedAnswer(m["id"].get<std::string>())) kept.push_back(m);
  }
  res.set_content(json{{"object", "list"}, {"data", kept}}.dump(), "application/json");
}

void Proxy::HandleCall(const httplib::Request& req, httplib::Response& res, const Endpoint& ep) {
  if (closing_ || failed_ || refused_) {
    res.status = 503;
    res.set_content(ErrorBody("distillgate proxy for job " + job_.name + " is closing; no further calls are forwarded", "server_error",
                              "proxy_closing"),
                    "application/json");
    return;
  }
  auto parsed = ParseJsonStrict(req.body, "request body");
  if (!parsed.ok()) return Refuse(res, 400, parsed.status().message(), "invalid_json");
  json request = std::move(parsed).value();
  if (Status v = ep.request_schema->Validate(request, "request body"); !v.ok()) return Refuse(res, 400, v.message(), "invalid_request");
  if (Status r = Recordable(request, "the request"); !r.ok()) return Refuse(res, 400, r.message(), "invalid_request");
  const std::string model = request["model"].get<std::string>();
  if (!AllowedAnswer(model)) {
    return Refuse(res, 403,
                  "distillgate proxy: job " + job_.name + " allows only model \"" + meta_.model + "\" (teacher " + meta_.id +
                      ", or a dated snapshot of it) through this proxy; \"" + model + "\" was not forwarded",
                  "model_not_allowed");
  }
  const bool stream = request.contains("stream") && request["stream"] == true;
  const httplib::Headers headers = ForwardHeaders(req);
  const std::string path = upstream_.prefix + ep.path;
  const time_t timeout = static_cast<time_t>(o_.upstream_timeout_s);
  const time_t timeout_us = static_cast<time_t>((o_.upstream_timeout_s - static_cast<double>(timeout)) * 1e6);

  Exchange e;
  e.request = request;
  e.model = model;
  if (ep.path != kChatPath) e.endpoint = ep.path;
  // A failed call: recorded, then the client gets what the upstream sent
  // (or a 502/504 when nothing came back).
  auto record_failed = [&e, &headers, this](const std::string& error, const std::string& code, int status, const json& body,
                                            const std::string& request_id) -> Status {
    e.failed = true;
    e.error = Redacted(error, headers);
    json response_line = nullptr;
    if (status != 0 && body.is_object() && Recordable(body, "the upstream's body").ok()) {
      // An error body that echoes the key is kept without it.
      response_line = {{"status_code", status}, {"body", json::parse(Redacted(body.dump(), headers))}};
      if (!request_id.empty()) response_line["request_id"] = request_id;
    }
    return Commit(std::move(e), code, response_line);
  };
  auto withheld = [&](httplib::Response& out, const Status& why) {
    out.status = 503;
    out.set_content(ErrorBody("distillgate proxy could not record the call, so its answer is withheld: " + why.message(), "server_error",
                              "not_recorded"),
                    "application/json");
  };

  if (!stream) {
    // One keep-alive connection a serving thread. One left idle longer than
    // servers commonly keep it (uvicorn and httplib: 5 s) is not reused: a
    // request on a connection the server has just closed fails without an
    // answer, and would be recorded as a failed call.
    thread_local std::unique_ptr<httplib::Client> client;
    thread_local std::string client_for;
    thread_local std::chrono::steady_clock::time_point last_used;
    const auto now = std::chrono::steady_clock::now();
    if (!client || client_for != upstream_.scheme_host_port || now - last_used > std::chrono::seconds(2)) {
      client = std::make_unique<httplib::Client>(upstream_.scheme_host_port);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      client_for = upstream_.scheme_host_port;
    }
    client->set_read_timeout(timeout, timeout_us);
    client->set_write_timeout(timeout, timeout_us);
    auto r = client->Post(path, headers, req.body, "application/json");
    last_used = std::chrono::steady_clock::now();
    if (!r) {
      const std::string why = "no response from the upstream: " + httplib::to_string(r.error());
      client.reset();
      if (Status st = record_failed(why, "no_response", 0, json(), ""); !st.ok()) return withheld(res, st);
      res.status = 502;
      res.set_content(ErrorBody(why, "upstream_error", "upstream_unreachable"), "application/json");
      return;
    }
    const std::string request_id = HeaderValue(r->headers, "x-request-id");
    auto body = ParseJsonStrict(r->body, "upstream response");
    CopyResponseHeaders(r->headers, res);
    if (r->status != 200) {
      const json b = body.ok() ? *body : json();
      std::string why = "HTTP " + std::to_string(r->status);
      if (!ErrorMessageOf(b).empty()) why += ": " + ErrorMessageOf(b);
      if (Status st = record_failed(why, "http_" + std::to_string(r->status), r->status, b, request_id); !st.ok()) return withheld(res, st);
      res.status = r->status;
      res.set_content(r->body, HeaderValue(r->headers, "Content-Type").empty() ? "application/json" : HeaderValue(r->headers, "Content-Type"));
      return;
    }
    Status valid = body.ok() ? ep.response_schema->Validate(*body, "response") : body.status();
    if (valid.ok()) valid = Recordable(*body, "the response");
    if (!valid.ok()) {
      // Not an answer that can be recorded (nor checked for its model): withheld.
      const std::string why = "HTTP 200 with a malformed response: " + valid.message();
      if (Status st = record_failed(why, "malformed_response", 0, json(), ""); !st.ok()) return withheld(res, st);
      res.status = 502;
      res.set_content(ErrorBody("distillgate proxy: the upstream's answer is withheld: " + ValidUtf8(why), "upstream_error", "malformed_response"),
                      "application/json");
      return;
    }
    e.response = std::move(body).value();
    e.model = e.response["model"].get<std::string>();
    const std::string answered_by = e.model;
    json response_line = {{"status_code", 200}, {"body", e.response}};
    if (!request_id.empty()) response_line["request_id"] = request_id;
    if (Status st = Commit(std::move(e), "", response_line); !st.ok()) return withheld(res, st);
    if (!AllowedAnswer(answered_by) && enforce_) {
      res.status = 403;
      res.set_content(ErrorBody("distillgate proxy: the upstream answered with model \"" + answered_by + "\", which job " + job_.name +
                                    " does not allow; the answer is withheld and the run is refused",
                                "permission_denied", "model_not_allowed"),
                      "application/json");
      return;
    }
    res.status = 200;
    res.set_content(r->body, "application/json");
    return;
  }

  // Streamed: an upstream thread reads the events into a queue; this
  // thread passes each on as it comes, adds the chunks up, and sends the
  // closing `data: [DONE]` only once the assembled answer is written.
  struct StreamState {
    std::mutex mu;
    std::condition_variable cv;
    int status = 0;  // 0 until the upstream's headers came
    httplib::Headers headers;
    std::string error_body;  // a non-200 answer's body
    std::deque<std::pair<std::string, std::string>> events;  // raw, data
    SseSplitter splitter;
    bool ended = false;
    std::string transport_error;
    std::thread worker;
  };
  auto state = std::make_shared<StreamState>();
  state->worker = std::thread([state, this, path, headers, body = req.body, timeout, timeout_us] {
    httplib::Client client(upstream_.scheme_host_port);
    client.set_read_timeout(timeout, timeout_us);
    client.set_write_timeout(timeout, timeout_us);
    client.set_tcp_nodelay(true);
    httplib::Request up;
    up.method = "POST";
    up.path = path;
    up.headers = headers;
    up.headers.emplace("Accept", "text/event-stream");
    up.headers.emplace("Content-Type", "application/json");
    up.body = body;
    up.response_handler = [state](const httplib::Response& r) {
      std::lock_guard<std::mutex> l(state->mu);
      state->status = r.status;
      state->headers = r.headers;
      state->cv.notify_all();
      return true;
    };
    up.content_receiver = [state](const char* data, size_t n, uint64_t, uint64_t) {
      std::lock_guard<std::mutex> l(state->mu);
      if (state->status != 200) {
        state->error_body.append(data, n);
        return true;
      }
      Status st = state->splitter.Feed(std::string_view(data, n), [&](std::string_view raw, const std::string& d) {
        state->events.emplace_back(std::string(raw), d);
        return Status::Ok();
      });
      state->cv.notify_all();
      return st.ok();
    };
    httplib::Response r;
    httplib::Error err = httplib::Error::Success;
    const bool ok = client.send(up, r, err);
    std::lock_guard<std::mutex> l(state->mu);
    if (!ok && state->status == 0) state->transport_error = httplib::to_string(err);
    if (!ok && state->status != 0 && state->transport_error.empty()) state->transport_error = "cut off: " + httplib::to_string(err);
    state->ended = true;
    state->cv.notify_all();
  });
  auto join = [state] {
    if (state->worker.joinable()) state->worker.join();
  };
  {
    std::unique_lock<std::mutex> l(state->mu);
    state->cv.wait(l, [&] { return state->status != 0 || state->ended; });
    if (state->status != 200) {
      state->cv.wait(l, [&] { return state->ended; });
      l.unlock();
      join();
      if (state->status == 0) {
        const std::string why = "no response from the upstream: " + state->transport_error;
        if (Status st = record_failed(why, "no_response", 0, json(), ""); !st.ok()) return withheld(res, st);
        res.status = 502;
        res.set_content(ErrorBody(why, "upstream_error", "upstream_unreachable"), "application/json");
        return;
      }
      auto b = ParseJsonStrict(state->error_body, "upstream response");
      const json bj = b.ok() ? *b : json();
      std::string why = "HTTP " + std::to_string(state->status);
      if (!ErrorMessageOf(bj).empty()) why += ": " + ErrorMessageOf(bj);
      CopyResponseHeaders(state->headers, res);
      if (Status st = record_failed(why, "http_" + std::to_string(state->status), state->status, bj, HeaderValue(state->headers, "x-request-id"));
          !st.ok()) {
        return withheld(res, st);
      }
      res.status = state->status;
      res.set_content(state->error_body, "application/json");
      return;
    }
  }
  CopyResponseHeaders(state->headers, res);
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  auto assembler = std::make_shared<StreamAssembler>(ep.kind);
  auto response_schema = ep.response_schema;
  auto ex = std::make_shared<Exchange>(std::move(e));
  auto request_id = HeaderValue(state->headers, "x-request-id");
  auto client_gone = std::make_shared<bool>(false);
  auto finished = std::make_shared<bool>(false);
  // Ends the call: records it (the answer, or why it failed) and tells the
  // client. Called once, when the upstream ended or sent [DONE]. Returns
  // what the content provider returns: false aborts the connection, so that
  // a client never takes a stream cut short for a whole answer.
  auto finish = [this, state, assembler, response_schema, ex, request_id, client_gone, finished](
                    httplib::DataSink* sink, bool done, std::string error, bool error_event_sent) -> bool {
    *finished = true;
    std::string model_refused;
    if (error.empty() && !done) error = "the stream ended before data: [DONE]" + (state->transport_error.empty() ? "" : " (" + state->transport_error + ")");
    json response;
    if (error.empty()) {
      auto assembled = assembler->Finish();
      Status v = assembled.ok() ? response_schema->Validate(*assembled, "assembled response") : assembled.status();
      if (v.ok()) v = Recordable(*assembled, "the assembled response");
      if (!v.ok()) {
        error = "the stream does not add up to a response: " + v.message();
      } else {
        response = std::move(assembled).value();
      }
    }
    Status st;
    if (error.empty()) {
      ex->response = response;
      ex->model = response["model"].get<std::string>();
      if (!AllowedAnswer(ex->model) && enforce_) model_refused = ex->model;
      json response_line = {{"status_code", 200}, {"body", response}};
      if (!request_id.empty()) response_line["request_id"] = request_id;
      st = Commit(std::move(*ex), "", response_line);
    } else {
      ex->failed = true;
      ex->error = error;
      st = Commit(std::move(*ex), "stream_failed", nullptr);
    }
    if (sink == nullptr || *client_gone) return false;
    auto event = [sink](const std::string& body) {
      const std::string ev = "data: " + body + "\n\n";
      sink->write(ev.data(), ev.size());
    };
    if (!st.ok()) {
      event(ErrorBody("distillgate proxy could not record the call, so its answer is incomplete: " + st.message(), "server_error", "not_recorded"));
    } else if (!model_refused.empty()) {
      event(ErrorBody("distillgate proxy: the upstream answered with model \"" + model_refused +
                          "\", which the job does not allow; the answer is withheld and the run is refused",
                      "permission_denied", "model_not_allowed"));
    } else if (!error.empty()) {
      if (!error_event_sent) return false;
    } else {
      event("[DONE]");
    }
    sink->done();
    return true;
  };
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, state, assembler, finish, client_gone](size_t, httplib::DataSink& sink) -> bool {
        std::unique_lock<std::mutex> l(state->mu);
        state->cv.wait(l, [&] { return !state->events.empty() || state->ended; });
        while (!state->events.empty()) {
          auto [raw, data] = std::move(state->events.front());
          state->events.pop_front();
          if (data.empty()) {  // comments and keep-alives pass on too
            if (!*client_gone && !sink.write(raw.data(), raw.size())) *client_gone = true;
            continue;
          }
          if (data == "[DONE]") {
            l.unlock();
            return finish(&sink, true, "", false);
          }
          auto chunk = ParseJsonStrict(data, "stream event");
          std::string error;
          if (!chunk.ok()) {
            error = chunk.status().message();
          } else if (chunk->is_object() && chunk->contains("error") && !(*chunk)["error"].is_null()) {
            // The upstream's error event, passed on as an error alone.
            l.unlock();
            if (!*client_gone) {
              const std::string ev =
                  "data: " + json{{"error", (*chunk)["error"]}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
              sink.write(ev.data(), ev.size());
            }
            return finish(&sink, false, "the upstream sent an error event: " + ErrorMessageOf(*chunk), true);
          } else if (Status st = assembler->Add(*chunk); !st.ok()) {
            error = st.message();
          } else if (assembler->chunks() == 1 && !AllowedAnswer(assembler->model()) && enforce_) {
            // Nothing of an answer from a model the job does not allow
            // reaches the client: read it whole, record it, refuse.
            while (true) {
              while (!state->events.empty()) {
                const std::string d2 = std::move(state->events.front().second);
                state->events.pop_front();
                if (d2.empty() || d2 == "[DONE]") continue;
                auto c2 = ParseJsonStrict(d2, "stream event");
                if (c2.ok()) assembler->Add(*c2).IgnoreError();
              }
              if (state->ended) break;
              state->cv.wait(l);
            }
            l.unlock();
            return finish(&sink, true, "", false);
          }
          if (!error.empty()) {
            l.unlock();
            return finish(&sink, false, error, false);
          }
          if (!*client_gone && !sink.write(raw.data(), raw.size())) *client_gone = true;  // keep reading: the call is recorded
        }
        if (state->ended) {
          l.unlock();
          return finish(&sink, false, "", false);
        }
        return true;
      },
      [state, assembler, finish, finished](bool) {
        // The client went away, or the proxy is stopping, before the end:
        // read the rest and record the call as it was answered.
        if (!*finished) {
          bool done = false;
          std::string error;
          {
            std::unique_lock<std::mutex> l(state->mu);
            state->cv.wait(l, [&] { return state->ended; });
            for (auto& [raw, data] : state->events) {
              if (data.empty() || done) continue;
              if (data == "[DONE]") {
                done = true;
                continue;
              }
              auto chunk = ParseJsonStrict(data, "stream event");
              Status st = !chunk.ok() ? chunk.status()
                          : (chunk->is_object() && chunk->contains("error") && !(*chunk)["error"].is_null())
                              ? Status::InvalidInput("the upstream sent an error event: " + ErrorMessageOf(*chunk))
                              : assembler->Add(*chunk);
              if (!st.ok() && error.empty()) error = st.message();
            }
            state->events.clear();
          }
          finish(nullptr, done, error, false);
        }
        if (state->worker.joinable()) state->worker.join();
      });
}

StatusOr<ProxySummary> Proxy::Run() {
  DG_RETURN_IF_ERROR(ChooseTeacher());
  DG_ASSIGN_OR_RETURN(auto listen, ParseListen(o_.listen));
  if (o_.max_concurrency < 1 || o_.max_concurrency > 4096) return Status::InvalidInput("--max-concurrency must be 1-4096");
  if (o_.flush_every < 1 || !(o_.flush_interval_s > 0) || !(o_.upstream_timeout_s > 0)) {
    return Status::InvalidInput("the proxy needs flush_every >= 1, flush_interval_s > 0 and a timeout > 0");
  }
  chat_.path = kChatPath;
  DG_ASSIGN_OR_RETURN(chat_.request_schema, JsonSchema::Builtin("chat-request.schema.json"));
  DG_ASSIGN_OR_RETURN(chat_.response_schema, JsonSchema::Builtin("chat-completion-response.schema.json"));
  completions_.path = kCompletionsPath;
  completions_.kind = StreamAssembler::Kind::kCompletion;
  DG_ASSIGN_OR_RETURN(completions_.request_schema, JsonSchema::Builtin("completion-request.schema.json"));
  DG_ASSIGN_OR_RETURN(completions_.response_schema, JsonSchema::Builtin("completion-response.schema.json"));
  dir_ = std::filesystem::absolute(o_.out_dir).lexically_normal().string();
  in_path_ = dir_ + "/batch_input.jsonl";
  out_path_ = dir_ + "/batch_output.jsonl";
  state_path_ = dir_ + "/" + kStateFile;

  // The address first: a port in use must not leave a decision behind.
  httplib::Server server;
  const int threads = o_.max_concurrency;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(100000);
  server.set_payload_max_length(64u << 20);
  // Debian's cpp-httplib listens with a backlog of 5: 16 clients connecting
  // at once lose SYNs and wait a second for the retry. The listening socket
  // is raised to the system's maximum once bound (listen(2) again does so).
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  const int port = listen.second == 0 ? server.bind_to_any_port(listen.first) : (server.bind_to_port(listen.first, listen.second) ? listen.second : -1);
  if (port < 0) return Status::IoError("cannot listen on " + o_.listen + " (in use, or not an address of this machine)");
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);

  DG_ASSIGN_OR_RETURN(bool resumed, Resume());
  if (!resumed) {
    DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::ForThisProcess());
    DG_ASSIGN_OR_RETURN(std::optional<Permit> permit, DecideTranscriptRun(job_, policy_, *kb, ledger_, key_, o_.today, &summary_.run));
    if (!permit) return summary_;
    enforce_ = policy_.mode == PolicyMode::kEnforce;
    DG_RETURN_IF_ERROR(MakeDirectories(dir_));
    DG_RETURN_IF_ERROR(OpenFiles(true));
    json proxy = {{"listen", o_.listen},
                  {"upstream", upstream_.scheme_host_port + upstream_.prefix},
                  {"teacher", meta_.id},
                  {"api_key_env", api_key_env_.empty() ? json() : json(api_key_env_)},
                  {"max_concurrency", o_.max_concurrency},
                  {"endpoints", {"POST /v1/chat/completions", "POST /v1/completions", "GET /v1/models"}}};
    DG_ASSIGN_OR_RETURN(
        run_, RecordedRun::Begin(*permit, job_, ledger_, key_,
                                 {"transcripts",
                                  {{"proxy", proxy},
                                   {"api_teachers", json::array({meta_.ToJson()})},
                                   {"transcripts", json::array({{{"teacher", meta_.id}, {"format", "openai-batch"}, {"path", in_path_},
                                                                 {"output", out_path_}}})},
                                   {"skip_bad_lines", false}},
                                  o_.flush_every}));
    if (Status st = WriteState(); !st.ok()) return run_->Fail(st);
  }
  server.Post(kChatPath, [this](const httplib::Request& req, httplib::Response& res) { HandleCall(req, res, chat_); });
  server.Post(kCompletionsPath, [this](const httplib::Request& req, httplib::Response& res) { HandleCall(req, res, completions_); });
  server.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) { HandleModels(req, res); });
  auto other = [this](const httplib::Request& req, httplib::Response& res) {
    Refuse(res, 403,
           "distillgate proxy for job " + job_.name + " serves only POST /v1/chat/completions, POST /v1/completions and GET /v1/models; " + req.method + " " +
               req.path + " was not forwarded",
           "endpoint_not_allowed");
  };
  server.Post(".*", other);
  server.Get(".*", other);
  server.Put(".*", other);
  server.Delete(".*", other);

  std::thread recorder([this] { RecorderLoop(); });
  bool listened = true;
  if (!refused_) {  // a recovered call may have broken the terms already: then the run closes at once
    std::atomic<bool> done{false};
    // httplib's stop() does nothing before listen has begun: ask until it ends.
    std::thread watcher([&] {
      while (!done) {
        if (StopSignal() != 0 || failed_ || refused_) {
          closing_ = true;
          server.stop();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    if (o_.on_listening) o_.on_listening(port, run_->id(), summary_.resumed);
    listened = server.listen_after_bind();
    done = true;
    watcher.join();
  }
  closing_ = true;
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    recorder_stop_ = true;  // the recorder drains the queue, then ends
    queue_cv_.notify_all();
  }
  recorder.join();
  summary_.refused_requests = refused_requests_;
  if (failed_) {
    // What the transcript holds beyond the ledger is recorded if the ledger
    // still takes it (a transcript write failed); else a restart recovers it.
    Status why = recorder_error_;
    std::vector<Exchange> rest(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    if (RecordBatch(std::move(rest)).ok()) return run_->Fail(why.WithContext("distillgate proxy stopped"));
    run_->Discard();  // the ledger takes nothing more: the run stays open for a restart to recover
    return why.WithContext("distillgate proxy stopped; run " + run_->id() + " stays open: start the proxy again on this out dir to recover it");
  }
  if (!listened && StopSignal() == 0 && !refused_) return run_->Fail(Status::IoError("the server stopped"));
  // Pin the files, as a collected run does.
  json files = json::array();
  for (const auto& p : {in_path_, out_path_}) {
    auto sha = Sha256File(p);
    if (!sha.ok()) return run_->Fail(sha.status());
    auto bytes = FileSize(p);
    if (!bytes.ok()) return run_->Fail(bytes.status());
    files.push_back({{"teacher", meta_.id}, {"format", "openai-batch"}, {"path", p}, {"sha256", HexEncode(*sha)}, {"bytes", *bytes}});
  }
  CallRecorder& rec = run_->calls();
  json end = {{"teacher_calls", rec.recorded() + rec.pending()},
              {"failed_calls", summary_.run.failed_calls},
              {"skipped_lines", 0},
              {"disallowed_calls", summary_.run.disallowed_calls},
              {"refused_requests", summary_.refused_requests},
              {"findings", summary_.run.findings},
              {"files", files}};
  if (Status st = rec.Flush(); !st.ok()) return run_->Fail(st);
  end["teacher_calls"] = rec.recorded();
  end["teacher_calls_root"] = Base64Encode(rec.calls_root());
  if (findings_dropped_ > 0) end["findings_not_listed"] = findings_dropped_;
  if (refused_) {
    end["reason"] = "a call was answered by a model the decision does not allow: " + refusal_;
    summary_.run.status = RunStatus::kRefused;
    summary_.run.exit_code = 1;
  } else {
    end["stopped_by"] = SignalName(StopSignal());
    summary_.run.status = RunStatus::kCompleted;
  }
  if (Status st = run_->End(*summary_.run.status, end); !st.ok()) return run_->Fail(st);
  return summary_;
}

}  // namespace

StatusOr<ProxySummary> RunProxy(const Job& job, const Policy& policy, Ledger& ledger, const PrivateKey& key, const ProxyOptions& options) {
  Proxy p(job, policy, ledger, key, options);
  return p.Run();
}

}  // namespace dg
