// Shared set-up for ledger tests: a key, a fresh ledger, deterministic entries.
#ifndef DISTILLGATE_TESTS_LEDGER_FIXTURE_H_
#define DISTILLGATE_TESTS_LEDGER_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "ledger/fsck.h"
#include "ledger/ledger.h"
#include "test_util.h"

namespace dg::testing {

inline const char* kOrigin = "test.example/ledger";

inline PrivateKey TestKey(char fill = 7) { return *PrivateKey::FromSeed(std::string(32, fill)); }

inline LedgerEntry TestEntry(uint64_t i, const std::string& kind = "test") {
  return *LedgerEntry::Make(kind, nlohmann::json{{"i", i}, {"payload", "entry number " + std::to_string(i)}});
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("ledger.db");
    ASSERT_TRUE(Ledger::Init(path_, key_, kOrigin).ok());
    auto l = Ledger::Open(path_, Ledger::Mode::kReadWrite);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    ledger_ = std::move(l).value();
    verifier_ = *NoteVerifier::Make(kOrigin, key_.public_key());
  }

  // Appends entries [size, size+n) in one batch.
  AppendResult AppendBatch(uint64_t n) {
    uint64_t start = *ledger_->Size();
    std::vector<LedgerEntry> batch;
    for (uint64_t i = 0; i < n; ++i) batch.push_back(TestEntry(start + i));
    auto r = ledger_->Append(batch, key_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AppendResult{};
  }

  FsckReport Check(const FsckOptions& opt = {}) {
    auto r = Fsck(*ledger_, verifier_, opt);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : FsckReport{};
  }

  TempDir dir_;
  std::string path_;
  PrivateKey key_ = TestKey();
  NoteVerifier verifier_;
  std::unique_ptr<Ledger> ledger_;
};

}  // namespace dg::testing

#endif  // DISTILLGATE_TESTS_LEDGER_FIXTURE_H_
