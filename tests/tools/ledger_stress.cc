// Test helper: appends deterministic batches to a ledger and reports each
// commit on stdout ("committed <tree size> <batch>"), so tests can kill it
// at any moment (crash test) or run several at once (concurrency test).
//
// usage: ledger_stress LEDGER KEY WRITER_ID BATCHES ENTRIES_PER_BATCH PAYLOAD_BYTES
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "core/ed25519.h"
#include "ledger/ledger.h"

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s LEDGER KEY WRITER BATCHES ENTRIES PAYLOAD\n", argv[0]);
    return 2;
  }
  const std::string ledger_path = argv[1];
  const int writer = std::atoi(argv[3]);
  const int batches = std::atoi(argv[4]);
  const int per_batch = std::atoi(argv[5]);
  const std::string payload(static_cast<size_t>(std::atoi(argv[6])), 'p');
  auto key = dg::PrivateKey::LoadPemFile(argv[2]);
  if (!key.ok()) {
    std::fprintf(stderr, "%s\n", key.status().ToString().c_str());
    return 2;
  }
  auto ledger = dg::Ledger::Open(ledger_path, dg::Ledger::Mode::kReadWrite);
  if (!ledger.ok()) {
    std::fprintf(stderr, "%s\n", ledger.status().ToString().c_str());
    return 3;
  }
  for (int b = 0; b < batches; ++b) {
    std::vector<dg::LedgerEntry> entries;
    for (int i = 0; i < per_batch; ++i) {
      entries.push_back(*dg::LedgerEntry::Make("stress", {{"w", writer}, {"b", b}, {"i", i}, {"p", payload}}));
    }
    auto r = (*ledger)->Append(entries, *key);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      return 3;
    }
    std::printf("committed %llu %d\n", static_cast<unsigned long long>(r->tree_size), b);
    std::fflush(stdout);
  }
  return 0;
}
