// Data lineage pieces of the runner that need no LibTorch: IDX reading,
// dataset manifests, the permit gate and the teacher-call recorder.
#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include "core/encoding.h"
#include "core/file_util.h"
#include "ledger/merkle.h"
#include "ledger_fixture.h"
#include "record/call_recorder.h"
#include "record/idx.h"
#include "record/manifest.h"
#include "policy/gate.h"
#include "reference_tree.h"

namespace dg {
namespace {

const char* kFashion = "/usr/share/datasets/fashion-mnist";

std::string IdxBytes(std::vector<uint32_t> dims, const std::vector<uint8_t>& data, uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((d >> sh) & 0xff));
  }
  s.append(data.begin(), data.end());
  return s;
}

void WriteGz(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, data.data(), static_cast<unsigned>(data.size()));
  gzclose(f);
}

TEST(Idx, ReadsPlainAndGzipAndRejectsMalformed) {
  testing::TempDir dir;
  std::vector<uint8_t> pixels(3 * 2 * 2);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  testing::WriteAll(dir.File("x-images-idx3-ubyte"), IdxBytes({3, 2, 2}, pixels));
  WriteGz(dir.File("x-labels-idx1-ubyte.gz"), IdxBytes({3}, {1, 9, 0}));
  auto set = ReadImageSet(dir.path(), "x");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(set->images.ItemSize(), 4u);
  EXPECT_EQ(set->labels.data, (std::vector<uint8_t>{1, 9, 0}));
  EXPECT_EQ(ImageRecordBytes(*set, 1), std::string("\x09\x1c\x23\x2a\x31", 5));

  auto expect_bad = [&](const std::string& bytes, const std::string& needle) {
    testing::WriteAll(dir.File("bad"), bytes);
    auto r = ReadIdx(dir.File("bad"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidInput);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_bad("\x01\x02", "too short");
  expect_bad(std::string("\x01\x00\x08\x01", 4) + std::string(4, '\0'), "bad magic");
  expect_bad(IdxBytes({2}, {1, 2}, 0x0D), "not unsigned byte");
  expect_bad(IdxBytes({4}, {1, 2}), "truncated IDX data");
  expect_bad(IdxBytes({2}, {1, 2, 3}), "trailing bytes");
  EXPECT_FALSE(ReadIdx(dir.File("missing")).ok());
  WriteGz(dir.File("y-labels-idx1-ubyte.gz"), IdxBytes({2}, {1, 2}));
  testing::WriteAll(dir.File("y-images-idx3-ubyte"), IdxBytes({3, 2, 2}, pixels));
  EXPECT_NE(ReadImageSet(dir.path(), "y").status().message().find("3 images but"), std::string::npos);
}

TEST(Idx, FashionMnistFromDebian) {
  if (!FileExists(kFashion)) GTEST_SKIP() << kFashion << " is absent: install dataset-fashion-mnist (scripts/setup.sh does)";
  auto test = ReadImageSet(kFashion, "t10k");
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  ASSERT_EQ(test->size(), 10000u);
  EXPECT_EQ(test->images.dims, (std::vector<uint32_t>{10000, 28, 28}));
  std::vector<int> per_class(10);
  for (uint8_t l : test->labels.data) ++per_class[l];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << "class " << c;  // the test split is balanced
}

TEST(Manifest, RootMatchesAnIndependentTreeAndProvesMembership) {
  testing::TempDir dir;
  std::vector<uint8_t> pixels(37 * 4), labels(37);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 13 + 5);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 10);
  WriteGz(dir.File("train-images-idx3-ubyte.gz"), IdxBytes({37, 2, 2}, pixels));
  WriteGz(dir.File("train-labels-idx1-ubyte.gz"), IdxBytes({37}, labels));
  auto set = *ReadImageSet(dir.path(), "train");
  auto m = ManifestImageSet("toy", "MIT", dir.path(), "train", set);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::vector<std::string> records;
  for (size_t i = 0; i < set.size(); ++i) records.push_back(ImageRecordBytes(set, i));
  testing::RefTree ref(records);
  EXPECT_EQ(m->root, ref.Mth(0, records.size()));
  EXPECT_EQ(m->files.size(), 2u);
  EXPECT_EQ(m->files[0].sha256, *Sha256File(dir.File("train-images-idx3-ubyte.gz")));
  for (uint64_t i : {0u, 17u, 36u}) {
    auto proof = m->ProveRecord(i);
    ASSERT_TRUE(proof.ok());
    EXPECT_TRUE(VerifyInclusion(i, records.size(), LeafHash(records[i]), *proof, m->root).ok());
    // A record that was not in the data does not verify.
    EXPECT_FALSE(VerifyInclusion(i, records.size(), LeafHash(records[i] + "x"), *proof, m->root).ok());
  }
  auto body = m->ToEntryBody();
  EXPECT_EQ(body["records"], 37);
  EXPECT_EQ(body["license"], "MIT");
}

class GateTest : public testing::LedgerTest {
 protected:
  Job MakeJob(const std::string& teacher_license, const std::string& name = "gate-job") {
    nlohmann::json j = {{"name", name},
                        {"teachers", {{{"id", "t"}, {"kind", "local"}, {"license", teacher_license}}}},
                        {"student", {{"name", "s"}, {"model_type", "classifier"}}},
                        {"use", {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}}}};
    return *ParseJob(j, "job");
  }
  const KnowledgeBase& kb_ = **KnowledgeBase::Builtin();
  Policy policy_ = *DefaultPolicy();
};

TEST_F(GateTest, AllowMintsAPermitBoundToTheJobAndTheLedger) {
  Job job = MakeJob("MIT");
  auto r = Gate::Decide(job, policy_, kb_, *ledger_, key_, "2026-11-29");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->permit.has_value());
  EXPECT_TRUE(Gate::Verify(*r->permit, job, *ledger_).ok());
  EXPECT_EQ(ledger_->GetLeaf(r->decision_index)->kind, "decision");
  // The same job, edited after the decision, is refused.
  Job edited = MakeJob("MIT", "gate-job-edited");
  Status s = Gate::Verify(*r->permit, edited, *ledger_);
  EXPECT_EQ(s.code(), Status::Code::kVerifyFailed);
  EXPECT_NE(s.message().find("changed after its decision"), std::string::npos);
  // A permit from another ledger does not run here.
  testing::TempDir other_dir;
  ASSERT_TRUE(Ledger::Init(other_dir.File("o.db"), key_, "other.example/log").ok());
  auto other = *Ledger::Open(other_dir.File("o.db"), Ledger::Mode::kReadWrite);
  EXPECT_FALSE(Gate::Verify(*r->permit, job, *other).ok());
}

TEST_F(GateTest, DenyRecordsTheRefusalAndMintsNothing) {
  Job job = MakeJob("LicenseRef-Anthropic-Terms");
  auto r = Gate::Decide(job, policy_, kb_, *ledger_, key_, "2026-11-29");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->decision.verdict, Verdict::kDeny);
  EXPECT_FALSE(r->permit.has_value());
  auto leaf = ledger_->GetLeaf(r->decision_index);
  EXPECT_NE(leaf->data.find("\"verdict\":\"deny\""), std::string::npos);
  Job unknown = MakeJob("LicenseRef-Nobody-Knows");
  auto u = Gate::Decide(unknown, policy_, kb_, *ledger_, key_, "2026-11-29");
  EXPECT_EQ(u->decision.verdict, Verdict::kNeedsReview);
  EXPECT_FALSE(u->permit.has_value());
}

TEST_F(GateTest, UnwritableLedgerMeansNoPermit) {
  ledger_.reset();
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  auto ro = Ledger::Open(path_, Ledger::Mode::kReadOnly);
  ASSERT_TRUE(ro.ok());
  auto r = Gate::Decide(MakeJob("MIT"), policy_, kb_, **ro, key_, "2026-11-29");
  EXPECT_FALSE(r.ok());
  ::chmod(path_.c_str(), 0644);
}

TEST_F(GateTest, CallRecorderBatchesCallsAndKeepsTheirRoot) {
  CallRecorder rec(*ledger_, key_, "run-1", 10);
  std::vector<std::string> leaves;
  for (uint64_t i = 0; i < 25; ++i) {
    TeacherCall c{"teacher-cnn", std::string(64, 'a'), i, Sha256("in" + std::to_string(i)), Sha256("out" + std::to_string(i)),
                  128, "2026-11-29T12:00:00Z"};
    ASSERT_TRUE(rec.Record(c).ok());
  }
  EXPECT_EQ(rec.recorded(), 20u);
  EXPECT_EQ(rec.pending(), 5u);
  ASSERT_TRUE(rec.Flush().ok());
  EXPECT_EQ(rec.recorded(), 25u);
  EXPECT_EQ(*ledger_->Size(), 25u);
  EXPECT_EQ(ledger_->Checkpoints()->size(), 1u + 3u);  // init + three batches
  CompactRange r;
  for (uint64_t i = 0; i < 25; ++i) {
    auto leaf = *ledger_->GetLeaf(i);
    EXPECT_EQ(leaf.kind, "teacher_call");
    auto body = nlohmann::json::parse(leaf.data)["body"];
    EXPECT_EQ(body["sequence"], i);
    EXPECT_EQ(body["input_sha256"], HexEncode(Sha256("in" + std::to_string(i))));
    r.Append(leaf.leaf_hash, nullptr);
  }
  EXPECT_EQ(rec.calls_root(), r.Root());
  EXPECT_EQ(Check().problem_count, 0u);
}

}  // namespace
}  // namespace dg

namespace dg {
namespace {

TEST(Manifest, GenericDatasets) {
  testing::TempDir dir;
  ::mkdir(dir.File("d").c_str(), 0755);
  ::mkdir(dir.File("d/sub").c_str(), 0755);
  testing::WriteAll(dir.File("d/b.txt"), "beta");
  testing::WriteAll(dir.File("d/a.txt"), "alpha");
  testing::WriteAll(dir.File("d/sub/c.txt"), "gamma");
  auto m = ManifestPath("docs", "CC-BY-4.0", dir.File("d"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->record_leaves.size(), 3u);
  testing::RefTree ref({std::string("a.txt\0alpha", 11), std::string("b.txt\0beta", 10), std::string("sub/c.txt\0gamma", 15)});
  EXPECT_EQ(m->root, ref.Mth(0, 3));
  // Renaming a file changes the root (names are committed, not only contents).
  ::rename(dir.File("d/b.txt").c_str(), dir.File("d/bb.txt").c_str());
  EXPECT_NE(ManifestPath("docs", "CC-BY-4.0", dir.File("d"))->root, m->root);

  testing::WriteAll(dir.File("x.jsonl"), "{\"b\": 1, \"a\": [1.50]}\n\n{\"q\":\"z\"}\n");
  auto j = ManifestPath("chat", "MIT", dir.File("x.jsonl"));
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  testing::RefTree jref({R"({"a":[1.5],"b":1})", R"({"q":"z"})"});
  EXPECT_EQ(j->root, jref.Mth(0, 2));
  EXPECT_EQ(j->files.size(), 1u);
  testing::WriteAll(dir.File("bad.jsonl"), "{\"ok\":1}\n{\"broken\":\n");
  auto bad = ManifestPath("chat", "MIT", dir.File("bad.jsonl"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.jsonl:2"), std::string::npos) << bad.status().message();

  testing::WriteAll(dir.File("one.bin"), "payload");
  auto one = ManifestPath("blob", "MIT", dir.File("one.bin"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->root, LeafHash("payload"));
  EXPECT_FALSE(ManifestPath("x", "MIT", dir.File("absent")).ok());
}

}  // namespace
}  // namespace dg
