// Tamper evidence of the ledger file: every single-bit change to a stored
// value, and every structural rewrite an adversary could try, is caught by
// Fsck (`distillgate ledger verify`).
#include <sqlite3.h>

#include <random>

#include "ledger/key_files.h"
#include "ledger_fixture.h"

namespace dg {
namespace {

class TamperTest : public testing::LedgerTest {
 protected:
  void SetUp() override {
    LedgerTest::SetUp();
    for (int b = 0; b < 10; ++b) {
      auto r = AppendBatch(10);
      if (b == 8) size90_note_ = r.checkpoint;
    }
    head_note_ = *ledger_->HeadNote();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw_), SQLITE_OK);
    Exec("PRAGMA synchronous=OFF");
    // An adversary is not stopped by triggers: drop them.
    for (const char* t : {"leaf_append_only_u", "leaf_append_only_d", "checkpoint_append_only_u", "checkpoint_append_only_d", "head_no_delete",
                          "head_grows_only", "meta_append_only_u", "meta_append_only_d"}) {
      Exec(std::string("DROP TRIGGER ") + t);
    }
    ASSERT_EQ(Check().problem_count, 0u);
  }
  void TearDown() override { sqlite3_close(raw_); }

  void Exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(raw_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << (err ? err : "");
  }

  std::string Get(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW) {
      out.assign(static_cast<const char*>(sqlite3_column_blob(s, 0)), static_cast<size_t>(sqlite3_column_bytes(s, 0)));
    }
    sqlite3_finalize(s);
    return out;
  }

  // Writes `value` into table.column WHERE `where`, as a BLOB or as TEXT.
  void Put(const std::string& table, const std::string& column, const std::string& where, const std::string& value,
           bool text) {
    sqlite3_stmt* s = nullptr;
    std::string sql = "UPDATE " + table + " SET " + column + " = ?1 WHERE " + where;
    ASSERT_EQ(sqlite3_prepare_v2(raw_, sql.c_str(), -1, &s, nullptr), SQLITE_OK);
    if (text) sqlite3_bind_text(s, 1, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    else sqlite3_bind_blob(s, 1, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
    ASSERT_EQ(sqlite3_changes(raw_), 1) << sql;
    sqlite3_finalize(s);
  }

  // Flips `bit` of the stored value, checks that Fsck fails, restores it and
  // checks that Fsck passes again.
  void FlipAndExpectCaught(const std::string& table, const std::string& column, const std::string& where, size_t bit,
                           bool text) {
    const std::string orig = Get("SELECT " + column + " FROM " + table + " WHERE " + where);
    ASSERT_FALSE(orig.empty());
    std::string flipped = orig;
    flipped[(bit / 8) % orig.size()] ^= static_cast<char>(1 << (bit % 8));
    Put(table, column, where, flipped, text);
    EXPECT_GT(Check().problem_count, 0u) << table << "." << column << " WHERE " << where << " bit " << bit;
    Put(table, column, where, orig, text);
  }

  std::string size90_note_, head_note_;
  sqlite3* raw_ = nullptr;
  std::mt19937 rng_{20261129};
};

TEST_F(TamperTest, AnyBitOfAnyLeafBody) {
  for (int i = 0; i < 100; ++i) {
    const std::string where = "idx = " + std::to_string(i);
    const size_t len = Get("SELECT data FROM leaf WHERE " + where).size();
    FlipAndExpectCaught("leaf", "data", where, rng_() % (len * 8), false);
  }
  // Exhaustively, every bit of one body.
  const size_t len = Get("SELECT data FROM leaf WHERE idx = 42").size();
  for (size_t bit = 0; bit < len * 8; ++bit) FlipAndExpectCaught("leaf", "data", "idx = 42", bit, false);
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(TamperTest, AnyBitOfAnyStoredSubtreeHash) {
  size_t hashes = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string where = "idx = " + std::to_string(i);
    const size_t len = Get("SELECT nodes FROM leaf WHERE " + where).size();
    if (len == 0) continue;
    hashes += len / 32;
    FlipAndExpectCaught("leaf", "nodes", where, rng_() % (len * 8), false);
  }
  EXPECT_EQ(hashes, 12u + 6u + 3u + 1u);  // complete subtrees of 8, 16, 32 and 64 leaves in 100
  // Exhaustively, every bit of the leaf that completed the most subtrees.
  const size_t len = Get("SELECT nodes FROM leaf WHERE idx = 63").size();
  ASSERT_EQ(len, 4u * 32);  // levels 3..6
  for (size_t bit = 0; bit < len * 8; ++bit) FlipAndExpectCaught("leaf", "nodes", "idx = 63", bit, false);
}

TEST_F(TamperTest, AnyBitOfAnyCheckpointNoteOrSignature) {
  // Every bit of the head's note text, changed in both places it is kept.
  for (size_t bit = 0; bit < head_note_.size() * 8; ++bit) {
    std::string m = head_note_;
    m[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    Put("head", "note", "id = 1", m, true);
    Put("checkpoint", "note", "size = 100", m, true);
    ASSERT_GT(Check().problem_count, 0u) << "bit " << bit;
  }
  Put("head", "note", "id = 1", head_note_, true);
  Put("checkpoint", "note", "size = 100", head_note_, true);
  // Every bit of the 64-byte Ed25519 signature itself (re-encoded in base64).
  const size_t sp = head_note_.rfind(' ');
  const std::string blob = *Base64Decode(head_note_.substr(sp + 1, head_note_.size() - sp - 2));
  for (size_t bit = 32; bit < blob.size() * 8; ++bit) {  // past the 4-byte key id
    std::string b = blob;
    b[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    const std::string m = head_note_.substr(0, sp + 1) + Base64Encode(b) + "\n";
    Put("head", "note", "id = 1", m, true);
    Put("checkpoint", "note", "size = 100", m, true);
    ASSERT_GT(Check().problem_count, 0u) << "signature bit " << bit;
  }
  Put("head", "note", "id = 1", head_note_, true);
  Put("checkpoint", "note", "size = 100", head_note_, true);
  // One random bit of every older checkpoint.
  for (int size = 0; size < 100; size += 10) {
    const std::string where = "size = " + std::to_string(size);
    FlipAndExpectCaught("checkpoint", "note", where, rng_() % (Get("SELECT note FROM checkpoint WHERE " + where).size() * 8), true);
  }
  EXPECT_EQ(Check().problem_count, 0u);
}

TEST_F(TamperTest, DeletingTheLastRowsIsCaught) {
  Exec("DELETE FROM leaf WHERE idx >= 97");
  auto r = Check();
  EXPECT_GT(r.problem_count, 0u);
}

TEST_F(TamperTest, DeletingTheLastBatchUnderTheHeadIsCaught) {
  Exec("DELETE FROM leaf WHERE idx >= 90");
  Exec("DELETE FROM checkpoint WHERE size > 90");
  EXPECT_GT(Check().problem_count, 0u);
}

TEST_F(TamperTest, SwappingTwoRowsIsCaught) {
  Exec("UPDATE leaf SET idx = 1000 WHERE idx = 3");
  Exec("UPDATE leaf SET idx = 3 WHERE idx = 7");
  Exec("UPDATE leaf SET idx = 7 WHERE idx = 1000");
  EXPECT_GT(Check().problem_count, 0u);
}

TEST_F(TamperTest, ExtraRowsAreCaught) {
  const std::string nodes = Get("SELECT nodes FROM leaf WHERE idx = 15");
  Put("leaf", "nodes", "idx = 15", nodes + std::string(32, 'x'), false);
  EXPECT_GT(Check().problem_count, 0u);
  Put("leaf", "nodes", "idx = 15", nodes, false);
  EXPECT_EQ(Check().problem_count, 0u);
  Exec("INSERT INTO leaf SELECT 100, nodes, data FROM leaf WHERE idx = 99");
  EXPECT_GT(Check().problem_count, 0u);
}

// Rolling back to an older *genuine* state is internally consistent: only a
// checkpoint saved outside the file (--since) can reveal it.
TEST_F(TamperTest, RollbackToAnOlderGenuineCheckpointNeedsSince) {
  Exec("DELETE FROM leaf WHERE idx >= 90");
  Exec("DELETE FROM checkpoint WHERE size > 90");
  Put("head", "note", "id = 1", size90_note_, true);
  Exec("UPDATE head SET size = 90");
  EXPECT_EQ(Check().problem_count, 0u);  // a genuine prefix verifies on its own
  FsckOptions since;
  since.since_note = head_note_;
  auto r = Check(since);
  ASSERT_GT(r.problem_count, 0u);
  EXPECT_NE(r.problems[0].find("truncated or rolled back"), std::string::npos) << r.problems[0];
  // Replacing only the head with the older checkpoint is caught without --since.
}

TEST_F(TamperTest, ReplacingOnlyTheHeadWithAnOlderCheckpointIsCaught) {
  Put("head", "note", "id = 1", size90_note_, true);
  Exec("UPDATE head SET size = 90");
  EXPECT_GT(Check().problem_count, 0u);
}

// A whole ledger of `batches` batches of 10 entries (entry 50 replaced by
// `fork_entry` when given), as a forger with `key` would build it.
std::unique_ptr<Ledger> BuildLedger(const std::string& path, const PrivateKey& key, const std::string& origin,
                                    int batches, uint64_t fork_entry = 50) {
  EXPECT_TRUE(Ledger::Init(path, key, origin).ok());
  auto f = *Ledger::Open(path, Ledger::Mode::kReadWrite);
  for (int b = 0; b < batches; ++b) {
    std::vector<LedgerEntry> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(testing::TestEntry(b * 10 + i == 50 ? fork_entry : b * 10 + i));
    EXPECT_TRUE(f->Append(batch, key).ok());
  }
  return f;
}

// Builds a whole second ledger (same entries) with another key or origin and
// swaps it in: all of it is well formed, only the trusted key reveals it.
TEST_F(TamperTest, ResigningEverythingWithAnotherKeyIsCaught) {
  PrivateKey other = testing::TestKey(42);
  auto f = BuildLedger(dir_.File("forged.db"), other, testing::kOrigin, 10);
  // Self-consistent under its own key …
  EXPECT_EQ(Fsck(*f, *NoteVerifier::Make(testing::kOrigin, other.public_key()), {})->problem_count, 0u);
  // … and rejected under the trusted one, with or without --since.
  EXPECT_GT(Fsck(*f, verifier_, {})->problem_count, 0u);
  FsckOptions since;
  since.since_note = head_note_;
  EXPECT_GT(Fsck(*f, verifier_, since)->problem_count, 0u);
}

TEST_F(TamperTest, ChangingTheOriginIsCaught) {
  auto f = BuildLedger(dir_.File("origin.db"), key_, "evil.example/ledger", 10);
  // With the vkey (which names the origin) it fails outright.
  EXPECT_GT(Fsck(*f, verifier_, {})->problem_count, 0u);
  // A bare PEM key carries no name, so only a saved checkpoint catches it.
  auto pem_trusted = *NoteVerifier::Make(f->origin(), key_.public_key());
  EXPECT_EQ(Fsck(*f, pem_trusted, {})->problem_count, 0u);
  FsckOptions since;
  since.since_note = head_note_;
  EXPECT_GT(Fsck(*f, pem_trusted, since)->problem_count, 0u);
}

// An insider with the key rewrites history after a checkpoint was saved.
TEST_F(TamperTest, ForkSignedWithTheRightKeyIsCaughtWithSince) {
  auto f = BuildLedger(dir_.File("fork.db"), key_, testing::kOrigin, 11, /*fork_entry=*/999);
  EXPECT_EQ(Fsck(*f, verifier_, {})->problem_count, 0u);
  FsckOptions since;
  since.since_note = head_note_;
  auto r = *Fsck(*f, verifier_, since);
  ASSERT_GT(r.problem_count, 0u);
  EXPECT_NE(r.problems[0].find("fork"), std::string::npos) << r.problems[0];
  // A genuine extension of the saved checkpoint passes.
  AppendBatch(5);
  EXPECT_EQ(Check(since).problem_count, 0u);
}

}  // namespace
}  // namespace dg
