// The distillgate binary end to end: documented exit codes, clear messages,
// and a ledger left unchanged by every refused command.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/encoding.h"
#include "core/file_util.h"
#include "test_util.h"

namespace dg {
namespace {

using testing::RunCli;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = dir_.File("keys");
    ledger_ = dir_.File("l.db");
    auto r = RunCli({"keys", "generate", "--out", keys_, "--name", "cli.example/log"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = RunCli({"ledger", "init", "--ledger", ledger_, "--key", Key(), "--origin", "cli.example/log"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string Key() const { return keys_ + "/ledger.key"; }
  std::string Vkey() const { return keys_ + "/ledger.vkey"; }
  std::string Pub() const { return keys_ + "/ledger.pub"; }
  testing::CommandResult Append(const std::string& input, const std::string& kind = "test") {
    return RunCli({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", kind}, input);
  }
  // The ledger's observable state: size and head note.
  std::string State() {
    auto r = RunCli({"ledger", "checkpoint", "--ledger", ledger_});
    return r.out;
  }
  // Runs a command that must fail with `code`, mention `needle`, and leave
  // the ledger exactly as it was.
  void ExpectRefused(const std::vector<std::string>& args, const std::string& input, int code,
                     const std::string& needle) {
    const std::string before = State();
    auto r = RunCli(args, input);
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(State(), before);
  }

  testing::TempDir dir_;
  std::string keys_, ledger_;
};

TEST_F(CliTest, KeysGenerateWritesThreeFilesWithModes) {
  struct stat st;
  ASSERT_EQ(::stat(Key().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(testing::ReadAll(Pub()).find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_EQ(testing::ReadAll(Vkey()).rfind("cli.example/log+", 0), 0u);
  auto again = RunCli({"keys", "generate", "--out", keys_});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already exists"), std::string::npos);
}

TEST_F(CliTest, FullRoundTrip) {
  auto r = Append(R"({"teacher":"t1","n":1})");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
  r = Append("{\"n\":2}\n{\"n\":3}\n\n{\"n\":4}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "4\n");

  r = RunCli({"ledger", "show", "--ledger", ledger_, "--json", "--from", "1", "--to", "3"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
  EXPECT_NE(r.out.find(R"("entry":{"body":{"n":2},"kind":"test"})"), std::string::npos) << r.out;

  const std::string saved = dir_.File("cp.txt");
  testing::WriteAll(saved, State());
  EXPECT_EQ(State().substr(0, 18), "cli.example/log\n4\n");

  r = RunCli({"ledger", "prove", "--ledger", ledger_, "--index", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string proof = dir_.File("proof.json");
  testing::WriteAll(proof, r.out);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["leaf_index"], 2);
  EXPECT_EQ(j["tree_size"], 4);
  EXPECT_EQ(j["proof"].size(), 2u);
  r = RunCli({"proof", "verify", "--proof", proof, "--vkey", Vkey()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("OK: entry 2"), std::string::npos);
  r = RunCli({"proof", "verify", "--proof", proof, "--vkey", Pub()});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // A tampered proof fails with exit 1 and says why.
  j["leaf_index"] = 3;
  testing::WriteAll(proof, j.dump());
  r = RunCli({"proof", "verify", "--proof", proof, "--vkey", Vkey()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("verification failed"), std::string::npos) << r.err;
  r = RunCli({"proof", "verify", "--proof", proof, "--vkey", Vkey(), "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(nlohmann::json::parse(r.out)["verified"].get<bool>()) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["index"], 3);

  r = RunCli({"ledger", "consistency", "--ledger", ledger_, "--old", "1"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(r.out)["new_size"], 4);

  ASSERT_EQ(Append(R"({"n":5})").exit_code, 0);
  r = RunCli({"ledger", "verify", "--ledger", ledger_, "--pubkey", Vkey(), "--since", saved});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("verifies: 5 entries"), std::string::npos) << r.out;
  r = RunCli({"ledger", "verify", "--ledger", ledger_, "--pubkey", Pub(), "--json"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(r.out)["ok"], true);
}

// An outsider checks a checkpoint signature with the OpenSSL command line
// alone, as docs/ledger-format.md §3 describes.
TEST_F(CliTest, OpensslCliVerifiesCheckpointSignature) {
  ASSERT_EQ(Append(R"({"n":1})").exit_code, 0);
  const std::string note = State();
  const size_t split = note.rfind("\n\n");
  ASSERT_NE(split, std::string::npos);
  const std::string body = note.substr(0, split + 1);
  const std::string line = note.substr(split + 2);
  const std::string b64 = line.substr(line.rfind(' ') + 1, line.size() - line.rfind(' ') - 2);
  auto blob = Base64Decode(b64);
  ASSERT_TRUE(blob && blob->size() == 68);
  testing::WriteAll(dir_.File("body"), body);
  testing::WriteAll(dir_.File("sig"), blob->substr(4));
  const std::vector<std::string> cmd = {"/usr/bin/openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", Pub(),
                                        "-in", dir_.File("body"), "-sigfile", dir_.File("sig")};
  auto r = testing::Run(cmd);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Signature Verified Successfully"), std::string::npos) << r.out;
  testing::WriteAll(dir_.File("body"), body + " ");
  EXPECT_NE(testing::Run(cmd).exit_code, 0);
}

TEST_F(CliTest, VerifyFailsWithExitOneUnderAnotherKey) {
  ASSERT_EQ(Append(R"({"n":1})").exit_code, 0);
  ASSERT_EQ(RunCli({"keys", "generate", "--out", dir_.File("other"), "--name", "cli.example/log"}).exit_code, 0);
  auto r = RunCli({"ledger", "verify", "--ledger", ledger_, "--pubkey", dir_.File("other/ledger.vkey")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("problem(s) found"), std::string::npos) << r.err;
}

TEST_F(CliTest, MalformedJsonIsRefused) {
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test"}, "{\"a\": ", 2,
                "malformed JSON");
  const std::string f = dir_.File("bad.json");
  testing::WriteAll(f, "{\"a\":1,\"a\":2}");
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test", "--json", f}, "", 2,
                f + ": duplicate object key \"a\"");
}

TEST_F(CliTest, JsonLinesErrorNamesTheLineAndAppendsNothing) {
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test"},
                "{\"n\":1}\n{\"n\":2}\n{\"n\":\n", 2, "<stdin>:3:");
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test"},
                "{\"n\":1}\n[1,2]\n", 2, "<stdin>:2: expected a JSON object");
}

TEST_F(CliTest, NonObjectEntriesAndBadValuesAreRefused) {
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test"}, "[1,2,3]", 2,
                "expected a JSON object");
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test"}, "42", 2,
                "expected a JSON object");
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test"},
                R"({"big":18014398509481984})", 2, "/big");
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "Not A Kind"}, "{}", 2,
                "entry kind");
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test"}, "", 2, "no entries");
}

TEST_F(CliTest, WrongOrExposedKeysAreRefused) {
  ASSERT_EQ(RunCli({"keys", "generate", "--out", dir_.File("k2"), "--name", "cli.example/log"}).exit_code, 0);
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", dir_.File("k2/ledger.key"), "--kind", "t"}, "{}",
                2, "does not match this ledger's key");
  ::chmod(Key().c_str(), 0644);
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "t"}, "{}", 2, "mode 0644");
  ::chmod(Key().c_str(), 0600);
  const std::string pub_as_key = dir_.File("pub-as-key.pem");
  ASSERT_TRUE(WriteFileAtomic(pub_as_key, testing::ReadAll(Pub()), 0600, true).ok());
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", pub_as_key, "--kind", "t"}, "{}", 2,
                "not a PEM private key");
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", dir_.File("none.key"), "--kind", "t"}, "{}", 2,
                "not found");
  ExpectRefused({"ledger", "verify", "--ledger", ledger_, "--pubkey", Key()}, "", 2, "is a private key");
}

TEST_F(CliTest, MissingReadOnlyAndForeignLedgers) {
  auto r = RunCli({"ledger", "append", "--ledger", dir_.File("nope.db"), "--key", Key(), "--kind", "t"}, "{}");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no ledger here"), std::string::npos) << r.err;
  EXPECT_FALSE(FileExists(dir_.File("nope.db")));

  ::chmod(ledger_.c_str(), 0444);
  const std::string bytes = testing::ReadAll(ledger_);
  ExpectRefused({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "t"}, "{}", 3, "read-only");
  EXPECT_EQ(testing::ReadAll(ledger_), bytes);
  ::chmod(ledger_.c_str(), 0644);

  testing::WriteAll(dir_.File("junk.db"), "this is not sqlite at all, not even close; padding padding padding");
  r = RunCli({"ledger", "show", "--ledger", dir_.File("junk.db")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a distillgate ledger"), std::string::npos) << r.err;

  r = RunCli({"ledger", "init", "--ledger", ledger_, "--key", Key(), "--origin", "cli.example/log"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already exists"), std::string::npos);
}

TEST_F(CliTest, UsageErrorsExitTwoAndHelpExitsZero) {
  EXPECT_EQ(RunCli({}).exit_code, 2);
  EXPECT_EQ(RunCli({"ledger"}).exit_code, 2);
  EXPECT_EQ(RunCli({"ledger", "append", "--kind", "x"}).exit_code, 2);
  EXPECT_EQ(RunCli({"ledger", "prove", "--ledger", ledger_, "--index", "notanumber"}).exit_code, 2);
  EXPECT_EQ(RunCli({"frobnicate"}).exit_code, 2);
  auto h = RunCli({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("Exit codes"), std::string::npos);
  for (const char* sub : {"keys", "ledger", "proof", "demo"}) {
    auto r = RunCli({sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
  }
  auto r = RunCli({"ledger", "verify", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--since"), std::string::npos);
}

TEST_F(CliTest, ProveRangeErrors) {
  ASSERT_EQ(Append(R"({"n":1})").exit_code, 0);
  auto r = RunCli({"ledger", "prove", "--ledger", ledger_, "--index", "1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not in a tree of size 1"), std::string::npos) << r.err;
  r = RunCli({"ledger", "consistency", "--ledger", ledger_, "--old", "5"});
  EXPECT_EQ(r.exit_code, 2);
  const std::string p = dir_.File("p.json");
  testing::WriteAll(p, R"({"leaf_index":0,"tree_size":1,"leaf_hash":"abc","proof":[],"checkpoint":""})");
  r = RunCli({"proof", "verify", "--proof", p, "--vkey", Vkey()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/leaf_hash"), std::string::npos) << r.err;
}

// A new user's typo gets the nearest command, not "A subcommand is required";
// --version and `help COMMAND` work, for the trainer's commands too.
TEST_F(CliTest, ATypoNamesTheNearestCommandAndHelpAndVersionWork) {
  auto r = RunCli({"chek"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command \"chek\"; did you mean `check`?"), std::string::npos) << r.err;
  r = RunCli({"ledgr", "verify"});
  EXPECT_NE(r.err.find("did you mean `ledger`?"), std::string::npos) << r.err;
  r = RunCli({"qqqqqqqq"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << r.err;
  r = RunCli({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("distillgate ", 0), 0u) << r.out;
  r = RunCli({"help", "ledger", "verify"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("ledger verify"), std::string::npos) << r.out;
}

// The trainer's commands (run by distillgate-train) get the same help and
// the same nearest-command hint.
TEST_F(CliTest, TheTrainersCommandsHaveHelpAndTheNearestCommandToo) {
  const std::string cli = testing::CliPath();
  if (!FileExists(cli.substr(0, cli.rfind('/') + 1) + "distillgate-train")) {
    GTEST_SKIP() << "this build has no trainer (DISTILLGATE_WITH_TORCH=OFF): the auditor has no run command";
  }
  auto r = RunCli({"help", "run"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--force"), std::string::npos) << r.out;
  r = RunCli({"rnu"});
  EXPECT_NE(r.err.find("did you mean `run`?"), std::string::npos) << r.err;
}

// `license show` is readable by default, JSON with --json; `ledger append`
// takes its entries with --input (--json, the old name, still works).
TEST_F(CliTest, LicenseShowIsASummaryAndAppendTakesInput) {
  auto r = RunCli({"license", "show", "llama3.1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("LicenseRef-Llama-3.1-Community — Llama 3.1 Community License Agreement\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\n  display: Built with Llama\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(1.b.i, https://github.com/meta-llama/"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("{"), std::string::npos);  // not JSON
  auto j = RunCli({"license", "show", "llama3.1", "--json"});
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(j.out)["id"], "LicenseRef-Llama-3.1-Community");
  auto typo = RunCli({"license", "show", "llama3.l"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("did you mean \"llama3.1\"?"), std::string::npos) << typo.err;
  const std::string f = dir_.File("entry.json");
  testing::WriteAll(f, "{\"note\": \"one\"}");
  for (const char* flag : {"--input", "--json"}) {
    auto a = RunCli({"ledger", "append", "--ledger", ledger_, "--key", Key(), "--kind", "test", flag, f});
    EXPECT_EQ(a.exit_code, 0) << flag << ": " << a.err;
  }
  EXPECT_EQ(RunCli({"ledger", "verify", "--ledger", ledger_, "--vkey", Vkey()}).exit_code, 0);
}

// The README's main job, on small subsets: it must run end to end twice
// (the second run reuses the teacher and extends the saved checkpoint).
TEST_F(CliTest, DemoRunsEndToEndAndIsRepeatable) {
  if (!FileExists("/usr/share/datasets/fashion-mnist")) {
    GTEST_SKIP() << "/usr/share/datasets/fashion-mnist is absent: install dataset-fashion-mnist (scripts/setup.sh does)";
  }
  const std::vector<std::string> args = {"demo", "--dir", dir_.path(), "--quick"};
  auto r = RunCli(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ledger verifies"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verifies offline against the signed checkpoint"), std::string::npos) << r.out;
  // The torch-free auditor build has no trainer: its demo records the
  // dataset files instead, and there is no student to attest.
  const std::string cli = testing::CliPath();
  const bool have_trainer = FileExists(cli.substr(0, cli.rfind('/') + 1) + "distillgate-train");
  if (have_trainer) {
    EXPECT_NE(r.out.find("checks hold"), std::string::npos) << r.out;
    // The demo's attestation verifies with the CLI, against the model it wrote.
    auto v = RunCli({"verify", "--model", dir_.File("distillgate-student.pt"), "--bundle", dir_.File("distillgate-student.bundle.json"),
                     "--vkey", dir_.File("distillgate-keys/ledger.vkey"), "--ledger", dir_.File("distillgate.ledger")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    // The EU training-content summary of the student names its teacher, and
    // its proof pointer is an entry whose inclusion proof verifies offline.
    const size_t at = r.out.find("EU training-content summary: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const size_t start = at + std::strlen("EU training-content summary: ");
    const std::string stem = r.out.substr(start, r.out.find(".{md,json}", start) - start);
    auto text = ReadFile(stem + ".json");
    ASSERT_TRUE(text.ok()) << stem;
    const nlohmann::json eu = nlohmann::json::parse(*text);
    const nlohmann::json* models = nullptr;
    for (const auto& f : eu["sections"][1]["fields"]) {
      if (f["id"] == "2.5.generating_models") models = &f;
    }
    ASSERT_NE(models, nullptr);
    EXPECT_EQ((*models)["value"][0]["id"], "fmnist-cnn-teacher");
    EXPECT_GT((*models)["value"][0]["calls"]["count"].get<int>(), 0);
    const nlohmann::json& pointer = (*models)["evidence"].back();
    EXPECT_EQ(pointer["kind"], "run_end");
    auto prove = RunCli({"ledger", "prove", "--ledger", dir_.File("distillgate.ledger"), "--index", pointer["ledger_index"].dump()});
    ASSERT_EQ(prove.exit_code, 0) << prove.err;
    EXPECT_EQ(nlohmann::json::parse(prove.out)["leaf_hash"], pointer["leaf_hash"]);
    ASSERT_TRUE(WriteFileAtomic(dir_.File("pointer-proof.json"), prove.out, 0644, false).ok());
    auto pv = RunCli({"proof", "verify", "--proof", dir_.File("pointer-proof.json"), "--vkey", dir_.File("distillgate-keys/ledger.vkey")});
    EXPECT_EQ(pv.exit_code, 0) << pv.out << pv.err;
    auto pj = RunCli({"proof", "verify", "--proof", dir_.File("pointer-proof.json"), "--vkey", dir_.File("distillgate-keys/ledger.vkey"), "--json"});
    ASSERT_EQ(pj.exit_code, 0) << pj.err;
    EXPECT_EQ(nlohmann::json::parse(pj.out)["index"], pointer["ledger_index"]);
    EXPECT_TRUE(nlohmann::json::parse(pj.out)["verified"].get<bool>());
    EXPECT_NE(ReadFile(stem + ".md")->find("fmnist-cnn-teacher"), std::string::npos);
  } else {
    EXPECT_NE(r.out.find("this build has no trainer"), std::string::npos) << r.out;
    EXPECT_FALSE(FileExists(dir_.File("distillgate-student.bundle.json")));
  }
  r = RunCli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("consistent with the previous run's checkpoint"), std::string::npos) << r.out;
  // The demo wrote a project configuration: a `check` run in its directory,
  // told nothing, decides under the demo's policy into the demo's ledger and
  // says which configuration it used.
  ASSERT_TRUE(FileExists(dir_.File("distillgate.toml")));
  auto in_dir = testing::Run({"/usr/bin/env", "-u", "DISTILLGATE_CONFIG", "-C", dir_.path(), cli, "check", "--job", "distillgate-kd.job.json", "--json"});
  ASSERT_EQ(in_dir.exit_code, 0) << in_dir.out << in_dir.err;
  EXPECT_NE(in_dir.err.find("--policy, --ledger, --key from " + dir_.File("distillgate.toml")), std::string::npos) << in_dir.err;
  const uint64_t recorded_at = nlohmann::json::parse(in_dir.out)["ledger_index"];
  auto shown = RunCli({"ledger", "show", "--ledger", dir_.File("distillgate.ledger"), "--from", std::to_string(recorded_at), "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const nlohmann::json entry = nlohmann::json::parse(shown.out.substr(0, shown.out.find('\n')));
  EXPECT_EQ(entry["entry"]["body"]["config"]["path"], dir_.File("distillgate.toml")) << shown.out.substr(0, 2000);
  EXPECT_EQ(entry["entry"]["body"]["config"]["settings"]["policy"], dir_.File("distillgate-policy.json"));
  r = RunCli({"ledger", "verify", "--ledger", dir_.File("distillgate.ledger"), "--pubkey",
              dir_.File("distillgate-keys/ledger.vkey"), "--since", dir_.File("distillgate.ledger.checkpoint")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ::mkdir(dir_.File("other").c_str(), 0755);
  r = RunCli({"demo", "--dir", dir_.File("other"), "--data", dir_.File("absent")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("absent"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dg
