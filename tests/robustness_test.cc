// Parsers meet hostile input: random mutations of valid signed notes, verifier
// keys, checkpoints and proof documents must never crash and never verify
// as something they are not.
#include <gtest/gtest.h>

#include <random>

#include "core/canonical_json.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/proof_bundle.h"
#include "ledger_fixture.h"

namespace dg {
namespace {

std::string Mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const size_t at = s.empty() ? 0 : rng() % s.size();
    const char c = static_cast<char>(rng() % 256);
    switch (rng() % 4) {
      case 0: if (!s.empty()) s[at] = c; break;
      case 1: s.insert(s.begin() + static_cast<long>(at), c); break;
      case 2: if (!s.empty()) s.erase(at, 1 + rng() % 4); break;
      default: if (!s.empty()) s[at] ^= static_cast<char>(1 << (rng() % 8)); break;
    }
  }
  return s;
}

TEST(Robustness, MutatedCheckpointsNeverVerifyAsSomethingElse) {
  auto key = testing::TestKey();
  auto v = *NoteVerifier::Make("r.example/log", key.public_key());
  Checkpoint cp{"r.example/log", 12345, LeafHash("root")};
  const std::string note = *SignCheckpoint(cp, key);
  std::mt19937_64 rng(99);
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string m = Mutate(note, rng);
    auto r = OpenCheckpoint(m, v);
    if (r.ok()) {
      ++accepted;
      // Only edits outside the signed text (e.g. an extra unknown signer line) may pass.
      ASSERT_EQ(*r, cp) << m;
      ASSERT_EQ(m.substr(0, cp.Body().size()), cp.Body());
    }
  }
  EXPECT_LT(accepted, 200u);
}

TEST(Robustness, MutatedVerifierKeysAndBodiesDoNotCrash) {
  const std::string vkey = "example.com/distill-ledger+5f1e6ee1+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
  const std::string body = "example.com/distill-ledger\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n";
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    const std::string m = Mutate(vkey, rng);
    auto v = NoteVerifier::Parse(m);
    if (v.ok()) {  // then it is a well-formed key whose id matches: it must print back as given
      const size_t a = m.find_first_not_of(" \n"), z = m.find_last_not_of(" \r\n");
      ASSERT_EQ(v->ToString(), m.substr(a, z - a + 1));
    }
    auto b = ParseCheckpointBody(Mutate(body, rng));
    if (b.ok()) ASSERT_TRUE(IsValidNoteKeyName(b->origin));
  }
}

TEST(Robustness, MutatedProofDocumentsAreRejectedCleanly) {
  testing::TempDir dir;
  auto key = testing::TestKey();
  const std::string path = dir.File("l.db");
  ASSERT_TRUE(Ledger::Init(path, key, testing::kOrigin).ok());
  auto ledger = *Ledger::Open(path, Ledger::Mode::kReadWrite);
  std::vector<LedgerEntry> batch;
  for (int i = 0; i < 37; ++i) batch.push_back(testing::TestEntry(static_cast<uint64_t>(i)));
  ASSERT_TRUE(ledger->Append(batch, key).ok());
  auto v = *NoteVerifier::Make(testing::kOrigin, key.public_key());
  const std::string doc = ToJson(*MakeInclusionBundle(*ledger, 21, std::nullopt)).dump();
  std::mt19937_64 rng(11);
  size_t parsed = 0, verified = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string m = Mutate(doc, rng);
    auto j = ParseJsonStrict(m, "m");
    if (!j.ok()) continue;
    auto b = InclusionBundleFromJson(*j, "m");
    if (!b.ok()) {
      ASSERT_EQ(b.status().code(), Status::Code::kInvalidInput);
      continue;
    }
    ++parsed;
    auto cp = VerifyInclusionBundle(*b, v);
    if (cp.ok()) {
      ++verified;
      // Whatever still verifies proves the genuine entry at the genuine place.
      ASSERT_EQ(b->leaf_index, 21u);
      ASSERT_EQ(b->leaf_hash, LeafHash(testing::TestEntry(21).data()));
    }
  }
  EXPECT_GT(parsed, 100u);
  EXPECT_LT(verified, parsed);
}

}  // namespace
}  // namespace dg
