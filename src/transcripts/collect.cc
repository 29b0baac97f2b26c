// `transcripts collect`: call a live OpenAI-compatible endpoint for every
// prompt, recording each call before its output is kept.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <future>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/interrupt.h"
#include "core/json_schema.h"
#include "record/recorded_run.h"
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
  DG_ASSIGN_OR_RETURN(std::optional<Permit> permit, DecideTranscriptRun(job, policy, *kb, ledger, key, o.today, &s));
  if (!permit) return s;
  DG_RETURN_IF_ERROR(WriteFileAtomic(in_path, input_text, 0644, true));
  json live = {{"teacher", teacher_id}, {"base_url", teacher->value("base_url", "")},
               {"api_key_env", teacher->value("api_key_env", json())}, {"timeout_s", o.timeout_s},
               {"max_retries", o.max_retries}, {"min_interval_s", o.min_interval_s}};
  DG_ASSIGN_OR_RETURN(
      std::unique_ptr<RecordedRun> run,
      RecordedRun::Begin(
          *permit, job, ledger, key,
          {"transcripts",
           {{"live", live},
            {"api_teachers", json::array({meta.ToJson()})},
            {"transcripts", json::array({{{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", in_path}, {"output", out_path}}})},
            {"files", json::array({{{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", in_path},
                                    {"sha256", HexEncode(Sha256(input_text))}, {"bytes", input_text.size()}}})},
            {"skip_bad_lines", false}},
           o.flush_every}));
  CallRecorder& rec = run->calls();

  // Calls: each is recorded before its output line is written. The calls go
  // on while a helper thread records the previous batch of flush_every
  // (hashes each exchange, builds its entry and output line, appends the
  // batch with its signed checkpoint): one batch in flight, so entries keep
  // their order, and a batch's lines are written once it has landed.
  std::ofstream out(out_path, std::ios::binary);
  if (!out) return run->Fail(Status::IoError(out_path + ": cannot write"));
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
  // An error closes the run as failed, once the helper thread has let go of
  // the recorder.
  auto fail = [&](const Status& why) {
    if (in_flight.valid()) in_flight.wait();
    return run->Fail(why);
  };
  std::vector<Made> batch;
  uint64_t batch_first = 0;
  auto response_schema = JsonSchema::Builtin("chat-completion-response.schema.json");
  if (!response_schema.ok()) return fail(response_schema.status());
  ChatClient client({teacher->value("base_url", ""), api_key, o.timeout_s, o.max_retries, o.backoff_s, o.min_interval_s});
  std::fill(api_key.begin(), api_key.end(), '\0');
  int consecutive_failures = 0;
  std::string stop_reason;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!CheckNotStopped("collecting").ok()) {  // SIGINT/SIGTERM: stop calling, keep every call made
      stop_reason = "interrupted";
      break;
    }
    const auto t_call = std::chrono::steady_clock::now();
    ChatResult res = client.Complete(requests[i]);
    if (res.error.empty()) {  // checking the answer is part of receiving it, not of recording it
      Status valid = (*response_schema)->Validate(res.body, "response");
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
      if (Status st = land(); !st.ok()) return fail(st);
      in_flight = std::async(std::launch::async, record_batch, std::move(batch), batch_first);
      batch_first = i + 1;
      batch.clear();
    }
    s.recording_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_recorded).count();
    if (!allowed) {
      ++s.disallowed_calls;
      s.findings.push_back(out_path + ":" + std::to_string(i + 1) + ": /response/body/model: \"" + model +
                           "\" is not a model the job names for teacher " + teacher_id + " (\"" + meta.model + "\")");
      if (policy.mode == PolicyMode::kEnforce) {
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
  if (Status st = land(); !st.ok()) return fail(st);
  auto last_lines = record_batch(std::move(batch), batch_first);
  if (!last_lines.ok()) return fail(last_lines.status());
  if (Status st = write(*last_lines); !st.ok()) return fail(st);
  out.close();
  s.recording_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_final).count();
  auto out_sha = Sha256File(out_path);
  if (!out_sha.ok()) return fail(out_sha.status());
  auto out_bytes = FileSize(out_path);
  if (!out_bytes.ok()) return fail(out_bytes.status());
  const json out_file = {{"teacher", teacher_id}, {"format", "openai-batch"}, {"path", out_path},
                         {"sha256", HexEncode(*out_sha)}, {"bytes", *out_bytes}};
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
    end["error"] = "the endpoint failed " + std::to_string(consecutive_failures) + " calls in a row; " +
                   std::to_string(requests.size() - s.exchanges) + " prompts were not sent";
    s.status = RunStatus::kFailed;
    s.exit_code = 3;
  } else if (stop_reason == "interrupted") {
    end["error"] = interrupted.message() + "; " + std::to_string(requests.size() - s.exchanges) + " prompts were not sent";
    end["signal"] = SignalName(interrupted.signal());
    s.status = RunStatus::kInterrupted;
  } else {
    s.status = RunStatus::kCompleted;
  }
  if (Status st = run->End(*s.status, end); !st.ok()) return run->Fail(st);
  if (s.status == RunStatus::kInterrupted) {
    return Status::Interrupted(interrupted.signal(), interrupted.message() + " after " + std::to_string(s.exchanges) +
                                                         " calls; run " + s.run_id + " is closed as interrupted");
  }
  return s;
}

}  // namespace dg
