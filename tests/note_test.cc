// C2SP signed notes and checkpoints: public known answers and mangling.
#include <gtest/gtest.h>

#include "core/encoding.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "ledger/note.h"

namespace dg {
namespace {

// golang.org/x/mod/sumdb/note note_test.go: PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALV...
PrivateKey PeterNeumann() {
  auto raw = Base64Decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
  return *PrivateKey::FromSeed(raw->substr(1));
}
const char* kPeterVkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const char* kPeterText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const char* kPeterSig =
    "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const char* kEnochSig =
    "\xE2\x80\x94 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

TEST(Note, GoSumdbKnownAnswer) {
  PrivateKey key = PeterNeumann();
  auto v = NoteVerifier::Make("PeterNeumann", key.public_key());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->ToString(), kPeterVkey);
  auto note = SignNote(kPeterText, "PeterNeumann", key);
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(*note, std::string(kPeterText) + "\n" + kPeterSig);
  auto parsed = NoteVerifier::Parse(kPeterVkey);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto text = OpenNote(*note, *parsed);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, kPeterText);
}

TEST(Note, UnknownSignersAreIgnoredKnownBadOnesReject) {
  auto peter = *NoteVerifier::Parse(kPeterVkey);
  auto enoch = *NoteVerifier::Parse("EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop");
  const std::string two = std::string(kPeterText) + "\n" + kPeterSig + kEnochSig;
  EXPECT_TRUE(OpenNote(two, peter).ok());
  EXPECT_TRUE(OpenNote(two, enoch).ok());
  // A note signed only by someone else is rejected.
  const std::string only_enoch = std::string(kPeterText) + "\n" + kEnochSig;
  EXPECT_FALSE(OpenNote(only_enoch, peter).ok());
  // A wrong signature under the trusted (name, id) rejects the note.
  std::string bad = two;
  bad[bad.find("x08go") + 10] ^= 1;
  EXPECT_FALSE(OpenNote(bad, peter).ok());
  // Text changed after signing.
  std::string changed = two;
  changed[3] = 'X';
  EXPECT_FALSE(OpenNote(changed, peter).ok());
}

TEST(Note, C2spExample) {
  auto v = NoteVerifier::Parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
  ASSERT_TRUE(v.ok());
  const std::string note =
      "This is an example message.\n\n\xE2\x80\x94 example.com/foo "
      "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
  auto text = OpenNote(note, *v);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "This is an example message.\n");
}

// Derived KAT from shared/reference: RFC 8032 TEST 1 key, 8-leaf reference root.
TEST(Checkpoint, DerivedKnownAnswer) {
  auto key = *PrivateKey::FromSeed(*HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  Checkpoint cp{"example.com/distill-ledger", 8,
                *HashFromHex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")};
  auto note = SignCheckpoint(cp, key);
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(*note,
            "example.com/distill-ledger\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
            "\xE2\x80\x94 example.com/distill-ledger "
            "Xx5u4UAtkYSOFpXIe3OCONN/Zgie9GRwCOaXsT3eRCXbE6RdOO5dPQadf1xLAZH9myYXnrN4MHZhv9mGSOa0p2YlFQc=\n");
  auto v = *NoteVerifier::Make(cp.origin, key.public_key());
  EXPECT_EQ(v.ToString(), "example.com/distill-ledger+5f1e6ee1+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea");
  auto opened = OpenCheckpoint(*note, v);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, cp);
  // Every single-bit change of the note is rejected.
  for (size_t i = 0; i < note->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string m = *note;
      m[i] ^= static_cast<char>(1 << bit);
      auto r = OpenCheckpoint(m, v);
      ASSERT_FALSE(r.ok() && *r == cp) << "byte " << i << " bit " << bit;
    }
  }
  // Another origin under the same key is not this log.
  auto other = *NoteVerifier::Make("example.com/other", key.public_key());
  EXPECT_FALSE(OpenCheckpoint(*note, other).ok());
}

TEST(Checkpoint, BodyParsing) {
  Hash root = EmptyRootHash();
  const std::string b64 = Base64Encode(root);
  EXPECT_TRUE(ParseCheckpointBody("o\n0\n" + b64 + "\n").ok());
  EXPECT_FALSE(ParseCheckpointBody("o\n01\n" + b64 + "\n").ok());     // leading zero
  EXPECT_FALSE(ParseCheckpointBody("o\n-1\n" + b64 + "\n").ok());
  EXPECT_FALSE(ParseCheckpointBody("o\n1\n" + b64).ok());             // no final newline
  EXPECT_FALSE(ParseCheckpointBody("o\n1\n" + b64 + "\next\n").ok());  // extensions refused
  EXPECT_FALSE(ParseCheckpointBody("o\n1\nZg==\n").ok());             // short root
  EXPECT_FALSE(ParseCheckpointBody("o o\n1\n" + b64 + "\n").ok());    // space in origin
  EXPECT_FALSE(ParseCheckpointBody("o\n99999999999999999999\n" + b64 + "\n").ok());
}

// Go note_test TestNewVerifier: every mangled vkey must fail to parse.
TEST(Note, MangledVerifierKeysAreRejected) {
  const std::string vkey = kPeterVkey;
  for (size_t i = 0; i < vkey.size(); ++i) {
    for (size_t j = i + 1; j <= vkey.size(); ++j) {
      std::string cut = vkey.substr(0, i) + vkey.substr(j);
      if (cut == vkey) continue;
      EXPECT_FALSE(NoteVerifier::Parse(cut).ok()) << cut;
    }
    std::string inc = vkey;
    inc[i]++;
    EXPECT_FALSE(NoteVerifier::Parse(inc).ok()) << inc;
  }
}

TEST(Note, RejectsMalformedNotes) {
  PrivateKey key = PeterNeumann();
  auto v = *NoteVerifier::Make("PeterNeumann", key.public_key());
  EXPECT_FALSE(SignNote("no newline", "PeterNeumann", key).ok());
  EXPECT_FALSE(SignNote("a\n\nb\n", "PeterNeumann", key).ok());
  EXPECT_FALSE(SignNote("tab\there\n", "PeterNeumann", key).ok());
  EXPECT_FALSE(SignNote("x\n", "bad name", key).ok());
  EXPECT_FALSE(OpenNote("text\n", v).ok());
  EXPECT_FALSE(OpenNote(std::string(kPeterText) + "\n" + "- PeterNeumann abc\n", v).ok());
  std::string note = *SignNote(kPeterText, "PeterNeumann", key);
  EXPECT_FALSE(OpenNote(note.substr(0, note.size() - 1), v).ok());
  EXPECT_FALSE(OpenNote("\xff" + note, v).ok());
}

}  // namespace
}  // namespace dg
