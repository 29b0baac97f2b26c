// The byte-level LM teacher (LibTorch): training, save/load, `train-lm` as a
// gated recorded run, and `serve-teacher` answering `transcripts collect`
// live on 127.0.0.1.
#include <gtest/gtest.h>

#include <cmath>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "ledger/ledger.h"
#include "synthetic_run.h"
#include "test_util.h"
#include "transcripts/chat_client.h"
#include "train/lm.h"
#include "train/trainer.h"

namespace dg {
namespace {

using json = nlohmann::json;
using testing::TempDir;

// A small, very regular corpus: a model that learns anything predicts it well.
std::string Corpus() {
  const char* words[] = {"apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "plum"};
  std::string text;
  for (int i = 0; i < 3000; ++i) text += std::string(words[(i * 7) % 8]) + "\n";
  return text;
}

ByteLmConfig Small() {
  ByteLmConfig c;
  c.embed = 16;
  c.hidden = 64;
  c.seq_len = 32;
  c.batch = 16;
  c.steps = 150;
  c.name = "test-lm";
  return c;
}

TEST(ByteLm, LearnsAndRoundTrips) {
  const std::string corpus = Corpus();
  std::vector<double> losses;
  auto lm = ByteLm::Train(corpus, Small(), &losses);
  ASSERT_TRUE(lm.ok()) << lm.status().ToString();
  ASSERT_EQ(losses.size(), 150u);
  EXPECT_LT(losses.back(), losses.front() / 3) << "the loss must fall";
  EXPECT_LT(lm->heldout_bits_per_byte(), 2.0);  // uniform over bytes would be 8
  const std::string g = lm->Generate("apple\n", 24, 0, 0);
  EXPECT_EQ(g.size(), 24u);
  for (char c : g) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << int(c);
  TempDir dir;
  ASSERT_TRUE(lm->Save(dir.File("m.pt")).ok());
  auto back = ByteLm::Load(dir.File("m.pt"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->Generate("apple\n", 24, 0, 0), g);
  EXPECT_DOUBLE_EQ(back->BitsPerByte(corpus.substr(0, 500)), lm->BitsPerByte(corpus.substr(0, 500)));
  // A changed model file is refused.
  std::string bytes = *ReadFile(dir.File("m.pt"));
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(testing::WriteText(dir.File("m.pt"), bytes).ok());
  EXPECT_EQ(ByteLm::Load(dir.File("m.pt")).status().code(), Status::Code::kVerifyFailed);
}

TEST(ByteLm, AsciiLinesDropsOtherLines) {
  EXPECT_EQ(AsciiLines("abc\nd\xc3\xa9" "f\n\nxyz"), "abc\nxyz\n");
}

class TrainLmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(testing::RunCli({"keys", "generate", "--out", dir_.File("k"), "--name", "lm.example/l"}).exit_code, 0);
    ASSERT_EQ(testing::RunCli({"ledger", "init", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--origin",
                               "lm.example/l"}).exit_code, 0);
    ASSERT_TRUE(testing::WriteText(dir_.File("corpus.txt"), Corpus()).ok());
  }
  void TearDown() override {
    if (server_.pid > 0) {
      ::kill(server_.pid, SIGTERM);
      ::waitpid(server_.pid, nullptr, 0);
    }
  }
  void WriteJob(const std::string& license, bool commercial) {
    json job = {{"name", "fruit-lm"},
                {"teachers", json::array()},
                {"datasets", {{{"id", "fruit"}, {"license", license}, {"path", "corpus.txt"}}}},
                {"student", {{"name", "fruit-lm"}, {"model_type", "llm"}}},
                {"use", {{"commercial", commercial}, {"distribution", commercial ? "open_weights" : "internal"},
                         {"purpose", commercial ? "production" : "research"}}},
                {"training", {{"arch", "byte-gru"}, {"embed", 16}, {"hidden", {64}}, {"seq_len", 32}, {"batch_size", 16}, {"steps", 120}}},
                {"output", {{"model", "fruit-lm.pt"}}}};
    ASSERT_TRUE(testing::WriteText(dir_.File("lm.job.json"), job.dump()).ok());
  }
  // A token-level KD job distilling fruit-kd from the local LM teacher at
  // `teacher_file` (a file or a model directory) for `steps` steps.
  void WriteKdJob(const std::string& teacher_file, int steps) {
    json kd = {{"name", "fruit-kd"},
               {"teachers", {{{"id", "fruit-lm"}, {"kind", "local"}, {"license", "MIT"}, {"model_file", teacher_file}}}},
               {"datasets", {{{"id", "fruit"}, {"license", "MIT"}, {"path", "corpus.txt"}}}},
               {"student", {{"name", "fruit-kd"}, {"model_type", "llm"}}},
               {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}},
               {"training", {{"arch", "byte-gru"}, {"embed", 16}, {"hidden", {32}}, {"seq_len", 32}, {"batch_size", 8}, {"steps", steps},
                             {"loss", "kd"}, {"temperature", 2}, {"alpha", 0.9}}},
               {"output", {{"model", "fruit-kd.pt"}}}};
    ASSERT_TRUE(testing::WriteText(dir_.File("kd.job.json"), kd.dump()).ok());
  }
  TempDir dir_;
  testing::Child server_;
};

// On a terminal (util-linux's script gives one) train-lm shows its steps with
// rate, elapsed and ETA.
TEST_F(TrainLmTest, TrainingShowsProgressOnATerminal) {
  if (!FileExists("/usr/bin/script")) GTEST_SKIP() << "util-linux's script is not installed";
  WriteJob("MIT", false);
  std::string cmd = testing::CliPath();
  for (const std::string& a : {std::string("train-lm"), std::string("--job"), dir_.File("lm.job.json"), std::string("--ledger"), dir_.File("l.db"),
                               std::string("--key"), dir_.File("k/ledger.key")}) {
    cmd += " '" + a + "'";
  }
  auto tty = testing::Run({"/usr/bin/script", "-qec", cmd + " >/dev/null", "/dev/null"});
  EXPECT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_NE(tty.out.find("training fruit"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("120/120 steps"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find(" elapsed"), std::string::npos) << tty.out;
}

TEST_F(TrainLmTest, TrainServeCollectVerify) {
  WriteJob("MIT", false);
  auto t = testing::RunCli({"train-lm", "--job", dir_.File("lm.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.out << t.err;
  json s = json::parse(t.out);
  EXPECT_TRUE(s["trained"].get<bool>());
  EXPECT_LT(s["heldout_bits_per_byte"].get<double>(), 3.0);
  EXPECT_EQ(t.err.find("elapsed"), std::string::npos) << t.err;  // not a terminal: no progress line
  const std::string run = s["run"];
  // A completed, recorded run: attestable like any other.
  auto a = testing::RunCli({"attest", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--run", run, "--model",
                            dir_.File("fruit-lm.pt"), "--out", dir_.File("lm.bundle.json")});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto v = testing::RunCli({"verify", "--model", dir_.File("fruit-lm.pt"), "--bundle", dir_.File("lm.bundle.json"), "--vkey", dir_.File("k/ledger.vkey")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;

  // Serve it and collect a transcript from it, live.
  server_ = testing::Spawn({testing::CliPath(), "serve-teacher", "--model", dir_.File("fruit-lm.pt"), "--port", "0"}, false, false);
  std::string line;
  char c;
  while (::read(server_.out, &c, 1) == 1 && c != '\n') line.push_back(c);
  const size_t colon = line.rfind(':');
  ASSERT_NE(colon, std::string::npos) << line;
  const std::string port = line.substr(colon + 1);
  {
    // OpenAI's logprobs, as `attribute --distance jsd` reads them.
    ChatClientOptions co;
    co.base_url = "http://127.0.0.1:" + port;
    ChatClient client(co);
    ChatResult lp = client.Complete({{"model", "fruit-lm"}, {"messages", {{{"role", "user"}, {"content", "app"}}}}, {"max_tokens", 4},
                                     {"temperature", 0}, {"logprobs", true}, {"top_logprobs", 5}});
    ASSERT_TRUE(lp.error.empty()) << lp.error;
    const std::string text = lp.body["choices"][0]["message"]["content"];
    const json& content = lp.body["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(content.size(), text.size()) << lp.body.dump();
    for (size_t i = 0; i < content.size(); ++i) {
      const json& tops = content[i]["top_logprobs"];
      ASSERT_EQ(tops.size(), 5u);
      EXPECT_EQ(content[i]["token"], std::string(1, text[i]));
      EXPECT_EQ(tops[0]["token"], content[i]["token"]) << "greedy: the answer's byte is the most likely one";
      double mass = 0;
      for (size_t k = 0; k < tops.size(); ++k) {
        EXPECT_LE(tops[k]["logprob"].get<double>(), 0.0);
        if (k > 0) EXPECT_GE(tops[k - 1]["logprob"].get<double>(), tops[k]["logprob"].get<double>());
        mass += std::exp(tops[k]["logprob"].get<double>());
      }
      EXPECT_LE(mass, 1.0 + 1e-5);
    }
    ChatResult plain = client.Complete({{"model", "fruit-lm"}, {"messages", {{{"role", "user"}, {"content", "app"}}}}, {"max_tokens", 4}});
    EXPECT_FALSE(plain.body["choices"][0].contains("logprobs"));
    // The legacy completions endpoint scores an echoed prompt, as vLLM does
    // (what `attribute --positions probe` reads): one token a byte, nothing
    // for the first, and the distribution that generated a byte is the one
    // that scores it when it is part of the prompt.
    ChatResult gen = client.Post("/v1/completions", {{"model", "fruit-lm"}, {"prompt", "app"}, {"max_tokens", 1}, {"temperature", 0},
                                                     {"echo", true}, {"logprobs", 5}});
    ASSERT_TRUE(gen.error.empty()) << gen.error;
    const std::string echoed = gen.body["choices"][0]["text"];
    ASSERT_EQ(echoed.size(), 4u) << gen.body.dump();
    EXPECT_EQ(echoed.substr(0, 3), "app");
    const json& glp = gen.body["choices"][0]["logprobs"];
    ASSERT_EQ(glp["tokens"].size(), 4u) << glp.dump();
    EXPECT_TRUE(glp["token_logprobs"][0].is_null());
    EXPECT_TRUE(glp["top_logprobs"][0].is_null());
    EXPECT_EQ(glp["text_offset"], json({0, 1, 2, 3}));
    ChatResult scored = client.Post("/v1/completions", {{"model", "fruit-lm"}, {"prompt", echoed}, {"max_tokens", 0}, {"echo", true},
                                                        {"logprobs", 5}});
    ASSERT_TRUE(scored.error.empty()) << scored.error;
    const json& slp = scored.body["choices"][0]["logprobs"];
    EXPECT_EQ(scored.body["choices"][0]["text"], echoed) << "max_tokens 0 with echo: the prompt alone, scored";
    ASSERT_EQ(slp["tokens"].size(), 4u);
    for (size_t j = 1; j < 4; ++j) {
      const json& tops = slp["top_logprobs"][j];
      ASSERT_EQ(tops.size(), 5u) << slp.dump();
      double mass = 0;
      for (const auto& [token, lp] : tops.items()) mass += std::exp(lp.get<double>());
      EXPECT_LE(mass, 1.0 + 1e-5);
      const std::string tok(1, echoed[j]);
      // The scored byte's own logprob: the one its top entry shows, or (not
      // among the top 5) no more than the least of them. The generated byte
      // (j = 3, greedy) is the most likely one, so among them.
      double least = 0;
      for (const auto& [token, lp] : tops.items()) least = std::min(least, lp.get<double>());
      if (j == 3) ASSERT_TRUE(tops.contains(tok)) << "the greedy byte is among the top logprobs: " << tops.dump();
      if (tops.contains(tok)) {
        EXPECT_FLOAT_EQ(tops[tok].get<double>(), slp["token_logprobs"][j].get<double>());
      } else {
        EXPECT_LE(slp["token_logprobs"][j].get<double>(), least + 1e-6) << j << " " << tops.dump();
      }
      for (const auto& [token, lp] : glp["top_logprobs"][j].items()) EXPECT_NEAR(tops[token].get<double>(), lp.get<double>(), 1e-5) << j << token;
    }
    EXPECT_NEAR(slp["token_logprobs"][3].get<double>(), glp["token_logprobs"][3].get<double>(), 1e-5);
    EXPECT_EQ(client.Post("/v1/completions", {{"model", "fruit-lm"}, {"prompt", "app"}, {"logprobs", 21}}).http_status, 400);
    EXPECT_EQ(client.Post("/v1/completions", {{"model", "fruit-lm"}, {"prompt", "app"}, {"logprobs", true}}).http_status, 400);
    EXPECT_EQ(client.Post("/v1/completions", {{"model", "fruit-lm"}, {"prompt", "app"}, {"logprobs", 2}, {"stream", true}}).http_status, 400);
  }
  json job = {{"name", "collect-from-fruit-lm"},
              {"teachers", {{{"id", "fruit-lm"}, {"kind", "api"}, {"provider", "distillgate"}, {"model", "fruit-lm"}, {"license", "MIT"},
                             {"base_url", "http://127.0.0.1:" + port}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
  ASSERT_TRUE(testing::WriteText(dir_.File("collect.job.json"), job.dump()).ok());
  std::string prompts;
  for (const char* p : {"app", "ban", "che", "gra"}) prompts += json{{"messages", {{{"role", "user"}, {"content", p}}}}, {"max_tokens", 16}}.dump() + "\n";
  for (int i = 0; i < 36; ++i) {  // sampled answers, for the distillation below
    prompts += json{{"messages", {{{"role", "user"}, {"content", std::string(1, "abcglmp"[i % 7])}}}}, {"max_tokens", 48},
                    {"temperature", 0.7}, {"seed", i}}.dump() + "\n";
  }
  ASSERT_TRUE(testing::WriteText(dir_.File("prompts.jsonl"), prompts).ok());
  auto col = testing::RunCli({"transcripts", "collect", "--job", dir_.File("collect.job.json"), "--prompts", dir_.File("prompts.jsonl"),
                              "--out-dir", dir_.File("out"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--json"});
  ASSERT_EQ(col.exit_code, 0) << col.out << col.err;
  json cs = json::parse(col.out);
  EXPECT_EQ(cs["exchanges"], 40);
  EXPECT_EQ(cs["failed_calls"], 0);
  const std::string out = *ReadFile(dir_.File("out/batch_output.jsonl"));
  EXPECT_NE(out.find("\"model\":\"fruit-lm\""), std::string::npos);
  EXPECT_NE(out.find("\"completion_tokens\":16"), std::string::npos);
  auto tv = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", cs["run"].get<std::string>()});
  EXPECT_EQ(tv.exit_code, 0) << tv.out << tv.err;

  // Sequence-level distillation of a smaller student from that transcript.
  json dj = {{"name", "fruit-student"},
             {"teachers", {{{"id", "fruit-lm"}, {"kind", "api"}, {"provider", "distillgate"}, {"model", "fruit-lm"}, {"license", "MIT"},
                            {"model_file", "fruit-lm.pt"},
                            {"transcript", {{"format", "openai-batch"}, {"path", "out/batch_input.jsonl"}, {"output", "out/batch_output.jsonl"}}}}}},
             {"datasets", {{{"id", "fruit"}, {"license", "MIT"}, {"path", "corpus.txt"}}}},
             {"student", {{"name", "fruit-student"}, {"model_type", "llm"}}},
             {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}},
             {"training", {{"arch", "byte-gru"}, {"embed", 16}, {"hidden", {32}}, {"seq_len", 32}, {"batch_size", 16}, {"steps", 80}}},
             {"output", {{"model", "fruit-student.pt"}}}};
  ASSERT_TRUE(testing::WriteText(dir_.File("distill.job.json"), dj.dump()).ok());
  auto d = testing::RunCli({"distill-lm", "--job", dir_.File("distill.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")});
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  json ds = json::parse(d.out);
  ASSERT_TRUE(ds["trained"].get<bool>());
  const json& m = ds["metrics"];
  // The student trained on the teacher's answers matches the teacher's next
  // bytes far better than the baseline trained on as many raw corpus bytes.
  EXPECT_GT(m["student_agreement"].get<double>(), m["baseline_agreement"].get<double>() + 0.3) << m.dump();
  EXPECT_GT(m["student_heldout_agreement"].get<double>(), m["baseline_heldout_agreement"].get<double>()) << m.dump();
  // The teacher, trained on the whole corpus, models held-out text better than either small student.
  EXPECT_LT(m["teacher_heldout_bits_per_byte"].get<double>(), m["student_heldout_bits_per_byte"].get<double>()) << m.dump();
  EXPECT_LT(m["teacher_heldout_bits_per_byte"].get<double>(), m["baseline_heldout_bits_per_byte"].get<double>()) << m.dump();
  for (const char* k : {"student_heldout_bits_per_byte", "baseline_heldout_bits_per_byte"}) EXPECT_LT(m[k].get<double>(), 8.0) << k;
  EXPECT_TRUE(FileExists(dir_.File("fruit-student.pt")));
  EXPECT_EQ(testing::RunCli({"ledger", "verify", "--ledger", dir_.File("l.db"), "--pubkey", dir_.File("k/ledger.vkey")}).exit_code, 0);
  // A transcript edited after it was collected is refused before training.
  std::string edited = *ReadFile(dir_.File("out/batch_output.jsonl"));
  const std::string needle = "\"model\":\"fruit-lm\"";
  edited.replace(edited.find(needle), needle.size(), "\"model\":\"other-lm\"");
  ASSERT_TRUE(testing::WriteText(dir_.File("out/batch_output.jsonl"), edited).ok());
  auto refused = testing::RunCli({"distill-lm", "--job", dir_.File("distill.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("other-lm"), std::string::npos) << "err: " << refused.err << " out: " << refused.out;
}

// serve-teacher killed while `transcripts collect` is calling it: every call
// made so far stays recorded (answered or failed), the run ends failed, and
// the transcript still matches the ledger.
TEST_F(TrainLmTest, ServeTeacherKilledMidRunLosesNoRecordedCall) {
  WriteJob("MIT", false);
  ASSERT_EQ(testing::RunCli({"train-lm", "--job", dir_.File("lm.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")}).exit_code, 0);
  server_ = testing::Spawn({testing::CliPath(), "serve-teacher", "--model", dir_.File("fruit-lm.pt"), "--port", "0"}, false, false);
  std::string line;
  char c;
  while (::read(server_.out, &c, 1) == 1 && c != '\n') line.push_back(c);
  const std::string port = line.substr(line.rfind(':') + 1);
  json job = {{"name", "collect-then-kill"},
              {"teachers", {{{"id", "fruit-lm"}, {"kind", "api"}, {"provider", "distillgate"}, {"model", "fruit-lm"}, {"license", "MIT"},
                             {"base_url", "http://127.0.0.1:" + port}}}},
              {"student", {{"name", "s"}, {"model_type", "llm"}}},
              {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
  ASSERT_TRUE(testing::WriteText(dir_.File("kill.job.json"), job.dump()).ok());
  std::string prompts;
  for (int i = 0; i < 60; ++i) prompts += json{{"messages", {{{"role", "user"}, {"content", "a"}}}}, {"max_tokens", 8}}.dump() + "\n";
  ASSERT_TRUE(testing::WriteText(dir_.File("kill.jsonl"), prompts).ok());
  // 20 calls a second: the run takes ~3 s; the server dies after ~1 s.
  testing::Child collect = testing::Spawn({testing::CliPath(), "transcripts", "collect", "--job", dir_.File("kill.job.json"), "--prompts",
                                           dir_.File("kill.jsonl"), "--out-dir", dir_.File("kill"), "--ledger", dir_.File("l.db"), "--key",
                                           dir_.File("k/ledger.key"), "--rate", "20", "--retries", "1", "--timeout", "2", "--json"},
                                          false, false);
  ::usleep(1000 * 1000);
  ::kill(server_.pid, SIGKILL);
  ::waitpid(server_.pid, nullptr, 0);
  server_.pid = -1;
  std::string out;
  while (::read(collect.out, &c, 1) == 1) out.push_back(c);
  int status = 0;
  ::waitpid(collect.pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << out;  // the endpoint went away
  json s = json::parse(out);
  EXPECT_EQ(s["status"], "failed");
  EXPECT_GT(s["exchanges"].get<int>() - s["failed_calls"].get<int>(), 5) << out;  // answered before the kill
  EXPECT_EQ(s["failed_calls"], 3) << out;                                          // then three failures in a row
  auto v = testing::RunCli({"transcripts", "verify", "--ledger", dir_.File("l.db"), "--run", s["run"].get<std::string>()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(testing::RunCli({"ledger", "verify", "--ledger", dir_.File("l.db"), "--pubkey", dir_.File("k/ledger.vkey")}).exit_code, 0);
}

TEST_F(TrainLmTest, TokenLevelKdRecordsEveryTeacherCall) {
  WriteJob("MIT", false);
  ASSERT_EQ(testing::RunCli({"train-lm", "--job", dir_.File("lm.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")}).exit_code, 0);
  WriteKdJob("fruit-lm.pt", 40);
  auto d = testing::RunCli({"distill-lm", "--job", dir_.File("kd.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")});
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  json s = json::parse(d.out);
  EXPECT_EQ(s["teacher_calls"], 40);  // one recorded teacher call per training step
  auto runs = testing::RunCli({"runs", "--ledger", dir_.File("l.db"), "--json"});
  ASSERT_EQ(runs.exit_code, 0);
  bool found = false;
  for (const json& r : json::parse(runs.out)) {
    if (r["run"] != s["run"]) continue;
    found = true;
    EXPECT_EQ(r["teacher_calls"], 40);
    EXPECT_EQ(r["status"], "completed");
  }
  EXPECT_TRUE(found);
  // The calls' root in run_end matches the ledger (attest checks it), and the claim verifies.
  auto a = testing::RunCli({"attest", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--run", s["run"].get<std::string>(),
                            "--model", dir_.File("fruit-kd.pt"), "--out", dir_.File("kd.bundle.json")});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto v = testing::RunCli({"verify", "--model", dir_.File("fruit-kd.pt"), "--bundle", dir_.File("kd.bundle.json"), "--vkey",
                            dir_.File("k/ledger.vkey"), "--ledger", dir_.File("l.db")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// SIGTERM while train-lm trains: the run is closed as interrupted and the
// process exits 143 (128 + SIGTERM).
TEST_F(TrainLmTest, SigtermClosesTheRunAsInterrupted) {
  json job = {{"name", "long-lm"},
              {"teachers", json::array()},
              {"datasets", {{{"id", "fruit"}, {"license", "MIT"}, {"path", "corpus.txt"}}}},
              {"student", {{"name", "long-lm"}, {"model_type", "llm"}}},
              {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}},
              {"training", {{"arch", "byte-gru"}, {"embed", 16}, {"hidden", {64}}, {"seq_len", 32}, {"batch_size", 16}, {"steps", 1000000}}},
              {"output", {{"model", "long-lm.pt"}}}};
  ASSERT_TRUE(testing::WriteText(dir_.File("long.job.json"), job.dump()).ok());
  testing::Child c = testing::Spawn({testing::CliPath(), "train-lm", "--job", dir_.File("long.job.json"), "--ledger", dir_.File("l.db"),
                                     "--key", dir_.File("k/ledger.key")}, false, true);
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {  // until run_start is in the ledger
    auto l = Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly);
    if (l.ok()) {
      for (uint64_t k = 0; k < (*l)->Size().value_or(0); ++k) started |= (*l)->GetLeaf(k)->kind == "dataset_manifest";
    }
    if (!started) ::usleep(50000);
  }
  ASSERT_TRUE(started);
  ::usleep(300000);
  ::kill(c.pid, SIGTERM);
  const testing::CommandResult done = testing::WaitForExit(c);
  ASSERT_FALSE(done.signaled) << "killed by the signal instead of closing the run; stderr: " << done.err;
  EXPECT_EQ(done.exit_code, 143) << done.err;
  EXPECT_NE(done.err.find("SIGTERM"), std::string::npos) << done.err;
  auto runs = testing::RunCli({"runs", "--ledger", dir_.File("l.db"), "--json"});
  json list = json::parse(runs.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["status"], "interrupted") << list.dump();
  EXPECT_EQ(testing::RunCli({"ledger", "verify", "--ledger", dir_.File("l.db"), "--pubkey", dir_.File("k/ledger.vkey")}).exit_code, 0);
}

TEST_F(TrainLmTest, ADeniedCorpusTrainsNothing) {
  WriteJob("CC-BY-NC-4.0", true);  // a non-commercial corpus for a commercial model
  auto t = testing::RunCli({"train-lm", "--job", dir_.File("lm.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")});
  EXPECT_EQ(t.exit_code, 1) << t.out << t.err;
  EXPECT_FALSE(FileExists(dir_.File("fruit-lm.pt")));
}

// --device cuda: trains on the GPU where there is one (the model is saved
// from the CPU and reloads anywhere); elsewhere it is bad input, refused
// before the gate, so the ledger stays as it was.
TEST_F(TrainLmTest, CudaTrainsWhereThereIsAGpuAndIsRefusedElsewhere) {
  WriteJob("MIT", false);
  const bool cuda = TorchDescription().find("CUDA available") != std::string::npos;
  auto t = testing::RunCli({"train-lm", "--job", dir_.File("lm.job.json"), "--ledger", dir_.File("l.db"), "--key",
                            dir_.File("k/ledger.key"), "--device", "cuda", "--json"});
  auto size = testing::RunCli({"ledger", "verify", "--ledger", dir_.File("l.db"), "--pubkey", dir_.File("k/ledger.vkey")});
  if (!cuda) {
    EXPECT_EQ(t.exit_code, 2) << t.out << t.err;
    EXPECT_NE(t.err.find("--device cuda: no CUDA device"), std::string::npos) << t.err;
    EXPECT_FALSE(FileExists(dir_.File("fruit-lm.pt")));
    EXPECT_NE(size.out.find(" 0 entries"), std::string::npos) << size.out;
    return;
  }
  ASSERT_EQ(t.exit_code, 0) << t.out << t.err;
  auto lm = ByteLm::Load(dir_.File("fruit-lm.pt"));
  ASSERT_TRUE(lm.ok()) << lm.status().ToString();
  EXPECT_LT(lm->BitsPerByte(Corpus().substr(0, 2000)), 7.0);  // learnt something (uniform: 8 bits)
}

}  // namespace
// Issue 15: byte-level LM files as attribution MODELs, served on 127.0.0.1
// for the command's duration; recorded, and re-asked from the files again.
TEST_F(TrainLmTest, LmFilesAreServedForAttributionAndReaskedOnVerify) {
  for (int seed = 1; seed <= 4; ++seed) {
    json job = {{"name", "lm-" + std::to_string(seed)},
                {"teachers", json::array()},
                {"datasets", {{{"id", "fruit"}, {"license", "MIT"}, {"path", "corpus.txt"}}}},
                {"student", {{"name", "lm-" + std::to_string(seed)}, {"model_type", "llm"}}},
                {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}},
                {"training", {{"arch", "byte-gru"}, {"embed", 16}, {"hidden", {32}}, {"seq_len", 32}, {"batch_size", 16}, {"steps", 40}, {"seed", seed}}},
                {"output", {{"model", "lm-" + std::to_string(seed) + ".pt"}}}};
    ASSERT_TRUE(testing::WriteText(dir_.File("lm" + std::to_string(seed) + ".job.json"), job.dump()).ok());
    ASSERT_EQ(testing::RunCli({"train-lm", "--job", dir_.File("lm" + std::to_string(seed) + ".job.json"), "--ledger", dir_.File("l.db"), "--key",
                               dir_.File("k/ledger.key")}).exit_code, 0);
  }
  auto r = testing::RunCli({"attribute", "--suspect", dir_.File("lm-1.pt"), "--teacher", "t=" + dir_.File("lm-2.pt"), "--reference",
                            dir_.File("lm-3.pt"), "--reference", dir_.File("lm-4.pt"), "--probe-data", dir_.File("corpus.txt"), "--probes", "20",
                            "--probe-length", "8", "--distance", "jsd", "--json", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")});
  ASSERT_LE(r.exit_code, 1) << r.out << r.err;  // identified or not: the mechanism is under test
  json j = json::parse(r.out);
  EXPECT_EQ(j["queries"], 4 * 40);
  auto v = testing::RunCli({"attribute", "verify", "--ledger", dir_.File("l.db"), "--run", j["run"], "--pubkey", dir_.File("k/ledger.pub"),
                            "--requery", "suspect=" + dir_.File("lm-1.pt")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("ok    requery:suspect: 40 of 40"), std::string::npos) << v.out;
  // Teacher-forced: every model scores the probes themselves; recorded, re-checked and re-asked the same way.
  r = testing::RunCli({"attribute", "--suspect", dir_.File("lm-1.pt"), "--teacher", "t=" + dir_.File("lm-2.pt"), "--reference",
                       dir_.File("lm-3.pt"), "--reference", dir_.File("lm-4.pt"), "--probe-data", dir_.File("corpus.txt"), "--probes", "20",
                       "--probe-length", "8", "--distance", "jsd", "--positions", "probe", "--json", "--ledger", dir_.File("l.db"), "--key",
                       dir_.File("k/ledger.key")});
  ASSERT_LE(r.exit_code, 1) << r.out << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["positions"], "probe");
  EXPECT_EQ(j["queries"], 4 * 40);
  {
    // The last call recorded before run_end: the probe from its second byte, 7 distributions for 8 bytes.
    auto ledger = Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly);
    ASSERT_TRUE(ledger.ok());
    auto size = (*ledger)->Size();
    ASSERT_TRUE(size.ok());
    auto leaf = (*ledger)->GetLeaf(*size - 2);
    ASSERT_TRUE(leaf.ok());
    const json call = json::parse(leaf->data);
    ASSERT_EQ(call["kind"], "teacher_call") << call.dump();
    const std::string prompt = call["body"]["prompt"];
    ASSERT_EQ(prompt.size(), 8u);
    EXPECT_EQ(call["body"]["answer"]["text"], prompt.substr(1));
    EXPECT_EQ(call["body"]["answer"]["positions"].size(), 7u);
  }
  v = testing::RunCli({"attribute", "verify", "--ledger", dir_.File("l.db"), "--run", j["run"], "--pubkey", dir_.File("k/ledger.pub"),
                       "--requery", "t=" + dir_.File("lm-2.pt"), "--json"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  json vj = json::parse(v.out);
  EXPECT_EQ(vj["plan"]["options"]["positions"], "probe");
  bool requeried = false;
  for (const auto& c : vj["checks"]) requeried |= c["name"] == "requery:t" && c["ok"] == true;
  EXPECT_TRUE(requeried) << vj["checks"].dump(2);
  // Teacher-forced scoring needs distributions: prefix distance refused.
  r = testing::RunCli({"attribute", "--suspect", dir_.File("lm-1.pt"), "--teacher", "t=" + dir_.File("lm-2.pt"), "--reference",
                       dir_.File("lm-3.pt"), "--reference", dir_.File("lm-4.pt"), "--probe-data", dir_.File("corpus.txt"), "--positions", "probe"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--distance jsd"), std::string::npos) << r.err;
  // The same file in two roles is refused.
  r = testing::RunCli({"attribute", "--suspect", dir_.File("lm-1.pt"), "--teacher", "t=" + dir_.File("lm-1.pt"), "--reference",
                       dir_.File("lm-3.pt"), "--reference", dir_.File("lm-4.pt"), "--probe-data", dir_.File("corpus.txt")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}


// The byte-LM commands take model directories as well as files: an output
// ending in "/" is a directory holding model.pt, a teacher's model_file may be
// a directory holding one checkpoint, and attest/verify take the directory.
// A directory with two checkpoints is ambiguous: usage error, nothing recorded.
TEST_F(TrainLmTest, ModelDirectoriesAreTrainedDistilledAttestedAndVerified) {
  WriteJob("MIT", false);
  json job = json::parse(*ReadFile(dir_.File("lm.job.json")));
  job["output"]["model"] = "lmdir/";
  ASSERT_TRUE(testing::WriteText(dir_.File("lm.job.json"), job.dump()).ok());
  auto t = testing::RunCli({"train-lm", "--job", dir_.File("lm.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--json"});
  ASSERT_EQ(t.exit_code, 0) << t.out << t.err;
  json s = json::parse(t.out);
  EXPECT_TRUE(FileExists(dir_.File("lmdir/model.pt")));
  EXPECT_TRUE(s["model"].contains("directory")) << s.dump();
  auto a = testing::RunCli({"attest", "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key"), "--run", s["run"].get<std::string>(),
                            "--model", dir_.File("lmdir"), "--out", dir_.File("dir.bundle.json")});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto v = testing::RunCli({"verify", "--model", dir_.File("lmdir"), "--bundle", dir_.File("dir.bundle.json"), "--vkey", dir_.File("k/ledger.vkey")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;

  WriteKdJob("lmdir", 10);
  auto d = testing::RunCli({"distill-lm", "--job", dir_.File("kd.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")});
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  EXPECT_EQ(json::parse(d.out)["teacher_calls"], 10);

  // Two checkpoints in the teacher's directory: which one taught is unclear.
  ASSERT_TRUE(testing::WriteText(dir_.File("lmdir/other.pt"), *ReadFile(dir_.File("lmdir/model.pt")) + "x").ok());
  auto size = [&] {
    auto l = Ledger::Open(dir_.File("l.db"), Ledger::Mode::kReadOnly);
    return l.ok() ? (*l)->Size().value_or(0) : 0;
  };
  const uint64_t before = size();
  ASSERT_GT(before, 0u);
  auto bad = testing::RunCli({"distill-lm", "--job", dir_.File("kd.job.json"), "--ledger", dir_.File("l.db"), "--key", dir_.File("k/ledger.key")});
  EXPECT_NE(bad.exit_code, 0) << bad.out;
  EXPECT_NE(bad.err.find("lmdir"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_EQ(size(), before);  // not even a decision was recorded
}

}  // namespace dg
