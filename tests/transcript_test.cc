// API-teacher transcripts: both formats, every malformed-line case, the
// per-call policy, skipped lines, and verification of edited transcripts.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "ledger/fsck.h"
#include "record/run_record.h"
#include "transcripts/transcript_run.h"
#include "core/json_schema.h"
#include "core/interrupt.h"
#include "report/render.h"
#include "report/run_report.h"
#include "synthetic_run.h"
#include "test_util.h"

namespace dg {
namespace {

using json = nlohmann::json;
using testing::TempDir;

json Request(int i, const std::string& model = "gpt-4o") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", "question " + std::to_string(i)}}}}, {"temperature", 0}};
}

json Response(int i, const std::string& model = "gpt-4o-2024-08-06") {
  return {{"id", "chatcmpl-" + std::to_string(i)},
          {"object", "chat.completion"},
          {"created", 1764400000 + i},
          {"model", model},
          {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "answer " + std::to_string(i)}}}, {"finish_reason", "stop"}}}},
          {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}},
          {"system_fingerprint", "fp_1"}};
}

std::string Lines(const std::vector<json>& v) {
  std::string s;
  for (const auto& j : v) s += j.dump() + "\n";
  return s;
}

class TranscriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *PrivateKey::FromSeed(std::string(32, 'T'));
    ASSERT_TRUE(Ledger::Init(dir_.File("l.db"), key_, "t.example/transcripts").ok());
    ledger_ = std::move(Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadWrite)).value();
  }
  void WriteExchanges(int n, const std::string& name = "ex.jsonl") {
    std::vector<json> v;
    for (int i = 0; i < n; ++i) v.push_back({{"request", Request(i)}, {"response", Response(i)}});
    ASSERT_TRUE(testing::WriteText(dir_.File(name), Lines(v)).ok());
  }
  Job MakeJob(const json& transcript, const std::string& model = "gpt-4o") {
    json doc = {{"name", "api-distill"},
                {"teachers", {{{"id", "oai"}, {"kind", "api"}, {"provider", "OpenAI"}, {"model", model}, {"license", "MIT"}, {"transcript", transcript}}}},
                {"student", {{"name", "s"}, {"model_type", "llm"}}},
                {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
    EXPECT_TRUE(testing::WriteText(dir_.File("job.json"), doc.dump()).ok());
    auto job = LoadJob(dir_.File("job.json"));
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return *job;
  }
  StatusOr<TranscriptRunSummary> Record(const Job& job, bool skip = false, const std::string& mode = "enforce") {
    Policy policy = *LoadPolicy("");
    policy.mode = *ParsePolicyMode(mode);
    TranscriptRunOptions o;
    o.skip_bad_lines = skip;
    o.flush_every = 4;
    o.today = "2026-11-29";
    return RecordTranscripts(job, policy, *ledger_, key_, o);
  }
  std::vector<json> Bodies(const std::string& kind) {
    std::vector<json> out;
    for (uint64_t i = 0; i < *ledger_->Size(); ++i) {
      auto leaf = *ledger_->GetLeaf(i);
      if (leaf.kind == kind) out.push_back(json::parse(leaf.data)["body"]);
    }
    return out;
  }
  TempDir dir_;
  PrivateKey key_ = *PrivateKey::FromSeed(std::string(32, 'x'));
  std::unique_ptr<Ledger> ledger_;
};

// SIGINT or SIGTERM while recording: the run is closed as interrupted and
// committed with what was recorded (not rolled back, not left incomplete).
TEST_F(TranscriptTest, AnInterruptedRecordingIsClosedNotLost) {
  WriteExchanges(10);
  const Job job = MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}});
  RequestStop(SIGINT);
  auto s = Record(job);
  ClearStopRequest();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kInterrupted);
  EXPECT_EQ(s.status().ExitCode(), 130);
  auto ids = ListRunIds(*ledger_);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 1u) << "the decision and the run are committed";
  auto r = LoadRunRecord(*ledger_, ids->front());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status(), RunStatus::kInterrupted);
  EXPECT_EQ(r->run_end->body["signal"], "SIGINT");
  auto check = VerifyTranscripts(*ledger_, ids->front());
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE(check->ok);
  ASSERT_EQ(check->notes.size(), 1u);
  EXPECT_NE(check->notes[0].find("interrupted"), std::string::npos) << check->notes[0];
  // Recorded again, without the signal: a second, completed run.
  auto again = Record(job);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, RunStatus::kCompleted);
}

TEST_F(TranscriptTest, ExchangesAreRecordedCallByCall) {
  WriteExchanges(10);
  auto s = Record(MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->status, RunStatus::kCompleted);
  EXPECT_EQ(s->exchanges, 10u);
  auto calls = Bodies("teacher_call");
  ASSERT_EQ(calls.size(), 10u);
  EXPECT_EQ(calls[3]["model"], "gpt-4o-2024-08-06");  // what the response reports
  EXPECT_EQ(calls[3]["provider"], "OpenAI");
  EXPECT_EQ(calls[3]["request_sha256"], HexEncode(Sha256(*Canonicalize(Request(3)))));
  EXPECT_EQ(calls[3]["response_sha256"], HexEncode(Sha256(*Canonicalize(Response(3)))));
  EXPECT_EQ(calls[3]["usage"]["total_tokens"], 8);
  EXPECT_EQ(calls[3]["time"], "2025-11-29T07:06:43Z");
  EXPECT_EQ(calls[3]["terms"]["profile"], "MIT");
  EXPECT_EQ(calls[3]["terms"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(calls[3]["source"]["line"], 4);
  auto rec = LoadRunRecord(*ledger_, s->run_id);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->teacher_calls, 10u);
  EXPECT_EQ(rec->run_end->body["teacher_calls_root"], Base64Encode(rec->TeacherCallsRoot()));
  auto check = VerifyTranscripts(*ledger_, s->run_id);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok) << ::testing::PrintToString(check->problems);
}

TEST_F(TranscriptTest, BatchInputAndOutputJoinByCustomId) {
  std::vector<json> in, out;
  for (int i = 0; i < 4; ++i) {
    in.push_back({{"custom_id", "r" + std::to_string(i)}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", Request(i, "gpt-4o")}});
  }
  for (int i : {2, 0, 1}) {  // the output comes in any order
    out.push_back({{"id", "batch_req_" + std::to_string(i)}, {"custom_id", "r" + std::to_string(i)},
                   {"response", {{"status_code", 200}, {"request_id", "req"}, {"body", Response(i)}}}, {"error", nullptr}});
  }
  out.push_back({{"id", "batch_req_3"}, {"custom_id", "r3"}, {"response", nullptr}, {"error", {{"code", "rate_limit"}, {"message", "Rate limit exceeded"}}}});
  ASSERT_TRUE(testing::WriteText(dir_.File("in.jsonl"), Lines(in)).ok());
  ASSERT_TRUE(testing::WriteText(dir_.File("out.jsonl"), Lines(out)).ok());
  auto s = Record(MakeJob({{"format", "openai-batch"}, {"path", "in.jsonl"}, {"output", "out.jsonl"}}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->exchanges, 4u);
  EXPECT_EQ(s->failed_calls, 1u);
  auto calls = Bodies("teacher_call");
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0]["source"]["custom_id"], "r2");
  EXPECT_EQ(calls[0]["request_sha256"], HexEncode(Sha256(*Canonicalize(Request(2)))));
  EXPECT_EQ(calls[3]["status"], "failed");
  EXPECT_EQ(calls[3]["error"], "Rate limit exceeded");
  EXPECT_TRUE(calls[3]["response_sha256"].is_null());
  EXPECT_TRUE(VerifyTranscripts(*ledger_, s->run_id)->ok);
}

struct BadLine {
  std::string name, line, pointer;
};

TEST_F(TranscriptTest, EveryMalformedLineIsNamedAndNothingIsWritten) {
  json good = {{"request", Request(0)}, {"response", Response(0)}};
  auto with = [&](const std::function<void(json&)>& f) {
    json j = good;
    f(j);
    return j.dump();
  };
  const BadLine cases[] = {
      {"not json", "{\"request\": ", ""},
      {"duplicate key", "{\"request\":{},\"request\":{}}", ""},
      {"not an object", "[1,2]", "/"},
      {"no response", with([](json& j) { j.erase("response"); }), "/response"},
      {"no request model", with([](json& j) { j["request"].erase("model"); }), "/request/model"},
      {"empty messages", with([](json& j) { j["request"]["messages"] = json::array(); }), "/request/messages"},
      {"message without role", with([](json& j) { j["request"]["messages"][0].erase("role"); }), "/request/messages/0/role"},
      {"no response model", with([](json& j) { j["response"].erase("model"); }), "/response/model"},
      {"created is a string", with([](json& j) { j["response"]["created"] = "yesterday"; }), "/response/created"},
      {"no choices", with([](json& j) { j["response"]["choices"] = json::array(); }), "/response/choices"},
      {"choice without message", with([](json& j) { j["response"]["choices"][0].erase("message"); }), "/response/choices/0/message"},
      {"usage tokens negative", with([](json& j) { j["response"]["usage"]["total_tokens"] = -1; }), "/response/usage/total_tokens"},
  };
  for (const auto& c : cases) {
    const std::string text = good.dump() + "\n" + c.line + "\n" + good.dump() + "\n";
    ASSERT_TRUE(testing::WriteText(dir_.File("bad.jsonl"), text).ok());
    const uint64_t before = *ledger_->Size();
    auto s = Record(MakeJob({{"format", "exchanges"}, {"path", "bad.jsonl"}}));
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.status().code(), Status::Code::kInvalidInput) << c.name;
    EXPECT_NE(s.status().message().find("bad.jsonl:2: " + c.pointer), std::string::npos) << c.name << ": " << s.status().message();
    EXPECT_EQ(*ledger_->Size(), before) << c.name << ": nothing may be written";
  }
}

TEST_F(TranscriptTest, BatchJoinProblems) {
  auto in_line = [](const std::string& id) {
    return json{{"custom_id", id}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", Request(0)}}.dump();
  };
  auto out_line = [](const std::string& id) {
    return json{{"custom_id", id}, {"response", {{"status_code", 200}, {"body", Response(0)}}}}.dump();
  };
  struct Case {
    std::string name, in, out, expect;
  } cases[] = {
      {"unknown custom_id", in_line("a") + "\n", out_line("a") + "\n" + out_line("zz") + "\n", "out.jsonl:2: /custom_id: custom_id \"zz\" is not in the batch input"},
      {"answered twice", in_line("a") + "\n", out_line("a") + "\n" + out_line("a") + "\n", "out.jsonl:2: /custom_id: custom_id \"a\" was answered twice"},
      {"repeated input id", in_line("a") + "\n" + in_line("a") + "\n", out_line("a") + "\n", "in.jsonl:2: /custom_id: custom_id \"a\" repeats line 1"},
      {"unanswered", in_line("a") + "\n" + in_line("b") + "\n", out_line("a") + "\n", "in.jsonl:2: /custom_id: custom_id \"b\" has no line in the output"},
      {"wrong endpoint", json{{"custom_id", "a"}, {"method", "POST"}, {"url", "/v1/embeddings"}, {"body", Request(0)}}.dump() + "\n", out_line("a") + "\n", "in.jsonl:1: /url"},
      {"neither response nor error", in_line("a") + "\n", "{\"custom_id\":\"a\"}\n", "out.jsonl:1: "},
      {"bad response body", in_line("a") + "\n", json{{"custom_id", "a"}, {"response", {{"status_code", 200}, {"body", {{"id", "x"}}}}}}.dump() + "\n", "out.jsonl:1: /response/body/"},
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(testing::WriteText(dir_.File("in.jsonl"), c.in).ok());
    ASSERT_TRUE(testing::WriteText(dir_.File("out.jsonl"), c.out).ok());
    auto s = Record(MakeJob({{"format", "openai-batch"}, {"path", "in.jsonl"}, {"output", "out.jsonl"}}));
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_NE(s.status().message().find(c.expect), std::string::npos) << c.name << ": " << s.status().message();
  }
}

TEST_F(TranscriptTest, SkipBadLinesRecordsThemAsSkipped) {
  json good = {{"request", Request(0)}, {"response", Response(0)}};
  ASSERT_TRUE(testing::WriteText(dir_.File("ex.jsonl"), good.dump() + "\nnot json\n" + good.dump() + "\n").ok());
  auto s = Record(MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}}), /*skip=*/true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->exchanges, 2u);
  EXPECT_EQ(s->skipped_lines, 1u);
  auto skipped = Bodies("transcript_line_skipped");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0]["line"], 2);
  EXPECT_EQ(skipped[0]["line_sha256"], HexEncode(Sha256("not json")));
  EXPECT_EQ(Bodies("teacher_call").size(), 2u);
  EXPECT_TRUE(VerifyTranscripts(*ledger_, s->run_id)->ok);
}

TEST_F(TranscriptTest, ACallToAModelTheJobDoesNotNameRefusesTheRun) {
  std::vector<json> v = {{{"request", Request(0)}, {"response", Response(0)}},
                         {{"request", Request(1, "o1")}, {"response", Response(1, "o1-2024-12-17")}},
                         {{"request", Request(2)}, {"response", Response(2, "gpt-4o-mini-2024-07-18")}}};
  ASSERT_TRUE(testing::WriteText(dir_.File("ex.jsonl"), Lines(v)).ok());
  auto s = Record(MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}}));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->status, RunStatus::kRefused);
  EXPECT_EQ(s->exit_code, 1);
  EXPECT_EQ(s->disallowed_calls, 2u);  // another model, and "gpt-4o-mini" is not a snapshot of "gpt-4o"
  ASSERT_EQ(s->findings.size(), 2u);
  EXPECT_NE(s->findings[0].find("ex.jsonl:2: /response/model: \"o1-2024-12-17\""), std::string::npos) << s->findings[0];
  EXPECT_TRUE(Bodies("teacher_call").empty());  // refused before any call is recorded as usable
  auto end = Bodies("run_end");
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0]["status"], "refused");
  // In warn mode the calls are recorded, the disallowed ones flagged.
  auto w = Record(MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}}), false, "warn");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->status, RunStatus::kCompleted);
  auto calls = Bodies("teacher_call");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_TRUE(calls[0]["allowed"].get<bool>());
  EXPECT_FALSE(calls[1]["allowed"].get<bool>());
  EXPECT_FALSE(calls[2]["allowed"].get<bool>());
}

TEST_F(TranscriptTest, LongTranscriptsStayInOrderAndAllOrNothing) {
  // 3,000 exchanges: many chunks for the worker threads and hundreds of
  // signed checkpoints (4 entries each) inside the run's one transaction.
  const int n = 3000;
  WriteExchanges(n);
  const Job job = MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}});
  auto s = Record(job);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->exchanges, static_cast<uint64_t>(n));
  auto calls = Bodies("teacher_call");
  ASSERT_EQ(calls.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(calls[i]["sequence"], i);
    ASSERT_EQ(calls[i]["source"]["line"], i + 1);
    ASSERT_EQ(calls[i]["response_id"], "chatcmpl-" + std::to_string(i));
    ASSERT_EQ(calls[i]["request_sha256"], HexEncode(Sha256(*Canonicalize(Request(i)))));
  }
  EXPECT_TRUE(VerifyTranscripts(*ledger_, s->run_id)->ok);
  const uint64_t size = *ledger_->Size();
  const auto checkpoints = ledger_->Checkpoints()->size();

  // A bad line near the end, after hundreds of checkpoints were signed in
  // the transaction: none of them, nor the decision, stays.
  std::string text = *ReadFile(dir_.File("ex.jsonl"));
  text += "{\"request\": 1}\n";
  for (int i = n; i < n + 10; ++i) text += json({{"request", Request(i)}, {"response", Response(i)}}).dump() + "\n";
  ASSERT_TRUE(testing::WriteText(dir_.File("ex.jsonl"), text).ok());
  auto bad = Record(job);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ex.jsonl:" + std::to_string(n + 1) + ": /request"), std::string::npos) << bad.status().message();
  EXPECT_EQ(*ledger_->Size(), size);
  EXPECT_EQ(ledger_->Checkpoints()->size(), checkpoints);
  // With --skip-bad-lines the bad line is recorded in its place.
  auto skipped = Record(job, true);
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  const uint64_t start = size;
  auto line = *ledger_->GetLeaf(start + 2 + n);  // decision, run_start, n calls, then the skipped line
  EXPECT_EQ(line.kind, "transcript_line_skipped");
  EXPECT_EQ(json::parse(line.data)["body"]["line"], n + 1);
  EXPECT_EQ(ledger_->GetLeaf(start + 3 + n)->kind, "teacher_call");

  // A disallowed call at the very end refuses the run: the thousands of
  // calls appended before it are rolled back, run_start and run_end stay.
  text += json({{"request", Request(n + 10)}, {"response", Response(n + 10, "o1")}}).dump() + "\n";
  ASSERT_TRUE(testing::WriteText(dir_.File("ex.jsonl"), text).ok());
  const uint64_t before_refusal = *ledger_->Size();
  auto refused = Record(job, true);
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->status, RunStatus::kRefused);
  EXPECT_EQ(*ledger_->Size(), before_refusal + 3);  // decision, run_start, run_end
  EXPECT_EQ(ledger_->GetLeaf(before_refusal + 2)->kind, "run_end");
  auto fsck = Fsck(*ledger_, *NoteVerifier::Make("t.example/transcripts", key_.public_key()), {});
  ASSERT_TRUE(fsck.ok());
  EXPECT_EQ(fsck->problem_count, 0u);
}

TEST_F(TranscriptTest, LongBatchJoinsEveryAnswerToItsRequest) {
  // Thousands of lines, the answers in reverse order: every request is read
  // back by offset on a worker thread and joined to its answer.
  const int n = 2500;
  std::vector<json> in, out;
  for (int i = 0; i < n; ++i) {
    in.push_back({{"custom_id", "r" + std::to_string(i)}, {"method", "POST"}, {"url", "/v1/chat/completions"}, {"body", Request(i)}});
  }
  for (int i = n - 1; i >= 0; --i) {
    out.push_back({{"custom_id", "r" + std::to_string(i)}, {"response", {{"status_code", 200}, {"body", Response(i)}}}});
  }
  out.push_back(out[7]);  // one answered twice
  ASSERT_TRUE(testing::WriteText(dir_.File("in.jsonl"), Lines(in)).ok());
  ASSERT_TRUE(testing::WriteText(dir_.File("out.jsonl"), Lines(out)).ok());
  auto s = Record(MakeJob({{"format", "openai-batch"}, {"path", "in.jsonl"}, {"output", "out.jsonl"}}), true);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->exchanges, static_cast<uint64_t>(n));
  EXPECT_EQ(s->skipped_lines, 1u);
  auto calls = Bodies("teacher_call");
  ASSERT_EQ(calls.size(), static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    const int i = n - 1 - k;
    ASSERT_EQ(calls[k]["source"]["custom_id"], "r" + std::to_string(i));
    ASSERT_EQ(calls[k]["source"]["line"], k + 1);
    ASSERT_EQ(calls[k]["request_sha256"], HexEncode(Sha256(*Canonicalize(Request(i)))));
    ASSERT_EQ(calls[k]["response_sha256"], HexEncode(Sha256(*Canonicalize(Response(i)))));
  }
  auto skipped = Bodies("transcript_line_skipped");
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0]["line"], n + 1);
  EXPECT_NE(skipped[0]["error"].get<std::string>().find("answered twice"), std::string::npos);
  EXPECT_TRUE(VerifyTranscripts(*ledger_, s->run_id)->ok);
}

TEST_F(TranscriptTest, AnEditedTranscriptIsCaught) {
  WriteExchanges(6);
  auto s = Record(MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}}));
  ASSERT_TRUE(s.ok());
  std::string text = *ReadFile(dir_.File("ex.jsonl"));
  const size_t at = text.find("answer 4");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 8, "answer 5");
  ASSERT_TRUE(testing::WriteText(dir_.File("ex.jsonl"), text).ok());
  auto check = VerifyTranscripts(*ledger_, s->run_id);
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->ok);
  bool named = false;
  for (const auto& p : check->problems) named |= p.find("ex.jsonl:5: the exchange no longer hashes to recorded teacher call 4") != std::string::npos;
  EXPECT_TRUE(named) << ::testing::PrintToString(check->problems);
  // A removed line is caught too.
  WriteExchanges(5);
  EXPECT_FALSE(VerifyTranscripts(*ledger_, s->run_id)->ok);
}

// A transcript that grows while it is read: refused, nothing written. (Its
// pinned SHA-256 is of the bytes read, in run_end, so the check that they are
// the file's bytes is the file's stat before and after.)
TEST_F(TranscriptTest, ATranscriptChangedWhileReadIsRefused) {
  WriteExchanges(30000);
  const Job job = MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}});
  const uint64_t before = *ledger_->Size();
  std::atomic<bool> done{false}, appended{false};
  std::thread writer([&] {
    // The run is a bulk transaction (this test's is the only connection): the
    // ledger gets its rollback journal at the first append, the decision,
    // after the files' stat was taken. (Its WAL is there from the start.)
    while (!done && !FileExists(dir_.File("l.db-journal"))) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (done) return;
    std::ofstream(dir_.File("ex.jsonl"), std::ios::app) << json{{"request", Request(1)}, {"response", Response(1)}}.dump() << "\n";
    appended = true;
  });
  auto s = Record(job);
  done = true;
  writer.join();
  ASSERT_TRUE(appended) << "the run ended before the transcript could be changed";
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kIoError);
  EXPECT_NE(s.status().message().find("ex.jsonl changed while it was being read; nothing was recorded"), std::string::npos)
      << s.status().ToString();
  EXPECT_EQ(*ledger_->Size(), before);
}

// Random damage to good lines (flipped, dropped and inserted bytes,
// truncation): every outcome is a recorded run or InvalidInput with the
// ledger untouched — never a crash, an exception or a half-written run.
TEST_F(TranscriptTest, DamagedLinesNeverCrashOrHalfWrite) {
  std::vector<json> v;
  for (int i = 0; i < 3; ++i) v.push_back({{"request", Request(i)}, {"response", Response(i)}});
  const std::string good = Lines(v);
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&state]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int recorded = 0, refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string text = good;
    const int edits = 1 + static_cast<int>(next() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = next() % text.size();
      switch (next() % 4) {
        case 0: text[at] = static_cast<char>(next() & 0xff); break;
        case 1: text.erase(at, 1); break;
        case 2: text.insert(at, 1, "{}[]\",:0\\"[next() % 8]); break;
        default: text.resize(at); break;
      }
    }
    ASSERT_TRUE(testing::WriteText(dir_.File("fuzz.jsonl"), text).ok());
    const uint64_t before = *ledger_->Size();
    StatusOr<TranscriptRunSummary> s = Status::Internal("not run");
    ASSERT_NO_THROW(s = Record(MakeJob({{"format", "exchanges"}, {"path", "fuzz.jsonl"}}))) << trial;
    if (s.ok()) {
      ++recorded;
      auto check = VerifyTranscripts(*ledger_, s->run_id);
      if (s->status == RunStatus::kRefused) {  // damage to a response's model: a call the job does not allow
        EXPECT_EQ(check.status().code(), Status::Code::kInvalidInput) << trial;
        continue;
      }
      EXPECT_EQ(s->status, RunStatus::kCompleted) << trial;
      ASSERT_TRUE(check.ok()) << trial;
      EXPECT_TRUE(check->ok) << trial << ": " << ::testing::PrintToString(check->problems);
    } else {
      ++refused;
      EXPECT_EQ(s.status().code(), Status::Code::kInvalidInput) << trial << ": " << s.status().ToString();
      EXPECT_EQ(*ledger_->Size(), before) << trial;
    }
  }
  EXPECT_GT(refused, 100);  // most damage is caught
  EXPECT_GT(recorded, 0);   // some damage (e.g. in a string) is still a valid transcript
}

TEST_F(TranscriptTest, ReportShowsTheTranscripts) {
  WriteExchanges(4);
  auto s = Record(MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}}));
  ASSERT_TRUE(s.ok());
  auto r = BuildRunReport(*ledger_, {s->run_id, nullptr, "2026-11-29T00:00:00Z"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*JsonSchema::Builtin("run-report.schema.json"))->Validate(*r, "report").ok());
  EXPECT_EQ((*r)["teacher_calls"]["count"], 4);
  EXPECT_TRUE((*r)["teacher_calls"]["matches"].get<bool>());
  ASSERT_TRUE(r->contains("transcripts"));
  EXPECT_EQ((*r)["transcripts"]["files"][0]["sha256"], HexEncode(*Sha256File(dir_.File("ex.jsonl"))));
  EXPECT_FALSE(r->contains("training"));
  const std::string md = RenderMarkdown(*r);
  EXPECT_NE(md.find("## Transcripts"), std::string::npos);
  EXPECT_NE(md.find("Failed calls: 0; skipped lines: 0"), std::string::npos);
}

TEST_F(TranscriptTest, CliExitCodes) {
  WriteExchanges(3);
  MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}});
  ASSERT_TRUE(key_.SavePemFile(dir_.File("k.pem")).ok());
  ledger_.reset();
  auto ok = testing::RunCli({"transcripts", "record", "--job", dir_.File("job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k.pem"), "--json"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const std::string run = json::parse(ok.out)["run"];
  auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  ASSERT_TRUE(testing::WriteText(dir_.File("ex.jsonl"), *ReadFile(dir_.File("ex.jsonl")) + "garbage\n").ok());
  auto bad = testing::RunCli({"transcripts", "record", "--job", dir_.File("job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k.pem")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("ex.jsonl:4:"), std::string::npos) << bad.err;
  auto changed = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run});
  EXPECT_EQ(changed.exit_code, 1);
  // Counts read as English: "1 skipped line", not "1 skipped lines".
  auto skipped = testing::RunCli({"transcripts", "record", "--job", dir_.File("job.json"), "--ledger", dir_.File("l.db"), "--key",
                                  dir_.File("k.pem"), "--skip-bad-lines"});
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.out.find("recorded 3 teacher calls (0 failed) and 1 skipped line\n"), std::string::npos) << skipped.out;
}

// Progress: on a terminal, lines recorded with rate, elapsed and ETA; none
// when standard error is not a terminal, or with --quiet.
TEST_F(TranscriptTest, RecordShowsProgressOnATerminalOnly) {
  WriteExchanges(30);
  MakeJob({{"format", "exchanges"}, {"path", "ex.jsonl"}});
  ASSERT_TRUE(key_.SavePemFile(dir_.File("k.pem")).ok());
  ledger_.reset();
  const std::vector<std::string> args = {"transcripts", "record", "--job", dir_.File("job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k.pem")};
  auto piped = testing::RunCli(args);
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err.find("elapsed"), std::string::npos) << piped.err;
  if (!FileExists("/usr/bin/script")) GTEST_SKIP() << "util-linux's script is not installed";
  std::string cmd = testing::CliPath();
  for (const std::string& a : args) cmd += " '" + a + "'";
  // `script` runs the command on a pseudo-terminal (util-linux).
  auto tty = testing::Run({"/usr/bin/script", "-qec", cmd + " >/dev/null", "/dev/null"});
  EXPECT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_NE(tty.out.find("record "), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("30/30 lines"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find(" elapsed"), std::string::npos) << tty.out;
  auto quiet = testing::Run({"/usr/bin/script", "-qec", cmd + " --quiet >/dev/null", "/dev/null"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.out;
  EXPECT_EQ(quiet.out.find("elapsed"), std::string::npos) << quiet.out;
}

}  // namespace
}  // namespace dg
