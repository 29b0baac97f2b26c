// `transcripts collect`: call a live OpenAI-compatible endpoint for every
// prompt; each answer is written to the transcript as it arrives and
// recorded in the ledger in signed batches behind it; `--resume` continues
// an interrupted collect on the same out dir.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <future>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "core/hash.h"
#include "core/interrupt.h"
#include "core/json_schema.h"
#include "record/recorded_run.h"
#include "record/run_record.h"
#include "transcripts/call_entry.h"
#include "transcripts/chat_client.h"
#include "transcripts/transcript_run.h"

namespace dg {

using json = nlohmann::json;
using namespace transcripts_internal;

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
  DG_ASSIGN_OR_RETURN(auto kb, KnowledgeBase::ForThisProcess());
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
  std::string input_text;
  for (size_t i = 0; i < requests.size(); ++i) {
    input_text += json{{"custom_id", "request-" + std::to_string(i)}, {"method", "POST"}, {"url", "/v1/chat/completions"},
                       {"body", requests[i]}}.dump() + "\n";
  }
  // --resume: what an earlier collect on this out dir got (its answer lines),
  // so that those prompts are not called again.
  std::vector<bool> answered(requests.size(), false);
  uint64_t answered_before = 0;
  std::vector<std::string> repairs;
  if (o.resume) {
    if (!FileExists(in_path)) return Status::InvalidInput(in_path + ": not there, so there is nothing to resume (run without --resume)");
    DG_ASSIGN_OR_RETURN(std::string before, ReadFile(in_path));
    if (before != input_text) {
      return Status::InvalidInput(o.prompts_path + ": not the prompts of " + in_path +
                                  " (to resume, give the same prompts in the same order)");
    }
    if (FileExists(out_path)) {
      // A last line cut short by a kill: that answer was not kept.
      DG_ASSIGN_OR_RETURN(std::string out_text, ReadCuttingPartialLastLine(out_path, &repairs));
      size_t pos = 0, line = 0;
      while (pos < out_text.size()) {
        const size_t nl = out_text.find('\n', pos);
        const std::string where = out_path + ":" + std::to_string(++line);
        auto doc = ParseJsonStrict(out_text.substr(pos, nl - pos), where);
        pos = nl + 1;
        const std::string id = doc.ok() && doc->is_object() && (*doc)["custom_id"].is_string() ? (*doc)["custom_id"].get<std::string>() : "";
        size_t i = 0;
        const bool numbered = id.rfind("request-", 0) == 0 && id.size() > 8 && id.find_first_not_of("0123456789", 8) == std::string::npos &&
                              (i = std::stoul(id.substr(8))) < requests.size();
        if (!numbered || answered[i]) {
          return Status::InvalidInput(where + ": /custom_id: " + (numbered ? "\"" + id + "\" is answered twice" : "not a line collect writes") +
                                      "; the transcript cannot be resumed");
        }
        answered[i] = true;
        ++answered_before;
      }
    }
    if (answered_before == requests.size()) return Status::InvalidInput(out_path + ": every prompt is answered already: nothing to resume");
    // The answers kept must still be what the last run on this transcript
    // recorded of them (its calls re-hashed, as `transcripts verify` does);
    // answers it got but had not recorded yet (a kill) are taken as found.
    DG_ASSIGN_OR_RETURN(std::vector<std::string> ids, ListRunIds(ledger));
    std::string earlier;
    for (auto it = ids.rbegin(); it != ids.rend() && earlier.empty(); ++it) {
      auto rr = LoadRunRecord(ledger, *it);
      if (!rr.ok() || !rr->run_start) continue;
      for (const json& t : rr->run_start->body.value("transcripts", json::array())) {
        if (t.value("output", "") == out_path) earlier = *it;
      }
    }
    if (!earlier.empty()) {
      DG_ASSIGN_OR_RETURN(TranscriptCheck check, VerifyTranscripts(ledger, earlier));
      if (!check.ok) {
        std::string why = dir + " no longer holds what run " + earlier + " recorded, so it cannot be resumed:";
        for (size_t k = 0; k < check.problems.size() && k < 5; ++k) why += "\n  " + check.problems[k];
        return Status::VerifyFailed(why);
      }
    }
  } else {
    for (const auto& p : {in_path, out_path}) {
      if (FileExists(p)) return Status::InvalidInput(p + ": exists; choose another --out-dir, or --resume to continue the collect that wrote it");
    }
  }
  DG_RETURN_IF_ERROR(MakeDirectories(dir));

  TranscriptRunSummary s;
  DG_ASSIGN_OR_RETURN(std::optional<Permit> permit, DecideTranscriptRun(job, policy, *kb, ledger, key, o.today, &s));
  if (!permit) return s;
  if (!o.resume) DG_RETURN_IF_ERROR(WriteFileAtomic(in_path, input_text, 0644, true));
  json live = {{"teacher", teacher_id}, {"base_url", teacher->value("base_url", "")},
               {"api_key_env", teacher->value("api_key_env", json())}, {"timeout_s", o.timeout_s},
               {"max_retries", o.max_retries}, {"min_interval_s", o.min_interval_s}};
  json fields = {{"live", live},
                 {"api_teachers", json::array({meta.ToJson()})},
                 {"transcripts", json::array({{{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", in_path}, {"output", out_path}}})},
                 {"files", json::array({{{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", in_path},
                                         {"sha256", HexEncode(Sha256(input_text))}, {"bytes", input_text.size()}}})},
                 {"skip_bad_lines", false}};
  if (o.resume) fields["resumed"] = {{"answered_before", answered_before}, {"repairs", repairs}};
  DG_ASSIGN_OR_RETURN(std::unique_ptr<RecordedRun> run,
                      RecordedRun::Begin(*permit, job, ledger, key, {"transcripts", std::move(fields), o.flush_every}));
  CallRecorder& rec = run->calls();

  // The answers an earlier collect got are this run's first calls, in the
  // order of the output file (a resumed run records its whole transcript).
  uint64_t out_lines = 0;
  std::string stop_reason;
  if (answered_before > 0) {
    const TranscriptSource src{teacher_id, "openai-batch", in_path, out_path};
    Status carried = ReadTranscript(
        src,
        [&](TranscriptItem& it) -> Status {
          if (it.kind == TranscriptItem::Kind::kProblem) {
            const TranscriptProblem& p = it.problem;
            // A prompt not asked yet is not a problem here.
            if (p.file == in_path && p.line >= 1 && p.line <= requests.size() && !answered[p.line - 1]) return Status::Ok();
            return Status::VerifyFailed(p.ToString() + " (the transcript cannot be resumed)");
          }
          DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(it.prepared, out_lines++));
          const Exchange& e = it.exchange;
          ++s.exchanges;
          ++s.carried_over;
          if (e.failed) ++s.failed_calls;
          if (!e.failed && !ModelAllowedFor(meta.model, e.model)) {
            ++s.disallowed_calls;
            s.findings.push_back(e.file + ":" + std::to_string(e.line) + ": /response/body/model: \"" + e.model +
                                 "\" is not a model the job names for teacher " + teacher_id + " (\"" + meta.model + "\")");
            if (policy.mode == PolicyMode::kEnforce) stop_reason = "refused";
          }
          return rec.RecordPrepared(std::move(entry), true);
        },
        PreparingCalls(meta, s.run_id));
    if (!carried.ok()) return run->Fail(carried);
    if (Status st = rec.Flush(); !st.ok()) return run->Fail(st);
  }

  // Calls. Each answer's output line is written (and flushed to the kernel)
  // as soon as it arrives, so a kill keeps every answer got; a helper thread
  // fdatasyncs the file and then records the previous batch of flush_every
  // (hashes each exchange, builds and appends its entries with a signed
  // checkpoint): one batch in flight, so entries keep the file's order, and
  // the ledger never names a line that is not on disk.
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (out_fd < 0) return run->Fail(Status::IoError(out_path + ": " + std::strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{out_fd};
  auto record_batch = [&rec, &meta, &out_path, out_fd, run_id = s.run_id](std::vector<Exchange> batch) -> Status {
    if (batch.empty()) return Status::Ok();
    if (::fdatasync(out_fd) != 0) return Status::IoError(out_path + ": fdatasync: " + std::strerror(errno));
    for (Exchange& e : batch) {
      DG_ASSIGN_OR_RETURN(CanonicalObjectWithHole call, PrepareCall(e, meta, run_id));
      DG_ASSIGN_OR_RETURN(LedgerEntry entry, CallEntry(call, e.line - 1));
      DG_RETURN_IF_ERROR(rec.RecordPrepared(std::move(entry), true));
    }
    return rec.Flush();
  };
  std::future<Status> in_flight;  // declared after rec: waited for first
  auto land = [&]() -> Status { return in_flight.valid() ? in_flight.get() : Status::Ok(); };
  // An error closes the run as failed, once the helper thread has let go of
  // the recorder.
  auto fail = [&](const Status& why) {
    if (in_flight.valid()) in_flight.wait();
    return run->Fail(why);
  };
  auto write_line = [&](const json& line) -> Status { return WriteAllTo(out_fd, line.dump() + "\n", out_path); };
  std::vector<Exchange> batch;
  auto response_schema = JsonSchema::Builtin("chat-completion-response.schema.json");
  if (!response_schema.ok()) return fail(response_schema.status());
  ChatClient client({teacher->value("base_url", ""), api_key, o.timeout_s, o.max_retries, o.backoff_s, o.min_interval_s});
  std::fill(api_key.begin(), api_key.end(), '\0');
  int consecutive_failures = 0;
  uint64_t sent = 0;
  const uint64_t to_send = requests.size() - answered_before;
  ProgressBar progress(!o.quiet, "calls");  // rate, elapsed and ETA on a terminal
  progress.Start("collect " + teacher_id, to_send);
  for (size_t i = 0; i < requests.size() && stop_reason.empty(); ++i) {
    if (answered[i]) continue;
    if (!CheckNotStopped("collecting").ok()) {  // SIGINT/SIGTERM: stop calling, keep every call made
      stop_reason = "interrupted";
      break;
    }
    const auto t_call = std::chrono::steady_clock::now();
    ChatResult res = client.Complete(requests[i]);
    ++sent;
    progress.Update(sent);
    if (res.error.empty()) {  // checking the answer is part of receiving it, not of recording it
      Status valid = (*response_schema)->Validate(res.body, "response");
      if (!valid.ok()) res.error = "HTTP 200 with a malformed response: " + valid.message();
    }
    const auto t_recorded = std::chrono::steady_clock::now();
    s.call_seconds += std::chrono::duration<double>(t_recorded - t_call).count();
    Exchange e;
    e.file = out_path;
    e.line = ++out_lines;
    e.custom_id = "request-" + std::to_string(i);
    e.request = std::move(requests[i]);  // sent: no longer needed here
    json line = {{"id", "batch_req_" + std::to_string(i)}, {"custom_id", e.custom_id}};
    if (res.error.empty()) {
      e.model = res.body["model"].get<std::string>();
      line["response"] = {{"status_code", 200}, {"request_id", res.request_id}, {"body", res.body}};
      line["error"] = nullptr;
      e.response = std::move(res.body);
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
    if (Status st = write_line(line); !st.ok()) return fail(st);
    ++s.exchanges;
    const bool allowed = e.failed || ModelAllowedFor(meta.model, e.model);
    const std::string model = e.model;
    batch.push_back(std::move(e));
    if (batch.size() >= o.flush_every) {
      if (Status st = land(); !st.ok()) return fail(st);
      in_flight = std::async(std::launch::async, record_batch, std::move(batch));
      batch.clear();
    }
    s.recording_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_recorded).count();
    if (!allowed) {
      ++s.disallowed_calls;
      s.findings.push_back(out_path + ":" + std::to_string(out_lines) + ": /response/body/model: \"" + model +
                           "\" is not a model the job names for teacher " + teacher_id + " (\"" + meta.model + "\")");
      if (policy.mode == PolicyMode::kEnforce) {
        stop_reason = "refused";
        break;
      }
    }
    if (consecutive_failures >= o.max_consecutive_failures && sent < to_send) {
      stop_reason = "failed";
      break;
    }
  }
  progress.Finish();
  const auto t_final = std::chrono::steady_clock::now();
  if (Status st = land(); !st.ok()) return fail(st);
  if (Status st = record_batch(std::move(batch)); !st.ok()) return fail(st);
  s.recording_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_final).count();
  auto out_sha = Sha256File(out_path);
  if (!out_sha.ok()) return fail(out_sha.status());
  auto out_bytes = FileSize(out_path);
  if (!out_bytes.ok()) return fail(out_bytes.status());
  const json out_file = {{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", out_path},
                         {"sha256", HexEncode(*out_sha)}, {"bytes", *out_bytes}};
  const uint64_t not_sent = to_send - sent;
  json end = {{"teacher_calls", rec.recorded()},
              {"teacher_calls_root", Base64Encode(rec.calls_root())},
              {"failed_calls", s.failed_calls},
              {"skipped_lines", 0},
              {"disallowed_calls", s.disallowed_calls},
              {"findings", s.findings},
              {"files", json::array({out_file})}};
  Status interrupted = CheckNotStopped("collecting");
  if (stop_reason == "refused") {
    end["reason"] = "a call was answered by a model the decision does not allow";
    s.status = RunStatus::kRefused;
    s.exit_code = 1;
  } else if (stop_reason == "failed") {
    end["error"] = "the endpoint failed " + std::to_string(consecutive_failures) + " calls in a row; " + std::to_string(not_sent) +
                   " prompts were not sent";
    s.status = RunStatus::kFailed;
    s.exit_code = 3;
  } else if (stop_reason == "interrupted") {
    end["error"] = interrupted.message() + "; " + std::to_string(not_sent) + " prompts were not sent";
    end["signal"] = SignalName(interrupted.signal());
    s.status = RunStatus::kInterrupted;
  } else {
    s.status = RunStatus::kCompleted;
  }
  if (Status st = run->End(*s.status, end); !st.ok()) return run->Fail(st);
  if (s.status == RunStatus::kInterrupted) {
    return Status::Interrupted(interrupted.signal(), interrupted.message() + " after " + std::to_string(s.exchanges) + " calls; run " +
                                                         s.run_id + " is closed as interrupted; " + std::to_string(not_sent) +
                                                         " prompts were not sent (`transcripts collect --resume` sends them)");
  }
  return s;
}

}  // namespace dg
