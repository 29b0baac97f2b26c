// DSSE, attestations, offline verification of lineage claims, data proofs.
#include <filesystem>

#include <gtest/gtest.h>

#include "model/model_dir.h"

#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/dsse.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/json_schema.h"
#include "ledger/key_files.h"
#include "attest/attestation.h"
#include "attest/claim_verify.h"
#include "attest/data_proof.h"
#include "claim_checks.h"
#include "synthetic_run.h"
#include "test_util.h"

namespace dg {
namespace {

using json = nlohmann::json;
using testing::MakeSyntheticRun;
using testing::SyntheticRun;
using testing::SyntheticRunOptions;
using testing::TempDir;

// ---- DSSE known answers (DSSE protocol.md, go-securesystemslib) ----

TEST(Dsse, PaeKnownAnswers) {
  EXPECT_EQ(DssePae("", ""), "DSSEv1 0  0 ");
  EXPECT_EQ(HexEncode(DssePae("http://example.com/HelloWorld", "hello world")),
            "44535345763120323920687474703a2f2f6578616d706c652e636f6d2f48656c6c6f576f726c642031312068656c6c6f20776f726c64");
  EXPECT_EQ(DssePae("http://example.com/HelloWorld", "\xe0\xb2\xa0"),
            "DSSEv1 29 http://example.com/HelloWorld 3 \xe0\xb2\xa0");
}

PrivateKey Rfc8032Test1() {
  return *PrivateKey::FromSeed(*HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
}

TEST(Dsse, Ed25519KnownAnswerAndTamper) {
  json env = DsseSign("http://example.com/HelloWorld", "hello world", Rfc8032Test1(), "");
  EXPECT_EQ(env["payload"], "aGVsbG8gd29ybGQ=");
  EXPECT_EQ(env["signatures"][0]["sig"],
            "4DHX3Zn4qpBKvEj7maE8O9u9bjXEnPLLnyXVUJ2PXJR8DSLcL3QDpFvfJOj3pB/SPHsl6Jg4boxsMb6KvuYABw==");
  auto v = DsseVerify(env, Rfc8032Test1().public_key(), "env");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->payload, "hello world");
  json jello = env;
  jello["payload"] = Base64Encode(std::string("jello world"));
  EXPECT_EQ(DsseVerify(jello, Rfc8032Test1().public_key(), "env").status().code(), Status::Code::kVerifyFailed);
  json other_type = env;
  other_type["payloadType"] = "http://example.com/HelloWorlds";
  EXPECT_FALSE(DsseVerify(other_type, Rfc8032Test1().public_key(), "env").ok());
  EXPECT_FALSE(DsseVerify(env, PrivateKey::FromSeed(std::string(32, 'x'))->public_key(), "env").ok());
}

TEST(Dsse, AcceptsUrlSafeBase64) {
  // A payload whose standard base64 has '+' and '/'.
  const std::string payload = "\xfb\xff\xbf\xfe";
  json env = DsseSign("t", payload, Rfc8032Test1(), "");
  std::string p = env["payload"], s = env["signatures"][0]["sig"];
  ASSERT_NE(p.find_first_of("+/"), std::string::npos);
  for (std::string* x : {&p, &s}) {
    for (char& c : *x) c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  env["payload"] = p;
  env["signatures"][0]["sig"] = s;
  auto v = DsseVerify(env, Rfc8032Test1().public_key(), "env");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->payload, payload);
}

TEST(Dsse, MalformedEnvelopesNameThePointer) {
  const PublicKey k = Rfc8032Test1().public_key();
  struct Case {
    json env;
    std::string pointer;
  } cases[] = {
      {json::array(), "/"},
      {{{"payload", "aGk="}, {"signatures", json::array()}}, "/payloadType"},
      {{{"payloadType", "t"}, {"payload", 5}, {"signatures", json::array()}}, "/payload"},
      {{{"payloadType", "t"}, {"payload", "!!"}, {"signatures", json::array({{{"sig", "AA=="}}})}}, "/payload"},
      {{{"payloadType", "t"}, {"payload", "aGk="}, {"signatures", json::array()}}, "/signatures"},
      {{{"payloadType", "t"}, {"payload", "aGk="}, {"signatures", json::array({{{"keyid", "x"}}})}}, "/signatures/0/sig"},
  };
  for (const auto& c : cases) {
    auto v = DsseVerify(c.env, k, "bundle.json");
    ASSERT_FALSE(v.ok()) << c.env.dump();
    EXPECT_EQ(v.status().code(), Status::Code::kInvalidInput) << c.env.dump();
    EXPECT_NE(v.status().message().find("bundle.json: " + c.pointer + ":"), std::string::npos) << v.status().message();
  }
}

// The openssl CLI checks a distillgate DSSE signature exactly as
// docs/attestation.md says: rebuild the PAE bytes, `pkeyutl -verify -rawin`.
TEST(Dsse, OpensslCliVerifiesTheSignature) {
  TempDir dir;
  PrivateKey key = *PrivateKey::FromSeed(std::string(32, 's'));
  json env = DsseSign(kInTotoPayloadType, "{\"_type\":\"https://in-toto.io/Statement/v1\"}", key, "k");
  const std::string pae = DssePae(env["payloadType"].get<std::string>(), *Base64Decode(env["payload"].get<std::string>()));
  ASSERT_TRUE(testing::WriteText(dir.File("pae.bin"), pae).ok());
  ASSERT_TRUE(testing::WriteText(dir.File("sig.bin"), *Base64Decode(env["signatures"][0]["sig"].get<std::string>())).ok());
  ASSERT_TRUE(testing::WriteText(dir.File("pub.pem"), key.public_key().ToPem()).ok());
  auto openssl = [&](const std::string& in) {
    return testing::Run({"/usr/bin/openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", dir.File("pub.pem"),
                         "-in", in, "-sigfile", dir.File("sig.bin")});
  };
  auto ok = openssl(dir.File("pae.bin"));
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("Signature Verified Successfully"), std::string::npos) << ok.out;
  std::string changed = pae;
  changed.back() ^= 1;
  ASSERT_TRUE(testing::WriteText(dir.File("changed.bin"), changed).ok());
  EXPECT_NE(openssl(dir.File("changed.bin")).exit_code, 0);
}

// ---- attestations of a run ----

// The shell block after <!-- openssl-dsse-check --> in docs/attestation.md.
std::string DocumentedOpensslCheck() {
  const std::string doc = *ReadFile(std::string(DG_SOURCE_DIR) + "/docs/attestation.md");
  size_t at = doc.find("<!-- openssl-dsse-check -->");
  if (at == std::string::npos) return "";
  at = doc.find("```sh\n", at);
  const size_t end = doc.find("```", at + 6);
  return doc.substr(at + 6, end - at - 6);
}

class AttestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = MakeSyntheticRun(dir_.path(), Options());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    run_ = *r;
    ASSERT_EQ(run_.verdict.rfind("allow", 0), 0u) << run_.verdict;
    ledger_ = std::move(Ledger::Open(run_.ledger, Ledger::Mode::kReadOnly)).value();
    key_ = *PrivateKey::LoadPemFile(run_.key);
    vkey_ = *NoteVerifier::Parse(*ReadFile(run_.vkey));
    auto st = BuildStatement(*ledger_, {run_.run_id, {run_.model}});
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    statement_ = *st;
    envelope_ = *SignStatement(statement_, key_, DsseKeyId(vkey_));
  }
  virtual SyntheticRunOptions Options() { return {}; }

  ClaimReport Verify(const json& envelope, const std::vector<std::string>& models, const Policy* policy = nullptr,
                     Ledger* ledger = nullptr) {
    auto r = VerifyClaim({models, envelope, "bundle.json", vkey_, policy, ledger});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClaimReport{};
  }
  static std::set<std::string> Failed(const ClaimReport& r) { return testing::FailedChecks(r); }
  json Resign(const json& statement) { return *SignStatement(statement, key_, DsseKeyId(vkey_)); }

  TempDir dir_;
  SyntheticRun run_;
  std::unique_ptr<Ledger> ledger_;
  PrivateKey key_ = *PrivateKey::FromSeed(std::string(32, 'z'));
  NoteVerifier vkey_;
  json statement_, envelope_;
};

TEST_F(AttestTest, TheDocumentedOpensslCommandsVerifyABundle) {
  if (!FileExists("/usr/bin/jq")) GTEST_SKIP() << "jq is not installed (scripts/setup.sh installs it)";
  const std::string script = DocumentedOpensslCheck();
  ASSERT_NE(script.find("openssl pkeyutl -verify -rawin"), std::string::npos) << script;
  ASSERT_TRUE(testing::WriteText(dir_.File("bundle.json"), envelope_.dump(2)).ok());
  auto ok = testing::Run({"/bin/bash", "-c", "set -euo pipefail; cd '" + dir_.path() + "'\n" + script});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("Signature Verified Successfully"), std::string::npos) << ok.out << ok.err;
  json changed = envelope_;
  changed["payloadType"] = "application/vnd.in-toto+jsonx";
  ASSERT_TRUE(testing::WriteText(dir_.File("bundle.json"), changed.dump(2)).ok());
  auto bad = testing::Run({"/bin/bash", "-c", "set -euo pipefail; cd '" + dir_.path() + "'\n" + script});
  EXPECT_NE(bad.exit_code, 0) << bad.out;
}

TEST_F(AttestTest, StatementShape) {
  EXPECT_EQ(envelope_["payloadType"], "application/vnd.in-toto+json");
  EXPECT_EQ(statement_["_type"], "https://in-toto.io/Statement/v1");
  EXPECT_EQ(statement_["predicateType"], kPredicateType);
  EXPECT_EQ(statement_["subject"][0]["digest"]["sha256"], HexEncode(*Sha256File(run_.model)));
  const json& p = statement_["predicate"];
  EXPECT_EQ(p["run"], run_.run_id);
  EXPECT_EQ(p["teacher_calls"]["count"], 40);
  EXPECT_EQ(p["teachers"][0]["license"], "MIT");
  EXPECT_EQ(p["datasets"][0]["records"], 50);
  std::set<std::string> roles;
  for (const json& e : p["ledger"]["entries"]) roles.insert(e["role"]);
  EXPECT_EQ(roles, (std::set<std::string>{"decision", "run_start", "dataset_manifest", "model", "run_end"}));
  // The payload is the statement's canonical JSON.
  EXPECT_EQ(*Base64Decode(envelope_["payload"].get<std::string>()), *Canonicalize(statement_));
}

TEST_F(AttestTest, VerifiesOfflineAndAgainstTheLedger) {
  ClaimReport r = Verify(envelope_, {run_.model});
  EXPECT_TRUE(r.ok()) << r.ToJson().dump(2);
  EXPECT_EQ(r.run_id, run_.run_id);
  Policy policy = *LoadPolicy("");
  auto with_all = Verify(envelope_, {run_.model}, &policy, ledger_.get());
  EXPECT_TRUE(with_all.ok()) << with_all.ToJson().dump(2);
  std::set<std::string> names;
  for (const auto& c : with_all.checks) names.insert(c.name);
  for (const char* n : {"signature", "statement", "subject", "checkpoint", "facts", "model", "job", "decision", "policy", "ledger", "teacher_calls"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

TEST_F(AttestTest, OneChangedByteInTheModelFails) {
  std::string bytes = *ReadFile(run_.model);
  bytes[bytes.size() / 2] ^= 0x01;
  ASSERT_TRUE(testing::WriteText(dir_.File("changed.pt"), bytes).ok());
  ClaimReport r = Verify(envelope_, {dir_.File("changed.pt")});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(Failed(r), (std::set<std::string>{"subject", "model"}));
}

// A student directory (the run's model file beside a card and a config) is
// attested by its model_signing root: the same digest `model sign` puts in
// its signature's subject; changing, adding or removing a file of the
// directory fails the claim.
TEST_F(AttestTest, AModelDirectoryIsASubjectByItsModelSigningRoot) {
  const std::string d = dir_.File("student-dir");
  std::filesystem::create_directories(d);
  std::filesystem::copy_file(run_.model, d + "/model.pt");
  ASSERT_TRUE(testing::WriteText(d + "/README.md", "---\nlicense: mit\n---\n# student\n").ok());
  ASSERT_TRUE(testing::WriteText(d + "/config.json", "{\"model_type\": \"cnn\"}").ok());
  auto st = BuildStatement(*ledger_, {run_.run_id, {d}});
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto m = HashModel(d);
  ASSERT_TRUE(m.ok());
  const json& subject = (*st)["subject"][0];
  EXPECT_EQ(subject["name"], "student-dir");
  EXPECT_EQ(subject["digest"]["sha256"], HexEncode(m->root));
  EXPECT_EQ(subject["annotations"]["model_directory"]["run_model_file"], "model.pt");
  EXPECT_EQ(subject["annotations"]["model_directory"]["files"], 3);
  // The file subject carries the file's model_signing root too.
  EXPECT_EQ(statement_["subject"][0]["annotations"]["model_signing_root"],
            HexEncode(ModelSigningRoot({*Sha256File(run_.model)})));
  const json env = Resign(*st);
  ClaimReport ok = Verify(env, {d});
  EXPECT_TRUE(ok.ok()) << ok.ToJson().dump(2);
  ASSERT_TRUE(testing::WriteText(d + "/config.json", "{\"model_type\": \"cnn2\"}").ok());
  EXPECT_EQ(Failed(Verify(env, {d})), (std::set<std::string>{"subject"}));
  ASSERT_TRUE(testing::WriteText(d + "/config.json", "{\"model_type\": \"cnn\"}").ok());
  ASSERT_TRUE(testing::WriteText(d + "/extra.txt", "x").ok());
  EXPECT_EQ(Failed(Verify(env, {d})), (std::set<std::string>{"subject"}));
  std::filesystem::remove(d + "/extra.txt");
  EXPECT_TRUE(Verify(env, {d}).ok());
  std::filesystem::remove(d + "/model.pt");
  EXPECT_EQ(Failed(Verify(env, {d})), (std::set<std::string>{"subject", "model"}));
  // A directory without the run's model is not a statement about the run.
  auto none = BuildStatement(*ledger_, {run_.run_id, {d}});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("is, or is a directory holding"), std::string::npos);
}

TEST_F(AttestTest, ABundleForAnotherModelFails) {
  // Replay: the signed bundle of run A presented with run B's model.
  TempDir other;
  SyntheticRunOptions o;
  o.student_name = "other-student";
  auto b = MakeSyntheticRun(other.path(), o);
  ASSERT_TRUE(b.ok());
  ClaimReport r = Verify(envelope_, {b->model});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Failed(r).count("subject"));
}

TEST_F(AttestTest, ASubjectThatIsNotTheRunsModelFails) {
  // The key holder attests an extra file; presenting only that file is not
  // a claim about the run's model.
  ASSERT_TRUE(testing::WriteText(dir_.File("readme.txt"), "hello").ok());
  json st = *BuildStatement(*ledger_, {run_.run_id, {run_.model, dir_.File("readme.txt")}});
  ClaimReport r = Verify(Resign(st), {dir_.File("readme.txt")});
  EXPECT_EQ(Failed(r), (std::set<std::string>{"model"}));
}

TEST_F(AttestTest, ABundleSignedByAnotherKeyFails) {
  PrivateKey other = *PrivateKey::FromSeed(std::string(32, 'o'));
  ClaimReport r = Verify(*SignStatement(statement_, other, DsseKeyId(vkey_)), {run_.model});
  EXPECT_EQ(Failed(r), (std::set<std::string>{"signature"}));
}

// Walks every scalar of `j`, calling f(pointer, value).
void ForEachLeaf(json& j, const std::string& ptr, const std::function<void(const std::string&, json&)>& f) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) ForEachLeaf(it.value(), ptr + "/" + it.key(), f);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) ForEachLeaf(j[i], ptr + "/" + std::to_string(i), f);
  } else {
    f(ptr, j);
  }
}

json Mutated(const json& v) {
  if (v.is_string()) {
    std::string s = v;
    if (s.empty()) return "x";
    s[0] = s[0] == 'A' ? 'B' : 'A';  // stays in the base64 and hex-ish alphabets where possible
    return s;
  }
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_number_unsigned()) return v.get<uint64_t>() + 1;
  if (v.is_number_integer()) return v.get<int64_t>() + 1;
  if (v.is_number_float()) return v.get<double>() + 0.5;
  return "null-was-here";
}

TEST_F(AttestTest, EveryEnvelopeFieldIsBound) {
  json env = envelope_;
  int fields = 0;
  ForEachLeaf(env, "", [&](const std::string& ptr, json& v) {
    const json saved = v;
    v = Mutated(saved);
    ClaimReport r = Verify(env, {run_.model});
    EXPECT_FALSE(r.ok()) << ptr;
    EXPECT_TRUE(Failed(r).count("signature")) << ptr;
    v = saved;
    ++fields;
  });
  EXPECT_EQ(fields, 4);  // payload, payloadType, keyid, sig
}

// Even the key holder cannot re-sign a statement whose facts differ from
// the proven ledger entries: every value but the subject's name and the
// builder's version is checked.
TEST_F(AttestTest, EveryStatementValueIsCheckedEvenWhenResigned) {
  json st = statement_;
  int checked = 0;
  ForEachLeaf(st, "", [&](const std::string& ptr, json& v) {
    if (ptr == "/subject/0/name" || ptr == "/predicate/runDetails/builder/version/distillgate") return;
    const json saved = v;
    v = Mutated(saved);
    ClaimReport r = Verify(Resign(st), {run_.model});
    EXPECT_FALSE(r.ok()) << ptr << " = " << v.dump();
    v = saved;
    ++checked;
  });
  EXPECT_GT(checked, 100);
}

// Structural mutations of a re-signed statement (members removed, values
// replaced by other JSON types) never crash the verifier and never verify.
TEST_F(AttestTest, StructurallyBrokenStatementsFailCleanly) {
  std::vector<std::string> pointers;
  std::function<void(const json&, const std::string&)> walk = [&](const json& j, const std::string& ptr) {
    if (!ptr.empty()) pointers.push_back(ptr);
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), ptr + "/" + it.key());
    } else if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) walk(j[i], ptr + "/" + std::to_string(i));
    }
  };
  walk(statement_, "");
  const json replacements[] = {json(), json::array(), json::object(), json(7), json("x")};
  size_t tried = 0;
  for (size_t i = 0; i < pointers.size(); i += 3) {  // every third node keeps the test quick
    const json::json_pointer ptr(pointers[i]);
    if (pointers[i] == "/subject/0/name" || pointers[i].find("/builder/version") != std::string::npos) continue;
    for (const json& r : replacements) {
      json st = statement_;
      if (st.at(ptr) == r) continue;
      st.at(ptr) = r;
      auto rep = VerifyClaim({{run_.model}, Resign(st), "b", vkey_, nullptr, nullptr});
      ASSERT_TRUE(rep.ok()) << pointers[i] << ": " << rep.status().ToString();
      EXPECT_FALSE(rep->ok()) << pointers[i] << " = " << r.dump();
      ++tried;
    }
    json removed = statement_;
    const std::string parent = pointers[i].substr(0, pointers[i].rfind('/'));
    json& container = removed.at(json::json_pointer(parent));
    const std::string last = pointers[i].substr(pointers[i].rfind('/') + 1);
    if (container.is_object()) container.erase(last);
    else container.erase(std::stoul(last));
    auto rep = VerifyClaim({{run_.model}, Resign(removed), "b", vkey_, nullptr, nullptr});
    ASSERT_TRUE(rep.ok()) << pointers[i];
    // Removing the only extra subject or an optional field may leave a valid claim; nothing else may.
    if (pointers[i] != "/predicate/runDetails/builder/version") EXPECT_FALSE(rep->ok()) << "removed " << pointers[i];
    ++tried;
  }
  EXPECT_GT(tried, 200u);
}

TEST_F(AttestTest, ChangedProofHashOrCheckpointIsNamed) {
  json st = statement_;
  json& entries = st["predicate"]["ledger"]["entries"];
  size_t end_i = entries.size() - 1;
  ASSERT_EQ(entries[end_i]["role"], "run_end");
  ASSERT_FALSE(entries[end_i]["proof"].empty());
  std::string h = entries[end_i]["proof"][0];
  h[0] = h[0] == 'A' ? 'B' : 'A';
  entries[end_i]["proof"][0] = h;
  auto failed = Failed(Verify(Resign(st), {run_.model}));
  EXPECT_TRUE(failed.count("entry:run_end@" + std::to_string(entries[end_i]["index"].get<uint64_t>()))) << ::testing::PrintToString(failed);

  json st2 = statement_;
  std::string note = st2["predicate"]["ledger"]["checkpoint"];
  const size_t nl = note.find('\n');
  note[nl + 1] = note[nl + 1] == '9' ? '8' : '9';  // the tree size line
  st2["predicate"]["ledger"]["checkpoint"] = note;
  EXPECT_TRUE(Failed(Verify(Resign(st2), {run_.model})).count("checkpoint"));
}

TEST_F(AttestTest, LedgerChecksCatchARewrittenHistory) {
  // A bundle from another ledger with the same origin and key (a fork) is
  // not consistent with this ledger.
  TempDir fork_dir;
  SyntheticRunOptions o;
  o.teacher_calls = 41;
  auto fork = MakeSyntheticRun(fork_dir.path(), o);
  ASSERT_TRUE(fork.ok());
  auto fork_ledger = Ledger::Open(fork->ledger, Ledger::Mode::kReadOnly);
  json st = *BuildStatement(**fork_ledger, {fork->run_id, {fork->model}});
  ClaimReport offline = Verify(Resign(st), {fork->model});
  EXPECT_TRUE(offline.ok()) << offline.ToJson().dump(2);
  ClaimReport r = Verify(Resign(st), {fork->model}, nullptr, ledger_.get());
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Failed(r).count("ledger")) << r.ToJson().dump(2);
}

TEST_F(AttestTest, PolicyReEvaluation) {
  // Under a policy that denies MIT, the recorded job no longer passes.
  Policy strict = *ParsePolicy({{"mode", "enforce"}, {"denied_licenses", {"MIT"}}}, "strict.json");
  ClaimReport r = Verify(envelope_, {run_.model}, &strict);
  EXPECT_EQ(Failed(r), (std::set<std::string>{"policy"}));
}

TEST_F(AttestTest, AttestRefusesWhatItCannotVouchFor) {
  // A file that is not the run's model.
  ASSERT_TRUE(testing::WriteText(dir_.File("x.bin"), "x").ok());
  auto st = BuildStatement(*ledger_, {run_.run_id, {dir_.File("x.bin")}});
  EXPECT_EQ(st.status().code(), Status::Code::kInvalidInput);
  // Unknown run ids.
  EXPECT_EQ(BuildStatement(*ledger_, {"0123456789abcdef-0", {run_.model}}).status().code(), Status::Code::kInvalidInput);
  EXPECT_EQ(BuildStatement(*ledger_, {"nonsense", {run_.model}}).status().code(), Status::Code::kInvalidInput);
  EXPECT_EQ(BuildStatement(*ledger_, {"99999", {run_.model}}).status().code(), Status::Code::kInvalidInput);
}

TEST(AttestRefused, ARefusedRunHasNoAttestation) {
  TempDir dir;
  SyntheticRunOptions o;
  o.teacher_license = "LicenseRef-Unknown-Terms";
  auto r = MakeSyntheticRun(dir.path(), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->verdict, "needs_review");
  auto ledger = Ledger::Open(r->ledger, Ledger::Mode::kReadOnly);
  auto rec = LoadRunRecord(**ledger, r->run_id);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  EXPECT_EQ(rec->status(), RunStatus::kRefused);
  auto st = BuildStatement(**ledger, {r->run_id, {r->model}});
  EXPECT_EQ(st.status().code(), Status::Code::kInvalidInput);
  EXPECT_NE(st.status().message().find("refused"), std::string::npos);
}

TEST(AttestObligations, NamePrefixIsCheckedAgainstTheStudent) {
  TempDir dir;
  auto r = MakeSyntheticRun(dir.path(), testing::LlamaPrefixedOptions());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->verdict, "allow_with_obligations");
  auto ledger = Ledger::Open(r->ledger, Ledger::Mode::kReadOnly);
  json st = *BuildStatement(**ledger, {r->run_id, {r->model}});
  PrivateKey key = *PrivateKey::LoadPemFile(r->key);
  NoteVerifier v = *NoteVerifier::Parse(*ReadFile(r->vkey));
  auto rep = VerifyClaim({{r->model}, *SignStatement(st, key, DsseKeyId(v)), "b", v, nullptr, nullptr});
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->ok()) << rep->ToJson().dump(2);
  bool saw_prefix = false;
  for (const auto& c : rep->checks) {
    if (c.name == "obligation:name_prefix") {
      saw_prefix = true;
      EXPECT_TRUE(c.ok) << c.detail;
      EXPECT_NE(c.detail.find("\"Llama\""), std::string::npos) << c.detail;
    }
  }
  EXPECT_TRUE(saw_prefix);
}

// ---- data proofs ----

TEST_F(AttestTest, DataProofOfARecordInTheData) {
  const std::string record = "{\"n\":7,\"text\":\"record 7\"}";  // canonical JSON of line 8
  DataProveOptions o;
  o.run_id = run_.run_id;
  o.record = record;
  auto proof = ProveRecord(*ledger_, o);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_EQ((*proof)["record_index"], 7);
  auto v = VerifyRecordProof(*proof, envelope_, vkey_, record, "proof.json");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->record_index, 7u);
  // The same proof with another record's bytes fails.
  EXPECT_EQ(VerifyRecordProof(*proof, envelope_, vkey_, std::string("{\"n\":8,\"text\":\"record 8\"}"), "p").status().code(),
            Status::Code::kVerifyFailed);
  // By index, disclosing nothing.
  DataProveOptions by_index;
  by_index.run_id = run_.run_id;
  by_index.index = 49;
  auto p49 = ProveRecord(*ledger_, by_index);
  ASSERT_TRUE(p49.ok()) << p49.status().ToString();
  EXPECT_TRUE(VerifyRecordProof(*p49, envelope_, vkey_, std::nullopt, "p").ok());
}

TEST_F(AttestTest, DataProofOfARecordNotInTheDataFails) {
  DataProveOptions o;
  o.run_id = run_.run_id;
  o.record = std::string("{\"n\":50,\"text\":\"record 50\"}");
  auto proof = ProveRecord(*ledger_, o);
  EXPECT_EQ(proof.status().code(), Status::Code::kVerifyFailed);
  EXPECT_NE(proof.status().message().find("is not in dataset corpus"), std::string::npos) << proof.status().message();
}

TEST_F(AttestTest, DataProofMutationsFail) {
  DataProveOptions o;
  o.run_id = run_.run_id;
  o.index = 3;
  json proof = *ProveRecord(*ledger_, o);
  ForEachLeaf(proof, "", [&](const std::string& ptr, json& v) {
    // Every leaf counts, /license and /record_format too: a proof once
    // verified with its dataset relabelled (issue 14).
    const json saved = v;
    v = Mutated(saved);
    EXPECT_FALSE(VerifyRecordProof(proof, envelope_, vkey_, std::nullopt, "p").ok()) << ptr;
    v = saved;
  });
  EXPECT_TRUE(VerifyRecordProof(proof, envelope_, vkey_, std::nullopt, "p").ok());
}

TEST_F(AttestTest, DataProofRefusesChangedData) {
  std::string data = *ReadFile(run_.data);
  data += "{\"text\":\"added later\"}\n";
  ASSERT_TRUE(testing::WriteText(run_.data, data).ok());
  DataProveOptions o;
  o.run_id = run_.run_id;
  o.index = 0;
  auto proof = ProveRecord(*ledger_, o);
  EXPECT_EQ(proof.status().code(), Status::Code::kVerifyFailed);
  EXPECT_NE(proof.status().message().find("changed since the run"), std::string::npos);
}

// ---- the CLI ----

TEST_F(AttestTest, CliAttestVerifyAndDataRoundTrip) {
  const std::string bundle = dir_.File("bundle.json");
  auto a = testing::RunCli({"attest", "--ledger", run_.ledger, "--key", run_.key, "--run", run_.run_id, "--model", run_.model, "--out", bundle});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto again = testing::RunCli({"attest", "--ledger", run_.ledger, "--key", run_.key, "--run", run_.run_id, "--model", run_.model, "--out", bundle});
  EXPECT_EQ(again.exit_code, 2);  // never overwrites
  auto v = testing::RunCli({"verify", "--model", run_.model, "--bundle", bundle, "--vkey", run_.vkey, "--ledger", run_.ledger});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("VERIFIED"), std::string::npos);
  auto pem = testing::RunCli({"verify", "--model", run_.model, "--bundle", bundle, "--vkey", run_.pub, "--json"});
  EXPECT_EQ(pem.exit_code, 0) << pem.out << pem.err;
  json report = json::parse(pem.out);
  EXPECT_TRUE(report["ok"].get<bool>());
  EXPECT_TRUE((*JsonSchema::Builtin("verify-claim-report.schema.json"))->Validate(report, "report").ok());
  auto wrong = testing::RunCli({"verify", "--model", run_.job, "--bundle", bundle, "--vkey", run_.vkey});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.out.find("FAIL subject"), std::string::npos) << wrong.out;
  auto missing = testing::RunCli({"verify", "--model", dir_.File("nope.pt"), "--bundle", bundle, "--vkey", run_.vkey});
  EXPECT_EQ(missing.exit_code, 2);
  // A file that is not a DSSE envelope is bad input, named by pointer.
  ASSERT_TRUE(testing::WriteText(dir_.File("not-envelope.json"), "{\"payload\": 3}").ok());
  auto malformed = testing::RunCli({"verify", "--model", run_.model, "--bundle", dir_.File("not-envelope.json"), "--vkey", run_.vkey});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("/payload"), std::string::npos) << malformed.err;
  // A key that is not the ledger's cannot attest.
  TempDir other;
  PrivateKey k = *PrivateKey::FromSeed(std::string(32, 'q'));
  ASSERT_TRUE(k.SavePemFile(other.File("k.pem")).ok());
  auto bad_key = testing::RunCli({"attest", "--ledger", run_.ledger, "--key", other.File("k.pem"), "--run", run_.run_id, "--model", run_.model, "--out", other.File("b.json")});
  EXPECT_EQ(bad_key.exit_code, 2) << bad_key.err;
  EXPECT_FALSE(FileExists(other.File("b.json")));

  ASSERT_TRUE(testing::WriteText(dir_.File("rec.json"), "{\"n\":2,\"text\":\"record 2\"}").ok());
  auto p = testing::RunCli({"data", "prove", "--ledger", run_.ledger, "--run", run_.run_id, "--record", dir_.File("rec.json"), "--out", dir_.File("p.json")});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  auto dv = testing::RunCli({"data", "verify", "--proof", dir_.File("p.json"), "--bundle", bundle, "--vkey", run_.vkey, "--record", dir_.File("rec.json")});
  EXPECT_EQ(dv.exit_code, 0) << dv.out << dv.err;
  ASSERT_TRUE(testing::WriteText(dir_.File("absent.json"), "{\"n\":99,\"text\":\"record 99\"}").ok());
  auto absent = testing::RunCli({"data", "prove", "--ledger", run_.ledger, "--run", run_.run_id, "--record", dir_.File("absent.json"), "--out", dir_.File("q.json")});
  EXPECT_EQ(absent.exit_code, 1);
  EXPECT_FALSE(FileExists(dir_.File("q.json")));
  auto wrong_rec = testing::RunCli({"data", "verify", "--proof", dir_.File("p.json"), "--bundle", bundle, "--vkey", run_.vkey, "--record", dir_.File("absent.json")});
  EXPECT_EQ(wrong_rec.exit_code, 1);
  // --json on attest and data verify: the same facts for a script, a failed
  // check as {verified: false, error} with exit 1.
  auto aj = testing::RunCli({"attest", "--ledger", run_.ledger, "--key", run_.key, "--run", run_.run_id, "--model", run_.model, "--out", dir_.File("b2.json"), "--json"});
  ASSERT_EQ(aj.exit_code, 0) << aj.err;
  const json attested = json::parse(aj.out);
  EXPECT_EQ(attested["run"], run_.run_id);
  EXPECT_EQ(attested["written"], dir_.File("b2.json"));
  ASSERT_EQ(attested["subjects"].size(), 1u);
  EXPECT_EQ(attested["subjects"][0]["sha256"], HexEncode(*Sha256File(run_.model)));
  EXPECT_GT(attested["ledger"]["tree_size"].get<uint64_t>(), 0u);
  auto dj = testing::RunCli({"data", "verify", "--proof", dir_.File("p.json"), "--bundle", bundle, "--vkey", run_.vkey, "--record", dir_.File("rec.json"), "--json"});
  ASSERT_EQ(dj.exit_code, 0) << dj.out << dj.err;
  const json dv_json = json::parse(dj.out);
  EXPECT_TRUE(dv_json["verified"].get<bool>());
  EXPECT_TRUE(dv_json["record_given"].get<bool>());
  EXPECT_EQ(dv_json["run"], run_.run_id);
  EXPECT_EQ(dv_json["record_index"], 2);
  auto dj_wrong = testing::RunCli({"data", "verify", "--proof", dir_.File("p.json"), "--bundle", bundle, "--vkey", run_.vkey, "--record", dir_.File("absent.json"), "--json"});
  EXPECT_EQ(dj_wrong.exit_code, 1);
  const json wrong_json = json::parse(dj_wrong.out);
  EXPECT_FALSE(wrong_json["verified"].get<bool>());
  EXPECT_FALSE(wrong_json["error"].get<std::string>().empty());
}

}  // namespace
}  // namespace dg
