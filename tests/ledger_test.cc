// The SQLite ledger: lifecycle, appends, proofs against the reference tree.
#include <sqlite3.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "core/file_util.h"
#include "ledger/merkle.h"
#include "ledger/proof_bundle.h"
#include "ledger_fixture.h"
#include "reference_tree.h"

namespace dg {
namespace {

using testing::LedgerTest;

TEST(LedgerLifecycle, OpenNeverCreates) {
  testing::TempDir dir;
  auto l = Ledger::Open(dir.File("absent.db"), Ledger::Mode::kReadWrite);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), Status::Code::kInvalidInput);
  EXPECT_NE(l.status().message().find("ledger init"), std::string::npos);
  EXPECT_FALSE(FileExists(dir.File("absent.db")));
}

TEST(LedgerLifecycle, InitRefusesExistingFileAndLeavesNoTemporaries) {
  testing::TempDir dir;
  auto key = testing::TestKey();
  const std::string p = dir.File("l.db");
  ASSERT_TRUE(Ledger::Init(p, key, "a.example/log").ok());
  const std::string before = testing::ReadAll(p);
  auto again = Ledger::Init(p, key, "a.example/log");
  EXPECT_EQ(again.code(), Status::Code::kInvalidInput);
  EXPECT_EQ(testing::ReadAll(p), before);
  testing::WriteAll(dir.File("other"), "x");
  EXPECT_FALSE(Ledger::Init(dir.File("other"), key, "a.example/log").ok());
  EXPECT_EQ(testing::ReadAll(dir.File("other")), "x");
  EXPECT_FALSE(Ledger::Init(dir.File("bad"), key, "has space").ok());
  EXPECT_FALSE(FileExists(dir.File("bad")));
  EXPECT_FALSE(Ledger::Init(dir.File("nodir/l.db"), key, "a.example/log").ok());
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_TRUE(e.path().filename() == "l.db" || e.path().filename() == "other") << e.path();
  }
  EXPECT_EQ(entries, 2);
}

TEST(LedgerLifecycle, RejectsNonLedgers) {
  testing::TempDir dir;
  testing::WriteAll(dir.File("junk"), std::string(4096, 'j'));
  auto l = Ledger::Open(dir.File("junk"), Ledger::Mode::kReadOnly);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), Status::Code::kInvalidInput);
  EXPECT_NE(l.status().message().find("not a distillgate ledger"), std::string::npos) << l.status().message();
}

TEST_F(LedgerTest, FreshLedgerHasSignedEmptyCheckpoint) {
  EXPECT_EQ(*ledger_->Size(), 0u);
  auto cp = OpenCheckpoint(*ledger_->HeadNote(), verifier_);
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->size, 0u);
  EXPECT_EQ(cp->root, EmptyRootHash());
  EXPECT_EQ(ledger_->recorded_vkey(), verifier_.ToString());
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LedgerTest, AppendSignsOneCheckpointPerBatch) {
  auto r1 = AppendBatch(3);
  EXPECT_EQ(r1.first_index, 0u);
  EXPECT_EQ(r1.tree_size, 3u);
  auto r2 = AppendBatch(5);
  EXPECT_EQ(r2.first_index, 3u);
  EXPECT_EQ(r2.tree_size, 8u);
  EXPECT_EQ(*ledger_->HeadNote(), r2.checkpoint);
  auto cps = *ledger_->Checkpoints();
  ASSERT_EQ(cps.size(), 3u);
  EXPECT_EQ(cps[1].first, 3u);
  EXPECT_EQ(cps[1].second, r1.checkpoint);
  auto leaf = ledger_->GetLeaf(4);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(leaf->data, testing::TestEntry(4).data());
  EXPECT_EQ(leaf->data, R"({"body":{"i":4,"payload":"entry number 4"},"kind":"test"})");
  EXPECT_EQ(leaf->leaf_hash, LeafHash(leaf->data));
  EXPECT_EQ(leaf->kind, "test");
  EXPECT_EQ(EntryKindOf("{\"body\":{},\"kind\":\"teacher_call\"}"), "teacher_call");
  EXPECT_EQ(EntryKindOf("not an entry"), "");
  // A body with a hole (filled on the appending thread) gives the entry its text would.
  CanonicalObjectBuilder b;
  b.String("a", "x").Hole("seq").Bool("z", true);
  auto holed = b.FinishWithHole();
  ASSERT_TRUE(holed.ok());
  auto filled = LedgerEntry::FromCanonicalObject("teacher_call", *holed, 12);
  ASSERT_TRUE(filled.ok());
  auto parsed = LedgerEntry::FromCanonicalBody("teacher_call", "{\"a\":\"x\",\"seq\":12,\"z\":true}");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(filled->data(), parsed->data());
  EXPECT_EQ(filled->leaf_hash(), parsed->leaf_hash());
  EXPECT_FALSE(LedgerEntry::FromCanonicalObject("Bad Kind", *holed, 12).ok());
  EXPECT_FALSE(LedgerEntry::FromCanonicalObject("k", CanonicalObjectWithHole(), 12).ok());
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LedgerTest, TransactionIsAllOrNothing) {
  AppendBatch(2);
  {
    // Not committed: a second connection never sees the appends, and after
    // the transaction is gone neither does this one.
    auto t = Ledger::Transaction::Begin(*ledger_);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    AppendBatch(3);
    AppendBatch(4);
    EXPECT_EQ(*ledger_->Size(), 9u);
    auto other = Ledger::Open(path_, Ledger::Mode::kReadOnly);
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(*(*other)->Size(), 2u);
    EXPECT_FALSE(Ledger::Transaction::Begin(*ledger_).ok());  // one at a time
  }
  EXPECT_EQ(*ledger_->Size(), 2u);
  EXPECT_EQ(Check().problem_count, 0u);
  // Appends after a rollback extend the tree the last commit signed.
  AppendBatch(1);
  EXPECT_EQ(*ledger_->Size(), 3u);
  EXPECT_EQ(Check().problem_count, 0u);
}

// What SQLite says the ledger file's journal mode is, from a connection of its own.
std::string JournalModeOf(const std::string& path) {
  sqlite3* db = nullptr;
  std::string mode;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_exec(
        db, "PRAGMA journal_mode",
        [](void* out, int, char** values, char**) {
          *static_cast<std::string*>(out) = values[0] ? values[0] : "";
          return 0;
        },
        &mode, nullptr);
  }
  sqlite3_close(db);
  return mode;
}

// Entries large enough that the transaction spills out of SQLite's page cache.
void AppendBulk(Ledger& ledger, const PrivateKey& key, int batches) {
  for (int b = 0; b < batches; ++b) {
    std::vector<LedgerEntry> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(*LedgerEntry::Make("bulk", {{"b", b}, {"i", i}, {"p", std::string(4000, 'p')}}));
    ASSERT_TRUE(ledger.Append(batch, key).ok());
  }
}

TEST_F(LedgerTest, BulkTransactionWritesPagesOnceAndReturnsToWal) {
  AppendBatch(2);
  const std::string wal = path_ + "-wal", journal = path_ + "-journal";
  {
    auto t = Ledger::Transaction::Begin(*ledger_, Ledger::Transaction::Writes::kBulk);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    AppendBulk(*ledger_, key_, 20);  // 2,000 entries, ~8 MB
    // Into the ledger file under a rollback journal, not into a WAL.
    EXPECT_FALSE(std::filesystem::exists(wal) && std::filesystem::file_size(wal) > 0);
    EXPECT_TRUE(std::filesystem::exists(journal));
    EXPECT_GT(std::filesystem::file_size(path_), 6000000u);
    ASSERT_TRUE((*t)->Commit().ok());
  }
  EXPECT_EQ(JournalModeOf(path_), "wal");
  EXPECT_FALSE(std::filesystem::exists(journal));
  EXPECT_EQ(*ledger_->Size(), 2002u);
  EXPECT_EQ(Check().problem_count, 0u);
  // Not committed: nothing of it stays, and the mode is back to WAL too.
  {
    auto t = Ledger::Transaction::Begin(*ledger_, Ledger::Transaction::Writes::kBulk);
    ASSERT_TRUE(t.ok());
    AppendBulk(*ledger_, key_, 20);
  }
  EXPECT_EQ(JournalModeOf(path_), "wal");
  EXPECT_EQ(*ledger_->Size(), 2002u);
  AppendBatch(1);
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LedgerTest, BulkTransactionStaysInWalWhileAnotherConnectionHasTheLedger) {
  auto reader = Ledger::Open(path_, Ledger::Mode::kReadOnly);
  ASSERT_TRUE(reader.ok());
  ASSERT_EQ(*(*reader)->Size(), 0u);
  auto t = Ledger::Transaction::Begin(*ledger_, Ledger::Transaction::Writes::kBulk);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  AppendBulk(*ledger_, key_, 3);
  EXPECT_EQ(*(*reader)->Size(), 0u);  // the reader still reads, the old state
  ASSERT_TRUE((*t)->Commit().ok());
  EXPECT_EQ(*(*reader)->Size(), 300u);
  EXPECT_EQ(JournalModeOf(path_), "wal");
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LedgerTest, CrashInABulkTransactionIsRolledBackOnTheNextOpen) {
  AppendBatch(3);
  ledger_.reset();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto l = Ledger::Open(path_, Ledger::Mode::kReadWrite);
    if (!l.ok()) ::_exit(3);
    auto t = Ledger::Transaction::Begin(**l, Ledger::Transaction::Writes::kBulk);
    if (!t.ok()) ::_exit(4);
    AppendBulk(**l, key_, 20);
    ::raise(SIGKILL);  // dies holding the transaction: a hot journal is left
    ::_exit(5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_TRUE(std::filesystem::exists(path_ + "-journal"));
  // A reader and a writer alike find the ledger as the last commit left it.
  for (Ledger::Mode mode : {Ledger::Mode::kReadOnly, Ledger::Mode::kReadWrite}) {
    auto l = Ledger::Open(path_, mode);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    EXPECT_EQ(*(*l)->Size(), 3u);
    auto report = Fsck(**l, verifier_, {});
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->problem_count, 0u) << FsckStatus(*report).ToString();
  }
  EXPECT_EQ(JournalModeOf(path_), "wal");
  EXPECT_FALSE(std::filesystem::exists(path_ + "-journal"));
}

TEST_F(LedgerTest, TransactionMarkAndCommit) {
  auto t = Ledger::Transaction::Begin(*ledger_);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->RollbackToMark().ok());  // no mark yet
  AppendBatch(2);
  ASSERT_TRUE((*t)->Mark().ok());
  AppendBatch(5);
  {
    Ledger::ReadSnapshot snap(*ledger_);  // reads inside the transaction must not end it
    EXPECT_EQ(*ledger_->Size(), 7u);
  }
  ASSERT_TRUE((*t)->RollbackToMark().ok());
  EXPECT_EQ(*ledger_->Size(), 2u);
  const AppendResult r = AppendBatch(1);  // its checkpoint is signed over the rolled-back head
  EXPECT_EQ(r.first_index, 2u);
  ASSERT_TRUE((*t)->Commit().ok());
  EXPECT_FALSE((*t)->Commit().ok());
  t->reset();
  auto other = Ledger::Open(path_, Ledger::Mode::kReadOnly);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*(*other)->Size(), 3u);
  EXPECT_EQ(*(*other)->HeadNote(), r.checkpoint);
  // Checkpoints of batches rolled back are gone with them: sizes 0, 2, 3.
  auto cps = *(*other)->Checkpoints();
  ASSERT_EQ(cps.size(), 3u);
  EXPECT_EQ(cps[1].first, 2u);
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LedgerTest, RejectsEmptyBatchWrongKeyAndBadEntries) {
  EXPECT_EQ(ledger_->Append({}, key_).status().code(), Status::Code::kInvalidInput);
  auto other = testing::TestKey(9);
  auto r = ledger_->Append({testing::TestEntry(0)}, other);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does not match"), std::string::npos);
  EXPECT_EQ(*ledger_->Size(), 0u);
  EXPECT_FALSE(LedgerEntry::Make("Bad Kind", nlohmann::json::object()).ok());
  EXPECT_FALSE(LedgerEntry::Make("", nlohmann::json::object()).ok());
  EXPECT_FALSE(LedgerEntry::Make("ok", nlohmann::json::array()).ok());
  EXPECT_FALSE(LedgerEntry::Make("ok", nlohmann::json{{"n", uint64_t{1} << 62}}).ok());
}

TEST_F(LedgerTest, TriggersRefuseRewrites) {
  AppendBatch(4);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  for (const char* sql : {"UPDATE leaf SET data = x'00' WHERE idx = 1", "DELETE FROM leaf WHERE idx = 3",
                          "UPDATE leaf SET nodes = x'' WHERE idx = 1", "UPDATE checkpoint SET note = 'x'",
                          "DELETE FROM head",
                          "UPDATE head SET size = 0", "UPDATE meta SET value = 'x'"}) {
    char* err = nullptr;
    EXPECT_NE(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << sql;
    sqlite3_free(err);
  }
  sqlite3_close(db);
  EXPECT_EQ(Check().problem_count, 0u);
}

// The SQLite tree against the naive reference: all sizes 1..256, all
// (index, size) and (old, new) pairs, built from batches of varied sizes.
TEST_F(LedgerTest, CrossCheckAllPairsAgainstReferenceTree) {
  const uint64_t kMax = 256;
  uint64_t b = 1;
  while (*ledger_->Size() < kMax) AppendBatch(std::min<uint64_t>(b++ % 7 + 1, kMax - *ledger_->Size()));
  std::vector<std::string> leaves;
  for (uint64_t i = 0; i < kMax; ++i) leaves.push_back(testing::TestEntry(i).data());
  testing::RefTree ref(leaves);
  for (uint64_t n = 1; n <= kMax; ++n) {
    const Hash root = ref.Mth(0, n);
    ASSERT_EQ(*ledger_->RootAt(n), root) << n;
    for (uint64_t i = 0; i < n; ++i) {
      auto p = ledger_->InclusionProof(i, n);
      ASSERT_TRUE(p.ok());
      ASSERT_EQ(*p, ref.Path(i, 0, n)) << i << "/" << n;
    }
    for (uint64_t m = 1; m <= n; ++m) {
      auto p = ledger_->ConsistencyProof(m, n);
      ASSERT_TRUE(p.ok());
      ASSERT_EQ(*p, ref.Consistency(m, n)) << m << "->" << n;
    }
  }
  // Every signed checkpoint carries the reference root of its size.
  auto cps = *ledger_->Checkpoints();
  ASSERT_GT(cps.size(), 40u);
  for (const auto& [size, note] : cps) {
    ASSERT_EQ(OpenCheckpoint(note, verifier_)->root, ref.Mth(0, size));
  }
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(LedgerTest, InclusionBundleVerifiesOfflineAndDetectsTampering) {
  AppendBatch(5);
  AppendBatch(6);
  auto b = MakeInclusionBundle(*ledger_, 3, std::nullopt);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto j = ToJson(*b);
  auto back = InclusionBundleFromJson(j, "p.json");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(VerifyInclusionBundle(*back, verifier_).ok());
  // Against the older kept checkpoint too.
  auto old = MakeInclusionBundle(*ledger_, 3, 5);
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(VerifyInclusionBundle(*old, verifier_).ok());
  EXPECT_FALSE(MakeInclusionBundle(*ledger_, 3, 4).ok());  // no checkpoint kept at size 4
  EXPECT_FALSE(MakeInclusionBundle(*ledger_, 11, std::nullopt).ok());

  auto bad = *back;
  bad.entry->at("body")["i"] = 99;
  EXPECT_FALSE(VerifyInclusionBundle(bad, verifier_).ok());
  bad = *back;
  bad.leaf_index = 4;
  EXPECT_FALSE(VerifyInclusionBundle(bad, verifier_).ok());
  bad = *back;
  bad.proof[0][0] ^= 1;
  EXPECT_FALSE(VerifyInclusionBundle(bad, verifier_).ok());
  bad = *back;
  bad.tree_size = 5;
  EXPECT_FALSE(VerifyInclusionBundle(bad, verifier_).ok());
  EXPECT_FALSE(VerifyInclusionBundle(*back, *NoteVerifier::Make(testing::kOrigin, testing::TestKey(3).public_key())).ok());

  // Malformed JSON names the pointer.
  auto j2 = j;
  j2["proof"][1] = "zz";
  auto parsed = InclusionBundleFromJson(j2, "p.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("/proof/1"), std::string::npos) << parsed.status().message();
  j2 = j;
  j2.erase("tree_size");
  EXPECT_NE(InclusionBundleFromJson(j2, "p.json").status().message().find("/tree_size"), std::string::npos);
}

TEST_F(LedgerTest, ConsistencyBundleVerifies) {
  auto r1 = AppendBatch(7);
  auto r2 = AppendBatch(10);
  auto b = MakeConsistencyBundle(*ledger_, 7, std::nullopt);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->new_size, 17u);
  auto old_cp = *OpenCheckpoint(r1.checkpoint, verifier_);
  auto new_cp = *OpenCheckpoint(r2.checkpoint, verifier_);
  EXPECT_TRUE(VerifyConsistency(7, 17, b->proof, old_cp.root, new_cp.root).ok());
  auto back = ConsistencyBundleFromJson(ToJson(*b), "c.json");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->proof, b->proof);
  EXPECT_FALSE(MakeConsistencyBundle(*ledger_, 18, std::nullopt).ok());
}

TEST_F(LedgerTest, ReadOnlyFileRefusesAppend) {
  AppendBatch(2);
  ledger_.reset();
  ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
  auto rw = Ledger::Open(path_, Ledger::Mode::kReadWrite);
  ASSERT_FALSE(rw.ok());
  EXPECT_EQ(rw.status().code(), Status::Code::kIoError);
  EXPECT_NE(rw.status().message().find("read-only"), std::string::npos);
  auto ro = Ledger::Open(path_, Ledger::Mode::kReadOnly);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  EXPECT_EQ(*(*ro)->Size(), 2u);
  ::chmod(path_.c_str(), 0644);
}

}  // namespace
}  // namespace dg
