// `distillgate proxy` (docs/proxy.md) as a process between an HTTP client
// and a loopback stand-in upstream (tests/tools/fake_openai_server.py): what
// is forwarded and what is refused, the key, an answer from a model the job
// does not allow, a job that may not run, a port in use, and resuming after
// `kill -9` — a torn line, an unanswered request, a transcript edited since,
// a closed run. The SDK and the 16-client load are in tools/proxy_sdk_test.sh;
// the stream parsing is tested here as pure functions.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "ledger/ledger.h"
#include "record/run_record.h"
#include "synthetic_run.h"
#include "test_util.h"
#include "transcripts/stream.h"

namespace dg {
namespace {

using json = nlohmann::json;
using testing::TempDir;

constexpr char kKey[] = "sk-proxy-7c1d9e0f-never-write-me";

// ---- The stream as pure functions -------------------------------------

std::vector<std::string> Events(SseSplitter& s, const std::string& bytes, std::vector<std::string>* raws = nullptr) {
  std::vector<std::string> out;
  Status st = s.Feed(bytes, [&](std::string_view raw, const std::string& data) {
    out.push_back(data);
    if (raws) raws->emplace_back(raw);
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(SseSplitter, EventsArriveWhateverTheCutsAndLineEnds) {
  const std::string stream = ": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\ndata:x\ndata: y\n\nevent: e\rdata: [DONE]\r\r\n";
  for (size_t piece : {size_t(1), size_t(2), size_t(7), stream.size()}) {
    SseSplitter s;
    std::vector<std::string> all, raws;
    for (size_t i = 0; i < stream.size(); i += piece) {
      for (auto& e : Events(s, stream.substr(i, piece), &raws)) all.push_back(e);
    }
    ASSERT_EQ(all.size(), 4u) << "piece " << piece;
    EXPECT_EQ(all[0], "");  // a comment: an event without data
    EXPECT_EQ(all[1], "{\"a\":1}");
    EXPECT_EQ(all[2], "x\ny");
    EXPECT_EQ(all[3], "[DONE]");
    std::string joined;
    for (auto& r : raws) joined += r;
    EXPECT_EQ(joined, stream) << "the raw bytes pass on unchanged";
    EXPECT_TRUE(s.pending().empty());
  }
  SseSplitter s;
  EXPECT_TRUE(Events(s, "data: cut").empty());
  EXPECT_EQ(s.pending(), "data: cut");
}

json Chunk(const json& delta, const json& finish = nullptr, int index = 0) {
  return {{"id", "c1"}, {"object", "chat.completion.chunk"}, {"created", 1764400000}, {"model", "m"},
          {"choices", {{{"index", index}, {"delta", delta}, {"finish_reason", finish}}}}};
}

TEST(StreamAssembler, AddsTheChunksUpToTheCompletion) {
  StreamAssembler a;
  ASSERT_TRUE(a.Add(Chunk({{"role", "assistant"}, {"content", ""}})).ok());
  ASSERT_TRUE(a.Add(Chunk({{"content", "Hel"}})).ok());
  ASSERT_TRUE(a.Add(Chunk({{"content", "lo"}})).ok());
  ASSERT_TRUE(a.Add(Chunk({{"tool_calls", {{{"index", 0}, {"id", "call_1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{\"x\""}}}}}}})).ok());
  ASSERT_TRUE(a.Add(Chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", ":1}"}}}}}}})).ok());
  ASSERT_TRUE(a.Add(Chunk({{"content", "!"}}, nullptr, 1)).ok());
  ASSERT_TRUE(a.Add(Chunk(json::object(), "stop")).ok());
  json usage_chunk = Chunk(json::object());
  usage_chunk["choices"] = json::array();
  usage_chunk["usage"] = {{"prompt_tokens", 3}, {"completion_tokens", 2}, {"total_tokens", 5}};
  ASSERT_TRUE(a.Add(usage_chunk).ok());
  auto done = a.Finish();
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  const json& r = *done;
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["id"], "c1");
  EXPECT_EQ(r["model"], "m");
  ASSERT_EQ(r["choices"].size(), 2u);
  EXPECT_EQ(r["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"], "{\"x\":1}");
  EXPECT_EQ(r["choices"][0]["message"]["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(r["choices"][1]["message"]["content"], "!");
  EXPECT_EQ(r["usage"]["total_tokens"], 5);
}

TEST(StreamAssembler, RefusesWhatIsNotOneStream) {
  StreamAssembler a;
  EXPECT_FALSE(a.Finish().ok()) << "no chunk";
  ASSERT_TRUE(a.Add(Chunk({{"content", "a"}})).ok());
  json other = Chunk({{"content", "b"}});
  other["model"] = "n";
  EXPECT_EQ(a.Add(other).code(), Status::Code::kInvalidInput) << "another model mid-stream";
  other = Chunk({{"content", "b"}});
  other.erase("created");
  EXPECT_EQ(a.Add(other).code(), Status::Code::kInvalidInput);
  EXPECT_EQ(a.Add(Chunk({{"content", 5}})).code(), Status::Code::kInvalidInput);
  EXPECT_EQ(a.Add(json::array()).code(), Status::Code::kInvalidInput);
}

// ---- The proxy as a process -------------------------------------------

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  return line;
}

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(FileExists("/usr/bin/python3")) << "python3 is needed for the loopback test server (scripts/setup.sh installs it)";
    ASSERT_EQ(testing::RunCli({"keys", "generate", "--out", dir_.File("k"), "--name", "proxy.example/l"}).exit_code, 0);
    ASSERT_EQ(testing::RunCli({"ledger", "init", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--origin",
                               "proxy.example/l"}).exit_code, 0);
    ::setenv("DG_TEST_API_KEY", kKey, 1);
  }
  void TearDown() override {
    KillProxy();
    if (upstream_.pid > 0) {
      ::kill(upstream_.pid, SIGKILL);
      ::waitpid(upstream_.pid, nullptr, 0);
      ::close(upstream_.out);
    }
    ::unsetenv("DG_TEST_API_KEY");
  }
  void StartUpstream(const std::vector<std::string>& flags = {}) {
    std::vector<std::string> argv = {"/usr/bin/python3", std::string(DG_SOURCE_DIR) + "/tests/tools/fake_openai_server.py", "--auth-log",
                                     dir_.File("auth.log")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    upstream_ = testing::Spawn(argv, false, false);
    upstream_port_ = ReadLine(upstream_.out);
    ASSERT_FALSE(upstream_port_.empty()) << "the test server did not start";
  }
  void WriteJob(const std::string& license = "MIT", const std::string& model = "fake-lm") {
    json job = {{"name", "proxied"},
                {"teachers", {{{"id", "lm"}, {"kind", "api"}, {"provider", "distillgate"}, {"model", model}, {"license", license}}}},
                {"student", {{"name", "s"}, {"model_type", "llm"}}},
                {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
    ASSERT_TRUE(testing::WriteText(dir_.File("job.json"), job.dump()).ok());
  }
  std::vector<std::string> ProxyArgs(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {testing::CliPath(), "proxy", "--job", dir_.File("job.json"), "--ledger", dir_.File("l.db"),
                                     "--key", dir_.File("k/ledger.key"), "--upstream", "http://127.0.0.1:" + upstream_port_ + "/v1",
                                     "--out-dir", dir_.File("out"), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  // Starts the proxy; returns its first line ("listening on …").
  std::string StartProxy(const std::vector<std::string>& extra = {"--listen", "127.0.0.1:0"}) {
    proxy_ = testing::Spawn(ProxyArgs(extra), false, true);
    const std::string line = ReadLine(proxy_.out);
    const size_t colon = line.find("127.0.0.1:");
    if (colon != std::string::npos) port_ = std::atoi(line.c_str() + colon + 10);
    return line;
  }
  // SIGTERM (or another signal), then what the proxy printed and its exit.
  testing::CommandResult StopProxy(int signal = SIGTERM) {
    ::kill(proxy_.pid, signal);
    testing::CommandResult r = testing::WaitForExit(proxy_);
    proxy_.pid = -1;
    return r;
  }
  void KillProxy() {
    if (proxy_.pid > 0) StopProxy(SIGKILL);
  }
  httplib::Result Chat(const std::string& model, const std::string& text, bool stream = false, const httplib::Headers& headers = {}) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(20);
    json body = {{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}};
    if (stream) body["stream"] = true;
    return c.Post("/v1/chat/completions", headers, body.dump(), "application/json");
  }
  RunRecord Record(const std::string& run) {
    auto ledger = Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly);
    EXPECT_TRUE(ledger.ok());
    auto r = LoadRunRecord(**ledger, run);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return *r;
  }
  static std::string RunOf(const std::string& line) {
    const size_t at = line.find("run ");
    return at == std::string::npos ? "" : line.substr(at + 4, line.find_first_of(",)", at) - at - 4);
  }
  size_t AuthLines() {
    std::ifstream in(dir_.File("auth.log"));
    size_t n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
  }

  TempDir dir_;
  testing::Child upstream_, proxy_;
  std::string upstream_port_;
  int port_ = 0;
};

TEST_F(ProxyTest, ForwardsOnlyTheJobsModelAndRecordsEveryForwardedCall) {
  StartUpstream({"--fail-model", "fake-lm-2024-05-01"});
  WriteJob();
  const std::string line = StartProxy();
  ASSERT_NE(port_, 0) << line;
  const std::string run = RunOf(line);
  // Refused: another model, another endpoint, a malformed body. Nothing reaches the upstream.
  auto r = Chat("gpt-4o", "hi");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  json err = json::parse(r->body);
  EXPECT_EQ(err["error"]["code"], "model_not_allowed");
  EXPECT_NE(err["error"]["message"].get<std::string>().find("job proxied"), std::string::npos) << r->body;
  httplib::Client c("127.0.0.1", port_);
  auto e = c.Post("/v1/embeddings", "{}", "application/json");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 403);
  auto bad = c.Post("/v1/chat/completions", "{\"model\": \"fake-lm\", \"messages\": []}", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(AuthLines(), 0u) << "a refused request was forwarded";
  // Forwarded: the client's own key goes upstream; a streamed call; an
  // upstream error (a dated snapshot the job allows, which the upstream
  // answers with 429) is passed on as the upstream sent it.
  auto ok = Chat("fake-lm", "hello", false, {{"Authorization", "Bearer client-key-1"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["choices"][0]["message"]["content"], "olleh");
  EXPECT_EQ(ok->get_header_value("x-request-id"), "req-1");
  auto s = Chat("fake-lm", "streamed words", true);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 200);
  EXPECT_NE(s->body.find("\"chat.completion.chunk\""), std::string::npos);
  EXPECT_EQ(s->body.substr(s->body.size() - 14), "data: [DONE]\n\n");
  // The (legacy) completions endpoint, plain and streamed.
  auto comp = c.Post("/v1/completions", json{{"model", "fake-lm"}, {"prompt", "abc"}}.dump(), "application/json");
  ASSERT_TRUE(comp);
  EXPECT_EQ(comp->status, 200);
  EXPECT_EQ(json::parse(comp->body)["choices"][0]["text"], "cba");
  auto comps = c.Post("/v1/completions", json{{"model", "fake-lm"}, {"prompt", "hello there"}, {"stream", true}}.dump(), "application/json");
  ASSERT_TRUE(comps);
  EXPECT_EQ(comps->status, 200);
  EXPECT_NE(comps->body.find("\"text_completion\""), std::string::npos);
  auto limited = Chat("fake-lm-2024-05-01", "x");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(json::parse(limited->body)["error"]["code"], "rate_limit_exceeded");
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"].size(), 1u) << models->body;  // "other-model" is not listed
  EXPECT_EQ(testing::ReadAll(dir_.File("auth.log")).substr(0, 20), "Bearer client-key-1\n");

  auto stopped = StopProxy();
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  json summary = json::parse(stopped.out.substr(stopped.out.find('{')));
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_EQ(summary["exchanges"], 5);
  EXPECT_EQ(summary["failed_calls"], 1);
  EXPECT_EQ(summary["refused_requests"], 3);
  RunRecord rec = Record(run);
  EXPECT_EQ(rec.status(), RunStatus::kCompleted);
  EXPECT_EQ(rec.teacher_calls, 5u);
  EXPECT_EQ(rec.run_end->body["stopped_by"], "SIGTERM");
  // The streamed call is recorded as the completion it adds up to.
  const std::string out = testing::ReadAll(dir_.File("out/batch_output.jsonl"));
  EXPECT_NE(out.find("\"content\":\"sdrow demaerts\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"text\":\"ereht olleh\""), std::string::npos) << out;
  EXPECT_NE(testing::ReadAll(dir_.File("out/batch_input.jsonl")).find("\"url\":\"/v1/completions\""), std::string::npos);
  auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("VERIFIED: 5 exchanges"), std::string::npos) << v.out;
}

TEST_F(ProxyTest, TheKeyFromTheEnvironmentIsForwardedAndNeverWritten) {
  StartUpstream();
  WriteJob();
  StartProxy({"--listen", "127.0.0.1:0", "--api-key-env", "DG_TEST_API_KEY"});
  ASSERT_NE(port_, 0);
  ASSERT_TRUE(Chat("fake-lm", "a"));
  ASSERT_TRUE(Chat("fake-lm", "b", true));
  ASSERT_EQ(StopProxy().exit_code, 0);
  EXPECT_EQ(testing::ReadAll(dir_.File("auth.log")), std::string("Bearer ") + kKey + "\nBearer " + kKey + "\n");
  for (const auto& f : {"l.db", "out/batch_input.jsonl", "out/batch_output.jsonl", "out/proxy-run.json"}) {
    EXPECT_EQ(testing::ReadAll(dir_.File(f)).find(kKey), std::string::npos) << f;
  }
  auto missing = testing::Run(ProxyArgs({"--listen", "127.0.0.1:0", "--api-key-env", "DG_NO_SUCH_VARIABLE"}));
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("DG_NO_SUCH_VARIABLE"), std::string::npos) << missing.err;
}

TEST_F(ProxyTest, AnAnswerFromAnotherModelIsWithheldAndRefusesTheRun) {
  StartUpstream({"--model", "fake-lm-mini", "--null-error"});  // not a dated snapshot of fake-lm; chunks carry "error": null
  WriteJob();
  for (bool stream : {false, true}) {
    std::filesystem::remove_all(dir_.File("out"));
    const std::string run = RunOf(StartProxy());
    ASSERT_NE(port_, 0);
    auto r = Chat("fake-lm", "secret answer", stream);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body.find("rewsna"), std::string::npos) << "the answer reached the client: " << r->body;
    EXPECT_EQ(r->body.find("\"rew\""), std::string::npos) << "a chunk of the answer reached the client: " << r->body;
    EXPECT_EQ(r->body.find("chat.completion.chunk"), std::string::npos) << "a chunk reached the client: " << r->body;
    EXPECT_NE(r->body.find("model_not_allowed"), std::string::npos) << r->body;
    if (!stream) EXPECT_EQ(r->status, 403);
    // The proxy stops by itself (else, after 20 s, it is killed and the test fails).
    int waited = 0;
    for (; waited < 200; ++waited) {
      if (::kill(proxy_.pid, 0) != 0) break;
      std::string stat = testing::ReadAll("/proc/" + std::to_string(proxy_.pid) + "/stat");
      if (stat.find(") Z ") != std::string::npos) break;  // exited, not yet reaped
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (waited == 200) ::kill(proxy_.pid, SIGKILL);
    ASSERT_LT(waited, 200) << "the proxy went on serving after an answer from a model the job does not allow";
    auto end = testing::WaitForExit(proxy_);
    proxy_.pid = -1;
    EXPECT_EQ(end.exit_code, 1) << end.out << end.err;
    RunRecord rec = Record(run);
    EXPECT_EQ(rec.status(), RunStatus::kRefused) << "stream " << stream;
    EXPECT_EQ(rec.teacher_calls, 1u);
    EXPECT_EQ(rec.run_end->body["disallowed_calls"], 1);
  }
}

TEST_F(ProxyTest, AJobThatMayNotRunServesNothing) {
  StartUpstream();
  WriteJob("LicenseRef-Nobody-Knows-This-One");
  auto r = testing::Run(ProxyArgs({"--listen", "127.0.0.1:0"}));
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;  // needs review
  EXPECT_EQ(r.out.find("listening"), std::string::npos) << r.out;
  EXPECT_FALSE(FileExists(dir_.File("out/batch_input.jsonl")));
}

TEST_F(ProxyTest, APortInUseLeavesNoDecision) {
  StartUpstream();
  WriteJob();
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  auto r = testing::Run(ProxyArgs({"--listen", "127.0.0.1:" + std::to_string(ntohs(a.sin_port))}));
  ::close(s);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot listen"), std::string::npos) << r.err;
  auto ledger = Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly);
  ASSERT_TRUE(ledger.ok());
  EXPECT_EQ(*(*ledger)->Size(), 0u) << "a decision was recorded for a proxy that could not serve";
}

TEST_F(ProxyTest, AfterKillNineTheRestartRecordsWhatTheLedgerLacks) {
  StartUpstream();
  WriteJob();
  const std::string run = RunOf(StartProxy());
  ASSERT_NE(port_, 0);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Chat("fake-lm", "call " + std::to_string(i), i % 2 == 1)->status, 200);
  KillProxy();
  EXPECT_LE(Record(run).teacher_calls, 5u);
  // A kill can leave a request whose answer was never written, and a line
  // cut short: the restart repairs both.
  {
    std::ofstream in(dir_.File("out/batch_input.jsonl"), std::ios::app);
    in << json{{"custom_id", "request-5"}, {"method", "POST"}, {"url", "/v1/chat/completions"},
               {"body", {{"model", "fake-lm"}, {"messages", {{{"role", "user"}, {"content", "lost"}}}}}}}.dump() << "\n";
    std::ofstream out(dir_.File("out/batch_output.jsonl"), std::ios::app);
    out << "{\"id\":\"batch_req_5\",\"custom_id\":\"req";
  }
  const std::string line = StartProxy();
  ASSERT_NE(line.find("resumed"), std::string::npos) << line;
  EXPECT_EQ(RunOf(line), run);
  ASSERT_EQ(Chat("fake-lm", "after")->status, 200);
  auto end = StopProxy();
  ASSERT_EQ(end.exit_code, 0) << end.out << end.err;
  json summary = json::parse(end.out.substr(end.out.find('{')));
  EXPECT_TRUE(summary["resumed"].get<bool>());
  EXPECT_EQ(summary["exchanges"], 7);  // 5, the unanswered one (failed), 1 after
  EXPECT_EQ(summary["failed_calls"], 1);
  RunRecord rec = Record(run);
  EXPECT_EQ(rec.status(), RunStatus::kCompleted);
  EXPECT_EQ(rec.teacher_calls, 7u);
  ASSERT_EQ(rec.others.size(), 1u);
  EXPECT_EQ(rec.others[0].kind, "proxy_resumed");
  EXPECT_EQ(rec.others[0].body["unanswered_requests"], 1);
  EXPECT_EQ(rec.others[0].body["repairs"].size(), 1u);
  EXPECT_NE(testing::ReadAll(dir_.File("out/batch_output.jsonl")).find("proxy_stopped"), std::string::npos);
  auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto lv = testing::RunCli({"ledger", "verify", "--ledger", dir_.File("l.db"), "--pubkey", dir_.File("k/ledger.pub")});
  EXPECT_EQ(lv.exit_code, 0) << lv.out << lv.err;
  // A closed run is not resumed.
  auto again = testing::Run(ProxyArgs({"--listen", "127.0.0.1:0"}));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("closed"), std::string::npos) << again.err;
}

TEST_F(ProxyTest, ATranscriptEditedSinceItWasRecordedIsNotResumed) {
  StartUpstream();
  WriteJob();
  const std::string run = RunOf(StartProxy());
  ASSERT_NE(port_, 0);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Chat("fake-lm", "call " + std::to_string(i))->status, 200);
  // Wait until the ledger has them (at most flush_interval behind).
  for (int i = 0; i < 100 && Record(run).teacher_calls < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(Record(run).teacher_calls, 3u);
  KillProxy();
  std::string out = testing::ReadAll(dir_.File("out/batch_output.jsonl"));
  const size_t at = out.find("0 llac");
  ASSERT_NE(at, std::string::npos);
  out.replace(at, 6, "0 LLAC");
  testing::WriteAll(dir_.File("out/batch_output.jsonl"), out);
  auto r = testing::Run(ProxyArgs({"--listen", "127.0.0.1:0"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("no longer hashes to recorded teacher call 0"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("listening"), std::string::npos);
  EXPECT_EQ(Record(run).status(), RunStatus::kIncomplete) << "the run stays open for a look";
}

// What a misbehaving upstream sends never crashes the proxy or breaks its
// record: bytes that are not UTF-8, an error without a message, a stream cut
// before [DONE]. Each is a recorded failed call; the run still verifies.
TEST_F(ProxyTest, AMisbehavingUpstreamIsRecordedAndNeverBreaksTheRun) {
  for (const std::string flag : {"--bad-utf8", "--cut-stream", "--null-message"}) {
    SCOPED_TRACE(flag);
    TearDown();
    upstream_ = {};
    StartUpstream({flag, "--fail-model", "fake-lm-2024-05-01"});
    ::setenv("DG_TEST_API_KEY", kKey, 1);
    WriteJob();
    std::filesystem::remove_all(dir_.File("out"));
    const std::string run = RunOf(StartProxy());
    ASSERT_NE(port_, 0);
    int failed = 0;
    if (flag == "--bad-utf8") {
      auto r = Chat("fake-lm", "plain");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 502) << r->body;  // not an answer that can be recorded: withheld
      EXPECT_NE(r->body.find("malformed_response"), std::string::npos) << r->body;
      auto st = Chat("fake-lm", "streamed", true);
      EXPECT_TRUE(!st || st->body.find("[DONE]") == std::string::npos) << "a malformed stream ended as if whole";
      failed = 2;
    } else if (flag == "--cut-stream") {
      auto st = Chat("fake-lm", "streamed", true);
      EXPECT_TRUE(!st || st->body.find("[DONE]") == std::string::npos) << "a stream cut short ended as if whole";
      failed = 1;
    } else {
      auto r = Chat("fake-lm-2024-05-01", "x");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 429);
      failed = 1;
    }
    // The proxy is still serving, and records the next call (with
    // --bad-utf8 every answer is malformed, that one too).
    auto ok = Chat("fake-lm", "pear");
    ASSERT_TRUE(ok) << "the proxy died";
    EXPECT_EQ(ok->status, flag == "--bad-utf8" ? 502 : 200);
    if (flag == "--bad-utf8") ++failed;
    auto end = StopProxy();
    ASSERT_EQ(end.exit_code, 0) << end.out << end.err;
    RunRecord rec = Record(run);
    EXPECT_EQ(rec.status(), RunStatus::kCompleted);
    EXPECT_EQ(rec.run_end->body["failed_calls"], failed);
    auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  }
}

// A request that cannot be recorded (an integer beyond 2^53) is refused
// before it is forwarded, not answered and then lost.
TEST_F(ProxyTest, ARequestThatCannotBeRecordedIsNotForwarded) {
  StartUpstream();
  WriteJob();
  const std::string run = RunOf(StartProxy());
  ASSERT_NE(port_, 0);
  httplib::Client c("127.0.0.1", port_);
  auto r = c.Post("/v1/chat/completions",
                  "{\"model\": \"fake-lm\", \"seed\": 9007199254740993, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(AuthLines(), 0u) << "forwarded";
  ASSERT_EQ(Chat("fake-lm", "fine")->status, 200);
  ASSERT_EQ(StopProxy().exit_code, 0);
  EXPECT_EQ(Record(run).status(), RunStatus::kCompleted);
}

// An upstream error that quotes the key keeps the key out of the record;
// a signal that comes at once still closes the run.
TEST_F(ProxyTest, AKeyEchoedByTheUpstreamIsRedacted) {
  StartUpstream({"--fail-model", "fake-lm-2024-05-01", "--echo-auth"});
  WriteJob();
  const std::string run = RunOf(StartProxy({"--listen", "127.0.0.1:0", "--api-key-env", "DG_TEST_API_KEY"}));
  ASSERT_NE(port_, 0);
  auto r = Chat("fake-lm-2024-05-01", "x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  ASSERT_EQ(StopProxy().exit_code, 0);
  for (const auto& f : {"l.db", "out/batch_output.jsonl"}) EXPECT_EQ(testing::ReadAll(dir_.File(f)).find(kKey), std::string::npos) << f;
  EXPECT_NE(testing::ReadAll(dir_.File("out/batch_output.jsonl")).find("[redacted]"), std::string::npos);
  std::filesystem::remove_all(dir_.File("out"));
  StartProxy();
  auto quick = StopProxy();  // SIGTERM right after the first line
  EXPECT_EQ(quick.exit_code, 0) << quick.err;
}

// A restart goes on under the run's decision, in its mode: an enforce
// decision is not relaxed by a warn policy given to the restart.
TEST_F(ProxyTest, AResumedRunKeepsTheModeItWasDecidedIn) {
  StartUpstream();
  WriteJob();
  const std::string run = RunOf(StartProxy());
  ASSERT_NE(port_, 0);
  ASSERT_EQ(Chat("fake-lm", "before")->status, 200);
  KillProxy();
  ::kill(upstream_.pid, SIGKILL);
  ::waitpid(upstream_.pid, nullptr, 0);
  ::close(upstream_.out);
  StartUpstream({"--model", "fake-lm-mini"});  // now answers as a model the job does not allow
  ASSERT_TRUE(testing::WriteText(dir_.File("warn.json"), "{\"mode\": \"warn\"}").ok());
  const std::string line = StartProxy({"--listen", "127.0.0.1:0", "--policy", dir_.File("warn.json")});
  ASSERT_NE(line.find("resumed"), std::string::npos) << line;
  auto r = Chat("fake-lm", "secret answer");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_EQ(r->body.find("rewsna"), std::string::npos) << r->body;
  auto end = StopProxy();
  EXPECT_EQ(end.exit_code, 1) << end.out << end.err;
  EXPECT_EQ(Record(run).status(), RunStatus::kRefused);
}

// `transcripts verify --data-dir`: a transcript moved after recording is
// found where it is now and still checked line by line.
TEST_F(ProxyTest, AMovedTranscriptVerifiesWithDataDir) {
  StartUpstream();
  WriteJob();
  const std::string run = RunOf(StartProxy());
  ASSERT_NE(port_, 0);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Chat("fake-lm", "call " + std::to_string(i))->status, 200);
  ASSERT_EQ(StopProxy().exit_code, 0);
  std::filesystem::create_directories(dir_.File("archive"));
  std::filesystem::rename(dir_.File("out"), dir_.File("archive/proxy1"));
  auto gone = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run});
  EXPECT_EQ(gone.exit_code, 1) << gone.out;
  auto moved = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run, "--data-dir", dir_.File("archive/proxy1/")});
  EXPECT_EQ(moved.exit_code, 0) << moved.out << moved.err;
  EXPECT_NE(moved.out.find("VERIFIED: 4 exchanges"), std::string::npos) << moved.out;
  EXPECT_NE(moved.out.find("read from " + dir_.File("archive/proxy1")), std::string::npos) << moved.out;
  // An edit in the moved copy is still found, by line.
  std::string out = testing::ReadAll(dir_.File("archive/proxy1/batch_output.jsonl"));
  out.replace(out.find("2 llac"), 6, "2 LLAC");
  testing::WriteAll(dir_.File("archive/proxy1/batch_output.jsonl"), out);
  auto edited = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run, "--data-dir", dir_.File("archive/proxy1")});
  EXPECT_EQ(edited.exit_code, 1);
  EXPECT_NE(edited.out.find("batch_output.jsonl:3: the exchange no longer hashes to recorded teacher call 2"), std::string::npos) << edited.out;
  // --json: the same answer for a script (exit code unchanged).
  auto as_json = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run, "--data-dir", dir_.File("archive/proxy1"), "--json"});
  EXPECT_EQ(as_json.exit_code, 1);
  const json j = json::parse(as_json.out);
  EXPECT_FALSE(j["verified"].get<bool>());
  EXPECT_EQ(j["run"], run);
  EXPECT_EQ(j["exchanges_checked"], 4);
  bool names_the_line = false;  // (the file's pinned SHA-256 fails too)
  for (const auto& p : j["problems"]) names_the_line |= p.get<std::string>().find("batch_output.jsonl:3: the exchange no longer hashes") != std::string::npos;
  EXPECT_TRUE(names_the_line) << j.dump(2);
  out.replace(out.find("2 LLAC"), 6, "2 llac");
  testing::WriteAll(dir_.File("archive/proxy1/batch_output.jsonl"), out);
  auto fine = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", run, "--data-dir", dir_.File("archive/proxy1"), "--json"});
  EXPECT_EQ(fine.exit_code, 0) << fine.out << fine.err;
  EXPECT_TRUE(json::parse(fine.out)["verified"].get<bool>());
  EXPECT_TRUE(json::parse(fine.out)["problems"].empty());
}

TEST_F(ProxyTest, AnUpstreamThatIsDownIsARecordedFailedCall) {
  upstream_port_ = "1";  // nothing listens on port 1
  WriteJob();
  const std::string run = RunOf(StartProxy());
  ASSERT_NE(port_, 0);
  auto r = Chat("fake-lm", "x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  auto s = Chat("fake-lm", "y", true);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 502);
  ASSERT_EQ(StopProxy().exit_code, 0);
  RunRecord rec = Record(run);
  EXPECT_EQ(rec.teacher_calls, 2u);
  EXPECT_EQ(rec.run_end->body["failed_calls"], 2);
}

}  // namespace
}  // namespace dg
