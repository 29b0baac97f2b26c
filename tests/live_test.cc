// Live API-teacher calls (`transcripts collect`) against a loopback
// OpenAI-compatible server (tests/tools/fake_openai_server.py): every call
// recorded before its output is kept, retries, a server that dies mid-run,
// a model the job does not allow, and the API key never written anywhere.
#include <algorithm>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "transcripts/chat_client.h"
#include "ledger/ledger.h"
#include "record/run_record.h"
#include "synthetic_run.h"
#include "test_util.h"

namespace dg {
namespace {

using json = nlohmann::json;
using testing::TempDir;

constexpr char kKey[] = "sk-test-7c1d9e0f-never-write-me";

class LiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/setup.sh installs python3 (with python3-torch): its absence is a broken set-up, not a reason to skip.
    ASSERT_TRUE(FileExists("/usr/bin/python3")) << "python3 is needed for the loopback test server (scripts/setup.sh installs it)";
    ASSERT_EQ(testing::RunCli({"keys", "generate", "--out", dir_.File("k"), "--name", "live.example/l"}).exit_code, 0);
    ASSERT_EQ(testing::RunCli({"ledger", "init", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--origin",
                               "live.example/l"}).exit_code, 0);
    ::setenv("DG_TEST_API_KEY", kKey, 1);
  }
  void TearDown() override {
    StopServer();
    ::unsetenv("DG_TEST_API_KEY");
  }
  void StartServer(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {"/usr/bin/python3", std::string(DG_SOURCE_DIR) + "/tests/tools/fake_openai_server.py",
                                     "--auth-log", dir_.File("auth.log")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    server_ = testing::Spawn(argv, false, false);
    std::string port;
    char c;
    while (::read(server_.out, &c, 1) == 1 && c != '\n') port.push_back(c);
    ASSERT_FALSE(port.empty()) << "the test server did not start";
    port_ = port;
  }
  void StopServer() {
    if (server_.pid > 0) {
      ::kill(server_.pid, SIGKILL);
      ::waitpid(server_.pid, nullptr, 0);
      ::close(server_.out);
      server_.pid = -1;
    }
  }
  void WriteJob(const std::string& model = "fake-lm") {
    json job = {{"name", "live-distill"},
                {"teachers", {{{"id", "lm"}, {"kind", "api"}, {"provider", "distillgate"}, {"model", model}, {"license", "MIT"},
                               {"base_url", "http://127.0.0.1:" + port_}, {"api_key_env", "DG_TEST_API_KEY"}}}},
                {"student", {{"name", "s"}, {"model_type", "llm"}}},
                {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
    ASSERT_TRUE(testing::WriteText(dir_.File("job.json"), job.dump()).ok());
  }
  void WritePrompts(int n) {
    std::string text;
    for (int i = 0; i < n; ++i) text += json{{"messages", {{{"role", "user"}, {"content", "prompt number " + std::to_string(i)}}}}}.dump() + "\n";
    ASSERT_TRUE(testing::WriteText(dir_.File("prompts.jsonl"), text).ok());
  }
  testing::CommandResult Collect(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"transcripts", "collect", "--job", dir_.File("job.json"), "--prompts", dir_.File("prompts.jsonl"),
                                     "--out-dir", dir_.File("out"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"),
                                     "--json", "--timeout", "30", "--retries", "2"};  // 30 s: a call that outlasts its timeout is retried, and the stand-in then answers it twice, which the counts of AServerThatDies… do not expect (it failed once with 102 calls under ASan beside other tests; a slow call is the likely cause)
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::RunCli(args);
  }
  std::vector<json> Calls() {
    std::vector<json> out;
    auto l = Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly);
    for (uint64_t i = 0; i < *(*l)->Size(); ++i) {
      auto leaf = *(*l)->GetLeaf(i);
      if (leaf.kind == "teacher_call") out.push_back(json::parse(leaf.data)["body"]);
    }
    return out;
  }
  void ExpectKeyNowhere(const std::vector<std::string>& texts) {
    for (const char* f : {"l.db", "out/batch_input.jsonl", "out/batch_output.jsonl", "job.json"}) {
      auto text = ReadFile(dir_.File(f));
      ASSERT_TRUE(text.ok()) << f << ": " << text.status().ToString();
      EXPECT_EQ(text->find(kKey), std::string::npos) << f;
    }
    for (const auto& t : texts) EXPECT_EQ(t.find(kKey), std::string::npos) << t;
  }
  std::vector<std::string> OutputLines() {
    std::vector<std::string> out;
    std::string text = *ReadFile(dir_.File("out/batch_output.jsonl")), line;
    for (char c : text) {
      if (c != '\n') {
        line.push_back(c);
      } else {
        out.push_back(std::move(line));
        line.clear();
      }
    }
    return out;
  }
  TempDir dir_;
  testing::Child server_;
  std::string port_;
};

TEST_F(LiveTest, EveryCallIsRecordedAndTheTranscriptVerifies) {
  StartServer({"--fail-first", "2"});  // two 503s: retried
  WriteJob();
  WritePrompts(150);  // two batches of 64 recorded beside the calls, then the last 22
  auto r = Collect();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["exchanges"], 150);
  EXPECT_EQ(s["failed_calls"], 0);
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 150u);
  const std::vector<std::string> lines = OutputLines();
  ASSERT_EQ(lines.size(), 150u);
  for (size_t i = 0; i < calls.size(); ++i) {  // in call order, entries and output lines alike
    EXPECT_EQ(calls[i]["status"], "ok");
    EXPECT_EQ(calls[i]["source"]["custom_id"], "request-" + std::to_string(i));
    EXPECT_EQ(calls[i]["sequence"], i);
    EXPECT_EQ(json::parse(lines[i])["custom_id"], "request-" + std::to_string(i));
  }
  // The key reached the server, and nothing else.
  const std::string auth = *ReadFile(dir_.File("auth.log"));
  EXPECT_NE(auth.find(std::string("Bearer ") + kKey), std::string::npos);
  auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", s["run"].get<std::string>()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto rep = testing::RunCli({"report", "--ledger", dir_.File("l.db"), "--run", s["run"].get<std::string>(), "--out", dir_.File("rep")});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  ExpectKeyNowhere({r.out, r.err, v.out, *ReadFile(dir_.File("rep/report.md")), *ReadFile(dir_.File("rep/report.json")),
                    *ReadFile(dir_.File("rep/report.html"))});
  // The report pins both files of the collected batch: the input (at the
  // start) and the output (at the end).
  const json report = json::parse(*ReadFile(dir_.File("rep/report.json")));
  ASSERT_EQ(report["transcripts"]["files"].size(), 2u);
  EXPECT_EQ(report["transcripts"]["files"][1]["sha256"], HexEncode(*Sha256File(dir_.File("out/batch_output.jsonl"))));
}

// Progress: on a terminal, a line with the calls, rate, elapsed and ETA; none
// when standard error is not a terminal, or with --quiet.
TEST_F(LiveTest, ProgressIsShownOnATerminalOnly) {
  StartServer({});
  WriteJob();
  WritePrompts(20);
  auto piped = Collect();
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err.find("elapsed"), std::string::npos) << piped.err;
  // `script` runs the command on a pseudo-terminal (util-linux).
  if (!FileExists("/usr/bin/script")) GTEST_SKIP() << "util-linux's script is not installed";
  std::string cmd = testing::CliPath();
  for (const std::string& a : {std::string("transcripts"), std::string("collect"), std::string("--job"), dir_.File("job.json"), std::string("--prompts"),
                               dir_.File("prompts.jsonl"), std::string("--out-dir"), dir_.File("tty"), std::string("--ledger"), dir_.File("l.db"),
                               std::string("--key"), dir_.File("k/ledger.key")}) {
    cmd += " '" + a + "'";
  }
  auto tty = testing::Run({"/usr/bin/script", "-qec", cmd + " >/dev/null", "/dev/null"});
  EXPECT_EQ(tty.exit_code, 0) << tty.out << tty.err;
  EXPECT_NE(tty.out.find("collect lm ["), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("20/20 calls"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find(" elapsed"), std::string::npos) << tty.out;
  std::string quiet_cmd = cmd;
  quiet_cmd.replace(quiet_cmd.find(dir_.File("tty")), dir_.File("tty").size(), dir_.File("tty-quiet"));
  auto quiet = testing::Run({"/usr/bin/script", "-qec", quiet_cmd + " --quiet >/dev/null", "/dev/null"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.out;
  EXPECT_TRUE(FileExists(dir_.File("tty-quiet/batch_output.jsonl")));
  EXPECT_EQ(quiet.out.find("elapsed"), std::string::npos) << quiet.out;
}

TEST_F(LiveTest, AServerThatDiesMidRunLosesNoRecordedCall) {
  StartServer({"--die-after", "100"});  // while a batch of 64 is being recorded beside the calls
  WriteJob();
  WritePrompts(110);
  auto r = Collect({"--max-failures", "3"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;  // the endpoint went away
  auto calls = Calls();
  std::string failed_calls;  // what the run saw, for a failure message
  for (size_t i = 0; i < calls.size(); ++i)
    if (calls[i]["status"] != "ok") failed_calls += std::to_string(i) + ": " + calls[i].dump() + "\n";
  const std::string auth_log = *ReadFile(dir_.File("auth.log"));
  ASSERT_EQ(calls.size(), 103u) << failed_calls << std::count(auth_log.begin(), auth_log.end(), '\n') << " requests reached the server";  // 100 answered, then 3 failed before giving up
  EXPECT_EQ(OutputLines().size(), 103u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(calls[i]["status"], "ok") << i;
  for (int i = 100; i < 103; ++i) {
    EXPECT_EQ(calls[i]["status"], "failed") << i;
    EXPECT_NE(calls[i]["error"].get<std::string>().find("no response"), std::string::npos) << calls[i].dump();
  }
  // What was recorded is exactly what the transcript holds.
  auto rec_run = json::parse(r.out)["run"].get<std::string>();
  auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", rec_run});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(testing::RunCli({"ledger", "verify", "--ledger", dir_.File("l.db"), "--pubkey", dir_.File("k/ledger.vkey")}).exit_code, 0);
  ExpectKeyNowhere({r.out, r.err});
}

TEST_F(LiveTest, AnAnswerFromAnotherModelRefusesTheRun) {
  StartServer({"--model", "someone-elses-model"});
  WriteJob();
  WritePrompts(3);
  auto r = Collect();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["status"], "refused");
  auto calls = Calls();
  ASSERT_EQ(calls.size(), 1u);  // stopped at the first such answer, which is recorded
  EXPECT_FALSE(calls[0]["allowed"].get<bool>());
  EXPECT_EQ(calls[0]["model"], "someone-elses-model");
}

// An interrupted collect (a signal, then a kill -9) keeps every answer it
// got; `--resume` records them in a new run and calls only the rest.
TEST_F(LiveTest, AnInterruptedCollectResumesWithoutCallingAnsweredPromptsAgain) {
  StartServer({});
  WriteJob();
  WritePrompts(3000);
  std::vector<std::string> args = {testing::CliPath(), "transcripts", "collect", "--job", dir_.File("job.json"), "--prompts",
                                   dir_.File("prompts.jsonl"), "--out-dir", dir_.File("out"), "--ledger", dir_.File("l.db"),
                                   "--key", dir_.File("k/ledger.key"), "--json"};
  auto output_lines = [&] { return FileExists(dir_.File("out/batch_output.jsonl")) ? OutputLines().size() : 0; };
  // 1. SIGINT part-way: closed as interrupted; what it got is kept.
  testing::Child c = testing::Spawn(args, false, true);
  for (int i = 0; i < 500 && output_lines() < 200; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(c.pid, SIGINT);
  auto r1 = testing::WaitForExit(c);
  EXPECT_EQ(r1.exit_code, 130) << r1.err;
  EXPECT_NE(r1.err.find("--resume"), std::string::npos) << r1.err;
  const size_t after_signal = output_lines();
  ASSERT_GE(after_signal, 200u);
  ASSERT_LT(after_signal, 3000u) << "the collect finished before it was interrupted: the test proves nothing";
  const size_t at = r1.err.find("; run ");
  ASSERT_NE(at, std::string::npos) << r1.err;
  const std::string first_run = r1.err.substr(at + 6, r1.err.find(' ', at + 6) - at - 6);
  // Without --resume the out dir is not reused.
  auto again = Collect();
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  // An answer edited since the first run recorded it: not resumed.
  const std::string kept = *ReadFile(dir_.File("out/batch_output.jsonl"));
  std::string edited = kept;
  const size_t answer = edited.find("0 rebmun tpmorp");
  ASSERT_NE(answer, std::string::npos);
  edited.replace(answer, 15, "0 REBMUN TPMORP");
  ASSERT_TRUE(testing::WriteText(dir_.File("out/batch_output.jsonl"), edited).ok());
  auto tampered = Collect({"--resume"});
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out << tampered.err;
  EXPECT_NE(tampered.err.find("no longer hashes to recorded teacher call 0"), std::string::npos) << tampered.err;
  ASSERT_TRUE(testing::WriteText(dir_.File("out/batch_output.jsonl"), kept).ok());
  // 2. Resume, then kill -9 part-way: every answer line written is kept.
  c = testing::Spawn([&] { auto a = args; a.push_back("--resume"); return a; }(), false, true);
  for (int i = 0; i < 500 && output_lines() < after_signal + 200; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(c.pid, SIGKILL);
  testing::WaitForExit(c);
  const size_t after_kill = output_lines();
  ASSERT_GE(after_kill, after_signal + 200);
  ASSERT_LT(after_kill, 3000u);
  // 3. Resume again: to the end.
  auto r3 = Collect({"--resume"});
  ASSERT_EQ(r3.exit_code, 0) << r3.out << r3.err;
  json s = json::parse(r3.out);
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["exchanges"], 3000);
  EXPECT_EQ(s["carried_over"], after_kill);
  // Every prompt answered exactly once in the transcript; the server was
  // asked each at most once more than that (a call in flight at the kill).
  std::set<std::string> ids;
  for (const auto& l : OutputLines()) EXPECT_TRUE(ids.insert(json::parse(l)["custom_id"].get<std::string>()).second) << l;
  EXPECT_EQ(ids.size(), 3000u);
  size_t asked = 0;
  const std::string auth_log = *ReadFile(dir_.File("auth.log"));  // a named value: a temporary's would end before the loop
  for (char ch : auth_log) asked += ch == '\n';
  EXPECT_GE(asked, 3000u);
  EXPECT_LE(asked, 3002u) << "answered prompts were called again";
  auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", s["run"].get<std::string>()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("VERIFIED: 3000 exchanges"), std::string::npos) << v.out;
  EXPECT_EQ(testing::RunCli({"ledger", "verify", "--ledger", dir_.File("l.db"), "--pubkey", dir_.File("k/ledger.vkey")}).exit_code, 0);
  // The first run still verifies: the file only grew after what it pinned.
  auto v1 = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", first_run});
  EXPECT_EQ(v1.exit_code, 0) << v1.out << v1.err;
  // Other prompts cannot resume this transcript.
  WritePrompts(5);
  auto other = Collect({"--resume"});
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.err.find("not the prompts of"), std::string::npos) << other.err;
}

TEST_F(LiveTest, ClientRetriesBoundedAndRateLimited) {
  StartServer({"--fail-first", "2"});
  ChatClientOptions o;
  o.base_url = "http://127.0.0.1:" + port_;
  o.max_retries = 1;  // two 503s exhaust one retry
  o.backoff_s = 0.01;
  ChatClient strict(o);
  const json req = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "abc"}}}}};
  ChatResult r = strict.Complete(req);
  EXPECT_EQ(r.http_status, 503);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_NE(r.error.find("overloaded"), std::string::npos) << r.error;
  // The server has now answered its two 503s: the next call succeeds at once.
  r = strict.Complete(req);
  EXPECT_EQ(r.http_status, 200) << r.error;
  EXPECT_EQ(r.body["choices"][0]["message"]["content"], "cba");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_FALSE(r.request_id.empty());
  // At most 20 calls a second: five calls take at least 0.2 s.
  o.min_interval_s = 0.05;
  ChatClient limited(o);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limited.Complete(req).http_status, 200);
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.2);
  // A port nobody listens on: a transport error, not an HTTP status.
  StopServer();
  o.min_interval_s = 0;
  ChatClient dead(o);
  r = dead.Complete(req);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_NE(r.error.find("no response"), std::string::npos) << r.error;
}

TEST_F(LiveTest, BadInputWritesNothing) {
  StartServer({});
  WriteJob();
  WritePrompts(2);
  ASSERT_TRUE(testing::WriteText(dir_.File("prompts.jsonl"), *ReadFile(dir_.File("prompts.jsonl")) + "{\"messages\": []}\n").ok());
  auto l = Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly);
  const uint64_t before = *(*l)->Size();
  auto r = Collect();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("prompts.jsonl:3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/messages"), std::string::npos) << r.err;
  EXPECT_FALSE(FileExists(dir_.File("out/batch_input.jsonl")));
  // A missing API key: the gate fails closed.
  WritePrompts(2);
  ::unsetenv("DG_TEST_API_KEY");
  r = Collect();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("DG_TEST_API_KEY"), std::string::npos) << r.err;
  EXPECT_EQ(*(*l)->Size(), before);
}

}  // namespace
}  // namespace dg
