// Model identity: safetensors headers and shard indexes, directory hashing
// in model_signing's order, model_signing signatures (sign, verify, the
// upstream golden fixtures in tests/data/model_signing), and the CLI.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/dsse.h"
#include "core/ecdsa.h"
#include "core/json_schema.h"
#include "core/encoding.h"
#include "core/hash.h"
#include "model/model_dir.h"
#include "model/model_signing.h"
#include "model/safetensors.h"
#include "test_util.h"

namespace dg {
namespace {

using dg::testing::RunCli;
using dg::testing::TempDir;
using dg::testing::WriteAll;
using dg::testing::ReadAll;
using nlohmann::json;

// A safetensors file holding `tensors` (F32, shapes given), data bytes
// patterned by `seed`.
std::string Safetensors(const std::vector<std::pair<std::string, std::vector<uint64_t>>>& tensors, char seed = 1) {
  std::vector<SafetensorsTensor> ts;
  uint64_t at = 0;
  for (const auto& [name, shape] : tensors) {
    uint64_t n = 4;
    for (uint64_t d : shape) n *= d;
    ts.push_back({name, "F32", shape, at, at + n});
    at += n;
  }
  std::string data(at, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(seed + i * 7);
  return EncodeSafetensorsHeader(ts, {{"format", "pt"}}) + data;
}

// The raw file bytes of a header given as JSON text plus `data` bytes.
std::string RawSafetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

// A sharded Hugging Face-style model directory.
void MakeShardedModel(const std::string& dir) {
  std::filesystem::create_directories(dir);
  WriteAll(dir + "/model-00001-of-00002.safetensors", Safetensors({{"embed.weight", {16, 8}}, {"layer.0.w", {8, 8}}}, 3));
  WriteAll(dir + "/model-00002-of-00002.safetensors", Safetensors({{"layer.1.w", {8, 8}}, {"head.weight", {8, 4}}}, 5));
  WriteAll(dir + "/model.safetensors.index.json",
           R"({"metadata": {"total_size": 1152}, "weight_map": {"embed.weight": "model-00001-of-00002.safetensors",
               "layer.0.w": "model-00001-of-00002.safetensors", "layer.1.w": "model-00002-of-00002.safetensors",
               "head.weight": "model-00002-of-00002.safetensors"}})");
  WriteAll(dir + "/config.json", R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 8})");
  WriteAll(dir + "/tokenizer.json", R"({"version": "1.0"})");
  WriteAll(dir + "/README.md", "---\nlicense: apache-2.0\nbase_model: org/base\ndatasets:\n- org/data\n---\n# A model\n");
}

// What an OpenSSL PEM writer writes for `obj`, as a string.
template <typename T>
std::string PemOf(T* obj, int (*write)(BIO*, T*)) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio, obj);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}
int WritePrivate(BIO* bio, EVP_PKEY* k) { return PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr); }
int WritePublic(BIO* bio, EVP_PKEY* k) { return PEM_write_bio_PUBKEY(bio, k); }
int WriteCert(BIO* bio, X509* x) { return PEM_write_bio_X509(bio, x); }

std::string EcKeyPem(const char* curve) {
  EVP_PKEY* k = EVP_EC_gen(curve);
  std::string pem = PemOf(k, WritePrivate);
  EVP_PKEY_free(k);
  return pem;
}

TEST(Safetensors, ValidHeaderParsesAndTilesTheFile) {
  const std::string f = Safetensors({{"a", {2, 3}}, {"b", {4}}});
  auto n = SafetensorsHeaderLength(f.substr(0, 8), f.size(), "m.safetensors");
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n % 8, 0u);
  auto h = ParseSafetensorsHeader(std::string_view(f).substr(8, *n), f.size(), "m.safetensors");
  ASSERT_TRUE(h.ok()) << h.status().message();
  ASSERT_EQ(h->tensors.size(), 2u);
  EXPECT_EQ(h->tensors[0].name, "a");
  EXPECT_EQ(h->tensors[1].begin, 24u);
  EXPECT_EQ(h->data_bytes(), 40u);
  EXPECT_EQ(h->metadata.at("format"), "pt");
}

TEST(Safetensors, MalformedHeadersAreRefusedSayingWhatIsWrong) {
  struct Case {
    std::string header, data, want;
  };
  const std::string d24(24, 'x');
  const std::vector<Case> cases = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}})", d24, "overlap"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", d24, "gap of 4"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d24, "trailing bytes"},
      {R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", d24, "truncated"},
      {R"({"a":{"dtype":"F33","shape":[6],"data_offsets":[0,24]}})", d24, "not a safetensors dtype"},
      {R"({"a":{"dtype":"F32","shape":[5],"data_offsets":[0,24]}})", d24, "need 20"},
      {R"({"a":{"dtype":"F32","shape":[6],"data_offset":[0,24]}})", d24, "did you mean \"data_offsets\""},
      {R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[24,0]}})", d24, "before begin"},
      {R"({"a":{"dtype":"F32","shape":[-6],"data_offsets":[0,24]}})", d24, "non-negative"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}})", d24, "overflows"},
      {R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,24]}})", d24, "whole bytes"},
      {R"({"__metadata__":{"k":1}})", "", "expected a string"},
      {R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}})", d24, "duplicate"},
      {R"([1,2])", "", "does not start with '{'"},
      {R"({"a":)", "", "not JSON"},
  };
  for (const Case& c : cases) {
    const std::string f = RawSafetensors(c.header, c.data);
    auto h = ParseSafetensorsHeader(c.header, f.size(), "w.safetensors");
    ASSERT_FALSE(h.ok()) << c.header;
    EXPECT_EQ(h.status().code(), Status::Code::kInvalidInput);
    EXPECT_NE(h.status().message().find(c.want), std::string::npos) << c.header << " → " << h.status().message();
    EXPECT_NE(h.status().message().find("w.safetensors"), std::string::npos);
  }
}

TEST(Safetensors, HeaderLengthMustFitTheFileAndTheLimit) {
  std::string eight(8, '\0');
  eight[0] = 100;
  EXPECT_FALSE(SafetensorsHeaderLength(eight, 50, "x").ok());  // 100 > 50 - 8
  EXPECT_FALSE(SafetensorsHeaderLength("abc", 3, "x").ok());
  std::string huge(8, '\0');
  huge[4] = 1;  // 2^32
  auto r = SafetensorsHeaderLength(huge, uint64_t{1} << 40, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("limit"), std::string::npos);
}

TEST(ModelDir, ShardedDirectoryIsHashedInModelSigningOrderWithItsInventory) {
  TempDir t;
  const std::string dir = t.File("llm");
  MakeShardedModel(dir);
  auto m = HashModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE(m->directory);
  EXPECT_EQ(m->name, "llm");
  std::vector<std::string> paths;
  std::vector<Hash> digests;
  for (const ModelFile& f : m->files) {
    paths.push_back(f.path);
    auto h = Sha256File(dir + "/" + f.path);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(*h, f.sha256) << f.path;
    digests.push_back(*h);
  }
  EXPECT_EQ(paths, (std::vector<std::string>{"README.md", "config.json", "model-00001-of-00002.safetensors",
                                             "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json"}));
  // The root: SHA-256 over the raw digests in that order.
  std::string cat;
  for (const Hash& h : digests) cat += std::string(AsBytes(h));
  EXPECT_EQ(m->root, Sha256(cat));
  ASSERT_TRUE(m->files[2].safetensors.has_value());
  EXPECT_EQ(m->files[2].safetensors->tensors.size(), 2u);
  EXPECT_EQ(m->indexes, std::vector<std::string>{"model.safetensors.index.json"});
  EXPECT_EQ(m->card["license"], "apache-2.0");
  EXPECT_EQ(m->card["datasets"][0], "org/data");
  EXPECT_EQ(m->config["model_type"], "llama");
  const json j = m->ToJson();
  EXPECT_EQ(j["model_signing"]["root_sha256"], HexEncode(m->root));
  EXPECT_EQ(j["files"][2]["safetensors"]["tensors"][0]["name"], "embed.weight");
  // One thread or two: the same manifest.
  ModelHashOptions one;
  one.threads = 1;
  auto m1 = HashModel(dir, one);
  ASSERT_TRUE(m1.ok());
  EXPECT_EQ(m1->ToJson(), j);
}

TEST(ModelDir, PathsSortComponentByComponentAsPurePathDoes) {
  EXPECT_TRUE(ModelPathLess("a/b", "a-b"));  // byte order would put "a-b" first
  EXPECT_TRUE(ModelPathLess("a", "a/b"));
  EXPECT_FALSE(ModelPathLess("b", "a/z"));
  TempDir t;
  std::filesystem::create_directories(t.File("m/a"));
  WriteAll(t.File("m/a/b"), "1");
  WriteAll(t.File("m/a-b"), "2");
  WriteAll(t.File("m/.gitattributes"), "ignored");
  std::filesystem::create_directories(t.File("m/.git"));
  WriteAll(t.File("m/.git/HEAD"), "ignored");
  auto m = HashModel(t.File("m"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->files.size(), 2u);
  EXPECT_EQ(m->files[0].path, "a/b");
  EXPECT_EQ(m->files[1].path, "a-b");
}

TEST(ModelDir, BrokenDirectoriesAreRefusedNamingTheFile) {
  {
    TempDir t;
    MakeShardedModel(t.File("m"));
    std::filesystem::remove(t.File("m/model-00002-of-00002.safetensors"));
    auto m = HashModel(t.File("m"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("model-00002-of-00002.safetensors\" (2 tensors"), std::string::npos) << m.status().message();
    EXPECT_NE(m.status().message().find("is not in the directory"), std::string::npos);
  }
  {
    TempDir t;
    MakeShardedModel(t.File("m"));
    const std::string p = t.File("m/model-00001-of-00002.safetensors");
    std::string bytes = ReadAll(p);
    WriteAll(p, bytes.substr(0, bytes.size() - 10));  // truncated
    auto m = HashModel(t.File("m"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("model-00001-of-00002.safetensors: not a valid safetensors file"), std::string::npos)
        << m.status().message();
    EXPECT_NE(m.status().message().find("truncated"), std::string::npos);
  }
  {
    TempDir t;
    MakeShardedModel(t.File("m"));
    WriteAll(t.File("m/model.safetensors.index.json"),
             R"({"metadata": {"total_size": 1152}, "weight_map": {"embed.weight": "model-00001-of-00002.safetensors",
               "layer.1.w": "model-00002-of-00002.safetensors", "head.weight": "model-00002-of-00002.safetensors"}})");
    auto m = HashModel(t.File("m"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("tensor \"layer.0.w\" of model-00001-of-00002.safetensors is not mapped"), std::string::npos)
        << m.status().message();
  }
  {
    TempDir t;
    MakeShardedModel(t.File("m"));
    WriteAll(t.File("m/model.safetensors.index.json"),
             R"({"metadata": {"total_size": 99}, "weight_map": {"embed.weight": "model-00001-of-00002.safetensors",
               "layer.0.w": "model-00001-of-00002.safetensors", "layer.1.w": "model-00002-of-00002.safetensors",
               "head.weight": "model-00002-of-00002.safetensors"}})");
    auto m = HashModel(t.File("m"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("/metadata/total_size: 99 bytes, but the mapped tensors hold 1152"), std::string::npos)
        << m.status().message();
  }
  {
    TempDir t;
    MakeShardedModel(t.File("m"));
    WriteAll(t.File("m/README.md"), "---\nlicense: [apache\n---\n");
    auto m = HashModel(t.File("m"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("README.md: line"), std::string::npos) << m.status().message();
  }
}

TEST(ModelDir, SymlinksOutsideAreRefusedAndInsideOnlyWhenAllowed) {
  TempDir t;
  MakeShardedModel(t.File("m"));
  WriteAll(t.File("secret"), "outside");
  ASSERT_EQ(::symlink(t.File("secret").c_str(), t.File("m/extra.bin").c_str()), 0);
  ModelHashOptions allow;
  allow.allow_symlinks = true;
  auto m = HashModel(t.File("m"), allow);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("points outside the model directory"), std::string::npos) << m.status().message();
  std::filesystem::remove(t.File("m/extra.bin"));
  ASSERT_EQ(::symlink("tokenizer.json", t.File("m/tok-link.json").c_str()), 0);
  auto refused = HashModel(t.File("m"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--allow-symlinks"), std::string::npos);
  auto followed = HashModel(t.File("m"), allow);
  ASSERT_TRUE(followed.ok()) << followed.status().message();
  EXPECT_EQ(followed->Find("tok-link.json")->sha256, followed->Find("tokenizer.json")->sha256);
  std::filesystem::remove(t.File("m/tok-link.json"));
  ASSERT_EQ(::mkfifo(t.File("m/pipe").c_str(), 0600), 0);
  auto fifo = HashModel(t.File("m"));
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find("pipe"), std::string::npos);
}

TEST(ModelDir, SingleFileIsTheResourceDot) {
  TempDir t;
  WriteAll(t.File("w.safetensors"), Safetensors({{"x", {3}}}));
  auto m = HashModel(t.File("w.safetensors"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_FALSE(m->directory);
  ASSERT_EQ(m->files.size(), 1u);
  EXPECT_EQ(m->files[0].path, ".");
  EXPECT_TRUE(m->files[0].safetensors.has_value());
  EXPECT_EQ(m->root, Sha256(AsBytes(m->files[0].sha256)));
}

TEST(ModelSigning, SignThenVerifyAndEveryChangeFails) {
  for (const char* curve : {"P-256", "P-384", "P-521"}) {
    TempDir t;
    const std::string dir = t.File("m");
    MakeShardedModel(dir);
    auto key = EcPrivateKey::FromPem(EcKeyPem(curve), "key");
    ASSERT_TRUE(key.ok()) << key.status().message();
    EXPECT_EQ(key->public_key().curve(), curve);
    auto m = HashModel(dir);
    ASSERT_TRUE(m.ok());
    auto bundle = SignModelManifest(*m, *key);
    ASSERT_TRUE(bundle.ok());
    auto ok = VerifyModelSignature(*bundle, "m.sig", ModelSigningTrust::Key(key->public_key()), dir, {});
    ASSERT_TRUE(ok.ok()) << ok.status().message();
    EXPECT_EQ(ok->signed_manifest.root, m->root);
    EXPECT_TRUE(ok->signed_manifest.warnings.empty());
    // Another key: the hint names the signer.
    auto other = EcPrivateKey::FromPem(EcKeyPem(curve), "other");
    auto wrong = VerifyModelSignature(*bundle, "m.sig", ModelSigningTrust::Key(other->public_key()), dir, {});
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.status().message().find("names another key"), std::string::npos);
  }
  TempDir t;
  const std::string dir = t.File("m");
  MakeShardedModel(dir);
  auto key = EcPrivateKey::FromPem(EcKeyPem("P-256"), "key");
  auto bundle = SignModelManifest(*HashModel(dir), *key);
  auto expect_fail = [&](const std::string& what) {
    auto r = VerifyModelSignature(*bundle, "m.sig", ModelSigningTrust::Key(key->public_key()), dir, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kVerifyFailed);
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  WriteAll(dir + "/tokenizer.json", R"({"version": "1.1"})");
  expect_fail("hash mismatch for 'tokenizer.json'");
  WriteAll(dir + "/tokenizer.json", R"({"version": "1.0"})");
  WriteAll(dir + "/added.txt", "new");
  expect_fail("files not signed: added.txt");
  std::filesystem::remove(dir + "/added.txt");
  std::filesystem::rename(dir + "/tokenizer.json", dir + "/tokenizer2.json");
  expect_fail("signed files missing: tokenizer.json");
  std::filesystem::rename(dir + "/tokenizer2.json", dir + "/tokenizer.json");
  ASSERT_TRUE(VerifyModelSignature(*bundle, "m.sig", ModelSigningTrust::Key(key->public_key()), dir, {}).ok());
}

TEST(ModelSigning, ForgedStatementsAreRefused) {
  TempDir t;
  const std::string dir = t.File("m");
  MakeShardedModel(dir);
  auto key = EcPrivateKey::FromPem(EcKeyPem("P-256"), "key");
  auto m = HashModel(dir);
  // A statement whose root does not match its resources, properly signed.
  json st = ModelSigningStatement(*m);
  st["subject"][0]["digest"]["sha256"] = std::string(64, '0');
  auto r = ManifestFromModelSigningStatement(st, "s");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Manifest is inconsistent"), std::string::npos);
  st = ModelSigningStatement(*m);
  st["subject"].push_back(st["subject"][0]);
  EXPECT_FALSE(ManifestFromModelSigningStatement(st, "s").ok());
  st = ModelSigningStatement(*m);
  st["predicateType"] = "https://example.com/other";
  EXPECT_FALSE(ManifestFromModelSigningStatement(st, "s").ok());
  // A bundle with one payload byte changed.
  auto bundle = SignModelManifest(*m, *key);
  json b = json::parse(*bundle);
  std::string payload = *Base64Decode(b["dsseEnvelope"]["payload"].get<std::string>());
  payload[payload.find("sha256")] = 'S';
  b["dsseEnvelope"]["payload"] = Base64Encode(payload);
  auto v = VerifyModelSigningBundle(b.dump(), "m.sig", ModelSigningTrust::Key(key->public_key()));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("does not verify"), std::string::npos);
  b = json::parse(*bundle);
  b["verificationMateral"] = b["verificationMaterial"];
  v = VerifyModelSigningBundle(b.dump(), "m.sig", ModelSigningTrust::Key(key->public_key()));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("did you mean \"verificationMaterial\""), std::string::npos);
}

TEST(ModelSigning, Ed25519KeysAreRefusedNamingTheCurves) {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  auto key = EcPrivateKey::FromPem(PemOf(k, WritePrivate), "ed.pem");
  EVP_PKEY_free(k);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.status().message().find("P-256, P-384 or P-521"), std::string::npos);
}

// The golden signatures of sigstore/model-transparency (scripts/tests, kept in
// tests/data/model_signing with their Apache-2.0 license), as its
// test-verify-*-elliptic-key.sh scripts verify them.
TEST(ModelSigning, UpstreamGoldenFixturesVerify) {
  const std::string d = std::string(DG_SOURCE_DIR) + "/tests/data/model_signing";
  auto pub = EcPublicKey::LoadPemFile(d + "/keys/signing-key-pub.pem");
  ASSERT_TRUE(pub.ok()) << pub.status().message();
  EXPECT_EQ(pub->curve(), "P-384");
  // v1.1.0 names the key by hint: our PEM of it hashes to the same hint.
  EXPECT_EQ(HexEncode(Sha256(pub->pem())), "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e");
  struct Fixture {
    std::string version, model;
    std::vector<std::string> ignores;
    size_t resources;
  };
  for (const Fixture& f : std::vector<Fixture>{{"v0.3.1", "signme-1", {}, 1},
                                                {"v1.0.0", "signme-1", {}, 1},
                                                {"v1.0.1", "", {"ignore-me", "model.sig"}, 2},
                                                {"v1.1.0", "", {"ignore-me"}, 2}}) {
    const std::string dir = d + "/" + f.version + "-elliptic-key";
    const std::string model = f.model.empty() ? dir : dir + "/" + f.model;
    const std::string sig = ReadAll(dir + "/model.sig");
    auto r = VerifyModelSignature(sig, f.version, ModelSigningTrust::Key(*pub), model, f.ignores);
    ASSERT_TRUE(r.ok()) << f.version << ": " << r.status().message();
    EXPECT_EQ(r->signed_manifest.resources.size(), f.resources) << f.version;
    // Without the ignore list the unsigned file is found.
    if (!f.model.empty()) continue;
    auto extra = VerifyModelSignature(sig, f.version, ModelSigningTrust::Key(*pub), model, {"model.sig"});
    if (f.version == "v1.1.0") {
      EXPECT_TRUE(extra.ok()) << "v1.1.0 signs its ignore_paths";
    } else {
      ASSERT_FALSE(extra.ok());
      EXPECT_NE(extra.status().message().find("files not signed: ignore-me"), std::string::npos);
    }
  }
  // A changed byte in a copy of a fixture fails.
  TempDir t;
  std::filesystem::copy(d + "/v1.1.0-elliptic-key", t.File("m"));
  WriteAll(t.File("m/signme-2"), "changed\n");
  auto r = VerifyModelSignature(ReadAll(t.File("m/model.sig")), "v1.1.0", ModelSigningTrust::Key(*pub), t.File("m"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hash mismatch for 'signme-2'"), std::string::npos) << r.status().message();
}

// The certificate-mode golden signatures (v0.2.0 … v1.1.0), verified as
// model_signing's test-verify-*-certificate.sh verify them: with the root CA
// as the only trusted certificate. v0.2.0 has the legacy predicate and the
// pre-1.0 PAE signed with SHA-256.
TEST(ModelSigning, UpstreamCertificateFixturesVerify) {
  const std::string d = std::string(DG_SOURCE_DIR) + "/tests/data/model_signing";
  const ModelSigningTrust ca = ModelSigningTrust::Certificates(ReadAll(d + "/keys/ca-cert.pem"));
  for (const char* v : {"v0.2.0", "v0.3.1", "v1.0.0", "v1.0.1", "v1.1.0"}) {
    const std::string dir = d + "/" + std::string(v) + "-certificate";
    auto r = VerifyModelSignature(ReadAll(dir + "/model.sig"), v, ca, dir, {"ignore-me", "model.sig"});
    ASSERT_TRUE(r.ok()) << v << ": " << r.status().message();
    EXPECT_EQ(r->signed_manifest.resources.size(), 2u) << v;
    EXPECT_EQ(r->signed_manifest.predicate_type == kModelSigningPredicateCompat, std::string(v) == "v0.2.0") << v;
    // Trusting another CA, or giving a public key instead: refused.
    EVP_PKEY* k = EVP_EC_gen("P-256");
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 3650);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650);
    X509_set_pubkey(x, k);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("other-ca"), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, k, EVP_sha256());
    const std::string other = PemOf(x, WriteCert);
    X509_free(x);
    EVP_PKEY_free(k);
    auto wrong = VerifyModelSignature(ReadAll(dir + "/model.sig"), v, ModelSigningTrust::Certificates(other), dir, {"ignore-me", "model.sig"});
    ASSERT_FALSE(wrong.ok()) << v;
    EXPECT_NE(wrong.status().message().find("does not chain to a trusted certificate"), std::string::npos) << wrong.status().message();
    auto pub = EcPublicKey::LoadPemFile(d + "/keys/signing-key-pub.pem");
    auto as_key = VerifyModelSignature(ReadAll(dir + "/model.sig"), v, ModelSigningTrust::Key(*pub), dir, {"ignore-me", "model.sig"});
    ASSERT_FALSE(as_key.ok());
    EXPECT_NE(as_key.status().message().find("--cert-chain"), std::string::npos);
  }
  // A changed file in a copy fails, under the right CA.
  TempDir t;
  std::filesystem::copy(d + "/v0.2.0-certificate", t.File("m"));
  WriteAll(t.File("m/signme-1"), "changed\n");
  auto r = VerifyModelSignature(ReadAll(t.File("m/model.sig")), "v0.2.0", ca, t.File("m"), {"model.sig"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hash mismatch for 'signme-1'"), std::string::npos) << r.status().message();
}

// Regressions from the red-team pass of issue 18.
TEST(ModelRedTeam, CardAliasBombsAndOddCardsAndNames) {
  TempDir t;
  std::filesystem::create_directories(t.File("m"));
  std::string bomb = "---\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n";
  for (int i = 1; i <= 8; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += std::string(k ? "," : "") + "*a" + std::to_string(i - 1);
    bomb += "]\n";
  }
  bomb += "---\n";
  WriteAll(t.File("m/README.md"), bomb);
  auto m = HashModel(t.File("m"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("100,000 nodes"), std::string::npos) << m.status().message();
  // A horizontal rule first, or an unclosed block: no metadata, as huggingface_hub reads it.
  for (const char* card : {"----------\n# title\n", "---\nlicense: mit\n# never closed\n"}) {
    WriteAll(t.File("m/README.md"), card);
    auto ok = HashModel(t.File("m"));
    ASSERT_TRUE(ok.ok()) << card << ": " << ok.status().message();
    EXPECT_TRUE(ok->card.is_null());
  }
  // Not UTF-8 (an overlong NUL, a surrogate): refused as bad input, not an internal error.
  for (const char* bad : {"\xC0\x80x", "\xED\xA0\x80", "\xF4\x90\x80\x80"}) {
    TempDir u;
    WriteAll(u.File(bad), "x");
    auto r = HashModel(u.path());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidInput);
    EXPECT_NE(r.status().message().find("not UTF-8"), std::string::npos);
  }
}

TEST(ModelRedTeam, IndexesThatLeaveShardsOutOrMapNothingAreRefused) {
  TempDir t;
  MakeShardedModel(t.File("m"));
  WriteAll(t.File("m/model.safetensors.index.json"),
           R"({"weight_map": {"embed.weight": "./model-00001-of-00002.safetensors", "layer.0.w": "model-00001-of-00002.safetensors"}})");
  auto partial = HashModel(t.File("m"));
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.status().message().find("model-00002-of-00002.safetensors\" is in the directory but the index maps nothing"),
            std::string::npos) << partial.status().message();
  WriteAll(t.File("m/model.safetensors.index.json"), R"({"weight_map": {}})");
  EXPECT_FALSE(HashModel(t.File("m")).ok());
}

TEST(ModelRedTeam, HintsAndSignatureFilesAndShards) {
  TempDir t;
  const std::string dir = t.File("m");
  MakeShardedModel(dir);
  // The hint is over the uncompressed point, however the key file writes it.
  EVP_PKEY* k = EVP_EC_gen("P-256");
  EVP_PKEY_set_utf8_string_param(k, "point-format", "compressed");
  const std::string compressed = PemOf(k, WritePublic);
  auto key = EcPrivateKey::FromPem(PemOf(k, WritePrivate), "k");
  EVP_PKEY_free(k);
  ASSERT_TRUE(key.ok());
  auto pub = EcPublicKey::FromPem(compressed, "pub");
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->pem(), key->public_key().pem());
  EXPECT_LT(compressed.size(), pub->pem().size());  // the file really was compressed
  // A model.sig kept inside the model does not change its root.
  const Hash before = HashModel(dir)->root;
  auto bundle = SignModelManifest(*HashModel(dir), *key);
  WriteAll(dir + "/model.sig", *bundle);
  EXPECT_EQ(HashModel(dir)->root, before);
  EXPECT_TRUE(VerifyModelSignature(*bundle, "m.sig", ModelSigningTrust::Key(*pub), dir, {}).ok());
  std::filesystem::remove(dir + "/model.sig");
  // A shards signature as model_signing writes it ("sha256-sharded-<size>").
  const uint64_t shard = 100;
  json resources = json::array();
  Sha256Hasher root;
  auto m = HashModel(dir);
  for (const ModelFile& f : m->files) {
    for (uint64_t at = 0; at < f.bytes; at += shard) {
      const uint64_t end = std::min(f.bytes, at + shard);
      const Hash h = *Sha256FileRange(dir + "/" + f.path, at, end);
      resources.push_back({{"name", f.path + ":" + std::to_string(at) + ":" + std::to_string(end)},
                           {"algorithm", "sha256-sharded-100"}, {"digest", HexEncode(h)}});
      root.Update(h.data(), h.size());
    }
  }
  // HashModel takes the same pieces in its one read of each file (also at a
  // file that ends on a piece boundary).
  ModelHashOptions pieces;
  pieces.shard_size = shard;
  auto sharded = HashModel(dir, pieces);
  ASSERT_TRUE(sharded.ok());
  size_t piece_no = 0;
  for (const ModelFile& f : sharded->files) {
    ASSERT_EQ(f.shards.size(), (f.bytes + shard - 1) / shard) << f.path;
    for (const Hash& h : f.shards) EXPECT_EQ(HexEncode(h), resources[piece_no++]["digest"]) << f.path;
  }
  EXPECT_EQ(piece_no, resources.size());
  WriteAll(t.File("even.bin"), std::string(2 * shard, 'x'));
  auto even = HashModel(t.File("even.bin"), pieces);
  ASSERT_TRUE(even.ok());
  ASSERT_EQ(even->files[0].shards.size(), 2u);
  EXPECT_EQ(even->files[0].shards[1], Sha256(std::string(shard, 'x')));
  EXPECT_TRUE(HashModel(dir).value().files[0].shards.empty()) << "no pieces unless asked";
  const json st = {{"_type", "https://in-toto.io/Statement/v1"},
                   {"subject", {{{"name", "m"}, {"digest", {{"sha256", HexEncode(root.Finish())}}}}}},
                   {"predicateType", kModelSigningPredicate},
                   {"predicate", {{"serialization", {{"method", "shards"}, {"hash_type", "sha256"}, {"shard_size", shard},
                                                      {"allow_symlinks", false}, {"ignore_paths", {".git"}}}},
                                  {"resources", resources}}}};
  const std::string payload = st.dump(2);
  const json b = {{"mediaType", kSigstoreBundleMediaType},
                  {"verificationMaterial", {{"publicKey", {{"hint", HexEncode(Sha256(pub->pem()))}}}, {"tlogEntries", json::array()}}},
                  {"dsseEnvelope", {{"payload", Base64Encode(payload)}, {"payloadType", "application/vnd.in-toto+json"},
                                    {"signatures", {{{"sig", Base64Encode(*key->Sign(DssePae("application/vnd.in-toto+json", payload)))}, {"keyid", ""}}}}}}};
  auto shards = VerifyModelSignature(b.dump(), "s.sig", ModelSigningTrust::Key(*pub), dir, {});
  ASSERT_TRUE(shards.ok()) << shards.status().message();
  // One byte changed (the length kept): that file's piece no longer matches.
  const std::string readme = ReadAll(dir + "/README.md");
  std::string flipped = readme;
  flipped[flipped.size() - 3] ^= 1;
  WriteAll(dir + "/README.md", flipped);
  auto changed = VerifyModelSignature(b.dump(), "s.sig", ModelSigningTrust::Key(*pub), dir, {});
  ASSERT_FALSE(changed.ok()) << "a changed byte verifies under a shards signature";
  EXPECT_NE(changed.status().message().find("README.md"), std::string::npos) << changed.status().message();
  WriteAll(dir + "/README.md", readme);
  ASSERT_TRUE(VerifyModelSignature(b.dump(), "s.sig", ModelSigningTrust::Key(*pub), dir, {}).ok());
  // A piece that straddles HashModel's 4 MiB reads, and pieces larger than a
  // read, hash as the byte ranges they name.
  {
    std::string big((4u << 20) + 5000, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
    WriteAll(t.File("big.bin"), big);
    for (uint64_t size : {uint64_t{(3u << 20) + 7}, uint64_t{(5u << 20)}, uint64_t{4u << 20}, uint64_t{1000}}) {
      ModelHashOptions o;
      o.shard_size = size;
      auto h = HashModel(t.File("big.bin"), o);
      ASSERT_TRUE(h.ok()) << h.status().message();
      ASSERT_EQ(h->files[0].shards.size(), (big.size() + size - 1) / size) << size;
      for (size_t k = 0; k < h->files[0].shards.size(); ++k) {
        const uint64_t at = k * size, end = std::min<uint64_t>(big.size(), at + size);
        ASSERT_EQ(h->files[0].shards[k], Sha256(big.substr(at, end - at))) << "shard size " << size << ", piece " << k;
      }
    }
  }
  WriteAll(dir + "/empty.py", "");
  auto empty = VerifyModelSignature(b.dump(), "s.sig", ModelSigningTrust::Key(*pub), dir, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
}

TEST(ModelCli, HashSignVerifyFromTheCommandLine) {
  TempDir t;
  const std::string dir = t.File("m");
  MakeShardedModel(dir);
  WriteAll(t.File("key.pem"), EcKeyPem("P-256"));
  ::chmod(t.File("key.pem").c_str(), 0600);
  auto key = EcPrivateKey::LoadPemFile(t.File("key.pem"));
  ASSERT_TRUE(key.ok()) << key.status().message();
  WriteAll(t.File("pub.pem"), key->public_key().pem());
  auto h = RunCli({"model", "hash", dir, "--json"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  const json id = json::parse(h.out);
  EXPECT_EQ(id["files"].size(), 6u);
  auto schema = JsonSchema::Builtin("model-identity.schema.json");
  ASSERT_TRUE(schema.ok()) << schema.status().message();
  Status valid = (*schema)->Validate(id, "model hash --json");
  EXPECT_TRUE(valid.ok()) << valid.message();
  json broken = id;
  broken["files"][0]["sha265"] = "x";
  EXPECT_FALSE((*schema)->Validate(broken, "x").ok());
  // Signature inside the directory: left out of what it signs.
  auto s = RunCli({"model", "sign", dir, "--key", t.File("key.pem"), "--out", dir + "/model.sig"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find(id["model_signing"]["root_sha256"].get<std::string>()), std::string::npos) << s.out;
  auto v = RunCli({"model", "verify", dir, "--sig", dir + "/model.sig", "--pubkey", t.File("pub.pem")});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("VERIFIED"), std::string::npos);
  WriteAll(dir + "/config.json", "{}");
  v = RunCli({"model", "verify", dir, "--sig", dir + "/model.sig", "--pubkey", t.File("pub.pem")});
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("NOT VERIFIED"), std::string::npos);
  // Signed with the git files, verified with them; a signature named "..sig" inside the model is left out.
  WriteAll(dir + "/config.json", R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 8})");
  WriteAll(dir + "/.gitattributes", "*.safetensors filter=lfs");
  ASSERT_EQ(RunCli({"model", "sign", dir, "--key", t.File("key.pem"), "--out", dir + "/..sig", "--no-ignore-git-paths"}).exit_code, 0);
  v = RunCli({"model", "verify", dir, "--sig", dir + "/..sig", "--pubkey", t.File("pub.pem"), "--no-ignore-git-paths"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // A malformed shard: exit 2 naming the file.
  WriteAll(dir + "/model-00002-of-00002.safetensors", std::string("\x10\0\0\0\0\0\0\0{\"a\":", 13));
  auto bad = RunCli({"model", "hash", dir});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("model-00002-of-00002.safetensors"), std::string::npos) << bad.err;
  // A world-readable private key is refused.
  ::chmod(t.File("key.pem").c_str(), 0644);
  auto unsafe = RunCli({"model", "sign", t.File("m/tokenizer.json"), "--key", t.File("key.pem"), "--out", t.File("x.sig")});
  EXPECT_EQ(unsafe.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(t.File("x.sig")));
}

}  // namespace
}  // namespace dg
